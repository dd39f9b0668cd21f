"""Session fixtures of the input/output tests: spinebq ct on the real CT (pictures included)."""
from __future__ import annotations

import pytest

from spinebq.cli import main
from tests.conftest import TS, need


@pytest.fixture(scope="session")
def real_ct_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("inputs_ct") / "ct"
    code = main(["ct", str(need(TS / "ct.nii.gz")), "--labels", str(need(TS / "seg_v2" / "total.nii.gz")),
                 "--out", str(out), "--trajectory", "none"])
    assert code == 0
    return out
