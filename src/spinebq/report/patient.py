"""The content of a per-patient report, as plain data shared by the HTML and PDF writers.

``patient_report(...)`` gathers, from the records of ``spinebq ct`` / ``spinebq mri`` (:class:`CtRecord`,
:class:`MriRecord`; a ``measurements.json`` / ``mri.json`` document is converted once, at its entry) and an
assessment: the levels cranial to caudal with every measured quantity (each cell keeps the JSON path and the
exact value it shows; the columns are the table of :mod:`spinebq.report.quantities`), the MRI scores, the
assessment rows, the pictures and the caveats. Nothing patient-identifying enters unless ``include_phi`` is set:
the report is headed by the identifier the user chose.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from spinebq.anatomy import ORDER
from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.records.quantities import Quantity
from spinebq.constants import RESEARCH_NOTICE
from spinebq.report.quantities import (ALWAYS_SHOWN, BY_KEY, CSF_SIGNAL, MRI_LEVEL_QUANTITIES, MRI_SCORES,
                                       REPORT_CT_KEYS, level_value, mri_level_value, present, unit_text)
from spinebq.risk.assess import ct_record, mri_record

PHI_LABELS = {"patient_name": "name", "patient_id": "patient ID", "patient_birth_date": "birth date",
              "patient_sex": "sex", "patient_age": "age", "study_date": "study date", "accession_number": "accession"}


def format_value(value, decimals: int | None) -> str:
    """Text of a cell: ``n/a`` for missing, numbers with ``decimals`` places, text as it is."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and decimals is not None:
        return f"{value:.{decimals}f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value).replace("_", " ")


def _cell(value, decimals) -> dict:
    value = present(value)
    return {"value": value, "text": format_value(value, decimals)}


def _column(q: Quantity) -> dict:
    return {"key": q.key, "header": q.label, "unit": unit_text(q), "decimals": q.decimals}


def _cranial_to_caudal(levels):
    return sorted(levels, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))


def ct_level_table(ct: CtRecord) -> dict:
    """Columns and rows (cranial to caudal) of the CT levels; a column appears when any level has a value for it
    (3D HU, three-slice HU and vBMD always)."""
    by_level = {v.level: v for v in ct.vertebrae}
    levels = _cranial_to_caudal(by_level)
    columns = [BY_KEY[k] for k in REPORT_CT_KEYS
               if k in ALWAYS_SHOWN or any(level_value(by_level[lv], k) is not None for lv in levels)]
    rows = []
    for lv in levels:
        vertebra = by_level[lv]
        cells = {q.key: _cell(level_value(vertebra, q.key), q.decimals) for q in columns}
        notes = list(vertebra.qc)
        if vertebra.excluded_reason:
            notes.append(f"missing: {vertebra.excluded_reason}")
        rows.append({"level": lv, "cells": cells, "qc": notes})
    return {"columns": [_column(q) for q in columns], "rows": rows}


def mri_tables(mri: MriRecord) -> dict:
    """MRI scores (VBQ, PBQ, S1-VBQ, CSF), the level table and the paraspinal muscle grades."""
    scores = []
    reasons = {"vbq": mri.vbq_reason, "s1_vbq": mri.s1_vbq_reason, "pbq": mri.pbq_reason}
    for q in MRI_SCORES:
        scores.append({"key": q.key, "label": q.label, **_cell(getattr(mri, q.key), q.decimals),
                       "method": mri.details.get(f"{q.key}_method"), "reason": reasons[q.key]})
    csf = mri.csf
    scores.append({"key": CSF_SIGNAL.key, "label": CSF_SIGNAL.label, **_cell(csf.signal, CSF_SIGNAL.decimals),
                   "method": f"at {csf.level}, {csf.voxels} voxels", "reason": csf.details.get("reason")})
    by_level = {v.level: v for v in mri.levels}
    rows = [{"level": lv, "cells": {q.key: _cell(mri_level_value(by_level[lv], q.key), q.decimals)
                                    for q in MRI_LEVEL_QUANTITIES},
             "qc": list(by_level[lv].qc)} for lv in _cranial_to_caudal(by_level)]
    muscle = [{"level": m.disc, "goutallier": m.goutallier, "plane": m.plane or "sagittal",
               "fat_fraction_left": m.fat_fraction_left, "fat_fraction_right": m.fat_fraction_right}
              for m in mri.muscle]
    return {"scores": scores, "columns": [_column(q) for q in MRI_LEVEL_QUANTITIES], "rows": rows, "muscle": muscle,
            "muscle_method": (mri.details.get("muscle_method") or {}).get("limitation")}


