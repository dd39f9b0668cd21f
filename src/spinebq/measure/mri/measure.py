"""The MRI pipeline: ROIs from labels, points or automatic detection -> VBQ, PBQ, muscle fat.

:func:`measure_mri` returns an :class:`MriMeasurement` whose ``data`` is the JSON-ready
``spinebq.mri/1`` dictionary and whose ``rois`` hold the masks the pictures are drawn from.
Research use only, not a medical device.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spinebq import __version__
from spinebq.anatomy import VERSE_IDS, VERSE_NAMES, sort_levels
from spinebq.errors import SpinebqError
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.measure.mri import rois as R
from spinebq.records.mri import SCHEMA
from spinebq.measure.mri.vbq import VBQ_LEVELS, cutoff_assessment, pbq_score, vbq_score
from spinebq.vocabulary import QcFlag

logger = logging.getLogger("spinebq")

RESEARCH_NOTE = "Research use only, not a medical device."
MEASURED = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
CSF_LEVELS = ("L3", "L2", "L4")
#: The names a reader's points file may hold: a body centre, the CSF, or a pedicle.
POINT_NAMES = (*MEASURED, "CSF", *(f"{lv}_pedicle_{side}" for lv in MEASURED for side in ("left", "right")))

VBQ_METHOD = (
    "VBQ (Ehresman 2020; Wu 2025 [wu2025]): median of the L1-L4 trabecular body ROI mean signals on the "
    "mid-sagittal slices / CSF ROI mean signal posterior to L3 (L2 or L4 if L3 is blocked)"
)
S1_VBQ_METHOD = "S1-VBQ (Spine J 2024;24:1443-50): S1 body ROI mean signal / the same CSF signal"
PBQ_METHOD = (
    "PBQ (Yang 2026 [yang2026], citing the 2024 PBQ paper): mean of the L1-L4 segmental pedicle signals "
    "(mean of left and right pedicle ROIs about 1 mm inside the cortex, parasagittal slices) / the same CSF signal"
)
#: Points mode: the CSF point lies at least this far (mm) behind the clicked body centre nearest it along the spine.
#: A body's ROI circle (``point_radius_mm``, 6 mm) lies inside the body, so a body point is 6 mm or more in front of
#: the posterior wall, and the CSF lies behind that wall; a CSF point nearer the body's centre reads marrow. spinebq's
#: choice [M].
MIN_CSF_BEHIND_BODY_MM = 8.0
#: Endplate-band signal differing from the central ROI by more than this fraction flags a Modic-like change.
MODIC_FRACTION = 0.35


@dataclass
class MriMeasurement:
    """Result of :func:`measure_mri`.

    Attributes
    ----------
    data : dict
        The ``spinebq.mri/1`` document (JSON-ready: NaN already turned into ``None``).
    rois : dict
        Name -> boolean mask on the image grid (``body_L1``, ``pedicle_left_L1``, ``csf``, ``muscle_left_L4/L5``...).
    labels : LabelMap or None
        The vertebra labels used (VerSe ids); in automatic mode the ones found.
    axial_rois : dict
        Name -> boolean mask on the grid of the axial series (``muscle_left_L4/L5``...), when one was given.
    """

    data: dict
    rois: dict[str, np.ndarray] = field(default_factory=dict)
    labels: LabelMap | None = None
    axial_rois: dict[str, np.ndarray] = field(default_factory=dict)


def _num(value: float | None, digits: int = 4) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def load_points(path: str | Path, image: Volume) -> dict[str, np.ndarray]:
    """Read a reader's clicks: JSON ``{"L1": [x, y, z], ..., "CSF": [x, y, z]}`` in LPS mm.

    Optional keys ``"L1_pedicle_left"``/``"L1_pedicle_right"`` place pedicle ROIs; ``"space": "voxel"``
    gives the points as voxel indices of the canonical image instead of millimetres.
    Returns level/CSF name -> voxel index (float, 3).
    """
    path = Path(path)
    from spinebq.io.schemas import ReaderPoints, read_validated

    points = read_validated(ReaderPoints, path, "file of reader points")
    raw = {"space": points.space, **{key: list(xyz) for key, xyz in points.points.items()}}
    if not isinstance(raw, dict):
        raise SpinebqError(f"{path}: the points file must hold a JSON object of name -> [x, y, z]")
    space = str(raw.pop("space", "mm")).lower()
    out, written = {}, {}
    for key, value in raw.items():
        try:
            xyz = np.asarray(value, float).reshape(3)
        except (TypeError, ValueError):
            raise SpinebqError(f"{path}: point {key!r} is not three numbers [x, y, z]") from None
        name = str(key).upper().replace("PEDICLE", "pedicle").replace("LEFT", "left").replace("RIGHT", "right")
        out[name], written[name] = (xyz if space == "voxel" else image.mm_to_index(xyz)), key
    unknown = [written[name] for name in out if name not in POINT_NAMES]
    if unknown:
        raise SpinebqError(f"{path}: point {unknown[0]!r} is not a name spinebq reads (a level {', '.join(MEASURED)}, "
                           "CSF, or a pedicle such as L1_pedicle_left); a misspelt point would be left out")
    if "CSF" not in out:
        raise SpinebqError(f"{path}: the points file has no \"CSF\" point (the CSF ROI behind L3 is needed for VBQ)")
    if not any(k in out for k in VBQ_LEVELS):
        raise SpinebqError(f"{path}: the points file names none of L1, L2, L3, L4")
    for key, ijk in out.items():
        if np.any(ijk < -0.5) or np.any(ijk > np.array(image.shape) - 0.5):
            raise SpinebqError(f"{path}: point {key!r} lies outside the image")
    return out


def measure_mri(image: Volume, *, labels: LabelMap | Volume | None = None, points: dict[str, np.ndarray] | None = None,
                header: dict[str, Any] | None = None, path: str | Path = "image", body_slab_mm: float = 3.0,
                body_erosion_mm: float = 3.0, point_radius_mm: float = 6.0, csf_point_radius_mm: float = 2.5,
                measure_muscle: bool = True, axial: Volume | None = None, axial_header: dict[str, Any] | None = None,
                axial_path: str | Path = "axial") -> MriMeasurement:
    """Measure VBQ, S1-VBQ, PBQ and paraspinal muscle fat on a sagittal T1-weighted lumbar MRI.

    Parameters
    ----------
    image : Volume
        The MR image (canonical LPS array: axis 0 is the sagittal slice index).
    labels : LabelMap or Volume, optional
        VerSe-id label map on the image grid (bodies only or whole vertebrae); its ``scheme``, ``scheme_note`` and
        ``source`` go into ``roi_source``.
    points : dict, optional
        Reader clicks from :func:`load_points` (voxel indices); used when ``labels`` is None.
    header : dict, optional
        MR header attributes (:func:`spinebq.io.mr_header.read_mr_header`).
    path : str or Path
        The input, named in messages and in the output.
    body_slab_mm, body_erosion_mm : float
        Body ROI slab width around the mid-sagittal slice and distance kept from the body outline.
    point_radius_mm, csf_point_radius_mm : float
        Radii of the circular ROIs drawn around clicked body and CSF points.
    measure_muscle : bool
        Also estimate paraspinal muscle fat.
    axial, axial_header, axial_path : Volume, dict, str or Path, optional
        An axial T1 series of the same exam, its MR header and its name: the muscle fat of every disc
        level it reaches is measured on it; the other levels keep the sagittal approximation.

    Returns
    -------
    MriMeasurement

    Raises
    ------
    SpinebqError
        Wrong kind of image (CT, T2, one slice), no lumbar level found, no CSF visible behind L2-L4, or
        an axial series that is not T1, not axial or of another exam.
    """
    from spinebq.io.mr_header import check_axial, check_sequence

    input_info = check_sequence(image, header, path)
    input_info["source"] = str(path)
    if axial is not None:
        input_info["axial"] = check_axial(axial, axial_header, axial_path)
    spacing = image.spacing_mm
    img = image.array.astype(np.float32, copy=False)
    rois: dict[str, np.ndarray] = {}
    source: dict[str, Any]
    auto_info = None
    if labels is None and points is None:
        from spinebq.segment.mri import detect_vertebrae

        labels, auto_info = detect_vertebrae(image, path=path)
        source = {"method": "automatic", "note": auto_info.get("method"), "details": auto_info}
    elif labels is not None:
        labels = LabelMap.of(labels)
        provenance = labels.provenance()
        source = {"method": "labels", "label_scheme": provenance.get("label_scheme"),
                  "label_scheme_note": labels.scheme_note, "labels": labels.source}
    else:
        source = {"method": "points", "body_radius_mm": point_radius_mm, "csf_radius_mm": csf_point_radius_mm}

    levels: dict[str, dict] = {}
    geometry: dict[str, dict] = {}
    body_signals: dict[str, float] = {}
    if labels is not None:
        present = sort_levels(VERSE_NAMES[int(i)] for i in np.unique(labels.array) if int(i) in VERSE_NAMES)
        todo = [lv for lv in present if lv in MEASURED]
        if not any(lv in VBQ_LEVELS for lv in todo):
            raise SpinebqError(f"{path}: none of L1-L4 is present in the vertebra labels (found {', '.join(present) or 'none'})")
        for lv in todo:
            mask = labels.array == VERSE_IDS[lv]
            roi, geom = R.body_roi_mask(mask, spacing, slab_mm=body_slab_mm, erosion_mm=body_erosion_mm)
            stats = R.roi_statistics(img, roi)
            rois[f"body_{lv}"] = roi
            geometry[lv] = {**geom, "mask": mask}
            levels[lv] = _level_entry(stats, geom, spacing)
            body_signals[lv] = stats.signal_mean
        _qc_levels(img, labels, levels, geometry, spacing)
    else:
        for lv in sort_levels(k for k in points if k in MEASURED):
            roi = R.circle_roi(img.shape, points[lv], point_radius_mm, spacing)
            stats = R.roi_statistics(img, roi)
            rois[f"body_{lv}"] = roi
            geom = {"slice": int(round(points[lv][0])), "slices": stats.slices, "point": [float(v) for v in points[lv]]}
            geometry[lv] = geom
            levels[lv] = _level_entry(stats, geom, spacing)
            body_signals[lv] = stats.signal_mean
    # a level flagged unreliable (fracture, Modic-like endplate change) leaves the VBQ median
    vbq_inputs = {lv: s for lv, s in body_signals.items() if not levels[lv].get("excluded_from_vbq")}

    csf = _measure_csf(img, labels, points, geometry, body_signals, spacing, path, csf_point_radius_mm, rois)

    # pedicles
    pedicle_signals: dict[str, tuple[float, float]] = {}
    for lv in levels:
        sides = []
        for side in ("left", "right"):
            key = f"{lv}_pedicle_{side}"
            if labels is None:
                if points is not None and key in points:
                    roi = R.circle_roi(img.shape, points[key], 2.5, spacing)
                    info = {"source": "point"}
                else:
                    roi, info = np.zeros(img.shape, bool), {"reason": "no point given for this pedicle"}
            else:
                geom = geometry[lv]
                if _has_posterior_elements(geom["mask"], geom, spacing):
                    roi, info = R.pedicle_roi_from_labels(geom["mask"], geom, rois.get("csf"), spacing, side=side)
                else:
                    roi, info = R.pedicle_roi_geometric(img, geom["mask"], geom, body_signals[lv], spacing, side=side)
            stats = R.roi_statistics(img, roi, min_voxels=8)
            if roi.any():
                rois[f"pedicle_{side}_{lv}"] = roi
            levels[lv][f"pedicle_signal_{side}"] = _num(stats.signal_mean, 3)
            levels[lv][f"pedicle_voxels_{side}"] = stats.voxels
            levels[lv][f"pedicle_slice_{side}"] = info.get("slice")
            levels[lv][f"pedicle_source_{side}"] = info.get("source")
            if not math.isfinite(stats.signal_mean):
                _flag(levels[lv], QcFlag(f"pedicle_{side}_missing"), f"no {side} pedicle ROI: {info.get('reason') or stats.reason}")
            elif info.get("source") == "image_near_body_geometry":
                _flag(levels[lv], QcFlag.PEDICLE_ESTIMATED_FROM_BODY_GEOMETRY)
            sides.append(stats.signal_mean)
        pedicle_signals[lv] = tuple(sides)

    signal_csf = csf["signal"] if csf["signal"] is not None else float("nan")
    vbq, vbq_reason, vbq_used = vbq_score(vbq_inputs, signal_csf)
    s1 = body_signals.get("S1", float("nan"))
    s1_vbq = round(s1 / signal_csf, 6) if math.isfinite(s1) and math.isfinite(signal_csf) and signal_csf > 0 else float("nan")
    s1_vbq_reason = None if math.isfinite(s1_vbq) else ("no S1 body" if "S1" not in levels else "S1 or CSF signal not measured")
    pbq, pbq_reason, pbq_used = pbq_score(pedicle_signals, signal_csf)
    if source["method"] == "labels":
        from spinebq.measure.mri.label_fit import check_label_fit

        fit = check_label_fit(image, {lv: rois[f"body_{lv}"] for lv in levels}, slab_mm=body_slab_mm,
                              erosion_mm=body_erosion_mm, path=str(path))
        source["fit"] = fit.to_dict()
        if not fit.fits:
            input_info["flags"].append(QcFlag.LABELS_OFF_THE_IMAGE.value)
            input_info["flag_notes"][QcFlag.LABELS_OFF_THE_IMAGE.value] = fit.reason
            vbq = s1_vbq = pbq = float("nan")
            vbq_reason = s1_vbq_reason = pbq_reason = ("the vertebra labels lie off this image's bodies; see "
                                                        f"{QcFlag.LABELS_OFF_THE_IMAGE.value}")
            vbq_used, pbq_used = [], []

    if axial is not None:
        from spinebq.measure.mri.muscle import disc_centres_mm
        from spinebq.measure.mri.same_exam import check_same_exam

        centres = disc_centres_mm(image, geometry, rois.get("csf")) if labels is not None else []
        input_info["axial"].update(check_same_exam(image, header, axial, axial_header, centres, path=path,
                                                   axial_path=axial_path))
    muscle: dict = {}
    muscle_info: dict = {}
    axial_rois: dict[str, np.ndarray] = {}
    if measure_muscle and labels is not None:
        from spinebq.measure.mri.muscle import combine_planes, measure_paraspinal, measure_paraspinal_axial

        muscle, muscle_info, muscle_rois = measure_paraspinal(img, labels, geometry, rois.get("csf"), spacing)
        if axial is not None:
            axial_result = measure_paraspinal_axial(axial, image, labels, geometry, rois.get("csf"), path=axial_path)
            muscle, muscle_info, muscle_rois, axial_rois = combine_planes((muscle, muscle_info, muscle_rois),
                                                                          axial_result)
        rois.update(muscle_rois)
    elif measure_muscle:
        muscle_info = {"reason": "muscle fat needs vertebra labels or automatic mode (points give no level geometry)"}

    field_strength = input_info.get("field_strength_t")
    fractured = [lv for lv in vbq_used if levels[lv].get("genant_grade")]
    data = {
        "schema": SCHEMA,
        "research_use_only": RESEARCH_NOTE,
        "software": {"name": "spinebq", "version": __version__},
        "input": input_info,
        "roi_source": source,
        "vbq": _num(vbq),
        "vbq_method": VBQ_METHOD,
        "vbq_reason": vbq_reason,
        "vbq_levels_used": vbq_used,
        "vbq_fractured_levels": fractured,
        "vbq_fracture_note": (None if not fractured else
                              ("level " if len(fractured) == 1 else "levels ") + ", ".join(fractured)
                              + (" has" if len(fractured) == 1 else " have") + " a Genant deformity on the mid-sagittal "
                              "heights and " + ("is" if len(fractured) == 1 else "are") + " in this median: a fractured "
                              "body reads differently; check " + ("it" if len(fractured) == 1 else "them")),
        "vbq_cutoffs": [{**c, "note": _field_note(field_strength)} for c in cutoff_assessment("vbq", vbq)],
        "s1_vbq": _num(s1_vbq),
        "s1_vbq_method": S1_VBQ_METHOD,
        "s1_vbq_reason": s1_vbq_reason,
        "pbq": _num(pbq),
        "pbq_method": PBQ_METHOD,
        "pbq_reason": pbq_reason,
        "pbq_levels_used": pbq_used,
        "pbq_cutoffs": [],
        "pbq_cutoff_note": "no published PBQ cutoff in the stored texts ([yang2026] uses PBQ inside its nomogram)",
        "csf": {k: v for k, v in csf.items() if k != "mask"},
        "levels": levels,
        "muscle": muscle,
        "muscle_method": muscle_info,
    }
    if auto_info is not None:
        data["roi_source"]["details"] = auto_info
    return MriMeasurement(data=_clean(data), rois=rois, labels=labels, axial_rois=axial_rois)


def _field_note(field_strength: float | None) -> str:
    if field_strength is None:
        return "field strength unknown; the cutoff's field strength ([wu2025]: not stated) may differ"
    return f"measured at {field_strength:g} T; VBQ differs between 1.5 T and 3.0 T in some studies (docs/methods.md section 5.1)"


def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return _num(float(obj), 6)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _flag(entry: dict, code: QcFlag, note: str | None = None) -> None:
    """Add a QC flag code to a level (once) and, beside it in ``qc_notes``, its sentence with this case's numbers."""
    if code.value not in entry["qc"]:
        entry["qc"].append(code.value)
    entry["qc_notes"][code.value] = note or code.sentence


