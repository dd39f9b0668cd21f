"""``spinebq assess``: one patient's CT and/or MRI results and clinical data against the published models."""
from __future__ import annotations

import argparse

from spinebq.constants import DEFAULT_PATIENT_ID
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spinebq.records.assessment import Assessment, ModelResult
    from spinebq.records.ct import CtRecord
    from spinebq.records.mri import MriRecord
    from spinebq.records.screening import ScreeningReading

NAME = "assess"
INPUTS = ("ct", "mri", "clinical", "nomogram")
HELP = ("place one patient's measurements against every published model (value, cutoff, side, AUC; nomogram "
        "points with user-supplied coefficients; what is not applicable and why); research use only")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_patient_arguments(parser)
    parser.add_argument("--id", default=DEFAULT_PATIENT_ID, help="identifier written into the outputs (default: "
                        f"{DEFAULT_PATIENT_ID})")
    parser.add_argument("--out", metavar="DIR", help="write DIR/assessment.json")
    parser.add_argument("--json", action="store_true", help="print the assessment as JSON instead of a table")


def add_patient_arguments(parser: argparse.ArgumentParser) -> None:
    """The inputs of one patient's assessment, shared by ``spinebq assess`` and ``spinebq report``."""
    from spinebq.cli._numbers import number

    parser.add_argument("--ct", metavar="DIR", help="folder written by spinebq ct (measurements.json)")
    parser.add_argument("--mri", metavar="DIR", help="folder written by spinebq mri (mri.json)")
    parser.add_argument("--clinical", metavar="FILE", help="clinical data: JSON object, or CSV of field,value rows "
                        "or of a header row and one value row (comma, semicolon or tab; decimal comma with semicolons): age, sex, "
                        "bmi_kg_m2, planned_levels, procedure, hip_t_score, goutallier; unknown fields are refused")
    parser.add_argument("--age", type=number(0, 120), help="age in years (overrides --clinical)")
    parser.add_argument("--sex", type=sex, metavar="{F,M}", help="sex: F or M (also female, male, any case; overrides --clinical)")
    parser.add_argument("--planned-levels", type=levels, metavar="LEVELS", help="planned instrumented levels, e.g. L4-L5, "
                        "L4,L5, L5/S1 or L4-5 (overrides --clinical)")
    parser.add_argument("--procedure", help="planned procedure, e.g. fusion, 'semi-rigid instrumentation', 'vertebral augmentation'")
    parser.add_argument("--nomogram", metavar="FILE", help="nomogram coefficients: stats.json of spinebq stats or "
                        "{\"intercept\": b0, \"coefficients\": {...}, \"ranges\": {...}, \"cutoff\": p}")


