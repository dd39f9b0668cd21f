"""The run ledger: one SQLite row per study, so a batch loses nothing and resumes where it stopped.

Only the process that drives the batch writes the ledger (workers return their outcome to it), so the
database never sees two writers, also when the workers run on other machines. A study is done only when its
row says so; its folder under ``studies/`` is moved into place before the row is marked.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from spinebq.batch.cohort import read_row
from spinebq.errors import SpinebqError, option
from spinebq.records.study import LABEL_MAP_FOUND, SeriesInfo, StudyInputs
from spinebq.vocabulary import StudyState

#: File name of the ledger inside the batch folder.
LEDGER_NAME = "ledger.sqlite"
#: File a running batch holds locked in its folder; the lock ends with the process, also when it is killed.
LOCK_NAME = ".spinebq-batch.lock"


SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    key TEXT PRIMARY KEY,
    patient TEXT NOT NULL,
    inputs TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    options_hash TEXT NOT NULL,
    version TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    started REAL,
    finished REAL,
    seconds REAL,
    cpu_seconds REAL,
    peak_memory_mb REAL,
    worker TEXT,
    clinical TEXT
)
"""


@dataclass(frozen=True)
class Plan:
    """What a run does with the studies it is given (:meth:`Ledger.plan`).

    Attributes
    ----------
    measure : list of str
        Keys of the studies to measure, in order.
    reassess : list of str
        Keys of the done studies whose images and options are unchanged but whose clinical values changed: their
        measurements are kept and only their assessment is made again (:func:`spinebq.batch.study.reassess_study`).
    """

    measure: list[str] = field(default_factory=list)
    reassess: list[str] = field(default_factory=list)


def fingerprint(inputs: StudyInputs) -> str:
    """A hash of every input image and label file's name, size and modification time (changes when one changes).

    The clinical values are hashed apart (:func:`clinical_hash`): they change the assessment, not the measurements.
    """
    digest = hashlib.sha256()
    paths = [s.path for s in (inputs.ct, inputs.mri, inputs.axial) if isinstance(s, SeriesInfo)]
    paths += [labels for labels in (inputs.labels, inputs.mri_labels) if labels]
    for root in paths:
        root_path = Path(root)
        files = [root_path] if root_path.is_file() else sorted(p for p in root_path.rglob("*") if p.is_file())
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update(repr((inputs.ct, inputs.mri, inputs.axial, inputs.labels, inputs.mri_labels)).encode())
    return digest.hexdigest()[:16]


def clinical_hash(inputs: StudyInputs) -> str:
    """A hash of the study's clinical values (age, sex, planned levels ...: what its assessment reads)."""
    return hashlib.sha256(repr(inputs.clinical).encode()).hexdigest()[:16]


def options_hash(*options: object) -> str:
    """A hash of the options' representation (frozen dataclasses print every field)."""
    return hashlib.sha256(repr(options).encode()).hexdigest()[:16]


#: The batch folders this process holds (:func:`batch_lock`).
_HELD: set[Path] = set()


