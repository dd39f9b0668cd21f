"""The cohort table of a batch: one row per study (or patient), its data dictionary and the QC page.

Each measured study (done, or failed with its folder kept) leaves its row in ``studies/<key>/row.json``
(:func:`study_row`, written by the worker); :func:`write_cohort` joins those rows with the ledger's states, an
optional clinical spreadsheet (whose columns the assessment reads :func:`with_clinical` gives each study before it is
measured), and writes ``cohort.csv``, ``cohort.parquet``, ``cohort_dictionary.csv`` and
``qc.html``. No identifier reaches these files; ``key_map.csv`` (study key -> PatientID, AccessionNumber,
StudyInstanceUID) is written only when asked.
"""
from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spinebq.constants import EXCEL_CSV_ENCODING
from spinebq.errors import SpinebqError
from spinebq.records.quantities import LEVEL_QUANTITIES, STUDY_QUANTITIES, data_dictionary
from spinebq.records.study import StudyInputs

#: Name of the cohort-table row each done study leaves in its folder.
ROW_NAME = "row.json"
#: Levels with a column group in the cohort table.
COHORT_LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5")
#: Disc levels with a Goutallier column.
MUSCLE_DISCS = ("L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")
#: Name of the index of a clinical spreadsheet read by :func:`read_clinical`: the rows as Excel numbers them.
ROW_INDEX = "row"
#: Per-level quantities only the ``full`` profile measures (screw trajectories).
FULL_PROFILE_LEVEL_KEYS = ("st_hu", "hu_ratio")


@dataclass(frozen=True)
class CohortFiles:
    """The files :func:`write_cohort` wrote and how many rows the table has."""

    table: Path
    parquet: Path
    dictionary: Path
    qc_page: Path
    key_map: Path | None
    rows: int
    #: studies that found their row of the clinical file, of how many (None without one)
    clinical_matched: tuple[int, int] | None = None


def study_row(record) -> dict[str, Any]:
    """The cohort-table row of one measured study (:class:`spinebq.pipeline.StudyRecord`)."""
    inputs: StudyInputs = record.inputs
    row: dict[str, Any] = {"study": inputs.key, "patient": inputs.patient_key}
    ct = record.ct
    if ct is not None:
        acquisition = ct.acquisition
        row.update(kvp=acquisition.get("kvp"), contrast_phase=ct.summary.contrast_phase or "not assessed")
        for level in COHORT_LEVELS:
            vertebra = ct.level(level)
            if vertebra is None:
                continue
            row.update({f"{level}_hu_3d": vertebra.trabecular.mean, f"{level}_hu_2d": vertebra.hu_2d,
                        f"{level}_vbmd_mg_cm3": vertebra.vbmd_mg_cm3, f"{level}_genant_grade": vertebra.genant_grade,
                        f"{level}_qc": ";".join(vertebra.qc)})
            if vertebra.st_hu is not None and math.isfinite(vertebra.st_hu):
                row.update({f"{level}_st_hu": vertebra.st_hu, f"{level}_hu_ratio": vertebra.hu_ratio})
        summary = ct.summary
        row.update(summary_levels="-".join(summary.levels_used), summary_hu=summary.hu, summary_hu_2d=summary.hu_2d,
                   summary_vbmd_mg_cm3=summary.vbmd_mg_cm3, acr_category=summary.acr_category,
                   fractured_levels=_level_list(summary.fractured_levels))
    mri = record.mri
    if mri is not None:
        row.update(vbq=mri.vbq, s1_vbq=mri.s1_vbq, pbq=mri.pbq)
        for muscle in mri.muscle:
            row[goutallier_column(muscle.disc)] = muscle.goutallier
    assessment = record.assessment
    for model in assessment.applied() if assessment is not None else []:
        row[model_column(model.key, model.level)] = "risk side" if model.at_risk_side else "not risk side"
    for reading in assessment.screening if assessment is not None else ():
        row[f"screening_{reading.key}"] = reading.reading or f"not read: {reading.reason}"
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


#: The cohort's entry for a list of levels that was assessed and holds none (an empty cell means not assessed).
NO_LEVELS = "none"


def _level_list(levels: tuple[str, ...] | None) -> str | None:
    """Levels as the cohort writes them: ``"L1;L3"``, :data:`NO_LEVELS` when none, ``None`` when not assessed."""
    return None if levels is None else ";".join(levels) or NO_LEVELS


