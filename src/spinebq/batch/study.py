"""One study of a batch, as a Dask worker runs it: measured in a child process, written atomically.

:func:`run_study` is the task the engine ships to a worker. The study is measured in a child process forked
from a server that has spinebq already imported, so a study that hangs is killed at its time limit, and one
that crashes or runs out of memory ends ``failed`` with its reason while the worker goes on. The child writes
the study's files into a temporary folder beside ``studies/<key>/`` and moves it into place only when
complete, so a study folder is either whole or absent. Only a small :class:`StudyOutcome` travels back.
"""
from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spinebq.constants import DEFAULT_TIMEOUT_S
from spinebq.errors import OPTION_IN_MESSAGE, NotAnImageError, SpinebqError
from spinebq.io.output import without_paths
from spinebq.pipeline import StudyOptions, StudyRecord
from spinebq.records.study import StudyInputs

#: What a profile measures: ``screening`` (body density, fractures, thumbnail) or ``full`` (everything).
PROFILES = ("screening", "full")
#: The smallest memory limit per study accepted (MB): spinebq's own code takes about this much.
MIN_MEMORY_MB = 100.0
#: How often the worker looks at the study's process (s): its result, its memory, the time limit.
WATCH_INTERVAL_S = 0.25
#: Variables Dask sets in its worker processes that must not reach the study's process: glibc's trim threshold
#: makes every large numpy temporary go back to the operating system (studies 25-50 % slower).
DASK_ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_",)
#: Prefix of the temporary folders a study is written into before it is moved into place.
TEMPORARY_PREFIX = ".tmp-"
#: What a study assessed again with changed clinical values says in the run's progress.
REASSESSED = "assessed again with its changed clinical values; its measurements kept from the earlier run"
#: Modules the child-process server imports once, so that each study starts at once.
PRELOAD = ["spinebq.batch.study", "spinebq.segment.ct.core", "spinebq.measure.ct.regional", "spinebq.measure.mri.measure",
           "spinebq.risk.assess", "spinebq.report.ct_outputs", "spinebq.report.mri_outputs", "spinebq.report.thumbnail"]


@dataclass(frozen=True)
class BatchOptions:
    """How every study of a batch is measured.

    Attributes
    ----------
    profile : str
        ``screening``: segmentation, L1-L4 body density, fractures and the thumbnail (no screw trajectories, no
        per-level pictures, no report); ``full``: everything ``spinebq ct``, ``mri`` and ``report`` do (pictures,
        ``report.html`` and ``report.pdf``).
    study : StudyOptions
        The pipeline options (the profile sets the trajectory mode).
    timeout_s : float
        A study running longer is stopped and marked failed (counted from the start of the study's process, so the
        imports of a worker's process server before its first study never count).
    memory_limit_mb : float or None
        Resident memory the process measuring one study may use; beyond it the study is stopped and fails as
        out of memory (None: no limit but the machine's).
    include_phi : bool
        Keep series paths and UIDs in the study's ``study.json`` (never names or IDs of patients).
    """

    profile: str = "screening"
    study: StudyOptions = field(default_factory=StudyOptions)
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_limit_mb: float | None = None
    include_phi: bool = False

    def __post_init__(self) -> None:
        from spinebq.errors import OptionError

        if self.profile not in PROFILES:
            raise OptionError("profile", f"{self.profile!r} is not one of {', '.join(PROFILES)}")
        if not self.timeout_s > 0:
            raise OptionError("timeout_s", f"{self.timeout_s} s: a time limit must be positive")
        if self.memory_limit_mb is not None and not self.memory_limit_mb >= MIN_MEMORY_MB:
            raise OptionError("memory_limit_mb", f"{self.memory_limit_mb} MB: at least {MIN_MEMORY_MB} MB are needed")


def profile_options(profile: str, study: StudyOptions | None = None) -> StudyOptions:
    """The pipeline options of a profile, one thread per study (the batch runs studies side by side):
    ``screening`` plans no screw trajectories."""
    study = study or StudyOptions()
    ct = replace(study.ct, threads=1)
    if profile == "screening":
        ct = replace(ct, trajectory="none")
    return replace(study, ct=ct)


