"""Metal of a post-operative CT sorted into screws, rods and cross-links; each screw given its level and side.

The metal is split into straight segments (:mod:`spinebq.measure.ct.implants.metal`: sequential RANSAC on
the metal voxels, junctions between touching pieces, free ends and diameter at half maximum). Each
segment is read in the frame of the vertebra whose labels lie most around it (the image's axes where no
vertebra is near):

- within ``ROD_ANGLE_DEG`` of the vertebra's long axis: a **rod**;
- within ``CROSS_LINK_ANGLE_DEG`` of its left-right axis: a **cross-link**;
- otherwise, ``MIN_LENGTH_MM`` to ``MAX_LENGTH_MM`` long and on a vertebra: a **screw**. Its level is the label
  met most often around its axis, its side the side of the vertebra's own midsagittal plane its middle lies
  on, its entry the end nearer the back of the vertebra (a head joined to a rod: where the screw's axis
  meets the rod's). Anything else is reported as other metal.

A rod or cross-link names the screws whose heads sit on it (head within ``HEAD_ON_ROD_MM`` of its axis); one that
holds no screw is reported as other metal, and so is a thick metal group (joint prosthesis, cage, cement). Straight
rod pieces that share a head are one rod, reported as a path through its heads: each span between two heads is
fitted to its own metal (:func:`~spinebq.measure.ct.implants.metal.fit_path`, the screws with their tulips and the
cross-links left out), each vertex is where the screw's axis meets the rod's local course, and the rod's bend at a
head is the angle between the spans on either side. Metal within ``TULIP_CLEAR_MM`` of a screw's axis around its head
that is no rod joining two heads is that screw's tulip or, behind the rod, its set screw.
Metal and its bloom (``bloom_mm`` around every metal voxel) are left out of every ROI measured around a
found screw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS, VERSE_NAMES
from spinebq.constants import METAL_HU
from spinebq.image.volume import Volume
from spinebq.measure.ct.frame import VertebraFrame
from spinebq.measure.ct.implants.metal import MetalSegment, find_metal_segments, fit_path
from spinebq.measure.ct.sampling import cylinder_points, sample_values
from spinebq.measure.ct.trajectory import Screw
from spinebq.vocabulary import Side

#: A screw is at least this long and at most this long, mm.
MIN_LENGTH_MM = 15.0
MAX_LENGTH_MM = 80.0
#: A segment this close in angle to the vertebra's long axis is a rod, degrees.
ROD_ANGLE_DEG = 45.0
#: A segment this close in angle to the vertebra's left-right axis is a cross-link, degrees.
CROSS_LINK_ANGLE_DEG = 30.0
#: A screw's head within this distance of a rod's axis (beyond the rod's radius) sits on that rod, mm.
HEAD_ON_ROD_MM = 5.0
#: Metal within this distance of a screw's axis, from its tip to ``HEAD_REACH_MM`` behind its head, is the screw and
#: its head (tulip, set screw), not rod (tulips are 10-13 mm wide), mm.
TULIP_CLEAR_MM = 8.0
HEAD_REACH_MM = 15.0
#: Head metal whose middle lies more than this behind the head (the rod's centre line; a 5.5-6.35 mm rod's top is
#: about 3 mm behind it) is the set screw, else the tulip, mm.
SET_SCREW_BEHIND_MM = 4.0
#: A rod's end this far beyond its last head is a vertex of its path, mm.
ROD_END_MM = 5.0
#: A rod's path is fitted outside this margin around a cross-link's radius, mm.
CROSS_LINK_CLEAR_MM = 1.0
METHOD = ("metal > threshold split into straight segments (sequential RANSAC lines, weighted principal axes); "
          "joined ends at the junction of the axes (a tip touching another screw: where its own metal ends along its "
          "axis), free ends and diameter at half maximum; kind by direction in the vertebra's frame (rod: within 45 "
          "degrees of its long axis, cross-link: within 30 degrees of left-right); pieces sharing a head one rod, its "
          "path through the heads fitted to its metal (tulips and cross-links left out), bends between its spans")


@dataclass
class FoundScrew:
    """One metal screw found in the CT: the screw, how much metal it holds and how its ends were found."""

    screw: Screw
    metal_voxels: int
    axis_rms_mm: float
    level_votes: dict = field(default_factory=dict)
    head_joined: bool = False
    tip_joined: bool = False

    def details(self) -> dict:
        return {"metal_voxels": self.metal_voxels, "axis_rms_mm": round(self.axis_rms_mm, 2),
                "level_votes": self.level_votes,
                "head": "joined (rod or other metal; cut where the axes meet)" if self.head_joined else "free (half maximum)",
                "tip": ("joined (touching metal; its own metal's end along its axis, outside the touching metal)"
                        if self.tip_joined else "free (half maximum)"),
                "method": METHOD}


@dataclass(frozen=True)
class FoundRod:
    """A rod or cross-link: metal along the spine or across it, and the screws on it.

    Attributes
    ----------
    kind : str
        ``"rod"`` or ``"cross_link"``.
    start_mm, end_mm : numpy.ndarray
        Its ends, LPS mm (rods: cranial end first; cross-links: right end first).
    diameter_mm : float
    metal_voxels : int
    screws : tuple of str
        The screws whose heads sit on it (``"L4 left"``); a cross-link adds the screws of the rods it joins.
    path_mm : tuple of numpy.ndarray
        A rod's path from ``start_mm`` to ``end_mm`` through its heads (a free end beyond the last head included);
        a cross-link's two ends.
    bends : tuple of (str, float)
        The screw at each inner vertex of the path and the rod's bend there (angle between its spans), degrees.
    """

    kind: str
    start_mm: np.ndarray
    end_mm: np.ndarray
    diameter_mm: float
    metal_voxels: int
    screws: tuple[str, ...] = ()
    path_mm: tuple[np.ndarray, ...] = ()
    bends: tuple[tuple[str, float], ...] = ()

    @property
    def length_mm(self) -> float:
        """Length along its path, mm."""
        path = np.array(self.path_mm) if len(self.path_mm) >= 2 else np.array([self.start_mm, self.end_mm])
        return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())

    def to_dict(self) -> dict:
        return {"start_mm": np.round(self.start_mm, 2).tolist(), "end_mm": np.round(self.end_mm, 2).tolist(),
                "length_mm": round(self.length_mm, 1), "diameter_mm": round(self.diameter_mm, 2),
                "metal_voxels": self.metal_voxels, "screws": list(self.screws),
                "path_mm": [np.round(p, 2).tolist() for p in self.path_mm],
                "bends": [{"screw": name, "angle_deg": round(angle, 1)} for name, angle in self.bends]}


@dataclass(frozen=True)
class OtherMetal:
    """Metal that is no screw, rod or cross-link, and what it is where that is known.

    Attributes
    ----------
    segment : MetalSegment
    kind : str
        ``"tulip"`` or ``"set_screw"`` (head metal of ``screw``: within ``TULIP_CLEAR_MM`` of its axis around its
        head; a set screw's middle more than ``SET_SCREW_BEHIND_MM`` behind the head), ``"rod_end"`` (a rod's end
        beyond its last head ``screw``, at most ``HEAD_REACH_MM`` long), ``"thick"`` (a metal group
        deeper than :data:`~spinebq.measure.ct.implants.metal.BULKY_DEPTH_MM`: joint prosthesis, cage, cement) or
        ``"unknown"``.
    screw : str or None
        The screw whose head it belongs to (``"L4 left"``).
    """

    segment: MetalSegment
    kind: str = "unknown"
    screw: str | None = None

    def to_dict(self) -> dict:
        s = self.segment
        return {"start_mm": np.round(s.start_mm, 2).tolist(), "end_mm": np.round(s.end_mm, 2).tolist(),
                "length_mm": round(s.length_mm, 1), "diameter_mm": round(s.diameter_mm, 2),
                "metal_voxels": s.metal_voxels, "thick": s.bulky, "kind": self.kind, "screw": self.screw}


@dataclass(frozen=True)
class ImplantFindings:
    """Everything metal found in a CT: screws (with level and side), rods, cross-links and other metal."""

    screws: tuple[FoundScrew, ...] = ()
    rods: tuple[FoundRod, ...] = ()
    cross_links: tuple[FoundRod, ...] = ()
    other: tuple[OtherMetal, ...] = ()

    def to_dict(self) -> dict:
        """The ``summary.implants`` section of ``measurements.json``."""
        return {"method": METHOD,
                "screws": [{"level": f.screw.level, "side": f.screw.side,
                            "entry_mm": np.round(f.screw.entry_mm, 2).tolist(),
                            "target_mm": np.round(f.screw.target_mm, 2).tolist(),
                            "diameter_mm": f.screw.diameter_mm, "length_mm": round(f.screw.length_mm, 1),
                            "head_joined": f.head_joined, "tip_joined": f.tip_joined} for f in self.screws],
                "rods": [r.to_dict() for r in self.rods],
                "cross_links": [r.to_dict() for r in self.cross_links],
                "other_metal": [o.to_dict() for o in self.other]}


def metal_exclusion(ct: Volume, metal_hu: float, bloom_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Mask of the voxels within ``bloom_mm`` of metal, and its affine (read with nearest-voxel lookup).

    A metal voxel reaches up to half its diagonal beyond its centre, so the margin is counted from
    there: on a 3 mm grid a 2 mm bloom takes the metal voxels and their face and edge neighbours.
    """
    metal = ct.array > metal_hu
    if not metal.any():
        return metal, ct.affine
    distance = ndimage.distance_transform_edt(~metal, sampling=ct.spacing_mm)
    return distance <= bloom_mm + 0.5 * float(np.linalg.norm(ct.spacing_mm)), ct.affine


