"""Faults of a batch that end one study: a study that hangs, one out of memory (the others finish).

The studies are copies of the real CT, measured with TotalSegmentator's labels, under several names
(:mod:`tests.batch.faults`); a worker killed, an interrupted batch and a real cluster are in
``test_faults_recovery.py``.
"""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from spinebq.batch.discover import discover
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