@dataclass(frozen=True)
class StudyOutcome:
    """What a worker sends back for one study (small: the files stay where the worker wrote them).

    Attributes
    ----------
    key : str
    state : str
        ``done``, ``failed``, or ``skipped`` (its image is a label map).
    reason : str or None
        Why it failed or was skipped; for a done study, which modality could not be measured, if any.
    seconds, cpu_seconds : float
        Wall and CPU time of the study's process.
    peak_memory_mb : float or None
        Peak resident memory of the study's process (None when it was killed).
    worker : str
        Host and process id of the Dask worker.
    """

    key: str
    state: str
    reason: str | None
    seconds: float
    cpu_seconds: float = float("nan")
    peak_memory_mb: float | None = None
    worker: str = ""


def run_study(inputs: StudyInputs, options: BatchOptions, out_dir: str) -> StudyOutcome:
    """Measure one study in a child process and move its folder into ``out_dir/studies/<key>/``.

    Never raises for a problem of the study itself: a bad input, a crash, a timeout or running out of memory
    is returned as a ``failed`` outcome with its reason.
    """
    worker = f"{os.uname().nodename}:{os.getpid()}"
    start = time.perf_counter()
    if multiprocessing.current_process().daemon:
        return StudyOutcome(inputs.key, "failed", "the Dask worker is a daemonic process and cannot start the "
                            "process a study is measured in: start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False",
                            0.0, worker=worker)
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_measure_in_child, args=(sender, inputs, options, out_dir), name=f"spinebq-{inputs.key}")
    process.start()  # returns once the worker's process server, started on first use (imports: seconds), has forked it
    sender.close()
    message, reason = _watch(process, receiver, options, time.perf_counter())
    if process.is_alive():
        process.kill()
    process.join()
    receiver.close()
    _remove_temporary(Path(out_dir), inputs.key, process.pid)
    seconds = time.perf_counter() - start
    if message is not None:
        state, message_reason, cpu_seconds, peak_mb = message
        return StudyOutcome(inputs.key, state, message_reason, seconds, cpu_seconds, peak_mb, worker)
    shutil.rmtree(Path(out_dir) / "studies" / inputs.key, ignore_errors=True)  # an earlier run's folder is stale now
    return StudyOutcome(inputs.key, "failed", reason or _crash_reason(process.exitcode), seconds, worker=worker)


def _watch(process, receiver, options: BatchOptions, start: float) -> tuple[tuple | None, str | None]:
    """Wait for the study's result; return (result, None), or (None, why it was stopped or ended without one).

    ``start`` is the ``time.perf_counter()`` the time limit counts from (the study's process has just started).
    """
    import psutil

    watched = psutil.Process(process.pid)
    while True:
        try:
            if receiver.poll(WATCH_INTERVAL_S):
                return receiver.recv(), None
        except EOFError:  # the process ended without sending a result
            return None, None
        if time.perf_counter() - start > options.timeout_s:
            return None, f"stopped after the time limit of {options.timeout_s:g} s"
        if options.memory_limit_mb is not None:
            try:
                resident_mb = watched.memory_info().rss / 2**20
            except psutil.Error:
                continue
            if resident_mb > options.memory_limit_mb:
                return None, (f"out of memory: stopped at {resident_mb:.0f} MB, above the limit of "
                              f"{options.memory_limit_mb:g} MB per study")


_CONTEXT = None


def _context():
    """A forkserver context with spinebq preloaded (one server per worker process, started on first use)."""
    global _CONTEXT
    if _CONTEXT is None:
        for name in DASK_ENVIRONMENT:  # the server starts from this environment, and every study from the server
            os.environ.pop(name, None)
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def _crash_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        cause = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the process measuring the study was killed by {name}{cause}"
    return f"the process measuring the study ended with exit code {exitcode} without a result"


