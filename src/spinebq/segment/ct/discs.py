"""Intervertebral discs: the low-density gaps between vertebral bodies along the spine's axis.

The CT is sampled on discs of tissue perpendicular to the curve through the body centres, one
every millimetre. Bodies (trabecular bone plus bright endplates) give high mean HU, discs
(fibrocartilage, 60-110 HU) give low; the minima of that profile are the discs. Each disc is then
refined into a plane (centre and normal) by searching small tilts and shifts for the lowest mean HU,
which follows the wedge of L5-S1 and a scoliotic tilt.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

#: Radius (mm) of the sampling disc for the profile: the core of the body, away from its cortex.
PROFILE_RADIUS_MM = 11.0
#: Smallest distance (mm) between two discs along the axis (a lumbar body is 20-30 mm high).
MIN_DISC_DISTANCE_MM = 17.0
#: Smallest prominence (HU) of a profile minimum that counts as a disc.
MIN_PROMINENCE_HU = 12.0
#: Width (mm, at half depth) of the profile valley above which a minimum looks like a body's core, not a disc.
MAX_DISC_WIDTH_MM = 14.0
#: No disc is looked for this close (mm) to either end of the spine's extent (the curve bends there).
END_MARGIN_MM = 10.0
#: Largest angle (degrees) between a disc plane and at least one of its neighbours.
MAX_NEIGHBOUR_ANGLE_DEG = 45.0
#: HU from which a voxel counts as metal for the profile (left out, with its rim).
METAL_PROFILE_HU = 1000.0


@dataclass
class Curve:
    """The body-centre curve resampled every ``step_mm`` in working-grid millimetres.

    Attributes
    ----------
    points_mm : numpy.ndarray
        (n, 3) positions, mm, in the working grid frame (index * spacing).
    tangents : numpy.ndarray
        (n, 3) unit tangents pointing superior.
    """

    points_mm: np.ndarray
    tangents: np.ndarray
    step_mm: float = 1.0


@dataclass
class DiscPlane:
    """A disc as a plane: ``centre_mm`` on the axis and unit ``normal`` pointing superior."""

    centre_mm: np.ndarray
    normal: np.ndarray
    s_mm: float
    depth_hu: float
    prominence_hu: float
    score: float = 0.0


def build_curve(body_xy: np.ndarray, spacing_mm, z_range: tuple[int, int], step_mm: float = 1.0) -> Curve:
    """Resample the per-slice body centres between slices ``z_range`` into an arc-length curve."""
    k0, k1 = z_range
    ks = np.arange(k0, k1 + 1, dtype=float)
    pts = np.stack([body_xy[k0:k1 + 1, 0] * spacing_mm[0], body_xy[k0:k1 + 1, 1] * spacing_mm[1], ks * spacing_mm[2]], axis=1)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    grid = np.arange(0.0, s[-1] + 1e-9, step_mm)
    res = np.stack([np.interp(grid, s, pts[:, i]) for i in range(3)], axis=1)
    tan = np.gradient(ndimage.gaussian_filter1d(res, 4.0 / step_mm, axis=0, mode="nearest"), axis=0)
    tan /= np.linalg.norm(tan, axis=1, keepdims=True) + 1e-12
    return Curve(res, tan, step_mm)


def _basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``normal``; the first is closest to the left-right axis."""
    u = np.array([1.0, 0.0, 0.0]) - normal * normal[0]
    u /= np.linalg.norm(u) + 1e-12
    v = np.cross(normal, u)
    return u, v


def _disc_offsets(radius_mm: float, step_mm: float) -> np.ndarray:
    r = np.arange(-radius_mm, radius_mm + 1e-9, step_mm)
    a, b = np.meshgrid(r, r, indexing="ij")
    keep = a**2 + b**2 <= radius_mm**2
    return np.stack([a[keep], b[keep]], axis=1)


def plane_mean(hu: np.ndarray, spacing_mm, centre_mm: np.ndarray, normal: np.ndarray, offsets: np.ndarray,
               stretch: tuple[float, float] = (1.0, 1.0)) -> float:
    """Mean HU over the points ``centre + a u + b v`` for (a, b) in ``offsets`` (trilinear)."""
    u, v = _basis(normal)
    pts = centre_mm[None, :] + offsets[:, :1] * stretch[0] * u[None, :] + offsets[:, 1:] * stretch[1] * v[None, :]
    idx = (pts / np.asarray(spacing_mm)[None, :]).T
    return float(ndimage.map_coordinates(hu, idx, order=1, mode="nearest").mean())


