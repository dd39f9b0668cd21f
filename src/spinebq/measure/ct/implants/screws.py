"""Metal screws in a post-operative CT: found, their axes fitted, assigned to level and side.

Every connected group of voxels above the metal threshold that is long and thin is a screw. Its axis
is the principal axis of its voxels weighted by how far each is above the threshold (partial volume
pulls the line to the screw's centre). Its two ends are where the CT profile along the axis falls
half-way from the metal plateau to the bone beyond (sub-voxel, as an edge is found at half maximum);
the end nearer the back of its vertebra is the entry. Its diameter is where the radial profile falls
half-way. The vertebra is the label met most often around the axis; the side is the side of the
vertebra's own midsagittal plane the screw's middle lies on.

Metal and its bloom (``bloom_mm`` around every metal voxel) are left out of every ROI measured
around a found screw. Rods joined to the screw heads make one metal group too long or too thick to be
a screw; such groups are reported and skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_NAMES
from spinebq.constants import METAL_HU
from spinebq.io.volume import Volume
from spinebq.measure.ct.frame import VertebraFrame
from spinebq.measure.ct.sampling import cylinder_points, sample_values
from spinebq.measure.ct.trajectory import Screw
from spinebq.vocabulary import Side

#: A screw is at least this long and at most this long, mm.
MIN_LENGTH_MM = 15.0
MAX_LENGTH_MM = 80.0
#: Length over thickness (principal axes) of a screw at least this.
MIN_ELONGATION = 2.5
PROFILE_STEP_MM = 0.25


@dataclass
class FoundScrew:
    """One metal screw found in the CT."""

    screw: Screw
    metal_voxels: int
    axis_rms_mm: float
    level_votes: dict = field(default_factory=dict)

    def details(self) -> dict:
        return {"metal_voxels": self.metal_voxels, "axis_rms_mm": round(self.axis_rms_mm, 2),
                "level_votes": self.level_votes,
                "method": "metal > threshold, weighted principal axis, ends and diameter at half maximum"}


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


@dataclass
class MetalScrew:
    """A screw-shaped piece of metal before it is assigned to a vertebra (ends in the CT's LPS mm)."""

    start_mm: np.ndarray
    end_mm: np.ndarray
    diameter_mm: float
    metal_voxels: int
    axis_rms_mm: float

    def moved(self, transform) -> "MetalScrew":
        """The same screw with its ends mapped by ``transform`` (LPS mm -> LPS mm), e.g. onto a pre-operative CT."""
        return MetalScrew(np.asarray(transform(self.start_mm)), np.asarray(transform(self.end_mm)), self.diameter_mm,
                          self.metal_voxels, self.axis_rms_mm)


def find_metal_screws(ct: Volume, *, metal_hu: float = METAL_HU) -> list[MetalScrew]:
    """Every long, thin group of metal voxels of a CT, with its axis, ends and diameter."""
    metal = ct.array > metal_hu
    groups, _ = ndimage.label(metal, structure=np.ones((3, 3, 3), bool))
    found = []
    for index, box in enumerate(ndimage.find_objects(groups), start=1):
        if box is None:
            continue
        ijk = np.argwhere(groups[box] == index) + [b.start for b in box]
        if len(ijk) < 3:
            continue
        points = ct.index_to_mm(ijk)
        weights = np.clip(ct.array[tuple(ijk.T)] - metal_hu, 1.0, None)
        centre = np.average(points, axis=0, weights=weights)
        centred = points - centre
        cov = (centred * weights[:, None]).T @ centred / weights.sum()
        values, vectors = np.linalg.eigh(cov)
        axis = vectors[:, 2]
        along = centred @ axis
        extent = float(along.max() - along.min())
        elongation = math.sqrt(values[2] / max(values[1], 1e-6))
        if extent < MIN_LENGTH_MM - 2 * max(ct.spacing_mm) or extent > MAX_LENGTH_MM or elongation < MIN_ELONGATION:
            continue
        start, end = _ends(ct, centre, axis, float(along.min()), float(along.max()))
        radial = np.linalg.norm(centred - np.outer(along, axis), axis=1)
        rms = float(np.sqrt(np.average(radial**2, weights=weights)))
        found.append(MetalScrew(start, end, _diameter(ct, start, end), int(len(ijk)), rms))
    return found


def assign_screws(metal_screws: list[MetalScrew], labels: Volume, frames: dict[str, VertebraFrame], *,
                  note: str = "") -> list[FoundScrew]:
    """Give each metal screw its vertebra (label met most often around it), side and entry end.

    The screws' coordinates must be in the space of ``labels``; the entry is the end nearer the back
    of the vertebra, the side the side of its own midsagittal plane the screw's middle lies on.
    """
    found = []
    for metal in metal_screws:
        votes = _level_votes(labels.array, labels, metal.start_mm, metal.end_mm, metal.diameter_mm)
        if not votes:
            continue
        level = max(votes, key=votes.get)
        frame = frames.get(level)
        if frame is None:
            continue
        start, end = metal.start_mm, metal.end_mm
        side = (Side.LEFT if ((start + end) / 2 - frame.centre_mm) @ frame.left > 0 else Side.RIGHT).value
        if (start - frame.centre_mm) @ frame.posterior < (end - frame.centre_mm) @ frame.posterior:
            start, end = end, start
        screw = Screw(level, side, start, end, round(metal.diameter_mm, 2), "from_screws",
                      [f"metal screw found in the CT ({metal.metal_voxels} metal voxels){note}"])
        found.append(FoundScrew(screw, metal.metal_voxels, metal.axis_rms_mm, votes))
    return found


def find_screws(ct: Volume, labels: Volume, frames: dict[str, VertebraFrame], *, metal_hu: float = METAL_HU) -> list[FoundScrew]:
    """Find the metal screws of a post-operative CT and assign them to level and side (labels on the CT's grid).

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
    return assign_screws(find_metal_screws(ct, metal_hu=metal_hu), labels, frames)


def _profile(ct: Volume, points: np.ndarray) -> np.ndarray:
    return sample_values(ct.array, ct.affine, points, outside=np.nan)


def _ends(ct: Volume, centre: np.ndarray, axis: np.ndarray, t_min: float, t_max: float) -> tuple[np.ndarray, np.ndarray]:
    """The two ends of a screw along its axis, each where the profile falls half-way from metal to bone."""
    margin = 3.0 * max(ct.spacing_mm)
    t = np.arange(t_min - margin, t_max + margin, PROFILE_STEP_MM)
    profile = _profile(ct, centre + t[:, None] * axis)
    inner = (t > t_min + 0.25 * (t_max - t_min)) & (t < t_max - 0.25 * (t_max - t_min))
    plateau = float(np.nanmedian(profile[inner])) if inner.any() else float(np.nanmax(profile))
    ends = []
    for direction in (-1, 1):
        beyond = t_min - margin if direction < 0 else t_max + margin
        outside = float(np.nanmedian(profile[np.abs(t - beyond) <= 1.0]))
        half = (plateau + outside) / 2
        ends.append(centre + _crossing(t, profile, half, direction, (t_min + t_max) / 2) * axis)
    return ends[0], ends[1]


def _crossing(t: np.ndarray, profile: np.ndarray, half: float, direction: int, t_mid: float) -> float:
    """Position where the profile first falls below ``half`` going from ``t_mid`` in ``direction``."""
    order = np.flatnonzero(t >= t_mid) if direction > 0 else np.flatnonzero(t <= t_mid)[::-1]
    for a, b in zip(order[:-1], order[1:]):
        if profile[a] >= half > profile[b]:
            return float(t[a] + (t[b] - t[a]) * (profile[a] - half) / (profile[a] - profile[b]))
    return float(t[order[-1]])


def _diameter(ct: Volume, start: np.ndarray, end: np.ndarray) -> float:
    """Diameter where the radial profile (middle half of the screw) falls half-way from metal to bone."""
    length = float(np.linalg.norm(end - start))
    d = (end - start) / length
    a, b = start + 0.25 * length * d, start + 0.75 * length * d
    radii = np.arange(0.0, 10.0 + PROFILE_STEP_MM / 2, PROFILE_STEP_MM)
    profile = []
    for r in radii:
        if r == 0:
            t = np.linspace(0, 1, 20)
            pts = a + t[:, None] * (b - a)
        else:
            pts, _, rr = cylinder_points(a, b, r + PROFILE_STEP_MM / 2, radius_inner_mm=max(0.0, r - PROFILE_STEP_MM / 2), step_mm=0.5)
        profile.append(float(np.nanmean(_profile(ct, pts))) if len(pts) else np.nan)
    profile = np.array(profile)
    half = (profile[0] + profile[-1]) / 2
    return 2 * _crossing(radii, profile, half, 1, 0.0)


def _level_votes(label_array: np.ndarray, grid: Volume, start: np.ndarray, end: np.ndarray, diameter: float) -> dict:
    """How often each vertebra label occurs within 3 mm around the screw."""
    points, _, _ = cylinder_points(start, end, diameter / 2 + 3.0, step_mm=1.0)
    ids = sample_values(label_array, grid.affine, points, order=0, outside=0).astype(int)
    counts = np.bincount(ids[ids > 0])
    return {VERSE_NAMES[i]: int(c) for i, c in enumerate(counts) if c and i in VERSE_NAMES}
