"""Automatic screw plans: traditional, cortical bone and S1 promontory-directed trajectories.

Each plan is a :class:`~spinebq.measure.ct.trajectory.Screw` of standard sizes fitted in the bone the image shows
(:func:`~spinebq.measure.ct.trajectory.bone_in_image`) and downsized until the breach test of its level passes
(never planned through the pedicle wall); at L1-L5 it is also kept out of the other vertebrae's labels (never planned
into the facet joint above, which a construct may end below; S1's facet with L5 lies inside every construct that holds
an S1 screw). :func:`~spinebq.measure.ct.trajectory.measure_screw` measures it.

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
                 kept 2 mm short of the promontory's cortex, at most 50 mm long [sra2011s1]; the sagittal angle is
                 the one that keeps the screw in bone; standard sizes, downsized until S1's breach test passes
                 (:func:`~spinebq.measure.ct.trajectory.sacral_breaches`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spinebq.constants import ROI_STEP_MM
from spinebq.measure.ct.frame import VertebraFrame
from spinebq.measure.ct.pedicles import Pedicle, best_medial_angle
from spinebq.measure.ct.sampling import cylinder_points, sample_mask
from spinebq.measure.ct.trajectory import (
    BREACH_FRACTION, DEFAULT_DIAMETER_MM, HEAD_SEAT_MM, MAX_ISTHMUS_FRACTION, Screw, sacral_breaches,
    touches_adjacent_vertebra)
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
#: :func:`~spinebq.measure.ct.trajectory.measure_screw`; a narrower standard screw is taken when the sized one does
#: not, no plan when none does [M].
PLAN_CLEARANCE_MM = 0.25
#: A shortened traditional screw still reaches this far into the vertebral body past its posterior wall, mm [M].
BODY_PURCHASE_MM = 10.0
#: Step of the medial angles tried when the best one leaves no standard screw in bone, degrees.
MEDIAL_SEARCH_STEP_DEG = 2.5
#: When no angle through the isthmus centre takes the screw sized to the isthmus, the axis is moved this far (mm)
#: from the centre, cranially, caudally, medially, laterally and diagonally, and the angles are tried again: the
#: centre is the mean of the narrowest section's voxels, which can lie off the middle of the bone a screw passes.
CENTRE_SHIFT_MM = 1.5
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
SACRAL_SOURCE = ("promontory-directed S1 pedicle screw (Lehman et al., Spine 2002 [lehman2002]), 30 degrees medial "
                 "(AO Surgery Reference, S1 pedicle screw insertion [aosurgery2026s1]), at most 50 mm long (safe S1 length "
                 "31.9-53.1 mm in women on CT [sra2011s1])")


@dataclass
class PlanOptions:
    """Options of the automatic plans; ``None`` sizes to the anatomy."""

    diameter_mm: float | None = None
    length_mm: float | None = None
    cortical_diameter_mm: float = CORTICAL_DIAMETER_MM
    cortical_length_mm: float = CORTICAL_LENGTH_MM


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
                     affine: np.ndarray, grid, options: PlanOptions, *,
                     neighbours: np.ndarray | None = None) -> Screw | str:
    """Plan a straight-forward pedicle screw; return the :class:`Screw` or the reason there is none.

    The medial angle keeping most bone around the axis comes first; when no standard screw passes the pedicle
    there without breaching (:func:`breaches` with :data:`PLAN_CLEARANCE_MM`) and, given the other vertebrae's labels
    (``neighbours``), clear of them (:func:`~spinebq.measure.ct.trajectory.touches_adjacent_vertebra`: the facet joint
    above), the other angles of the published range are tried, nearest first, and the widest screw that passes is
    kept. When none of them takes the screw sized to the isthmus (:func:`size_to_pedicle`), the angles are tried again
    with the axis moved :data:`CENTRE_SHIFT_MM` off the isthmus centre in each of eight directions across the pedicle;
    a wider screw found so is kept with a note saying where its axis passes.
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
                                      shift.vector_mm, neighbours)
            if isinstance(planned, str):
                chosen = chosen or planned
                continue
            if medial != best:
                planned.notes.append(f"medial angle {medial:.0f} deg instead of {best:.0f} deg (the angle keeping most "
                                     "bone around the axis): the widest standard screw that stays in the pedicle")
            if shift.words:
                planned.notes.append(f"axis {CENTRE_SHIFT_MM:g} mm {shift.words} of the isthmus centre: no angle "
                                     "through the centre takes the screw sized to the isthmus without a breach"
                                     + (" or the next vertebra" if neighbours is not None else ""))
            if isinstance(chosen, Screw) and chosen.diameter_mm >= planned.diameter_mm:
                continue
            chosen = planned
            if options.diameter_mm is not None or chosen.diameter_mm >= size_to_pedicle(pedicle.width_mm)[0]:
                return chosen
    return chosen


