"""A reader that closes spinebq's standard output (``| head -1``) ends the run quietly, for any command."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spinebq.cli import EXIT_BROKEN_PIPE

from tests.conftest import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}


@pytest.mark.parametrize("argv", [["models", "--key", "S000_C"], ["models", "--help"]])
def test_piped_into_head(argv):
    command = " ".join([sys.executable, "-m", "spinebq", *argv])
    run = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | head -1"], capture_output=True, text=True,
                         env=ENV, timeout=120)
    assert run.stderr == ""
    assert run.returncode in (0, EXIT_BROKEN_PIPE)  # 0 when head read all before it closed the pipe
    assert len(run.stdout.splitlines()) == 1


def test_reader_gone_before_the_output():
    """The pipe is closed before spinebq writes: every write fails, deterministically."""
    run = subprocess.Popen([sys.executable, "-m", "spinebq", "models"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=ENV)
    run.stdout.close()
    assert run.stderr.read() == b""
    assert run.wait(timeout=120) == EXIT_BROKEN_PIPE
