"""One patient against every published model of the registry.

For each model: the patient's value (with where it came from), the cutoff, which side of it the patient
falls on and how well the model discriminated in its paper; for a nomogram whose coefficients the user
supplies, the points and the probability; and for a model that cannot be applied, why. Conditions that make
applying a model questionable (other kVp, contrast, method, level, field strength, population) are listed as
caveats. Nothing is pooled: spinebq does not invent a combined risk score.

The CT and MRI results are read as typed records (:class:`~spinebq.records.ct.CtRecord`,
:class:`~spinebq.records.mri.MriRecord`); a ``measurements.json`` / ``mri.json`` document handed to
:func:`assess_patient` is converted once, at its entry (:func:`ct_record`, :func:`mri_record`).
"""
from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from pathlib import Path

from spinebq import __version__
from spinebq.errors import SpinebqError
from spinebq.records.assessment import (CT_SUMMARY_VALUE_KEYS, LEVEL_VALUE_KEYS, PREDICTOR_NAMES, SCHEMA, Assessment,
                                        ModelResult, PatientValues)
from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.constants import DEFAULT_PATIENT_ID, RESEARCH_NOTICE
from spinebq.risk.registry import cutoff_text, load_models
from spinebq.risk.contrast_caveats import CONTRAST_CAVEAT, correction_caveat
from spinebq.risk.screening import screening_readings
from spinebq.risk.values import mri_fracture_caveat, normalise_clinical, parse_levels, patient_values

#: The paper's substitute levels when the model's level is not measurable (yang2026: L2/L4 for L3).
SUBSTITUTES = {"L3": ("L2", "L4")}
#: The registry's ``level`` of a model evaluated at each of the patient's planned levels.
PLANNED_LEVELS = "planned levels"
#: The registry's age conditions as the papers word them: ``age_min`` 18 is "age >= 18" ([yang2026]), ``age_over``
#: 50 is "aged over 50" ([xu2025]: a patient of exactly 50 lies outside its cohort); each with the test an age passes.
AGE_BOUNDS = {"age_min": (">=", operator.ge), "age_over": (">", operator.gt)}


def read_document(path: str | Path, name: str) -> dict:
    """Read ``measurements.json`` / ``mri.json`` from a folder (or the file itself); SpinebqError if unusable.

    Returns the document as written (the report shows its keys); :func:`ct_record` / :func:`mri_record` make
    the record the assessment reads.
    """
    path = Path(path)
    file = path / name if path.is_dir() else path
    if not file.is_file():
        raise SpinebqError(f"{path}: no {name} there (give the folder written by spinebq {'ct' if 'measure' in name else 'mri'})")
    from spinebq.io.schemas import CtDocument, MriDocument, read_json, validated

    document = read_json(file, f"spinebq {name}")
    validated(CtDocument if "measure" in name else MriDocument, document, file, f"spinebq {name}")
    return document


def _record(document, cls, what: str, where: str | None):
    if document is None or isinstance(document, cls):
        return document
    if not isinstance(document, Mapping):
        raise TypeError(f"{what}: expected a {cls.__name__} or its JSON document, not {type(document).__name__}")
    if not document:
        return None
    try:
        return cls.from_json(dict(document))
    except KeyError as exc:
        detail = f"not a complete {document.get('schema')} document (no {exc} key)"
    except (TypeError, ValueError) as exc:
        detail = str(exc)
    raise SpinebqError(f"{where or what}: {detail}")


def ct_record(ct: CtRecord | Mapping | None, where: str | None = None) -> CtRecord | None:
    """The CT record of ``ct``: a record as it is, a ``spinebq.ct/1`` document read with ``CtRecord.from_json``.

    Parameters
    ----------
    ct : CtRecord, dict or None
        An empty document counts as no CT results.
    where : str, optional
        What to name in the error message (the file the document came from).

    Raises
    ------
    SpinebqError
        When the document is not a ``spinebq.ct/1`` document.
    """
    return _record(ct, CtRecord, "CT results", where)


def mri_record(mri: MriRecord | Mapping | None, where: str | None = None) -> MriRecord | None:
    """The MRI record of ``mri``: a record as it is, a ``spinebq.mri/1`` document read with ``MriRecord.from_json``."""
    return _record(mri, MriRecord, "MRI results", where)