@dataclass(frozen=True)
class _Shift:
    """A move of the screw axis off the isthmus centre (LPS mm) and its words for the plan's note."""

    vector_mm: np.ndarray
    words: str


#: Directions the axis may move off the isthmus centre, in order: (cranial, lateral) steps and their words.
_SHIFT_DIRECTIONS = ((1, 0, "cranial"), (-1, 0, "caudal"), (0, -1, "medial"), (0, 1, "lateral"),
                     (1, -1, "cranial and medial"), (1, 1, "cranial and lateral"), (-1, -1, "caudal and medial"),
                     (-1, 1, "caudal and lateral"))


def _centre_shifts(frame: VertebraFrame, sign: float) -> list[_Shift]:
    """No shift, then :data:`CENTRE_SHIFT_MM` in each of :data:`_SHIFT_DIRECTIONS` across the pedicle (``sign`` +1 for
    the left pedicle, whose lateral side is the frame's left)."""
    shifts = [_Shift(np.zeros(3), "")]
    for cranial, lateral, words in _SHIFT_DIRECTIONS:
        vector = cranial * frame.superior + lateral * sign * frame.left
        shifts.append(_Shift(CENTRE_SHIFT_MM * vector / np.linalg.norm(vector), words))
    return shifts


def _traditional_at(level: str, pedicle: Pedicle, sign: float, medial: float, grid, whole_mask: np.ndarray,
                    body_mask: np.ndarray, affine: np.ndarray, options: PlanOptions, shift_mm: np.ndarray,
                    neighbours: np.ndarray | None) -> Screw | str:
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
                        whole_mask, body_mask, affine, grid.frame.superior, min_length_mm=back + t_wall + BODY_PURCHASE_MM,
                        neighbours=neighbours)


def standard_length(length_mm: float) -> float:
    """The longest standard length (:data:`STANDARD_LENGTHS_MM`) not longer than ``length_mm``; NaN if none."""
    fitting = [v for v in STANDARD_LENGTHS_MM if v <= length_mm + 1e-6]
    return fitting[-1] if fitting else math.nan


def breaches(screw: Screw, whole_mask: np.ndarray, body_mask: np.ndarray, affine: np.ndarray, up: np.ndarray, *,
             extra_radius_mm: float = 0.0, step_mm: float = ROI_STEP_MM) -> bool:
    """The breach test of :func:`~spinebq.measure.ct.trajectory.measure_screw` on the screw widened by
    ``extra_radius_mm``: more than :data:`BREACH_FRACTION` of its points past the head's seat and behind the body lie
    outside ``whole_mask``; or more than that fraction of its points in the body (``whole_mask`` is the bone in the
    image, :func:`~spinebq.measure.ct.trajectory.bone_in_image`, whose body need not lie under the body label: a
    label moved onto a disc)."""
    points, t, _ = cylinder_points(screw.entry_mm, screw.target_mm, screw.diameter_mm / 2 + extra_radius_mm,
                                   step_mm=step_mm, up=up)
    past_seat = t >= HEAD_SEAT_MM
    in_body = sample_mask(body_mask, affine, points)
    outside = ~sample_mask(whole_mask, affine, points)
    return any(part.any() and outside[part].mean() > BREACH_FRACTION for part in (past_seat & ~in_body, past_seat & in_body))


