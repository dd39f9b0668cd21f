"""Faults a batch recovers from: a worker killed, the batch interrupted, a real cluster.

Each compares the final cohort table with the one of an uninterrupted run on the same studies (the real CT,
measured with TotalSegmentator's labels, under several names: :mod:`tests.batch.faults`).
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from spinebq.batch.cohort import write_cohort
from spinebq.batch.discover import discover
from spinebq.batch.engine import run_batch
from spinebq.batch.ledger import Ledger
from tests.batch.faults import N_STUDIES, OPTIONS, in_background, make_cohort, no_half_written, study_processes


def _table(out: Path, studies) -> pd.DataFrame:
    with Ledger(out) as ledger:
        rows = ledger.rows()
    return pd.read_csv(write_cohort(out, studies, rows).table)


def _states(out: Path) -> dict[str, str]:
    """Each study's state in the ledger; empty while the batch has not yet created its table."""
    with sqlite3.connect(out / "ledger.sqlite") as db:
        try:
            return dict(db.execute("SELECT key, state FROM studies").fetchall())
        except sqlite3.OperationalError:
            return {}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """The studies and the cohort table of an uninterrupted run."""
    folder = make_cohort(tmp_path_factory.mktemp("faults") / "input")
    studies = discover([folder])
    out = folder.parent / "reference"
    result = run_batch(studies, out, OPTIONS, workers=2)
    assert result.counts["done"] == N_STUDIES
    return folder, studies, _table(out, studies)


def test_a_worker_killed_mid_run_loses_nothing(cohort, tmp_path):
    _, studies, reference = cohort
    out = tmp_path / "out"
    runner, outcome = in_background(lambda: run_batch(studies, out, OPTIONS, workers=2))
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and runner.is_alive():
        time.sleep(0.5)
        measuring = study_processes()
        if measuring:  # kill the Dask worker whose study process is measuring
            killed = measuring[0].parent().parent().pid
            os.kill(killed, signal.SIGKILL)
    runner.join(300)
    assert killed is not None, "no worker was caught measuring"
    result = outcome["result"]
    assert result.counts == {"done": N_STUDIES}, result.failures
    no_half_written(out)
    pd.testing.assert_frame_equal(_table(out, studies), reference)


def test_an_interrupted_batch_resumes_with_only_what_was_missing(cohort, tmp_path):
    folder, studies, reference = cohort
    out = tmp_path / "out"
    command = [sys.executable, "-m", "spinebq.cli", "batch", str(folder), "--out", str(out), "--workers", "1", "--quiet"]
    # a session of its own, so that Ctrl-C can be sent as a terminal sends it: to every process of the group; and
    # Ctrl-C's default action, as a terminal's command has it (pytest started as a background job ignores SIGINT, and
    # its children would inherit that)
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 180
    while time.time() < deadline:
        time.sleep(0.5)
        if (out / "ledger.sqlite").is_file() and "done" in _states(out).values():
            break
    os.killpg(first.pid, signal.SIGINT)
    log = first.communicate(timeout=120)[0]
    assert first.returncode == 130, log
    assert "Traceback" not in log and log.rstrip().endswith("spinebq batch: interrupted"), log
    states = _states(out)
    finished = sum(state == "done" for state in states.values())
    assert 1 <= finished < N_STUDIES, states
    assert set(states.values()) <= {"done", "pending"}, states
    no_half_written(out)
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    left = N_STUDIES - finished
    assert f"measured {left} stud{'y' if left == 1 else 'ies'} " in second.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out / "cohort.csv"), reference)
    no_half_written(out)


def test_batch_on_a_real_dask_scheduler_with_two_workers(cohort, tmp_path):
    folder, studies, reference = cohort
    scheduler_file = tmp_path / "scheduler.json"
    environment = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    bin_dir = Path(sys.executable).parent
    processes = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)]
    try:
        deadline = time.time() + 60
        while not scheduler_file.is_file() and time.time() < deadline:
            time.sleep(0.2)
        for _ in range(2):
            processes.append(subprocess.Popen([str(bin_dir / "dask"), "worker", "--scheduler-file", str(scheduler_file),
                                               "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment))
        import json

        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "out"
        run = subprocess.run([sys.executable, "-m", "spinebq.cli", "batch", str(folder), "--out", str(out),
                              "--scheduler", address, "--quiet"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert "on 2 worker(s)" in run.stdout
        with Ledger(out) as ledger:
            assert len({row["worker"] for row in ledger.rows()}) == 2  # both workers measured
        pd.testing.assert_frame_equal(pd.read_csv(out / "cohort.csv"), reference)
    finally:  # the workers first: a worker whose scheduler is gone spends seconds trying to reach it as it closes
        for group in (processes[1:], processes[:1]):
            for process in group:
                process.terminate()
            for process in group:
                process.wait(30)
