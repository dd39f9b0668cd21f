"""Seam sweep 6: a batch folder rerun after its files were cut short or edited by hand; a batch killed outright."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from spinebq.batch.cohort import ROW_NAME, write_cohort
from spinebq.batch.discover import discover
from spinebq.batch.ledger import Ledger
from spinebq.vocabulary import StudyState
from tests.conftest import DATA, need

MRI = "lumbar_mri_t1"


@pytest.fixture()
def planned(tmp_path):
    """A folder holding one real T1 MRI, discovered and planned in a fresh ledger: ``(studies, out)``."""
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "case08_t1.nii.gz").symlink_to(need(DATA / MRI / "case08_t1.nii.gz"))
    studies = discover([folder])
    out = tmp_path / "out"
    with Ledger(out) as ledger:
        assert ledger.plan(studies, options="o", version="v").measure == [studies[0].key]
    return studies, out

@pytest.mark.parametrize("damage", ["cut", "hand-edited list", "removed"])
def test_a_done_study_whose_row_is_damaged_is_measured_again(planned, damage):
    """A done study whose ``row.json`` was cut short (a disk full, a copy stopped) or edited by hand: the rerun ended
    in "internal error: JSONDecodeError" for the whole cohort, or (file removed) kept the study "done" with every
    value of its row empty. Its folder is not whole: the study is measured again."""
    studies, out = planned
    key = studies[0].key
    folder = out / "studies" / key
    folder.mkdir(parents=True)
    text = {"cut": '{"study": "%s", "vbq": ' % key, "hand-edited list": "[3.27]", "removed": None}[damage]
    if text is not None:
        (folder / ROW_NAME).write_text(text)
    with Ledger(out) as ledger:
        ledger.mark(key, StudyState.DONE)
        assert ledger.plan(studies, options="o", version="v").measure == [key]
        rows = ledger.rows()
    assert [row["state"] for row in rows] == ["pending"]
    table = pd.read_csv(write_cohort(out, studies, rows).table)  # was JSONDecodeError
    assert table.status.tolist() == ["pending"]

def test_a_whole_done_study_is_kept(planned):
    studies, out = planned
    key = studies[0].key
    folder = out / "studies" / key
    folder.mkdir(parents=True)
    (folder / ROW_NAME).write_text(json.dumps({"study": key, "vbq": 3.27}))
    with Ledger(out) as ledger:
        ledger.mark(key, StudyState.DONE)
        assert ledger.plan(studies, options="o", version="v").measure == []
        rows = ledger.rows()
    assert pd.read_csv(write_cohort(out, studies, rows).table).vbq.tolist() == [3.27]


def _study_processes(driver) -> list:
    """The processes measuring a study under ``driver``: children of a Dask worker's process server (a process that
    ends, or is a zombie, while it is read is left out)."""
    import psutil

    found = []
    for process in driver.children(recursive=True):
        try:
            if "forkserver" in " ".join(process.cmdline()) and "forkserver" in " ".join(process.parent().cmdline()):
                found.append(process)
        except (psutil.Error, AttributeError):  # gone, a zombie, or its parent gone (None)
            continue
    return found


def test_a_batch_killed_outright_leaves_no_study_running(tmp_path):
    """``kill -9`` of the batch (the out-of-memory killer, a job scheduler's limit, a closed SSH session): the
    Dask workers went with it, but the process measuring each study lived on (its parent, the worker's process
    server, waits for it) and went on measuring and then wrote its folder into the batch folder, unseen and
    while a rerun might be writing the same study. It now ends at once with its worker."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from tests.conftest import TS

    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "ct.nii.gz").symlink_to(need(TS / "ct.nii.gz"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "spinebq.cli", "batch", str(folder), "--out", str(out), "--workers", "1",
               "--quiet"]
    batch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    driver = psutil.Process(batch.pid)
    deadline = time.time() + 120
    while not _study_processes(driver) and time.time() < deadline:
        time.sleep(0.2)
    started = driver.children(recursive=True)
    assert _study_processes(driver), "the study never started"
    time.sleep(1.0)  # measuring: the real CT takes about 10 s more
    os.kill(batch.pid, signal.SIGKILL)
    batch.wait()
    gone, alive = psutil.wait_procs(started, timeout=20)
    for process in alive:  # the old code's orphans: stop them before failing
        process.kill()
    assert not alive, [p.pid for p in alive]
    time.sleep(1.0)
    assert not [p for p in (out / "studies").iterdir() if not p.name.startswith(".tmp-")]


def test_a_done_study_whose_mri_labels_changed_is_measured_again(planned, tmp_path):
    """The MRI's labels (manifest column ``mri_labels``) were left out of the ledger's fingerprint: a study given
    other labels, or the same file redrawn, kept its measurement made with the old ones."""
    import dataclasses
    import os

    studies, out = planned
    key = studies[0].key
    (out / "studies" / key).mkdir(parents=True)
    (out / "studies" / key / ROW_NAME).write_text(json.dumps({"study": key, "vbq": 3.27}))
    labels = tmp_path / "case08_labels.nii.gz"
    labels.symlink_to(need(DATA / MRI / "case08_bodies_verse.nii.gz"))
    with_labels = [dataclasses.replace(studies[0], mri_labels=str(labels))]
    with Ledger(out) as ledger:
        assert ledger.plan(with_labels, options="o", version="v").measure == [key]  # labels given
        ledger.mark(key, StudyState.DONE)
        assert ledger.plan(with_labels, options="o", version="v").measure == []
        copy = tmp_path / "redrawn.nii.gz"
        copy.write_bytes(labels.read_bytes() + b"\0")  # the same labels redrawn: another size and time
        labels.unlink()
        os.replace(copy, labels)
        assert ledger.plan(with_labels, options="o", version="v").measure == [key]