#: The layouts of a clinical CSV, for the message refusing any other.
CLINICAL_CSV_LAYOUTS = ("field,value rows (an optional 'field,value' header, then one row per field, e.g. 'age,71')",
                        "one header row of field names and one row of the patient's values (e.g. 'age,sex' then '71,F')")


def read_clinical(path: str | Path) -> dict:
    """Clinical data from a JSON object or a CSV file.

    Parameters
    ----------
    path : str or Path
        A JSON object (``{"age": 71, "sex": "F"}``) or a CSV in one of :data:`CLINICAL_CSV_LAYOUTS`. The CSV may be
        separated by commas, semicolons or tabs (the first line decides); with semicolons or tabs a decimal comma is
        read as a decimal point (``-2,0`` is -2.0), as European spreadsheets write it. Lines starting with ``#``
        are comments.

    Returns
    -------
    dict
        The fields as given, checked by :class:`spinebq.io.schemas.Clinical`; the ignored fields
        (:data:`spinebq.io.schemas.IGNORED_CLINICAL_FIELDS`) left out.

    Raises
    ------
    SpinebqError
        A missing or unreadable file, another CSV layout, a field spinebq does not know (a misspelling is never
        silently ignored), a field given twice, or a value out of range.
    """
    from spinebq.io.schemas import Clinical, read_json, validated

    path = Path(path)
    if not path.is_file():
        raise SpinebqError(f"{path}: clinical data file not found")
    if path.suffix.lower() == ".csv":
        data = _clinical_csv(path)
    else:
        data = read_json(path, "clinical data file")
        if not isinstance(data, dict):
            raise SpinebqError(f"{path}: clinical data must be a JSON object such as {{\"age\": 70, \"sex\": \"F\"}}")
    return validated(Clinical, data, path, "clinical data file").model_dump(exclude_none=True)


