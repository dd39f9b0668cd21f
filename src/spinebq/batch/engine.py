"""The batch engine: every study through the pipeline on Dask, recorded in the ledger, resumable.

By default an embedded ``dask.distributed`` LocalCluster runs the studies (worker processes, one thread each);
with a scheduler address the work goes to an existing Dask cluster (Slurm through dask-jobqueue, Kubernetes,
or ``dask scheduler`` / ``dask worker`` started by hand). Workers read the inputs and write each study's folder
themselves (the batch folder must be on a file system they share); only the study's inputs record goes out and
a small :class:`~spinebq.batch.study.StudyOutcome` comes back. The ledger is written here only. A done study
whose only change is its clinical values (a ``--clinical`` spreadsheet given or edited) is assessed again here,
from the documents in its folder, without measuring it again.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spinebq import __version__
from spinebq.batch.ledger import Ledger, batch_lock, options_hash
from spinebq.batch.study import (
    REASSESSED, TEMPORARY_PREFIX, BatchOptions, StudyOutcome, reassess_study, run_study, write_reassessed)
from spinebq.errors import SpinebqError
from spinebq.records.study import StudyInputs
from spinebq.vocabulary import StudyState


@dataclass(frozen=True)
class BatchProgress:
    """What the engine reports after each study ends.

    Attributes
    ----------
    total : int
        Studies to measure or assess again in this run.
    finished : int
        Of these, how many ended.
    counts : Counter
        Studies of this run per state (``done``, ``failed``, ``skipped``; ``re-assessed``: done studies whose clinical
        values changed, assessed again without measuring).
    last : StudyOutcome or None
        The study that just ended.
    """

    total: int
    finished: int
    counts: Counter
    last: StudyOutcome | None = None


@dataclass(frozen=True)
class BatchResult:
    """What a run did.

    Attributes
    ----------
    measured : int
        Studies measured in this run (the others were done before, skipped or unchanged).
    counts : Counter
        The given studies per state in the ledger, after the run.
    failures, skips : Counter
        The given studies that failed, or were skipped (in this run or before), per reason.
    seconds : float
        Wall time of the run.
    workers : int
        Number of Dask workers that measured.
    outcomes : tuple of StudyOutcome
        This run's outcomes, in the order they ended.
    reassessed : int
        Done studies assessed again in this run because their clinical values changed (not measured again).
    """

    measured: int
    counts: Counter
    failures: Counter
    skips: Counter
    seconds: float
    workers: int
    outcomes: tuple[StudyOutcome, ...] = field(default=())
    reassessed: int = 0


def run_batch(studies: Sequence[StudyInputs], out_dir: str | Path, options: BatchOptions = BatchOptions(), *,
              workers: int = 2, scheduler: str | None = None, retry_failed: bool = False,
              progress: Callable[[BatchProgress], None] | None = None) -> BatchResult:
    """Measure every study that is not done yet, assess again the done ones whose clinical values changed, and
    record each outcome in the ledger.

    Parameters
    ----------
    studies : sequence of StudyInputs
        From :func:`spinebq.batch.discover.discover`.
    out_dir : str or Path
        The batch folder: ``ledger.sqlite`` and ``studies/<key>/``.
    options : BatchOptions
    workers : int
        Worker processes of the embedded cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``).
    retry_failed : bool
        Measure again the studies that failed in an earlier run.
    progress : callable, optional
        Called with a :class:`BatchProgress` after each study.

    Returns
    -------
    BatchResult

    Raises
    ------
    SpinebqError
        When another batch is measuring into ``out_dir`` (:func:`~spinebq.batch.ledger.batch_lock`).

    Notes
    -----
    On KeyboardInterrupt the studies not finished are set back to ``pending``, the cluster is shut down and the
    interrupt is raised again; the next run measures only what is missing.
    """
    out = Path(out_dir)
    with batch_lock(out):
        return _run(studies, out, options, workers, scheduler, retry_failed, progress)


def _run(studies: Sequence[StudyInputs], out: Path, options: BatchOptions, workers: int, scheduler: str | None,
         retry_failed: bool, progress: Callable[[BatchProgress], None] | None) -> BatchResult:
    """:func:`run_batch` while it holds the folder."""
    (out / "studies").mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    started = time.perf_counter()
    by_key = {s.key: s for s in studies}
    outcomes: list[StudyOutcome] = []
    with Ledger(out) as ledger:
        # what changes a study's files: not its time or memory limit
        measured_with = options_hash(options.profile, options.study, options.include_phi)
        plan = ledger.plan(studies, options=measured_with, version=__version__, retry_failed=retry_failed)
        tally = _Tally(len(plan.measure) + len(plan.reassess), progress)
        reassessed, not_whole = _reassess([by_key[k] for k in plan.reassess], out, options, ledger, tally)
        measure = [by_key[k] for k in plan.measure] + not_whole
        n_workers = 0
        if measure:
            client, cluster = _connect(scheduler, workers)
            try:
                n_workers = len(client.scheduler_info()["workers"])
                outcomes = _measure(client, measure, out, options, ledger, tally)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        rows = [row for row in ledger.rows() if row["key"] in by_key]
    counts = Counter(row["state"] for row in rows)
    failures, skips = (Counter(row["reason"] for row in rows if row["state"] == state.value)
                       for state in (StudyState.FAILED, StudyState.SKIPPED))
    return BatchResult(len(outcomes), counts, failures, skips, time.perf_counter() - started, n_workers,
                       tuple(outcomes), reassessed)


class _Tally:
    """The run's studies that ended, per state, told to ``progress`` after each."""

    def __init__(self, total: int, progress: Callable[[BatchProgress], None] | None) -> None:
        self.total, self.progress = total, progress
        self.finished, self.counts = 0, Counter()

    def ended(self, outcome: StudyOutcome, state: str | None = None) -> None:
        self.finished += 1
        self.counts[state or outcome.state] += 1
        if self.progress is not None:
            self.progress(BatchProgress(self.total, self.finished, self.counts.copy(), outcome))


