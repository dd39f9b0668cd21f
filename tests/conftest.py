"""Shared fixtures: paths to ../shared/data (skipped with a reason when absent) and the synthetic phantom."""
from __future__ import annotations

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


def measured_documents(result, regional) -> tuple[dict, dict]:
    """The ``vertebrae`` and ``summary`` sections of measurements.json for ``measure_ct`` + ``measure_regional``
    results, as :func:`spinebq.pipeline.analyse_ct` combines them (level name -> document)."""
    from spinebq.pipeline import combine_ct

    vertebrae, summary = combine_ct(result, regional)
    return {v.level: v.to_json() for v in vertebrae}, summary.to_json()
