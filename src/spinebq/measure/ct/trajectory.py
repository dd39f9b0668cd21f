"""Virtual pedicle screws: planned from the anatomy, read from a surgeon's file, and measured.

A screw is a straight cylinder from an entry point to a tip (``target_mm``) with a diameter. Its bone
is measured in the cylinder (ST-HU, 3D), in a shell around it (the bone-screw interface), split into
the part inside the vertebral body and the part behind it (pedicle), and on the 2D rectangle that
Yang et al., Global Spine J 2026 [yang2026] drew on an axial CT along each screw. "In bone" is read in the bone the
image shows near the vertebra's label (:func:`bone_in_image`), not in the label alone: ``inside_bone_fraction`` and the
``pedicle_wall_breach`` test look at it, and the automatic plans are fitted in it.

Automatic plans (docs/methods.md section 4.2; textbook geometry, marked [M] there):

``traditional``  straight-forward pedicle screw: through the centre of the pedicle isthmus, parallel
                 to the vertebra's transverse plane (the superior endplate), with the medial angle that
                 keeps most bone around the screw within the published range of the level; entry where
                 the line leaves the bone behind the pedicle; tip at 80 % of the body depth along the
                 line and at least 5 mm short of the anterior cortex.
``cortical``     cortical bone trajectory (Santoni et al., Spine J 2009): through the inferomedial
                 quarter of the isthmus, 5-15 degrees lateral divergence and 20-30 degrees cranial
                 (the pair keeping the screw most in bone; Santoni's 9 / 25 on ties); 4.5-5.5 mm x
                 25-35 mm (default 5.0 x 35).
``sacral``       S1 only: a promontory-directed ("tricortical") S1 pedicle screw (Lehman et al., Spine 2002
                 [lehman2002]): aimed at the apex of the sacral promontory, 30 degrees medial (AO Surgery
                 Reference, S1 pedicle screw insertion [aosurgery2026s1]; angles of 25-35 degrees tried), the tip
                 kept 2 mm short of the promontory's cortex, at most 50 mm long [sra2011s1]; the sagittal angle is the one that keeps the
                 screw in bone; standard sizes, downsized until S1's breach test passes (:func:`sacral_breaches`).

The breach test (``pedicle_wall_breach``) of L1-L5 reads the part of the screw behind the vertebral body; S1 has its
own, the same for every label source whether or not its S1 label was split into body and arch
(:data:`SACRAL_BREACH_SOURCE`): the S1 pedicle is wide, and a sacral screw fails through the medial or lateral wall of
the sacral pedicle or through the anterior cortex beyond the promontory, so the medial wall, the lateral wall and the
whole screw past the head's seat must lie in the bone the image shows and the tip in it (``tip_outside_vertebra`` at S1
reads that bone, not the label).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from spinebq.constants import BONE_EDGE_HU, METAL_HU, ROI_STEP_MM
from spinebq.errors import SpinebqError
from spinebq.measure.ct.frame import VertebraFrame
from spinebq.measure.ct.pedicles import SIDES, Pedicle, best_medial_angle
from spinebq.measure.ct.sampling import cylinder_points, orthonormal_pair, sample_mask, sample_values, value_statistics, voxel_count
from spinebq.segment.ct.vertebrae import fill_marrow
from spinebq.vocabulary import Side

#: Published medial (convergence) angle per level, degrees: docs/methods.md section 4.2 textbook defaults
#: (L1 5-10, L2 10, L3 10-15, L4 15, L5 20-30) widened by 5 degrees on each side for anatomical variation.
MEDIAL_ANGLE_RANGE_DEG: dict[str, tuple[float, float]] = {
    "T11": (0.0, 15.0), "T12": (0.0, 15.0), "T13": (0.0, 15.0), "L1": (0.0, 15.0), "L2": (5.0, 15.0),
    "L3": (5.0, 20.0), "L4": (10.0, 20.0), "L5": (15.0, 35.0), "L6": (15.0, 35.0), "S1": (20.0, 35.0),
}
MEDIAL_ANGLE_SOURCE = ("docs/methods.md section 4.2 per-level convergence (textbook, [M]: L1 5-10, L2 10, L3 10-15, L4 15, "
                       "L5 20-30 degrees) widened by 5 degrees on each side")
#: Standard screw diameters (mm) a plan sized to the pedicle chooses from.
STANDARD_DIAMETERS_MM = (4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5)
#: Standard screw lengths (mm) a plan chooses from (the usual 5 mm steps of lumbar pedicle screw sets [M]).
STANDARD_LENGTHS_MM = (25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0)
#: Bone a planned screw keeps around it in the pedicle, mm, on top of the isthmus rule (diameter at most 80 % of the
#: isthmus width, i.e. 10 % of it on each side): the plan's cylinder widened by this must pass the breach test of
#: :func:`measure_screw`; a narrower standard screw is taken when the sized one does not, no plan when none does [M].
PLAN_CLEARANCE_MM = 0.25
#: A shortened traditional screw still reaches this far into the vertebral body past its posterior wall, mm [M].
BODY_PURCHASE_MM = 10.0
#: Step of the medial angles tried when the best one leaves no standard screw in bone, degrees.
MEDIAL_SEARCH_STEP_DEG = 2.5
#: When no angle through the isthmus centre takes the screw sized to the isthmus, the axis is moved this far (mm)
#: from the centre, cranially, caudally, medially, laterally and diagonally, and the angles are tried again: the
#: centre is the mean of the narrowest section's voxels, which can lie off the middle of the bone a screw passes.
CENTRE_SHIFT_MM = 1.5
DEFAULT_DIAMETER_MM = 6.5
#: A screw wider than this fraction of the isthmus width is flagged (docs/methods.md section 4.2).
MAX_ISTHMUS_FRACTION = 0.8
#: Tip of a traditional screw: this fraction of the body depth along the line ...
DEPTH_FRACTION = 0.8
#: ... and at least this far short of the anterior cortex, mm.
ANTERIOR_MARGIN_MM = 5.0
CORTICAL_DIVERGENCE_DEG = 9.0
CORTICAL_CRANIAL_DEG = 25.0
#: Published ranges of the cortical trajectory's angles searched by the plan (Santoni 2009: 8-10 lateral, 25-26 cranial [M]).
CORTICAL_DIVERGENCE_RANGE_DEG = (5.0, 15.0)
CORTICAL_CRANIAL_RANGE_DEG = (20.0, 30.0)
CORTICAL_DIAMETER_MM = 5.0
CORTICAL_LENGTH_MM = 35.0
#: Shell around the screw (bone-screw interface), mm.
SHELL_MM = 1.5
#: More than this fraction of the pedicle part outside the vertebra is a breach of the pedicle wall.
BREACH_FRACTION = 0.05
#: The first millimetres of a screw sit in the entry notch on an oblique bone surface: not a breach.
HEAD_SEAT_MM = 5.0
TRAJECTORY_SCHEMA = "spinebq.trajectories/1"
#: A screw's bone in the image is the bone (HU >= BONE_EDGE_HU, enclosed marrow filled) within this distance of its
#: vertebra's label, mm: one voxel of a routine CT, so a label drawn a little tight still has its cortex, while a
#: label drawn over a disc or soft tissue has no bone under it [M].
BONE_NEAR_LABEL_MM = 3.0
#: Medial angle of a promontory-directed S1 screw, degrees (AO Surgery Reference, S1 pedicle screw insertion:
#: "30 degrees medially", aimed at the promontory [aosurgery2026s1]) and the range tried around it (METHODS: S1 25-30).
SACRAL_MEDIAL_DEG = 30.0
SACRAL_MEDIAL_RANGE_DEG = (25.0, 35.0)
#: Sagittal angles (cranial positive, in S1's frame) tried for the line to the promontory, degrees.
SACRAL_SAGITTAL_RANGE_DEG = (-15.0, 45.0)
SACRAL_ANGLE_STEP_DEG = 2.5
#: Each S1 screw aims this far to its own side of the promontory's apex, so the two tips do not meet, mm [M].
SACRAL_TIP_OFFSET_MM = 4.0
#: The S1 tip stays this far short of the promontory's cortex (inside bone), mm [M].
SACRAL_TIP_MARGIN_MM = 2.0
#: Longest S1 screw planned, mm: the safe S1 screw length was 31.9-53.1 mm in women and 35.0-58.3 mm in men on 180
#: CT pelves [sra2011s1]; the longest standard length within the women's maximum.
SACRAL_MAX_LENGTH_MM = 50.0
#: The promontory is looked for within this distance of S1's midsagittal plane, mm.
PROMONTORY_HALF_WIDTH_MM = 6.0
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
SACRAL_SOURCE = ("promontory-directed S1 pedicle screw (Lehman et al., Spine 2002 [lehman2002]), 30 degrees medial "
                 "(AO Surgery Reference, S1 pedicle screw insertion [aosurgery2026s1]), at most 50 mm long (safe S1 length "
                 "31.9-53.1 mm in women on CT [sra2011s1])")


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


@dataclass
class PlanOptions:
    """Options of the automatic plans; ``None`` sizes to the anatomy."""

    diameter_mm: float | None = None
    length_mm: float | None = None
    cortical_diameter_mm: float = CORTICAL_DIAMETER_MM
    cortical_length_mm: float = CORTICAL_LENGTH_MM


def angles_in_frame(direction: np.ndarray, frame: VertebraFrame, side: str) -> tuple[float, float]:
    """Medial (convergence) and sagittal (cranial positive) angle of an anteriorly pointing direction, degrees."""
    sign = 1.0 if side == Side.LEFT else -1.0
    anterior = -(direction @ frame.posterior)
    medial = math.degrees(math.atan2(-sign * (direction @ frame.left), anterior))
    horizontal = math.hypot(direction @ frame.posterior, direction @ frame.left)
    sagittal = math.degrees(math.atan2(direction @ frame.superior, horizontal))
    return medial, sagittal


def size_to_pedicle(width_mm: float) -> tuple[float, str | None]:
    """Largest standard diameter within 80 % of the isthmus width; the smallest with a note if none fits."""
    if not math.isfinite(width_mm):
        return DEFAULT_DIAMETER_MM, f"isthmus width unknown: default diameter {DEFAULT_DIAMETER_MM} mm"
    fitting = [d for d in STANDARD_DIAMETERS_MM if d <= MAX_ISTHMUS_FRACTION * width_mm]
    if not fitting:
        return STANDARD_DIAMETERS_MM[0], f"isthmus {width_mm:.1f} mm: even a {STANDARD_DIAMETERS_MM[0]} mm screw exceeds 80 % of it"
    return fitting[-1], None


def _line_exit(mask: np.ndarray, affine: np.ndarray, start: np.ndarray, direction: np.ndarray, *, max_mm: float = 80.0,
               step_mm: float = 0.25) -> float:
    """Distance from ``start`` along ``direction`` to the last point inside ``mask`` before it is left."""
    t = np.arange(0.0, max_mm, step_mm)
    inside = sample_mask(mask, affine, start + t[:, None] * direction)
    if not inside[0]:
        return 0.0
    outside = np.flatnonzero(~inside)
    return float(t[outside[0] - 1]) if outside.size else float(t[-1])


def plan_traditional(level: str, pedicle: Pedicle, frame: VertebraFrame, whole_mask: np.ndarray, body_mask: np.ndarray,
                     affine: np.ndarray, grid, options: PlanOptions) -> Screw | str:
    """Plan a straight-forward pedicle screw; return the :class:`Screw` or the reason there is none.

    The medial angle keeping most bone around the axis comes first; when no standard screw passes the pedicle
    there without breaching (:func:`breaches` with :data:`PLAN_CLEARANCE_MM`), the other angles of the published
    range are tried, nearest first, and the widest screw that passes is kept. When none of them takes the screw
    sized to the isthmus (:func:`size_to_pedicle`), the angles are tried again with the axis moved
    :data:`CENTRE_SHIFT_MM` off the isthmus centre in each of eight directions across the pedicle; a wider screw
    found so is kept with a note saying where its axis passes.
    """
    if not pedicle.found:
        return f"no {pedicle.side} pedicle: {pedicle.reason}"
    sign = 1.0 if pedicle.side == Side.LEFT else -1.0
    low, high = MEDIAL_ANGLE_RANGE_DEG.get(level, (0.0, 35.0))
    rel = pedicle.isthmus_mm - grid.frame.centre_mm
    s0, p0, l0 = rel @ grid.frame.superior, rel @ grid.frame.posterior, rel @ grid.frame.left
    best = best_medial_angle(grid, sign, s0, p0, l0, (low, high), 0.0)
    angles = sorted(np.arange(low, high + 0.5, MEDIAL_SEARCH_STEP_DEG), key=lambda a: (abs(a - best), a))
    angles = [best] + [float(a) for a in angles if abs(a - best) > 0.5]
    chosen: Screw | str | None = None
    for shift in _centre_shifts(grid.frame, sign):
        for medial in angles:
            planned = _traditional_at(level, pedicle, sign, medial, grid, whole_mask, body_mask, affine, options,
                                      shift.vector_mm)
            if isinstance(planned, str):
                chosen = chosen or planned
                continue
            if medial != best:
                planned.notes.append(f"medial angle {medial:.0f} deg instead of {best:.0f} deg (the angle keeping most "
                                     "bone around the axis): the widest standard screw that stays in the pedicle")
            if shift.words:
                planned.notes.append(f"axis {CENTRE_SHIFT_MM:g} mm {shift.words} of the isthmus centre: no angle "
                                     "through the centre takes the screw sized to the isthmus")
            if isinstance(chosen, Screw) and chosen.diameter_mm >= planned.diameter_mm:
                continue
            chosen = planned
            if options.diameter_mm is not None or chosen.diameter_mm >= size_to_pedicle(pedicle.width_mm)[0]:
                return chosen
    return chosen


@dataclass(frozen=True)
class _Shift:
    vector_mm: np.ndarray
    words: str


def _centre_shifts(frame: VertebraFrame, sign: float) -> list[_Shift]:
    """No shift, then :data:`CENTRE_SHIFT_MM` in each of eight directions across the pedicle (``sign`` +1 for the left
    pedicle, whose lateral side is the frame's left)."""
    shifts = [_Shift(np.zeros(3), "")]
    for cranial, lateral in ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 1), (-1, -1), (-1, 1)):
        vector = cranial * frame.superior + lateral * sign * frame.left
        words = [w for w, on in (("cranial", cranial > 0), ("caudal", cranial < 0), ("medial", lateral < 0),
                                 ("lateral", lateral > 0)) if on]
        shifts.append(_Shift(CENTRE_SHIFT_MM * vector / np.linalg.norm(vector), " and ".join(words)))
    return shifts


