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


def lower_edge_variants(case: str) -> dict:
    """The real T1 exam ``case`` with each padded face replaced by its inner neighbour (the image as it would be
    without the padding) and cropped 10 and 30 mm at the bottom (still holding S1): name -> (image, its manual VerSe
    label array). Used by tests/mri/test_auto_lower_edge.py and benchmarks/mri_auto_padding.py."""
    import numpy as np


    from spinebq.image.border import fill_border
    from spinebq.io.mr_labels import load_mr_labels
    from spinebq.io.volume import load_volume

    image = load_volume(T1_DIR / f"case{case}_t1.nii.gz")
    manual = load_mr_labels(T1_DIR / f"case{case}_bodies_verse.nii.gz", image).array
    out = {}
    for axis, side, depth, _value in fill_border(image.array).faces:
        array = np.moveaxis(image.array.copy(), axis, 0)
        if side == "first":
            array[:depth] = array[depth]
        else:
            array[-depth:] = array[-depth - 1]
        out[f"axis {axis} {side} face replaced"] = (image.with_array(np.moveaxis(array, 0, axis)), manual)
    for crop_mm in (10.0, 30.0):
        box = (slice(None), slice(None), slice(int(round(crop_mm / image.spacing_mm[2])), None))  # axis 2 runs up
        out[f"cropped {crop_mm:g} mm at the bottom"] = (image.crop(box, copy=True), manual[box])
    return out
