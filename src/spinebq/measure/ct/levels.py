"""Measure every vertebra of a CT from a label map: body, ``hu_3d``, ``hu_2d``, vBMD, QC and summary."""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spinebq.anatomy import MEASURED_LEVELS, SUMMARY_LEVELS, VERSE_IDS, sort_levels
from spinebq.calibrate.core import ACR_REFERENCE, Calibration, acr_category, no_calibration
from spinebq.constants import METAL_HU, MIN_ROI_ML
from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import level_boxes
from spinebq.image.volume import Volume
from spinebq.segment.posterior import separate_body
from spinebq.vocabulary import LabelContent
from spinebq.measure.ct.ellipse import three_slice_rois
from spinebq.measure.ct.plausibility import LABELS_IMPLAUSIBLE, check_levels
from spinebq.measure.ct.frame import spine_frames
from spinebq.measure.ct.presets import DEFAULT_PRESET, get_preset
from spinebq.measure.ct.trabecular import roi_statistics, trabecular_weights
from spinebq.segment.ct.labelling import LEVEL_UNCONFIRMED

#: Mean trabecular HU above this suggests sclerosis, cement or a wrong label.
DENSE_HU = 350.0
#: SD of the ROI above this (HU) marks a heterogeneous ROI (focal lesion, cement, mislabelled cortex).
HETEROGENEOUS_SD_HU = 130.0
#: QC flags that keep a level out of the summary.
EXCLUDING_FLAGS = ("cut_by_field_of_view", "roi_too_small", "metal_in_body", "dense_roi", "heterogeneous_roi", "missing_slices",
                   LEVEL_UNCONFIRMED, LABELS_IMPLAUSIBLE)
#: ``body_method`` of a whole-vertebra label whose posterior elements could not be cut off.
NO_CANAL_METHOD = "no spinal canal found: whole label used"
#: ``body_method`` of a level whose body comes from the segmentation that made the labels (``bodies`` of measure_ct).
OWN_BODY_METHOD = "the segmentation's own body sub-region"
#: ``body_method`` of a level whose body comes from a TotalSegmentator ``vertebrae_body`` map given with its labels.
BODY_MAP_METHOD = "the body of TotalSegmentator's vertebrae_body map"


@dataclass
class CtResult:
    """What :func:`measure_ct` returns.

    Attributes
    ----------
    vertebrae : dict
        Per level (cranial to caudal) the measurements, with ``qc`` flags and ``excluded_reason``.
    summary : dict
        The mean over the summary levels that passed QC, naming the levels used and skipped.
    method : dict
        Preset, erosion, statistic, metal threshold and references.
    bodies, trabecular : numpy.ndarray
        Label arrays (VerSe ids) of the body masks and of the 3D ROIs, for pictures.
    ellipses : dict
        Per level the three ``EllipseRoi`` objects, for pictures.
    frames : dict
        Per level the :class:`~spinebq.measure.ct.frame.VertebraFrame` the ellipses were placed in.
    """

    vertebrae: dict
    summary: dict
    method: dict
    bodies: np.ndarray
    trabecular: np.ndarray
    ellipses: dict = field(default_factory=dict)
    frames: dict = field(default_factory=dict)


