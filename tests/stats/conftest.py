"""Fixtures: the test datasets written to CSV (as R read them) and read back."""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

from tests.stats import cohorts


@pytest.fixture(scope="session")
def csv_dir(tmp_path_factory):
    """Directory with every dataset of :mod:`tests.stats.cohorts` as CSV."""
    d = tmp_path_factory.mktemp("stats_ref")
    cohorts.write_all(d)
    return d


@pytest.fixture(scope="session")
def read(csv_dir):
    """``read(name)`` returns the DataFrame R read from ``name.csv``."""
    def _read(name: str) -> pd.DataFrame:
        return pd.read_csv(csv_dir / f"{name}.csv")
    return _read


@pytest.fixture(scope="session")
def c001(read):
    """The paper-001-like cohort (n = 313, 45 events) as R read it."""
    return read("c001")


@pytest.fixture(scope="session")
def model_fit(c001):
    """The multivariable model loosening ~ age + pbq + hu_ratio + goutallier and its complete cases."""
    from spinebq.stats.logistic import fit_logistic

    fit = fit_logistic(c001, "loosening", cohorts.MODEL)
    cc = c001[["loosening"] + cohorts.MODEL].dropna()
    return fit, cc
