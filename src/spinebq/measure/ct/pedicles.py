"""Pedicles of one vertebra from its whole-vertebra mask: isthmus, width, axis and cancellous core.

The mask is resampled in the vertebra's own frame (superior, posterior, left; see
:mod:`spinebq.measure.ct.frame`). Behind the posterior wall of the body, every plane perpendicular to
the posterior axis cuts each pedicle as one blob beside the spinal canal. Following that blob
backwards, the pedicle is narrowest at its isthmus; further back it merges with the transverse and
articular processes. The pedicle axis is the line fitted through the blob centres from the wall to
just behind the isthmus (docs/methods.md section 4.2); the medial angle is its convergence towards the midline
going anteriorly, the sagittal angle its cranial tilt. Widths are read across the whole vertebra's cross-section
and body voxels more than :data:`BODY_BEHIND_WALL_MM` behind the wall count as pedicle, so a label source whose body
reaches into the pedicle's root (the built-in sub-region) finds the same pedicle as one that cuts the body at the canal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spinebq.measure.ct.frame import VertebraFrame
from spinebq.measure.ct.sampling import sample_mask
from spinebq.vocabulary import Side

#: Sampling step of the frame grid, mm.
GRID_MM = 1.0
#: How far behind the posterior wall of the body the pedicle is followed, mm.
SEARCH_DEPTH_MM = 22.0
#: A pedicle blob's centre is at least this far from the midline (the canal is between them), mm.
MIN_OFFSET_MM = 6.0
#: How far a pedicle blob may reach across the midline (partial volume of the body's posterior wall), mm.
MAX_CROSSING_MM = 8.0
#: Cortex left out of the cancellous pedicle region (region B), mm (docs/methods.md section 4.2: eroded 1 mm); at least half
#: a voxel on coarse CT.
PEDICLE_CORTEX_MM = 1.0
#: Half-length along the pedicle of region B around the isthmus, mm.
REGION_B_HALF_LENGTH_MM = 4.0
#: Smallest cross-section of a pedicle blob, mm^2.
MIN_PEDICLE_AREA_MM2 = 12.0
#: A blob this many times larger than the narrowest section has merged with the processes behind.
MERGE_FACTOR = 3.0
#: The axis is scored from this far behind the isthmus to this far in front of it, mm.
AXIS_BEHIND_MM = 6.0
AXIS_AHEAD_MM = 15.0
#: Clearance beyond this does not make a direction better, mm.
CLEARANCE_CAP_MM = 8.0
#: A blob smaller than this fraction of the previous one means the pedicle split (lamina / process).
SPLIT_FRACTION = 0.6
#: A blob centre moving more than this between neighbouring sections is another structure, mm.
MAX_CENTRE_JUMP_MM = 5.0
#: The isthmus is looked for within this distance behind the root of the pedicle, mm.
PEDICLE_LENGTH_MM = 12.0
#: Cross-section bone flatter than this (craniocaudal extent, mm) is not pedicle.
PEDICLE_MIN_HEIGHT_MM = 13.0
#: A pedicle's cross-section is at most this tall (craniocaudal, mm) where its isthmus is looked for: behind the
#: pedicle the superior articular process joins it and the section grows taller (on the real CT resampled to 0.7 mm,
#: L5 right: 21 mm at the pedicle, 27-31 mm in the articular column, whose narrowest section was taken for the
#: isthmus; benchmarks/ct.md, issue 19m). Taller sections are used only when the pedicle has none this low.
MAX_ISTHMUS_HEIGHT_MM = 25.0
#: Body voxels further than this behind the posterior wall count as pedicle root when the pedicle is followed, mm: label
#: sources end the body at different depths behind its wall (a cut at the canal, a sub-region reaching into the roots).
BODY_BEHIND_WALL_MM = 2.0
#: Both sides, as strings (the values of :class:`~spinebq.vocabulary.Side`).
SIDES = Side.values()


@dataclass
class Pedicle:
    """One pedicle of one vertebra.

    Attributes
    ----------
    side : str
        ``"left"`` or ``"right"`` (patient side).
    found : bool
        False when no pedicle could be followed; ``reason`` says why and the numbers are NaN.
    isthmus_mm : numpy.ndarray
        Centre of the narrowest cross-section, LPS mm.
    width_mm, height_mm : float
        Transverse width (perpendicular to the pedicle axis) and craniocaudal height of the isthmus.
    direction : numpy.ndarray
        Unit vector of the pedicle axis pointing anteriorly (into the body), LPS.
    medial_angle_deg : float
        Convergence of the axis towards the midline going anteriorly, in the vertebra's transverse plane.
    sagittal_angle_deg : float
        Tilt of the axis, positive when it rises (cranially) going anteriorly.
    wall_p_mm, isthmus_p_mm : float
        Positions of the body's posterior wall and of the isthmus along the frame's posterior axis.
    cancellous_points_mm : numpy.ndarray
        Grid points of region B: the pedicle around its isthmus, cortex excluded.
    """

    side: str
    found: bool
    reason: str | None = None
    isthmus_mm: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    width_mm: float = math.nan
    height_mm: float = math.nan
    direction: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    medial_angle_deg: float = math.nan
    sagittal_angle_deg: float = math.nan
    wall_p_mm: float = math.nan
    isthmus_p_mm: float = math.nan
    cancellous_points_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def to_dict(self) -> dict:
        """Plain numbers for measurements.json."""
        return {
            "found": self.found,
            "reason": self.reason,
            "isthmus_mm": [round(float(v), 2) for v in self.isthmus_mm] if self.found else None,
            "isthmus_width_mm": self.width_mm,
            "isthmus_height_mm": self.height_mm,
            "medial_angle_deg": self.medial_angle_deg,
            "sagittal_angle_deg": self.sagittal_angle_deg,
        }


def own_frame(whole_mask: np.ndarray, body_mask: np.ndarray, affine: np.ndarray, frame: VertebraFrame,
              *, superior: np.ndarray | None = None) -> VertebraFrame:
    """The vertebra's frame turned about its axis towards its posterior elements.

    The posterior axis points from the body centroid to the centroid of the posterior elements, so a
    vertebra rotated about the spine's axis has its own midsagittal plane (docs/methods.md section 4.2); medial
    angles are measured from that plane, as a surgeon measures them. ``superior`` replaces the
    frame's axis when given (see :func:`superior_axis`).
    """
    superior = frame.superior if superior is None else superior / np.linalg.norm(superior)
    rest = whole_mask & ~body_mask
    posterior = frame.posterior.copy()
    if rest.sum() >= 10:
        behind = np.argwhere(rest).mean(axis=0) @ affine[:3, :3].T + affine[:3, 3] - frame.centre_mm
        if behind @ frame.posterior > 0:
            posterior = behind
    posterior = posterior - (posterior @ superior) * superior
    posterior /= np.linalg.norm(posterior)
    return VertebraFrame(frame.centre_mm, superior, posterior, np.cross(posterior, superior))


def superior_axis(name: str, order: list[str], centroids_mm: dict) -> np.ndarray | None:
    """The height axis of a vertebra whose caudal neighbour is the sacrum: towards the vertebra above.

    The centroid of a sacrum label (the whole sacrum, alae included) lies far behind and below the S1
    body, so the axis through it tilts the last lumbar vertebra's frame by 20-30 degrees; the axis
    from the vertebra's centroid to its cranial neighbour's is used instead. ``None`` otherwise.
    """
    n = order.index(name)
    if n + 1 < len(order) and order[n + 1] == "S1" and n > 0:
        axis = np.asarray(centroids_mm[order[n - 1]]) - np.asarray(centroids_mm[name])
        return axis / np.linalg.norm(axis)
    return None


def posterior_wall_p_mm(body_mask: np.ndarray, affine: np.ndarray, frame: VertebraFrame) -> float:
    """Position of the body's posterior wall along the frame's posterior axis (near the midline), mm."""
    points = np.argwhere(body_mask) @ affine[:3, :3].T + affine[:3, 3]
    rel = points - frame.centre_mm
    p, l = rel @ frame.posterior, rel @ frame.left
    central = np.abs(l) <= 8.0
    values = p[central] if central.sum() >= 5 else p
    return float(np.percentile(values, 98)) if values.size else math.nan


@dataclass
class VertebraPedicles:
    """Both pedicles of one vertebra with the frame and grid they were found in.

    Attributes
    ----------
    pedicles : dict
        ``"left"`` and ``"right"`` :class:`Pedicle`.
    frame : VertebraFrame
        The vertebra's frame turned towards its posterior elements (:func:`own_frame`).
    grid : object
        The frame grid with the clearance map, for planning screws through the pedicles.
    """

    pedicles: dict
    frame: VertebraFrame
    grid: object = None


def find_pedicles(whole_mask: np.ndarray, body_mask: np.ndarray, affine: np.ndarray, frame: VertebraFrame,
                  *, superior: np.ndarray | None = None, grid_mm: float = GRID_MM,
                  bone_mask: np.ndarray | None = None) -> VertebraPedicles:
    """Find the left and right pedicle of one vertebra.

    Parameters
    ----------
    whole_mask, body_mask : numpy.ndarray
        Boolean masks of the whole vertebra and of its body on the grid of ``affine``.
    affine : numpy.ndarray
        Voxel -> LPS mm of the masks' grid.
    frame : VertebraFrame
        The vertebra's own axes; turned about its axis towards the posterior elements first
        (:func:`own_frame`).
    superior : numpy.ndarray, optional
        Replaces the frame's height axis (:func:`superior_axis`).
    grid_mm : float
        Step of the resampling grid, mm.
    bone_mask : numpy.ndarray, optional
        The vertebra's bone as the image shows it, on the grid of ``affine``
        (:func:`spinebq.measure.ct.trajectory.bone_in_image`): the clearance map that screw directions are chosen in
        is measured in it, so plans do not depend on how generously the labels draw the pedicle. Default: the label.
    """
    frame = own_frame(whole_mask, body_mask, affine, frame, superior=superior)
    wall = posterior_wall_p_mm(body_mask, affine, frame)
    if not math.isfinite(wall):
        return VertebraPedicles({side: Pedicle(side, False, "no vertebral body") for side in SIDES}, frame)
    s = np.arange(-25.0, 25.0 + grid_mm / 2, grid_mm)
    p = np.arange(-45.0, wall + SEARCH_DEPTH_MM + grid_mm / 2, grid_mm)
    l = np.arange(-45.0, 45.0 + grid_mm / 2, grid_mm)
    ss, pp, ll = np.meshgrid(s, p, l, indexing="ij")
    points = frame.to_mm(ss, pp, ll)
    whole = sample_mask(whole_mask, affine, points)
    body = sample_mask(body_mask, affine, points)
    behind = p >= wall - 2.0
    bone = (whole & ~(body & (p < wall + BODY_BEHIND_WALL_MM)[None, :, None]))[:, behind, :]
    # a pedicle is a tall column in each cross-section; a transverse process or lamina is a flat bar
    column = np.ones((max(1, int(round(PEDICLE_MIN_HEIGHT_MM / grid_mm))), 1, 1), bool)
    opened = ndimage.binary_opening(bone, structure=column)
    inside = whole if bone_mask is None else sample_mask(bone_mask, affine, points)
    clearance = ndimage.distance_transform_edt(np.pad(inside, 1), sampling=grid_mm)[1:-1, 1:-1, 1:-1]
    # the cortex blurs over half a voxel of a coarse CT: peel at least that much for region B
    peel = max(PEDICLE_CORTEX_MM, 0.5 * float(np.linalg.norm(affine[:3, :3], axis=0).max()))
    grid = _Grid(s, p, l, clearance, frame, peel)
    pedicles = {side: _follow_pedicle(side, opened, whole[:, behind, :], s, p[behind], l, wall, grid, grid_mm) for side in SIDES}
    return VertebraPedicles(pedicles, frame, grid)


@dataclass
class _Grid:
    """The frame grid and the clearance map (distance to the outside of the vertebra, mm) on it."""

    s: np.ndarray
    p: np.ndarray
    l: np.ndarray
    clearance: np.ndarray
    frame: VertebraFrame
    peel_mm: float = PEDICLE_CORTEX_MM

    def clearance_at(self, s_mm, p_mm, l_mm) -> np.ndarray:
        step = self.s[1] - self.s[0]
        coords = np.stack([(np.asarray(s_mm) - self.s[0]) / step, (np.asarray(p_mm) - self.p[0]) / step,
                           (np.asarray(l_mm) - self.l[0]) / step])
        return ndimage.map_coordinates(self.clearance, coords, order=1, mode="constant", cval=0.0)


def _side_blobs(section: np.ndarray, l: np.ndarray, sign: float, min_cells: float):
    """Label a cross-section; per blob: whether it is a pedicle candidate on this side, and its size."""
    labelled, n = ndimage.label(section)
    if n == 0:
        return labelled, np.zeros(0, bool), np.zeros(0)
    index = np.arange(1, n + 1)
    side_l = np.broadcast_to(sign * l[None, :], section.shape)
    lo = np.asarray(ndimage.minimum(side_l, labelled, index))
    centre = np.asarray(ndimage.mean(side_l, labelled, index))
    sizes = np.asarray(ndimage.sum_labels(section, labelled, index))
    # a pedicle lies on its side of the midline; a blob reaching far across it is body or arch
    candidate = (centre >= MIN_OFFSET_MM) & (lo >= -MAX_CROSSING_MM) & (sizes >= min_cells)
    return labelled, candidate, sizes


def _centroid_distance(a: np.ndarray, b: np.ndarray, s: np.ndarray, l: np.ndarray) -> float:
    ra, ca = np.nonzero(a)
    rb, cb = np.nonzero(b)
    return float(np.hypot(s[ra].mean() - s[rb].mean(), l[ca].mean() - l[cb].mean()))


def _row_width(section: np.ndarray, row: int, col: int, grid_mm: float) -> float:
    """Width (mm) of the run of bone in ``row`` through ``col`` whose columns are at least half a pedicle tall."""
    def tall(c: int) -> bool:
        if not section[row, c]:
            return False
        column = section[:, c]
        up = row
        while up + 1 < column.size and column[up + 1]:
            up += 1
        down = row
        while down - 1 >= 0 and column[down - 1]:
            down -= 1
        return (up - down + 1) * grid_mm >= PEDICLE_MIN_HEIGHT_MM / 2
    if not tall(col):
        return math.nan
    lo = hi = col
    while lo - 1 >= 0 and tall(lo - 1):
        lo -= 1
    while hi + 1 < section.shape[1] and tall(hi + 1):
        hi += 1
    return (hi - lo + 1) * grid_mm


def _follow_pedicle(side: str, bone: np.ndarray, raw: np.ndarray, s, p, l, wall: float, grid: _Grid, grid_mm: float) -> Pedicle:
    frame = grid.frame
    sign = 1.0 if side == Side.LEFT else -1.0
    min_cells = MIN_PEDICLE_AREA_MM2 / grid_mm**2
    track: list = []  # (p index, blob mask (s, l)) of the current run
    for j in range(len(p)):
        labelled, candidate, sizes = _side_blobs(bone[:, j, :], l, sign, min_cells)
        chosen = 0
        if track:
            overlap = np.bincount(labelled[track[-1][1]], minlength=len(sizes) + 1)[1:]
            if overlap.size and overlap.max() > 0:
                best = int(np.argmax(overlap))
                narrowest = min(b.sum() for _, b in track)
                blob = labelled == best + 1
                previous = track[-1][1]
                jump = _centroid_distance(blob, previous, s, l)
                # the pedicle ends where it merges with the processes behind or splits into lamina and process
                if (candidate[best] and sizes[best] <= MERGE_FACTOR * narrowest and sizes[best] >= SPLIT_FRACTION * previous.sum()
                        and jump <= MAX_CENTRE_JUMP_MM):
                    chosen = best + 1
            if not chosen:
                if len(track) >= 3:
                    break
                track = []  # too short a run: a spur of the body; look further back
        if not chosen and not track and candidate.any():
            chosen = int(np.argmax(np.where(candidate, sizes, 0))) + 1
        if chosen:
            track.append((j, labelled == chosen))
    if len(track) < 3:
        return Pedicle(side, False, "no pedicle found behind the posterior wall of the body")

    idx = np.array([j for j, _ in track])
    s_c = np.array([s[np.nonzero(b)[0]].mean() for _, b in track])
    l_c = np.array([l[np.nonzero(b)[1]].mean() for _, b in track])
    widths, heights = [], []
    for (j, blob), sc, lc in zip(track, s_c, l_c):
        row, col = int(np.argmin(np.abs(s - sc))), int(np.argmin(np.abs(l - lc)))
        cols = np.flatnonzero(blob[row]) if blob[row].any() else np.flatnonzero(blob.any(axis=0))
        width = _row_width(raw[:, j, :], row, col, grid_mm)
        widths.append(width if math.isfinite(width) else (cols.max() - cols.min() + 1) * grid_mm)
        rows = np.flatnonzero(blob.any(axis=1))
        heights.append((rows.max() - rows.min() + 1) * grid_mm)
    widths = np.array(widths, dtype=float)
    smooth = np.convolve(np.pad(widths, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    # the isthmus: the narrowest section of the pedicle, within a pedicle's length of its root, among the sections no
    # taller than a pedicle (not where the articular process has joined it)
    within = np.flatnonzero(p[idx] <= p[idx[0]] + PEDICLE_LENGTH_MM)
    low = within[np.asarray(heights)[within] <= MAX_ISTHMUS_HEIGHT_MM]
    within = low if len(low) else within
    k = int(within[np.argmin(smooth[within])])
    p_isthmus = float(p[idx[k]])
    s_isthmus, l_isthmus = float(s_c[k]), float(l_c[k])
    medial, sagittal = best_medial_angle(grid, sign, s_isthmus, p_isthmus, l_isthmus), 0.0
    direction = axis_direction(frame, sign, medial, sagittal)
    centre = frame.to_mm(s_isthmus, p_isthmus, l_isthmus)
    width = float(widths[k]) * math.cos(math.radians(medial))

    cancellous = _cancellous_core([b for _, b in track], p[idx], p_isthmus, s, l, frame, grid_mm, grid.peel_mm)
    return Pedicle(side, True, None, centre, width, float(heights[k]), direction, medial, sagittal, wall,
                   p_isthmus, cancellous)


def axis_direction(frame: VertebraFrame, sign: float, medial_deg: float, sagittal_deg: float) -> np.ndarray:
    """Unit vector (LPS) pointing anteriorly with the given medial convergence and cranial tilt.

    ``sign`` is +1 for the left pedicle, -1 for the right one.
    """
    m, c = math.radians(medial_deg), math.radians(sagittal_deg)
    d = (-math.cos(m) * math.cos(c) * frame.posterior - sign * math.sin(m) * math.cos(c) * frame.left
         + math.sin(c) * frame.superior)
    return d / np.linalg.norm(d)


def best_medial_angle(grid: "_Grid", sign: float, s0: float, p0: float, l0: float,
                      medial_range_deg: tuple[float, float] = (-10.0, 45.0), sagittal_deg: float = 0.0) -> float:
    """Medial angle of the line through an isthmus centre that keeps most bone around it.

    Every medial angle in ``medial_range_deg`` (1 degree steps) is scored by the mean clearance
    (distance to the outside of the vertebra, capped at ``CLEARANCE_CAP_MM``) along the line from
    ``AXIS_BEHIND_MM`` behind the isthmus to ``AXIS_AHEAD_MM`` in front of it; ties go to the angle
    nearest the middle of the range.
    """
    medials = np.arange(medial_range_deg[0], medial_range_deg[1] + 0.5, 1.0)
    t = np.arange(-AXIS_BEHIND_MM, AXIS_AHEAD_MM + 0.25, 0.5)  # positive t runs anteriorly
    m, c = np.radians(medials)[:, None], math.radians(sagittal_deg)
    ds, dp, dl = math.sin(c), -np.cos(m) * math.cos(c), -sign * np.sin(m) * math.cos(c)
    values = grid.clearance_at(s0 + ds * t[None, :] + 0 * m, p0 + dp * t[None, :], l0 + dl * t[None, :])
    score = np.minimum(values, CLEARANCE_CAP_MM).mean(axis=-1)
    score = score - 1e-4 * np.abs(medials - np.mean(medial_range_deg))
    return float(medials[int(np.argmax(score))])


def _cancellous_core(blobs, p_values, p_isthmus, s, l, frame, grid_mm, peel_mm: float) -> np.ndarray:
    """Grid points of the pedicle within ``REGION_B_HALF_LENGTH_MM`` of the isthmus, ``peel_mm`` of cortex peeled off."""
    near = np.abs(p_values - p_isthmus) <= REGION_B_HALF_LENGTH_MM
    if not near.any():
        return np.zeros((0, 3))
    stack = np.stack([b for b, keep in zip(blobs, near) if keep], axis=1)  # (s, p, l)
    # the cortex is peeled in the cross-section only: the pedicle continues before and after the region
    core = np.stack([ndimage.distance_transform_edt(np.pad(stack[:, j, :], 1), sampling=grid_mm)[1:-1, 1:-1] > peel_mm
                     for j in range(stack.shape[1])], axis=1)
    si, pj, lk = np.nonzero(core)
    pv = p_values[near][pj]
    return frame.to_mm(s[si], pv, l[lk])