def measure_ct(
    ct: Volume,
    labels: LabelMap | Volume,
    *,
    preset: str = DEFAULT_PRESET,
    calibration: Calibration | None = None,
    levels: tuple[str, ...] = MEASURED_LEVELS,
    summary_levels: tuple[str, ...] = SUMMARY_LEVELS,
    metal_hu: float = METAL_HU,
    progress: Callable[[str], None] | None = None,
    threads: int | None = None,
    bodies: np.ndarray | None = None,
    bodies_method: str = OWN_BODY_METHOD,
    level_confidence: dict[str, float] | None = None,
    unconfirmed_levels: tuple[str, ...] = (),
    name_check=None,
) -> CtResult:
    """Measure the trabecular bone of every labelled vertebra.

    Parameters
    ----------
    ct : Volume
        CT in HU.
    labels : Volume
        VerSe ids on the CT's grid, a :class:`~spinebq.image.labelmap.LabelMap` (see
        :func:`spinebq.io.labels.load_labels`; a plain Volume is read by :meth:`LabelMap.of`); whole
        vertebrae are cut to their bodies first unless ``labels.content`` is ``LabelContent.BODY``.
    preset : str
        3D ROI definition, see :mod:`spinebq.measure.ct.presets`.
    calibration : Calibration, optional
        HU -> vBMD; without it values stay in HU and no ACR category is given.
    levels : tuple of str
        Levels to measure when present.
    summary_levels : tuple of str
        Levels averaged in the summary (default L1-L4).
    metal_hu : float
        Voxels above this HU never enter an ROI.
    progress : callable, optional
        Called with a short message per level.
    threads : int, optional
        Levels measured side by side (default: one per available core).
    bodies : numpy.ndarray, optional
        VerSe ids of the vertebral bodies on the CT's grid, from the segmentation that made ``labels`` (the
        built-in segmentation's body sub-region): used as each level's body instead of cutting the label at
        the canal, so one segmentation gives one body definition whichever way it is passed in.
    bodies_method : str
        Where ``bodies`` come from (each level's ``body_method``).
    level_confidence : dict, optional
        Level -> confidence of its name from the segmentation (``level_confidence`` of each level; None when the
        labels come from elsewhere).
    unconfirmed_levels : tuple of str
        Levels whose name is a guess: flagged ``level_unconfirmed`` and kept out of the summary.
    name_check : NameCheck, optional
        :func:`spinebq.measure.ct.plausibility.check_level_names` of labels made elsewhere: its implausible levels
        are flagged ``labels_implausible`` (reason in ``labels_check``) and kept out of the summary.
    """
    preset_def = get_preset(preset)
    calibration = calibration or no_calibration()
    labels = LabelMap.of(labels)
    body_content = labels.content is LabelContent.BODY
    boxes = level_boxes(labels)
    names = [n for n in boxes if n in levels]
    body_labels = np.zeros(ct.shape, dtype=np.int16)
    trabecular = np.zeros(ct.shape, dtype=np.int16)
    source_axes = np.asarray(ct.metadata["source_axes"]) if ct.metadata.get("source_axes") is not None else None

    def level(name: str) -> tuple[dict, tuple[slice, ...], np.ndarray, np.ndarray]:
        return _measure_level(ct, labels, name, boxes[name], preset_def=preset_def, body_content=body_content,
                              source_axes=source_axes, metal_hu=metal_hu, bodies=bodies, bodies_method=bodies_method)

    vertebrae: dict[str, dict] = {}
    body_masks: dict[str, tuple[tuple[slice, ...], np.ndarray]] = {}
    centroids: dict[str, np.ndarray] = {}
    # levels are independent and SciPy's image functions release the GIL: measure them side by side
    with ThreadPoolExecutor(max_workers=threads or len(os.sched_getaffinity(0))) as pool:
        for name, (entry, box, body, roi) in zip(names, pool.map(level, names)):
            if progress:
                progress(f"{name}: body and 3D ROI")
            vid = VERSE_IDS[name]
            body_labels[box][body] = vid
            trabecular[box][roi] = vid
            body_masks[name] = (box, body)
            if body.any():
                centroids[name] = ct.index_to_mm(np.array(ndimage.center_of_mass(body)) + [b.start for b in box])
            entry["level_confidence"] = (level_confidence or {}).get(name)
            if name in unconfirmed_levels:
                entry["qc"].append(LEVEL_UNCONFIRMED)
            if name_check is not None and name in name_check.implausible:
                entry["qc"].append(LABELS_IMPLAUSIBLE)
                entry["labels_check"] = name_check.implausible[name]
            entry["excluded_reason"] = _exclusion_reason(entry["qc"])
            vertebrae[name] = entry

        order = sort_levels(centroids)
        frames = spine_frames(centroids, order)
        _add_plausibility(ct, vertebrae, body_masks, frames, order, labels.array)
        measurable = [n for n in names if n in frames and "cut_by_field_of_view" not in vertebrae[n]["qc"]]

        def ellipses_of(name: str) -> list:
            box, body = body_masks[name]
            part = ct.crop(box)
            return three_slice_rois(part.array, body, part.affine, frames[name], metal_hu=metal_hu)

        ellipses = dict(zip(measurable, pool.map(ellipses_of, measurable)))
    for name in names:
        entry = vertebrae[name]
        if progress:
            progress(f"{name}: three-slice ellipses")
        if name not in ellipses:
            entry.update({"hu_2d": float("nan"), "hu_2d_slices": [float("nan")] * 3, "hu_2d_areas_mm2": [0.0] * 3})
            continue
        rois = ellipses[name]
        values = [r.mean_hu for r in rois]
        entry["hu_2d"] = float(np.mean(values)) if all(math.isfinite(v) for v in values) else float("nan")
        entry["hu_2d_slices"] = values
        entry["hu_2d_areas_mm2"] = [round(r.area_mm2, 1) for r in rois]
        if not math.isfinite(entry["hu_2d"]):
            entry["hu_2d_reason"] = "; ".join(f"{r.position} plane: {r.reason}" for r in rois if r.reason)
        entry["axis_superior"] = [round(float(v), 4) for v in frames[name].superior]

    statistic_key = "hu_3d" if preset_def.statistic == "mean" else "hu_3d_median"
    for name, entry in vertebrae.items():
        entry["hu"] = entry[statistic_key]
        entry["vbmd_mg_cm3"] = calibration.vbmd_mg_cm3(entry[statistic_key])
        entry["acr_category"] = None  # a category belongs to the summary of several levels (ACR), set below
    summary = _summary(vertebrae, summary_levels, statistic_key, calibration)
    method = {
        "preset": preset_def.name,
        "erosion": preset_def.erosion.value,
        "erosion_mm": preset_def.erosion_mm,
        "statistic": preset_def.statistic,
        "headline_key": statistic_key,
        "reference": preset_def.reference,
        "metal_threshold_hu": metal_hu,
        "labels_check": None if name_check is None else name_check.method,
        "hu_2d": "three elliptical ROIs perpendicular to each vertebra's own axis at 80/50/20 % of body height, "
                 "3 mm cortical rim and the posterior 20 % excluded (Schreiber et al., JBJS Am 2011)",
    }
    return CtResult(vertebrae, summary, method, body_labels, trabecular, ellipses, frames)