def dask_setup(worker) -> None:
    """Dask's preload hook, run in each worker process of the embedded cluster (``preload=[this module]``).

    Ctrl-C reaches every process of the terminal's process group. The process driving the batch acts on it (it
    cancels the studies, sets them back to pending and closes the cluster); a worker ignores it, and the study
    it is measuring stops without a word (:func:`_measure_in_child`), so the user sees one line.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _measure_in_child(sender, inputs: StudyInputs, options: BatchOptions, out_dir: str) -> None:
    """The study's process: measure, write, move into place, send the outcome; on Ctrl-C stop quietly."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the worker ignores it (dask_setup); this process stops
    try:
        _measure_and_send(sender, inputs, options, out_dir)
    except KeyboardInterrupt:  # the temporary folder is gone; the driver sets the study back to pending and says so
        pass


def _measure_and_send(sender, inputs: StudyInputs, options: BatchOptions, out_dir: str) -> None:
    _exit_with_worker(sender)
    cpu_start = time.process_time()
    out = Path(out_dir) / "studies"
    temporary = out / f"{TEMPORARY_PREFIX}{inputs.key}-{os.getpid()}"
    try:
        record = measure_study(inputs, options)
        write_study(temporary, record, options)
        _move_into_place(temporary, out / inputs.key)
        nothing = nothing_measured(record)
        reasons = [r for r in (record.ct_reason, record.mri_reason) if r]
        result = ("failed", nothing) if nothing else ("done", "; ".join(reasons) or None)
    except NotAnImageError as exc:  # a label map found among the images: no study
        result = ("skipped", str(exc))
        shutil.rmtree(out / inputs.key, ignore_errors=True)
    except Exception as exc:  # an error of one study never stops the batch
        result = ("failed", _failure_reason(exc))
        shutil.rmtree(out / inputs.key, ignore_errors=True)  # an earlier run's folder is stale now
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    state, reason = result
    reason = reason and with_study_flags(reason if options.include_phi else without_paths(reason, input_names(inputs)))
    sender.send((state, reason, time.process_time() - cpu_start, peak_mb))
    sender.close()


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, SpinebqError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"internal error: {type(exc).__name__}: {exc}"


def nothing_measured(record: StudyRecord) -> str | None:
    """Why a study that ran gave no number at all (every level cut, excluded or unlabelled), or None."""
    reasons = []
    if record.ct is not None:
        if any(v.hu == v.hu for v in record.ct.vertebrae):
            return None
        levels = "; ".join(f"{v.level}: {', '.join(v.qc) or 'no value'}" for v in record.ct.vertebrae)
        reasons.append(f"no vertebra of the CT could be measured ({levels})")
    if record.mri is not None:
        if record.mri.vbq is not None or any(v.body_signal is not None for v in record.mri.levels):
            return None
        reasons.append(f"no vertebra of the MRI could be measured ({record.mri.vbq_reason})")
    return "; ".join(reasons + [r for r in (record.ct_reason, record.mri_reason) if r]) or None


def with_study_flags(reason: str) -> str:
    """``reason`` with each option it names (:func:`spinebq.errors.option`) as the ``spinebq ct`` command line that
    measures the study alone: the batch has no per-study flags (``give spinebq ct --modality CT if it is a CT``).
    The library options named in reasons (``modality``, ``labels``) are options of ``spinebq ct``.

    >>> with_study_flags("give option `modality` CT if it is a CT")
    'give spinebq ct --modality CT if it is a CT'
    """
    return OPTION_IN_MESSAGE.sub(lambda match: f"spinebq ct --{match[1].replace('_', '-')}", reason)


def input_names(inputs: StudyInputs) -> dict[str | None, str]:
    """The study's input paths and the words that stand for them in its outputs (:func:`~spinebq.io.output.without_paths`)."""
    names: dict[str | None, str] = {inputs.labels: "the label map", inputs.mri_labels: "the MRI label map"}
    for role in ("ct", "mri", "axial"):
        info = getattr(inputs, role)
        if info is not None:
            names[str(info.path)] = ("the NIfTI image" if inputs.role_from_values
                                     else f"the {role.upper() if role == 'ct' else role} series")
    return names