def _traditional_at(level: str, pedicle: Pedicle, sign: float, medial: float, grid, whole_mask: np.ndarray,
                    body_mask: np.ndarray, affine: np.ndarray, options: PlanOptions, shift_mm: np.ndarray) -> Screw | str:
    """The traditional screw through the isthmus centre (moved by ``shift_mm``) at ``medial`` degrees, sized and
    fitted in bone."""
    low, high = MEDIAL_ANGLE_RANGE_DEG.get(level, (0.0, 35.0))
    notes = [f"medial angle {medial:.0f} deg within the published range {low:.0f}-{high:.0f} deg for {level} "
             f"(measured pedicle axis {pedicle.medial_angle_deg:.0f} deg)"]
    direction = _direction(grid.frame, sign, medial, 0.0)
    centre = pedicle.isthmus_mm + shift_mm
    back = _line_exit(whole_mask, affine, centre, -direction)
    entry = centre - back * direction
    # body depth along the line: from where the line enters the body to where it leaves it
    t = np.arange(0.0, 120.0, 0.25)
    in_body = sample_mask(body_mask, affine, centre + t[:, None] * direction)
    if not in_body.any():
        return f"the {pedicle.side} pedicle axis does not reach the vertebral body"
    first = int(np.flatnonzero(in_body)[0])
    after = np.flatnonzero(~in_body[first:])
    last = first + (int(after[0]) - 1 if after.size else len(t) - 1 - first)
    t_wall, t_front = t[first], t[last]
    if options.length_mm is not None:
        length = float(options.length_mm)
        notes.append(f"length {length:.0f} mm as requested")
    else:
        tip_t = min(t_wall + DEPTH_FRACTION * (t_front - t_wall), t_front - ANTERIOR_MARGIN_MM)
        length = standard_length(back + tip_t)
        if not math.isfinite(length):
            return "the pedicle axis is too short for the shortest standard screw"
        notes.append(f"length {length:g} mm: the longest standard length with the tip at most at {DEPTH_FRACTION:.0%} of "
                     f"the body depth along the axis and >= {ANTERIOR_MARGIN_MM:.0f} mm short of the anterior cortex")
    if options.diameter_mm is not None:
        return Screw(level, pedicle.side, entry, entry + length * direction, float(options.diameter_mm),
                     "auto_traditional", notes)
    diameter, note = size_to_pedicle(pedicle.width_mm)
    notes.append(note or f"diameter sized to the isthmus ({pedicle.width_mm:.1f} mm): largest standard size <= 80 %")
    return _fit_in_bone(Screw(level, pedicle.side, entry, entry + length * direction, diameter, "auto_traditional", notes),
                        whole_mask, body_mask, affine, grid.frame.superior, min_length_mm=back + t_wall + BODY_PURCHASE_MM)