def scan_lines(ct: CtRecord | None, mri: MriRecord | None, *, include_phi: bool) -> list[str]:
    """One line per input describing the scan (no path or UID unless ``include_phi``)."""
    lines = []
    if ct is not None:
        i = ct.acquisition
        parts = [i.get("modality") or "CT", i.get("manufacturer"), i.get("model"),
                 f"{i.get('kvp'):g} kVp" if i.get("kvp") else "kVp not recorded", i.get("kernel") and f"kernel {i.get('kernel')}",
                 f"voxels {' x '.join(f'{s:g}' for s in i.spacing_mm)} mm",
                 f"contrast: {i.get('contrast_agent')}" if i.get("contrast_agent") else "no contrast agent in the header",
                 i.get("format")]
        if include_phi and i.get("series_uid"):
            parts.append(f"series {i.get('series_uid')}")
        lines.append("CT: " + ", ".join(str(p) for p in parts if p))
    if mri is not None:
        i = mri.input
        parts = [i.get("modality") or "MR", f"weighting {i.get('weighting')}", i.get("manufacturer"), i.get("model"),
                 f"{i['field_strength_t']:g} T" if i.get("field_strength_t") else "field strength unknown",
                 f"TR {i['tr_ms']:g} ms" if i.get("tr_ms") else None, f"TE {i['te_ms']:g} ms" if i.get("te_ms") else None,
                 i.get("format")]
        lines.append("MRI: " + ", ".join(str(p) for p in parts if p))
    return lines


def caveats(ct: CtRecord | None, mri: MriRecord | None, assessment: Mapping | None) -> list[str]:
    """Method, calibration and contrast caveats, in the words of the input records."""
    out = []
    if ct is not None:
        method = ct.method
        out.append(f"CT method: preset {method.get('preset')} ({method.get('statistic')} HU of the 3D trabecular ROI; "
                   f"{method.get('reference')}); metal above {method.get('metal_threshold_hu')} HU excluded.")
        if method.get("hu_2d"):
            out.append(f"Three-slice HU: {method['hu_2d']}.")
        cal = ct.calibration
        if cal.get("method", "none") == "none":
            out.append(f"Calibration: none ({cal.get('reason', 'not calibrated')}). HU is not vBMD; no vBMD cutoff or "
                       "ACR category is applied.")
        else:
            out.append(f"Calibration ({cal.get('method')}): {cal.get('equation')}" + (f", R^2 {cal['r2']}" if cal.get("r2") else "")
                       + (f". {cal['warning']}" if cal.get("warning") else "") + ".")
        acquisition = ct.acquisition
        kvp = acquisition.get("kvp")
        if acquisition.get("contrast_agent"):
            out.append("Contrast: " + (acquisition.extra.get("contrast_note") or "the header names a contrast agent") +
                       ". Raw HU is shown; no correction is applied.")
        if not kvp:
            out.append("Tube voltage is not recorded in the input (e.g. NIfTI): published HU cutoffs assume 120 kVp.")
        elif float(kvp) != 120:
            out.append(f"CT at {kvp:g} kVp: published HU cutoffs assume 120 kVp (HU falls as kVp rises).")
        skipped = ct.summary.levels_skipped
        if skipped:
            out.append("Summary levels skipped: " + ", ".join(f"{k} ({v})" for k, v in skipped.items()) + ".")
        for w in acquisition.warnings:
            out.append(f"CT input: {w}")
    if mri is not None:
        for flag in mri.input.get("flags") or []:
            out.append(f"MRI: {flag}.")
        limitation = (mri.details.get("muscle_method") or {}).get("limitation")
        if limitation:
            out.append(f"MRI muscle: {limitation}.")
    if assessment:
        out.append("Assessment: " + assessment.get("no_pooled_score", "") + ". Each cutoff applies to its own paper's "
                   "population, endpoint and method; the caveats of each row say where this patient differs.")
    out.append(RESEARCH_NOTICE)
    return out