def profile(hu: np.ndarray, spacing_mm, curve: Curve, radius_mm: float = PROFILE_RADIUS_MM) -> np.ndarray:
    """Mean HU on the disc of ``radius_mm`` perpendicular to the curve at every curve point."""
    offsets = _disc_offsets(radius_mm, min(2.0, radius_mm / 4))
    n = len(curve.points_mm)
    out = np.empty(n)
    sp = np.asarray(spacing_mm)
    all_idx = []
    for i in range(n):
        u, v = _basis(curve.tangents[i])
        pts = curve.points_mm[i][None, :] + offsets[:, :1] * u[None, :] + offsets[:, 1:] * v[None, :]
        all_idx.append(pts / sp[None, :])
    idx = np.concatenate(all_idx).T
    metal = hu >= METAL_PROFILE_HU
    if metal.any():
        # metal and its blurred rim are left out (NaN spreads to every sample that touches them)
        hu = np.where(ndimage.binary_dilation(metal, iterations=1), np.float32(np.nan), hu)
    vals = ndimage.map_coordinates(hu, idx, order=1, mode="nearest").reshape(n, len(offsets))
    # clip so that a bright endplate spot does not dominate the mean
    vals = np.clip(vals, -200, 500)
    counts = np.isfinite(vals).sum(axis=1)
    out = np.where(counts > 0, np.nansum(vals, axis=1) / np.maximum(counts, 1), np.nan)
    if not np.isfinite(out).all():
        good = np.isfinite(out)
        out = np.interp(np.arange(n), np.flatnonzero(good), out[good]) if good.any() else np.zeros(n)
    return out


def dense_fraction(hu: np.ndarray, spacing_mm, curve: Curve, radius_mm: float = 22.0, dense_hu: float = 200.0) -> np.ndarray:
    """Fraction of dense-bone samples (cortex, endplates) on the disc of ``radius_mm`` at every curve point."""
    offsets = _disc_offsets(radius_mm, 1.5)
    sp = np.asarray(spacing_mm)
    n = len(curve.points_mm)
    idx = []
    for i in range(n):
        u, v = _basis(curve.tangents[i])
        idx.append((curve.points_mm[i][None, :] + offsets[:, :1] * u[None, :] + offsets[:, 1:] * v[None, :]) / sp[None, :])
    vals = ndimage.map_coordinates(hu, np.concatenate(idx).T, order=1, mode="nearest").reshape(n, len(offsets))
    return (vals > dense_hu).mean(axis=1)


def spine_extent(prof: np.ndarray, step_mm: float, min_hu: float = 40.0) -> tuple[int, int]:
    """Longest run of the curve whose core is tissue denser than ``min_hu`` (bone and discs, not fat)."""
    smooth = ndimage.gaussian_filter1d(prof, 4.0 / step_mm, mode="nearest")
    good = smooth > min_hu
    labelled, n = ndimage.label(good)
    if n == 0:
        return 0, len(prof) - 1
    sizes = np.bincount(labelled)[1:]
    run = np.flatnonzero(labelled == int(np.argmax(sizes)) + 1)
    return int(run[0]), int(run[-1])


def find_discs(hu: np.ndarray, spacing_mm, curve: Curve, *, min_gap_mm: float = 22.0,
               max_gap_mm: float = 60.0) -> tuple[list[DiscPlane], np.ndarray, tuple[int, int]]:
    """Find the discs along ``curve``.

    Candidates are the minima of the core-HU profile. Each gets a score from its depth, from the
    bright endplates that flank a real disc (a low-density middle of an osteoporotic body has none)
    and from its width: a disc's valley is a few mm wide, a body's dark core as wide as the body is tall.
    A chain of candidates with plausible spacing (``min_gap_mm`` to ``max_gap_mm``, changing slowly
    from level to level) and the highest total score is kept.

    Returns
    -------
    planes : list of DiscPlane
        Caudal to cranial.
    profile : numpy.ndarray
        Core HU per curve point.
    extent : tuple of int
        First and last curve index inside the spine.
    """
    step = curve.step_mm
    prof = profile(hu, spacing_mm, curve)
    dense = dense_fraction(hu, spacing_mm, curve)
    lo, hi = spine_extent(prof, step)
    smooth = ndimage.gaussian_filter1d(prof, 1.5 / step, mode="nearest")
    peaks, props = signal.find_peaks(-smooth, distance=max(1, int(8.0 / step)), prominence=6.0)
    widths_mm = signal.peak_widths(-smooth, peaks, rel_height=0.5)[0] * step if len(peaks) else np.zeros(0)
    margin = int(END_MARGIN_MM / step)
    cands = []
    for p, prom, width_mm in zip(peaks, props["prominences"], widths_mm):
        if p < lo + margin or p > hi - margin:
            continue
        w = lambda a, b: slice(max(0, p + int(a / step)), max(0, p + int(b / step)) + 1)  # noqa: E731
        depth = min(0.5 * (smooth[w(-10, -4)].mean() + smooth[w(4, 10)].mean()) - smooth[p], prom)
        endplate = 0.5 * (dense[w(-9, -2)].max() + dense[w(2, 9)].max()) - dense[w(-1.5, 1.5)].min()
        # a disc is a narrow valley between two endplates; the dark core of a body between its own
        # two endplates is as deep but as wide as the body is tall
        too_wide = np.clip((width_mm - MAX_DISC_WIDTH_MM) / 3.0, 0, 3)
        # bright endplates count only around a real dip (not a wiggle inside a body)
        endplate_term = np.clip(endplate / 0.08, -1, 2.5) * min(1.0, prom / 30.0)
        score = float(np.clip(depth / 25.0, -1, 2.5) + endplate_term - too_wide)
        cands.append((int(p), float(prom), score))
    chain = _best_chain(cands, step, min_gap_mm, max_gap_mm)
    offsets = _disc_offsets(14.0, 2.0)
    planes = []
    for p, prom, score in chain:
        plane = refine_plane(hu, spacing_mm, curve, p, offsets)
        plane.prominence_hu = prom
        plane.score = score
        planes.append(plane)
    return drop_stray_planes(planes), prof, (lo, hi)