def standard_length(length_mm: float) -> float:
    """The longest standard length (:data:`STANDARD_LENGTHS_MM`) not longer than ``length_mm``; NaN if none."""
    fitting = [v for v in STANDARD_LENGTHS_MM if v <= length_mm + 1e-6]
    return fitting[-1] if fitting else math.nan


def breaches(screw: Screw, whole_mask: np.ndarray, body_mask: np.ndarray, affine: np.ndarray, up: np.ndarray, *,
             extra_radius_mm: float = 0.0, step_mm: float = ROI_STEP_MM) -> bool:
    """The breach test of :func:`measure_screw` on the screw widened by ``extra_radius_mm``: more than
    :data:`BREACH_FRACTION` of its points past the head's seat and behind the body lie outside ``whole_mask``; or more
    than that fraction of its points in the body (``whole_mask`` is the bone in the image, :func:`bone_in_image`, whose
    body need not lie under the body label: a label moved onto a disc)."""
    points, t, _ = cylinder_points(screw.entry_mm, screw.target_mm, screw.diameter_mm / 2 + extra_radius_mm,
                                   step_mm=step_mm, up=up)
    past_seat = t >= HEAD_SEAT_MM
    in_body = sample_mask(body_mask, affine, points)
    outside = ~sample_mask(whole_mask, affine, points)
    return any(part.any() and outside[part].mean() > BREACH_FRACTION for part in (past_seat & ~in_body, past_seat & in_body))


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