def assign_metal(segments: list[MetalSegment], labels: Volume, frames: dict[str, VertebraFrame], *,
                 note: str = "") -> ImplantFindings:
    """Sort metal segments into screws (with level, side and entry), rods, cross-links and other metal.

    Parameters
    ----------
    segments : list of MetalSegment
        From :func:`~spinebq.measure.ct.implants.metal.find_metal_segments`, in the space of ``labels``.
    labels : Volume
        VerSe label map.
    frames : dict
        The vertebrae's own frames (:func:`spinebq.measure.ct.pedicles.own_frame`).
    note : str
        Appended to each screw's note (e.g. how it was mapped from a post-operative CT).
    """
    screws, rods, links, loose = [], [], [], []
    for segment in segments:
        votes = _level_votes(labels.array, labels, segment.start_mm, segment.end_mm, segment.diameter_mm)
        level = max(votes, key=votes.get) if votes else None
        frame = frames.get(level) if level else None
        superior = frame.superior if frame is not None else np.array([0.0, 0.0, 1.0])
        left = frame.left if frame is not None else np.array([1.0, 0.0, 0.0])
        d = segment.direction
        if segment.bulky:
            loose.append(segment)
        elif _angle_deg(d, superior) <= ROD_ANGLE_DEG:
            rods.append((segment, superior))
        elif _angle_deg(d, left) <= CROSS_LINK_ANGLE_DEG:
            links.append((segment, left))
        elif frame is not None and MIN_LENGTH_MM <= segment.length_mm <= MAX_LENGTH_MM:
            screws.append(_screw(segment, level, frame, votes, note))
        else:
            loose.append(segment)
    found_rods, loose_pieces = _join_rods(rods, links, screws)
    # a cross-link holds screws (itself or through the rods it joins); other straight metal is only reported
    found_links = []
    for segment, left in links:
        link = _cross_link(segment, -left, found_rods, screws)
        if link.screws:
            found_links.append(link)
        else:
            loose_pieces.append(segment)
    other = [_name_other(segment, screws, found_rods) for segment in loose + loose_pieces]
    return ImplantFindings(tuple(screws), tuple(found_rods), tuple(found_links), tuple(other))


