"""``spinebq batch``: a folder of studies in, one cohort table out, on Dask, resumable.

Research use only, not a medical device.
"""
from __future__ import annotations

import argparse
import sys

NAME = "batch"
HELP = ("measure a cohort: DICOM trees, NIfTI folders or a manifest CSV in, cohort.csv + qc.html out, on Dask "
        "(resumable; research use only)")
#: Option parameter names whose flag is not --parameter-name.
FLAGS = {"timeout_s": "--study-timeout", "memory_limit_mb": "--memory-per-study"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from spinebq.cli._numbers import number
    from spinebq.constants import DEFAULT_TIMEOUT_S

    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="DICOM tree (any depth, many patients; zip archives in it are read too), folder of "
                        "NIfTI files (each measured as what its values show: CT, MRI, or a label map skipped), or "
                        "manifest CSV (columns id, ct, mri, axial, labels (the CT's), mri_labels + clinical columns; "
                        "relative paths are read from the manifest's folder)")
    parser.add_argument("--out", required=True, metavar="DIR", help="batch folder: cohort.csv, qc.html, studies/<key>/, "
                        "ledger.sqlite; running again resumes")
    parser.add_argument("--profile", default="screening", choices=("screening", "full"),
                        help="screening: segmentation, L1-L4 density, fractures, thumbnail (default); full: also screw "
                        "trajectories, regions, pictures and a report per study")
    parser.add_argument("--workers", type=number(1, 256, integer=True), default=2, help="worker processes of the embedded Dask cluster (default 2)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="send the work to this Dask scheduler (tcp://host:8786) "
                        "instead; workers must see INPUT and --out at the same paths")
    parser.add_argument("--study-timeout", type=number(0, 7 * 24 * 3600, above=True), metavar="SECONDS", default=DEFAULT_TIMEOUT_S,
                        help=f"stop a study running longer and mark it failed (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--memory-per-study", type=number(0, 1e7, above=True), metavar="MB",
                        help="memory a study may use before it is stopped as out of memory (default: the machine's memory / workers)")
    parser.add_argument("--retry-failed", action="store_true", help="measure again the studies that failed before")
    parser.add_argument("--by", default="study", choices=("study", "patient"),
                        help="one row per study (default) or per patient (CT and MRI of a patient joined)")
    parser.add_argument("--clinical", metavar="FILE", help="clinical spreadsheet (CSV/XLSX) joined to the cohort table; "
                        "each study's assessment reads its columns that spinebq assess --clinical reads (age, sex, "
                        "planned_levels ..., any case), checked before anything is measured; given or changed "
                        "after a run, the done studies are assessed again without measuring them again")
    parser.add_argument("--clinical-key", metavar="COLUMN", default="PatientID",
                        help="column of --clinical holding the PatientID, AccessionNumber or manifest id (default PatientID)")
    parser.add_argument("--include-phi", action="store_true", help="also write key_map.csv (study key -> PatientID, "
                        "AccessionNumber, StudyInstanceUID) and keep series paths in study.json")
    parser.add_argument("--quiet", action="store_true", help="plain log lines instead of a progress bar")


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from spinebq.batch.cohort import with_clinical, write_cohort
    from spinebq.batch.discover import discover
    from spinebq.batch.engine import run_batch
    from spinebq.batch.ledger import Ledger, batch_lock
    from spinebq.batch.study import BatchOptions, profile_options
    from spinebq.errors import OptionError
    from spinebq.constants import RESEARCH_NOTICE
    from spinebq.report.text import counted

    if args.workers < 1:
        raise OptionError("workers", f"{args.workers}: at least one worker is needed")
    memory_mb = args.memory_per_study
    if memory_mb is None:
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 / args.workers
    options = BatchOptions(profile=args.profile, study=profile_options(args.profile), timeout_s=args.study_timeout,
                           memory_limit_mb=memory_mb, include_phi=args.include_phi)
    clinical = _read_clinical(args.clinical, args.clinical_key) if args.clinical else None
    out = Path(args.out)
    _check_out(out, args.inputs)
    with batch_lock(out):  # a second batch into --out is refused before it reads a header
        print(f"spinebq batch: reading headers of {', '.join(args.inputs)} ...", flush=True)
        with _Bar(args.quiet, "file", "headers") as headers:
            studies = discover(args.inputs, progress=headers.show)
        print(f"found {len(studies)} studies ({sum(s.problem is None for s in studies)} measurable)")
        if clinical is not None:  # its age, sex, planned levels ... reach each study's assessment, checked first
            studies = with_clinical(studies, clinical, args.clinical_key, source=args.clinical)
        with _Bar(args.quiet, "study") as bar:
            result = run_batch(studies, out, options, workers=args.workers, scheduler=args.scheduler,
                               retry_failed=args.retry_failed, progress=_study_progress(bar))
        with Ledger(out) as ledger:
            rows = ledger.rows()
            files = write_cohort(out, studies, rows, by=args.by, clinical=clinical, clinical_key=args.clinical_key,
                                 include_phi=args.include_phi, title=f"spinebq batch {out.name}", profile=args.profile)
    print(_summary(result, memory_mb))
    if files.clinical_matched is not None:
        n, total = files.clinical_matched
        line = _clinical_line(files.clinical_matched, args.clinical, args.clinical_key)
        print(line if n == total else f"spinebq batch: warning: {line}", file=sys.stdout if n == total else sys.stderr)
    others = len({row["key"] for row in rows} - {s.key for s in studies})
    if others:
        print(f"note: {out} also holds {others} studies of earlier runs with other inputs; they are kept in the ledger "
              "and studies/ but left out of this cohort table")
    print(f"cohort table: {files.table} ({counted(files.rows, 'row')}; dictionary {files.dictionary.name}, {files.parquet.name}); "
          f"QC page: {files.qc_page}" + (f"; key map: {files.key_map}" if files.key_map else ""))
    print(RESEARCH_NOTICE)
    return 0


def _clinical_line(matched: tuple[int, int], path: str, key: str) -> str:
    """How many studies found their row of --clinical; a warning when some or all did not."""
    n, total = matched
    if n == total:
        return f"clinical: every study ({total}) found its row of {path} by {key}"
    return (f"clinical: {total - n} of {total} studies found no row of {path} (their clinical columns are "
            f"empty): --clinical-key {key} must hold the study's PatientID or AccessionNumber, or the manifest id "
            "(a NIfTI folder has none of these: give a manifest)")


def _summary(result, memory_mb: float) -> str:
    from spinebq.report.text import counted

    counts = result.counts
    work = (f"in {result.seconds:.0f} s on {result.workers} worker(s) ({3600 * result.measured / result.seconds:.0f} "
            "studies per hour)") if result.measured else ("" if result.reassessed else
                                                          "(everything was done before and is unchanged)")
    again = (f"; assessed {result.reassessed} done studies again with their changed clinical values (measurements "
             "kept)") if result.reassessed else ""
    lines = [f"measured {counted(result.measured, 'study', 'studies')} {work}".rstrip() + again
             + f"; ledger: {', '.join(f'{counts[s]} {s}' for s in ('done', 'failed', 'skipped', 'pending') if counts[s])}"]
    peaks = [o.peak_memory_mb for o in result.outcomes if o.peak_memory_mb]
    if peaks:
        lines.append(f"peak memory per study {max(peaks):.0f} MB (limit {memory_mb:.0f} MB)")
    for state, reasons in (("failed", result.failures), ("skipped", result.skips)):
        lines.extend(f"  {state} ({n}): {reason}" for reason, n in reasons.most_common())
    return "\n".join(lines)


def _check_out(out, inputs) -> None:
    """Refuse, before any header is read, an --out that cannot be written or that holds or lies in an input."""
    from pathlib import Path

    from spinebq.errors import SpinebqError
    from spinebq.io.output import check_writable

    check_writable(out)
    resolved = out.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if resolved == source or source in resolved.parents and not source.is_file():
            raise SpinebqError(f"--out {out} lies inside the input {item}: choose a folder outside the inputs")
        if resolved in source.parents:
            raise SpinebqError(f"the input {item} lies inside --out {out}: choose another output folder")


def _read_clinical(path: str, key_column: str):
    """The clinical spreadsheet, checked before any study is measured (:func:`spinebq.batch.cohort.read_clinical`)."""
    from spinebq.batch.cohort import read_clinical

    return read_clinical(path, key_column)


class _Bar:
    """A tqdm bar made on first use and closed at the end; nothing with ``quiet``."""

    def __init__(self, quiet: bool, unit: str, desc: str | None = None) -> None:
        self.quiet, self.unit, self.desc = quiet, unit, desc
        self.bar = None

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def show(self, done: int, total: int, postfix: str | None = None) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=self.unit, desc=self.desc, dynamic_ncols=True)
        if postfix:
            self.bar.set_postfix_str(postfix)
        self.bar.update(done - self.bar.n)


def _study_progress(bar: _Bar):
    """After each study: the bar with counts per state, rate and time left, or one plain line with ``quiet``."""

    def report(event) -> None:
        last = event.last
        if bar.quiet:
            reason = f" ({last.reason})" if last.reason else ""
            print(f"[{event.finished}/{event.total}] {last.key} {last.state} in {last.seconds:.1f} s{reason}", flush=True)
        else:
            bar.show(event.finished, event.total, ", ".join(f"{k} {v}" for k, v in sorted(event.counts.items())))

    return report