def _fit_in_bone(screw: Screw, whole_mask: np.ndarray, body_mask: np.ndarray, affine: np.ndarray,
                up: np.ndarray, *, min_length_mm: float = 0.0) -> Screw | str:
    """``screw``, or the widest narrower standard diameter (then the longest shorter standard length, not below
    ``min_length_mm``) whose cylinder widened by :data:`PLAN_CLEARANCE_MM` passes the breach test; a reason when
    none does (a plan is never made through the pedicle wall)."""
    lengths = [screw.length_mm] + [v for v in reversed(STANDARD_LENGTHS_MM) if min_length_mm <= v < screw.length_mm - 1e-6]
    for diameter in sorted((d for d in STANDARD_DIAMETERS_MM if d <= screw.diameter_mm), reverse=True):
        for length in lengths:
            candidate = Screw(screw.level, screw.side, screw.entry_mm, screw.entry_mm + length * screw.direction,
                              diameter, screw.source, list(screw.notes))
            if breaches(candidate, whole_mask, body_mask, affine, up, extra_radius_mm=PLAN_CLEARANCE_MM):
                continue
            changes = [f"diameter {screw.diameter_mm:g} -> {diameter:g} mm"] if diameter < screw.diameter_mm else []
            changes += [f"length {screw.length_mm:g} -> {length:g} mm"] if length < screw.length_mm - 1e-6 else []
            candidate.notes.append((f"downsized ({', '.join(changes)}): the largest standard size" if changes else
                                    "sized") + f" that keeps {PLAN_CLEARANCE_MM:g} mm of bone around it behind the body")
            return candidate
    return (f"no standard screw ({_size_range(STANDARD_DIAMETERS_MM[0], screw.diameter_mm)} mm, "
            f"{_size_range(STANDARD_LENGTHS_MM[0], screw.length_mm)} mm) keeps {PLAN_CLEARANCE_MM:g} mm of bone around it "
            "in this pedicle: no plan")