def _read_level_list(value: str | None) -> tuple[str, ...] | None:
    """The levels of a cohort entry written by :func:`_level_list`."""
    if value is None:
        return None
    return tuple(level for level in str(value).split(";") if level and level != NO_LEVELS)


def model_column(key: str, level: str | None) -> str:
    """The cohort column of a published model: ``model_<key>``, with the level for a model of one level.

    The level is the registry's, so the column is the same for every study; only a model evaluated at the
    planned levels takes the level it was evaluated at (``level``)."""
    from spinebq.risk.assess import PLANNED_LEVELS
    from spinebq.risk.registry import get_model

    registered = get_model(key).get("level")
    level = level if registered == PLANNED_LEVELS else registered
    return f"model_{key}" + (f"_{level}" if level and "-" not in level else "")


def goutallier_column(disc: str) -> str:
    """The cohort column of a disc level's Goutallier grade (``L4/L5`` -> ``L4_L5_goutallier``)."""
    return f"{disc.replace('/', '_')}_goutallier"


def cohort_columns(profile: str = "screening") -> list[str]:
    """The columns of the cohort table under ``profile``, in order, whatever the studies' outcome.

    Clinical columns and the columns of models evaluated at the planned levels follow the inputs and are added
    to these by :func:`cohort_frame`.

    Parameters
    ----------
    profile : str
        ``screening`` or ``full`` (:data:`spinebq.batch.study.PROFILES`); only ``full`` has the columns of
        :data:`FULL_PROFILE_LEVEL_KEYS`.

    Returns
    -------
    list of str
        Study columns, per-level groups, Goutallier grades, then models and screening readings.
    """
    from spinebq.risk.assess import PLANNED_LEVELS
    from spinebq.risk.registry import load_models, load_screening

    study = [q.key for q in STUDY_QUANTITIES if q.key != "studies"]
    levels = [f"{level}_{q.key}" for level in COHORT_LEVELS for q in LEVEL_QUANTITIES
              if profile == "full" or q.key not in FULL_PROFILE_LEVEL_KEYS]
    models = [model_column(m["key"], None) for m in load_models()
              if m.get("cutoff") is not None and m.get("level") != PLANNED_LEVELS]
    screening = [f"screening_{entry['key']}" for entry in load_screening()]
    return _ordered_columns(study + levels + [goutallier_column(d) for d in MUSCLE_DISCS] + models + screening)


def screening_meaning(key: str) -> str:
    """The data-dictionary text of a screening column: thresholds, value compared and full source."""
    from spinebq.risk.registry import load_screening

    entry = next((e for e in load_screening() if e["key"] == key), None)
    if entry is None:
        return "opportunistic-screening reading (assessment.json of the study)"
    bands = "; ".join(f"<= {t['hu']:g} HU {t['reading']}" for t in entry["thresholds"])
    return (f"opportunistic osteoporosis screening of an uncalibrated CT: {entry['level']} three-slice HU (hu_2d) against "
            f"{bands}; above: {entry['above_reading']}. Source: {entry['citation']}")


def read_row(out_dir: Path, key: str) -> dict[str, Any] | None:
    """The cohort-table row a measured study left in its folder.

    None when it is absent or is not a JSON object (cut short or edited by hand): the study's folder is then not
    whole, and :meth:`spinebq.batch.ledger.Ledger.plan` measures the study again.
    """
    path = Path(out_dir) / "studies" / key / ROW_NAME
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) else None


