"""Page one of the per-patient report: what a surgeon reads in a minute, as plain data for the one layout.

:func:`page_one` gathers who and what was measured; the L1-L4 bone-quality summary with each value placed against
its published cutoff (a *scale*: the value, the thresholds ascending and the meaning of each zone, drawn as a
small graphic by the layout); the fractures; the screw-corridor numbers at the planned levels; the published
models the patient could be placed against and the side they fall on; and the warnings that change the
interpretation, one line each. Every cutoff names its source by bibliography key (``[wu2025]``).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

from spinebq.anatomy import ORDER
from spinebq.records.assessment import Assessment
from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.report.quantities import BY_KEY, METHOD_LABELS
from spinebq.report.text import cite_text, human, levels_text, missing
from spinebq.risk.registry import get_model, value_decimals
from spinebq.risk.assess import summary_levels_caveat
from spinebq.risk.values import trajectory_reason

#: Zone names of a scale, in the order low -> high, for a cutoff whose low side went with the endpoint, and
#: for one whose high side did.
LOW_IS_RISK = ("risk", "ok")
HIGH_IS_RISK = ("ok", "risk")
#: The ACR categories of trabecular spine vBMD (mg/cm3) and their source.
ACR_THRESHOLDS_MG_CM3 = (80.0, 120.0)
ACR_REFERENCE = "acr2018qct"
#: A path at the start of a warning (``/data/x.nii.gz: ...``): the report says what, not where.
_LEADING_PATH = re.compile(r"^\S*[/\\]\S*:\s*")


def model_scale(key: str, value) -> dict | None:
    """The scale of ``value`` against registry model ``key``'s cutoff (None when there is no value or cutoff)."""
    model = get_model(key)
    if missing(value) or model.get("cutoff") is None:
        return None
    zones = LOW_IS_RISK if model["direction"] == "<" else HIGH_IS_RISK
    return {"value": float(value), "thresholds": [float(model["cutoff"])], "zones": list(zones),
            "unit": "" if model["unit"] in ("ratio", "probability") else model["unit"]}


def _side_text(key: str, value) -> str:
    model = get_model(key)
    if missing(value) or model.get("cutoff") is None:
        return ""
    risk = value < model["cutoff"] if model["direction"] == "<" else value >= model["cutoff"]
    sign = "<" if model["direction"] == "<" else ">="
    return f"{'risk side' if risk else 'not on the risk side'} of {sign} {model['cutoff']:g}"


def short_endpoint(endpoint: str) -> str:
    """The endpoint's first clause: ``new vertebral fracture after percutaneous vertebral augmentation``."""
    return re.split(r" \(|, | within | at \d", endpoint, maxsplit=1)[0]


def short_predictor(predictor: str) -> str:
    """The predictor's name without its definition: ``VBQ = median SI ...`` -> ``VBQ``."""
    return re.split(r": | = | \(|, ", predictor, maxsplit=1)[0]


def _bone_row(label: str, key: str, value, unit: str, decimals: int, *, reason: str | None = None,
              model: str | None = None, reading: str = "", cite: tuple[str, ...] = (), scale: dict | None = None) -> dict:
    if model is not None:
        scale = scale or model_scale(model, value)
        reading = reading or _side_text(model, value)
        cite = cite or (get_model(model)["paper"],)
        if reading:
            reading += f" ({short_endpoint(get_model(model)['endpoint'])})"
    if missing(value):  # the value cell says so, the reading cell says why
        return {"label": label, "key": key, "value": None, "text": "not measured", "scale": None,
                "reading": reason or "no value", "cite": list(cite)}
    return {"label": label, "key": key, "value": value, "text": human(value, unit, decimals), "scale": scale,
            "reading": reading, "cite": list(cite)}