def _measure_level(
    ct: Volume,
    labels: LabelMap,
    name: str,
    label_box: tuple[slice, ...],
    *,
    preset_def,
    body_content: bool,
    source_axes: np.ndarray | None,
    metal_hu: float,
    bodies: np.ndarray | None = None,
    bodies_method: str = "",
) -> tuple[dict, tuple[slice, ...], np.ndarray, np.ndarray]:
    """Body, 3D ROI, statistics and QC of one level; returns (entry, box, body mask, ROI mask) in the box."""
    spacing = ct.spacing_mm
    box = _padded(label_box, ct.shape, pad=3)
    mask = labels.array[box] == VERSE_IDS[name]
    qc: list[str] = []
    own_body = None if bodies is None else bodies[box] == VERSE_IDS[name]
    if own_body is not None and own_body.any():
        body, body_method = own_body, bodies_method
    elif body_content:
        body, body_method = mask, "label is the body"
    else:
        separation = separate_body(mask, spacing)
        body = separation.body
        body_method = {"canal": "posterior elements cut at the spinal canal",
                       "projected_canal": "posterior elements cut at the spinal canal (projected)",
                       "none": NO_CANAL_METHOD}[separation.method]
        if separation.method == "none":
            qc.append("posterior_elements_not_removed")
    if _touches_border(label_box, ct.shape):
        qc.append("cut_by_field_of_view")
    gaps = ct.metadata.get("slice_gaps_mm") or []
    if gaps and _overlaps_gap(ct, box, body, gaps):
        qc.append("missing_slices")
    weights = trabecular_weights(body, spacing, preset_def, source_axes=source_axes)
    roi = weights >= 0.5  # the ROI drawn in the pictures; the statistics weigh partial voxels
    stats = roi_statistics(ct.array[box], weights, metal_hu=metal_hu)
    metal_in_body = int((ct.array[box][body] > metal_hu).sum())
    if metal_in_body:
        qc.append("metal_in_body")
    roi_ml = stats["voxels"] * ct.voxel_volume_ml
    if roi_ml < MIN_ROI_ML:
        qc.append("roi_too_small")
    if math.isfinite(stats["mean"]) and stats["mean"] > DENSE_HU:
        qc.append("dense_roi")
    if math.isfinite(stats["sd"]) and stats["sd"] > HETEROGENEOUS_SD_HU:
        qc.append("heterogeneous_roi")
    # a partial vertebra or an untrustworthy ROI is never averaged: its numbers are missing
    invalid = "cut_by_field_of_view" in qc or "roi_too_small" in qc
    entry = {
        "hu_3d": _nan_if(invalid, stats["mean"]),
        "hu_3d_median": _nan_if(invalid, stats["median"]),
        "hu_3d_sd": _nan_if(invalid, stats["sd"]),
        "hu_3d_voxels": stats["voxels"],
        "hu_3d_volume_ml": round(roi_ml, 3),
        "metal_voxels_excluded": stats["metal_voxels"],
        "body_volume_ml": _nan_if("cut_by_field_of_view" in qc, float(body.sum()) * ct.voxel_volume_ml),
        "body_method": body_method,
        "qc": qc,
        "excluded_reason": _exclusion_reason(qc),
    }
    return entry, box, body, roi


