"""The patient's predictor values, gathered from ``measurements.json``, ``mri.json`` and clinical data.

Each value carries its unit, where it came from, the level(s) it describes and the caveats of how it was
obtained, so an assessment can say exactly what was compared with a published cutoff. A value that cannot be
obtained is ``None`` with a reason, never 0.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from spinebq.anatomy import ORDER

#: Clinical fields spinebq uses (everything else in a clinical file is ignored, so names or dates never travel on).
CLINICAL_KEYS = ("age", "sex", "bmi_kg_m2", "planned_levels", "procedure", "hip_t_score", "goutallier",
                 "postmenopausal", "previous_augmentation")
#: Recognised procedures (free text is matched against these words).
PROCEDURES = ("fusion", "semi-rigid instrumentation", "vertebral augmentation")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _value(value, unit: str, source: str, *, level=None, caveats=(), reason=None) -> dict:
    ok = _finite(value)
    return {"value": float(value) if ok else None, "unit": unit, "source": source, "level": level,
            "caveats": list(caveats), "reason": None if ok else (reason or "not measured")}


def normalise_clinical(clinical: Mapping | None) -> dict:
    """Keep the clinical fields spinebq uses, in canonical form.

    ``sex`` becomes ``"F"``/``"M"``; ``planned_levels`` a cranial-to-caudal list (from ``"L4,L5"``, ``"L4-L5"``
    or a list); ``procedure`` one of :data:`PROCEDURES` when the text names one, otherwise the text itself.
    """
    clinical = dict(clinical or {})
    out = {}
    for key in CLINICAL_KEYS:
        value = clinical.get(key)
        if value is None or value == "":
            continue
        if key == "sex":
            text = str(value).strip().upper()
            value = {"FEMALE": "F", "WOMAN": "F", "W": "F", "MALE": "M", "MAN": "M"}.get(text, text[:1])
        elif key == "planned_levels":
            value = parse_levels(value)
        elif key == "procedure":
            text = str(value).strip().lower()
            value = next((p for p in PROCEDURES if p in text or (p == "fusion" and ("plif" in text or "tlif" in text))), text)
        elif key in ("age", "bmi_kg_m2", "hip_t_score", "goutallier"):
            value = float(value)
        out[key] = value
    return out


def parse_levels(value) -> list[str]:
    """``"L4-L5"``, ``"L4,L5"``, ``["L5", "L4"]`` -> ``["L4", "L5"]`` (ranges are expanded).

    Parameters
    ----------
    value : str or sequence of str
        Levels separated by commas or semicolons, ranges with a hyphen, in any case and order.

    Returns
    -------
    list of str
        The distinct levels, cranial to caudal; a range skips the transitional ``T13`` and ``L6``.

    Raises
    ------
    ValueError
        When an item is not a vertebra name.

    Examples
    --------
    >>> parse_levels("L4-L5")
    ['L4', 'L5']
    >>> parse_levels("l5; T12-L1")
    ['T12', 'L1', 'L5']
    >>> parse_levels(["L5", "L4", "L5"])
    ['L4', 'L5']
    >>> parse_levels("L4,X1")
    Traceback (most recent call last):
    ...
    ValueError: 'X1' is not a vertebra name (use e.g. L4,L5 or L4-L5)
    """
    items = value if isinstance(value, (list, tuple)) else str(value).replace(";", ",").split(",")
    levels: list[str] = []
    for item in items:
        item = str(item).strip().upper()
        if not item:
            continue
        if "-" in item:
            a, b = (s.strip() for s in item.split("-", 1))
            if a in ORDER and b in ORDER:
                i, j = sorted((ORDER.index(a), ORDER.index(b)))
                levels += [x for x in ORDER[i: j + 1] if x not in ("T13", "L6")]
                continue
        if item not in ORDER:
            raise ValueError(f"{item!r} is not a vertebra name (use e.g. L4,L5 or L4-L5)")
        levels.append(item)
    return sorted(set(levels), key=ORDER.index)


def hu_to_vbmd(hu, calibration: Mapping | None):
    """vBMD (mg/cm3) of a HU value with the linear calibration of a ``measurements.json``; None if not calibrated."""
    if not calibration or calibration.get("slope_hu_per_mg_cm3") is None or not _finite(hu):
        return None
    return (float(hu) - float(calibration["intercept_hu"])) / float(calibration["slope_hu_per_mg_cm3"])


def trajectory_hu(entry: Mapping) -> tuple[float | None, list[str]]:
    """Screw-trajectory HU of one vertebra: ``st_hu`` or the mean of the left/right ``trajectories`` means."""
    if _finite(entry.get("st_hu")):
        return float(entry["st_hu"]), []
    sides = entry.get("trajectories") or {}
    values = [float(s["hu_mean"]) for s in sides.values() if isinstance(s, Mapping) and _finite(s.get("hu_mean"))]
    if not values:
        return None, []
    return sum(values) / len(values), ([] if len(values) == 2 else ["only one side's trajectory measured"])


def _sides(region) -> list[Mapping]:
    """A region given once (``{"hu_mean": ...}``) or per side (``{"left": {...}, "right": {...}}``) as a list."""
    if not isinstance(region, Mapping):
        return []
    if any(k in region for k in ("left", "right")):
        return [region[k] for k in ("left", "right") if isinstance(region.get(k), Mapping)]
    return [region]


def region_values(entry: Mapping, names: tuple[str, ...]) -> tuple[float | None, float | None]:
    """(HU, vBMD) of a region of ``regions`` (paper 000: A body, B pedicle, C screw trajectory), mean of its sides."""
    regions = entry.get("regions") or {}
    region = next((regions[n] for n in regions if str(n).lower() in names or any(w in str(n).lower() for w in names[1:])), None)
    hus, vbmds = [], []
    for side in _sides(region):
        hu = next((side[k] for k in ("hu_mean", "hu", "hu_3d") if _finite(side.get(k))), None)
        if hu is not None:
            hus.append(float(hu))
        if _finite(side.get("vbmd_mg_cm3")):
            vbmds.append(float(side["vbmd_mg_cm3"]))
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return mean(hus), mean(vbmds)


def pedicle_hu(entry: Mapping) -> tuple[float | None, float | None]:
    """(HU, vBMD) of the pedicle region (``regions.B`` or a region named pedicle), mean of left/right."""
    return region_values(entry, ("b", "pedicle"))


def ct_level_values(ct: Mapping, level: str) -> dict:
    """Per-level CT values: body HU/vBMD, pedicle, trajectory HU/vBMD, HU ratio (None with a reason when absent)."""
    vertebrae = ct.get("vertebrae") or {}
    calibration = ct.get("calibration") or {}
    source = f"measurements.json vertebrae.{level}"
    if level not in vertebrae:
        reason = f"{level} is not in measurements.json"
        return {k: _value(None, u, source, level=level, reason=reason) for k, u in
                (("body_vbmd_mg_cm3", "mg/cm3"), ("pedicle_vbmd_mg_cm3", "mg/cm3"), ("trajectory_vbmd_mg_cm3", "mg/cm3"),
                 ("st_hu", "HU"), ("b_hu", "HU"), ("hu_ratio", "ratio"))}
    entry = vertebrae[level]
    qc = [f"{level} QC: {', '.join(entry['qc'])}"] if entry.get("qc") else []
    uncalibrated = "the scan is not calibrated to vBMD (HU is not vBMD; run spinebq ct with --calibration)"
    out = {}
    a_hu, a_vbmd = region_values(entry, ("a", "body"))
    if a_vbmd is None:
        a_vbmd = hu_to_vbmd(a_hu, calibration)
    body, body_key = (a_vbmd, "regions.A (QCT-style central ROI)") if a_vbmd is not None else (entry.get("vbmd_mg_cm3"), "vbmd_mg_cm3")
    out["body_vbmd_mg_cm3"] = _value(body, "mg/cm3", f"{source}.{body_key}", level=level, caveats=qc,
                                     reason=entry.get("excluded_reason") or (uncalibrated if calibration.get("method") == "none" else None))
    p_hu, p_vbmd = pedicle_hu(entry)
    if p_vbmd is None:
        p_vbmd = hu_to_vbmd(p_hu, calibration)
    out["pedicle_vbmd_mg_cm3"] = _value(p_vbmd, "mg/cm3", f"{source}.regions (pedicles)", level=level, caveats=qc,
                                        reason="no pedicle region in measurements.json" if p_hu is None else uncalibrated)
    st, st_caveats = trajectory_hu(entry)
    no_traj = "no screw trajectory in measurements.json (spinebq ct with trajectories)"
    out["st_hu"] = _value(st, "HU", f"{source}.st_hu / trajectories", level=level, caveats=qc + st_caveats, reason=no_traj)
    c_hu, c_vbmd = region_values(entry, ("c", "trajectory"))
    if c_vbmd is None:
        c_vbmd = hu_to_vbmd(c_hu if c_hu is not None else st, calibration)
    out["trajectory_vbmd_mg_cm3"] = _value(c_vbmd, "mg/cm3", f"{source}.regions.C / trajectories + calibration",
                                           level=level, caveats=qc + st_caveats, reason=no_traj if st is None else uncalibrated)
    b_hu = entry.get("b_hu") if _finite(entry.get("b_hu")) else entry.get("hu_2d")
    out["b_hu"] = _value(b_hu, "HU", f"{source}.{'b_hu' if _finite(entry.get('b_hu')) else 'hu_2d'}", level=level,
                         caveats=qc, reason=entry.get("excluded_reason"))
    ratio = entry.get("hu_ratio")
    if not _finite(ratio) and st is not None and _finite(b_hu) and b_hu > 0:
        ratio = st / float(b_hu)
    out["hu_ratio"] = _value(ratio, "ratio", f"{source}.hu_ratio (ST-HU / B-HU)", level=level, caveats=qc + st_caveats,
                             reason=no_traj if st is None else "no three-slice body HU")
    return out


def ct_summary_values(ct: Mapping) -> dict:
    """Summary CT values over the summary levels (L1-L4 by default): 3D-HU, three-slice HU, vBMD."""
    summary = ct.get("summary") or {}
    method = ct.get("method") or {}
    used = summary.get("levels_used") or []
    requested = summary.get("levels_requested") or []
    caveats = []
    if requested and used != requested:
        skipped = summary.get("levels_skipped") or {}
        caveats.append(f"summary over {'-'.join(used) or 'no level'} only (skipped: "
                       + (", ".join(f"{k} {v}" for k, v in skipped.items()) or "-") + ")")
    levels = "-".join(used) if used else None
    hu_key = summary.get("hu_key", method.get("headline_key"))
    preset = method.get("preset")
    hu3d = summary.get("hu") if hu_key == "hu_3d" else None
    out = {
        "summary_hu_3d": _value(hu3d, "HU", f"measurements.json summary.hu (preset {preset}, {method.get('statistic')})",
                                level=levels, caveats=caveats, reason="no usable level in the summary"),
        "summary_hu_2d": _value(summary.get("hu_2d"), "HU", "measurements.json summary.hu_2d (three-slice ellipses)",
                                level=levels, caveats=caveats, reason="no usable level in the summary"),
        "summary_vbmd_mg_cm3": _value(summary.get("vbmd_mg_cm3"), "mg/cm3",
                                      f"measurements.json summary.vbmd_mg_cm3 (preset {preset})", level=levels,
                                      caveats=caveats,
                                      reason=("the scan is not calibrated to vBMD (HU is not vBMD; run spinebq ct with --calibration)"
                                              if (ct.get("calibration") or {}).get("method", "none") == "none"
                                              else "no usable level in the summary")),
    }
    out["summary_vbmd_mg_cm3"]["preset"] = out["summary_hu_3d"]["preset"] = preset
    return out


def mri_values(mri: Mapping) -> dict:
    """VBQ, PBQ, S1-VBQ and the worst Goutallier grade from an ``mri.json``."""
    out = {}
    for key, label in (("vbq", "vbq_method"), ("pbq", "pbq_method"), ("s1_vbq", "s1_vbq_method")):
        out[key] = _value(mri.get(key), "ratio", f"mri.json {key} ({(mri.get(label) or '').split(':')[0]})",
                          level="L1-L4" if key != "s1_vbq" else "S1",
                          reason=mri.get(f"{key}_reason") or "not measured")
    grades = {lv: m.get("goutallier") for lv, m in (mri.get("muscle") or {}).items() if _finite(m.get("goutallier"))}
    worst = max(grades.values()) if grades else None
    where = ", ".join(lv for lv, g in grades.items() if g == worst) if grades else None
    out["goutallier"] = _value(worst, "grade", "mri.json muscle (worst level and side)", level=where,
                               caveats=["Goutallier from a T1 fat fraction on parasagittal slices (sagittal approximation), "
                                        "not read on axial images"] if grades else [],
                               reason="no paraspinal muscle grade in mri.json")
    return out


def patient_values(ct: Mapping | None = None, mri: Mapping | None = None, clinical: Mapping | None = None) -> dict:
    """All predictor values of one patient that the registry can use.

    Parameters
    ----------
    ct : dict, optional
        A ``measurements.json`` document (schema ``spinebq.ct/1``).
    mri : dict, optional
        An ``mri.json`` document (schema ``spinebq.mri/1``).
    clinical : dict, optional
        Clinical data (see :data:`CLINICAL_KEYS`), already normalised or not.

    Returns
    -------
    dict
        ``{variable: {"value", "unit", "source", "level", "caveats", "reason"}}``; per-level CT values are under
        ``"levels"`` as ``{level: {variable: ...}}``.
    """
    clinical = normalise_clinical(clinical)
    values: dict = {}
    for key, unit in (("age", "years"), ("bmi_kg_m2", "kg/m2"), ("hip_t_score", "SD")):
        values[key] = _value(clinical.get(key), unit, "clinical data", reason=f"{key} not given in the clinical data")
    sex = clinical.get("sex")
    values["sex_female"] = _value(None if sex is None else float(sex == "F"), "0/1", "clinical data",
                                  reason="sex not given in the clinical data")
    if ct:
        values.update(ct_summary_values(ct))
        values["levels"] = {lv: ct_level_values(ct, lv) for lv in (ct.get("vertebrae") or {})}
    if mri:
        values.update(mri_values(mri))
    if _finite(clinical.get("goutallier")):
        values["goutallier"] = _value(clinical["goutallier"], "grade", "clinical data (read by the user)")
    return values