def _level_entry(stats: R.RoiResult, geom: dict, spacing) -> dict:
    entry = {"qc": [], "qc_notes": {}}
    if stats.reason:
        _flag(entry, QcFlag.ROI_TOO_SMALL, f"body ROI unusable: {stats.reason}")
    if stats.excluded_high_voxels >= 10 and stats.excluded_high_voxels > 0.01 * max(stats.voxels, 1):
        _flag(entry, QcFlag.BRIGHT_FOCUS_EXCLUDED, f"{stats.excluded_high_voxels} voxels (haemangioma-like focus or "
                                                   "fat) left out of the ROI mean")
    return {
        "body_signal": _num(stats.signal_mean, 3),
        "body_signal_reason": stats.reason,
        "body_signal_median": _num(stats.signal_median, 3),
        "body_signal_sd": _num(stats.signal_sd, 3),
        "body_voxels": stats.voxels,
        "body_excluded_voxels": stats.excluded_voxels,
        "body_slice": geom.get("slice"),
        "body_slices": geom.get("slices", stats.slices),
        "body_height_mm": _num(geom.get("height_mm"), 2),
        "body_depth_mm": _num(geom.get("depth_mm"), 2),
        "pedicle_signal_left": None,
        "pedicle_signal_right": None,
        **entry,
        "excluded_from_vbq": None,
    }