def find_implants(ct: Volume, labels: Volume, frames: dict[str, VertebraFrame], *, metal_hu: float = METAL_HU) -> ImplantFindings:
    """Find the screws, rods and cross-links of a post-operative CT (labels on the CT's grid).

    Parameters
    ----------
    ct : Volume
        The CT in HU.
    labels : Volume
        VerSe label map on the CT's grid.
    frames : dict
        The vertebrae's own frames (:func:`spinebq.measure.ct.pedicles.own_frame`).
    metal_hu : float
        Metal threshold, HU.
    """
    return assign_metal(find_metal_segments(ct, metal_hu=metal_hu), labels, frames)


def find_screws(ct: Volume, labels: Volume, frames: dict[str, VertebraFrame], *, metal_hu: float = METAL_HU) -> list[FoundScrew]:
    """The screws of :func:`find_implants`."""
    return list(find_implants(ct, labels, frames, metal_hu=metal_hu).screws)


def _angle_deg(direction: np.ndarray, axis: np.ndarray) -> float:
    """Angle between a line and an axis, ignoring their sense, degrees."""
    return math.degrees(math.acos(min(1.0, abs(float(direction @ axis)) / max(float(np.linalg.norm(axis)), 1e-9))))


def _screw(segment: MetalSegment, level: str, frame: VertebraFrame, votes: dict, note: str) -> FoundScrew:
    start, end = segment.start_mm, segment.end_mm
    head_joined, tip_joined = segment.joined
    tip_own = segment.own_ends_mm[1]
    side = (Side.LEFT if ((start + end) / 2 - frame.centre_mm) @ frame.left > 0 else Side.RIGHT).value
    if (start - frame.centre_mm) @ frame.posterior < (end - frame.centre_mm) @ frame.posterior:
        start, end = end, start
        head_joined, tip_joined = tip_joined, head_joined
        tip_own = segment.own_ends_mm[0]
    if tip_joined and tip_own is not None:
        end = tip_own  # a tip touching another screw: where its own metal ends, not where the axes cross
    screw = Screw(level, side, start, end, round(segment.diameter_mm, 2), "from_screws",
                  [f"metal screw found in the CT ({segment.metal_voxels} metal voxels){note}"])
    return FoundScrew(screw, segment.metal_voxels, segment.axis_rms_mm, votes, head_joined, tip_joined)


