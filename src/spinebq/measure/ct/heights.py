"""Vertebral body heights and the Genant semiquantitative fracture grade (docs/methods.md section 6).

Heights are measured on the body mask along the vertebra's own height axis, in sagittal planes of
its frame across the central half of the body's width (as TotalSegmentator's spine report does):
in each plane the body's depth is found along the posterior axis through the centroid height, and the
anterior, middle and posterior heights are the body's extent along the height axis at 85 %, 50 % and
15 % of that depth from the back. The median over the planes is reported (the spine report keeps the
plane with the largest spread instead; both agree within a voxel on the shared CT).

Each extent runs between the points where the linearly interpolated mask crosses 0.5 (the mask's smooth
outline, found to a fraction of the 0.25 mm sampling step). The spine report counts the samples inside every
half voxel instead, which reads a body up to a voxel short (1.5-3 mm on a 3 mm CT, 0.35-0.7 mm on a 0.7 mm
one): the same body then measured 1-3 mm taller after resampling.

Genant grade (Genant et al., JBMR 1993): the largest height reduction of

* wedge: ``1 - Ha / Hp`` (anterior height lost),
* biconcave: ``1 - Hm / max(Ha, Hp)`` (middle height lost),
* crush: ``1 - Hp / mean(Hp of the neighbours)`` (the whole body lower than the levels beside it),

graded 0 (< 20 %), 1 (20-25 %), 2 (25-40 %), 3 (> 40 %). A posterior height lower than the anterior
one is normal lordotic shape at L4-L5 and is not counted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spinebq.constants import GENANT_REFERENCE, GENANT_THRESHOLDS
from spinebq.measure.ct.frame import VertebraFrame
from spinebq.measure.ct.sampling import sample_values

#: Sagittal planes on which a deformity must show for a grade of 2 or 3 (one plane may be a partial-volume artefact).
MIN_PLANES_MODERATE = 2
#: Positions of the three heights as fractions of the body depth from the posterior wall.
POSITIONS = {"posterior": 0.15, "middle": 0.5, "anterior": 0.85}
#: Sagittal planes are placed across this central fraction of the body's width.
CENTRAL_WIDTH_FRACTION = 0.5
PLANE_STEP_MM = 5.0
STEP_MM = 0.25
#: The depth is measured this far inside the body's front and back (the spine report's 3 mm smoothing), mm.
DEPTH_INSET_MM = 3.0


@dataclass
class Heights:
    """Anterior, middle and posterior body height of one vertebra (mm); NaN with a reason when unmeasurable."""

    anterior: float
    middle: float
    posterior: float
    planes: int
    reason: str | None = None
    #: (anterior, middle, posterior) of every sagittal plane measured, mm.
    per_plane: tuple[tuple[float, float, float], ...] = ()

    def to_dict(self) -> dict:
        return {"anterior": self.anterior, "middle": self.middle, "posterior": self.posterior}


def _extent(mask: np.ndarray, affine: np.ndarray, origin: np.ndarray, direction: np.ndarray, half_range_mm: float,
            step_mm: float = STEP_MM, *, sub_step: bool = True) -> tuple[float, float] | None:
    """The run of the mask along a line through ``origin`` that contains it (or the longest run), as (start, end) mm.

    The mask is read by linear interpolation every ``step_mm``; with ``sub_step`` each end of the run is where the
    interpolated mask crosses 0.5, found between the last sample inside and the first outside (so the extent does
    not move in steps of the sampling or of the voxel size); without, the run ends at its last samples inside.
    """
    n = int(half_range_mm / step_mm)
    t = np.arange(-n, n + 1) * step_mm
    values = sample_values(mask.astype(np.float32), affine, origin + t[:, None] * direction, outside=0.0)
    inside = values >= 0.5
    if not inside.any():
        return None
    edges = np.diff(np.concatenate([[0], inside.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    centre = len(t) // 2
    run = next(((a, b) for a, b in zip(starts, ends) if a <= centre <= b), None)
    if run is None:
        longest = int(np.argmax(ends - starts))
        run = (starts[longest], ends[longest])
    a, b = run

    def crossing(i_in: int, i_out: int) -> float:
        if not sub_step or i_out < 0 or i_out >= len(t):
            return float(t[i_in])
        v_in, v_out = values[i_in], values[i_out]
        return float(t[i_in] + (t[i_out] - t[i_in]) * (v_in - 0.5) / (v_in - v_out))

    return crossing(a, a - 1), crossing(b, b + 1)


def body_heights(body_mask: np.ndarray, affine: np.ndarray, frame: VertebraFrame, *, selection: str = "median",
                 reading: str = "sub_voxel") -> Heights:
    """Measure the anterior, middle and posterior heights of a body mask on its frame.

    Parameters
    ----------
    body_mask : numpy.ndarray
        Boolean mask of the vertebral body.
    affine : numpy.ndarray
        Voxel -> LPS mm of the mask's grid.
    frame : VertebraFrame
        The vertebra's frame: heights run along ``superior``, depth along ``posterior``.
    selection : {"max_spread", "median"}
        Which plane's heights are reported: the plane with the largest spread between the three
        heights (TotalSegmentator's spine report), or the median of every plane.
    reading : {"sub_voxel", "spine_report"}
        Where a line leaves the body: where the interpolated mask crosses 0.5 (default), or, as the spine report
        reads it, the last point inside when stepping every half voxel along the height axis (kept to reproduce
        the report; it reads a body up to one voxel short).
    """
    points = np.argwhere(body_mask) @ affine[:3, :3].T + affine[:3, 3]
    if len(points) < 10:
        return Heights(math.nan, math.nan, math.nan, 0, "no body")
    rel = points - frame.centre_mm
    l = rel @ frame.left
    s_centre = float(np.mean(rel @ frame.superior))
    lo, hi = l.min(), l.max()
    margin = (1 - CENTRAL_WIDTH_FRACTION) / 2 * (hi - lo)
    planes = np.arange(lo + margin, hi - margin + 1e-6, PLANE_STEP_MM)
    width_step = float(np.linalg.norm(affine[:3, 0]))
    if abs(affine[:3, 0] @ frame.left) / width_step > math.cos(math.radians(10)):
        # the image's own sagittal planes (voxel centres), as the spine report scans them
        centres = np.unique(np.round(l / width_step))
        planes = np.array([c * width_step for c in centres if lo + margin <= c * width_step <= hi - margin])
        planes = planes[::max(1, int(round(PLANE_STEP_MM / width_step)))] if selection == "max_spread" else planes
    if reading == "spine_report":
        along = np.linalg.solve(affine[:3, :3], frame.superior)
        height_step, sub_step = 0.5 / float(np.linalg.norm(along)), False
    elif reading == "sub_voxel":
        height_step, sub_step = STEP_MM, True
    else:
        raise ValueError(f"reading must be 'sub_voxel' or 'spine_report', not {reading!r}")
    results = []
    for l_plane in planes:
        origin = frame.to_mm(s_centre, 0.0, l_plane)
        depth = _extent(body_mask, affine, origin, frame.posterior, 60.0, sub_step=sub_step)
        if depth is None:
            continue
        front, back = depth[0] + DEPTH_INSET_MM, depth[1] - DEPTH_INSET_MM
        heights = []
        for name in ("anterior", "middle", "posterior"):
            p = back - POSITIONS[name] * (back - front)
            run = _extent(body_mask, affine, frame.to_mm(s_centre, p, l_plane), frame.superior, 40.0, height_step,
                          sub_step=sub_step)
            heights.append(run[1] - run[0] if run else math.nan)
        if all(math.isfinite(h) and h > 0 for h in heights):
            results.append(heights)
    if not results:
        return Heights(math.nan, math.nan, math.nan, 0, "no sagittal plane crosses the body")
    table = np.array(results)
    if selection == "median":
        chosen = np.quantile(table, 0.5, axis=0, method="nearest")  # a value some plane measured
    else:
        chosen = table[int(np.argmax(table.max(axis=1) - table.min(axis=1)))]
    return Heights(*(round(float(v), 2) for v in chosen), len(results),
                   per_plane=tuple(tuple(round(float(v), 2) for v in row) for row in results))


def _planes_showing(heights: Heights, kind: str, neighbours: list[float]) -> int | None:
    """Number of sagittal planes whose own heights show a ``kind`` reduction of grade 2 or more; None without planes."""
    if not heights.per_plane:
        return None
    count = 0
    for ha, hm, hp in heights.per_plane:
        if kind == "wedge":
            reduction = 1 - ha / hp
        elif kind == "biconcave":
            reduction = 1 - hm / max(ha, hp)
        else:
            reduction = 1 - hp / float(np.mean(neighbours))
        count += reduction >= GENANT_THRESHOLDS[1]
    return count


def genant_grade(heights: Heights, neighbour_posteriors_mm: list[float] | None = None, *,
                 minimum_reduction: float = GENANT_THRESHOLDS[0]) -> dict:
    """Genant grade 0-3 and deformity type of one vertebra from its heights and its neighbours'.

    Parameters
    ----------
    heights : Heights
        This vertebra's heights.
    neighbour_posteriors_mm : list of float, optional
        Posterior heights of the vertebrae above and below (those measured).
    minimum_reduction : float
        Reduction below which the grade is 0 (Genant: 0.20).

    Returns
    -------
    dict
        ``genant_grade`` (int or None), ``deformity_type`` (``wedge``/``biconcave``/``crush`` or None),
        ``height_ratios`` (``anterior_posterior``, ``middle_posterior``, ``middle_anterior``),
        ``reductions`` (each type's reduction), ``reference``.
    """
    ha, hm, hp = heights.anterior, heights.middle, heights.posterior
    if not all(math.isfinite(v) and v > 0 for v in (ha, hm, hp)):
        return {"genant_grade": None, "deformity_type": None, "height_ratios": None, "reductions": None,
                "reason": heights.reason or "heights not measured", "reference": GENANT_REFERENCE}
    reductions = {"wedge": max(0.0, 1 - ha / hp), "biconcave": max(0.0, 1 - hm / max(ha, hp))}
    neighbours = [h for h in (neighbour_posteriors_mm or []) if h is not None and math.isfinite(h) and h > 0]
    reductions["crush"] = max(0.0, 1 - hp / float(np.mean(neighbours))) if neighbours else math.nan
    kind = max((k for k in reductions if math.isfinite(reductions[k])), key=lambda k: reductions[k])
    worst = reductions[kind]
    grade = 0
    if worst >= minimum_reduction:
        grade = 1 + sum(worst >= t for t in GENANT_THRESHOLDS[1:])
    planes_showing = _planes_showing(heights, kind, neighbours)
    note = None
    if grade >= 2 and planes_showing is not None and planes_showing < MIN_PLANES_MODERATE:
        note = (f"a {kind} deformity of grade {grade} shows on {planes_showing} sagittal plane(s) only: graded 1 "
                f"(grade 2 or 3 needs it on at least {MIN_PLANES_MODERATE})")
        grade = 1
    return {
        "genant_grade": grade,
        "deformity_type": kind if grade > 0 else None,
        "planes_showing_moderate_deformity": planes_showing,
        "plane_note": note,
        "height_ratios": {"anterior_posterior": ha / hp, "middle_posterior": hm / hp, "middle_anterior": hm / ha},
        "reductions": reductions,
        "compared_with_neighbours": len(neighbours),
        "reference": GENANT_REFERENCE,
    }