def measure_study(inputs: StudyInputs, options: BatchOptions) -> StudyRecord:
    """The pipeline call of one study under the batch's profile."""
    from spinebq.io.schemas import clinical_fields
    from spinebq.pipeline import analyse_study

    return analyse_study(inputs, profile_options(options.profile, options.study),
                         clinical=clinical_fields(inputs.clinical))


def write_study(folder: Path, record: StudyRecord, options: BatchOptions) -> None:
    """Write everything of one study into ``folder``: CT and MRI outputs, thumbnail, assessment, row, study.json."""
    folder.mkdir(parents=True, exist_ok=True)
    full = options.profile == "full"
    ct, mri = record.ct, record.mri
    if not options.include_phi:  # input paths may name the patient: the documents name the series' role instead
        names = input_names(record.inputs)
        ct = ct and replace(type(ct).from_json(without_paths(ct.to_json(), names)), images=ct.images)
        mri = mri and replace(type(mri).from_json(without_paths(mri.to_json(), names)), images=mri.images)
        record = replace(record, ct=ct, mri=mri)
    if ct is not None:
        from spinebq.report.ct_outputs import write_ct_outputs
        from spinebq.report.thumbnail import spine_thumbnail

        images = ct.images
        spine_thumbnail(images.ct, images.result.bodies, folder / "thumbnail.png", levels=_thumbnail_text(ct))
        ct = write_ct_outputs(folder / "ct", ct, pictures=full)  # the record now names its pictures (the report's)
        _write_manifest(folder / "ct", "ct", {"ct": record.inputs.ct.path, "labels": record.inputs.labels},
                        images.ct.metadata, options)
    if mri is not None:
        from spinebq.report.mri_outputs import write_mri_outputs

        if ct is None and mri.images is not None and mri.images.labels is not None:  # the CT's picture comes first
            from spinebq.report.thumbnail import mr_window, spine_thumbnail

            image = mri.images.image
            spine_thumbnail(image, mri.images.labels.array, folder / "thumbnail.png", window=mr_window(image))

        mri = write_mri_outputs(folder / "mri", mri, figures=full)
        _write_manifest(folder / "mri", "mri", {"image": record.inputs.mri.path, "labels": record.inputs.mri_labels,
                                               "axial": record.inputs.axial and record.inputs.axial.path},
                        mri.images.image.metadata if mri.images else None, options)
    _write_assessment(folder, replace(record, ct=ct, mri=mri), options)


def _write_assessment(folder: Path, record: StudyRecord, options: BatchOptions) -> None:
    """What of a study depends on its clinical values: assessment, report (full profile), study.json and row."""
    from spinebq.batch.cohort import ROW_NAME, study_row
    from spinebq.report.files import write_json

    if record.assessment is not None:
        write_json(folder / "assessment.json", record.assessment.to_json())
    if options.profile == "full":
        _write_report(folder, record)
    write_json(folder / "study.json", record.inputs.public_json(include_paths=options.include_phi))
    write_json(folder / ROW_NAME, study_row(record))


def reassess_study(out_dir: Path, inputs: StudyInputs) -> StudyRecord:
    """The study an earlier run measured into ``out_dir/studies/<key>/``, assessed with ``inputs``' clinical values.

    Its CT and MRI documents are read back, not measured again: the assessment of a record and of its document are
    the same (``tests/risk/test_values_records.py``).

    Raises
    ------
    SpinebqError
        When a document its row says was written is missing or cannot be read (the folder is not whole: measure the
        study again), or a clinical value cannot be read (e.g. planned levels "L9").
    """
    from spinebq.batch.cohort import read_row
    from spinebq.io.schemas import clinical_fields
    from spinebq.risk.assess import assess_patient, ct_record, mri_record, read_document

    folder, row = out_dir / "studies" / inputs.key, read_row(out_dir, inputs.key) or {}
    records = []
    # a measured modality leaves its columns in the row (study_row): its document must be there too
    for document, column, to_record in ((folder / "ct" / "measurements.json", "contrast_phase", ct_record),
                                        (folder / "mri" / "mri.json", "vbq", mri_record)):
        if column not in row:
            records.append(None)
        elif not document.is_file():
            raise SpinebqError(f"{document}: missing, though the study's row holds what it measured")
        else:
            records.append(to_record(read_document(document, document.name), where=str(document)))
    ct, mri = records
    try:
        assessment = assess_patient(ct, mri, clinical_fields(inputs.clinical), patient_id=inputs.key)
    except ValueError as exc:  # as analyse_study says it
        raise SpinebqError(f"clinical values of the study: {exc}") from None
    return StudyRecord(inputs, ct, mri, assessment)