def pictures(ct_dir: Path | None, mri_dir: Path | None, ct_names=(), mri_names=()) -> list[dict]:
    """The PNG pictures the CT and MRI runs wrote (``ct_names``/``mri_names``, their records' ``outputs``; never
    other files of the folders): CT sagittal overview first, then per level cranial to caudal, then the MRI
    sagittal overview and the other MRI pictures."""
    out = []
    if ct_dir is not None:
        pngs = [ct_dir / name for name in ct_names if name.endswith(".png") and (ct_dir / name).is_file()]

        def rank(p: Path):
            level = next((lv for lv in ORDER if f"_{lv}_" in p.name or p.stem.endswith(f"_{lv}")), None)
            return (0 if "sagittal" in p.name else 1, ORDER.index(level) if level else len(ORDER), p.name)

        for p in sorted(pngs, key=rank):
            out.append({"path": p, "title": "CT: " + p.stem.replace("overlay_", "").replace("_", " ")})
    if mri_dir is not None:
        mri_pngs = [mri_dir / name for name in mri_names if name.endswith(".png") and (mri_dir / name).is_file()]
        for p in sorted(mri_pngs, key=lambda p: (0 if "sagittal" in p.name else 1, p.name)):
            out.append({"path": p, "title": "MRI: " + p.stem.replace("mri_", "").replace("_", " ")})
    return out


def patient_report(ct: CtRecord | Mapping | None, mri: MriRecord | Mapping | None, assessment: Mapping | None, *,
                   patient_id: str = "patient", ct_dir: str | Path | None = None, mri_dir: str | Path | None = None,
                   include_phi: bool = False) -> dict:
    """Everything a per-patient report shows, as plain data (see the module docstring).

    Parameters
    ----------
    ct : CtRecord, dict or None
        The CT results: a record, or its ``spinebq.ct/1`` document (``measurements.json``), converted here once.
    mri : MriRecord, dict or None
        The MRI results: a record, or its ``spinebq.mri/1`` document (``mri.json``), converted here once.
    assessment : dict or None
        The ``spinebq.assess/1`` result of :func:`spinebq.risk.assess.assess_patient`.
    patient_id : str
        The identifier the report is headed by.
    ct_dir, mri_dir : path, optional
        Folders whose PNG pictures the report shows.
    include_phi : bool
        Show the patient's name, ID and birth date when the CT record carries them.
    """
    ct = ct_record(ct)
    mri = mri_record(mri)
    phi = {}
    patient = ct.acquisition.extra.get("patient") if ct is not None else None
    if include_phi and patient:
        phi = {PHI_LABELS.get(k, k): v for k, v in patient.items() if v}
    ct_summary = None
    if ct is not None:
        s = ct.summary
        ct_summary = {"levels": list(s.levels_used), "hu": present(s.hu), "hu_key": s.hu_key,
                      "hu_2d": present(s.hu_2d), "vbmd_mg_cm3": present(s.vbmd_mg_cm3), "acr_category": s.acr_category,
                      "acr_reference": s.details.get("acr_reference")}
    return {
        "patient_id": patient_id,
        "phi": phi,
        "notice": RESEARCH_NOTICE,
        "scans": scan_lines(ct, mri, include_phi=include_phi),
        "ct_summary": ct_summary,
        "ct_levels": ct_level_table(ct) if ct is not None else None,
        "mri": mri_tables(mri) if mri is not None else None,
        "assessment": list((assessment or {}).get("models") or []),
        "clinical": {k: v for k, v in ((assessment or {}).get("patient") or {}).items() if k != "id"},
        "pictures": pictures(Path(ct_dir) if ct_dir else None, Path(mri_dir) if mri_dir else None,
                             ct.outputs if ct is not None else (), mri.outputs if mri is not None else ()),
        "caveats": caveats(ct, mri, assessment),
    }
