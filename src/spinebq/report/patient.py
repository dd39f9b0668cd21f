"""The content of a per-patient report, as plain data for its one layout (:mod:`spinebq.report.html`; the PDF is
the same HTML printed, :mod:`spinebq.report.pdf`).

``patient_report(...)`` gathers, from the records of ``spinebq ct`` / ``spinebq mri`` (:class:`CtRecord`,
:class:`MriRecord`; a ``measurements.json`` / ``mri.json`` document is converted once, at its entry) and an
assessment: page one (:mod:`spinebq.report.summary`), then one block per vertebra cranial to caudal with its
numbers (each cell keeps the JSON path and the exact value it shows; the quantities are the table of
:mod:`spinebq.report.quantities`) and its own pictures, the MRI scores, the assessment rows and the caveats. Nothing patient-identifying enters unless ``include_phi`` is set:
the report is headed by the identifier the user chose.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from spinebq.anatomy import ORDER
from spinebq.records.assessment import Assessment
from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.records.quantities import Quantity
from spinebq.constants import DEFAULT_PATIENT_ID, RESEARCH_NOTICE
from spinebq.report.quantities import (ALWAYS_SHOWN, BY_KEY, CSF_SIGNAL, METHOD_LABELS, MRI_LEVEL_QUANTITIES,
                                       MRI_SCORES, NOT_CALIBRATED, PEDICLE_WIDTHS, REPORT_CT_KEYS, level_value,
                                       mri_level_value,
                                       present, unit_text)
from spinebq.report.summary import ACR_REFERENCE, ACR_THRESHOLDS_MG_CM3, contrast_note, cranial_first, page_one
from spinebq.report.text import cite_text, human, levels_text
from spinebq.risk.assess import ct_record, mri_record
from spinebq.vocabulary import QcFlag

PHI_LABELS = {"patient_name": "name", "patient_id": "patient ID", "patient_birth_date": "birth date",
              "patient_sex": "sex", "patient_age": "age", "study_date": "study date", "accession_number": "accession"}


def format_value(value, decimals: int | None, reason: str | None = None) -> str:
    """Text of a cell (:func:`spinebq.report.text.human` without unit): ``not measured`` for missing."""
    return human(value, "", decimals, reason=reason)


def _cell(value, decimals, reason: str | None = None) -> dict:
    value = present(value)
    return {"value": value, "text": format_value(value, decimals, reason)}


def _column(q: Quantity) -> dict:
    return {"key": q.key, "header": q.label, "unit": unit_text(q), "decimals": q.decimals}


def _cranial_to_caudal(levels):
    return sorted(levels, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))


def _missing_reason(ct: CtRecord, vertebra, key: str) -> str | None:
    if key == "vbmd_mg_cm3" and ct.calibration.get("method", "none") == "none":
        return "scan not calibrated"
    return vertebra.excluded_reason.replace("_", " ") if vertebra.excluded_reason else None


def method_label(ct: CtRecord, key: str) -> str:
    """The method label shown beside number ``key`` (:data:`~spinebq.report.quantities.METHOD_LABELS`), or
    :data:`~spinebq.report.quantities.NOT_CALIBRATED` for the vBMD and ACR of a scan without calibration."""
    if key in ("vbmd_mg_cm3", "acr_category") and ct.calibration.get("method", "none") == "none":
        return NOT_CALIBRATED
    return METHOD_LABELS[key]


def body_methods(ct: CtRecord) -> str:
    """How each level's body was cut from its label (``body_method``), each method once with its levels:
    ``posterior elements cut at the spinal canal (T12, L2-L5; projected: L1); no spinal canal found: whole label
    used (T11, S1)``. Empty when no level records it."""
    by_method: dict[str, dict[str, list[str]]] = {}  # method -> qualifier ('' for none) -> levels
    for v in cranial_first(ct.vertebrae):
        text = v.details.get("body_method")
        if not text:
            continue
        base, qualifier = str(text), ""
        if base.endswith(")") and " (" in base:
            base, qualifier = base[:-1].rsplit(" (", 1)
        by_method.setdefault(base, {}).setdefault(qualifier, []).append(v.level)
    return "; ".join(f"{base} (" + "; ".join((f"{q}: " if q else "") + levels_text(levels) for q, levels
                                            in sorted(parts.items())) + ")" for base, parts in by_method.items())


def level_blocks(ct: CtRecord, ct_dir: Path | None) -> list[dict]:
    """One block per vertebra, cranial to caudal: its numbers (quantities with a value, and the always-shown ones
    with the reason they are missing), its QC flags and its own pictures (matched by the level in the file name)."""
    by_level = {v.level: v for v in ct.vertebrae}
    blocks = []
    for lv in _cranial_to_caudal(by_level):
        vertebra = by_level[lv]
        rows = []
        for key in REPORT_CT_KEYS:
            q = BY_KEY[key]
            value = level_value(vertebra, key)
            if present(value) is None and key not in ALWAYS_SHOWN:
                continue
            rows.append({"key": key, "label": q.label, "unit": unit_text(q), "method": method_label(ct, key),
                         **_cell(value, q.decimals, _missing_reason(ct, vertebra, key))})
        flags = [f.replace("_", " ") for f in vertebra.qc]
        if vertebra.excluded_reason:
            flags.append(f"left out of the summary: {vertebra.excluded_reason.replace('_', ' ')}")
        widths = vertebra.isthmus_widths_mm
        blocks.append({"level": lv, "rows": rows, "flags": flags, "deformity": vertebra.deformity_type,
                       "pedicle_widths_mm": widths if any(w is not None for w in widths.values()) else None,
                       "pictures": level_pictures(ct_dir, ct.outputs, lv)})
    return blocks


def method_notes(ct: CtRecord, keys: Iterable[str]) -> list[str]:
    """One line per method label (:data:`~spinebq.report.quantities.METHOD_LABELS`) of the numbers ``keys`` the
    level blocks show, naming those numbers and describing the method in the words of measurements.json
    ``method`` (and of the levels' own records: Genant grading, body source).

    Parameters
    ----------
    ct : CtRecord
    keys : iterable of str
        Keys of :data:`~spinebq.report.quantities.METHOD_LABELS` shown, in the order the blocks show them.

    Returns
    -------
    list of str
        ``2D rectangles (ST-HU): mean of the left and right 2D rectangle ROIs ... [yang2026] ...``.
    """
    method = ct.method
    regional = method.get("regional") or {}

    def recorded(text) -> str:
        return text or "not recorded in measurements.json"

    metal = method.get("metal_threshold_hu")
    genant = {v.regional.genant.get("reference") for v in ct.vertebrae if v.regional is not None} - {None}
    low, high = ACR_THRESHOLDS_MG_CM3
    texts = {
        "3D ROI": f"preset {method.get('preset') or 'not recorded'}, {method.get('statistic') or 'mean'} HU of the 3D "
                  f"trabecular ROI ({method.get('reference') or 'reference not recorded'})"
                  + (f"; metal above {metal:g} HU excluded" if metal else ""),
        "three-slice": recorded(method.get("hu_2d")) + (f"; B-HU: {regional['b_hu']}" if regional.get("b_hu") else ""),
        "3D ROI + calibration": f"the level's {method.get('headline_key') or 'hu_3d'} (3D ROI) through the scan's "
                                "calibration (see Calibration)",
        NOT_CALIBRATED: "the scan has no HU -> vBMD calibration, so no vBMD or ACR category is given (with one, vBMD "
                        f"is the level's {method.get('headline_key') or 'hu_3d'} through it; see Calibration)",
        "contrast-corrected": f"the level's raw HU minus {contrast_note(ct)} (docs/methods.md section 3); the raw HU "
                              "beside it",
        "ACR": f"category of the vBMD: < {low:g}, {low:g}-{high:g}, > {high:g} mg/cm3 [{ACR_REFERENCE}]",
        "2D rectangles": recorded(regional.get("st_hu")),
        "ST-HU / B-HU": recorded(regional.get("hu_ratio")),
        "regions A-C": "; ".join(f"{name}: {text}" for name, text in (regional.get("regions") or {}).items())
                       or recorded(None),
        "screw cylinder": f"the mean HU in each virtual screw's cylinder (ST-HU 3D, the cylinder of region C; screws: "
                          f"{regional.get('trajectory') or 'not recorded'}): {recorded(regional.get('screw_roi'))}",
        "body heights": recorded(regional.get("heights")),
        "Genant": "; ".join(sorted(genant)) or recorded(None),
        "body label": body_methods(ct) or recorded(None),
        "pedicle isthmus": recorded(regional.get("pedicles")),
    }
    numbers: dict[str, dict[str, None]] = {}  # method label -> the numbers' labels, in order
    for key in keys:
        label = method_label(ct, key)
        numbers.setdefault(label, {})[BY_KEY[key].label if key in BY_KEY else label] = None
    return [label + (f" ({', '.join(names)})" if list(names) != [label] else "") + f": {texts[label]}."
            for label, names in numbers.items()]


def level_pictures(ct_dir: Path | None, names: Iterable[str], level: str) -> list[dict]:
    """The CT pictures of one level (``overlay_L1_ellipses.png``, ``trajectory_L1.png``): the level is a whole
    token of the file name, so L1 never takes T12's or L1's neighbour's picture."""
    out = []
    for p in recorded_pngs(ct_dir, names):
        if level in p.stem.split("_"):
            kind = "three-slice ellipses" if "ellipse" in p.stem else "virtual screws" if "trajectory" in p.stem else \
                p.stem.replace("_", " ")
            out.append({"path": p, "title": f"{level}: {kind}"})
    return out


def mri_tables(mri: MriRecord) -> dict:
    """MRI scores (VBQ, PBQ, S1-VBQ, CSF), the level table and the paraspinal muscle grades."""
    scores = []
    reasons = {"vbq": mri.vbq_reason, "s1_vbq": mri.s1_vbq_reason, "pbq": mri.pbq_reason}
    for q in MRI_SCORES:
        scores.append({"key": q.key, "label": q.label, **_cell(getattr(mri, q.key), q.decimals, reasons[q.key]),
                       "method": mri.details.get(f"{q.key}_method"), "reason": reasons[q.key]})
    csf = mri.csf
    scores.append({"key": CSF_SIGNAL.key, "label": CSF_SIGNAL.label, **_cell(csf.signal, CSF_SIGNAL.decimals),
                   "method": f"at {csf.level}, {csf.voxels} voxels", "reason": csf.details.get("reason")})
    by_level = {v.level: v for v in mri.levels}
    rows = [{"level": lv, "cells": {q.key: _cell(mri_level_value(by_level[lv], q.key), q.decimals)
                                    for q in MRI_LEVEL_QUANTITIES},
             "qc": list(by_level[lv].qc)} for lv in _cranial_to_caudal(by_level)]
    muscle = [{"level": m.disc, "goutallier": m.goutallier, "plane": m.plane or "sagittal",
               "fat_fraction_left": m.fat_fraction_left, "fat_fraction_right": m.fat_fraction_right,
               "near_cutoff": m.details.get("near_cutoff")} for m in mri.muscle]
    return {"scores": scores, "columns": [_column(q) for q in MRI_LEVEL_QUANTITIES], "rows": rows, "muscle": muscle,
            "muscle_missing": mri.muscle_missing(),
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
        parts = [i.get("modality") or "MR", f"weighting {i.get('weighting') or 'not recorded'}", i.get("manufacturer"), i.get("model"),
                 f"{i['field_strength_t']:g} T" if i.get("field_strength_t") else "field strength unknown",
                 f"TR {i['tr_ms']:g} ms" if i.get("tr_ms") else None, f"TE {i['te_ms']:g} ms" if i.get("te_ms") else None,
                 i.get("format")]
        lines.append("MRI: " + ", ".join(str(p) for p in parts if p))
    return lines


def caveats(ct: CtRecord | None, mri: MriRecord | None, assessment: Assessment | None,
            levels: Iterable[dict] = ()) -> list[str]:
    """Method, calibration and contrast caveats, in the words of the input records: first the method of every
    number the level blocks ``levels`` (:func:`level_blocks`) show (:func:`method_notes`)."""
    out = []
    if ct is not None:
        shown = [row["key"] for block in levels for row in block["rows"]]
        shown += [PEDICLE_WIDTHS] * any(block["pedicle_widths_mm"] for block in levels)
        out += method_notes(ct, [key for key in METHOD_LABELS if key in shown])
        cal = ct.calibration
        if cal.get("method", "none") == "none":
            out.append(f"Calibration: none ({cal.get('reason', 'not calibrated')}). HU is not vBMD; no vBMD cutoff or "
                       "ACR category is applied.")
        else:
            out.append(f"Calibration ({cal.get('method')}): {cal.get('equation') or 'equation not recorded'}"
                       + (f", R^2 {cal['r2']:.4f}" if isinstance(cal.get("r2"), float) else "")
                       + (f". {cal['warning']}" if cal.get("warning") else "") + ".")
        acquisition = ct.acquisition
        kvp = acquisition.get("kvp")
        if ct.contrast_enhanced:
            contrast = ct.summary.regional.contrast if ct.summary.regional is not None else {}
            correction = contrast.get("correction", "none")
            out.append("Contrast: " + (acquisition.extra.get("contrast_note") or f"contrast phase {human(contrast.get('phase'))}: "
                                       "trabecular HU is raised by enhancement") + ". Raw HU is shown and placed against "
                       "the published cutoffs (found on unenhanced scans); "
                       + ("no correction is applied." if correction == "none" else
                          f"{contrast_note(ct)} is given "
                          "beside it (the contrast-corrected rows of page one and of each level)."))
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
        notes = mri.input.get("flag_notes") or {}
        for flag in mri.input.get("flags") or []:
            out.append(f"MRI: {notes.get(flag, flag)}.")
        limitation = (mri.details.get("muscle_method") or {}).get("limitation")
        if limitation:
            out.append(f"MRI muscle: {limitation}.")
        out += [f"MRI muscle, {levels}: fat fraction and Goutallier grade not measured ({reason})."
                for reason, levels in mri.muscle_missing().items()]
        near = QcFlag.GOUTALLIER_NEAR_CUTOFF.value
        out += [f"MRI muscle, {m.disc}: Goutallier {m.goutallier}, {m.details['qc_notes'][near]}."
                for m in mri.muscle if near in m.qc]
    if assessment is not None:
        out.append("Assessment: " + assessment.no_pooled_score + ". Each cutoff applies to its own paper's "
                   "population, endpoint and method; the caveats of each row say where this patient differs.")
    out.append(RESEARCH_NOTICE)
    return out


def recorded_pngs(folder: Path | None, names: Iterable[str]) -> list[Path]:
    """The PNG files a run recorded in its record's ``outputs`` (never other files of its folder)."""
    if folder is None:
        return []
    return sorted(Path(folder) / n for n in names if n.endswith(".png") and (Path(folder) / n).is_file())


def pictures(ct_dir: Path | None, mri_dir: Path | None, ct_names: Iterable[str] = (),
             mri_names: Iterable[str] = ()) -> list[dict]:
    """The overview pictures the CT and MRI runs wrote (``ct_names``/``mri_names``, their records' ``outputs``):
    the CT pictures of no single level (sagittal overview first), then the MRI sagittal overview and the other
    MRI pictures. Per-level CT pictures go with their level (:func:`level_pictures`)."""
    out = []
    overview = [p for p in recorded_pngs(ct_dir, ct_names) if not any(lv in p.stem.split("_") for lv in ORDER)]
    for p in sorted(overview, key=lambda p: (0 if "sagittal" in p.name else 1, p.name)):
        out.append({"path": p, "title": "CT: " + p.stem.replace("overlay_", "").replace("_", " ")})
    for p in sorted(recorded_pngs(mri_dir, mri_names), key=lambda p: (0 if "sagittal" in p.name else 1, p.name)):
        out.append({"path": p, "title": "MRI: " + p.stem.replace("mri_", "").replace("_", " ")})
    return out


def patient_report(ct: CtRecord | Mapping | None, mri: MriRecord | Mapping | None, assessment: Assessment | None, *,
                   patient_id: str = DEFAULT_PATIENT_ID, ct_dir: str | Path | None = None,
                   mri_dir: str | Path | None = None,
                   include_phi: bool = False) -> dict:
    """Everything a per-patient report shows, as plain data (see the module docstring).

    Parameters
    ----------
    ct : CtRecord, dict or None
        The CT results: a record, or its ``spinebq.ct/1`` document (``measurements.json``), converted here once.
    mri : MriRecord, dict or None
        The MRI results: a record, or its ``spinebq.mri/1`` document (``mri.json``), converted here once.
    assessment : Assessment or None
        The result of :func:`spinebq.risk.assess.assess_patient`.
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
    scans = scan_lines(ct, mri, include_phi=include_phi)
    ct_dir = Path(ct_dir) if ct_dir else None
    levels = level_blocks(ct, ct_dir) if ct is not None else []
    return {
        "patient_id": patient_id,
        "phi": phi,
        "notice": RESEARCH_NOTICE,
        "scans": scans,
        "page_one": page_one(ct, mri, assessment, patient_id=patient_id, include_phi=include_phi, scans=scans),
        "levels": levels,
        "screening": [r.to_json() for r in assessment.screening] if assessment is not None else [],
        "mri": mri_tables(mri) if mri is not None else None,
        "assessment": [r.to_json() for r in assessment.models] if assessment is not None else [],
        "pictures": pictures(Path(ct_dir) if ct_dir else None, Path(mri_dir) if mri_dir else None,
                             ct.outputs if ct is not None else (), mri.outputs if mri is not None else ()),
        "caveats": [cite_text(c) for c in caveats(ct, mri, assessment, levels)],
    }