def contrast_note(ct: CtRecord) -> str:
    """``the pickhardt contrast correction (-11.2 HU)``: the correction ``spinebq ct --contrast-correction`` applied
    (measurements.json ``summary.contrast``); ``no contrast correction`` without one."""
    contrast = ct.summary.regional.contrast if ct.summary.regional is not None else {}
    correction = contrast.get("correction", "none")
    if correction == "none":
        return "no contrast correction"
    delta_hu = float(contrast.get("correction_delta_hu") or 0.0)
    if not math.isfinite(delta_hu):
        return f"the {correction} contrast correction (none published for this contrast phase)"
    if delta_hu == 0.0:
        return f"the {correction} contrast correction (0 HU: none for an unenhanced CT)"
    return f"the {correction} contrast correction ({-delta_hu:+g} HU)"


def _corrected_row(ct: CtRecord, levels: str) -> list[dict]:
    """The summary HU with the contrast correction of ``spinebq ct --contrast-correction`` subtracted, beside the raw
    HU (which alone is placed against the published cutoffs); empty without a correction."""
    regional = ct.summary.regional
    correction = (regional.contrast if regional is not None else {}).get("correction", "none")
    if correction == "none" or missing(regional.hu_contrast_corrected):
        return []
    reading = (f"the raw HU above minus {contrast_note(ct)}; not placed against the cutoffs, which were found on raw "
               "HU of unenhanced scans")
    return [_bone_row(f"CT HU, {levels} mean, contrast-corrected ({correction})", "summary.hu_contrast_corrected",
                      regional.hu_contrast_corrected, "HU", 0, reading=reading)]


def bone_quality(ct: CtRecord | None, mri: MriRecord | None, screening: list[dict]) -> list[dict]:
    """The summary rows: CT HU (3D and three-slice), the L1 screening reading, vBMD, MRI VBQ and PBQ."""
    rows = []
    if ct is not None:
        s = ct.summary
        levels = levels_text(s.levels_used or s.levels_requested)  # no level measurable: the levels asked for
        for label, key, value, model in (("CT 3D HU", "summary.hu", s.hu, "S003_3DHU"),
                                         ("CT three-slice HU", "summary.hu_2d", s.hu_2d, "S003_HU")):
            row = _bone_row(f"{label}, {levels} mean", key, value, "HU", 0, model=model, reason="no level measurable")
            other_levels = summary_levels_caveat(get_model(model), s.levels_used)
            if other_levels and row["value"] is not None:
                row["reading"] = "; ".join(filter(None, (row["reading"], other_levels)))
            rows.append(row)
            if key == "summary.hu":
                rows += _corrected_row(ct, levels)
        for r in screening:
            scale = None
            if r["value_hu"] is not None:
                scale = {"value": r["value_hu"], "thresholds": list(r["thresholds_hu"]),
                         "zones": ["risk", "mid", "ok"][: len(r["thresholds_hu"]) + 1], "unit": "HU"}
            reading = f"{r['reading']} ({r['band']})" if r["reading"] else ""
            rows.append(_bone_row(f"{r['level']} screening (three-slice HU)", f"screening.{r['key']}", r["value_hu"], "HU", 0,
                                  reason=r["reason"], reading=reading, cite=(r["reference"],), scale=scale))
        calibrated = ct.calibration.get("method", "none") != "none"
        vbmd = s.vbmd_mg_cm3
        scale = None
        if not missing(vbmd):
            scale = {"value": float(vbmd), "thresholds": list(ACR_THRESHOLDS_MG_CM3), "zones": ["risk", "mid", "ok"],
                     "unit": "mg/cm3"}
        reading = f"ACR category: {human(s.acr_category)}" if s.acr_category else ""
        rows.append(_bone_row(f"vBMD, {levels} mean", "summary.vbmd_mg_cm3", vbmd, "mg/cm3", 1,
                              reason=None if calibrated else "scan not calibrated (HU only)", reading=reading,
                              cite=(ACR_REFERENCE,) if calibrated else (), scale=scale))
    if mri is not None:
        rows.append(_bone_row("MRI VBQ (L1-L4 / CSF)", "mri.vbq", mri.vbq, "", 2, reason=mri.vbq_reason, model="S004_VBQ"))
        rows.append(_bone_row("MRI PBQ (pedicles / CSF)", "mri.pbq", mri.pbq, "", 2, reason=mri.pbq_reason,
                              reading="no published cutoff (higher is worse)", cite=("yang2026",)))
    return rows