def _size_range(smallest: float, largest: float) -> str:
    """``"4.5-7.5"``, or one size where the range holds only one."""
    return f"{largest:g}" if largest <= smallest + 1e-6 else f"{smallest:g}-{largest:g}"


def plan_cortical(level: str, pedicle: Pedicle, frame: VertebraFrame, whole_mask: np.ndarray, body_mask: np.ndarray,
                  affine: np.ndarray, grid, options: PlanOptions) -> Screw | str:
    """Plan a cortical bone trajectory screw (Santoni 2009 geometry); return it or the reason there is none."""
    if not pedicle.found:
        return f"no {pedicle.side} pedicle: {pedicle.reason}"
    sign = 1.0 if pedicle.side == Side.LEFT else -1.0
    f = grid.frame
    # through the inferomedial quarter of the isthmus: medial by a quarter width, caudal by a quarter height
    through = pedicle.isthmus_mm - sign * 0.25 * pedicle.width_mm * f.left - 0.25 * pedicle.height_mm * f.superior
    if not sample_mask(whole_mask, affine, through[None, :])[0]:
        through = pedicle.isthmus_mm
    diameter = options.cortical_diameter_mm if options.diameter_mm is None else float(options.diameter_mm)
    divergence, cranial = _cortical_angles(grid, sign, through, diameter / 2)
    direction = _direction(f, sign, -divergence, cranial)
    back = _line_exit(whole_mask, affine, through, -direction)
    entry = through - back * direction
    ahead = _line_exit(whole_mask, affine, through, direction, max_mm=120.0)
    length = min(float(options.length_mm) if options.length_mm is not None else options.cortical_length_mm,
                 back + ahead - 2.0)
    if options.length_mm is None:
        length = standard_length(length)
        if not math.isfinite(length):
            return "the cortical trajectory is too short for the shortest standard screw"
    notes = [f"cortical bone trajectory: {divergence:.0f} deg lateral, {cranial:.0f} deg cranial through the "
             "inferomedial quarter of the isthmus, the angles that keep the screw in bone within "
             f"{CORTICAL_DIVERGENCE_RANGE_DEG[0]:.0f}-{CORTICAL_DIVERGENCE_RANGE_DEG[1]:.0f} deg lateral and "
             f"{CORTICAL_CRANIAL_RANGE_DEG[0]:.0f}-{CORTICAL_CRANIAL_RANGE_DEG[1]:.0f} deg cranial (Santoni et al., Spine J 2009)"]
    screw = Screw(level, pedicle.side, entry, entry + length * direction, diameter, "auto_cortical", notes)
    return screw if options.diameter_mm is not None else _fit_in_bone(screw, whole_mask, body_mask, affine, frame.superior)