def cohort_frame(studies: Sequence[StudyInputs], ledger_rows: Sequence[dict], rows_by_key: dict[str, dict], *,
                 profile: str = "screening") -> pd.DataFrame:
    """One row per study in key order: the ledger's status and reason, then whatever was measured.

    A failed study keeps what its row holds (kVp, contrast phase, each level's QC ...); its status and reason
    say what failed. The columns are :func:`cohort_columns` of ``profile`` whatever the outcome, then any other
    column the rows or the clinical columns bring.
    """
    state = {r["key"]: r for r in ledger_rows}
    fixed = cohort_columns(profile)
    ordered = sorted(studies, key=lambda s: s.key)
    records = []
    for study in ordered:
        ledger = state.get(study.key, {})
        # a study measured in this state of its inputs: done, or failed with its folder kept for review
        measured = rows_by_key.get(study.key) if ledger.get("state") in ("done", "failed") else None
        row = {"study": study.key, "patient": study.patient_key, "status": ledger.get("state", "pending"),
               "reason": ledger.get("reason"), "ct_series": study.ct.description if study.ct else None,
               "kernel": study.ct.kernel if study.ct else None,
               "slice_thickness_mm": study.ct.slice_thickness_mm if study.ct else None,
               "mri_series": study.mri.description if study.mri else None}
        row.update({k: v for k, v in (measured or {}).items() if k not in ("study", "patient")})
        records.append(row)
    # a manifest's clinical column named as a column of spinebq's (a vbq measured by hand, a vital "status") keeps
    # its value under clinical_<name> in every row, as --clinical's do: never in the measured column's place
    taken = set(fixed) | {name for row in records for name in row}
    for row, study in zip(records, ordered):
        row.update({clinical_column(name, taken): value for name, value in study.clinical})
    frame = pd.DataFrame.from_records(records, columns=None if records else fixed)
    others = [c for c in frame.columns if c not in fixed]
    return _integer_grades(frame.reindex(columns=_ordered_columns(fixed + others)))


def _integer_grades(frame: pd.DataFrame) -> pd.DataFrame:
    """Grades stay integers where some are missing (pandas' nullable Int64)."""
    grades = [c for c in frame.columns if c.endswith(("_genant_grade", "_goutallier"))]
    return frame.astype({c: "Int64" for c in grades})


