"""Seam sweep 6: ``spinebq batch`` given an output folder it cannot write."""
from __future__ import annotations

import pytest

from spinebq.cli import main
from tests.conftest import DATA, need


@pytest.mark.parametrize("under", [False, True])
def test_an_out_that_is_a_file_is_one_sentence_before_any_work(tmp_path, capsys, under):
    """``--out`` naming a file (or a folder under one): the batch read every header, then ended in "internal
    error: NotADirectoryError: ... 'afile/studies'"; now refused first, as ``spinebq ct`` refuses it."""
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "case08_t1.nii.gz").symlink_to(need(DATA / "lumbar_mri_t1" / "case08_t1.nii.gz"))
    afile = tmp_path / "results.csv"
    afile.write_text("not a folder\n")
    out = afile / "batch" if under else afile
    assert main(["batch", str(folder), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "reading headers" not in captured.out, captured
    said = f"lies under {afile}, which is a file, not a folder" if under else "--out is a file, not a folder"
    assert captured.err.startswith(f"spinebq batch: error: {out}: ") and said in captured.err, captured.err
    assert afile.read_text() == "not a folder\n"


def test_a_second_batch_into_a_folder_in_use_is_refused(tmp_path, capsys):
    """The same command started twice (a second terminal, an overlapping cron job): both runs measured every study,
    each wrote the ledger (which assumes one writer) and each removed the other's temporary study folders at its
    start. The second is now refused before it reads a header, naming the run that holds the folder; the hold ends
    with that run, however it ends."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from spinebq.batch.ledger import LEDGER_NAME

    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "case08_t1.nii.gz").symlink_to(need(DATA / "lumbar_mri_t1" / "case08_t1.nii.gz"))
    out = tmp_path / "out"
    command = ["batch", str(folder), "--out", str(out), "--workers", "1", "--quiet"]
    first = subprocess.Popen([sys.executable, "-m", "spinebq.cli", *command], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (out / LEDGER_NAME).is_file() and first.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert first.poll() is None, "the first batch ended before the second started"
        started = time.perf_counter()
        assert main(command) == 2
        captured = capsys.readouterr()
        assert "reading headers" not in captured.out and time.perf_counter() - started < 10, captured
        assert captured.err.startswith(f"spinebq batch: error: {out}: another spinebq batch is measuring into this "
                                       f"folder (process {first.pid} on "), captured.err
        assert captured.err.rstrip().endswith("wait for it to end, or give another --out"), captured.err
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    from spinebq.batch.ledger import batch_lock

    with batch_lock(out):  # free again once the first run is gone
        pass