def write_reassessed(out_dir: Path, record: StudyRecord, options: BatchOptions) -> None:
    """Replace the study's folder in ``out_dir/studies/`` by a copy holding ``record``'s assessment, its
    measurements as they were (the folder is whole before and after, as a measured study's is)."""
    out = out_dir / "studies"
    temporary = out / f"{TEMPORARY_PREFIX}{record.inputs.key}-{os.getpid()}"
    try:
        shutil.copytree(out / record.inputs.key, temporary)
        _write_assessment(temporary, record, options)
        _move_into_place(temporary, out / record.inputs.key)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _write_manifest(folder: Path, command: str, inputs: dict[str, str | None], metadata: dict | None,
                    options: BatchOptions) -> None:
    """The manifest ``spinebq ct`` / ``mri`` write, so that ``report`` and ``assess`` read the study's folder.

    Without ``include_phi`` each input is named by its role, not its path (its fingerprint is kept).
    """
    from dataclasses import asdict

    from spinebq.io.output import input_entry, patient_entry, write_manifest

    entries = {role: input_entry(path, shown=None if options.include_phi else f"the {role} input of the batch study")
               for role, path in inputs.items() if path and Path(path).exists()}
    study = getattr(options.study, command)
    write_manifest(folder, command=command, inputs=entries, options={"profile": options.profile, **asdict(study)},
                   patient=patient_entry(metadata))


def _thumbnail_text(ct) -> dict[str, str]:
    text = {}
    for vertebra in ct.vertebrae:
        value = vertebra.hu
        text[vertebra.level] = f"{value:.0f} HU" if value == value else "n/a"
    return text


def _write_report(folder: Path, record: StudyRecord) -> None:
    from spinebq.report.html import write_patient_html
    from spinebq.report.patient import patient_report
    from spinebq.report.pdf import write_patient_pdf

    report = patient_report(record.ct, record.mri, record.assessment, patient_id=record.inputs.key,
                            ct_dir=folder / "ct" if record.ct else None, mri_dir=folder / "mri" if record.mri else None,
                            include_phi=False)
    write_patient_html(report, folder / "report.html")
    write_patient_pdf(report, folder / "report.pdf")


def _move_into_place(temporary: Path, final: Path) -> None:
    """Replace ``final`` by ``temporary`` (the old folder, from an earlier run, is removed after the move)."""
    old = None
    if final.exists():
        old = final.with_name(f"{TEMPORARY_PREFIX}old-{final.name}-{os.getpid()}")
        os.replace(final, old)
    os.replace(temporary, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_temporary(out_dir: Path, key: str, pid: int | None) -> None:
    """Remove what a killed child left behind."""
    if pid is not None:
        shutil.rmtree(out_dir / "studies" / f"{TEMPORARY_PREFIX}{key}-{pid}", ignore_errors=True)


def _exit_with_worker(sender) -> None:
    """End this process at once when the Dask worker waiting for its result is gone (killed, or the batch that
    started it killed), so that an orphan never goes on measuring and writing into the batch folder.

    The process's parent is the worker's process server, which lives as long as this process does (each process it
    starts holds the server's lifeline), so the parent's death is no signal. The worker holds the only other end
    of ``sender``'s pipe: when the worker is gone, the pipe reports an error and a watching thread kills the process.
    """
    import select
    import threading

    def watch() -> None:
        poller = select.poll()
        poller.register(sender.fileno(), select.POLLERR | select.POLLHUP)
        poller.poll()  # returns only when the reading end is closed: the worker is gone or has the result
        os.kill(os.getpid(), signal.SIGKILL)  # as the worker stops a study it gives up on

    threading.Thread(target=watch, name="spinebq-worker-watch", daemon=True).start()