def promontory_mm(whole_mask: np.ndarray, affine: np.ndarray, frame: VertebraFrame) -> np.ndarray | None:
    """Apex of the sacral promontory: the anterior-superior-most point of the S1 label near its midsagittal plane.

    Points within :data:`PROMONTORY_HALF_WIDTH_MM` of the frame's midsagittal plane are ranked by
    ``superior - posterior`` (the corner between the S1 endplate and the front of the body); None without any.
    """
    points = np.argwhere(whole_mask) @ affine[:3, :3].T + affine[:3, 3]
    rel = points - frame.centre_mm
    central = np.abs(rel @ frame.left) <= PROMONTORY_HALF_WIDTH_MM
    if not central.any():
        return None
    score = rel[central] @ (frame.superior - frame.posterior)
    return points[central][int(np.argmax(score))]


def plan_sacral(level: str, side: str, frame: VertebraFrame, whole_mask: np.ndarray, affine: np.ndarray,
                options: PlanOptions, *, bone_mask: np.ndarray | None = None) -> Screw | str:
    """Plan a promontory-directed S1 pedicle screw (see the module docstring); the screw or the reason there is none.

    Every line to the promontory (offset :data:`SACRAL_TIP_OFFSET_MM` to the screw's side) with a medial angle in
    :data:`SACRAL_MEDIAL_RANGE_DEG` and a sagittal angle in :data:`SACRAL_SAGITTAL_RANGE_DEG` is followed back from
    the promontory to where it leaves the bone (the entry); its length is the longest standard length ending
    :data:`SACRAL_TIP_MARGIN_MM` short of the promontory's cortex. The widest standard screw whose cylinder widened by
    :data:`PLAN_CLEARANCE_MM` passes S1's breach test (:func:`sacral_breaches`, the same for every label source) wins;
    then the longer; then the medial angle nearest :data:`SACRAL_MEDIAL_DEG`.
    ``bone_mask`` (:func:`bone_in_image`, default the label) is what the promontory's cortex, the entry and the breach
    test look at; the promontory's apex is read in the label.
    """
    bone_mask = whole_mask if bone_mask is None else bone_mask
    apex = promontory_mm(whole_mask, affine, frame)
    if apex is None:
        return "no sacral promontory found in the S1 label"
    sign = 1.0 if side == Side.LEFT else -1.0
    aim = apex + sign * SACRAL_TIP_OFFSET_MM * frame.left
    medials = sorted(np.arange(SACRAL_MEDIAL_RANGE_DEG[0], SACRAL_MEDIAL_RANGE_DEG[1] + 0.1, SACRAL_ANGLE_STEP_DEG),
                     key=lambda a: abs(a - SACRAL_MEDIAL_DEG))
    sagittals = np.arange(SACRAL_SAGITTAL_RANGE_DEG[0], SACRAL_SAGITTAL_RANGE_DEG[1] + 0.1, SACRAL_ANGLE_STEP_DEG)
    diameters = ([float(options.diameter_mm)] if options.diameter_mm is not None
                 else sorted(STANDARD_DIAMETERS_MM, reverse=True))
    best, best_key = None, None
    t = np.arange(0.0, 40.0, 0.25)
    for medial in medials:
        for sagittal in sagittals:
            direction = _direction(frame, sign, float(medial), float(sagittal))
            inside = sample_mask(bone_mask, affine, aim - t[:, None] * direction)
            if not inside.any():
                continue
            t_cortex = float(t[np.flatnonzero(inside)[0]])
            start = aim - t_cortex * direction
            back = _line_exit(bone_mask, affine, start, -direction)
            entry = start - back * direction
            if options.length_mm is not None:
                length = float(options.length_mm)
            else:
                length = standard_length(min(back - SACRAL_TIP_MARGIN_MM, SACRAL_MAX_LENGTH_MM))
            if not math.isfinite(length) or length > back:
                continue
            for diameter in diameters:
                if best_key is not None and (diameter, length) <= best_key[:2]:
                    break
                screw = Screw(level, side, entry, entry + length * direction, diameter, "auto_sacral", [])
                if options.diameter_mm is None and sacral_breaches(screw, bone_mask, affine, frame,
                                                                   extra_radius_mm=PLAN_CLEARANCE_MM):
                    continue
                best, best_key = (screw, float(medial), float(sagittal)), (diameter, length, -abs(medial - SACRAL_MEDIAL_DEG))
                break
    if best is None:
        return (f"no standard screw along a line to the sacral promontory ({SACRAL_MEDIAL_RANGE_DEG[0]:g}-"
                f"{SACRAL_MEDIAL_RANGE_DEG[1]:g} deg medial) keeps {PLAN_CLEARANCE_MM:g} mm of bone around it: no plan")
    screw, medial, sagittal = best
    screw.notes.extend([
        f"{SACRAL_SOURCE}: aimed {SACRAL_TIP_OFFSET_MM:g} mm to the {side} of the promontory's apex, tip "
        f"{SACRAL_TIP_MARGIN_MM:g} mm or more short of its cortex",
        f"medial angle {medial:.1f} deg (tried {SACRAL_MEDIAL_RANGE_DEG[0]:g}-{SACRAL_MEDIAL_RANGE_DEG[1]:g}, "
        f"{SACRAL_MEDIAL_DEG:g} preferred), sagittal {sagittal:.1f} deg in S1's frame: the line that holds the widest, "
        "then longest, standard screw in bone",
        f"{screw.diameter_mm:g} x {screw.length_mm:g} mm: the largest standard size that, widened by {PLAN_CLEARANCE_MM:g} "
        f"mm, passes S1's breach test (its medial wall, its lateral wall and all of it past the head's seat at most "
        f"{100 * BREACH_FRACTION:g} % outside the bone the image shows, the tip in it)"])
    return screw


