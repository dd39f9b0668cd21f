"""The patient's predictor values, gathered from a CT record, an MRI record and clinical data.

The CT and MRI results are read from their typed records (:class:`~spinebq.records.ct.CtRecord`,
:class:`~spinebq.records.mri.MriRecord`), one field each; the regions A/B/C and the screws of a level are its
:class:`~spinebq.records.regional.LevelRegional` (``VertebraRecord.regions``, ``VertebraRecord.trajectories``).

Each value carries its unit, where it came from, the level(s) it describes and the caveats of how it was
obtained, so an assessment can say exactly what was compared with a published cutoff. A value that cannot be
obtained is ``None`` with a reason, never 0. The sources name the document keys (``measurements.json
vertebrae.L3.st_hu``), so a reader finds each number in the files.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from spinebq.anatomy import parse_levels
from spinebq.io.schemas import SEXES, yes_no
from spinebq.records.assessment import PatientValues, PredictorValue
from spinebq.records.ct import CtRecord, VertebraRecord
from spinebq.records.mri import MriRecord
from spinebq.vocabulary import QcFlag, Side

#: Clinical fields spinebq uses (everything else in a clinical file is ignored, so names or dates never travel on).
CLINICAL_KEYS = ("age", "sex", "bmi_kg_m2", "planned_levels", "procedure", "hip_t_score", "goutallier",
                 "postmenopausal", "previous_augmentation")
#: Recognised procedures (free text is matched against these words).
PROCEDURES = ("fusion", "semi-rigid instrumentation", "vertebral augmentation")
#: Why a vBMD value is missing on a scan measured in HU only.
UNCALIBRATED = "the scan is not calibrated to vBMD (a phantom or scanner equation calibration is needed)"
#: Why a screw-trajectory value is missing.
NO_TRAJECTORY = "no screw trajectory in measurements.json (spinebq ct plans them with --trajectory auto, its default)"
#: The regions of [xu2025]: A the vertebral body (given once), B the pedicle and C the screw trajectory (per side).
REGIONS = ("A", "B", "C")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _value(value, unit: str, source: str, *, level=None, caveats=(), reason=None, preset=None) -> PredictorValue:
    ok = _finite(value)
    return PredictorValue(float(value) if ok else None, unit, source, level, tuple(caveats),
                          None if ok else (reason or "not measured"), preset)


def normalise_clinical(clinical: Mapping | None) -> dict:
    """Keep the clinical fields spinebq uses, in canonical form.

    ``sex`` becomes ``"F"``/``"M"``; ``planned_levels`` a cranial-to-caudal list (from ``"L4,L5"``, ``"L4-L5"``
    or a list); ``procedure`` one of :data:`PROCEDURES` when the text names one, otherwise the text itself;
    ``postmenopausal`` and ``previous_augmentation`` True/False (from "Yes"/"No", ``true``/``false``, 1/0).
    """
    clinical = dict(clinical or {})
    out = {}
    for key in CLINICAL_KEYS:
        value = clinical.get(key)
        if value is None or value == "":
            continue
        if key == "sex":
            text = str(value).strip().upper()
            value = SEXES.get(text, text[:1])
        elif key == "planned_levels":
            value = parse_levels(value)
        elif key == "procedure":
            text = str(value).strip().lower()
            value = next((p for p in PROCEDURES if p in text or (p == "fusion" and ("plif" in text or "tlif" in text))), text)
        elif key in ("age", "bmi_kg_m2", "hip_t_score", "goutallier"):
            value = float(value)
        elif key in ("postmenopausal", "previous_augmentation"):
            value = yes_no(value)
        out[key] = value
    return out


def hu_to_vbmd(hu, calibration: Mapping | None):
    """vBMD (mg/cm3) of a HU value with the linear calibration of a CT record; None if not calibrated.

    Examples
    --------
    >>> hu_to_vbmd(130.0, {"slope_hu_per_mg_cm3": 1.2, "intercept_hu": 10.0})
    100.0
    >>> hu_to_vbmd(130.0, {"method": "none", "slope_hu_per_mg_cm3": None}) is None
    True
    """
    if not calibration or calibration.get("slope_hu_per_mg_cm3") is None or not _finite(hu):
        return None
    return (float(hu) - float(calibration["intercept_hu"])) / float(calibration["slope_hu_per_mg_cm3"])


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _uncalibrated(ct: CtRecord) -> bool:
    """True when the CT was measured in HU only (calibration method ``none``)."""
    return ct.calibration.get("method", "none") == "none"


def trajectory_hu(vertebra: VertebraRecord) -> tuple[float | None, list[str]]:
    """HU along the screws of one vertebra (``st_hu_3d``): the mean of its left and right ``trajectories`` cylinders.

    This is the screw-trajectory HU of [sakai2018] (HU along the screw in 3D) and region C's HU of [xu2025]; the
    ST-HU of [yang2026]'s HU ratio is ``st_hu``, read on axial rectangles, a different number.

    Returns
    -------
    (float or None, list of str)
        The HU and its caveats (one side only); None when no cylinder is measured.
    """
    sides = vertebra.trajectories
    values = [sides[s].hu_mean for s in Side.values() if s in sides and _finite(sides[s].hu_mean)]
    if not values:
        return None, []
    hu = float(vertebra.st_hu_3d) if _finite(vertebra.st_hu_3d) else _mean(values)  # as measurements.json holds it
    return hu, ([] if len(values) == 2 else ["only one side's trajectory measured"])


def trajectory_reason(vertebra: VertebraRecord) -> str | None:
    """Why the screws of one vertebra were not measured, in the words measurements.json stores per side.

    Both sides' reasons (``trajectories.<side>.reason``: a screw of the trajectory file not used, no trajectory
    asked for, ...) are given once when they are the same, otherwise side by side; None when neither side gives one
    (or a side was measured).

    Examples
    --------
    >>> from spinebq.records.regional import TrajectoryRecord
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class V:
    ...     trajectories: dict
    >>> none = TrajectoryRecord(reason="none asked for")
    >>> trajectory_reason(V({"left": none, "right": none}))
    'none asked for'
    >>> trajectory_reason(V({"left": none, "right": TrajectoryRecord(reason="its entry lies outside")}))
    'left: none asked for; right: its entry lies outside'
    """
    sides = vertebra.trajectories
    if any(_finite(sides[s].hu_mean) for s in sides):
        return None
    reasons = {s: sides[s].reason for s in Side.values() if s in sides and sides[s].reason}
    if not reasons:
        return None
    if len(set(reasons.values())) == 1:
        return next(iter(reasons.values()))
    return "; ".join(f"{side}: {reason}" for side, reason in reasons.items())


def region_values(vertebra: VertebraRecord, region: str) -> tuple[float | None, float | None]:
    """(HU, vBMD) of region ``A``, ``B`` or ``C`` of [xu2025], the mean of its sides (B and C are per side).

    Parameters
    ----------
    vertebra : VertebraRecord
        Its ``regions`` (:class:`~spinebq.records.regional.RegionsRecord`; None without the regional stage).
    region : str
        ``"A"`` (vertebral body), ``"B"`` (pedicle) or ``"C"`` (screw trajectory).

    Returns
    -------
    (float or None, float or None)
        Mean HU and mean vBMD (mg/cm3) of the sides measured; None where none was.
    """
    if region not in REGIONS:
        raise ValueError(f"region {region!r} is not one of {', '.join(REGIONS)}")
    sides = [] if vertebra.regions is None else vertebra.regions.region(region)
    hus = [side.hu_mean for side in sides if _finite(side.hu_mean)]
    vbmds = [float(side.vbmd_mg_cm3) for side in sides if _finite(side.vbmd_mg_cm3)]
    return _mean(hus), _mean(vbmds)


def pedicle_hu(vertebra: VertebraRecord) -> tuple[float | None, float | None]:
    """(HU, vBMD) of the pedicle region ([xu2025] region B), mean of left/right."""
    return region_values(vertebra, "B")


_LEVEL_UNITS = (("body_vbmd_mg_cm3", "mg/cm3"), ("pedicle_vbmd_mg_cm3", "mg/cm3"), ("trajectory_vbmd_mg_cm3", "mg/cm3"),
                ("st_hu", "HU"), ("st_hu_3d", "HU"), ("b_hu", "HU"), ("hu_ratio", "ratio"))


def ct_level_values(ct: CtRecord, level: str) -> dict[str, PredictorValue]:
    """Per-level CT values: body HU/vBMD, pedicle, trajectory HU/vBMD, HU ratio (None with a reason when absent)."""
    source = f"measurements.json vertebrae.{level}"
    vertebra = ct.level(level)
    if vertebra is None:
        reason = f"{level} is not in measurements.json"
        return {k: _value(None, u, source, level=level, reason=reason) for k, u in _LEVEL_UNITS}
    calibration = ct.calibration
    qc = [f"{level} QC: {', '.join(vertebra.qc)}"] if vertebra.qc else []
    out = {}
    a_hu, a_vbmd = region_values(vertebra, "A")
    if a_vbmd is None:
        a_vbmd = hu_to_vbmd(a_hu, calibration)
    if a_vbmd is not None:
        body, body_key = a_vbmd, "regions.A (QCT-style central ROI)"
    else:
        body, body_key = vertebra.vbmd_mg_cm3, "vbmd_mg_cm3"
    body_reason = vertebra.excluded_reason or (UNCALIBRATED if _uncalibrated(ct) else None)
    out["body_vbmd_mg_cm3"] = _value(body, "mg/cm3", f"{source}.{body_key}", level=level, caveats=qc, reason=body_reason)
    p_hu, p_vbmd = pedicle_hu(vertebra)
    if p_vbmd is None:
        p_vbmd = hu_to_vbmd(p_hu, calibration)
    sides_b = [] if vertebra.regions is None else vertebra.regions.region("B")
    no_b = next((side.reason for side in sides_b if side.reason), "no pedicle region in measurements.json")
    out["pedicle_vbmd_mg_cm3"] = _value(p_vbmd, "mg/cm3", f"{source}.regions (pedicles)", level=level, caveats=qc,
                                        reason=no_b if p_hu is None else UNCALIBRATED)
    no_trajectory = trajectory_reason(vertebra) or NO_TRAJECTORY
    st = float(vertebra.st_hu) if _finite(vertebra.st_hu) else None
    out["st_hu"] = _value(st, "HU", f"{source}.st_hu (axial rectangles along the screws, [yang2026])", level=level,
                          caveats=qc, reason=no_trajectory)
    cylinders, st_caveats = trajectory_hu(vertebra)
    out["st_hu_3d"] = _value(cylinders, "HU", f"{source}.trajectories (mean of the left and right screw cylinders)",
                             level=level, caveats=qc + st_caveats, reason=no_trajectory)
    c_hu, c_vbmd = region_values(vertebra, "C")
    if c_vbmd is None:
        c_vbmd = hu_to_vbmd(c_hu if c_hu is not None else cylinders, calibration)
    out["trajectory_vbmd_mg_cm3"] = _value(c_vbmd, "mg/cm3", f"{source}.regions.C / trajectories + calibration",
                                           level=level, caveats=qc + st_caveats,
                                           reason=no_trajectory if cylinders is None else UNCALIBRATED)
    b_key = "b_hu" if _finite(vertebra.b_hu) else "hu_2d"
    b_hu = vertebra.b_hu if b_key == "b_hu" else vertebra.hu_2d
    out["b_hu"] = _value(b_hu, "HU", f"{source}.{b_key}", level=level, caveats=qc, reason=vertebra.excluded_reason)
    ratio = vertebra.hu_ratio
    if not _finite(ratio) and st is not None and _finite(b_hu) and b_hu > 0:
        ratio = st / float(b_hu)
    out["hu_ratio"] = _value(ratio, "ratio", f"{source}.hu_ratio (ST-HU / B-HU)", level=level, caveats=qc,
                             reason=no_trajectory if st is None else "no three-slice body HU")
    return out


def ct_summary_values(ct: CtRecord) -> dict[str, PredictorValue]:
    """Summary CT values over the summary levels (L1-L4 by default): 3D-HU, three-slice HU, vBMD."""
    summary = ct.summary
    used, requested = summary.levels_used, summary.levels_requested
    caveats = []
    if requested and used != requested:
        caveats.append(f"summary over {'-'.join(used) or 'no level'} only (skipped: "
                       + (", ".join(f"{k} {v}" for k, v in summary.levels_skipped.items()) or "-") + ")")
    levels = "-".join(used) if used else None
    preset = ct.method.get("preset")
    no_level = "no usable level in the summary"
    out = {
        "summary_hu_3d": _value(summary.hu if summary.hu_key == "hu_3d" else None, "HU",
                                f"measurements.json summary.hu (preset {preset}, {ct.method.get('statistic')})",
                                level=levels, caveats=caveats, reason=no_level, preset=preset),
        "summary_hu_2d": _value(summary.hu_2d, "HU", "measurements.json summary.hu_2d (three-slice ellipses)",
                                level=levels, caveats=caveats, reason=no_level),
        "summary_vbmd_mg_cm3": _value(summary.vbmd_mg_cm3, "mg/cm3",
                                      f"measurements.json summary.vbmd_mg_cm3 (preset {preset})", level=levels,
                                      caveats=caveats, reason=UNCALIBRATED if _uncalibrated(ct) else no_level,
                                      preset=preset),
    }
    return out


def vbq_fracture_caveats(mri: MriRecord) -> list[str]:
    """The caveat of a VBQ whose median includes fractured levels (``mri.json vbq_fractured_levels``).

    The VBQ method keeps a level with a Genant deformity on the mid-sagittal heights in its median and names it,
    since the heights of one sagittal slice are not certain enough to drop a level; the caveat names each such level
    with its grade, so a reader of the assessment checks them.
    """
    fractured = set(mri.details.get("vbq_fractured_levels") or ())
    levels = [f"{lv.level} (Genant grade {lv.genant_grade}" + (f", {lv.deformity_type})" if lv.deformity_type else ")")
              for lv in mri.levels if lv.level in fractured]
    if not levels:
        return []
    return [f"the VBQ median includes fractured {', '.join(levels)} on the MRI's mid-sagittal heights (mri.json "
            "vbq_fractured_levels): a fractured body reads differently; check them"]


def mri_fracture_caveat(mri: MriRecord | None, level: str) -> str | None:
    """The caveat of a CT value at ``level`` when the MRI of the patient grades that level's body deformed
    (Genant grade >= 1 on its mid-sagittal heights); None when it does not, or there is no MRI.

    A planned screw's HU or a body's HU at a fractured level reads compressed or healing trabeculae; the CT's own
    grade may miss what the MRI shows (different heights, a fresh fracture).
    """
    graded = next((lv for lv in mri.levels if lv.level == level), None) if mri is not None else None
    if graded is None or not graded.genant_grade:
        return None
    kind = f", {graded.deformity_type}" if graded.deformity_type else ""
    return (f"the MRI grades {level} Genant {graded.genant_grade}{kind} on its mid-sagittal heights (mri.json): "
            "compressed or healing trabeculae read denser, so the CT value may overstate bone density")


def mri_values(mri: MriRecord) -> dict[str, PredictorValue]:
    """VBQ, PBQ, S1-VBQ and the worst Goutallier grade of an MRI record."""
    out = {}
    for key, score, reason in (("vbq", mri.vbq, mri.vbq_reason), ("pbq", mri.pbq, mri.pbq_reason),
                               ("s1_vbq", mri.s1_vbq, mri.s1_vbq_reason)):
        method = (mri.details.get(f"{key}_method") or "").split(":")[0]
        out[key] = _value(score, "ratio", f"mri.json {key} ({method})", level="L1-L4" if key != "s1_vbq" else "S1",
                          caveats=vbq_fracture_caveats(mri) if key == "vbq" else (), reason=reason or "not measured")
    grades = {m.disc: m.goutallier for m in mri.muscle if m.goutallier is not None}
    worst = max(grades.values()) if grades else None
    where = ", ".join(disc for disc, g in grades.items() if g == worst) if grades else None
    worst_levels = [m for m in mri.muscle if m.disc in (where or "")]
    caveats = (["Goutallier from a T1 fat fraction on parasagittal slices (sagittal approximation), not read on axial "
                "images"] if any(m.plane == "sagittal" for m in worst_levels) else [])
    near = QcFlag.GOUTALLIER_NEAR_CUTOFF.value
    caveats += [f"{m.disc}: {m.details['qc_notes'][near]}" for m in worst_levels if near in m.qc]
    out["goutallier"] = _value(worst, "grade", "mri.json muscle (worst level and side)", level=where, caveats=caveats,
                               reason="no paraspinal muscle grade in mri.json" + "".join(
                                   f"; {levels}: {reason}" for reason, levels in mri.muscle_missing().items()))
    return out


def patient_values(ct: CtRecord | None = None, mri: MriRecord | None = None,
                   clinical: Mapping | None = None) -> PatientValues:
    """All predictor values of one patient that the registry can use.

    Parameters
    ----------
    ct : CtRecord, optional
        The CT results (:func:`spinebq.pipeline.analyse_ct`, or ``CtRecord.from_json`` of a ``measurements.json``).
    mri : MriRecord, optional
        The MRI results (:func:`spinebq.pipeline.analyse_mri`, or ``MriRecord.from_json`` of an ``mri.json``).
    clinical : dict, optional
        Clinical data (see :data:`CLINICAL_KEYS`), already normalised or not.

    Returns
    -------
    PatientValues
        Each variable's :class:`~spinebq.records.assessment.PredictorValue` (value, unit, source, level, caveats,
        reason); per-level CT values by level (``PatientValues.at(level, name)``). The sources name the document
        keys (``measurements.json vertebrae.L3.st_hu``) so a reader can find the number in the files.
    """
    clinical = normalise_clinical(clinical)
    given = {key: _value(clinical.get(key), unit, "clinical data", reason=f"{key} not given in the clinical data")
             for key, unit in (("age", "years"), ("bmi_kg_m2", "kg/m2"), ("hip_t_score", "SD"))}
    sex = clinical.get("sex")
    given["sex_female"] = _value(None if sex is None else float(sex == "F"), "0/1", "clinical data",
                                 reason="sex not given in the clinical data")
    others = mri_values(mri) if mri is not None else {}
    if _finite(clinical.get("goutallier")):
        others["goutallier"] = _value(clinical["goutallier"], "grade", "clinical data (read by the user)")
    return PatientValues(clinical=given, ct_summary=ct_summary_values(ct) if ct is not None else {},
                         levels={v.level: ct_level_values(ct, v.level) for v in ct.vertebrae} if ct is not None else None,
                         others=others)
