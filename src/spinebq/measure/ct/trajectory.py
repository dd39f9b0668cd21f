"""Virtual pedicle screws: read from a surgeon's file (or planned, :mod:`spinebq.measure.ct.plans`) and measured.

A screw is a straight cylinder from an entry point to a tip (``target_mm``) with a diameter. Its bone
is measured in the cylinder (ST-HU, 3D), in a shell around it (the bone-screw interface), split into
the part inside the vertebral body and the part behind it (pedicle), and on the 2D rectangle that
Yang et al., Global Spine J 2026 [yang2026] drew on an axial CT along each screw. "In bone" is read in the bone the
image shows near the vertebra's label (:func:`bone_in_image`), not in the label alone: ``inside_bone_fraction`` and the
``pedicle_wall_breach`` test look at it, and the automatic plans are fitted in it.

The breach test (``pedicle_wall_breach``) of L1-L5 reads the part of the screw behind the vertebral body; S1 has its
own, the same for every label source whether or not its S1 label was split into body and arch
(:data:`SACRAL_BREACH_SOURCE`): the S1 pedicle is wide, and a sacral screw fails through the medial or lateral wall of
the sacral pedicle or through the anterior cortex beyond the promontory, so the medial wall, the lateral wall and the
whole screw past the head's seat must lie in the bone the image shows and the tip in it (``tip_outside_vertebra`` at S1
reads that bone, not the label).

Given the other vertebrae's labels, a screw's share in them is ``adjacent_vertebra_fraction``; more than one voxel of
the labels there warns ``touches_adjacent_vertebra`` (:func:`touches_adjacent_vertebra`): near the entry, the facet
joint with the next vertebra. The L1-L5 plans keep out of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS, VERSE_NAMES
from spinebq.constants import BONE_EDGE_HU, METAL_HU, ROI_STEP_MM
from spinebq.errors import SpinebqError
from spinebq.measure.ct.frame import VertebraFrame
from spinebq.measure.ct.pedicles import SIDES, Pedicle
from spinebq.measure.ct.sampling import cylinder_points, orthonormal_pair, sample_mask, sample_values, value_statistics, voxel_count
from spinebq.segment.ct.vertebrae import fill_marrow
from spinebq.vocabulary import Side

#: Diameter of a screw whose size is not known (a trajectory file without it, an isthmus not measured), mm.
DEFAULT_DIAMETER_MM = 6.5
#: A screw wider than this fraction of the isthmus width is flagged (docs/methods.md section 4.2).
MAX_ISTHMUS_FRACTION = 0.8
#: Shell around the screw (bone-screw interface), mm.
SHELL_MM = 1.5
#: More than this fraction of the pedicle part outside the vertebra is a breach of the pedicle wall.
BREACH_FRACTION = 0.05
#: The first millimetres of a screw sit in the entry notch on an oblique bone surface: not a breach.
HEAD_SEAT_MM = 5.0
#: What a screw in the next vertebra's label means: near its entry that is the next vertebra's articular process, so
#: the screw meets the facet joint, a violation in the CT grading of Seo (0 no impingement, 1 screw head in contact or
#: suspected contact with the joint, 2 screw clearly in the joint) as used by Yson et al., Spine 2013 [M].
ADJACENT_SOURCE = ("the facet joint with the next vertebra, a facet joint violation (Seo grade 1-2, as graded by Yson "
                   "et al., Spine 2013, doi 10.1097/BRS.0b013e31827ecbf1)")
#: Contact with the next vertebra within this distance of the entry is taken for the facet joint (the entry lies on the
#: articular processes, the pedicle begins 10-20 mm in); further in, the screw reaches the next vertebra itself, mm [M].
FACET_ZONE_MM = 15.0
TRAJECTORY_SCHEMA = "spinebq.trajectories/1"
#: A screw of a trajectory file with more than this fraction of its cylinder in one other vertebra's label is not
#: counted for the level it names (:func:`file_screw_problem`): it was given the wrong level.
OTHER_LEVEL_FRACTION = 0.5
#: A screw's bone in the image is the bone (HU >= BONE_EDGE_HU, enclosed marrow filled) within this distance of its
#: vertebra's label, mm: one voxel of a routine CT, so a label drawn a little tight still has its cortex, while a
#: label drawn over a disc or soft tissue has no bone under it [M].
BONE_NEAR_LABEL_MM = 3.0
#: S1's breach test (:func:`sacral_breaches`) reads the screw's medial and lateral walls as its points within this angle of
#: the medial and of the lateral direction across the screw (in S1's frame), degrees [M].
SACRAL_WALL_HALF_ANGLE_DEG = 45.0
#: The parts of :func:`sacral_outside_fractions` S1's breach test reads.
SACRAL_TESTED_PARTS = ("medial_wall", "lateral_wall", "screw", "tip")
SACRAL_BREACH_SOURCE = (
    f"S1 breach test, the same for every label source: past the head's seat, at most {100 * BREACH_FRACTION:g} % of the "
    f"screw's medial wall, of its lateral wall (points within {SACRAL_WALL_HALF_ANGLE_DEG:g} degrees of either direction "
    "across it) and of all of it outside the bone "
    "the image shows, and its tip in that bone; the S1 pedicle is wide and a sacral screw fails through the medial or "
    "lateral wall of the sacral pedicle or through the anterior cortex beyond the promontory, while its cranial side "
    "at the promontory's apex meets the superior endplate, the third cortex a promontory-directed screw is aimed at "
    "[lehman2002]; no body/arch split, so a label without one is tested as a label with one [M]")


@dataclass
class Screw:
    """A real or virtual screw.

    Attributes
    ----------
    level, side : str
        Vertebra name and ``"left"``/``"right"``.
    entry_mm, target_mm : numpy.ndarray
        Entry point and tip, LPS mm.
    diameter_mm : float
        Outer diameter, mm.
    source : str
        ``auto_traditional``, ``auto_cortical``, ``file`` or ``from_screws``.
    notes : list of str
        How the plan was made (or why parts of it fell back to defaults).
    """

    level: str
    side: str
    entry_mm: np.ndarray
    target_mm: np.ndarray
    diameter_mm: float
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.target_mm - self.entry_mm))

    @property
    def direction(self) -> np.ndarray:
        return (self.target_mm - self.entry_mm) / max(self.length_mm, 1e-9)


def angles_in_frame(direction: np.ndarray, frame: VertebraFrame, side: str) -> tuple[float, float]:
    """Medial (convergence) and sagittal (cranial positive) angle of an anteriorly pointing direction, degrees."""
    sign = 1.0 if side == Side.LEFT else -1.0
    anterior = -(direction @ frame.posterior)
    medial = math.degrees(math.atan2(-sign * (direction @ frame.left), anterior))
    horizontal = math.hypot(direction @ frame.posterior, direction @ frame.left)
    sagittal = math.degrees(math.atan2(direction @ frame.superior, horizontal))
    return medial, sagittal


def sacral_outside_fractions(screw: Screw, bone_mask: np.ndarray, affine: np.ndarray, frame: VertebraFrame, *,
                             extra_radius_mm: float = 0.0, step_mm: float = ROI_STEP_MM) -> dict[str, float]:
    """The parts S1's breach test (:func:`sacral_breaches`) reads, each with its fraction outside ``bone_mask``.

    ``medial_wall`` and ``lateral_wall``: the points of the screw (widened by ``extra_radius_mm``) past the head's seat
    (:data:`HEAD_SEAT_MM`) within :data:`SACRAL_WALL_HALF_ANGLE_DEG` of the medial and of the lateral direction across
    it (in S1's frame); ``screw``: all its points past the seat; ``tip``: 1.0 when the tip is outside the bone, else 0.0.
    ``cranial_side`` and ``caudal_side`` (the rest of the cross-section, above and below the walls) are reported, not
    tested on their own.
    """
    points, t, radial = cylinder_points(screw.entry_mm, screw.target_mm, screw.diameter_mm / 2 + extra_radius_mm,
                                        step_mm=step_mm, up=frame.superior)
    past_seat = t >= HEAD_SEAT_MM
    outside = ~sample_mask(bone_mask, affine, points)
    lateral = (1.0 if screw.side == Side.LEFT else -1.0) * frame.left
    lateral = lateral - (lateral @ screw.direction) * screw.direction
    offsets = points - screw.entry_mm - t[:, None] * screw.direction
    across = offsets @ (lateral / np.linalg.norm(lateral))
    reach = math.cos(math.radians(SACRAL_WALL_HALF_ANGLE_DEG)) * radial
    walls = (radial > 0) & (np.abs(across) >= reach)
    cranial = offsets @ frame.superior > 0
    parts = {"medial_wall": past_seat & walls & (across < 0), "lateral_wall": past_seat & walls & (across > 0),
             "screw": past_seat, "cranial_side": past_seat & ~walls & cranial, "caudal_side": past_seat & ~walls & ~cranial}
    fractions = {name: float(outside[part].mean()) if part.any() else 0.0 for name, part in parts.items()}
    fractions["tip"] = 0.0 if sample_mask(bone_mask, affine, screw.target_mm[None, :])[0] else 1.0
    return fractions


def sacral_breaches(screw: Screw, bone_mask: np.ndarray, affine: np.ndarray, frame: VertebraFrame, *,
                    extra_radius_mm: float = 0.0, step_mm: float = ROI_STEP_MM) -> dict[str, float]:
    """S1's breach test (:data:`SACRAL_BREACH_SOURCE`) on the screw widened by ``extra_radius_mm``: the parts of
    :func:`sacral_outside_fractions` with more than :data:`BREACH_FRACTION` outside ``bone_mask`` (the bone in the
    image, :func:`bone_in_image`), with their fractions; empty when the screw passes. ``"tip"``: the tip is past the
    anterior cortex. The body label plays no part.
    """
    fractions = sacral_outside_fractions(screw, bone_mask, affine, frame, extra_radius_mm=extra_radius_mm, step_mm=step_mm)
    return {part: fractions[part] for part in SACRAL_TESTED_PARTS if fractions[part] > BREACH_FRACTION}


def measure_screw(
    ct_array: np.ndarray,
    ct_affine: np.ndarray,
    screw: Screw,
    whole_mask: np.ndarray,
    body_mask: np.ndarray,
    mask_affine: np.ndarray,
    frame: VertebraFrame,
    *,
    bone_mask: np.ndarray,
    pedicle: Pedicle | None = None,
    metal_hu: float = METAL_HU,
    shell_mm: float = SHELL_MM,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    shell_offset_mm: float = 0.0,
    vbmd=None,
    step_mm: float = ROI_STEP_MM,
    neighbours: np.ndarray | None = None,
) -> dict:
    """Measure the bone a screw holds in.

    Parameters
    ----------
    ct_array, ct_affine : numpy.ndarray
        CT in HU and its voxel -> LPS mm affine.
    screw : Screw
        The screw to measure.
    whole_mask, body_mask, mask_affine : numpy.ndarray
        The vertebra and its body (boolean) on the grid of ``mask_affine``.
    frame : VertebraFrame
        The vertebra's axes (angles are reported in it).
    bone_mask : numpy.ndarray
        The vertebra's bone in the image on the grid of ``mask_affine`` (:func:`bone_in_image`, given the other
        vertebrae's labels): ``inside_bone_fraction`` and the breach tests read it.
    pedicle : Pedicle, optional
        The pedicle on the screw's side: gives the isthmus checks and the 80 % warning at L1-L5 (at S1 the lumbar
        pedicle model reads a few millimetres of the wide sacral pedicle; S1 has its own breach test instead).
    metal_hu : float
        Points whose nearest voxel is above this are never bone.
    shell_mm : float
        Thickness of the interface shell around the screw.
    exclude : (mask, affine), optional
        Points whose nearest voxel is in this mask are left out (a real screw's metal and its bloom).
    shell_offset_mm : float
        Gap between the screw surface and the shell (the bloom of a real screw).
    vbmd : callable, optional
        HU -> vBMD of the calibration.
    neighbours : numpy.ndarray, optional
        The other vertebrae's label ids on the grid of ``mask_affine`` (0 elsewhere). The share of the screw inside
        them is ``adjacent_vertebra_fraction``; more than one voxel of this grid in them warns
        ``touches_adjacent_vertebra``, with a note naming the vertebra and how far from the entry it reaches (within
        :data:`FACET_ZONE_MM`, the facet joint: :data:`ADJACENT_SOURCE`).
    """
    radius = screw.diameter_mm / 2
    up = frame.superior
    points, t, _ = cylinder_points(screw.entry_mm, screw.target_mm, radius, step_mm=step_mm, up=up)
    shell_points, _, _ = cylinder_points(screw.entry_mm, screw.target_mm, radius + shell_offset_mm + shell_mm,
                                         radius_inner_mm=radius + shell_offset_mm, step_mm=step_mm, up=up)
    inside_vertebra = sample_mask(whole_mask, mask_affine, points)
    inside_body = sample_mask(body_mask, mask_affine, points)
    inside_bone = sample_mask(bone_mask, mask_affine, points)

    def bone(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        hu = sample_values(ct_array, ct_affine, pts)
        nearest = sample_values(ct_array, ct_affine, pts, order=0)
        keep = np.isfinite(hu) & (nearest <= metal_hu)
        metal = int((nearest > metal_hu).sum())
        if exclude is not None and len(pts):
            keep &= sample_values(exclude[0], exclude[1], pts, order=0, outside=0.0) < 0.5
        return hu, keep, metal

    hu, keep, metal = bone(points)
    stats = value_statistics(hu[keep])
    shell_hu, shell_keep, _ = bone(shell_points)
    shell_stats = value_statistics(shell_hu[shell_keep])
    body_part = keep & inside_body
    pedicle_part = keep & ~inside_body & inside_vertebra
    # the pedicle segment: behind the body, past the screw head's seat on the bone surface
    behind_body = ~inside_body & (t >= HEAD_SEAT_MM)
    medial, sagittal = angles_in_frame(screw.direction, frame, screw.side)
    result = {
        "source": screw.source,
        "entry_mm": [round(float(v), 2) for v in screw.entry_mm],
        "target_mm": [round(float(v), 2) for v in screw.target_mm],
        "diameter_mm": screw.diameter_mm,
        "length_mm": round(screw.length_mm, 2),
        "medial_angle_deg": round(medial, 1) + 0.0,  # + 0.0: no "-0.0" in the JSON
        "sagittal_angle_deg": round(sagittal, 1) + 0.0,
        "hu_mean": stats["mean"],
        "hu_median": stats["median"],
        "hu_sd": stats["sd"],
        "voxels": voxel_count(ct_affine, points[keep]),
        "points": stats["n"],
        "metal_points_excluded": metal,
        "vbmd_mg_cm3": vbmd(stats["mean"]) if vbmd else None,
        "shell": {"inner_radius_mm": radius + shell_offset_mm, "outer_radius_mm": radius + shell_offset_mm + shell_mm,
                  "hu_mean": shell_stats["mean"], "hu_median": shell_stats["median"],
                  "voxels": voxel_count(ct_affine, shell_points[shell_keep])},
        "pedicle_part": {"hu_mean": value_statistics(hu[pedicle_part])["mean"],
                         "voxels": voxel_count(ct_affine, points[pedicle_part])},
        "body_part": {"hu_mean": value_statistics(hu[body_part])["mean"], "voxels": voxel_count(ct_affine, points[body_part])},
        "rectangle_2d": rectangle_2d(ct_array, ct_affine, screw, up, metal_hu=metal_hu, step_mm=step_mm, exclude=exclude),
        "inside_vertebra_fraction": float(inside_vertebra.mean()) if len(points) else math.nan,
        "inside_body_fraction": float(inside_body.mean()) if len(points) else math.nan,
        "inside_bone_fraction": float(inside_bone.mean()) if len(points) else math.nan,
        "notes": list(screw.notes),
        "warnings": [],
    }
    warnings = result["warnings"]
    if screw.level == "S1":  # one S1 test for every label source, in the bone the image shows
        breached = sacral_breaches(screw, bone_mask, mask_affine, frame, step_mm=step_mm)
        if set(breached) - {"tip"}:
            warnings.append("pedicle_wall_breach")
        if "tip" in breached:
            warnings.append("tip_outside_vertebra")
        if breached:
            result["notes"].append("S1 breach test: " + ", ".join(
                f"{part} {fraction:.0%} outside the bone" if part != "tip" else "tip outside the bone"
                for part, fraction in breached.items()))
    else:
        if behind_body.any() and (~inside_bone[behind_body]).mean() > BREACH_FRACTION:
            warnings.append("pedicle_wall_breach")
        if not sample_mask(whole_mask, mask_affine, screw.target_mm[None, :])[0]:
            warnings.append("tip_outside_vertebra")
    if neighbours is not None and len(points):
        _adjacent(result, sample_values(neighbours, mask_affine, points, order=0, outside=0.0).astype(int), t,
                  step_mm=step_mm, voxel_mm3=_voxel_mm3(mask_affine))
    if pedicle is not None and pedicle.found and screw.level != "S1":  # S1's wide pedicle has its own test above
        result["isthmus_width_mm"] = pedicle.width_mm
        offset = _distance_to_line(pedicle.isthmus_mm, screw.entry_mm, screw.direction)
        result["isthmus_offset_mm"] = round(offset, 2)
        result["passes_isthmus"] = bool(offset + radius <= max(pedicle.width_mm / 2, radius) + 0.5 * radius)
        if screw.diameter_mm > MAX_ISTHMUS_FRACTION * pedicle.width_mm:
            warnings.append("diameter_above_80pct_isthmus")
    if stats["n"] == 0:
        result["reason"] = "no bone left in the cylinder (metal or outside the image)"
    return result


def file_screw_problem(screw: Screw, labels: np.ndarray, affine: np.ndarray, frame: VertebraFrame, *,
                       step_mm: float = ROI_STEP_MM) -> str | None:
    """Why a screw of a trajectory file cannot stand for the level and side it names, or None when it can.

    A hand-edited file can name the wrong level or side, or hold points of another image or convention. The screw is
    refused (it is not measured for its level) when its cylinder lies wholly outside the image, when more than
    :data:`OTHER_LEVEL_FRACTION` of it lies in one other vertebra's label, or when its entry lies on the other side of
    its vertebra's midline (the sagittal plane of ``frame``) than its ``side``.

    Parameters
    ----------
    screw : Screw
        The screw as read from the file (LPS mm).
    labels : numpy.ndarray
        VerSe ids of every vertebra on the grid of ``affine`` (0 elsewhere).
    affine : numpy.ndarray
        Voxel -> LPS mm affine of ``labels``.
    frame : VertebraFrame
        The axes of the vertebra the screw names (``left`` points to the patient's left).
    step_mm : float
        Spacing of the cylinder's sample points, mm.

    Returns
    -------
    str or None
        One clause saying where the screw lies, e.g. ``"99 % of it lies in L4's label (0 % in L3's)"``.

    Examples
    --------
    >>> labels = np.zeros((40, 40, 40), np.int16); labels[:20] = VERSE_IDS["L4"]
    >>> frame = VertebraFrame(np.full(3, 20.0), np.array([0., 0., 1.]), np.array([0., 1., 0.]), np.array([1., 0., 0.]))
    >>> at_l4 = Screw("L3", "right", np.array([5.0, 30.0, 20.0]), np.array([5.0, 10.0, 20.0]), 6.0, "file")
    >>> file_screw_problem(at_l4, labels, np.eye(4), frame)
    "100 % of it lies in L4's label (0 % in L3's)"
    """
    points, _, _ = cylinder_points(screw.entry_mm, screw.target_mm, screw.diameter_mm / 2, step_mm=step_mm,
                                   up=frame.superior)
    ids = sample_values(labels, affine, points, order=0, outside=-1.0).astype(int)
    if len(ids) == 0 or (ids < 0).all():
        return "it lies wholly outside the image"
    named = VERSE_IDS.get(screw.level)
    found, counts = np.unique(ids[(ids > 0) & (ids != named)], return_counts=True)
    if len(found) and counts.max() > OTHER_LEVEL_FRACTION * len(ids):
        other = VERSE_NAMES.get(int(found[counts.argmax()]), str(found[counts.argmax()]))
        return (f"{100 * counts.max() / len(ids):.0f} % of it lies in {other}'s label "
                f"({100 * (ids == named).mean():.0f} % in {screw.level}'s)")
    offset_mm = float((screw.entry_mm - frame.centre_mm) @ frame.left)
    lies = Side.LEFT if offset_mm > 0 else Side.RIGHT
    if lies != screw.side:
        return (f"its entry lies {abs(offset_mm):.0f} mm to the patient's {lies} of {screw.level}'s midline, not on "
                f"the {screw.side} (check left/right, and the coordinates: LPS, or \"coordinates\": \"RAS\")")
    return None


def _voxel_mm3(affine: np.ndarray) -> float:
    return abs(float(np.linalg.det(affine[:3, :3])))


def _in_adjacent_vertebra(ids: np.ndarray, step_mm: float, voxel_mm3: float) -> bool:
    """More than one voxel of the labels' grid of a screw (its sample points every ``step_mm``, their label ``ids``,
    0 off the other vertebrae) lies in another vertebra: less lies within the labels' own half-voxel outline."""
    return float((ids > 0).sum()) * step_mm ** 3 > voxel_mm3


def touches_adjacent_vertebra(screw: Screw, neighbours: np.ndarray, affine: np.ndarray, up: np.ndarray, *,
                              extra_radius_mm: float = 0.0, step_mm: float = ROI_STEP_MM) -> bool:
    """Whether ``screw``, widened by ``extra_radius_mm``, lies in another vertebra's label (``neighbours``: their ids
    on the grid of ``affine``, 0 elsewhere) by more than one voxel: the test of ``touches_adjacent_vertebra`` in
    :func:`measure_screw`, for plans."""
    points, _, _ = cylinder_points(screw.entry_mm, screw.target_mm, screw.diameter_mm / 2 + extra_radius_mm,
                                   step_mm=step_mm, up=up)
    ids = sample_values(neighbours, affine, points, order=0, outside=0.0)
    return _in_adjacent_vertebra(ids, step_mm, _voxel_mm3(affine))


def _adjacent(result: dict, ids: np.ndarray, t: np.ndarray, *, step_mm: float, voxel_mm3: float) -> None:
    """Record the share of a screw's points (label ``ids``; ``t`` mm from its entry) in another vertebra's label and
    warn where :func:`_in_adjacent_vertebra`."""
    inside = ids > 0
    result["adjacent_vertebra_fraction"] = round(float(inside.mean()), 4)
    if not _in_adjacent_vertebra(ids, step_mm, voxel_mm3):
        return
    names = ", ".join(VERSE_NAMES.get(int(v), str(v)) for v in np.unique(ids[inside]))
    reach_mm = float(t[inside].max())
    where = ADJACENT_SOURCE if reach_mm <= FACET_ZONE_MM else "the screw reaches into the next vertebra"
    result["warnings"].append("touches_adjacent_vertebra")
    result["notes"].append(f"{inside.mean():.1%} of the screw lies in {names}'s label, up to {reach_mm:.0f} mm from its "
                           f"entry: {where}")


def bone_in_image(ct_array: np.ndarray, ct_affine: np.ndarray, whole_mask: np.ndarray, mask_affine: np.ndarray,
                  *, others: np.ndarray | None = None) -> np.ndarray:
    """The vertebra's bone as the CT shows it, on the grid of ``whole_mask`` (bool).

    Voxels of at least :data:`~spinebq.constants.BONE_EDGE_HU` within :data:`BONE_NEAR_LABEL_MM` of the label, with
    the marrow their cortex encloses (:func:`spinebq.segment.ct.vertebrae.fill_marrow`: a pedicle's fatty core can
    be darker than the threshold). It does not depend on how generously a label source draws the vertebra: a screw
    is "in bone" where the image shows bone, and a label moved off its vertebra has none under it. ``others`` (bool,
    same grid) marks the other vertebrae's labels: their bone is not this vertebra's, and what lies between their
    bone and this one's (a disc, a facet joint) is not its marrow. Without it, a screw through the next vertebra's
    articular process and out through the endplate into the disc read as in bone (the real CT, built-in labels, L5
    right: 98 %; benchmarks/ct.md, "Bone of the next vertebra").
    """
    if not whole_mask.any():
        return np.zeros(whole_mask.shape, bool)
    spacing = np.linalg.norm(mask_affine[:3, :3], axis=0)
    near = ndimage.distance_transform_edt(~whole_mask, sampling=spacing) <= BONE_NEAR_LABEL_MM
    ijk = np.argwhere(near)
    hu = sample_values(ct_array, ct_affine, ijk @ mask_affine[:3, :3].T + mask_affine[:3, 3], order=0, outside=np.nan)
    bone = np.zeros(whole_mask.shape, np.int16)
    bone[tuple(ijk[hu >= BONE_EDGE_HU].T)] = 1
    if others is not None:
        bone[others] = 0
    fill_marrow(bone, spacing, keep_out=others)
    return bone > 0


def _distance_to_line(point: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> float:
    v = point - origin
    return float(np.linalg.norm(v - (v @ direction) * direction))


def rectangle_2d(ct_array: np.ndarray, ct_affine: np.ndarray, screw: Screw, up: np.ndarray, *, metal_hu: float = METAL_HU,
                 step_mm: float = ROI_STEP_MM, exclude=None) -> dict:
    """Paper 001's ST-HU ROI: a rectangle as wide as the screw along its axis, in the axial plane through it.

    The plane contains the screw axis and is perpendicular to the vertebra's sagittal plane (for a
    straight-forward screw it is the vertebra's own axial plane).
    """
    points = rectangle_points(screw, up, step_mm=step_mm)
    hu = sample_values(ct_array, ct_affine, points)
    nearest = sample_values(ct_array, ct_affine, points, order=0)
    keep = np.isfinite(hu) & (nearest <= metal_hu)
    if exclude is not None and len(points):
        keep &= sample_values(exclude[0], exclude[1], points, order=0, outside=0.0) < 0.5
    stats = value_statistics(hu[keep])
    return {"hu_mean": stats["mean"], "hu_median": stats["median"], "width_mm": screw.diameter_mm,
            "length_mm": round(screw.length_mm, 2), "pixels": stats["n"], "pixel_mm": step_mm,
            "method": "rectangle along the screw in the axial plane through its axis, as wide as the screw "
                      "(Yang et al., Global Spine J 2026 [yang2026])"}


def rectangle_points(screw: Screw, up: np.ndarray, *, step_mm: float = ROI_STEP_MM) -> np.ndarray:
    """Points of the 2D rectangle ROI along a screw (see :func:`rectangle_2d`)."""
    d = screw.direction
    u, w = orthonormal_pair(d, up)  # u: towards superior, w: across the screw in the axial plane
    t = np.arange(step_mm / 2, screw.length_mm, step_mm)
    half = screw.diameter_mm / 2
    a = np.arange(-half + step_mm / 2, half, step_mm)
    return (screw.entry_mm + t[:, None, None] * d + a[None, :, None] * w).reshape(-1, 3)


def read_trajectory_file(path: str | Path, *, voxel_to_mm=None, voxels: bool = False) -> list[Screw]:
    """Read a surgeon's trajectory file.

    The file is JSON: ``{"screws": [{"level": "L4", "side": "left", "entry": [x, y, z],
    "target": [x, y, z], "diameter_mm": 6.5}, ...]}``, points in patient LPS mm (``"units": "mm"``, the
    default; ``"coordinates": "RAS"`` flips x and y) or voxel indices (``"units": "voxel"`` or
    ``voxels=True``), which ``voxel_to_mm`` turns into LPS mm.

    Raises
    ------
    SpinebqError
        When the file cannot be read or a screw is incomplete; the message names the file and the screw.
    """
    path = Path(path)
    from spinebq.io.schemas import TrajectoryFile, read_validated

    document = read_validated(TrajectoryFile, path, "trajectory file").model_dump(exclude_none=True)
    if isinstance(document, list):
        document = {"screws": document}
    screws = document.get("screws") if isinstance(document, dict) else None
    if not isinstance(screws, list) or not screws:
        raise SpinebqError(f"{path}: no 'screws' list in the trajectory file")
    units = "voxel" if voxels else str(document.get("units", "mm")).lower()
    if units not in ("mm", "voxel"):
        raise SpinebqError(f"{path}: units must be 'mm' or 'voxel', not {units!r}")
    if units == "voxel" and voxel_to_mm is None:
        raise SpinebqError(f"{path}: voxel indices need the image they refer to")
    ras = str(document.get("coordinates", "LPS")).upper() == "RAS"
    out = []
    for n, item in enumerate(screws, start=1):
        try:
            level, side = str(item["level"]).upper(), str(item["side"]).lower()
            entry = np.asarray(item.get("entry", item.get("entry_mm")), dtype=float)
            target = np.asarray(item.get("target", item.get("target_mm")), dtype=float)
            diameter = float(item.get("diameter_mm", DEFAULT_DIAMETER_MM))
        except (KeyError, TypeError, ValueError) as exc:
            raise SpinebqError(f"{path}: screw {n} needs level, side, entry, target ({exc})") from None
        if entry.shape != (3,) or target.shape != (3,) or side not in SIDES:
            raise SpinebqError(f"{path}: screw {n} needs 3 coordinates for entry and target and side left or right")
        if units == "voxel":
            entry, target = voxel_to_mm(entry), voxel_to_mm(target)
        elif ras:
            entry, target = entry * [-1, -1, 1], target * [-1, -1, 1]
        if np.linalg.norm(target - entry) < 1.0:
            raise SpinebqError(f"{path}: screw {n} ({level} {side}) has entry and target less than 1 mm apart")
        if "length_mm" in item:
            target = entry + float(item["length_mm"]) * (target - entry) / np.linalg.norm(target - entry)
        out.append(Screw(level, side, entry, target, diameter, "file", [f"from {path.name}, screw {n}"]))
    return out


def trajectory_document(screws: list[Screw]) -> dict:
    """A trajectory file (schema ``spinebq.trajectories/1``, LPS mm) describing ``screws``."""
    return {"schema": TRAJECTORY_SCHEMA, "units": "mm", "coordinates": "LPS",
            "screws": [{"level": s.level, "side": s.side, "entry": [round(float(v), 3) for v in s.entry_mm],
                        "target": [round(float(v), 3) for v in s.target_mm], "diameter_mm": s.diameter_mm,
                        "source": s.source} for s in screws]}