def by_patient(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: the row of the patient's first done CT study, its empty columns filled from the first
    done MRI study (MRI scores, muscle grades, MRI model sides), as [yang2026] joined CT and MRI of each patient."""
    rows = []
    for _, group in frame.groupby("patient", sort=True):
        done = group[group["status"] == "done"]
        with_ct = done[done["summary_hu"].notna()] if "summary_hu" in done else done.iloc[0:0]
        with_mri = done[done["vbq"].notna()] if "vbq" in done else done.iloc[0:0]
        row = (with_ct if len(with_ct) else (done if len(done) else group)).iloc[0].copy()
        if len(with_mri):
            row = row.combine_first(with_mri.iloc[0])
        row["studies"] = ";".join(group["study"])
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*frame.columns, "studies"]).reset_index(drop=True)
    return _integer_grades(out[["patient", "studies"] + [c for c in frame.columns if c not in ("patient", "study")]])


def read_clinical(path: str | Path, key_column: str) -> pd.DataFrame:
    """A clinical spreadsheet (CSV or XLSX) as text cells, indexed by the rows as Excel or a text editor number them.

    A CSV is read as ``spinebq stats`` reads it (Excel's encodings, a byte-order mark dropped; ``,``, ``;``, tab or
    ``|`` separated). Blank rows are dropped but counted, and rows above the column names (a title) are passed over:
    the column names are the first of the first :data:`spinebq.stats.data.HEADER_SEARCH_ROWS` non-blank rows that
    holds ``key_column``, else the first non-blank row. The index is named :data:`ROW_INDEX`. The result is checked
    by :func:`check_clinical`.

    Raises
    ------
    SpinebqError
        When the file cannot be read as a table, or :func:`check_clinical` refuses it.
    """
    from spinebq.stats.data import HEADER_SEARCH_ROWS, csv_delimiter, csv_records, csv_text

    path = Path(path)
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            cells = pd.read_excel(path, header=None, dtype=str)
            lines = list(range(1, len(cells) + 1))  # pandas keeps the sheet's blank rows, from row 1
        else:  # as text: identifiers keep their leading zeros
            text = csv_text(path.name, path.read_bytes())
            delimiter = csv_delimiter(text)
            records = csv_records(text, delimiter)
            width = max((len(row) for _, row in records), default=1)  # a title row has fewer cells
            cells = pd.read_csv(io.StringIO(text), header=None, names=range(width), dtype=str, sep=delimiter,
                                engine="python", skip_blank_lines=False)
            lines = [line for line, _ in records]
    except (OSError, ValueError, ImportError) as exc:
        raise SpinebqError(f"{path}: cannot be read as a clinical spreadsheet ({exc})") from None
    if len(lines) != len(cells):  # a record pandas splits otherwise: number the rows one per record
        lines = list(range(1, len(cells) + 1))
    text_cells = cells.apply(lambda column: column.str.strip())
    filled = [i for i in range(len(cells)) if text_cells.iloc[i].fillna("").ne("").any()]
    if not filled:
        raise SpinebqError(f"{path}: the clinical spreadsheet is empty")
    named = [i for i in filled[:HEADER_SEARCH_ROWS] if key_column in set(text_cells.iloc[i].dropna())]
    header = named[0] if named else filled[0]
    rows = [i for i in filled if i > header]
    body = cells.iloc[rows]
    names = {j: "" if pd.isna(v) else str(v).strip() for j, v in enumerate(cells.iloc[header])}
    kept = [j for j, name in names.items() if name or body.iloc[:, j].notna().any()]  # not the empty ones at the end
    clinical = pd.DataFrame(body.iloc[:, kept].to_numpy(), columns=[names[j] or f"Unnamed: {j}" for j in kept],
                            index=pd.Index([lines[i] for i in rows], name=ROW_INDEX))
    return check_clinical(clinical, key_column, source=str(path))


def spreadsheet_row(clinical: pd.DataFrame, position: int) -> int:
    """The row of a clinical spreadsheet at ``position``, as Excel or a text editor number it: its index when
    :func:`read_clinical` read it, else counted from 2 below the header."""
    return int(clinical.index[position]) if clinical.index.name == ROW_INDEX else position + 2


def check_clinical(clinical: pd.DataFrame, key_column: str, *, source: str = "the clinical file") -> pd.DataFrame:
    """``clinical`` with its key column as stripped text; raises when the column is missing or holds a value twice,
    or when two columns have one name in any case (``age`` and ``Age``: which one the assessment reads would be
    chance)."""
    names = [str(c).strip() for c in clinical.columns]
    folded = [n.casefold() for n in names]
    twice = next((n for n in names if folded.count(n.casefold()) > 1), None)
    if twice is not None:
        same = [n for n in names if n.casefold() == twice.casefold()]
        what = (f"names the column {twice!r} {len(same)} times" if len(set(same)) == 1 else
                f"has the columns {' and '.join(repr(n) for n in same)}, whose names differ only in letter case")
        raise SpinebqError(f"{source} {what}: give each column its own name, or delete the copy")
    if key_column not in clinical.columns:
        raise SpinebqError(f"{source} has no column {key_column!r} (columns: {', '.join(map(str, clinical.columns))})")
    clinical = clinical.copy()
    clinical[key_column] = clinical[key_column].astype(str).str.strip()
    repeated = clinical[key_column][clinical[key_column].duplicated()]
    if len(repeated):
        raise SpinebqError(f"{source}: its column {key_column!r} holds {repeated.iloc[0]!r} more than once")
    return clinical


def clinical_column(name: str, taken: set[str]) -> str:
    """The cohort column of a clinical column ``name``: ``clinical_<name>`` when ``name`` is ``taken``."""
    return f"clinical_{name}" if name in taken else name


def clinical_matches(studies: Sequence[StudyInputs], clinical: pd.DataFrame, key_column: str) -> list[int | None]:
    """The position of the row of ``clinical`` (checked by :func:`check_clinical`) each study finds, in the order of
    ``studies``: the row whose ``key_column`` equals the study's PatientID, AccessionNumber or manifest id; None when
    no row does."""
    lookup = {v: i for i, v in enumerate(clinical[key_column])}
    matches = []
    for study in studies:
        ids = dict(study.identifiers)
        matches.append(next((lookup[str(ids[k]).strip()] for k in ("PatientID", "AccessionNumber", "id")
                             if k in ids and str(ids[k]).strip() in lookup), None))
    return matches


def assessment_columns(clinical: pd.DataFrame, key_column: str) -> list[str]:
    """The columns of a clinical spreadsheet the assessment reads (``age``, ``Sex`` ...:
    :func:`spinebq.io.schemas.clinical_fields`), its key column aside."""
    from spinebq.io.schemas import clinical_fields

    return [c for c in clinical.columns if c != key_column and clinical_fields([(str(c), "")])]


def with_clinical(studies: Sequence[StudyInputs], clinical: pd.DataFrame, key_column: str, *,
                  source: str = "the clinical file") -> list[StudyInputs]:
    """``studies`` with the assessment's values of their clinical row (:func:`assessment_columns`) added to their
    ``clinical``, so the per-study assessment reads them as it reads a manifest's clinical columns.

    Each matched row's values are checked as a manifest row's are, before anything is measured. A field the manifest
    already gives for the study keeps the manifest's value when both say the same (as text, in any case); a blank
    cell on either side gives nothing. A study's ``clinical`` is recorded in its ledger row, so a changed value
    assesses the done study again (:meth:`spinebq.batch.ledger.Ledger.plan`). Calling this again on its result
    changes nothing.

    Parameters
    ----------
    studies : sequence of StudyInputs
    clinical : DataFrame
        The spreadsheet (:func:`read_clinical`; its rows named in messages by :func:`spreadsheet_row`).
    key_column : str
        Its column holding the PatientID, AccessionNumber or manifest id.
    source : str
        The spreadsheet's name, for messages.

    Returns
    -------
    list of StudyInputs
        In the order of ``studies``; a study without a row, or whose row gives no such value, unchanged.

    Raises
    ------
    SpinebqError
        Naming the row and column of a value the assessment cannot read (``age`` "seventy", ``planned_levels``
        "L9-L10"), or of a value that differs from the manifest's for the same study.
    """
    from dataclasses import replace

    from spinebq.io.schemas import Clinical, clinical_fields, validated

    clinical = check_clinical(clinical, key_column, source=source)
    columns = assessment_columns(clinical, key_column)
    out = []
    for study, match in zip(studies, clinical_matches(studies, clinical, key_column)):
        if match is None or not columns:
            out.append(study)
            continue
        where = f"row {spreadsheet_row(clinical, match)} of {source}"
        cells = [(str(c), "" if pd.isna(v) else str(v).strip()) for c, v in clinical.iloc[match][columns].items()]
        validated(Clinical, clinical_fields(cells), where, "the clinical values")
        pairs = list(study.clinical)
        given = {field: i for i, (name, _) in enumerate(pairs) for field in clinical_fields([(name, "")])}
        for name, value in cells:
            (field,) = clinical_fields([(name, value)])
            i = given.get(field)
            if not value or i is not None and value.casefold() == pairs[i][1].strip().casefold():
                continue
            if i is not None and pairs[i][1].strip():
                raise SpinebqError(f"{where}: its {name} {value!r} differs from the manifest's {pairs[i][1]!r} for the "
                                   "same study; give it in one of them")
            if i is None:
                given[field] = len(pairs)
                pairs.append((name, value))
            else:  # the manifest's cell is blank
                pairs[i] = (pairs[i][0], value)
        out.append(replace(study, clinical=tuple(pairs)))
    return out


def join_clinical(frame: pd.DataFrame, studies: Sequence[StudyInputs], clinical: pd.DataFrame,
                  key_column: str) -> tuple[pd.DataFrame, int]:
    """Add the clinical columns whose ``key_column`` value equals a study's PatientID, AccessionNumber or id.

    The key column itself is dropped, so no identifier reaches the cohort table, and so are the columns the
    assessment reads (:func:`assessment_columns`): :func:`with_clinical` gave them to the studies, whose clinical
    values :func:`cohort_frame` writes, so each appears once.

    Returns
    -------
    frame : DataFrame
        ``frame`` with the clinical columns (empty where a study found no row).
    matched : int
        How many studies found their row (a caller says so: a key column matching nothing leaves every clinical
        cell empty).
    """
    clinical = check_clinical(clinical, key_column)
    matches = clinical_matches(sorted(studies, key=lambda s: s.key), clinical, key_column)
    extra = clinical.drop(columns=[key_column, *assessment_columns(clinical, key_column)])
    extra = extra.rename(columns={c: clinical_column(c, set(frame.columns)) for c in extra.columns})
    joined = pd.DataFrame([extra.iloc[m].to_dict() if m is not None else {} for m in matches], columns=extra.columns)
    return pd.concat([frame.reset_index(drop=True), joined], axis=1), sum(m is not None for m in matches)


def write_cohort(out_dir: str | Path, studies: Sequence[StudyInputs], ledger_rows: Sequence[dict], *,
                 by: str = "study", clinical: pd.DataFrame | None = None, clinical_key: str | None = None,
                 include_phi: bool = False, title: str = "spinebq batch", profile: str = "screening") -> CohortFiles:
    """Write the cohort table, its dictionary, the QC page (and the key map with ``include_phi``); ``profile``
    is the batch's (:func:`cohort_columns`). The columns of ``clinical`` the assessment reads are written from the
    studies' clinical values (:func:`with_clinical`, applied here too: on studies it gave them, a no-op)."""
    from spinebq.report.files import write_atomic

    out = Path(out_dir)
    if clinical is not None:  # the assessment's columns of the spreadsheet, as each study's clinical values
        studies = with_clinical(studies, clinical, clinical_key or "PatientID")
    rows_by_key = {s.key: read_row(out, s.key) or {} for s in studies}
    frame = cohort_frame(studies, ledger_rows, rows_by_key, profile=profile)
    matched = None
    if clinical is not None:
        frame, n_matched = join_clinical(frame, studies, clinical, clinical_key or "PatientID")
        matched = (n_matched, len(studies))
    table = by_patient(frame) if by == "patient" else frame
    write_atomic(out / "cohort.csv", table.to_csv(index=False, lineterminator="\n"), encoding=EXCEL_CSV_ENCODING)
    parquet = out / "cohort.parquet"
    temporary = parquet.with_name(".cohort.parquet.tmp")
    table.astype({c: "string" for c in table.columns if table[c].dtype == object}).to_parquet(temporary, index=False)
    temporary.replace(parquet)
    models = {c: "side of the published cutoff of this model (spinebq models; assessment.json of the study)"
              for c in table.columns if c.startswith("model_")}
    models |= {c: screening_meaning(c.removeprefix("screening_")) for c in table.columns if c.startswith("screening_")}
    dictionary = pd.DataFrame(data_dictionary(list(table.columns), COHORT_LEVELS, models))
    write_atomic(out / "cohort_dictionary.csv", dictionary.to_csv(index=False, lineterminator="\n"),
                 encoding=EXCEL_CSV_ENCODING)
    qc_page = _write_qc_page(out, frame, title=title)
    key_map = None
    if include_phi:
        ids = [{"study": s.key, "patient": s.patient_key, **dict(s.identifiers)} for s in sorted(studies, key=lambda s: s.key)]
        key_map = write_atomic(out / "key_map.csv", pd.DataFrame(ids).to_csv(index=False, lineterminator="\n"),
                               encoding=EXCEL_CSV_ENCODING)
    return CohortFiles(out / "cohort.csv", parquet, out / "cohort_dictionary.csv", qc_page, key_map, len(table),
                       matched)


def _write_qc_page(out: Path, frame: pd.DataFrame, *, title: str) -> Path:
    from spinebq.batch.qc_page import REVIEW_ORDER, QcRow, write_qc_page

    rows = []
    for record in frame.to_dict("records"):
        value = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        key = value["study"]
        folder = out / "studies" / key
        flags = tuple(f"{level}: {flag}" for level in COHORT_LEVELS for flag in str(value.get(f"{level}_qc") or "").split(";") if flag)
        rows.append(QcRow(key=key, status=value["status"], reason=value.get("reason"),
                          thumbnail=folder / "thumbnail.png" if (folder / "thumbnail.png").is_file() else None,
                          series_description=value.get("ct_series"), kvp=value.get("kvp"), kernel=value.get("kernel"),
                          contrast_phase=value.get("contrast_phase"), slice_thickness_mm=value.get("slice_thickness_mm"),
                          hu=value.get("summary_hu"), vbmd_mg_cm3=value.get("summary_vbmd_mg_cm3"),
                          acr_category=value.get("acr_category"), vbq=value.get("vbq"), pbq=value.get("pbq"),
                          fractured_levels=_read_level_list(value.get("fractured_levels")),
                          qc_flags=flags,
                          report_href=_study_link(folder)))
    rows.sort(key=lambda row: (REVIEW_ORDER.index(row.status), row.key))
    return write_qc_page(out / "qc.html", rows, title=title)


def _study_link(folder: Path) -> str | None:
    """The study's page the QC row links to, relative to the cohort folder: its report, else its measurements."""
    for name in ("report.html", "ct/measurements.json", "mri/mri.json"):
        if (folder / name).is_file():
            return f"studies/{folder.name}/{name}"
    return None


def _ordered_columns(columns: list[str]) -> list[str]:
    """Study columns first (in the quantities' order), then per-level groups, MRI, models, anything else."""
    first = [q.key for q in STUDY_QUANTITIES if q.key in columns]
    levels = [f"{level}_{q.key}" for level in COHORT_LEVELS for q in LEVEL_QUANTITIES if f"{level}_{q.key}" in columns]
    muscle = [goutallier_column(disc) for disc in MUSCLE_DISCS if goutallier_column(disc) in columns]
    models = sorted(c for c in columns if c.startswith(("model_", "screening_")))
    placed = set(first + levels + muscle + models)
    return first + levels + muscle + models + [c for c in columns if c not in placed]