def _heads_on(segment: MetalSegment, screws: list[FoundScrew]) -> list[Screw]:
    """The screws whose heads sit on a straight piece of metal (within its radius plus ``HEAD_ON_ROD_MM``)."""
    return [f.screw for f in screws if _distance_to_segment(f.screw.entry_mm, segment.start_mm, segment.end_mm)
            <= segment.diameter_mm / 2 + HEAD_ON_ROD_MM]


def _names(screws: list[Screw]) -> tuple[str, ...]:
    return tuple(f"{s.level} {s.side}" for s in sorted(screws, key=lambda s: (VERSE_IDS.get(s.level, 0), s.side)))


def _join_rods(pieces: list[tuple[MetalSegment, np.ndarray]], links: list[tuple[MetalSegment, np.ndarray]],
               screws: list[FoundScrew]) -> tuple[list[FoundRod], list[MetalSegment]]:
    """Rods from the straight pieces along the spine: pieces that share a screw head are one rod; a rod joins at
    least two heads. Returns the rods and the pieces that are none (no head, or one head only)."""
    on = [_heads_on(segment, screws) for segment, _ in pieces]
    component = list(range(len(pieces)))

    def root(k: int) -> int:
        while component[k] != k:
            k = component[k]
        return k

    for a in range(len(pieces)):
        for b in range(a + 1, len(pieces)):
            if {id(s) for s in on[a]} & {id(s) for s in on[b]}:
                component[root(b)] = root(a)
    rods, loose = [], []
    for head in sorted({root(k) for k in range(len(pieces))}):
        members = [k for k in range(len(pieces)) if root(k) == head]
        heads = list({id(s): s for k in members for s in on[k]}.values())
        if len(heads) < 2:
            loose += [pieces[k][0] for k in members]
            continue
        # a one-head piece around its head is that screw's tulip or set screw; other one-head pieces are rod metal
        tulips = [k for k in members if len(on[k]) == 1 and _head_part(pieces[k][0], on[k][0]) is not None]
        loose += [pieces[k][0] for k in tulips]
        rods.append(_rod([pieces[k] for k in members if k not in tulips] or [pieces[k] for k in members], heads,
                         screws, [segment for segment, _ in links]))
    return rods, loose


def _rod(pieces: list[tuple[MetalSegment, np.ndarray]], heads: list[Screw], screws: list[FoundScrew],
         links: list[MetalSegment]) -> FoundRod:
    """A rod (cranial end first) through its heads: spans fitted to its metal, vertices where the screws' axes meet
    it, bends between the spans."""
    longest, superior = max(pieces, key=lambda piece: piece[0].length_mm)
    superior = superior / np.linalg.norm(superior)
    heads = sorted(heads, key=lambda s: -float(s.entry_mm @ superior))
    ends = [p for segment, _ in pieces for p in (segment.start_mm, segment.end_mm)]
    top = max(ends, key=lambda p: float(p @ superior))
    bottom = min(ends, key=lambda p: float(p @ superior))
    stops = [s.entry_mm for s in heads]
    names: list[str | None] = [f"{s.level} {s.side}" for s in heads]
    axes: list[np.ndarray | None] = [_unit(s.entry_mm - s.target_mm) for s in heads]
    if (top - heads[0].entry_mm) @ superior > ROD_END_MM:
        stops, names, axes = [top] + stops, [None] + names, [None] + axes
    if (heads[-1].entry_mm - bottom) @ superior > ROD_END_MM:
        stops, names, axes = stops + [bottom], names + [None], axes + [None]
    groups = {segment.group: segment for segment, _ in pieces if segment.group_points_mm is not None}
    path = stops
    if groups:
        points = np.concatenate([g.group_points_mm for g in groups.values()])
        weights = np.concatenate([g.group_weights for g in groups.values()])
        clear = [(f.screw.target_mm, f.screw.entry_mm + HEAD_REACH_MM * _unit(f.screw.entry_mm - f.screw.target_mm),
                  TULIP_CLEAR_MM) for f in screws]
        clear += [(link.start_mm, link.end_mm, link.diameter_mm / 2 + CROSS_LINK_CLEAR_MM) for link in links]
        path = fit_path(points, weights, stops, axes, longest.diameter_mm / 2, clear)
    bends = [(name, _bend_deg(path[k - 1], path[k], path[k + 1]))
             for k, name in enumerate(names) if name is not None and 0 < k < len(path) - 1]
    return FoundRod("rod", path[0], path[-1], longest.diameter_mm, sum(segment.metal_voxels for segment, _ in pieces),
                    _names(heads), tuple(path), tuple(bends))