def _qc_levels(img: np.ndarray, labels: Volume, levels: dict, geometry: dict, spacing) -> None:
    """Flag Modic-like endplate signal change, fractures (Genant, the CT side's rule) and bodies cut by the field
    of view.

    Heights: anterior, middle and posterior on the mid-sagittal slice (:func:`rois.mid_sagittal_heights`),
    graded by :func:`spinebq.measure.ct.heights.genant_grade` against the neighbours' posterior heights, as on CT.
    As on CT, a deformed level stays in the average and is named beside it (``vbq_fracture_note``): the heights of
    one sagittal slice (and of automatic outlines above all) are not certain enough to drop a level on their own.
    """
    from spinebq.measure.ct.heights import genant_grade

    names = [lv for lv in MEASURED if lv in levels]
    heights = {lv: R.mid_sagittal_heights(geometry[lv]["mask"], geometry[lv], spacing) for lv in names}
    for i, lv in enumerate(names):
        entry, geom = levels[lv], geometry[lv]
        central = entry["body_signal"]
        if central is None:
            entry["excluded_from_vbq"] = entry["body_signal_reason"]
            continue
        bands = R.body_endplate_bands(geom["mask"], geom, spacing)
        if bands.sum() >= 20:
            band_signal = float(np.median(img[bands]))
            change = band_signal / central - 1.0
            entry["endplate_signal_ratio"] = _num(band_signal / central, 3)
            if abs(change) > MODIC_FRACTION:
                kind = "low (Modic type 1-like)" if change < 0 else "high (Modic type 2-like)"
                _flag(entry, QcFlag.ENDPLATE_SIGNAL_CHANGE,
                      f"marrow next to the endplates is {kind}, {change:+.0%} vs centre; ROI kept central")
        mask = geom["mask"]
        if mask[:, :, 0].any() or mask[:, :, -1].any() or mask[:, 0, :].any() or mask[:, -1, :].any():
            _flag(entry, QcFlag.CUT_BY_FIELD_OF_VIEW)
        neighbours = [heights[n].posterior for n in names[max(0, i - 1):i + 2] if n not in (lv, "S1")]
        h = heights[lv]
        entry["heights_mm"] = {k: _num(v, 2) for k, v in h.to_dict().items()}
        if lv == "S1":
            continue
        grade = genant_grade(h, neighbours)
        entry["genant_grade"] = grade.pop("genant_grade")
        entry["deformity_type"] = grade.pop("deformity_type")
        entry["height_ratios"] = grade.pop("height_ratios")
        entry["genant"] = grade
        finite = [v for v in neighbours if v is not None and np.isfinite(v)]
        if finite and np.isfinite(h.posterior):
            entry["height_ratio_to_neighbours"] = _num(h.posterior / float(np.mean(finite)), 3)
        if entry["genant_grade"]:
            code = QcFlag(f"fracture_genant_grade_{entry['genant_grade']}")
            reduction = grade["reductions"][entry["deformity_type"]]
            _flag(entry, code, f"{code.sentence}: {entry['deformity_type']} height reduced {reduction:.0%} "
                               "(mid-sagittal heights; check the level on the picture)")