def cranial_first(levels):
    """Level records (anything with ``level``) ordered cranial to caudal; unknown names last."""
    return sorted(levels, key=lambda v: ORDER.index(v.level) if v.level in ORDER else len(ORDER))


#: the fracture line of a modality none of whose levels has a Genant grade (every body cut or unmeasured)
NOT_GRADED = "no level graded (no body's heights could be measured)"


def fractures(ct: CtRecord | None, mri: MriRecord | None) -> list[str]:
    """One line per modality graded: its Genant deformities (grade >= 1) cranial to caudal, or none, and where.

    Examples: ``CT (measurements.json): none, Genant grade 0 at every graded level (T12-L5)``; ``MRI (mri.json,
    mid-sagittal heights): L3 Genant grade 3, biconcave, in the VBQ median (graded L1-L5)``. Empty without CT and MRI.
    """
    out = []
    fractured_in_vbq = set(mri.details.get("vbq_fractured_levels") or ()) if mri is not None else set()
    for name, source, levels in (("CT", "measurements.json", ct.vertebrae if ct is not None else None),
                                 ("MRI", "mri.json, mid-sagittal heights", mri.levels if mri is not None else None)):
        if levels is None:
            continue
        graded = [v for v in cranial_first(levels) if v.genant_grade is not None]
        found = [f"{v.level} Genant grade {v.genant_grade}" + (f", {v.deformity_type}" if v.deformity_type else "")
                 + (", in the VBQ median" if name == "MRI" and v.level in fractured_in_vbq else "")
                 for v in graded if v.genant_grade]
        where = levels_text([v.level for v in graded])
        if not graded:  # "none ... at every graded level (no level)" said a grade that was never given
            out.append(f"{name} ({source}): {NOT_GRADED}")
        elif found:
            out.append(f"{name} ({source}): " + "; ".join(found) + f" (graded {where})")
        else:
            out.append(f"{name} ({source}): none, Genant grade 0 at every graded level ({where})")
    return out


def _pedicle_widths(vertebra) -> str:
    """``L 12.4 mm, R 11.8 mm``; a side not measured gives its pedicle's reason, both sides alike give it once."""
    widths = vertebra.isthmus_widths_mm
    reasons = {side: getattr(vertebra.pedicles.get(side), "reason", None) or "not found" for side in widths}
    if all(width is None for width in widths.values()) and len(set(reasons.values())) == 1:
        return human(None, "mm", 1, reason=next(iter(reasons.values())))
    return ", ".join(f"{side[0].upper()} {human(width, 'mm', 1, reason=reasons[side])}" for side, width in widths.items())