def _reassess(studies: list[StudyInputs], out: Path, options: BatchOptions, ledger: Ledger,
              tally: _Tally) -> tuple[int, list[StudyInputs]]:
    """Assess again, in this process, the done studies whose clinical values changed; their measurements are kept.

    An interrupted study stays done with its earlier assessment (its folder is replaced whole or not at all), to be
    assessed again by the next run. Returns how many were assessed, and the studies that could not be (a document
    missing or unreadable, a clinical value the assessment cannot read), set back to pending to be measured.
    """
    done, not_whole = 0, []
    for study in studies:
        start = time.perf_counter()
        try:
            write_reassessed(out, reassess_study(out, study), options)
        except SpinebqError:
            ledger.mark(study.key, StudyState.PENDING)
            ledger.record_clinical(study)
            not_whole.append(study)
            continue
        ledger.record_clinical(study)  # only now: an interrupted study is assessed again by the next run
        done += 1
        tally.ended(StudyOutcome(study.key, StudyState.DONE.value, REASSESSED, time.perf_counter() - start),
                    state="re-assessed")
    return done, not_whole


def _measure(client, studies: list[StudyInputs], out: Path, options: BatchOptions, ledger: Ledger,
             tally: _Tally) -> list[StudyOutcome]:
    from distributed import as_completed

    futures = {}
    for study in studies:
        future = client.submit(run_study, study, options, str(out), key=f"spinebq-study-{study.key}-{time.time_ns()}",
                               pure=False)
        futures[future] = study.key
        ledger.mark(study.key, StudyState.RUNNING)
    outcomes = []
    try:
        for future in as_completed(futures):
            key = futures[future]
            outcome = _outcome(future, key)
            ledger.mark(key, StudyState(outcome.state), reason=outcome.reason, seconds=outcome.seconds,
                        cpu_seconds=outcome.cpu_seconds, peak_memory_mb=outcome.peak_memory_mb, worker=outcome.worker)
            outcomes.append(outcome)
            tally.ended(outcome)
    except BaseException:
        client.cancel(list(futures))
        ended = {o.key for o in outcomes}
        for key in futures.values():
            if key not in ended:
                ledger.mark(key, StudyState.PENDING, reason="interrupted")
        raise
    return outcomes


def _outcome(future, key: str) -> StudyOutcome:
    """The study's outcome, or a failure naming what happened to its worker."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        return StudyOutcome(key, StudyState.FAILED.value, "the Dask workers measuring this study died each time it was tried "
                            "(killed, out of memory or crashed)", float("nan"))
    except Exception as exc:  # a task that raised: the engine's own error, reported for this study only
        return StudyOutcome(key, StudyState.FAILED.value, f"internal error: {type(exc).__name__}: {exc}", float("nan"))


def _connect(scheduler: str | None, workers: int):
    """A client of the given scheduler, or of a new LocalCluster of ``workers`` processes (one thread each)."""
    import dask
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler:
        try:
            return Client(scheduler, timeout="30s"), None
        except (OSError, TimeoutError) as exc:
            raise SpinebqError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    # workers start the process each study is measured in, which a daemonic process may not
    dask.config.set({"distributed.worker.daemon": False, "distributed.scheduler.allowed-failures": 2})
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, preload=["spinebq.batch.study"])  # its dask_setup: Ctrl-C
    return Client(cluster), cluster


def _remove_leftovers(out: Path) -> None:
    """Temporary study folders of an interrupted run (never a complete study folder)."""
    import shutil

    for leftover in (out / "studies").glob(f"{TEMPORARY_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