def _cortical_angles(grid, sign: float, through: np.ndarray, radius_mm: float) -> tuple[float, float]:
    """Lateral divergence and cranial angle of the cortical trajectory through ``through`` that stays most in bone.

    Every pair of whole degrees in the published ranges is scored by the fraction of the axis, from 12 mm
    behind ``through`` to 28 mm in front of it, whose clearance to the outside of the vertebra is at least the
    screw's radius; ties go to the mean clearance (capped at 4 mm), then to Santoni's 9 / 25 degrees.
    """
    f = grid.frame
    rel = through - f.centre_mm
    s0, p0, l0 = rel @ f.superior, rel @ f.posterior, rel @ f.left
    divergences = np.arange(CORTICAL_DIVERGENCE_RANGE_DEG[0], CORTICAL_DIVERGENCE_RANGE_DEG[1] + 0.5, 1.0)
    cranials = np.arange(CORTICAL_CRANIAL_RANGE_DEG[0], CORTICAL_CRANIAL_RANGE_DEG[1] + 0.5, 1.0)
    dv, cr = np.meshgrid(np.radians(divergences), np.radians(cranials), indexing="ij")
    t = np.arange(-12.0, 28.25, 0.5)
    ds, dp, dl = np.sin(cr), -np.cos(dv) * np.cos(cr), sign * np.sin(dv) * np.cos(cr)
    values = grid.clearance_at(s0 + ds[..., None] * t, p0 + dp[..., None] * t, l0 + dl[..., None] * t)
    score = (values >= radius_mm).mean(axis=-1) + 1e-2 * np.minimum(values, 4.0).mean(axis=-1) / 4.0
    score -= 1e-5 * (np.abs(np.degrees(dv) - CORTICAL_DIVERGENCE_DEG) + np.abs(np.degrees(cr) - CORTICAL_CRANIAL_DEG))
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(divergences[i]), float(cranials[j])