@contextmanager
def batch_lock(folder: Path) -> Iterator[None]:
    """Hold the batch folder for one run: a second batch into the same folder is refused while this one runs.

    Two runs into one folder would both measure every study, and each would remove the other's temporary folders
    (and, through the resulting failure, its finished study folder). The lock is an advisory ``flock`` on
    :data:`LOCK_NAME`, released by the system when the process ends however it ends, so it never outlives its run.
    Within one process the lock may be taken again (the command holds it around the engine, which takes it too).

    Raises
    ------
    SpinebqError
        When another process holds the folder, naming that process.
    """
    import fcntl
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    held = folder.resolve()
    if held in _HELD:  # this process holds it already (the command around the engine)
        yield
        return
    with open(folder / LOCK_NAME, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise SpinebqError(f"{folder}: another spinebq batch is measuring into this folder ({holder}); wait for it "
                               f"to end, or give another {option('out')}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}, started "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        _HELD.add(held)
        try:
            yield
        finally:
            _HELD.discard(held)
            fcntl.flock(handle, fcntl.LOCK_UN)


class Ledger:
    """The SQLite ledger of one batch folder.

    Parameters
    ----------
    folder : Path
        The batch output folder; the ledger is ``folder / "ledger.sqlite"``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LEDGER_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        if "clinical" not in {row[1] for row in self._db.execute("PRAGMA table_info(studies)")}:  # written before the column
            self._db.execute("ALTER TABLE studies ADD COLUMN clinical TEXT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def plan(self, studies: Iterable[StudyInputs], *, options: str, version: str, retry_failed: bool = False) -> Plan:
        """Record ``studies`` and return what to do with them now.

        A study is measured when it is new, was interrupted (``running`` or ``pending`` from an earlier run), its
        images or the options changed, its folder was removed or its row is unreadable (cut or edited by hand:
        :func:`~spinebq.batch.cohort.read_row`), or it failed and ``retry_failed`` is set. A done study whose only
        change is its clinical values is assessed again, its measurements kept. A study whose discovery found a
        problem is recorded ``skipped`` with that reason, as is, while unchanged, one its worker skipped (a label map
        found among NIfTI images).
        """
        plan = Plan()
        with self._db:
            for study in studies:
                row = self._db.execute("SELECT fingerprint, options_hash, state, reason, clinical FROM studies "
                                       "WHERE key = ?", (study.key,)).fetchone()
                current, clinical = fingerprint(study), clinical_hash(study)
                state = StudyState.SKIPPED if study.problem else StudyState.PENDING
                unchanged = row is not None and row[0] == current and row[1] == options
                # skipped for the same reason: discovery's problem (found anew each run) or the worker's label map
                skipped_again = row is not None and row[3] == (study.problem or LABEL_MAP_FOUND)
                kept = {StudyState.SKIPPED.value: skipped_again, StudyState.FAILED.value: not retry_failed,
                        StudyState.DONE.value: read_row(self.path.parent, study.key) is not None}
                if unchanged and kept.get(row[2], False):
                    if row[2] == StudyState.DONE.value and row[4] != clinical:
                        plan.reassess.append(study.key)
                    continue
                self._db.execute(
                    "INSERT OR REPLACE INTO studies (key, patient, inputs, fingerprint, options_hash, version, state, "
                    "reason, clinical) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (study.key, study.patient_key, json.dumps(study.public_json()), current, options, version,
                     state.value, study.problem, clinical))
                if state is StudyState.PENDING:
                    plan.measure.append(study.key)
        return plan

    def record_clinical(self, study: StudyInputs) -> None:
        """Record ``study``'s current clinical values (its assessment reads them, or its measurement will)."""
        self._db.execute("UPDATE studies SET clinical = ? WHERE key = ?", (clinical_hash(study), study.key))

    def mark(self, key: str, state: StudyState, *, reason: str | None = None, seconds: float | None = None,
             cpu_seconds: float | None = None, peak_memory_mb: float | None = None, worker: str | None = None) -> None:
        """Set the state of study ``key`` (and its timings once it ended)."""
        now = time.time()
        if state is StudyState.RUNNING:
            self._db.execute("UPDATE studies SET state = ?, started = ?, worker = ?, reason = NULL WHERE key = ?",
                             (state.value, now, worker, key))
        else:
            self._db.execute("UPDATE studies SET state = ?, reason = ?, finished = ?, seconds = ?, cpu_seconds = ?, "
                             "peak_memory_mb = ?, worker = COALESCE(?, worker) WHERE key = ?",
                             (state.value, reason, now, seconds, cpu_seconds, peak_memory_mb, worker, key))

    def rows(self) -> list[dict]:
        """Every study's row, sorted by key."""
        cursor = self._db.execute("SELECT * FROM studies ORDER BY key")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, values)) for values in cursor.fetchall()]