def drop_stray_planes(planes: list[DiscPlane], max_angle_deg: float = MAX_NEIGHBOUR_ANGLE_DEG) -> list[DiscPlane]:
    """Drop disc planes tilted more than ``max_angle_deg`` from every neighbouring disc.

    Neighbouring lumbar discs differ by 25 degrees at most (L4-L5 to L5-S1); a plane far steeper
    than its neighbours was fitted to something that is not a disc (usually where the axis curve
    bends at the edge of the field of view), and it would cut through the bodies beside it.
    """
    planes = list(planes)
    cos_max = np.cos(np.radians(max_angle_deg))
    changed = True
    while changed and len(planes) >= 2:
        changed = False
        for i, plane in enumerate(planes):
            near = [planes[j] for j in (i - 1, i + 1) if 0 <= j < len(planes)]
            if all(float(plane.normal @ q.normal) < cos_max for q in near):
                del planes[i]
                changed = True
                break
    return planes


def _best_chain(cands: list, step: float, min_gap: float, max_gap: float, cost: float = 0.6,
                smooth_weight: float = 3.0) -> list:
    """Highest-scoring subsequence of candidates with gaps in range and slowly changing gaps."""
    n = len(cands)
    if n == 0:
        return []
    pos = np.array([c[0] * step for c in cands])
    gain = np.array([c[2] - cost for c in cands])
    # best[i][j]: best total ending with ... j -> i (j = -1: i starts the chain)
    best = {}
    back = {}
    for i in range(n):
        best[(i, -1)] = gain[i]
        back[(i, -1)] = None
        for j in range(i):
            gap = pos[i] - pos[j]
            if not min_gap <= gap <= max_gap:
                continue
            options = [(best[(j, -1)], (j, -1))]
            for k in range(j):
                if (j, k) in best:
                    prev_gap = pos[j] - pos[k]
                    options.append((best[(j, k)] - smooth_weight * abs(np.log(gap / prev_gap)), (j, k)))
            val, arg = max(options, key=lambda t: t[0])
            best[(i, j)] = val + gain[i]
            back[(i, j)] = arg
    key = max(best, key=lambda k: best[k])
    if best[key] <= 0:
        return []
    chain = []
    while key is not None:
        chain.append(cands[key[0]])
        key = back[key]
    return chain[::-1]


def refine_plane(hu: np.ndarray, spacing_mm, curve: Curve, index: int, offsets: np.ndarray) -> DiscPlane:
    """Search tilt (+-30 degrees) and shift (+-4 mm) around the curve normal for the lowest-HU plane."""
    t = curve.tangents[index]
    u, v = _basis(t)
    angles = np.deg2rad(np.arange(-30, 31, 6))
    ta, tb = np.meshgrid(np.tan(angles), np.tan(angles), indexing="ij")
    normals = t[None, :] + ta.reshape(-1, 1) * u[None, :] + tb.reshape(-1, 1) * v[None, :]
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    # in-plane axes of every candidate plane (as _basis: the first closest to left-right)
    first = np.array([1.0, 0.0, 0.0])[None, :] - normals * normals[:, :1]
    first /= np.linalg.norm(first, axis=1, keepdims=True) + 1e-12
    second = np.cross(normals, first)
    aa, bb = np.meshgrid(angles, angles, indexing="ij")
    # prefer small tilts a little, so flat profiles stay perpendicular to the axis
    penalty = 2.0 * (aa**2 + bb**2).reshape(-1)
    rel = offsets[None, :, :1] * first[:, None, :] + offsets[None, :, 1:] * second[:, None, :]
    sp = np.asarray(spacing_mm, dtype=float)
    best = (np.inf, curve.points_mm[index], t, 0.0)
    for shift in np.arange(-4.0, 4.01, 1.0):
        j = int(np.clip(index + round(shift / curve.step_mm), 0, len(curve.points_mm) - 1))
        c = curve.points_mm[j]
        pts = (c[None, None, :] + rel) / sp
        vals = ndimage.map_coordinates(hu, pts.reshape(-1, 3).T, order=1, mode="nearest").reshape(len(normals), -1)
        means = vals.mean(axis=1) + penalty
        i = int(np.argmin(means))
        if means[i] < best[0]:
            best = (float(means[i]), c, normals[i], j * curve.step_mm)
    return DiscPlane(centre_mm=np.array(best[1], float), normal=np.array(best[2], float), s_mm=float(best[3]),
                     depth_hu=float(best[0]), prominence_hu=0.0)
