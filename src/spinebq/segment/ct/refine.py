"""Vertebral body surfaces refined on the CT's own grid.

The bodies are found on the coarse working grid (:mod:`spinebq.segment.ct.bone`), where a surface
voxel is a mix of cortex and the tissue around it. Here each body's surface is moved, on the CT's
own voxels, to the *half maximum* between its cortical shell and that tissue (the usual edge
criterion of CT morphometry; both read along the surface normals in millimetres, the same on any
voxel size). On thick slices a body's ends, its endplates facing a disc, take their own half
maximum between the endplate and the disc where it is lower: a thin plate reads far below a side
wall's cortex, and the shell's threshold dropped the endplate's partial-volume voxel layer whole.
Voxels within one working voxel of the surface are kept when their HU is at least the threshold
(the side's or the end's, by the direction of the surface normal at them) and dropped otherwise;
the interior is kept whatever its HU (an osteoporotic core can be darker than muscle), and holes
are filled on sagittal and coronal planes (and axial holes that are small or have body above and
below), so that a dark core open towards the basivertebral foramen still counts as body while the
disc inside a concave endplate's rim does not. Where a working voxel spans several CT voxels along the
height axis (thin slices), the interior's outer working voxel gives up, at the ends, what lies on the
disc's side of the endplate and under the threshold: otherwise the working grid, not the half maximum,
placed the ends; and an end column whose endplate peaks under the threshold (a thin, blurred plate, as at a
concave endplate's centre) reaches out to the half maximum between that plate and the disc.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from spinebq.constants import METAL_HU
from spinebq.segment.ct.bone import BONE_EDGE_HU, WorkGrid, fill_holes_2d

#: Percentile of the cortical peaks along the surface normals taken as a body's cortical shell value.
SHELL_PERCENTILE = 85.0
#: The cortex is a profile's peak within this distance (mm) of the body's surface as found on the working grid.
SHELL_SEARCH_MM = 4.0
#: The tissue outside a body is read this far (mm) beyond the cortical peak along the normal.
OUTSIDE_MM = 3.0
#: Step (mm) of the HU profiles along the surface normals.
PROFILE_STEP_MM = 0.25
#: At most about this many surface points get a profile (an even subsample of the outer layer).
PROFILE_COUNT = 4000
#: Smoothing (Gaussian sigma, mm) of the body mask whose gradient gives the surface normals.
NORMAL_SIGMA_MM = 3.0
#: Bounds (HU) of the surface threshold, whatever the shell and the tissue around it give.
THRESHOLD_RANGE_HU = (BONE_EDGE_HU, 450.0)
#: Axial holes up to this fraction of the slice's area are filled whatever lies above and below (veins).
SMALL_HOLE_FRACTION = 0.15
#: Smoothing (Gaussian sigma, mm) of the CT before the threshold: noise of thin-slice kernels.
SMOOTH_MM = 0.6
#: A surface faces a disc (is an endplate) where its outward normal is within this angle of the height axis, degrees.
ENDPLATE_ANGLE_DEG = 45.0
#: Slices at least this thick (mm) hold an endplate and the disc beyond it in one end voxel, kept or dropped whole.
ENDPLATE_VOXEL_MM = 2.0
#: Percentile of the endplate peaks along the ends' normals taken as the endplate's value.
ENDPLATE_PERCENTILE = 75.0
#: The disc beyond an endplate is the lowest HU within this distance (mm) beyond the plate's peak.
DISC_SEARCH_MM = 4.5
#: The tissue beyond an end is a disc when its median reads at least this (HU; fat beyond the sacrum's cut does not).
DISC_MIN_HU = 20.0
#: An end's own threshold needs at least this many plates read along its normals (else the shell's threshold holds).
ENDPLATE_MIN_POINTS = 20
#: A faint endplate's peak is looked for within this many voxels either side of a column's end (thin slices).
ENDPLATE_SEARCH_VOXELS = 2
#: The body's ends in the order :func:`endplate_thresholds_hu` returns them: inferior (-1), superior (+1).
ENDS = (-1.0, 1.0)


def _faces_end(normal_height, sign: float):
    """Where an outward normal's height component (``normal_height``, unit normals) faces the inferior (``sign`` -1)
    or the superior (+1) end: within :data:`ENDPLATE_ANGLE_DEG` of that direction."""
    return sign * normal_height >= math.cos(math.radians(ENDPLATE_ANGLE_DEG))


def fill_holes_along(mask: np.ndarray, axes=(0, 1, 2)) -> np.ndarray:
    """Fill holes in every 2D slice perpendicular to each of ``axes`` in turn."""
    out = mask.copy()
    for axis in axes:
        out = fill_holes_2d(out, axis)
    return out


def fill_enclosed(mask: np.ndarray) -> np.ndarray:
    """Fill holes on sagittal and coronal planes, and axial holes that are small or have body above and below.

    The axial condition keeps the concave endplate's rim from being filled with disc: on the slice
    through an endplate the body is a ring around the nucleus, which is not body.
    """
    out = fill_holes_along(mask, (0, 1))
    column = out.any(axis=2)
    if not column.any():
        return out
    below = np.logical_or.accumulate(out, axis=2)
    above = np.logical_or.accumulate(out[:, :, ::-1], axis=2)[:, :, ::-1]
    filled = fill_holes_along(out, (2,))
    holes = filled & ~out
    keep = holes & below & above
    for k in np.flatnonzero(holes.any(axis=(0, 1))):
        labelled, n = ndimage.label(holes[:, :, k])
        sizes = np.bincount(labelled.ravel())
        small = np.flatnonzero(sizes <= SMALL_HOLE_FRACTION * filled[:, :, k].sum())
        keep[:, :, k] |= np.isin(labelled, small[small > 0])
    return out | keep


def outward_normals(body: np.ndarray, spacing_mm) -> np.ndarray:
    """Unit outward normals (in mm) of a body mask at every voxel: down the gradient of the smoothed mask.

    Parameters
    ----------
    body : numpy.ndarray
        bool, the body.
    spacing_mm : sequence of float
        Its voxel size, mm.

    Returns
    -------
    numpy.ndarray
        float, shape ``(3, *body.shape)``; zero where the smoothed mask is flat.
    """
    spacing = np.asarray(spacing_mm, dtype=float)
    smooth = ndimage.gaussian_filter(body.astype(np.float32), NORMAL_SIGMA_MM / spacing, mode="nearest")
    gradient = np.stack([np.gradient(smooth, axis=axis) / spacing[axis] for axis in range(3)])
    length = np.linalg.norm(gradient, axis=0)
    return np.divide(-gradient, length, out=np.zeros_like(gradient), where=length > 0)


def _normal_profiles(hu: np.ndarray, body: np.ndarray, normals: np.ndarray, spacing_mm, facing=None):
    """HU profiles along the outward normals of (an even subsample of) the body's outer layer.

    ``facing``, when given, is ``facing(normal_mm) -> bool`` choosing the surface points before the
    subsample (an end of the body, read with all its points whatever the rest of the surface holds).
    Returns the profiles' sample voxel coordinates and HU (one row per
    point, every :data:`PROFILE_STEP_MM` from ``-SHELL_SEARCH_MM`` to ``SHELL_SEARCH_MM + OUTSIDE_MM``)
    and each profile's cortical peak (the maximum within :data:`SHELL_SEARCH_MM` of the surface);
    ``None`` when there is no such surface.
    """
    spacing = np.asarray(spacing_mm, dtype=float)
    points = np.argwhere(body & ~ndimage.binary_erosion(body, border_value=1))
    if facing is not None:
        points = points[facing(normals[(slice(None), *points.T)].T)]
    points = points[:: max(1, len(points) // PROFILE_COUNT)]
    normal_mm = normals[(slice(None), *points.T)].T
    points, normal_mm = points[np.any(normal_mm != 0, axis=1)], normal_mm[np.any(normal_mm != 0, axis=1)]
    if len(points) == 0:
        return None
    offsets_mm = np.arange(-SHELL_SEARCH_MM, SHELL_SEARCH_MM + OUTSIDE_MM + 1e-6, PROFILE_STEP_MM)
    coords = points[:, None, :] + offsets_mm[None, :, None] * (normal_mm / spacing)[:, None, :]
    profiles = ndimage.map_coordinates(np.asarray(hu, dtype=np.float32), coords.reshape(-1, 3).T, order=1,
                                       mode="nearest").reshape(coords.shape[:2])
    peak = np.argmax(np.where(offsets_mm <= SHELL_SEARCH_MM, profiles, -np.inf), axis=1)
    return coords, profiles, peak


def surface_threshold_hu(hu: np.ndarray, body: np.ndarray, allowed: np.ndarray, spacing_mm,
                         normals: np.ndarray | None = None) -> float:
    """Half maximum between the body's cortical shell and the tissue outside it, HU, read along the surface normal.

    From points on the body's outer layer, HU profiles are read (linear interpolation, every
    :data:`PROFILE_STEP_MM`) along the outward normal. The cortex is each profile's peak within
    :data:`SHELL_SEARCH_MM` of the surface, the shell value the :data:`SHELL_PERCENTILE` th percentile
    of the peaks; the tissue outside is the median HU :data:`OUTSIDE_MM` beyond each peak where that
    point is allowed to the body but not in it. Both are read in millimetres, so the threshold does
    not depend on the voxel size: layers one voxel thick sit on the cortex's blurred flanks on thin
    voxels and put the half maximum 40-60 HU lower there (benchmarks/ct.md, "No labels at 0.7 mm").

    Parameters
    ----------
    hu : numpy.ndarray
        CT values around the body (HU).
    body : numpy.ndarray
        bool, the body as found so far.
    allowed : numpy.ndarray
        bool, where this body may lie (its voxels outside it are the surrounding tissue).
    spacing_mm : sequence of float
        Voxel size of ``hu``, mm.
    normals : numpy.ndarray, optional
        :func:`outward_normals` of ``body`` when already computed.

    Returns
    -------
    float
        The threshold, clipped to :data:`THRESHOLD_RANGE_HU` (its middle when there is no surface or
        no tissue outside it).
    """
    if normals is None:
        normals = outward_normals(body, spacing_mm)
    found = _normal_profiles(hu, body, normals, spacing_mm)
    if found is None:
        return float(np.mean(THRESHOLD_RANGE_HU))
    coords, profiles, peak = found
    rows = np.arange(len(peak))
    shell_hu = float(np.percentile(profiles[rows, peak], SHELL_PERCENTILE))
    beyond = peak + int(round(OUTSIDE_MM / PROFILE_STEP_MM))
    voxel = np.clip(np.rint(coords[rows, beyond]).astype(int), 0, np.array(hu.shape) - 1)
    tissue = allowed[tuple(voxel.T)] & ~body[tuple(voxel.T)]
    if not tissue.any():
        return float(np.mean(THRESHOLD_RANGE_HU))
    outside_hu = float(np.clip(np.median(profiles[rows[tissue], beyond[tissue]]), -100.0, BONE_EDGE_HU))
    return float(np.clip(0.5 * (shell_hu + outside_hu), *THRESHOLD_RANGE_HU))


def endplate_thresholds_hu(hu: np.ndarray, body: np.ndarray, spacing_mm,
                           normals: np.ndarray | None = None) -> tuple[float, float]:
    """Half maximum between each endplate and the disc beyond it, HU: (inferior, superior); NaN where unread.

    The body's ends are its surface points whose outward normal lies within :data:`ENDPLATE_ANGLE_DEG`
    of the inferior or superior axis (the third axis of the canonical grid). Along those normals, as in
    :func:`surface_threshold_hu`, the endplate is each profile's peak within :data:`SHELL_SEARCH_MM`
    of the surface (a peak inside that window: a profile still rising at its end has trabecular bone
    deeper in, or the next body's endplate across a thin disc, and is not read) and the disc the lowest
    HU within :data:`DISC_SEARCH_MM` beyond it (one and a half voxels of a 3 mm CT: on thinner voxels
    a fixed distance lands on the plate's blurred flank). The disc is read there whatever the body as
    found holds: on fine voxels the body found on the working grid reaches into the disc, and reading
    only the points beyond it would keep a different few profiles on every voxel size. Each end's
    threshold is half-way between the :data:`ENDPLATE_PERCENTILE` th percentile of its plates and the median of its
    discs. An endplate is a thin plate, not a cortical wall: on the real 3 mm CT the ends of L1-L5 read
    168-216 HU this way against the shell's 177-206 HU, and the shell's half maximum dropped the
    endplate's partial-volume layer (benchmarks/ct.md, "Heights across label sources").

    Parameters
    ----------
    hu, body, spacing_mm, normals
        As for :func:`surface_threshold_hu`.

    Returns
    -------
    tuple of float
        The inferior and the superior end's thresholds, clipped to :data:`THRESHOLD_RANGE_HU`; NaN for an
        end with fewer than :data:`ENDPLATE_MIN_POINTS` plates read, or whose tissue beyond reads below
        :data:`DISC_MIN_HU` (no disc: the sacrum's lower end).
    """
    if normals is None:
        normals = outward_normals(body, spacing_mm)
    last = int(round(2 * SHELL_SEARCH_MM / PROFILE_STEP_MM))
    out = []
    for sign in ENDS:
        found = _normal_profiles(hu, body, normals, spacing_mm, lambda n, s=sign: _faces_end(n[:, 2], s))
        if found is None:
            out.append(math.nan)
            continue
        _, profiles, peak = found
        rows = np.flatnonzero((peak > 0) & (peak < last))
        beyond = np.arange(profiles.shape[1])[None, :] - peak[rows, None]
        darkest = np.where((beyond >= 0) & (beyond <= round(DISC_SEARCH_MM / PROFILE_STEP_MM)), profiles[rows], np.inf)
        disc = float(np.median(darkest.min(axis=1))) if len(rows) >= ENDPLATE_MIN_POINTS else math.nan
        if not disc >= DISC_MIN_HU:
            out.append(math.nan)
            continue
        half = 0.5 * (float(np.percentile(profiles[rows, peak[rows]], ENDPLATE_PERCENTILE)) + min(disc, BONE_EDGE_HU))
        out.append(float(np.clip(half, *THRESHOLD_RANGE_HU)))
    return out[0], out[1]


def refine_body(hu: np.ndarray, body: np.ndarray, core: np.ndarray, band: np.ndarray,
                allowed: np.ndarray, spacing_mm, core_rim: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Move a body's surface to the half-maximum thresholds within ``band``.

    The side walls take :func:`surface_threshold_hu` (cortical shell against the tissue around the
    body). On slices at least :data:`ENDPLATE_VOXEL_MM` thick the ends that face a disc take their own
    :func:`endplate_thresholds_hu` (endplate against disc) where it is lower, each band voxel by the
    direction of the body's outward normal at it: there the endplate, the bone behind it and the disc
    share the end voxel, and the shell's threshold drops that partial-volume layer whole, leaving the
    body short by part of a voxel at each end (benchmarks/ct.md, "Heights across label sources"). On
    thinner slices the ends keep the shell's threshold: the end threshold there grew the bodies of the
    real CT resampled to 0.7 mm by up to 0.3 ml and raised their hu_3d by up to 1.4 HU, past the 3 mm
    ones by more than ``tests/test_resampled_ct.py`` allows. There a faint endplate, whose peak reads
    under the shell's threshold, is reached column by column instead (:func:`_faint_plate_ends`).

    Parameters
    ----------
    hu : numpy.ndarray
        CT values around the body, HU (already smoothed if wanted).
    body : numpy.ndarray
        bool, the body as found so far (for instance a coarse mask repeated onto fine voxels).
    core : numpy.ndarray
        bool, the part of ``body`` kept whatever its HU (the body eroded by the band's width).
    band : numpy.ndarray
        bool, voxels around the surface decided by the threshold.
    allowed : numpy.ndarray
        bool, where the body may lie: in front of the spinal canal, between its two disc planes,
        not in another body.
    spacing_mm : sequence of float
        Voxel size of ``hu``, mm.
    core_rim : numpy.ndarray, optional
        bool, the outer working voxel of ``core`` when a working voxel spans several CT voxels along the height
        axis. Its voxels on the disc's side of an endplate and under the threshold are not kept
        (:func:`_beyond_endplate`): there one working voxel holds the endplate and the disc beyond it, and keeping
        it whole left the ends of 0.7 mm bodies to the 2.1 mm working grid instead of the half maximum (two thirds
        of L3's end surface on the real CT resampled to 0.7 mm), put the partial-volume disc into the body and the
        3 mm peel of the 3D-HU ROI into the endplate's dense bone (benchmarks/ct.md, "The core's rim at the ends").

    Returns
    -------
    mask : numpy.ndarray
        bool, the refined body (the largest connected piece).
    threshold_hu : float
        The side walls' surface threshold.
    """
    normals = outward_normals(body, spacing_mm)
    threshold = surface_threshold_hu(hu, body, allowed, spacing_mm, normals)
    level_hu = np.full(hu.shape, threshold, dtype=np.float32)
    thick = float(spacing_mm[2]) >= ENDPLATE_VOXEL_MM
    if thick:
        for sign, end_hu in zip(ENDS, endplate_thresholds_hu(hu, body, spacing_mm, normals)):
            if math.isfinite(end_hu):
                level_hu[_faces_end(normals[2], sign)] = min(end_hu, threshold)
    mask = core | (band & allowed & (hu >= level_hu))
    mask = fill_enclosed(mask) & (allowed | core)
    if core_rim is not None:
        beyond = _beyond_endplate(hu, mask, core_rim & (hu < level_hu), normals, spacing_mm)
        if beyond.any():
            mask = fill_enclosed(mask & ~beyond) & (allowed | core)
    if not thick:
        mask = mask | (_faint_plate_ends(hu, mask, normals, threshold, spacing_mm) & allowed)
    labelled, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(labelled.ravel())
        sizes[0] = 0
        mask = labelled == int(np.argmax(sizes))
    return mask, threshold


def _beyond_endplate(hu: np.ndarray, mask: np.ndarray, candidates: np.ndarray, normals: np.ndarray,
                     spacing_mm) -> np.ndarray:
    """The ``candidates`` at an end of the body that lie on the disc's side of its endplate.

    A candidate counts where the surface faces an end (:func:`_faces_end`), the CT reads higher one voxel further in
    along the outward normal (the endplate's peak is still ahead) and it is joined to the outside of ``mask`` through
    such voxels.
    """
    spacing = np.asarray(spacing_mm, dtype=float)
    ends = _faces_end(normals[2], ENDS[0]) | _faces_end(normals[2], ENDS[1])
    points = np.argwhere(candidates & ends)
    low = np.zeros_like(candidates)
    if len(points) == 0:
        return low
    inward = points - normals[(slice(None), *points.T)].T * (spacing.min() / spacing)
    ahead_hu = ndimage.map_coordinates(hu, inward.T, order=1, mode="nearest")
    low[tuple(points[ahead_hu > hu[tuple(points.T)]].T)] = True
    outside = ~mask
    return ndimage.binary_propagation(outside, mask=outside | low) & low


def _faint_plate_ends(hu: np.ndarray, mask: np.ndarray, normals: np.ndarray, threshold_hu: float,
                      spacing_mm) -> np.ndarray:
    """Voxels beyond a body's end, column by column along the height axis, out to the half maximum between a faint
    endplate and the disc beyond it.

    On thin slices a concave endplate's centre is a thin plate whose blurred peak reads under the shell's threshold
    (163 HU against 192 on L2 of the real CT resampled to 0.7 mm): the body then ends at that peak, 2-2.5 mm short of
    the half maximum between plate and disc that places the edge everywhere else. In each column whose end faces a
    disc (:func:`_faces_end`) and whose plate (the highest HU within :data:`ENDPLATE_SEARCH_VOXELS` of the end) reads
    under ``threshold_hu``, the voxels beyond the end are added while they read at least half-way between that plate
    and the disc (the lowest HU within :data:`DISC_SEARCH_MM` beyond it, read as in :func:`endplate_thresholds_hu`).
    """
    dz = float(spacing_mm[2])
    disc_steps = int(round(DISC_SEARCH_MM / dz))
    add = np.zeros_like(mask)
    columns = mask.any(axis=2)
    if not columns.any():
        return add
    n = mask.shape[2]
    cx, cy = np.nonzero(columns)
    flat = mask[cx, cy]
    steps = np.arange(-ENDPLATE_SEARCH_VOXELS, ENDPLATE_SEARCH_VOXELS + disc_steps + 1)
    for sign in ENDS:
        end = (n - 1 - np.argmax(flat[:, ::-1], axis=1)) if sign > 0 else np.argmax(flat, axis=1)
        facing = _faces_end(normals[2][cx, cy, end], sign)
        z = end[:, None] + int(sign) * steps[None, :]
        within = np.all((z >= 0) & (z < n), axis=1)
        profile = hu[cx[:, None], cy[:, None], np.clip(z, 0, n - 1)]
        peak_at = np.argmax(np.where(np.abs(steps) <= ENDPLATE_SEARCH_VOXELS, profile, -np.inf), axis=1)
        peak = profile[np.arange(len(cx)), peak_at]
        past_peak = steps[None, :] - steps[peak_at][:, None]
        disc = np.where((past_peak >= 0) & (past_peak <= disc_steps), profile, np.inf).min(axis=1)
        half = 0.5 * (peak + np.minimum(disc, BONE_EDGE_HU))
        faint = within & facing & (peak < threshold_hu) & (disc >= DISC_MIN_HU)
        # the run of voxels at or above the half maximum that starts right beyond the end
        beyond = steps[None, :] > 0
        run = np.cumprod(~beyond | (profile >= half[:, None]), axis=1).astype(bool) & beyond & faint[:, None]
        rows, cols = np.nonzero(run)
        add[cx[rows], cy[rows], z[rows, cols]] = True
    return add


def refine_bodies(ct_hu: np.ndarray, ct_spacing_mm, grid: WorkGrid, bodies: np.ndarray, allowed_of) -> dict:
    """Refine every body of the working-grid label map ``bodies`` on the CT's own grid.

    Parameters
    ----------
    ct_hu : numpy.ndarray
        The CT (HU) on its own grid.
    ct_spacing_mm : sequence of float
        Its voxel size, mm.
    grid : WorkGrid
        The working grid ``bodies`` lives on.
    bodies : numpy.ndarray
        int, working-grid body labels (0 background).
    allowed_of : callable
        ``allowed_of(label, box)`` returns the bool working-grid mask, within the slices ``box``,
        where that body may lie.

    Returns
    -------
    dict
        ``{label: (native_box, mask, threshold_hu)}``: the refined body as a bool mask within the
        slices ``native_box`` of the CT grid.
    """
    factors = np.array(grid.factors)
    cross = ndimage.generate_binary_structure(3, 1)
    sigma = [SMOOTH_MM / float(s) for s in ct_spacing_mm]
    out = {}
    for label, box in enumerate(ndimage.find_objects(bodies), start=1):
        if box is None:
            continue
        box = tuple(slice(max(0, b.start - 2), min(n, b.stop + 2)) for b, n in zip(box, bodies.shape))
        native = tuple(slice(b.start * f, min(b.stop * f, n)) for b, f, n in zip(box, factors, grid.native_shape))
        shape = ct_hu[native].shape
        # the band is one working voxel either side of the working-grid surface
        body_work = bodies[box] == label
        core_work = ndimage.binary_erosion(body_work, structure=cross, border_value=1)
        band_work = ndimage.binary_dilation(body_work, structure=cross) & ~core_work
        allowed = _repeat(allowed_of(label, box), factors, shape)
        hu = np.minimum(np.asarray(ct_hu[native], dtype=np.float32), METAL_HU)
        if max(sigma) > 0.25:
            hu = ndimage.gaussian_filter(hu, sigma, mode="nearest")
        # on working voxels one CT voxel tall the core's rim lies a whole voxel inside the ends: kept as it is
        rim = None
        if factors[2] > 1:
            rim_work = core_work & ~ndimage.binary_erosion(core_work, structure=cross, border_value=1)
            rim = _repeat(rim_work, factors, shape)
        mask, threshold = refine_body(hu, _repeat(body_work, factors, shape), _repeat(core_work, factors, shape),
                                      _repeat(band_work, factors, shape), allowed, ct_spacing_mm, rim)
        out[label] = (native, mask, threshold)
    return out


def _repeat(mask: np.ndarray, factors, shape) -> np.ndarray:
    out = mask
    for axis, f in enumerate(factors):
        if f > 1:
            out = np.repeat(out, int(f), axis=axis)
    return np.ascontiguousarray(out[: shape[0], : shape[1], : shape[2]])
