"""``spinebq report``: a per-patient report (HTML + PDF, optional DICOM SR) or a cohort report."""
from __future__ import annotations

import argparse

from spinebq.constants import DEFAULT_PATIENT_ID

from spinebq.cli.assess import add_patient_arguments

NAME = "report"
INPUTS = ("ct", "mri", "stats", "dicom", "clinical", "nomogram")
HELP = ("per-patient report from spinebq ct / mri folders (self-contained report.html, report.pdf, DICOM SR with "
        "--dicom), or a cohort report from a spinebq stats folder (--stats); research use only")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_patient_arguments(parser)
    parser.add_argument("--dicom", metavar="CT", help="the source DICOM CT folder: also write measurements_sr.dcm "
                        "(DICOM SR, TID 1500) referencing it")
    parser.add_argument("--stats", metavar="DIR", help="folder written by spinebq stats: write a cohort report instead")
    parser.add_argument("--id", default=DEFAULT_PATIENT_ID, help="pseudonym heading the report and written as the "
                        f"DICOM SR's Patient's Name and Patient ID (default: {DEFAULT_PATIENT_ID})")
    parser.add_argument("--include-phi", action="store_true", help="show patient name, ID and birth date when the "
                        "inputs carry them (spinebq ct --include-phi) and keep them in the DICOM SR")
    parser.add_argument("--no-pdf", action="store_true", help="write only the HTML")
    parser.add_argument("--out", metavar="DIR", default="spinebq_report", help="output folder (default: spinebq_report)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spinebq.cli.assess import assessment_from_args, model_line
    from spinebq.errors import SpinebqError
    from spinebq.constants import RESEARCH_NOTICE
    from spinebq.report.files import write_json
    from spinebq.io.output import staged

    if args.stats:
        from spinebq.cli import _with_flags
        from spinebq.cli import stats as stats_command
        from spinebq.io.output import read_results
        from spinebq.report.cohort import write_cohort_report

        read_results(args.stats, "stats", "stats.json")  # only a folder whose manifest lists it, unchanged
        # the notes of stats.json name options as `spinebq stats` has them: shown as its flags, as its terminal does
        stats_flags = argparse.Namespace(_flags=stats_command.FLAGS)
        with staged(args) as out:
            written = write_cohort_report(args.stats, out, flags=lambda note: _with_flags(stats_flags, note),
                                          pdf=not args.no_pdf)
        print(f"cohort report: {', '.join(str(Path(args.out) / p.relative_to(out)) for p in written)}")
        print(RESEARCH_NOTICE)
        return 0
    if not args.ct and not args.mri:
        raise SpinebqError("give --ct DIR and/or --mri DIR (folders written by spinebq ct / spinebq mri), or --stats DIR")
    from spinebq.report.html import write_patient_html
    from spinebq.report.patient import patient_report

    ct, mri, assessment = assessment_from_args(args)  # the records, read once
    ct_dir = (Path(args.ct) if Path(args.ct).is_dir() else Path(args.ct).parent) if args.ct else None  # read via manifest
    mri_dir = (Path(args.mri) if Path(args.mri).is_dir() else Path(args.mri).parent) if args.mri else None
    report = patient_report(ct, mri, assessment, patient_id=args.id, ct_dir=ct_dir, mri_dir=mri_dir,
                            include_phi=args.include_phi)
    if args.dicom and ct is None:
        raise SpinebqError("--dicom needs --ct: the SR carries the CT measurements")
    with staged(args, patient=getattr(args, "_patient", None)) as out:
        written = [write_patient_html(report, out / "report.html")]
        if not args.no_pdf:
            from spinebq.report.pdf import write_patient_pdf

            written.append(write_patient_pdf(report, out / "report.pdf"))
        written.append(write_json(out / "assessment.json", assessment.to_json()))
        if args.dicom:
            from spinebq.report.sr import write_measurement_sr

            written.append(write_measurement_sr(ct, args.dicom, out / "measurements_sr.dcm", patient_id=args.id,
                                                include_phi=args.include_phi))
    written = [Path(args.out) / Path(p).name for p in written]
    print(f"spinebq report {args.id}: published models {assessment.counts_text()}")
    for r in assessment.applied():
        print(model_line(r))
    print("written: " + ", ".join(str(p) for p in written))
    print(RESEARCH_NOTICE)
    return 0
