"""Shared fixtures: paths to ../shared/data (skipped with a reason when absent) and the synthetic phantom."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TS = DATA / "totalsegmentator_example"


def need(path: Path) -> Path:
    """Return ``path`` or skip the test, saying which shared data file is missing."""
    if not path.exists():
        pytest.skip(f"shared test data {path} is not present (expected beside the repository in ../shared/data)")
    return path


@pytest.fixture(scope="session")
def ts_dir() -> Path:
    return need(TS)


@pytest.fixture(scope="session")
def phantom():
    from spinebq.synthetic.ct import make_ct_phantom

    return make_ct_phantom(rods=True)


@pytest.fixture(scope="session")
def real_ct_run(ts_dir, tmp_path_factory) -> tuple[Path, str]:
    """``spinebq ct`` on the real CT with TotalSegmentator v2 labels and its defaults (pictures, screws planned):
    its folder and what it printed.

    Built once per process for every test file that reads it: read the folder, write nothing into it.
    """
    from spinebq.cli import main

    out = tmp_path_factory.mktemp("real_ct")
    screen = io.StringIO()
    with contextlib.redirect_stdout(screen):
        assert main(["ct", str(ts_dir / "ct.nii.gz"), "--labels", str(ts_dir / "seg_v2" / "total.nii.gz"),
                     "--out", str(out)]) == 0
    return out, screen.getvalue()


@pytest.fixture(scope="session")
def real_ct_record(ts_dir):
    """``analyse_ct`` on the real CT with TotalSegmentator v2 labels and the ``spinebq ct`` defaults (screws planned).

    Built once per process for every test file that reads it: read it, never change it.
    """
    from spinebq.pipeline import analyse_ct

    return analyse_ct(ts_dir / "ct.nii.gz", ts_dir / "seg_v2" / "total.nii.gz")


@pytest.fixture(scope="session")
def builtin_ct_record(ts_dir):
    """``analyse_ct`` on the real CT without labels (the built-in segmentation) and the ``spinebq ct`` defaults.

    Built once per process for every test file that reads it: read it, never change it.
    """
    from spinebq.pipeline import analyse_ct

    return analyse_ct(ts_dir / "ct.nii.gz")


def measured_documents(result, regional) -> tuple[dict, dict]:
    """The ``vertebrae`` and ``summary`` sections of measurements.json for ``measure_ct`` + ``measure_regional``
    results, as :func:`spinebq.pipeline.analyse_ct` combines them (level name -> document)."""
    from spinebq.pipeline import combine_ct

    vertebrae, summary = combine_ct(result, regional)
    return {v.level: v.to_json() for v in vertebrae}, summary.to_json()
