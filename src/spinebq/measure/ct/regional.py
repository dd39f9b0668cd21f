"""Regional density, virtual screws, heights and contrast for every vertebra of a measured CT.

Runs after :func:`spinebq.measure.ct.levels.measure_ct` on its :class:`~spinebq.measure.ct.levels.CtResult` (which it
reads, never changes) and returns a :class:`~spinebq.records.regional.RegionalRecord`; per vertebra it holds (keys of
``measurements.json``, where :func:`spinebq.pipeline.analyse_ct` writes them; nothing existing is renamed):

``regions``                 [xu2025]'s regions: ``A`` central trabecular body (QCT-style elliptic slab),
                            ``B.left|right`` cancellous pedicle around the isthmus, ``C.left|right`` the
                            screw corridor (the traditional trajectory's cylinder); mean/median HU, voxels, vBMD
``pedicles``                isthmus centre, width, height, measured axis angles per side
``trajectories.left|right`` the screw of each side (planned, from a file or found in the image) and its bone
``trajectories_cortical``   the cortical bone trajectory plans (trajectory mode ``auto`` only)
``st_hu``, ``b_hu``, ``hu_ratio``  [yang2026]: mean ST-HU of both sides (2D rectangle), three-slice body HU
                            (``hu_2d``), their ratio; ``st_hu_3d`` and ``hu_ratio_3d`` with the cylinders
``heights_mm``, ``genant_grade``, ``deformity_type``, ``height_ratios``, ``fracture``
``hu_contrast_corrected``   when a contrast correction is chosen: the corrected ``hu_3d``/``hu_2d`` beside raw
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS, sort_levels
from spinebq.calibrate.core import Calibration, no_calibration
from spinebq.constants import GENANT_THRESHOLDS, METAL_HU, ROI_STEP_MM
from spinebq.errors import OptionError
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.calibrate.contrast import CORRECTIONS, contrast_phase, correction_delta_hu
from spinebq.measure.ct.levels import NO_CANAL_METHOD
from spinebq.measure.ct.heights import body_heights, genant_grade
from spinebq.measure.ct.pedicles import SIDES, find_pedicles, own_frame, superior_axis
from spinebq.measure.ct.plans import (
    MEDIAL_ANGLE_RANGE_DEG, MEDIAL_ANGLE_SOURCE, SACRAL_SOURCE, PlanOptions, plan_cortical, plan_sacral, plan_traditional,
)
from spinebq.measure.ct.sampling import sample_values, value_statistics, voxel_count
from spinebq.measure.ct.trajectory import (
    SACRAL_BREACH_SOURCE, SHELL_MM, Screw, bone_in_image, file_screw_problem, measure_screw, read_trajectory_file,
)
from spinebq.records.regional import (
    Heights, LevelRegional, PedicleRecord, RegionalRecord, RegionalSummary, RegionRecord, RegionsRecord,
    TrajectoryRecord,
)
from spinebq.records.roi import RoiStats
from spinebq.vocabulary import LabelContent

#: Half thickness of region A along the vertebra's axis, mm (QCT's 9 mm slab [M]).
REGION_A_HALF_THICKNESS_MM = 4.5
#: Largest voxel edge (mm) at which a Genant grade is given without a caveat.
GENANT_MAX_VOXEL_MM = 2.0
#: Trajectory modes besides a file path.
TRAJECTORY_MODES = ("none", "auto", "from-screws")
#: Levels that get automatic screws.
AUTO_LEVELS = ("T11", "T12", "T13", "L1", "L2", "L3", "L4", "L5", "L6", "S1")
#: Why S1 has no pedicle record and no region B: the lumbar pedicle model follows a narrow pedicle behind the body to its
#: isthmus; the sacral pedicle is short and wide and merges with the ala, and on the real CT the model took 5-6 mm of
#: bone 43 mm beside the midline for it (benchmarks/ct.md, "S1 plans and per-level plausibility").
SACRAL_PEDICLE_REASON = ("the lumbar pedicle model finds no isthmus in S1's short, wide sacral pedicle (S1 screws are "
                         "planned and checked with S1's own test)")
#: Why a level has no screw when none was asked for (``trajectory`` ``"none"``: ``spinebq ct --trajectory none``, or the
#: screening profile of ``spinebq batch``), with the flags that plan them.
NO_TRAJECTORY_REQUESTED = ("no screw trajectory was asked for (spinebq ct plans them with --trajectory auto, its "
                           "default; spinebq batch only with --profile full)")


@dataclass
class RegionalOptions:
    """What :func:`measure_regional` does.

    Attributes
    ----------
    trajectory : str
        ``"none"``, ``"auto"``, ``"from-screws"`` or the path of a trajectory file.
    trajectory_voxels : bool
        The file's points are voxel indices of the input image.
    plan : PlanOptions
        Screw size options of the automatic plans.
    shell_mm : float
        Thickness of the bone-screw interface shell.
    bloom_mm : float
        Margin around real metal left out of every ROI (blooming), ``from-screws`` only.
    contrast_phase : str
        ``"auto"`` (header, else the vessels) or a phase name.
    contrast_correction : str
        One of :data:`spinebq.calibrate.contrast.CORRECTIONS`.
    genant_minimum : float
        Height reduction below which the Genant grade is 0.
    postop : Volume, optional
        With ``from-screws``: the post-operative CT holding the screws. It is registered rigidly onto the
        CT being measured (the pre-operative one) and the screws are measured there, as [yang2026] did.
    """

    trajectory: str = "auto"
    trajectory_voxels: bool = False
    plan: PlanOptions = field(default_factory=PlanOptions)
    shell_mm: float = SHELL_MM
    bloom_mm: float = 2.0
    contrast_phase: str = "auto"
    contrast_correction: str = "none"
    genant_minimum: float = GENANT_THRESHOLDS[0]
    postop: Volume | None = None


@dataclass
class RegionalImages:
    """The objects behind a :class:`~spinebq.records.regional.RegionalRecord`, for pictures, plan files and other tools."""

    screws: dict = field(default_factory=dict)  # (level, side, kind) -> Screw
    pedicles: dict = field(default_factory=dict)  # level -> VertebraPedicles
    frames: dict = field(default_factory=dict)  # level -> own VertebraFrame
    found_screws: list = field(default_factory=list)
    implants: Any = None  # spinebq.measure.ct.implants.screws.ImplantFindings with from-screws


def measure_regional(ct: Volume, labels: LabelMap | Volume, result, options: RegionalOptions | None = None, *,
                     calibration: Calibration | None = None, metal_hu: float = METAL_HU,
                     progress=None) -> RegionalRecord:
    """Regions, trajectories, heights and contrast of every vertebra of a :class:`~spinebq.measure.ct.levels.CtResult`.

    Parameters
    ----------
    ct : Volume
        The CT in HU.
    labels : LabelMap or Volume
        The VerSe label map the CT was measured with (``labels.content``: whole vertebrae, or bodies only; a plain
        Volume is read by :meth:`~spinebq.image.labelmap.LabelMap.of`).
    result : CtResult
        The result of :func:`~spinebq.measure.ct.levels.measure_ct`: its bodies, frames, ellipses, per-level HU and
        QC are read, nothing in it is changed.
    options : RegionalOptions
        Trajectory mode, sizes, contrast handling.
    calibration : Calibration, optional
        HU -> vBMD for the regions.
    metal_hu : float
        Metal threshold, HU: points whose nearest voxel is above it never enter any ROI (regions A, B
        and C, the screw cylinders, shells and rectangles); it also finds the metal of ``from-screws``.
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    RegionalRecord
        Per level (the levels with a frame) a :class:`~spinebq.records.regional.LevelRegional`, the summary's part
        and the method; ``images`` holds the screws, pedicles and frames (:class:`RegionalImages`).
    """
    options = options or RegionalOptions()
    calibration = calibration or no_calibration()
    vbmd = calibration.vbmd_mg_cm3 if calibration.calibrated else None
    if options.contrast_correction not in CORRECTIONS:
        raise OptionError("contrast_correction", f"{options.contrast_correction!r} is not one of {', '.join(CORRECTIONS)}")
    labels = LabelMap.of(labels)
    whole_content = labels.content is not LabelContent.BODY
    out = RegionalImages()
    method: dict[str, Any] = {}
    implants = None
    names = [n for n in result.vertebrae if n in result.frames]
    order = sort_levels(result.frames)
    centroids = {n: result.frames[n].centre_mm for n in order}

    # heights and fractures first: every density summary below carries the fracture flags
    heights = {}
    label_boxes = ndimage.find_objects(np.clip(labels.array, 0, None).astype(np.int32))
    for name in names:
        vid = VERSE_IDS[name]
        # the frame looks at the whole arch (the box of the whole label), the heights at the body's own box
        box = _level_box(label_boxes, result.bodies, vid, ct)
        body = result.bodies[box] == vid
        whole = (labels.array[box] == vid) if whole_content else body
        frame = own_frame(whole, body, ct.crop(box).affine, result.frames[name],
                          superior=superior_axis(name, order, centroids))
        out.frames[name] = frame
        box, body = _body_box(result.bodies, vid)
        heights[name] = body_heights(body, ct.crop(box).affine, frame)
    grades = _heights_and_grades(result, names, order, heights, options, float(max(ct.spacing_mm)))

    screws = trajectory_file = None
    if options.trajectory not in TRAJECTORY_MODES:
        screws, trajectory_file = _file_screws(_screws_from_file(options, ct), labels, ct, out.frames,
                                               Path(options.trajectory).name)
    exclude = None
    if options.trajectory == "from-screws":
        from spinebq.measure.ct.implants.metal import find_metal_segments
        from spinebq.measure.ct.implants.screws import assign_metal, metal_exclusion

        if progress:
            progress("finding metal screws" + (" in the post-operative CT" if options.postop is not None else ""))
        if options.postop is None:
            out.implants = assign_metal(find_metal_segments(ct, metal_hu=metal_hu), labels, out.frames)
            exclude = metal_exclusion(ct, metal_hu, options.bloom_mm)
        else:
            from spinebq.measure.ct.implants.registration import register_rigid

            metal = find_metal_segments(options.postop, metal_hu=metal_hu)
            if progress:
                progress("registering the post-operative CT onto this one (rigid)")
            registration = register_rigid(ct, options.postop, pre_labels=labels.array, metal_hu=metal_hu)
            method["registration"] = registration.to_dict()
            out.implants = assign_metal([m.moved(registration) for m in metal], labels, out.frames,
                                        note=", mapped from the post-operative CT by rigid registration")
        out.found_screws = list(out.implants.screws)
        implants = out.implants.to_dict()
        screws = [f.screw for f in out.found_screws]

    levels: dict[str, LevelRegional] = {}
    for name in names:
        if progress:
            progress(f"{name}: regions, pedicles and screws")
        entry = result.vertebrae[name]
        vid = VERSE_IDS[name]
        box = _level_box(label_boxes, result.bodies, vid, ct)
        body = result.bodies[box] == vid
        affine = ct.crop(box).affine
        whole = (labels.array[box] == vid) if whole_content else body
        frame = out.frames[name]
        # the bone pedicles are measured, plans stay and screws are read in, whatever the trajectory mode; the other
        # vertebrae's labels are not this one's bone
        neighbours = np.where(whole, 0, labels.array[box]) if whole_content else None
        bone = bone_in_image(ct.array, ct.affine, whole, affine, others=None if neighbours is None else neighbours > 0)
        invalid = "cut_by_field_of_view" in entry["qc"]
        region_a = _region_a(ct, result, name, metal_hu, vbmd, invalid)
        region_b: dict[str, RegionRecord] = {}
        trajectories: dict[str, TrajectoryRecord] = {}
        cortical: dict[str, TrajectoryRecord] = {}
        pedicles = None
        if whole_content and not invalid and name == "S1":
            pedicles = {side: PedicleRecord(False, SACRAL_PEDICLE_REASON) for side in SIDES}
            region_b = {side: RegionRecord.missing(SACRAL_PEDICLE_REASON) for side in SIDES}
        elif whole_content and not invalid:
            found = find_pedicles(whole, body, affine, result.frames[name], superior=frame.superior, bone_mask=bone)
            out.pedicles[name] = found
            pedicles = {side: PedicleRecord.from_json(ped.to_dict()) for side, ped in found.pedicles.items()}
            for side, ped in found.pedicles.items():
                region_b[side] = _points_region(ct, ped.cancellous_points_mm, metal_hu, vbmd,
                                                "no pedicle" if not ped.found else None)
        else:
            reason = "the vertebra is cut by the field of view" if invalid else "the labels hold only the vertebral bodies"
            for side in SIDES:
                region_b[side] = RegionRecord.missing(reason)

        level_screws: dict[str, TrajectoryRecord] = {}
        if options.trajectory == "auto":
            if name not in AUTO_LEVELS:
                reason = f"no automatic plan for {name}"
            elif name == "S1" and whole_content and not invalid:
                reason = None
            elif name not in out.pedicles:
                reason = "the vertebra is cut by the field of view" if invalid else "the labels hold only the vertebral bodies"
            else:
                reason = None
            for side in SIDES:
                if reason:
                    trajectories[side] = TrajectoryRecord.missing(reason)
                    continue
                if name == "S1":
                    # a sacrum label whose body was not told from the rest has no body part (S1's breach test does not use it)
                    s1_body = body if entry["body_method"] != NO_CANAL_METHOD else np.zeros_like(body)
                    planned = plan_sacral(name, side, frame, whole, affine, options.plan, bone_mask=bone)
                    if isinstance(planned, str):
                        trajectories[side] = TrajectoryRecord.missing(planned)
                    else:
                        out.screws[(name, side, "sacral")] = planned
                        trajectories[side] = TrajectoryRecord.from_json(measure_screw(
                            ct.array, ct.affine, planned, whole, s1_body, affine, frame, metal_hu=metal_hu,
                            shell_mm=options.shell_mm, vbmd=vbmd, bone_mask=bone, neighbours=neighbours))
                    cortical[side] = TrajectoryRecord.missing("no cortical bone trajectory for S1")
                    continue
                ped = out.pedicles[name].pedicles[side]
                for kind, planner in (("traditional", plan_traditional), ("cortical", plan_cortical)):
                    planned = planner(name, ped, out.pedicles[name].frame, bone, body, affine, out.pedicles[name].grid,
                                      options.plan, neighbours=neighbours)
                    if isinstance(planned, str):
                        measured = TrajectoryRecord.missing(planned)
                    else:
                        out.screws[(name, side, kind)] = planned
                        measured = TrajectoryRecord.from_json(measure_screw(
                            ct.array, ct.affine, planned, whole, body, affine, out.pedicles[name].frame, pedicle=ped,
                            metal_hu=metal_hu, shell_mm=options.shell_mm, vbmd=vbmd, bone_mask=bone, neighbours=neighbours))
                    if kind == "traditional":
                        level_screws[side] = measured
                    else:
                        cortical[side] = measured
        elif screws is not None:
            for screw in (s for s in screws if s.level == name):
                ped = out.pedicles[name].pedicles[screw.side] if name in out.pedicles else None
                ped_frame = out.pedicles[name].frame if name in out.pedicles else frame
                out.screws[(name, screw.side, screw.source)] = screw
                measured = measure_screw(
                    ct.array, ct.affine, screw, whole, body, affine, ped_frame, pedicle=ped, metal_hu=metal_hu,
                    shell_mm=options.shell_mm, vbmd=vbmd, exclude=exclude,
                    shell_offset_mm=options.bloom_mm if exclude is not None else 0.0, bone_mask=bone,
                    neighbours=neighbours)
                if exclude is not None:
                    measured.update(_found_details(out.found_screws, screw))
                level_screws[screw.side] = TrajectoryRecord.from_json(measured)
        for side in SIDES:
            if side not in trajectories:
                trajectories[side] = level_screws.get(side) or TrajectoryRecord.missing(
                    _no_screw_reason(options, name, side, trajectory_file))
        regions = RegionsRecord(A=region_a, B=region_b, C={side: trajectories[side].corridor() for side in SIDES})
        levels[name] = LevelRegional(**grades[name], trajectories=trajectories, pedicles=pedicles, regions=regions,
                                     trajectories_cortical=cortical or None,
                                     **_ratios(trajectories, entry.get("hu_2d", math.nan)))

    contrast, corrected, summary_corrected = _contrast(ct, result, names, options)
    levels = {name: replace(level, hu_contrast_corrected=corrected.get(name)) for name, level in levels.items()}
    method.update({
        "regions": {"A": f"elliptic slab of the mid-body three-slice ellipse, {2 * REGION_A_HALF_THICKNESS_MM:.0f} mm thick "
                         "along the vertebra's axis (QCT-style central region, [xu2025] region A)",
                    "B": "pedicle cross-sections within 4 mm of the isthmus, 1 mm cortex peeled ([xu2025] region B)",
                    "C": "the traditional screw's cylinder ([xu2025] region C, the screw corridor)"},
        "trajectory": options.trajectory if options.trajectory in TRAJECTORY_MODES else f"file {Path(options.trajectory).name}",
        "st_hu": "mean of the left and right 2D rectangle ROIs along the screws in the axial plane (Yang et al., "
                 "Global Spine J 2026 [yang2026]); st_hu_3d: mean of the cylinder means",
        "b_hu": "three-slice elliptical body HU (hu_2d, [yang2026]'s B-HU)",
        "hu_ratio": "st_hu / b_hu ([yang2026])",
        "medial_angle_range_deg": MEDIAL_ANGLE_RANGE_DEG,
        "medial_angle_source": MEDIAL_ANGLE_SOURCE,
        "s1_plan": f"{SACRAL_SOURCE}; {SACRAL_BREACH_SOURCE}",
        "heights": "anterior/middle/posterior body heights along the vertebra's own axis at 85/50/15 % of its depth from "
                   "the back, in sagittal planes across the central half of the body (as TotalSegmentator's spine report), "
                   "each extent where the interpolated mask crosses 0.5, the median over the planes",
        "pedicles": "each pedicle followed behind the body's posterior wall in the vertebra's own frame; the isthmus is "
                    "its narrowest section, its width the width of that section",
        "screw_roi": f"points every {ROI_STEP_MM} mm in the cylinder of the screw (and a shell of shell_mm around it), HU interpolated "
                     "trilinearly; voxels above the metal threshold never enter",
    })
    summary = _summary(result, names, levels, contrast, summary_corrected, implants, trajectory_file)
    return RegionalRecord(levels=levels, summary=summary, method=method, images=out)


def _no_screw_reason(options: RegionalOptions, name: str, side: str, trajectory_file: dict | None = None) -> str:
    if options.trajectory == "none":
        return NO_TRAJECTORY_REQUESTED
    if options.trajectory == "from-screws":
        return f"no metal screw found in the {side} side of {name}"
    refused = [s["reason"] for s in (trajectory_file or {}).get("not_used", ()) if (s["level"], s["side"]) == (name, side)]
    return refused[0] if refused else f"the trajectory file has no {side} screw for {name}"


def _file_screws(screws: list[Screw], labels: LabelMap, ct: Volume, frames: dict, file_name: str
                 ) -> tuple[list[Screw], dict]:
    """The screws of a trajectory file that stand for the level and side they name, and the file's account.

    A screw is not used when its level is not measured in this image, when
    :func:`~spinebq.measure.ct.trajectory.file_screw_problem` finds it elsewhere (outside the image, in another
    vertebra, across the midline), or when an earlier screw of the file already gives its level and side.

    Returns
    -------
    (list of Screw, dict)
        The screws to measure, and ``{"file", "screws", "used", "not_used"}`` (``summary.trajectory_file``): each
        screw not used with its number in the file, level, side and reason.
    """
    used: dict[tuple[str, str], int] = {}
    not_used = []
    ids = labels.array.astype(np.float32)  # sampled once per screw
    for number, screw in enumerate(screws, start=1):
        key = (screw.level, screw.side)
        if screw.level not in frames:
            problem = f"{screw.level} is not among the vertebrae labelled and measured in this image"
        elif key in used:
            problem = f"screw {used[key]} of the file already gives the {screw.side} screw of {screw.level}"
        else:
            problem = file_screw_problem(screw, ids, ct.affine, frames[screw.level])
        if problem is None:
            used[key] = number
            continue
        not_used.append({"screw": number, "level": screw.level, "side": screw.side,
                         "reason": f"screw {number} of {file_name} ({screw.level} {screw.side}) is not used: {problem}"})
    document = {"file": file_name, "screws": len(screws), "used": len(used), "not_used": not_used}
    return [screws[n - 1] for n in sorted(used.values())], document


def _body_box(bodies: np.ndarray, vid: int) -> tuple[tuple[slice, ...], np.ndarray]:
    found = ndimage.find_objects((bodies == vid).astype(np.uint8))
    box = found[0] if found and found[0] is not None else tuple(slice(0, n) for n in bodies.shape)
    return box, bodies[box] == vid


def _level_box(label_boxes: list, bodies: np.ndarray, vid: int, ct: Volume) -> tuple[slice, ...]:
    """The box of a level's whole label (its body's box without one), grown by 10 mm: frame, heights and pedicles
    all look at the same voxels, so the posterior axis points at the centroid of the whole arch."""
    label_box = label_boxes[vid - 1] if vid - 1 < len(label_boxes) else None
    box = label_box if label_box is not None else _body_box(bodies, vid)[0]
    return _grow(box, ct.shape, 10.0, ct.spacing_mm)


def _grow(box, shape, margin_mm: float, spacing) -> tuple[slice, ...]:
    pads = [int(math.ceil(margin_mm / s)) for s in spacing]
    return tuple(slice(max(0, b.start - p), min(n, b.stop + p)) for b, n, p in zip(box, shape, pads))


def _region_a(ct: Volume, result, name: str, metal_hu: float, vbmd, invalid: bool) -> RegionRecord:
    """Region A: the mid-body ellipse of the three-slice method extruded into a 9 mm slab."""
    rois = result.ellipses.get(name)
    if invalid or not rois or not rois[1].centre_mm or not math.isfinite(rois[1].mean_hu):
        return RegionRecord.missing("no mid-body ellipse (vertebra cut by the field of view or too small)")
    roi, frame = rois[1], result.frames[name]
    a, b = roi.semi_axis_left_mm, roi.semi_axis_posterior_mm
    grid = np.arange(-max(a, b), max(a, b) + ROI_STEP_MM / 2, ROI_STEP_MM)
    heights = np.arange(-REGION_A_HALF_THICKNESS_MM, REGION_A_HALF_THICKNESS_MM + ROI_STEP_MM / 2, ROI_STEP_MM)
    l, p = np.meshgrid(grid, grid, indexing="ij")
    inside = (l / a) ** 2 + (p / b) ** 2 <= 1
    l, p = l[inside], p[inside]
    centre = np.asarray(roi.centre_mm)
    points = (centre + heights[:, None, None] * frame.superior + p[None, :, None] * frame.posterior
              + l[None, :, None] * frame.left).reshape(-1, 3)
    region = _points_region(ct, points, metal_hu, vbmd, None)
    return region if region.stats is None else replace(region, method="QCT-style elliptic slab, 9 mm thick, at mid-body")


def _points_region(ct: Volume, points: np.ndarray, metal_hu: float, vbmd, reason: str | None) -> RegionRecord:
    if reason or len(points) == 0:
        return RegionRecord.missing(reason or "empty region")
    hu = sample_values(ct.array, ct.affine, points)
    nearest = sample_values(ct.array, ct.affine, points, order=0)
    keep = np.isfinite(hu) & (nearest <= metal_hu)
    stats = value_statistics(hu[keep])
    return RegionRecord(stats=RoiStats(stats["mean"], stats["median"], stats["sd"], voxel_count(ct.affine, points[keep])),
                        points=stats["n"], vbmd_mg_cm3=vbmd(stats["mean"]) if vbmd else None)


def _ratios(trajectories: dict[str, TrajectoryRecord], b_hu: float | None) -> dict[str, Any]:
    """Per level: st_hu (mean of both sides' rectangles), b_hu (three-slice), hu_ratio ([yang2026])."""
    sides = [trajectories[s] for s in SIDES if s in trajectories]
    rect = [v for v in (s.rectangle_hu for s in sides) if v is not None and math.isfinite(v)]
    cyl = [v for v in (s.hu_mean for s in sides) if v is not None and math.isfinite(v)]
    st_hu = float(np.mean(rect)) if rect else math.nan
    st_hu_3d = float(np.mean(cyl)) if cyl else math.nan
    ok = b_hu is not None and math.isfinite(b_hu) and b_hu > 0
    return {"st_hu": st_hu, "st_hu_sides": len(rect), "st_hu_3d": st_hu_3d, "b_hu": b_hu,
            "hu_ratio": st_hu / b_hu if ok and math.isfinite(st_hu) else math.nan,
            "hu_ratio_3d": st_hu_3d / b_hu if ok and math.isfinite(st_hu_3d) else math.nan}


def _heights_and_grades(result, names, order, heights, options, coarse_mm: float) -> dict[str, dict[str, Any]]:
    """Per level: heights, Genant grade, deformity type, height ratios, fracture flag and the grade's details
    (``coarse_mm`` is the image's largest voxel edge)."""
    out = {}
    for name in names:
        h = heights[name]
        if "cut_by_field_of_view" in result.vertebrae[name]["qc"]:
            out[name] = {"heights": Heights(math.nan, math.nan, math.nan), "genant_grade": None, "deformity_type": None,
                         "height_ratios": None, "fracture": None,
                         "genant": {"reason": "the vertebra is cut by the field of view"}}
            continue
        if name == "S1":
            out[name] = {"heights": Heights.from_json(h.to_dict()), "genant_grade": None, "deformity_type": None,
                         "height_ratios": None, "fracture": None,
                         "genant": {"reason": "S1 is not graded: the Genant method grades T4-L5"}}
            continue
        n = order.index(name)
        neighbours = [heights[order[k]].posterior for k in (n - 1, n + 1)
                      if 0 <= k < len(order) and order[k] in heights and order[k] != "S1"
                      and "cut_by_field_of_view" not in result.vertebrae[order[k]]["qc"]]
        details = dict(genant_grade(h, neighbours, minimum_reduction=options.genant_minimum))
        ratios, grade, kind = details.pop("height_ratios"), details.pop("genant_grade"), details.pop("deformity_type")
        if grade is not None and coarse_mm > GENANT_MAX_VOXEL_MM:
            details["caveat"] = (f"voxels of {coarse_mm:.1f} mm (above {GENANT_MAX_VOXEL_MM:g} mm): one voxel is about a "
                                 "tenth of a body's height, so the grade may be one step off")
        out[name] = {"heights": Heights.from_json(h.to_dict()), "genant_grade": grade, "deformity_type": kind,
                     "height_ratios": ratios, "fracture": None if grade is None else grade > 0, "genant": details}
    return out


def _summary(result, names, levels: dict[str, LevelRegional], contrast: dict, corrected: float | None,
             implants: dict | None, trajectory_file: dict | None = None) -> RegionalSummary:
    levels_used = result.summary.get("levels_used", [])
    fractured = [n for n in names if levels[n].fracture and n != "S1"]
    in_summary = [n for n in levels_used if n in fractured]
    note = None
    if in_summary:
        note = ("levels " + ", ".join(in_summary) + " have a Genant deformity and are in "
                "this average: a fractured body reads denser; check them")
    used = [n for n in levels_used if n in levels and math.isfinite(levels[n].st_hu)]
    st_hu = float(np.mean([levels[n].st_hu for n in used])) if used else math.nan
    hu_ratio = float(np.mean([levels[n].hu_ratio for n in used if math.isfinite(levels[n].hu_ratio)])) if used else math.nan
    return RegionalSummary(fractured_levels=tuple(fractured), fractured_levels_in_summary=tuple(in_summary),
                           st_hu=st_hu, hu_ratio=hu_ratio, st_hu_levels=tuple(used), contrast=contrast,
                           fracture_note=note, hu_contrast_corrected=corrected, implants=implants,
                           trajectory_file=trajectory_file)


def _contrast(ct: Volume, result, names, options) -> tuple[dict, dict[str, dict], float | None]:
    """The contrast phase and correction; with a correction the corrected HU per level and of the summary."""
    levels = {n: VERSE_IDS[n] for n in ("L1", "L2", "L3") if n in names} or {n: VERSE_IDS[n] for n in names[:3]}
    phase = contrast_phase(ct.metadata, ct.array, ct.affine, result.bodies, levels, override=options.contrast_phase)
    delta, note = correction_delta_hu(phase["phase"], options.contrast_correction)
    phase.update({"correction": options.contrast_correction, "correction_delta_hu": delta, "correction_note": note,
                  "correction_reference": CORRECTIONS[options.contrast_correction]["reference"]})
    if options.contrast_correction == "none":
        return phase, {}, None
    corrected = {}
    for name in names:
        entry = result.vertebrae[name]
        corrected[name] = {k: entry.get(k, math.nan) - delta for k in ("hu", "hu_3d", "hu_3d_median", "hu_2d")}
        corrected[name]["correction"] = options.contrast_correction
    return phase, corrected, result.summary["hu"] - delta


def _screws_from_file(options: RegionalOptions, ct: Volume) -> list[Screw]:
    return read_trajectory_file(options.trajectory, voxel_to_mm=source_voxel_to_mm(ct), voxels=options.trajectory_voxels)


def source_voxel_to_mm(ct: Volume):
    """Function turning voxel indices of the input file into LPS mm.

    For NIfTI the file's own voxel grid (as stored, before spinebq reorders axes); for a DICOM series
    (column, row, slice) of the loaded, LPS-ordered array.
    """
    source = ct.metadata.get("source")
    if ct.metadata.get("format") == "NIfTI" and source and Path(source).exists():
        import nibabel as nib

        from spinebq.image.volume import RAS_TO_LPS

        affine = RAS_TO_LPS @ nib.load(source).affine
    else:
        affine = ct.affine
    return lambda ijk: np.asarray(ijk, dtype=float) @ affine[:3, :3].T + affine[:3, 3]


def _found_details(found, screw: Screw) -> dict:
    for f in found:
        if f.screw is screw:
            return {"found": f.details()}
    return {}