def _bend_deg(before: np.ndarray, at: np.ndarray, after: np.ndarray) -> float:
    """Angle between the spans ``before``-``at`` and ``at``-``after``, degrees."""
    a, b = _unit(at - before), _unit(after - at)
    return math.degrees(math.acos(float(np.clip(a @ b, -1.0, 1.0))))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _cross_link(segment: MetalSegment, right: np.ndarray, rods: list[FoundRod], screws: list[FoundScrew]) -> FoundRod:
    """A cross-link (right end first) naming the screws whose heads sit on it and those of the rods it joins."""
    start, end = segment.start_mm, segment.end_mm
    if (end - start) @ right > 0:
        start, end = end, start
    joined = list(_names(_heads_on(segment, screws)))
    for rod in rods:
        path = rod.path_mm if len(rod.path_mm) >= 2 else (rod.start_mm, rod.end_mm)
        gap = min(_distance_to_segment(p, a, b) for p in (start, end) for a, b in zip(path[:-1], path[1:]))
        if gap <= rod.diameter_mm / 2 + HEAD_ON_ROD_MM:
            joined += list(rod.screws)
    return FoundRod("cross_link", start, end, segment.diameter_mm, segment.metal_voxels, tuple(dict.fromkeys(joined)),
                    (start, end))


def _head_part(segment: MetalSegment, screw: Screw) -> str | None:
    """``"tulip"`` or ``"set_screw"`` when the piece lies around the screw's head (both ends within ``TULIP_CLEAR_MM``
    of its axis, from ``TULIP_CLEAR_MM`` before the head to ``HEAD_REACH_MM`` behind it), else None."""
    back = _unit(screw.entry_mm - screw.target_mm)
    along = []
    for p in (segment.start_mm, segment.end_mm):
        v = p - screw.entry_mm
        s = float(v @ back)
        if not -TULIP_CLEAR_MM <= s <= HEAD_REACH_MM or np.linalg.norm(v - s * back) > TULIP_CLEAR_MM:
            return None
        along.append(s)
    return "set_screw" if np.mean(along) > SET_SCREW_BEHIND_MM else "tulip"


def _name_other(segment: MetalSegment, screws: list[FoundScrew], rods: list[FoundRod]) -> OtherMetal:
    """Other metal with what it is: thick metal, a screw's tulip or set screw, a rod's end beyond its last head,
    or unknown."""
    if segment.bulky:
        return OtherMetal(segment, "thick")
    middle = (segment.start_mm + segment.end_mm) / 2
    for f in sorted(screws, key=lambda f: float(np.linalg.norm(f.screw.entry_mm - middle))):
        part = _head_part(segment, f.screw)
        if part is not None:
            return OtherMetal(segment, part, f"{f.screw.level} {f.screw.side}")
    for rod in rods:
        for end, name in ((rod.start_mm, rod.screws[0]), (rod.end_mm, rod.screws[-1])):
            # an overhang: one end at the rod's end (its last head), the piece no longer than a rod end
            reach = min(np.linalg.norm(segment.start_mm - end), np.linalg.norm(segment.end_mm - end))
            if reach <= rod.diameter_mm / 2 + HEAD_ON_ROD_MM and segment.length_mm <= HEAD_REACH_MM:
                return OtherMetal(segment, "rod_end", name)
    return OtherMetal(segment)


def _distance_to_segment(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    s = float(np.clip((point - a) @ ab / max(float(ab @ ab), 1e-9), 0.0, 1.0))
    return float(np.linalg.norm(point - (a + s * ab)))


def _level_votes(label_array: np.ndarray, grid: Volume, start: np.ndarray, end: np.ndarray, diameter: float) -> dict:
    """How often each vertebra label occurs within 3 mm around the segment."""
    points, _, _ = cylinder_points(start, end, diameter / 2 + 3.0, step_mm=1.0)
    ids = sample_values(label_array, grid.affine, points, order=0, outside=0).astype(int)
    counts = np.bincount(ids[ids > 0])
    return {VERSE_NAMES[i]: int(c) for i, c in enumerate(counts) if c and i in VERSE_NAMES}