def _has_posterior_elements(mask: np.ndarray, geom: dict, spacing) -> bool:
    if "posterior" not in geom:
        return False
    y_cut = geom["posterior"] + int(round(5 / spacing[1]))
    return int(mask[:, y_cut:, :].sum()) > 50


def _measure_csf(img, labels, points, geometry, body_signals, spacing, path, radius_mm, rois) -> dict:
    """CSF ROI behind L3 (then L2, L4) on the sagittal slice with the widest canal."""
    method = ("CSF ROI: dark subarachnoid space directly behind the body, central 60 % of the body height, "
              "on the sagittal slice (within 5 mm of the body centre) with the largest dark canal area, eroded 1 mm; "
              "within this sac only the CSF is kept: voxels brighter than the sac's modal signal + 3 robust SDs, when "
              "they are at least 1.5 x that signal (nerve roots, cord, conus), and the pixel around them are left out, "
              "the largest remaining pool kept (root_voxels_left_out); then outliers (dura, ligament, cortex) excluded by robust z > 3.5")
    if labels is None:
        roi = R.circle_roi(img.shape, points["CSF"], radius_mm, spacing)
        stats = R.roi_statistics(img, roi, min_voxels=8)
        rois["csf"] = roi
        level = _point_level(points["CSF"], points)
        _check_csf_behind_bodies(points, spacing, path)
        _check_csf_darker(stats.signal_mean, body_signals, path, level)
        return {"signal": _num(stats.signal_mean, 3), "level": level, "voxels": stats.voxels,
                "slice": int(round(points["CSF"][0])), "signal_sd": _num(stats.signal_sd, 3),
                "excluded_voxels": stats.excluded_voxels, "method": f"CSF ROI: circle of {radius_mm} mm around the reader's point",
                "reason": stats.reason}
    tried = []
    for lv in CSF_LEVELS:
        if lv not in geometry or not math.isfinite(body_signals.get(lv, float("nan"))):
            continue
        geom = geometry[lv]
        x0 = geom["slice"]
        reach = int(round(5 / spacing[0]))
        best = None
        # the wall positions come from the mid-sagittal body outline; the canal is searched on nearby slices
        body2d = R.body_only_2d(geom["mask"][x0])
        for x in range(max(0, x0 - reach), min(img.shape[0], x0 + reach + 1)):
            m2d, info = R.canal_roi_2d(img[x], body2d, (spacing[1], spacing[2]), body_signal=body_signals[lv])
            if math.isfinite(info["strip_median"]) and info["strip_median"] > 1.1 * body_signals[lv] and x == x0:
                raise SpinebqError(
                    f"{path}: the spinal canal behind {lv} is brighter than the vertebral marrow "
                    f"({info['strip_median']:.0f} vs {body_signals[lv]:.0f}), as on a T2-weighted image or where the "
                    "vertebra labels do not lie on this image's bodies (labels of another exam); VBQ needs a "
                    "T1-weighted image with dark CSF and labels drawn on it"
                )
            n = int(m2d.sum())
            if n == 0:
                continue
            # largest canal area, weighted by its darkness against the marrow (a run through grey tissue scores low)
            contrast = max(0.0, 1.0 - float(np.median(img[x][m2d])) / body_signals[lv])
            score = n * contrast
            if best is None or score > best[4] + 1e-9:
                best = (x, m2d, info["width_mm"], n, score)
        if best is None:
            tried.append(f"{lv}: no dark canal behind the body")
            continue
        x, m2d, width, n, _ = best
        kept, sac = R.csf_in_sac(img[x], m2d)
        roi = np.zeros(img.shape, bool)
        roi[x] = kept
        stats = R.roi_statistics(img, roi)
        if not math.isfinite(stats.signal_mean):
            tried.append(f"{lv}: {stats.reason}")
            continue
        if stats.signal_mean > 0.85 * body_signals[lv]:
            tried.append(f"{lv}: canal signal {stats.signal_mean:.0f} not darker than marrow {body_signals[lv]:.0f}")
            continue
        rois["csf"] = roi
        return {"signal": _num(stats.signal_mean, 3), "level": lv, "voxels": stats.voxels, "slice": int(x),
                "signal_sd": _num(stats.signal_sd, 3), "excluded_voxels": stats.excluded_voxels,
                "sac_voxels": sac["sac_voxels"], "root_voxels_left_out": sac["root_voxels_left_out"],
                "csf_upper_signal": sac["csf_upper_signal"], "sac_reason": sac.get("reason"),
                "canal_width_mm": _num(width, 1), "method": method,
                "reason": None if lv == "L3" else f"L3 unusable ({'; '.join(tried) or 'no L3 label'}): CSF measured at {lv}"}
    raise SpinebqError(
        f"{path}: no CSF visible behind L3, L2 or L4 ({'; '.join(tried) or 'those levels are not labelled'}); "
        "VBQ needs dark CSF on a T1-weighted image"
    )