def sex(text: str) -> str:
    """``--sex``: ``F`` or ``M`` from the ways people type it (``f``, ``Female``, ``male``), as a clinical file is read.

    Examples
    --------
    >>> sex("Female"), sex("m")
    ('F', 'M')
    """
    from spinebq.io.schemas import SEXES

    try:
        return SEXES[text.strip().upper()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a sex spinebq reads (F or M, female or male)") from None


def levels(text: str) -> list[str] | None:
    """``--planned-levels``: the vertebrae named, cranial to caudal (:func:`spinebq.anatomy.parse_levels`); None
    for a blank text, which leaves the clinical file's levels as they are."""
    from spinebq.anatomy import parse_levels

    try:
        return parse_levels(text) or None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def clinical_from_args(args: argparse.Namespace) -> dict:
    """Clinical data from ``--clinical`` with the single-value options on top."""
    from spinebq.risk.assess import read_clinical

    clinical = read_clinical(args.clinical) if getattr(args, "clinical", None) else {}
    for key, attr in (("age", "age"), ("sex", "sex"), ("planned_levels", "planned_levels"), ("procedure", "procedure")):
        if getattr(args, attr, None) is not None:
            clinical[key] = getattr(args, attr)
    return clinical


def assessment_from_args(args: argparse.Namespace) -> tuple[CtRecord | None, MriRecord | None, Assessment]:
    """Read the CT and MRI documents named by the options and assess them; returns (ct, mri, assessment).

    ``ct`` and ``mri`` are the records made from the documents here, once (a malformed file is named in the
    error); the assessment and the report read them.
    """
    import sys

    from spinebq.errors import SpinebqError
    from spinebq.io.output import check_same_patient, read_results
    from spinebq.risk.assess import assess_patient, ct_record, mri_record, read_document, read_nomogram

    # only files a manifest lists, unchanged since written, and of one patient
    ct_run = read_results(args.ct, "ct", "measurements.json") if args.ct else None
    mri_run = read_results(args.mri, "mri", "mri.json") if args.mri else None
    runs = {f"--ct {args.ct}": ct_run, f"--mri {args.mri}": mri_run}
    patients = {label: run.manifest.patient for label, run in runs.items() if run is not None}
    if getattr(args, "dicom", None):
        from spinebq.io.dicom import folder_patient

        patients[f"--dicom {args.dicom}"] = folder_patient(args.dicom)
    note = check_same_patient(patients)
    if note:
        print(f"spinebq {args.command}: note: {note}", file=sys.stderr)
    ct = ct_record(read_document(ct_run.folder, "measurements.json"), where=args.ct) if ct_run else None
    mri = mri_record(read_document(mri_run.folder, "mri.json"), where=args.mri) if mri_run else None
    if ct_run:
        args._patient = ct_run.manifest.patient
    elif mri_run:
        args._patient = mri_run.manifest.patient
    try:
        clinical = clinical_from_args(args)
        nomogram = read_nomogram(args.nomogram) if args.nomogram else None
        assessment = assess_patient(ct, mri, clinical, nomogram=nomogram, patient_id=args.id)
    except ValueError as exc:
        raise SpinebqError(str(exc)) from None
    return ct, mri, assessment


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from spinebq.report.files import to_jsonable, write_json

    from spinebq.io.output import staged

    _, _, result = assessment_from_args(args)
    if args.out:
        with staged(args, patient=getattr(args, "_patient", None)) as out:
            write_json(Path(out) / "assessment.json", result.to_json())
    if args.json:
        print(json.dumps(to_jsonable(result.to_json()), indent=2))
        return 0
    print(format_assessment(result))
    if args.out:
        print(f"written: {args.out}/assessment.json")
    return 0


def format_assessment(result: Assessment) -> str:
    """The assessment as text: applied models first, then values without cutoff, then not applicable."""
    lines = [f"spinebq assess: {result.patient_id} - {result.notice}",
             f"Each published model on its own (no pooled score): {result.counts_text()}"]
    order = {"applied": 0, "no_cutoff": 1, "not_applicable": 2}
    for row in sorted(result.models, key=lambda r: order[r.status]):
        if row.status == "not_applicable":
            lines.append(f"{model_head(row)} not applicable: {row.reason}")
            continue
        auc = "" if row.auc is None else f"; AUC {row.auc:.3f} in [{row.paper}]"
        lines.append(f"{model_line(row)}{auc}")
        points = row.nomogram.points if row.nomogram is not None else None
        if points:
            pts = ", ".join(f"{k} {v:.0f}" for k, v in points.items())
            lines.append(f"{'':<30} points {pts}; total {row.nomogram.total_points:.0f}")
        for caveat in row.caveats:
            lines.append(f"{'':<30} caveat: {caveat}")
    lines += format_screening(result.screening)
    return "\n".join(lines)


def model_head(row: ModelResult) -> str:
    """The start of a model's line on screen: its key and level (a per-level model has a row per level)."""
    return f"  {row.key:<15} {row.level or '':<12}"


def model_line(row: ModelResult) -> str:
    """A model applied or without cutoff as one screen line: key, level, value in its quantity's decimals and unit,
    the cutoff and the side (``spinebq assess`` and ``spinebq report`` print the same line)."""
    from spinebq.risk.registry import value_decimals

    unit = "" if row.unit in ("ratio", "probability") else f" {row.unit}"
    value = f"{row.value:.{value_decimals(row.key, row.unit)}f}{unit}"
    return f"{model_head(row)} {value} vs {row.cutoff_text}: {row.side_text}"


def format_screening(readings: tuple[ScreeningReading, ...]) -> list[str]:
    """The opportunistic-screening readings as text lines, each with its source's full reference."""
    from spinebq.risk.references import reference

    lines = []
    for r in readings:
        lines.append(f"Opportunistic screening ({r.key}, thresholds "
                     + " / ".join(f"{t:g}" for t in r.thresholds_hu) + f" HU at {r.level}):")
        if r.reading is None:
            lines.append(f"  not read: {r.reason}")
        else:
            mid = "" if r.mid_slice_hu is None else f" (mid-body ellipse {r.mid_slice_hu:.0f} HU)"
            lines.append(f"  {r.level} three-slice HU {r.value_hu:.0f}{mid}: {r.reading} ({r.band})")
        for caveat in r.caveats:
            lines.append(f"  caveat: {caveat}")
        lines.append(f"  source: {reference(r.reference).citation()}")
    return lines
