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
holds no screw is reported as other metal, and so is a thick metal group (joint prosthesis, cage, cement).
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
from spinebq.measure.ct.implants.metal import MetalSegment, find_metal_segments
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
METHOD = ("metal > threshold split into straight segments (sequential RANSAC lines, weighted principal axes); "
          "joined ends at the junction of the axes, free ends and diameter at half maximum; kind by direction in "
          "the vertebra's frame (rod: within 45 degrees of its long axis, cross-link: within 30 degrees of left-right)")


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
                "tip": "joined (touching metal; cut where the axes meet)" if self.tip_joined else "free (half maximum)",
                "method": METHOD}


@dataclass(frozen=True)
class FoundRod:
    """A rod or cross-link: a straight piece of metal along the spine or across it, and the screws on it.

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
    """

    kind: str
    start_mm: np.ndarray
    end_mm: np.ndarray
    diameter_mm: float
    metal_voxels: int
    screws: tuple[str, ...] = ()

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.end_mm - self.start_mm))

    def to_dict(self) -> dict:
        return {"start_mm": np.round(self.start_mm, 2).tolist(), "end_mm": np.round(self.end_mm, 2).tolist(),
                "length_mm": round(self.length_mm, 1), "diameter_mm": round(self.diameter_mm, 2),
                "metal_voxels": self.metal_voxels, "screws": list(self.screws)}


@dataclass(frozen=True)
class ImplantFindings:
    """Everything metal found in a CT: screws (with level and side), rods, cross-links and other metal."""

    screws: tuple[FoundScrew, ...] = ()
    rods: tuple[FoundRod, ...] = ()
    cross_links: tuple[FoundRod, ...] = ()
    other: tuple[MetalSegment, ...] = ()

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
                "other_metal": [{"start_mm": np.round(s.start_mm, 2).tolist(), "end_mm": np.round(s.end_mm, 2).tolist(),
                                 "length_mm": round(s.length_mm, 1), "diameter_mm": round(s.diameter_mm, 2),
                                 "metal_voxels": s.metal_voxels, "thick": s.bulky} for s in self.other]}


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
    screws, rods, links, other = [], [], [], []
    for segment in segments:
        votes = _level_votes(labels.array, labels, segment.start_mm, segment.end_mm, segment.diameter_mm)
        level = max(votes, key=votes.get) if votes else None
        frame = frames.get(level) if level else None
        superior = frame.superior if frame is not None else np.array([0.0, 0.0, 1.0])
        left = frame.left if frame is not None else np.array([1.0, 0.0, 0.0])
        d = segment.direction
        if segment.bulky:
            other.append(segment)
        elif _angle_deg(d, superior) <= ROD_ANGLE_DEG:
            rods.append((segment, superior))
        elif _angle_deg(d, left) <= CROSS_LINK_ANGLE_DEG:
            links.append((segment, left))
        elif frame is not None and MIN_LENGTH_MM <= segment.length_mm <= MAX_LENGTH_MM:
            screws.append(_screw(segment, level, frame, votes, note))
        else:
            other.append(segment)
    # a rod or cross-link holds screws (itself or through the rods it joins); other straight metal is only reported
    found_rods = [_rod("rod", s, axis, screws) for s, axis in rods]
    found_links = [_cross_link(s, -axis, found_rods, screws) for s, axis in links]
    other += [s for (s, _), rod in zip(rods + links, found_rods + found_links) if not rod.screws]
    return ImplantFindings(tuple(screws), tuple(r for r in found_rods if r.screws),
                           tuple(r for r in found_links if r.screws), tuple(other))


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
    side = (Side.LEFT if ((start + end) / 2 - frame.centre_mm) @ frame.left > 0 else Side.RIGHT).value
    if (start - frame.centre_mm) @ frame.posterior < (end - frame.centre_mm) @ frame.posterior:
        start, end = end, start
        head_joined, tip_joined = tip_joined, head_joined
    screw = Screw(level, side, start, end, round(segment.diameter_mm, 2), "from_screws",
                  [f"metal screw found in the CT ({segment.metal_voxels} metal voxels){note}"])
    return FoundScrew(screw, segment.metal_voxels, segment.axis_rms_mm, votes, head_joined, tip_joined)


def _rod(kind: str, segment: MetalSegment, axis: np.ndarray, screws: list[FoundScrew]) -> FoundRod:
    """A rod (cranial end first) or cross-link (right end first, ``axis`` pointing right) and the screws on it."""
    start, end = segment.start_mm, segment.end_mm
    if (end - start) @ axis > 0:
        start, end = end, start
    on_it = [f.screw for f in screws
             if _distance_to_segment(f.screw.entry_mm, start, end) <= segment.diameter_mm / 2 + HEAD_ON_ROD_MM]
    names = [f"{s.level} {s.side}" for s in sorted(on_it, key=lambda s: (VERSE_IDS.get(s.level, 0), s.side))]
    return FoundRod(kind, start, end, segment.diameter_mm, segment.metal_voxels, tuple(names))


def _cross_link(segment: MetalSegment, right: np.ndarray, rods: tuple[FoundRod, ...], screws: list[FoundScrew]) -> FoundRod:
    """A cross-link (right end first) naming the screws whose heads sit on it and those of the rods it joins."""
    link = _rod("cross_link", segment, right, screws)
    start, end = link.start_mm, link.end_mm
    joined = list(link.screws) + [name for rod in rods for name in rod.screws
              if min(_distance_to_segment(start, rod.start_mm, rod.end_mm),
                     _distance_to_segment(end, rod.start_mm, rod.end_mm)) <= rod.diameter_mm / 2 + HEAD_ON_ROD_MM]
    return FoundRod("cross_link", start, end, segment.diameter_mm, segment.metal_voxels, tuple(dict.fromkeys(joined)))


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