def _fit_in_bone(screw: Screw, whole_mask: np.ndarray, body_mask: np.ndarray, affine: np.ndarray,
                up: np.ndarray, *, min_length_mm: float = 0.0, neighbours: np.ndarray | None = None) -> Screw | str:
    """``screw``, or the widest narrower standard diameter (then the longest shorter standard length, not below
    ``min_length_mm``) whose cylinder widened by :data:`PLAN_CLEARANCE_MM` passes the breach test and, given the
    other vertebrae's labels (``neighbours``), stays out of them (:func:`touches_adjacent_vertebra`: the facet joint);
    a reason when none does (a plan is never made through the pedicle wall)."""
    lengths = [screw.length_mm] + [v for v in reversed(STANDARD_LENGTHS_MM) if min_length_mm <= v < screw.length_mm - 1e-6]
    for diameter in sorted((d for d in STANDARD_DIAMETERS_MM if d <= screw.diameter_mm), reverse=True):
        for length in lengths:
            candidate = Screw(screw.level, screw.side, screw.entry_mm, screw.entry_mm + length * screw.direction,
                              diameter, screw.source, list(screw.notes))
            if breaches(candidate, whole_mask, body_mask, affine, up, extra_radius_mm=PLAN_CLEARANCE_MM) or (
                    neighbours is not None and touches_adjacent_vertebra(candidate, neighbours, affine, up,
                                                                          extra_radius_mm=PLAN_CLEARANCE_MM)):
                continue
            changes = [f"diameter {screw.diameter_mm:g} -> {diameter:g} mm"] if diameter < screw.diameter_mm else []
            changes += [f"length {screw.length_mm:g} -> {length:g} mm"] if length < screw.length_mm - 1e-6 else []
            candidate.notes.append((f"downsized ({', '.join(changes)}): the largest standard size" if changes else
                                    "sized") + f" that keeps {PLAN_CLEARANCE_MM:g} mm of bone around it behind the body")
            return candidate
    return (f"no standard screw ({_size_range(STANDARD_DIAMETERS_MM[0], screw.diameter_mm)} mm, "
            f"{_size_range(STANDARD_LENGTHS_MM[0], screw.length_mm)} mm) keeps {PLAN_CLEARANCE_MM:g} mm of bone around it "
            "in this pedicle" + (" clear of the next vertebra" if neighbours is not None else "") + ": no plan")


def _size_range(smallest: float, largest: float) -> str:
    """``"4.5-7.5"``, or one size where the range holds only one."""
    return f"{largest:g}" if largest <= smallest + 1e-6 else f"{smallest:g}-{largest:g}"


def plan_cortical(level: str, pedicle: Pedicle, frame: VertebraFrame, whole_mask: np.ndarray, body_mask: np.ndarray,
                  affine: np.ndarray, grid, options: PlanOptions, *,
                  neighbours: np.ndarray | None = None) -> Screw | str:
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
    return screw if options.diameter_mm is not None else _fit_in_bone(screw, whole_mask, body_mask, affine, frame.superior,
                                                                      neighbours=neighbours)


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
    :data:`PLAN_CLEARANCE_MM` passes S1's breach test (:func:`~spinebq.measure.ct.trajectory.sacral_breaches`, the
    same for every label source) wins; then the longer; then the medial angle nearest :data:`SACRAL_MEDIAL_DEG`.
    ``bone_mask`` (:func:`~spinebq.measure.ct.trajectory.bone_in_image`, default the label) is what the promontory's
    cortex, the entry and the breach test look at; the promontory's apex is read in the label.
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
