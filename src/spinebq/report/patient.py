"""The content of a per-patient report, as plain data shared by the HTML and PDF writers.

``patient_report(...)`` gathers, from the documents of ``spinebq ct`` / ``spinebq mri`` and an assessment:
the levels cranial to caudal with every measured quantity (each cell keeps the JSON path and the exact value
it shows), the MRI scores, the assessment rows, the pictures and the caveats. Nothing patient-identifying
enters unless ``include_phi`` is set: the report is headed by the identifier the user chose.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from spinebq.anatomy import ORDER
from spinebq.report.files import RESEARCH_NOTICE

#: CT level columns: (JSON path inside a vertebra, header, unit, decimals). Shown when any level has the key.
CT_COLUMNS = (
    ("hu_3d", "3D HU", "HU", 1),
    ("hu_3d_median", "3D HU median", "HU", 1),
    ("hu_2d", "3-slice HU", "HU", 1),
    ("vbmd_mg_cm3", "vBMD", "mg/cm3", 1),
    ("acr_category", "ACR", "", None),
    ("b_hu", "B-HU", "HU", 1),
    ("st_hu", "ST-HU", "HU", 1),
    ("hu_ratio", "HU ratio", "", 3),
    ("trajectories.left.hu_mean", "trajectory L", "HU", 1),
    ("trajectories.right.hu_mean", "trajectory R", "HU", 1),
    ("heights_mm.anterior", "height ant.", "mm", 1),
    ("heights_mm.middle", "height mid.", "mm", 1),
    ("heights_mm.posterior", "height post.", "mm", 1),
    ("genant_grade", "Genant", "grade", 0),
    ("body_volume_ml", "body volume", "ml", 1),
)
MRI_COLUMNS = (
    ("body_signal", "body SI", "", 1),
    ("pedicle_signal_left", "pedicle SI L", "", 1),
    ("pedicle_signal_right", "pedicle SI R", "", 1),
)
PHI_LABELS = {"patient_name": "name", "patient_id": "patient ID", "patient_birth_date": "birth date",
              "patient_sex": "sex", "patient_age": "age", "study_date": "study date", "accession_number": "accession"}


def get_path(entry: Mapping, path: str):
    """Value at a dotted path (``"trajectories.left.hu_mean"``) or None."""
    value = entry
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


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
    return {"value": value, "text": format_value(value, decimals)}


def region_columns(vertebrae: Mapping) -> list[tuple[str, str, str, int]]:
    """Columns for ``regions`` (issue 4: A body, B pedicle, C trajectory; per side or not): their mean HU."""
    out: list[tuple[str, str, str, int]] = []
    for entry in vertebrae.values():
        for name, region in (entry.get("regions") or {}).items():
            if not isinstance(region, Mapping):
                continue
            sides = [k for k in ("left", "right") if isinstance(region.get(k), Mapping)]
            for side in sides or [None]:
                sub = region[side] if side else region
                key = next((k for k in ("hu_mean", "hu", "hu_3d") if k in sub), None)
                if key is None:
                    continue
                path = f"regions.{name}.{side}.{key}" if side else f"regions.{name}.{key}"
                column = (path, f"region {name}" + (f" {side[0].upper()}" if side else ""), "HU", 1)
                if column not in out:
                    out.append(column)
    return out


def ct_level_table(ct: Mapping) -> dict:
    """Columns and rows (cranial to caudal) of the CT levels; a column appears when any level has it."""
    vertebrae = ct.get("vertebrae") or {}
    levels = sorted(vertebrae, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    candidates = list(CT_COLUMNS[:8]) + region_columns(vertebrae) + list(CT_COLUMNS[8:])
    columns = [c for c in candidates if any(get_path(vertebrae[lv], c[0]) is not None for lv in levels)
               or c[0] in ("hu_3d", "hu_2d", "vbmd_mg_cm3")]
    rows = []
    for lv in levels:
        entry = vertebrae[lv]
        cells = {c[0]: _cell(get_path(entry, c[0]), c[3]) for c in columns}
        notes = list(entry.get("qc") or [])
        if entry.get("excluded_reason"):
            notes.append(f"missing: {entry['excluded_reason']}")
        rows.append({"level": lv, "cells": cells, "qc": notes})
    return {"columns": [{"key": k, "header": h, "unit": u, "decimals": d} for k, h, u, d in columns], "rows": rows}


def mri_tables(mri: Mapping) -> dict:
    """MRI scores (VBQ, PBQ, S1-VBQ, CSF), the level table and the paraspinal muscle grades."""
    scores = []
    for key, label in (("vbq", "VBQ"), ("s1_vbq", "S1-VBQ"), ("pbq", "PBQ")):
        scores.append({"key": key, "label": label, **_cell(mri.get(key), 2),
                       "method": mri.get(f"{key}_method"), "reason": mri.get(f"{key}_reason")})
    csf = mri.get("csf") or {}
    scores.append({"key": "csf.signal", "label": "CSF signal", **_cell(csf.get("signal"), 1),
                   "method": f"at {csf.get('level')}, {csf.get('voxels')} voxels", "reason": csf.get("reason")})
    levels = mri.get("levels") or {}
    order = sorted(levels, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    rows = [{"level": lv, "cells": {c[0]: _cell(levels[lv].get(c[0]), c[3]) for c in MRI_COLUMNS},
             "qc": list(levels[lv].get("qc") or [])} for lv in order]
    muscle = [{"level": lv, "goutallier": m.get("goutallier"), "plane": m.get("plane", "sagittal"),
               "fat_fraction_left": m.get("fat_fraction_left"), "fat_fraction_right": m.get("fat_fraction_right")}
              for lv, m in (mri.get("muscle") or {}).items()]
    return {"scores": scores, "columns": [{"key": k, "header": h, "unit": u, "decimals": d} for k, h, u, d in MRI_COLUMNS],
            "rows": rows, "muscle": muscle, "muscle_method": (mri.get("muscle_method") or {}).get("limitation")}


def scan_lines(ct: Mapping | None, mri: Mapping | None, *, include_phi: bool) -> list[str]:
    """One line per input describing the scan (no path or UID unless ``include_phi``)."""
    lines = []
    if ct:
        i = ct.get("input") or {}
        parts = [i.get("modality") or "CT", i.get("manufacturer"), i.get("model"),
                 f"{i['kvp']:g} kVp" if i.get("kvp") else "kVp not recorded", i.get("kernel") and f"kernel {i['kernel']}",
                 f"voxels {' x '.join(f'{s:g}' for s in i.get('spacing_mm') or [])} mm",
                 f"contrast: {i['contrast_agent']}" if i.get("contrast_agent") else "no contrast agent in the header",
                 i.get("format")]
        if include_phi and i.get("series_uid"):
            parts.append(f"series {i['series_uid']}")
        lines.append("CT: " + ", ".join(str(p) for p in parts if p))
    if mri:
        i = mri.get("input") or {}
        parts = [i.get("modality") or "MR", f"weighting {i.get('weighting')}", i.get("manufacturer"), i.get("model"),
                 f"{i['field_strength_t']:g} T" if i.get("field_strength_t") else "field strength unknown",
                 f"TR {i['tr_ms']:g} ms" if i.get("tr_ms") else None, f"TE {i['te_ms']:g} ms" if i.get("te_ms") else None,
                 i.get("format")]
        lines.append("MRI: " + ", ".join(str(p) for p in parts if p))
    return lines


def caveats(ct: Mapping | None, mri: Mapping | None, assessment: Mapping | None) -> list[str]:
    """Method, calibration and contrast caveats, in the words of the input documents."""
    out = []
    if ct:
        method = ct.get("method") or {}
        out.append(f"CT method: preset {method.get('preset')} ({method.get('statistic')} HU of the 3D trabecular ROI; "
                   f"{method.get('reference')}); metal above {method.get('metal_threshold_hu')} HU excluded.")
        if method.get("hu_2d"):
            out.append(f"Three-slice HU: {method['hu_2d']}.")
        cal = ct.get("calibration") or {}
        if cal.get("method", "none") == "none":
            out.append(f"Calibration: none ({cal.get('reason', 'not calibrated')}). HU is not vBMD; no vBMD cutoff or "
                       "ACR category is applied.")
        else:
            out.append(f"Calibration ({cal.get('method')}): {cal.get('equation')}" + (f", R^2 {cal['r2']}" if cal.get("r2") else "")
                       + (f". {cal['warning']}" if cal.get("warning") else "") + ".")
        inputs = ct.get("input") or {}
        if inputs.get("contrast_agent"):
            out.append("Contrast: " + (inputs.get("contrast_note") or "the header names a contrast agent") +
                       ". Raw HU is shown; no correction is applied.")
        if not inputs.get("kvp"):
            out.append("Tube voltage is not recorded in the input (e.g. NIfTI): published HU cutoffs assume 120 kVp.")
        elif float(inputs["kvp"]) != 120:
            out.append(f"CT at {inputs['kvp']:g} kVp: published HU cutoffs assume 120 kVp (HU falls as kVp rises).")
        summary = ct.get("summary") or {}
        if summary.get("levels_skipped"):
            out.append("Summary levels skipped: " + ", ".join(f"{k} ({v})" for k, v in summary["levels_skipped"].items()) + ".")
        for w in inputs.get("warnings") or []:
            out.append(f"CT input: {w}")
    if mri:
        for flag in (mri.get("input") or {}).get("flags") or []:
            out.append(f"MRI: {flag}.")
        if (mri.get("muscle_method") or {}).get("limitation"):
            out.append(f"MRI muscle: {mri['muscle_method']['limitation']}.")
    if assessment:
        out.append("Assessment: " + assessment.get("no_pooled_score", "") + ". Each cutoff applies to its own paper's "
                   "population, endpoint and method; the caveats of each row say where this patient differs.")
    out.append(RESEARCH_NOTICE)
    return out


def pictures(ct_dir: Path | None, mri_dir: Path | None) -> list[dict]:
    """The PNG pictures of the input folders: CT sagittal overview first, then per level cranial to caudal, then
    the MRI sagittal overview and the other MRI pictures."""
    out = []
    if ct_dir is not None:
        pngs = sorted(ct_dir.glob("*.png"))

        def rank(p: Path):
            level = next((lv for lv in ORDER if f"_{lv}_" in p.name or p.stem.endswith(f"_{lv}")), None)
            return (0 if "sagittal" in p.name else 1, ORDER.index(level) if level else len(ORDER), p.name)

        for p in sorted(pngs, key=rank):
            out.append({"path": p, "title": "CT: " + p.stem.replace("overlay_", "").replace("_", " ")})
    if mri_dir is not None:
        for p in sorted(mri_dir.glob("*.png"), key=lambda p: (0 if "sagittal" in p.name else 1, p.name)):
            out.append({"path": p, "title": "MRI: " + p.stem.replace("mri_", "").replace("_", " ")})
    return out


def patient_report(ct: Mapping | None, mri: Mapping | None, assessment: Mapping | None, *, patient_id: str = "patient",
                   ct_dir: str | Path | None = None, mri_dir: str | Path | None = None, include_phi: bool = False) -> dict:
    """Everything a per-patient report shows, as plain data (see the module docstring)."""
    phi = {}
    if include_phi and ct and (ct.get("input") or {}).get("patient"):
        phi = {PHI_LABELS.get(k, k): v for k, v in ct["input"]["patient"].items() if v}
    ct_summary = None
    if ct:
        s = ct.get("summary") or {}
        ct_summary = {"levels": s.get("levels_used") or [], "hu": s.get("hu"), "hu_key": s.get("hu_key"),
                      "hu_2d": s.get("hu_2d"), "vbmd_mg_cm3": s.get("vbmd_mg_cm3"), "acr_category": s.get("acr_category"),
                      "acr_reference": s.get("acr_reference")}
    return {
        "patient_id": patient_id,
        "phi": phi,
        "notice": RESEARCH_NOTICE,
        "scans": scan_lines(ct, mri, include_phi=include_phi),
        "ct_summary": ct_summary,
        "ct_levels": ct_level_table(ct) if ct else None,
        "mri": mri_tables(mri) if mri else None,
        "assessment": list((assessment or {}).get("models") or []),
        "clinical": {k: v for k, v in ((assessment or {}).get("patient") or {}).items() if k != "id"},
        "pictures": pictures(Path(ct_dir) if ct_dir else None, Path(mri_dir) if mri_dir else None),
        "caveats": caveats(ct, mri, assessment),
    }