def _point_level(ijk: np.ndarray, points: dict) -> str | None:
    """The level a point lies at, from the clicked body centres.

    With two or more clicked levels their head-foot positions are fitted against their order (T12 ... S1) and the
    point takes the level it falls on, so a CSF point behind an unclicked L3 is named L3; with one clicked level,
    that level.
    """
    clicked = [(n, float(points[lv][2])) for n, lv in enumerate(MEASURED) if lv in points]
    if not clicked:
        return None
    if len(clicked) == 1:
        return MEASURED[clicked[0][0]]
    order, z = np.array(clicked).T
    slope, intercept = np.polyfit(z, order, 1)
    n = int(np.clip(round(float(slope * ijk[2] + intercept)), 0, len(MEASURED) - 1))
    return MEASURED[n]


def _check_csf_behind_bodies(points: dict, spacing, path) -> None:
    """Refuse a CSF point not at least :data:`MIN_CSF_BEHIND_BODY_MM` behind the clicked body nearest it head to foot
    (canonical axis 1 runs to the patient's back): inside a body it reads marrow and VBQ comes out too low."""
    bodies = [points[lv] for lv in MEASURED if lv in points]
    if not bodies:
        return
    csf = points["CSF"]
    nearest = min(bodies, key=lambda body: abs(float(body[2] - csf[2])))
    behind_mm = float(csf[1] - nearest[1]) * float(spacing[1])
    if behind_mm < MIN_CSF_BEHIND_BODY_MM:
        level = next(lv for lv in MEASURED if lv in points and points[lv] is nearest)
        raise SpinebqError(
            f"{path}: the CSF point lies {behind_mm:.1f} mm behind the {level} body point (in front of it when "
            f"negative), so inside or before the body; place it in the dark CSF of the spinal canal behind the body "
            f"(at least {MIN_CSF_BEHIND_BODY_MM:g} mm behind the body centre)"
        )


def _check_csf_darker(signal: float, body_signals: dict, path, level) -> None:
    finite = [v for v in body_signals.values() if math.isfinite(v)]
    if math.isfinite(signal) and finite and signal > float(np.median(finite)):
        raise SpinebqError(
            f"{path}: the CSF point is brighter than the vertebral marrow ({signal:.0f} vs {np.median(finite):.0f}), "
            "as on a T2-weighted image; VBQ needs a T1-weighted image with dark CSF"
        )
