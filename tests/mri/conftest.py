"""Shared fixtures of the MRI tests: the MR phantom (built once) and the real T1 exams (skipped when absent)."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
T1_DIR = DATA / "lumbar_mri_t1"
TS_DIR = DATA / "totalsegmentator_example"
CASES = ("02", "06", "08", "10")


@pytest.fixture(scope="session")
def phantom():
    from spinebq.synthetic.mri import make_mri_phantom

    return make_mri_phantom()


@pytest.fixture(scope="session")
def phantom_result(phantom):
    from spinebq.measure.mri.measure import measure_mri

    image, labels, truth = phantom
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return measure_mri(image, labels=labels)


def need_t1_data():
    if not (T1_DIR / "case02_t1.nii.gz").exists():
        pytest.skip(f"real lumbar T1 data not found at {T1_DIR} (shared data folder absent)")


def need_ts_data():
    if not (TS_DIR / "ct.nii.gz").exists():
        pytest.skip(f"TotalSegmentator example data not found at {TS_DIR} (shared data folder absent)")