def planned_levels(ct: CtRecord | None, planned: list[str]) -> dict:
    """Screw-corridor numbers at the planned levels: HU along the screws (against Sakai 2018), ST-HU, HU ratio, B-HU,
    isthmus widths."""
    if not planned:
        return {"levels": [], "rows": [], "reason": "no planned levels given (--planned-levels, e.g. L4-L5)"}
    if ct is None:
        return {"levels": planned, "rows": [], "reason": "no CT results given"}
    rows = []
    for level in planned:
        v = ct.level(level)
        if v is None:
            rows.append({"level": level, "missing": f"{level} is not in the CT results"})
            continue
        no_trajectory = trajectory_reason(v) or ("no screw trajectory measured" if v.st_hu is None
                                                 else "trajectory not measurable")
        no_b_hu = f"no three-slice HU at {level}"
        same = "see HU along the screws" if missing(v.st_hu_3d) else no_trajectory  # the reason once per row
        reasons = {"st_hu": same, "st_hu_3d": no_trajectory, "b_hu": no_b_hu,
                   "hu_ratio": same if missing(v.st_hu) else no_b_hu}

        def cell(key: str, value) -> dict:  # the level blocks' decimals, the unit in the header
            return {"value": None if missing(value) else value,
                    "text": human(value, "", BY_KEY[key].decimals, reason=reasons[key])}

        rows.append({"level": level, "missing": None,
                     "st_hu_3d": cell("st_hu_3d", v.st_hu_3d) | {"scale": model_scale("Sakai2018_STHU", v.st_hu_3d),
                                                                "side": _side_text("Sakai2018_STHU", v.st_hu_3d)},
                     "st_hu": cell("st_hu", v.st_hu),
                     "hu_ratio": cell("hu_ratio", v.hu_ratio), "b_hu": cell("b_hu", v.b_hu),
                     "pedicles": _pedicle_widths(v)})
    method = ("HU along the screws: the mean of the left and right screw cylinders, placed against the screw-trajectory "
              f"HU cutoff of [sakai2018] (HU along the screw in 3D); ST-HU: the {METHOD_LABELS['st_hu']} ST-HU of "
              f"[yang2026]; HU ratio = ST-HU / B-HU, B-HU the {METHOD_LABELS['b_hu']} HU [yang2026] (methods in "
              "Methods and caveats).")
    return {"levels": planned, "rows": rows, "reason": None, "cite": ["sakai2018", "yang2026"], "method": method,
            "sakai_cutoff_hu": get_model("Sakai2018_STHU")["cutoff"]}


def model_lines(assessment: Assessment | None) -> list[dict]:
    """The applied models (value on one side of a published cutoff), shortest form: no caveat paragraphs."""
    out = []
    for r in assessment.applied() if assessment is not None else []:
        digits = 0 if r.unit == "HU" else value_decimals(r.key, r.unit)
        unit = "" if r.unit in ("ratio", "probability") else r.unit
        parts = str(r.level or "").split("-")
        level = "-".join(parts) if len(parts) == 2 else levels_text(parts) if r.level else ""
        out.append({"key": r.key, "paper": r.paper, "level": level, "level_key": r.level or "", "predictor": short_predictor(r.predictor),
                    "endpoint": short_endpoint(r.endpoint),
                    "value": r.value, "text": human(r.value, unit, digits), "cutoff": r.cutoff_text,
                    "risk": bool(r.at_risk_side), "side": "risk side" if r.at_risk_side else "other side",
                    "auc": "" if r.auc is None else f"{r.auc:.2f}", "caveats": len(r.caveats)})
    return out


def warnings(ct: CtRecord | None, mri: MriRecord | None) -> list[str]:
    """The conditions that change interpretation, one short line each (details in the methods section)."""
    out = []
    if ct is not None:
        kvp = ct.acquisition.get("kvp")
        if not kvp:
            out.append("CT tube voltage not recorded: published HU cutoffs assume 120 kVp.")
        elif float(kvp) != 120:
            out.append(f"CT at {kvp:g} kVp: published HU cutoffs assume 120 kVp (HU falls as kVp rises).")
        phase = ct.summary.contrast_phase
        if ct.contrast_enhanced:
            out.append(f"Contrast-enhanced CT ({human(phase or 'phase unknown')}): trabecular HU reads higher than unenhanced.")
        if ct.calibration.get("method", "none") == "none":
            out.append("CT not calibrated: HU only, no vBMD or ACR category; the L1 screening reading stands in.")
        elif ct.calibration.get("warning"):
            out.append("Calibration: " + cite_text(_LEADING_PATH.sub("", str(ct.calibration["warning"]))))
        note = ct.summary.regional.fracture_note if ct.summary.regional is not None else None
        if note:
            out.append(cite_text(note[0].upper() + note[1:]) + ".")
        for v in ct.vertebrae:
            flags = [f.replace("_", " ") for f in v.qc if not f.startswith("fracture_genant")]
            if flags and v.level in ct.summary.levels_used:
                out.append(f"{v.level}: " + ", ".join(flags) + ".")
        out += [cite_text(_LEADING_PATH.sub("", str(w))) for w in ct.acquisition.warnings]
    if mri is not None:
        notes = mri.input.get("flag_notes") or {}
        for flag in mri.input.get("flags") or []:  # a code, its sentence in flag_notes (older files: "code: sentence")
            name, _, text = flag.partition(": ")
            text = notes.get(name) or text or name.replace("_", " ")
            out.append("MRI: " + cite_text(text).rstrip(".") + ".")  # the sentence names its subject
    return out