def _add_plausibility(ct: Volume, vertebrae: dict, body_masks: dict, frames: dict, order: list[str],
                      labels: np.ndarray) -> None:
    """Each level checked against the image and its neighbours (:func:`~spinebq.measure.ct.plausibility.check_levels`):
    ``plausibility`` per level; a level that fails is flagged ``labels_implausible`` (reasons in ``labels_check``) and
    kept out of the summary; ``level_confidence`` becomes the lower of the naming confidence (when the segmentation
    gave one) and the plausibility confidence."""
    skip = tuple(n for n, entry in vertebrae.items() if "cut_by_field_of_view" in entry["qc"])
    for name, check in check_levels(ct, body_masks, frames, order, skip=skip, labels=labels).items():
        entry = vertebrae[name]
        entry["plausibility"] = check.to_dict()
        naming = entry.get("level_confidence")
        entry["level_confidence"] = check.confidence if naming is None else round(min(naming, check.confidence), 3)
        if check.reasons:
            if LABELS_IMPLAUSIBLE not in entry["qc"]:
                entry["qc"].append(LABELS_IMPLAUSIBLE)
            entry["labels_check"] = "; ".join(filter(None, [entry.get("labels_check"), *check.reasons]))
            entry["excluded_reason"] = _exclusion_reason(entry["qc"])


def _summary(vertebrae: dict, levels: tuple[str, ...], key: str, calibration: Calibration) -> dict:
    used, skipped = [], {}
    for name in levels:
        entry = vertebrae.get(name)
        if entry is None:
            skipped[name] = "not labelled"
        elif entry["excluded_reason"]:
            skipped[name] = entry["excluded_reason"]
        elif not math.isfinite(entry[key]):
            skipped[name] = "no value"
        else:
            used.append(name)
    hu = float(np.mean([vertebrae[n][key] for n in used])) if used else float("nan")
    hu_2d_values = [vertebrae[n]["hu_2d"] for n in used if math.isfinite(vertebrae[n].get("hu_2d", float("nan")))]
    vbmd = calibration.vbmd_mg_cm3(hu)
    return {
        "levels_requested": list(levels),
        "levels_used": used,
        "levels_skipped": skipped,
        "hu": hu,
        "hu_key": key,
        "hu_2d": float(np.mean(hu_2d_values)) if hu_2d_values and len(hu_2d_values) == len(used) else float("nan"),
        "vbmd_mg_cm3": vbmd,
        "acr_category": acr_category(vbmd),
        "acr_reference": ACR_REFERENCE if calibration.calibrated else "no ACR category: the scan is not calibrated to vBMD",
    }


def _exclusion_reason(qc: list[str]) -> str | None:
    reasons = [flag for flag in qc if flag in EXCLUDING_FLAGS]
    return ", ".join(reasons) if reasons else None


def _nan_if(condition: bool, value: float) -> float:
    return float("nan") if condition else float(value)


def _padded(box: tuple[slice, ...], shape: tuple[int, ...], pad: int) -> tuple[slice, ...]:
    return tuple(slice(max(b.start - pad, 0), min(b.stop + pad, n)) for b, n in zip(box, shape))


def _touches_border(box: tuple[slice, ...], shape: tuple[int, ...]) -> bool:
    """True when a label's bounding box reaches a face of the image (cut by the field of view)."""
    return any(b.start == 0 or b.stop == n for b, n in zip(box, shape))


def _overlaps_gap(ct: Volume, box, body: np.ndarray, gaps: list) -> bool:
    k = np.flatnonzero(body.any(axis=(0, 1))) + box[2].start
    if k.size == 0:
        return False
    z = ct.index_to_mm(np.array([[0, 0, k.min()], [0, 0, k.max()]]))[:, 2]
    lo, hi = z.min(), z.max()
    return any(b > lo and a < hi for a, b in gaps)
