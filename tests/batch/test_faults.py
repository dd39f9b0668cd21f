"""Faults of a batch that end one study: a study that hangs, one out of memory (the others finish).

The studies are copies of the real CT, measured with TotalSegmentator's labels, under several names
(:mod:`tests.batch.faults`); a worker killed, an interrupted batch and a real cluster are in
``test_faults_recovery.py``.
"""
from __future__ import annotations

import multiprocessing
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from spinebq.batch.discover import discover
from spinebq.batch import study as batch_study
from spinebq.batch.engine import run_batch
from tests.batch.faults import N_STUDIES, OPTIONS, in_background, make_cohort, no_half_written, study_processes


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """The studies of the fault tests."""
    return discover([make_cohort(tmp_path_factory.mktemp("faults") / "input")])


def test_a_study_that_hangs_is_stopped_and_the_others_finish(studies, tmp_path):
    out = tmp_path / "out"
    runner, outcome = in_background(lambda: run_batch(studies, out, replace(OPTIONS, timeout_s=25.0), workers=2))
    stopped = None
    deadline = time.time() + 120
    while stopped is None and time.time() < deadline and runner.is_alive():
        time.sleep(0.2)
        measuring = study_processes()
        if measuring:
            stopped = measuring[0]
            stopped.suspend()  # SIGSTOP: the study makes no progress any more, as one stuck on a dead share
    runner.join(300)
    assert stopped is not None, "no study process was caught measuring"
    result = outcome["result"]
    assert result.counts == {"done": N_STUDIES - 1, "failed": 1}
    assert result.failures == {"stopped after the time limit of 25 s": 1}
    no_half_written(out)


def test_a_study_out_of_memory_fails_with_that_reason(studies, tmp_path):
    result = run_batch(studies[:1], tmp_path / "out", replace(OPTIONS, memory_limit_mb=120.0), workers=1)
    assert result.counts == {"failed": 1}
    (reason,) = result.failures
    assert reason.startswith("out of memory: stopped at ") and reason.endswith("above the limit of 120 MB per study")


#: Seconds a worker's process server takes (on the faked clock) to start the study's process: its imports.
SERVER_START_S = 100.0


def _quick_study(sender, inputs, options, out_dir) -> None:
    """A study's process that measures for one second, then sends a done outcome."""
    time.sleep(1.0)
    sender.send(("done", None, 1.0, 100.0))
    sender.close()


def test_the_time_limit_counts_from_the_start_of_the_studys_process(studies, tmp_path, monkeypatch):
    """A worker's process server imports spinebq before the first study's process starts (seconds; more under load).
    That time was counted in the study's time limit: under load the first study of a worker was stopped after the
    25 s limit although it measured for less. A process server that takes 100 s to start a one-second study no
    longer uses up a 50 s limit."""
    clock = SimpleNamespace(shift_s=0.0)
    fork = multiprocessing.get_context("fork")  # the child runs this module's _quick_study

    def slow_process(*args, **kwargs):
        process = fork.Process(*args, **kwargs)
        start = process.start

        def start_after_imports() -> None:
            clock.shift_s += SERVER_START_S
            start()

        process.start = start_after_imports
        return process

    monkeypatch.setattr(batch_study, "time", SimpleNamespace(perf_counter=lambda: time.perf_counter() + clock.shift_s))
    monkeypatch.setattr(batch_study, "_context", lambda: SimpleNamespace(Pipe=fork.Pipe, Process=slow_process))
    monkeypatch.setattr(batch_study, "_measure_in_child", _quick_study)
    outcome = batch_study.run_study(studies[0], replace(OPTIONS, timeout_s=50.0), str(tmp_path))
    assert (outcome.state, outcome.reason) == ("done", None)
    assert outcome.seconds >= SERVER_START_S  # the study's time as reported still includes the wait