def who(ct: CtRecord | None, mri: MriRecord | None, clinical: Mapping, *, patient_id: str, include_phi: bool,
        scans: list[str]) -> list[tuple[str, str]]:
    """(label, text) lines: pseudonymous id, scans, scan date, levels measured, planned levels, clinical data."""
    lines = [("Patient", patient_id)]
    for scan in scans:
        kind, _, text = scan.partition(": ")
        lines.append((kind, text))
    patient = ct.acquisition.extra.get("patient") if ct is not None else None
    date = (patient or {}).get("study_date")
    if include_phi and date:
        lines.append(("Scan date", str(date)))
    elif date:
        lines.append(("Scan date", "withheld (pseudonymised report; --include-phi shows it)"))
    if ct is not None:
        measured = [v.level for v in cranial_first(ct.vertebrae)]
        used, requested = ct.summary.levels_used, ct.summary.levels_requested
        over = levels_text(used) if used else f"no level of {levels_text(requested)} measurable"
        lines.append(("CT levels", f"{levels_text(measured)} segmented; summary over {over}"))
    if mri is not None:
        lines.append(("MRI levels", levels_text([lv.level for lv in mri.levels])))
    lines.append(("Planned levels", levels_text(clinical.get("planned_levels")) if clinical.get("planned_levels") else "not given"))
    facts = []
    if clinical.get("age") is not None:
        facts.append(f"age {human(clinical['age'], decimals=0)}")
    if clinical.get("sex"):
        facts.append({"F": "female", "M": "male"}.get(clinical["sex"], str(clinical["sex"])))
    if clinical.get("procedure"):
        facts.append(f"procedure: {clinical['procedure']}")
    if clinical.get("hip_t_score") is not None:
        facts.append(f"hip T-score {human(clinical['hip_t_score'], decimals=1)}")
    if clinical.get("bmi_kg_m2") is not None:
        facts.append(f"BMI {human(clinical['bmi_kg_m2'], decimals=1)} kg/m2")
    if clinical.get("goutallier") is not None:
        facts.append(f"Goutallier grade {human(clinical['goutallier'], decimals=0)} (given)")
    for key, yes, no in (("postmenopausal", "postmenopausal", "not postmenopausal"),
                         ("previous_augmentation", "previous vertebral augmentation", "no previous vertebral augmentation")):
        if clinical.get(key) is not None:
            facts.append(yes if clinical[key] else no)
    lines.append(("Clinical", ", ".join(facts) or "none given"))
    return lines


def page_one(ct: CtRecord | None, mri: MriRecord | None, assessment: Assessment | None, *, patient_id: str,
             include_phi: bool, scans: list[str]) -> dict:
    """Everything page one shows (see the module docstring)."""
    clinical = {"id": assessment.patient_id, **assessment.clinical} if assessment is not None else {}
    screening = [r.to_json() for r in assessment.screening] if assessment is not None else []
    return {"who": who(ct, mri, clinical, patient_id=patient_id, include_phi=include_phi, scans=scans),
            "bone": bone_quality(ct, mri, screening),
            "fractures": fractures(ct, mri),
            "planned": planned_levels(ct, list(clinical.get("planned_levels") or [])),
            "models": model_lines(assessment),
            "model_counts": assessment.counts_text() if assessment is not None else None,
            "warnings": warnings(ct, mri)}