def _direction(frame: VertebraFrame, sign: float, medial_deg: float, sagittal_deg: float) -> np.ndarray:
    from spinebq.measure.ct.pedicles import axis_direction

    return axis_direction(frame, sign, medial_deg, sagittal_deg)


def measure_screw(
    ct_array: np.ndarray,
    ct_affine: np.ndarray,
    screw: Screw,
    whole_mask: np.ndarray,
    body_mask: np.ndarray,
    mask_affine: np.ndarray,
    frame: VertebraFrame,
    *,
    pedicle: Pedicle | None = None,
    metal_hu: float = METAL_HU,
    shell_mm: float = SHELL_MM,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    shell_offset_mm: float = 0.0,
    vbmd=None,
    step_mm: float = ROI_STEP_MM,
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
    pedicle : Pedicle, optional
        The pedicle on the screw's side: gives the isthmus checks and the 80 % warning.
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
    """
    radius = screw.diameter_mm / 2
    up = frame.superior
    points, t, _ = cylinder_points(screw.entry_mm, screw.target_mm, radius, step_mm=step_mm, up=up)
    shell_points, _, _ = cylinder_points(screw.entry_mm, screw.target_mm, radius + shell_offset_mm + shell_mm,
                                         radius_inner_mm=radius + shell_offset_mm, step_mm=step_mm, up=up)
    inside_vertebra = sample_mask(whole_mask, mask_affine, points)
    inside_body = sample_mask(body_mask, mask_affine, points)
    bone_mask = bone_in_image(ct_array, ct_affine, whole_mask, mask_affine)
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
    if pedicle is not None and pedicle.found:
        result["isthmus_width_mm"] = pedicle.width_mm
        offset = _distance_to_line(pedicle.isthmus_mm, screw.entry_mm, screw.direction)
        result["isthmus_offset_mm"] = round(offset, 2)
        result["passes_isthmus"] = bool(offset + radius <= max(pedicle.width_mm / 2, radius) + 0.5 * radius)
        if screw.diameter_mm > MAX_ISTHMUS_FRACTION * pedicle.width_mm:
            warnings.append("diameter_above_80pct_isthmus")
    if stats["n"] == 0:
        result["reason"] = "no bone left in the cylinder (metal or outside the image)"
    return result


def bone_in_image(ct_array: np.ndarray, ct_affine: np.ndarray, whole_mask: np.ndarray, mask_affine: np.ndarray) -> np.ndarray:
    """The vertebra's bone as the CT shows it, on the grid of ``whole_mask`` (bool).

    Voxels of at least :data:`~spinebq.constants.BONE_EDGE_HU` within :data:`BONE_NEAR_LABEL_MM` of the label, with
    the marrow their cortex encloses (:func:`spinebq.segment.ct.vertebrae.fill_marrow`: a pedicle's fatty core can
    be darker than the threshold). It does not depend on how generously a label source draws the vertebra: a screw
    is "in bone" where the image shows bone, and a label moved off its vertebra has none under it.
    """
    if not whole_mask.any():
        return np.zeros(whole_mask.shape, bool)
    spacing = np.linalg.norm(mask_affine[:3, :3], axis=0)
    near = ndimage.distance_transform_edt(~whole_mask, sampling=spacing) <= BONE_NEAR_LABEL_MM
    ijk = np.argwhere(near)
    hu = sample_values(ct_array, ct_affine, ijk @ mask_affine[:3, :3].T + mask_affine[:3, 3], order=0, outside=np.nan)
    bone = np.zeros(whole_mask.shape, np.int16)
    bone[tuple(ijk[hu >= BONE_EDGE_HU].T)] = 1
    fill_marrow(bone, spacing)
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


# ---------------------------------------------------------------------------------------------
# trajectory files


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
