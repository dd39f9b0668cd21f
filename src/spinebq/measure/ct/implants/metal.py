"""Metal of a post-operative CT split into straight pieces: screws, rods and cross-links.

Every connected group of voxels above the metal threshold (26-connected, :func:`scipy.ndimage.label`) is
split into straight segments by sequential RANSAC line fitting (:func:`skimage.measure.ransac` with a
line model; fixed seed, deterministic), refined by the principal axis of the segment's voxels weighted
by how far each is above the threshold (partial volume pulls the line to the metal's centre):

1. the line with most still-unexplained voxels near its axis (within ``CORE_FRACTION`` of the inlier
   distance: a straight line through the wide heads of a bent rod gathers voxels, but few near its axis) is
   taken; it keeps the voxels within ``INLIER_MM`` in its largest run without a gap (voxels already explained
   still make a run continuous, so a rod stays one piece where a screw head sits on it), and is refitted;
   a run whose two halves differ by more than ``BEND_DEG`` keeps its straighter half;
2. repeated while a run of at least ``MIN_SEGMENT_MM`` and ``MIN_VOXELS`` voxels is left;
3. the voxels are shared out to their nearest line and each line refitted (``REFINEMENTS`` rounds): the
   greedy search gave the first line every voxel near it.

Two segments of one group meet at a *junction* where their axes pass within twice ``INLIER_MM`` of each
other inside both segments; there each is refitted to its own voxels within ``LOCAL_MM`` (a bent rod's local
course). An end of a segment near a junction (within ``END_ZONE_MM``) is cut at the point of its axis nearest
the other's (a screw's head at the rod's centre line; converging screws where their axes cross; a rod at its
last screw). At a joined end the segment's own metal end is found too (:func:`_own_end`: its cross-sections read
only outside the touching segments' cylinders, half maximum): a screw's tip where it touches another screw lies
there, not where the axes cross (2-8 mm off). A free end is where the CT profile along the axis falls half-way
from the metal plateau to what lies beyond (sub-voxel, half maximum); the diameter is where the radial profile of
the segment's middle half falls half-way. A group deeper than ``BULKY_DEPTH_MM`` (joint prosthesis, cage, cement)
is not split. A bent rod's path through its screw heads is fitted to the group's metal by :func:`fit_path`.

What a segment is (screw, rod, cross-link) is decided with the vertebrae's frames in
:func:`spinebq.measure.ct.implants.screws.assign_metal`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from spinebq.constants import METAL_HU
from spinebq.image.volume import Volume
from spinebq.measure.ct.sampling import cylinder_points, orthonormal_pair, sample_values

#: A metal voxel's centre counts for a line within this distance of it, mm (at least; widened on coarse grids).
INLIER_MM = 4.0
#: Metal deeper than this from its surface is no screw, rod or cross-link (a 9 mm screw or a 13 mm tulip reaches
#: about 6-7 mm; a joint prosthesis's head, a cage or cement more), mm.
BULKY_DEPTH_MM = 8.0
#: The line of most voxels within this fraction of ``INLIER_MM`` of its axis is taken first.
CORE_FRACTION = 0.5
#: A straight metal segment is at least this long, mm, and holds at least this volume of metal (and 4 voxels), mm^3.
MIN_SEGMENT_MM = 10.0
MIN_VOLUME_MM3 = 100.0
MIN_VOXELS = 4
#: RANSAC looks at most at this many voxels (a random subset of the unexplained ones) to choose a line.
RANSAC_POINTS = 4000
#: An end of a segment this close to a junction is cut at the junction, mm.
END_ZONE_MM = 12.0
#: A line's local course at a junction is fitted to its voxels within this distance, mm.
LOCAL_MM = 12.0
#: ... keeping the voxels up to this percentile of their distance from the local axis.
LOCAL_TRIM_PERCENTILE = 70.0
#: Axes closer than this angle are parallel: no junction between them, degrees.
PARALLEL_DEG = 10.0
#: Metal of another line bridges a gap in a line only if the two cross at more than this angle, degrees.
BRIDGE_ANGLE_DEG = 20.0
RANSAC_TRIALS = 400
#: The two halves of a straight piece are at most this far apart in angle, degrees.
BEND_DEG = 8.0
#: Rounds of sharing the voxels out to their nearest line after the greedy search.
REFINEMENTS = 3
RANSAC_SEED = 20261
PROFILE_STEP_MM = 0.25
#: A joined end's own metal is read on a disc of this fraction of the segment's radius ...
OWN_DISC_FRACTION = 0.9
#: ... where at least this many of its 21 points lie outside the touching segments' cylinders ...
OWN_MIN_SAMPLES = 8
#: ... up to this far beyond the junction, mm.
OWN_SEARCH_MM = 12.0
#: A bent rod's path is fitted to the metal within this distance beyond the rod's radius (the stops' error plus half
#: a voxel's diagonal), and its vertices move at most this far from their stops along each axis, mm.
SPAN_MM = 5.0
#: A vertex of a rod's path is held to its screw's axis as strongly as this many voxels of metal pull on it.
AXIS_PRIOR_VOXELS = 10.0


@dataclass(frozen=True)
class MetalSegment:
    """One straight piece of metal (ends in the CT's LPS mm) before it is given a kind, level and side.

    Attributes
    ----------
    start_mm, end_mm : numpy.ndarray
        Its two ends (in no particular order), LPS mm.
    diameter_mm : float
        Diameter at half maximum of the radial profile of its middle half.
    metal_voxels : int
        Metal voxels explained by this segment.
    axis_rms_mm : float
        Weighted RMS distance of those voxels from the axis.
    group : int
        Connected metal group it belongs to (segments of one group touch).
    joined : tuple of bool
        Whether ``start_mm`` / ``end_mm`` is cut at a junction with another segment (else a free end).
    bulky : bool
        A whole metal group deeper than ``BULKY_DEPTH_MM`` (joint prosthesis, cage, cement): not split, never a
        screw, rod or cross-link.
    own_ends_mm : tuple
        At a joined end, where the segment's own metal ends along its axis (its cross-sections read outside the
        touching segments' cylinders, half maximum), else None: a screw's tip where it touches another screw.
    group_points_mm, group_weights : numpy.ndarray or None
        The metal voxel centres of its whole group (LPS mm, shared by the group's segments) and their weights (HU
        above the threshold): what :func:`fit_path` fits a bent rod to.
    """

    start_mm: np.ndarray
    end_mm: np.ndarray
    diameter_mm: float
    metal_voxels: int
    axis_rms_mm: float
    group: int = 0
    joined: tuple[bool, bool] = (False, False)
    bulky: bool = False
    own_ends_mm: tuple = (None, None)
    group_points_mm: np.ndarray | None = field(default=None, repr=False, compare=False)
    group_weights: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.end_mm - self.start_mm))

    @property
    def direction(self) -> np.ndarray:
        return (self.end_mm - self.start_mm) / max(self.length_mm, 1e-9)

    def moved(self, transform) -> "MetalSegment":
        """The same segment with its ends mapped by ``transform`` (LPS mm -> LPS mm), e.g. onto a pre-operative CT."""
        own = tuple(None if p is None else np.asarray(transform(p)) for p in self.own_ends_mm)
        points = None if self.group_points_mm is None else np.asarray(transform(self.group_points_mm))
        return replace(self, start_mm=np.asarray(transform(self.start_mm)), end_mm=np.asarray(transform(self.end_mm)),
                       own_ends_mm=own, group_points_mm=points)


@dataclass(frozen=True)
class _Line:
    centre: np.ndarray
    axis: np.ndarray
    t_min: float
    t_max: float
    members: np.ndarray  # indices of the group's points explained by this line


def find_metal_segments(ct: Volume, *, metal_hu: float = METAL_HU) -> list[MetalSegment]:
    """Every straight piece of metal of a CT (screws, rods, cross-links), with its ends and diameter.

    Parameters
    ----------
    ct : Volume
        The CT in HU.
    metal_hu : float
        Metal threshold, HU.
    """
    metal = ct.array > metal_hu
    groups, _ = ndimage.label(metal, structure=np.ones((3, 3, 3), bool))
    tolerance = max(INLIER_MM, 0.5 * float(np.linalg.norm(ct.spacing_mm)) + 1.5)
    gap = 1.5 * float(max(ct.spacing_mm))
    segments = []
    for index, box in enumerate(ndimage.find_objects(groups), start=1):
        if box is None:
            continue
        ijk = np.argwhere(groups[box] == index) + [b.start for b in box]
        if len(ijk) < MIN_VOXELS:
            continue
        points = ct.index_to_mm(ijk)
        weights = np.clip(ct.array[tuple(ijk.T)] - metal_hu, 1.0, None)
        depth = float(ndimage.distance_transform_edt(np.pad(groups[box] == index, 1), sampling=ct.spacing_mm).max())
        if depth > BULKY_DEPTH_MM:
            segments.append(_bulky(points, weights, depth, index))
            continue
        minimum = max(MIN_VOXELS, int(math.ceil(MIN_VOLUME_MM3 / float(np.prod(ct.spacing_mm)))))
        lines = _split_lines(points, weights, tolerance, gap, minimum)
        joints = _junctions(points, weights, lines, tolerance)
        mine = [_segment(ct, points, weights, line, joints[k], index) for k, line in enumerate(lines)]
        for segment, partners in mine:
            own = tuple(_own_end(ct, segment, end, [mine[j][0] for j in partners[end]], metal_hu)
                        if segment.joined[end] else None for end in (0, 1))
            segments.append(replace(segment, own_ends_mm=own, group_points_mm=points, group_weights=weights))
    return segments


def _bulky(points: np.ndarray, weights: np.ndarray, depth_mm: float, group: int) -> MetalSegment:
    """A thick metal group as one piece: its principal axis from end to end, twice its depth as its diameter."""
    centre, axis = _principal_axis(points, weights)
    v = points - centre
    t = v @ axis
    rms = float(np.sqrt(np.average(np.sum((v - np.outer(t, axis)) ** 2, axis=1), weights=weights)))
    return MetalSegment(centre + t.min() * axis, centre + t.max() * axis, 2 * depth_mm, len(points), rms, group,
                        bulky=True)


def _split_lines(points: np.ndarray, weights: np.ndarray, tolerance: float, gap: float, minimum: int) -> list[_Line]:
    """Sequential RANSAC: straight runs of metal voxels, each refined by its weighted principal axis."""
    from skimage.measure import LineModelND, ransac

    rng = np.random.default_rng(RANSAC_SEED)
    free = np.ones(len(points), bool)
    lines = []
    while free.sum() >= minimum:
        candidates = points[free]
        if len(candidates) > RANSAC_POINTS:
            candidates = candidates[rng.choice(len(candidates), RANSAC_POINTS, replace=False)]
        if len(candidates) >= 2:
            # the line is chosen by the metal's core (a straight line through the wide heads of a bent rod
            # gathers many voxels within ``tolerance`` but few near its axis), then takes every voxel near it
            model, _ = ransac(candidates, LineModelND, min_samples=2, residual_threshold=CORE_FRACTION * tolerance,
                              max_trials=RANSAC_TRIALS, rng=rng)
        else:
            model = None
        if model is None:
            break
        # scikit-image >= 0.26 names the line's origin and direction; older versions hold them in params
        origin, direction = (model.origin, model.direction) if hasattr(model, "origin") else model.params
        centre, axis = np.asarray(origin, float), np.asarray(direction, float)
        members = np.zeros(len(points), bool)
        for _ in range(4):
            run = _run(points, centre, axis, tolerance, gap, free)
            members = run & free
            if members.sum() < 2:
                break
            centre, axis = _principal_axis(points[members], weights[members])
        for _ in range(3):
            # a bent piece (a rod bent at a screw head) keeps its straighter half; the rest is found next
            straighter = _straighter_half(points, weights, members, centre, axis)
            if straighter is None:
                break
            centre, axis = straighter
            for _ in range(2):
                members = _run(points, centre, axis, tolerance, gap, free) & free
                if members.sum() < 2:
                    break
                centre, axis = _principal_axis(points[members], weights[members])
        if members.sum() < minimum:
            break
        t = (points[members] - centre) @ axis
        if t.max() - t.min() < MIN_SEGMENT_MM:
            break
        lines.append(_Line(centre, axis, float(t.min()), float(t.max()), np.flatnonzero(members)))
        free &= ~members
    for _ in range(REFINEMENTS):
        lines = _reassign(points, weights, _absorb(points, lines, tolerance), tolerance, gap)
    return lines


def _absorb(points: np.ndarray, lines: list[_Line], tolerance: float) -> list[_Line]:
    """Lines without a piece of their own: a smaller line alongside a bigger one (parallel within ``PARALLEL_DEG``,
    its voxels within ``tolerance`` of the bigger one's axis and within its length) is dropped; its voxels
    go to the nearest line in the next round (the shell of a thick screw, a tulip around a screw's head)."""
    order = sorted(range(len(lines)), key=lambda k: -len(lines[k].members))
    kept = []
    for k in order:
        line = lines[k]
        inside = False
        for big in kept:
            if _angle_deg(big.axis, line.axis) >= PARALLEL_DEG:
                continue
            v = points[line.members] - big.centre
            t = v @ big.axis
            radial = np.linalg.norm(v - np.outer(t, big.axis), axis=1)
            if np.median(radial) <= tolerance and np.mean((t >= big.t_min - tolerance) & (t <= big.t_max + tolerance)) > 0.8:
                inside = True
                break
        if not inside:
            kept.append(line)
    return [line for line in lines if any(line is k for k in kept)]


def _reassign(points: np.ndarray, weights: np.ndarray, lines: list[_Line], tolerance: float, gap: float) -> list[_Line]:
    """Each voxel to its nearest line (within ``tolerance`` of the segment), each line refitted to its voxels.

    The greedy search gives the first line every voxel near it, the heads of the screws on a rod included;
    sharing the voxels out by distance takes that pull off the axes.
    """
    if len(lines) < 2:
        return lines
    distance = np.full((len(lines), len(points)), np.inf)
    for k, line in enumerate(lines):
        v = points - line.centre
        t = np.clip(v @ line.axis, line.t_min - tolerance, line.t_max + tolerance)
        distance[k] = np.linalg.norm(v - np.outer(t, line.axis), axis=1)
    nearest = np.argmin(distance, axis=0)
    refitted = []
    for k, line in enumerate(lines):
        members = np.flatnonzero((nearest == k) & (distance[k] <= tolerance))
        if len(members) < MIN_VOXELS:
            refitted.append(line)
            continue
        centre, axis = _principal_axis(points[members], weights[members])
        t = (points[members] - centre) @ axis
        # one stretch without a gap (bridged by the metal of lines crossing it, not of lines alongside it)
        mine = np.zeros(len(points), bool)
        mine[members] = True
        bridge = mine.copy()
        for j, other in enumerate(lines):
            if j != k and _angle_deg(other.axis, axis) > BRIDGE_ANGLE_DEG:
                bridge[(nearest == j) & (distance[j] <= tolerance)] = True
        keep = np.flatnonzero(_run(points, centre, axis, tolerance, gap, mine, bridge) & mine)
        if len(keep) < MIN_VOXELS:
            refitted.append(line)
            continue
        if len(keep) < len(members):
            centre, axis = _principal_axis(points[keep], weights[keep])
        t = (points[keep] - centre) @ axis
        refitted.append(_Line(centre, axis, float(t.min()), float(t.max()), keep))
    return refitted


def _straighter_half(points, weights, members, centre, axis):
    """The axis of the straighter half of a bent run (halves more than ``BEND_DEG`` apart), else None."""
    index = np.flatnonzero(members)
    t = (points[index] - centre) @ axis
    halves = [index[t <= np.median(t)], index[t > np.median(t)]]
    if min(len(h) for h in halves) < MIN_VOXELS:
        return None
    fits = []
    for half in halves:
        c, a = _principal_axis(points[half], weights[half])
        v = points[half] - c
        rms = float(np.sqrt(np.average(np.sum((v - np.outer(v @ a, a)) ** 2, axis=1), weights=weights[half])))
        fits.append((rms, c, a))
    if _angle_deg(fits[0][2], fits[1][2]) <= BEND_DEG:
        return None
    _, c, a = min(fits, key=lambda fit: fit[0])
    return c, a


def _principal_axis(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = np.average(points, axis=0, weights=weights)
    centred = points - centre
    cov = (centred * weights[:, None]).T @ centred / weights.sum()
    return centre, np.linalg.eigh(cov)[1][:, 2]


def _run(points, centre, axis, tolerance, gap, free, usable=None) -> np.ndarray:
    """The points within ``tolerance`` of the line in its run (no gap wider than ``gap``) holding most free points.

    Only ``usable`` points (all by default) make a run continuous.
    """
    v = points - centre
    t = v @ axis
    near = np.linalg.norm(v - np.outer(t, axis), axis=1) <= tolerance
    if usable is not None:
        near &= usable
    index = np.flatnonzero(near)
    run = np.zeros(len(points), bool)
    if not len(index):
        return run
    order = index[np.argsort(t[index])]
    breaks = np.flatnonzero(np.diff(t[order]) > gap) + 1
    pieces = np.split(order, breaks)
    best = max(pieces, key=lambda piece: int(free[piece].sum()))
    run[best] = True
    return run


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two lines (unit directions, sense ignored), degrees."""
    return math.degrees(math.acos(min(1.0, abs(float(a @ b)))))


def _junctions(points: np.ndarray, weights: np.ndarray, lines: list[_Line],
               tolerance: float) -> list[list[tuple[float, int]]]:
    """For each line, the positions along its axis where another line of the group meets it, and that line's index.

    Where two lines meet, each is refitted to its own voxels within ``LOCAL_MM`` of the meeting point (a bent rod's
    local course), and the position is the point of the line's axis nearest the other's local axis.
    """
    joints = [[] for _ in lines]
    for a in range(len(lines)):
        for b in range(a + 1, len(lines)):
            la, lb = lines[a], lines[b]
            if _angle_deg(la.axis, lb.axis) < PARALLEL_DEG:
                continue
            sa, sb = _closest(la.centre, la.axis, lb.centre, lb.axis)
            pa, pb = la.centre + sa * la.axis, lb.centre + sb * lb.axis
            inside = (la.t_min - tolerance <= sa <= la.t_max + tolerance) and (lb.t_min - tolerance <= sb <= lb.t_max + tolerance)
            if not inside or np.linalg.norm(pa - pb) > 2 * tolerance:
                continue
            meet = (pa + pb) / 2
            ca, da = _local(points, weights, la, meet)
            cb, db = _local(points, weights, lb, meet)
            if _angle_deg(da, db) >= PARALLEL_DEG:
                ta, tb = _closest(ca, da, cb, db)
                pa, pb = ca + ta * da, cb + tb * db
            joints[a].append((float((pb - la.centre) @ la.axis), b))
            joints[b].append((float((pa - lb.centre) @ lb.axis), a))
    return joints


def _closest(ca: np.ndarray, da: np.ndarray, cb: np.ndarray, db: np.ndarray) -> tuple[float, float]:
    """Parameters of the closest points of two non-parallel lines ``c + t d`` (unit ``d``)."""
    w0 = ca - cb
    d_ab = float(da @ db)
    denom = 1.0 - d_ab**2
    return ((d_ab * float(w0 @ db) - float(w0 @ da)) / denom, (float(w0 @ db) - d_ab * float(w0 @ da)) / denom)


def _local(points: np.ndarray, weights: np.ndarray, line: _Line, meet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The line refitted to its voxels within ``LOCAL_MM`` of ``meet`` (its own axis where they are too few)."""
    members = line.members[np.linalg.norm(points[line.members] - meet, axis=1) <= LOCAL_MM]
    if len(members) < MIN_VOXELS:
        return line.centre, line.axis
    centre, axis = _principal_axis(points[members], weights[members])
    spread = (points[members] - centre) @ axis
    if spread.max() - spread.min() < MIN_SEGMENT_MM:
        return line.centre, line.axis
    for _ in range(2):
        # trimmed: the voxels farthest from the axis (a screw head or set screw sitting on a rod) are left out
        v = points[members] - centre
        radial = np.linalg.norm(v - np.outer(v @ axis, axis), axis=1)
        kept = members[radial <= np.percentile(radial, LOCAL_TRIM_PERCENTILE)]
        if len(kept) < MIN_VOXELS:
            break
        centre, axis = _principal_axis(points[kept], weights[kept])
    return centre, axis


def _segment(ct: Volume, points, weights, line: _Line, joints: list[tuple[float, int]],
             group: int) -> tuple[MetalSegment, tuple]:
    """The segment of a line (joined ends cut at their junction, free ends at half maximum) and, for each end, the
    lines that meet it there.

    A junction cuts the end it is nearer to (a short piece with one junction keeps its other end free).
    """
    ends, joined, partners = [], [], []
    for direction, t_end, t_other in ((-1, line.t_min, line.t_max), (1, line.t_max, line.t_min)):
        near = [(s, j) for s, j in joints if abs(s - t_end) <= END_ZONE_MM and abs(s - t_end) < abs(s - t_other)]
        if near:
            ends.append(line.centre + float(np.mean([s for s, _ in near])) * line.axis)
            joined.append(True)
        else:
            ends.append(line.centre + _free_end(ct, line, direction) * line.axis)
            joined.append(False)
        partners.append(tuple(sorted({j for _, j in near})))
    members = line.members
    v = points[members] - line.centre
    t = v @ line.axis
    radial = np.linalg.norm(v - np.outer(t, line.axis), axis=1)
    rms = float(np.sqrt(np.average(radial**2, weights=weights[members])))
    return (MetalSegment(ends[0], ends[1], _diameter(ct, ends[0], ends[1]), int(len(members)), rms, group,
                         tuple(joined)), tuple(partners))


def _own_end(ct: Volume, segment: MetalSegment, end: int, others: list[MetalSegment],
             metal_hu: float) -> np.ndarray | None:
    """Where a segment's own metal ends along its axis at a joined end (``end`` 0: start, 1: end), or None.

    Each cross-section of the segment (a disc of ``OWN_DISC_FRACTION`` of its radius) is read only where it lies
    outside the cylinders of the segments touching it there (their radius plus half a voxel); the end is where the
    mean of what is left falls half-way from the segment's plateau (middle half) to the tissue around it.
    """
    tip = segment.end_mm if end else segment.start_mm
    base = segment.start_mm if end else segment.end_mm
    length = segment.length_mm
    if length < MIN_SEGMENT_MM:
        return None
    axis = (tip - base) / length
    radius = segment.diameter_mm / 2
    u, w = orthonormal_pair(axis)
    offsets = [np.zeros(3)]
    for fraction, count in ((0.4, 8), (OWN_DISC_FRACTION, 12)):
        angles = 2 * np.pi * np.arange(count) / count
        offsets += list(fraction * radius * (np.outer(np.cos(angles), u) + np.outer(np.sin(angles), w)))
    offsets = np.array(offsets)
    clear = 0.5 * float(max(ct.spacing_mm))
    t = np.arange(0.25 * length, length + OWN_SEARCH_MM, PROFILE_STEP_MM)
    samples = base + t[:, None, None] * axis + offsets[None]
    outside = np.ones(samples.shape[:2], bool)
    for other in others:
        outside &= _distance_to_segment(samples, other.start_mm, other.end_mm) > other.diameter_mm / 2 + clear
    values = _profile(ct, samples.reshape(-1, 3)).reshape(samples.shape[:2])
    values = np.where(outside, values, np.nan)
    enough = np.isfinite(values).sum(axis=1) >= OWN_MIN_SAMPLES
    profile = np.full(len(t), np.nan)
    profile[enough] = np.nanmean(values[enough], axis=1)
    middle = t <= 0.75 * length
    if not np.isfinite(profile[middle]).any():
        return None
    plateau = float(np.nanmedian(profile[middle]))
    ring, _, _ = cylinder_points(base + 0.25 * length * axis, base + 0.75 * length * axis, radius + 6.0,
                                 radius_inner_mm=radius + 3.0, step_mm=1.0)
    tissue = _profile(ct, ring)
    tissue = tissue[np.isfinite(tissue) & (tissue < metal_hu)]
    if not len(tissue):
        return None
    half = (plateau + float(np.median(tissue))) / 2
    last = None
    for k in np.flatnonzero(np.isfinite(profile)):
        if profile[k] >= half:
            last = k
        elif last is not None:
            position = t[last] + (t[k] - t[last]) * (profile[last] - half) / (profile[last] - profile[k])
            return base + float(position) * axis
    return None


def _distance_to_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points (..., 3) from the segment ``a``-``b``."""
    ab = b - a
    s = np.clip((points - a) @ ab / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(points - (a + s[..., None] * ab), axis=-1)


def _profile(ct: Volume, points: np.ndarray) -> np.ndarray:
    return sample_values(ct.array, ct.affine, points, outside=np.nan)


def _free_end(ct: Volume, line: _Line, direction: int) -> float:
    """Position of a free end along the axis: where the profile falls half-way from the metal to what lies beyond."""
    margin = 3.0 * max(ct.spacing_mm)
    t = np.arange(line.t_min - margin, line.t_max + margin, PROFILE_STEP_MM)
    profile = _profile(ct, line.centre + t[:, None] * line.axis)
    span = line.t_max - line.t_min
    inner = (t > line.t_min + 0.25 * span) & (t < line.t_max - 0.25 * span)
    plateau = float(np.nanmedian(profile[inner])) if inner.any() else float(np.nanmax(profile))
    beyond = line.t_min - margin if direction < 0 else line.t_max + margin
    beyond_values = profile[np.abs(t - beyond) <= 1.0]
    outside = float(np.nanmedian(beyond_values)) if np.isfinite(beyond_values).any() else float(np.nanmin(profile))
    return _crossing(t, profile, (plateau + outside) / 2, direction, (line.t_min + line.t_max) / 2)


def _crossing(t: np.ndarray, profile: np.ndarray, half: float, direction: int, t_mid: float) -> float:
    """Position where the profile first falls below ``half`` going from ``t_mid`` in ``direction``."""
    order = np.flatnonzero(t >= t_mid) if direction > 0 else np.flatnonzero(t <= t_mid)[::-1]
    for a, b in zip(order[:-1], order[1:]):
        if profile[a] >= half > profile[b]:
            return float(t[a] + (t[b] - t[a]) * (profile[a] - half) / (profile[a] - profile[b]))
    return float(t[order[-1]])


def _diameter(ct: Volume, start: np.ndarray, end: np.ndarray) -> float:
    """Diameter where the radial profile (middle half of the segment) falls half-way from metal to bone."""
    length = float(np.linalg.norm(end - start))
    d = (end - start) / max(length, 1e-9)
    a, b = start + 0.25 * length * d, start + 0.75 * length * d
    radii = np.arange(0.0, 10.0 + PROFILE_STEP_MM / 2, PROFILE_STEP_MM)
    profile = []
    for r in radii:
        if r == 0:
            pts = a + np.linspace(0, 1, 20)[:, None] * (b - a)
        else:
            pts, _, _ = cylinder_points(a, b, r + PROFILE_STEP_MM / 2, radius_inner_mm=max(0.0, r - PROFILE_STEP_MM / 2), step_mm=0.5)
        profile.append(float(np.nanmean(_profile(ct, pts))) if len(pts) else np.nan)
    profile = np.array(profile)
    return 2 * _crossing(radii, profile, (profile[0] + profile[-1]) / 2, 1, 0.0)


def fit_path(points_mm: np.ndarray, weights: np.ndarray, stops_mm: list[np.ndarray], axes: list[np.ndarray | None],
             radius_mm: float, clear: list[tuple[np.ndarray, np.ndarray, float]]) -> list[np.ndarray]:
    """The vertices of a bent rod's path through its stops (screw heads, free ends), fitted to the rod's metal.

    Each vertex at a head moves from its stop (a free end, ``axes[k]`` None, stays where it is) to minimise the
    weighted squared distance (:func:`scipy.optimize.least_squares`) from the path of the metal voxels within
    ``radius_mm + SPAN_MM`` of it, plus ``AXIS_PRIOR_VOXELS`` times the squared distance of the vertex from the
    screw's axis (``axes[k]``: a rod seats in the head across the screw's axis; on a coarse grid, where a span holds
    few voxels between two tulips, this keeps the vertex on the axis). The voxels are those outside every ``clear``
    cylinder (``(start_mm, end_mm, radius_mm)``: the screws with their tulips and set screws,
    the cross-links): the whole free length of each span sets its course, not its short stretch between two tulips.
    """
    from scipy.optimize import least_squares

    keep = np.ones(len(points_mm), bool)
    for start, end, radius in clear:
        keep &= _distance_to_segment(points_mm, np.asarray(start), np.asarray(end)) > radius
    stops = [np.asarray(p, float) for p in stops_mm]
    pts, wts = points_mm[keep], weights[keep]
    near = np.zeros(len(pts), bool)
    for a, b in zip(stops[:-1], stops[1:]):
        # beside the span, not beyond its stops (metal past a rod's last head would drag that vertex along the rod)
        along = (pts - a) @ (b - a) / max(float((b - a) @ (b - a)), 1e-9)
        near |= (along >= 0) & (along <= 1) & (_distance_to_segment(pts, a, b) <= radius_mm + SPAN_MM)
    pts, root_w = pts[near], np.sqrt(wts[near] / max(float(wts[near].mean()), 1e-9)) if near.any() else wts[near]
    moving = [k for k, axis in enumerate(axes) if axis is not None]
    if len(pts) < MIN_VOXELS * len(moving) or not moving:
        return stops

    prior = math.sqrt(AXIS_PRIOR_VOXELS)

    def vertices(shifts: np.ndarray) -> list[np.ndarray]:
        out = list(stops)
        for k, shift in zip(moving, shifts.reshape(-1, 3)):
            out[k] = stops[k] + shift
        return out

    def residuals(shifts: np.ndarray) -> np.ndarray:
        path = vertices(shifts)
        distance = np.min([_distance_to_segment(pts, a, b) for a, b in zip(path[:-1], path[1:])], axis=0)
        off_axis = [shift - (shift @ axes[k]) * axes[k] for k, shift in zip(moving, shifts.reshape(-1, 3))]
        return np.concatenate([root_w * distance, prior * np.ravel(off_axis)])

    fit = least_squares(residuals, np.zeros(3 * len(moving)), bounds=(-SPAN_MM, SPAN_MM))
    return vertices(fit.x)
