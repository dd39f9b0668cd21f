"""Shared fixtures: the real TotalSegmentator example case (skipped when absent) and its segmentation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "totalsegmentator_example"
LEVELS = {"T12": 19, "L1": 20, "L2": 21, "L3": 22, "L4": 23, "L5": 24}


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (the shared data folder is not mounted)")
    return path


@pytest.fixture(scope="session")
def real_ct():
    from spinebq.io.volume import load_volume

    return load_volume(need(DATA / "ct.nii.gz"))


@pytest.fixture(scope="session")
def real_result(real_ct):
    from spinebq.segment.ct.core import segment_ct

    return segment_ct(real_ct)


@pytest.fixture(scope="session")
def references(real_ct):
    from spinebq.io.labels import load_labels
    from spinebq.io.nifti import load_nifti

    total = load_labels(need(DATA / "seg_v2" / "total.nii.gz"), real_ct, scheme="total").array
    v1 = load_labels(need(DATA / "seg_v1"), real_ct).array
    bodies = load_nifti(need(DATA / "seg_v2" / "vertebrae_body.nii.gz"), dtype=None).array == 1
    return {"total": total, "v1": v1, "bodies": bodies}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2.0 * np.logical_and(a, b).sum() / max(1, a.sum() + b.sum()))


def per_level_dice(vertebrae: np.ndarray, subregions: np.ndarray, refs: dict) -> dict:
    out = {}
    for name, v in LEVELS.items():
        out[name] = {
            "body": dice((vertebrae == v) & (subregions == 1), (refs["total"] == v) & refs["bodies"]),
            "whole": dice(vertebrae == v, refs["v1"] == v),
        }
    return out
