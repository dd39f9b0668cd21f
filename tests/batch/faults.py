"""What the batch fault tests share: the studies (copies of the real CT under several names) and how a test
watches, stops or kills the processes of a running batch.

The faults are split over ``test_faults.py`` (a study that hangs, one out of memory: no reference table needed) and
``test_faults_recovery.py`` (a worker killed, the batch interrupted, a real cluster: each compared with the cohort
table of an uninterrupted run), so that the suite's two processes can run them side by side.
"""
from __future__ import annotations

import threading
from pathlib import Path

from spinebq.batch.study import BatchOptions, profile_options
from tests.conftest import TS, need

#: Studies of the fault tests (copies of the real CT under different names).
N_STUDIES = 4
OPTIONS = BatchOptions(study=profile_options("screening"))


def make_cohort(folder: Path) -> Path:
    """``folder`` with N_STUDIES links to the real CT, each with TotalSegmentator's labels beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_STUDIES):
        (folder / f"case{i:02d}.nii.gz").symlink_to(need(TS / "ct.nii.gz"))
        (folder / f"case{i:02d}_labels.nii.gz").symlink_to(need(TS / "seg_v2" / "total.nii.gz"))
    return folder


def no_half_written(out: Path) -> None:
    """Every study folder of the batch ``out`` is complete, and no temporary folder is left."""
    assert not list((out / "studies").glob(".tmp-*"))
    for folder in (out / "studies").iterdir():
        assert (folder / "row.json").is_file() and (folder / "ct" / "measurements.json").is_file(), folder


def study_processes():
    """The processes measuring a study: children of a Dask worker's process server (grandchildren of a worker)."""
    import psutil

    found = []
    for worker in psutil.Process().children():
        if "spawn_main" in " ".join(worker.cmdline()):
            found += [p for p in worker.children(recursive=True) if p.ppid() != worker.pid]
    return found


def in_background(target) -> tuple[threading.Thread, dict]:
    """``target()`` run in a thread; its return value lands in the dict under ``result``."""
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(result=target()))
    runner.start()
    return runner, outcome