def _clinical_csv(path: Path) -> dict:
    """The ``{field: text}`` of a clinical CSV in either layout; SpinebqError naming the layouts otherwise."""
    import csv
    import re

    from spinebq.stats.data import csv_delimiter, csv_text

    try:
        text = csv_text(path.name, path.read_bytes())
    except OSError as exc:
        raise SpinebqError(f"{path}: clinical data CSV cannot be read ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise SpinebqError(f"{path}: clinical data CSV holds no rows")
    delimiter = csv_delimiter("\n".join(lines))
    rows = [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]
    if delimiter != ",":
        rows = [[re.sub(r"^([+-]?\d+),(\d+)$", r"\1.\2", cell) for cell in row] for row in rows]
    if [c.lower() for c in rows[0]] == ["field", "value"]:
        pairs = rows[1:]
    elif len(rows) > 1 and (len(rows[0]) > 2 or not _clinical_field(rows[1][0])):  # a header row of field names
        pairs = list(zip(*rows)) if len(rows) == 2 and len(rows[0]) == len(rows[1]) else None
    else:
        pairs = rows
    if pairs is None or any(len(pair) != 2 for pair in pairs):
        widths = sorted({len(row) for row in rows})
        raise SpinebqError(f"{path}: clinical data CSV has {len(rows)} row(s) of {'/'.join(map(str, widths))} cell(s) "
                           f"(separator {delimiter!r}); spinebq reads " + " or ".join(CLINICAL_CSV_LAYOUTS))
    data: dict[str, str] = {}
    for field, value in pairs:
        if field in data:
            raise SpinebqError(f"{path}: clinical data CSV gives the field {field!r} twice")
        data[field] = value
    return data


def _clinical_field(name: str) -> bool:
    from spinebq.io.schemas import IGNORED_CLINICAL_FIELDS, Clinical

    return name in Clinical.model_fields or name in IGNORED_CLINICAL_FIELDS


def read_nomogram(path: str | Path) -> dict:
    """Nomogram coefficients: a ``stats.json`` of ``spinebq stats`` or a JSON with intercept and coefficients.

    The JSON may also give ``ranges`` ({variable: [low, high]}, needed for points), ``cutoff`` (probability) and
    ``source`` (where the coefficients come from).
    """
    path = Path(path)
    file = path / "stats.json" if path.is_dir() else path
    from spinebq.io.schemas import Nomogram, read_json, validated

    data = read_json(file, "nomogram coefficient file")
    if isinstance(data, dict) and "nomogram" in data and data["nomogram"] is None:
        raise SpinebqError(f"{file}: this spinebq stats run has no nomogram (its multivariable model has perfect "
                           "separation, so it has no coefficients; see the notes in the file)")
    if isinstance(data, dict) and isinstance(data.get("nomogram"), dict):
        spec = dict(data["nomogram"])
        spec.setdefault("source", f"spinebq stats on {data.get('source', file.name)}")
        data = spec
    if not isinstance(data, dict) or "intercept" not in data or not isinstance(data.get("coefficients"), dict):
        raise SpinebqError(f"{file}: a nomogram needs 'intercept' and 'coefficients' ({{variable: log-odds per unit}})")
    validated(Nomogram, data, file, "nomogram coefficient file")
    data.setdefault("source", f"user-supplied coefficients ({file.name})")
    return data


def _side(value: float, cutoff: float, direction: str) -> bool:
    """True when ``value`` is on the side of ``cutoff`` that went with the endpoint."""
    return value < cutoff if direction == "<" else value >= cutoff


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def summary_levels_caveat(model: dict, levels_used) -> str | None:
    """The caveat of a summary value (``summary_*``) over other levels than the model's (``--levels L3-L5``
    against a cutoff for the L1-L4 mean); None when the levels are the model's or the model is not a summary's.

    Examples
    --------
    >>> model = {"variable": "summary_hu_3d", "level": "L1-L4", "paper": "chang2025"}
    >>> summary_levels_caveat(model, ["L3", "L4", "L5"])
    "the mean of L3, L4, L5 is placed against [chang2025]'s cutoff for the mean of L1-L4"
    >>> summary_levels_caveat(model, ["L1", "L2", "L3", "L4"]) is None
    True
    """
    wanted = model.get("level")
    if not str(model.get("variable", "")).startswith("summary_") or not wanted:
        return None
    try:
        wanted_levels = parse_levels(wanted)
    except ValueError:
        return None
    used = list(levels_used)
    if used == wanted_levels:
        return None
    return (f"the mean of {', '.join(used) or 'no level'} is placed against [{model.get('paper')}]'s cutoff for the "
            f"mean of {wanted}")


def _condition_caveats(model: dict, ct: CtRecord | None, mri: MriRecord | None,
                       clinical: dict) -> tuple[list[str], str | None]:
    """(caveats, reason not applicable or None) from the model's conditions and the patient's data."""
    cond = model.get("conditions") or {}
    caveats: list[str] = []
    modality = model.get("modality", "")
    if "CT" in modality and ct is not None:
        kvp = ct.acquisition.get("kvp")
        if cond.get("kvp"):
            wanted = "/".join(f"{k:g}" for k in cond["kvp"])
            if kvp is None:
                caveats.append(f"tube voltage not recorded in the CT input; the paper used {wanted} kVp (HU falls as kVp rises)")
            elif float(kvp) not in [float(k) for k in cond["kvp"]]:
                caveats.append(f"CT at {kvp:g} kVp; the paper used {wanted} kVp (HU and calibrations are kVp-specific)")
        if ct.contrast_enhanced:
            caveats.append(CONTRAST_CAVEAT)
        correction = correction_caveat(ct) if model.get("unit") == "HU" else None
        if correction:
            caveats.append(correction)
        if model.get("unit") == "mg/cm3" and ct.calibration.get("warning"):
            caveats.append(f"calibration: {ct.calibration['warning']}")
        levels = summary_levels_caveat(model, ct.summary.levels_used)
        if levels:
            caveats.append(levels)
        preset = ct.method.get("preset")
        if cond.get("ct_preset") and preset and preset != cond["ct_preset"]:
            caveats.append(f"3D ROI preset {preset}; the paper's ROI corresponds to preset {cond['ct_preset']}")
    if "MRI" in modality and mri is not None:
        field = mri.input.get("field_strength_t")
        wanted = cond.get("field_strength_t")
        if field is None:
            caveats.append("MRI field strength unknown" + (f"; the paper used {wanted:g} T" if wanted else "; the paper did not state it")
                           + " (VBQ/PBQ read higher at 1.5 T than at 3.0 T in some studies)")
        elif wanted and abs(float(field) - wanted) > 0.1:
            caveats.append(f"MRI at {field:g} T; the paper used {wanted:g} T")
    reason = None
    sex = clinical.get("sex")
    if cond.get("sex") == "F":
        if sex == "M":
            reason = "the paper's cohort was women only (not applied to a man)"
        elif sex is None:
            caveats.append("sex not given; the paper's cohort was women only")
    if cond.get("postmenopausal") and clinical.get("postmenopausal") is False and reason is None:
        reason = "the paper's cohort was postmenopausal women only (not applied: the clinical data say not postmenopausal)"
    age = _age_caveat(cond, clinical.get("age"))
    if age:
        caveats.append(age)
    wanted = cond.get("procedure")
    if wanted:
        got = clinical.get("procedure")
        if got is None:
            caveats.append(f"planned procedure not given; the paper's patients had {wanted}")
        elif got != wanted:
            caveats.append(f"procedure '{got}' differs from the paper's ({wanted}): its endpoint may not transfer")
    return caveats, reason


def _age_caveat(cond: dict, age: float | None) -> str | None:
    """The caveat of an age outside the paper's cohort (``conditions`` ``age_min`` or ``age_over``), else None."""
    for key, (sign, inside) in AGE_BOUNDS.items():
        bound = cond.get(key)
        if bound is not None and age is not None and not inside(age, bound):
            return f"age {age:g} lies outside the paper's cohort (age {sign} {bound})"
    return None


def _base_row(model: dict) -> dict:
    return {key: model.get(key) for key in ("key", "paper", "citation", "kind", "predictor", "endpoint", "population",
                                             "method", "unit", "cutoff", "direction", "auc", "auc_ci", "sensitivity",
                                             "specificity", "corrections")} | {
        "cutoff_text": cutoff_text(model), "secondary": bool(model.get("secondary")), "level": model.get("level"),
        "value": None, "status": "not_applicable", "at_risk_side": None, "side_text": None, "value_source": None,
        "caveats": [], "reason": None}


def _levels_for(model: dict, clinical: dict) -> list[tuple[str, list[str]]]:
    """The levels at which a per-level model is evaluated, each with its own caveats: a planned level outside the
    levels of the paper's cohort (``conditions.levels``: a lumbar cutoff at a thoracic screw) says so."""
    level = model.get("level")
    if level != PLANNED_LEVELS:
        return [(level, [])]
    cohort = (model.get("conditions") or {}).get("levels")
    outside = (f"{{level}} lies outside the levels of [{model.get('paper')}]'s cohort ({cohort[0]}-{cohort[-1]}): its "
               "cutoff may not transfer") if cohort else None
    return [(lv, [outside.format(level=lv)] if cohort and lv not in cohort else [])
            for lv in clinical.get("planned_levels") or []]


def _assess_level_model(model: dict, values: PatientValues, clinical: dict) -> list[dict]:
    rows = []
    levels = _levels_for(model, clinical)
    if not levels:
        row = _base_row(model)
        row["reason"] = "no planned levels given (clinical 'planned_levels', e.g. L4-L5)"
        return [row]
    for level, extra in levels:
        row = _base_row(model)
        row["level"] = level
        value = values.at(level, model["variable"])
        if (value is None or value.value is None) and level in SUBSTITUTES and model["paper"] == "yang2026":
            for sub in SUBSTITUTES[level]:
                alt = values.at(sub, model["variable"])
                if alt is not None and alt.value is not None:
                    extra = extra + [f"{level} not measurable: {sub} used, the paper's substitute level"]
                    row["level"], value = sub, alt
                    break
        row["caveats"] = list(extra)
        rows.append((row, value))
    out = []
    for row, value in rows:
        if value is None:
            row["reason"] = f"{row['level']} is not in measurements.json"
        else:
            row["value"], row["value_source"] = value.value, value.source
            row["caveats"] += list(value.caveats)
            if value.value is None:
                row["reason"] = value.reason
        out.append(row)
    return out


def _absent(name: str, values: PatientValues) -> str:
    """Why the nomogram variable ``name`` has no value at all: no CT or MRI results given, or L3 and its substitutes
    not measured (a coefficient file naming a variable spinebq does not know is refused by :func:`read_nomogram`;
    coefficients handed to :func:`assess_patient` are not checked there)."""
    if name not in PREDICTOR_NAMES:
        return "not a variable spinebq knows"
    if name in LEVEL_VALUE_KEYS and values.levels is not None:
        return f"L3 is not in measurements.json and no substitute ({', '.join(SUBSTITUTES['L3'])}) has a value"
    if name in LEVEL_VALUE_KEYS or name in CT_SUMMARY_VALUE_KEYS:
        return "no CT results given"
    if name == "goutallier":
        return "no MRI results given, and no goutallier in the clinical data"
    return "no MRI results given"


def _assess_nomogram(model: dict, values: PatientValues, nomogram: dict | None) -> dict:
    from spinebq.stats.nomogram import Nomogram

    row = _base_row(model)
    if nomogram is None:
        row["reason"] = ("the nomogram's paper [yang2026] did not publish its coefficients; a nomogram coefficients file is needed "
                         "(a stats.json of spinebq stats, or {\"intercept\": ..., \"coefficients\": {...}})")
        return row
    coefs = {str(k): float(v) for k, v in nomogram["coefficients"].items()}
    patient, missing, sources, caveats = {}, [], {}, []
    for name in coefs:
        value = values.get(name)
        if name in LEVEL_VALUE_KEYS:
            value = values.at("L3", name)
            if value is None or value.value is None:
                for sub in SUBSTITUTES["L3"]:
                    alt = values.at(sub, name)
                    if alt is not None and alt.value is not None:
                        value = alt
                        caveats.append(f"{name}: L3 not measurable, {sub} used (the paper's substitute)")
                        break
        if value is None or value.value is None:
            missing.append(f"{name} ({value.reason if value is not None else _absent(name, values)})")
            continue
        patient[name] = value.value
        sources[name] = value.source + (f" at {value.level}" if value.level else "")
        caveats += list(value.caveats)
    row["nomogram_source"] = nomogram.get("source")
    row["inputs"] = {k: {"value": patient.get(k), "source": sources.get(k)} for k in coefs}
    if missing:
        row["reason"] = "missing nomogram inputs: " + "; ".join(missing)
        return row
    ranges = nomogram.get("ranges") or {}
    has_ranges = all(k in ranges for k in coefs)
    nomo = Nomogram(intercept=float(nomogram["intercept"]), coefs=coefs,
                    ranges={k: tuple(map(float, ranges[k])) if k in ranges else (patient[k], patient[k] + 1.0) for k in coefs})
    score = nomo.score(patient)
    row["value"] = score["probability"]
    row["linear_predictor"] = score["linear_predictor"]
    if has_ranges:
        row["points"] = score["points"]
        row["total_points"] = score["total_points"]
        if score["outside_range"]:
            caveats.append("outside the nomogram's axis range (extrapolated): " + ", ".join(score["outside_range"]))
    else:
        row["points"], row["total_points"] = None, None
        caveats.append("no axis ranges given with the coefficients: probability only, no points")
    cutoff = nomogram.get("cutoff")
    if cutoff is not None:
        row["cutoff"] = float(cutoff)
        row["cutoff_text"] = f">= {float(cutoff):g}"
        caveats.append(f"cutoff {float(cutoff):g} from the coefficients' source; the AUC shown is that of [yang2026]")
    else:
        caveats.append("coefficients not from the publication [yang2026]: its cutoff 0.212, AUC and Se/Sp belong to the "
                       "paper's own fit, not to these coefficients")
    row["caveats"] = caveats
    row["value_source"] = f"nomogram ({nomogram.get('source')})"
    return row


def assess_model(model: dict, values: PatientValues, *, ct: CtRecord | None, mri: MriRecord | None, clinical: dict,
                 nomogram: dict | None = None) -> list[ModelResult]:
    """Assess one registry model; one row per evaluated level (usually one).

    ``values`` are :func:`~spinebq.risk.values.patient_values` of the same ``ct`` and ``mri`` records.
    """
    modality = model.get("modality", "")
    if model["kind"] == "nomogram":
        rows = [_assess_nomogram(model, values, nomogram)]
    elif model["variable"] in LEVEL_VALUE_KEYS:
        rows = _assess_level_model(model, values, clinical) if ct is not None else [_base_row(model) | {"reason": "no CT results given"}]
    else:
        row = _base_row(model)
        value = values.get(model["variable"])
        if value is None:
            row["reason"] = {"CT": "no CT results given", "MRI": "no MRI results given"}.get(modality, "not available")
        else:
            row["value"], row["value_source"], row["caveats"] = value.value, value.source, list(value.caveats)
            row["level"] = value.level or row["level"]
            if value.value is None:
                row["reason"] = value.reason
        rows = [row]
    caveats, reason = _condition_caveats(model, ct, mri, clinical)
    if model.get("secondary"):
        caveats.append(model.get("note") or "secondary source, not checked against a stored full text")
    for row in rows:
        row["caveats"] = caveats + row["caveats"]
        fracture = mri_fracture_caveat(mri, row["level"]) if model["variable"] in LEVEL_VALUE_KEYS else None
        if fracture:
            row["caveats"].append(fracture)
        if reason and row["value"] is not None:
            row["reason"], row["value"] = reason, None
        if row["value"] is None:
            row["status"] = "not_applicable"
            continue
        row["reason"] = None
        if row["cutoff"] is None:
            row["status"] = "no_cutoff"
            row["side_text"] = f"no published cutoff ({'higher' if model['direction'] == '>' else 'lower'} values went with the endpoint)"
            continue
        row["status"] = "applied"
        risk = _side(row["value"], row["cutoff"], row["direction"])
        row["at_risk_side"] = risk
        below = row["value"] < row["cutoff"]
        where = f"{'below' if below else 'at or above'} {row['cutoff']:g}"
        row["side_text"] = (f"risk side ({where}: the side that went with the endpoint in [{model['paper']}])" if risk
                            else f"not on the risk side ({where})")
    return [ModelResult.from_json(row) for row in rows]


def assess_patient(ct: CtRecord | Mapping | None = None, mri: MriRecord | Mapping | None = None,
                   clinical: Mapping | None = None, *,
                   nomogram: Mapping | None = None, patient_id: str = DEFAULT_PATIENT_ID,
                   models: list[dict] | None = None) -> Assessment:
    """Assess one patient against every model of the registry.

    Parameters
    ----------
    ct : CtRecord, optional
        The CT results. A ``measurements.json`` document (``spinebq.ct/1``) is also accepted and read with
        ``CtRecord.from_json`` here.
    mri : MriRecord, optional
        The MRI results; an ``mri.json`` document (``spinebq.mri/1``) is read with ``MriRecord.from_json``.
    clinical : dict, optional
        ``age``, ``sex``, ``bmi_kg_m2``, ``planned_levels``, ``procedure``, ``hip_t_score``, ``goutallier``...
        Other fields (names, dates) are ignored here; :func:`read_clinical` refuses a file with unknown fields.
    nomogram : dict, optional
        User-supplied coefficients (see :func:`read_nomogram`).
    patient_id : str
        The identifier the user chose; it is the only identifier in the result.

    Returns
    -------
    Assessment
        The patient (id and the clinical fields used), ``values`` (every predictor value with its source),
        ``models`` (one :class:`~spinebq.records.assessment.ModelResult` per model and level: value, cutoff,
        side, AUC, caveats or the reason it was not applied), ``screening`` (the CT's L1 HU against the published
        opportunistic-screening thresholds, :mod:`spinebq.risk.screening`; empty without CT) and the notice.
        ``to_json()`` is the ``spinebq.assess/1`` document (``assessment.json``).
    """
    ct, mri = ct_record(ct), mri_record(mri)
    if ct is None and mri is None and not clinical:
        raise SpinebqError("nothing to assess: give CT results, MRI results or clinical data")
    clinical_n = normalise_clinical(clinical)
    values = patient_values(ct, mri, clinical_n)
    rows = []
    for model in models or load_models():
        rows += assess_model(model, values, ct=ct, mri=mri, clinical=clinical_n, nomogram=dict(nomogram) if nomogram else None)
    return Assessment(patient_id=patient_id, clinical=clinical_n, has_ct=ct is not None, has_mri=mri is not None,
                      nomogram_source=(nomogram or {}).get("source"), values=values, models=tuple(rows),
                      screening=tuple(screening_readings(ct)), notice=RESEARCH_NOTICE,
                      no_pooled_score="each model is shown on its own; spinebq does not combine them into a risk score",
                      spinebq_version=__version__, schema=SCHEMA)
