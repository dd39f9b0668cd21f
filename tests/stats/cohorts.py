"""Test datasets, made in code (seeded) and written to CSV so that R reads exactly the same numbers.

Regenerate the R reference values (needs R with pROC, rms, mice, psych)::

    python tests/stats/cohorts.py /tmp/spinebq_stats_ref
    Rscript tests/stats/make_r_reference.R /tmp/spinebq_stats_ref > tests/stats/r_reference.py

The fingerprints below guard against a silent change of the simulation (e.g. a new numpy random stream):
if they fail, the hard-coded R numbers no longer describe these data and must be regenerated.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from spinebq.stats.examples import simulate_cohort_001

MODEL = ["age", "pbq", "hu_ratio", "goutallier"]
PREDICTORS = {"age": "<", "pbq": "<", "hu_ratio": ">", "goutallier": "<", "st_hu": ">", "vbq": "<"}


def cohort() -> pd.DataFrame:
    """Paper-001-like cohort, n = 313, 45 events, a little missingness (seed 1)."""
    return simulate_cohort_001(seed=1)


def external() -> pd.DataFrame:
    """A second cohort (seed 2) used as external validation data for the calibration statistics."""
    return simulate_cohort_001(seed=2, n=250, n_events=40)


def ties() -> pd.DataFrame:
    """Small data with heavy ties (graded predictor) and several tied Youden optima."""
    return pd.DataFrame({"y": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1],
                         "x": [1, 1, 2, 2, 3, 3, 3, 4, 4, 2, 1, 5, 4, 1, 2, 3]})


def perfect() -> pd.DataFrame:
    """Perfect separation: every case above every control (AUC = 1); plus a constant predictor."""
    return pd.DataFrame({"y": [0] * 8 + [1] * 6,
                         "x": [1.0, 1.5, 2.0, 2.2, 2.5, 3.0, 3.1, 3.3, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0],
                         "const": [2.0] * 14})


def noties(n: int = 24, seed: int = 5) -> pd.DataFrame:
    """Continuous data without ties (Spearman's p by AS 89 in R)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n).round(6)
    b = (0.4 * a + rng.normal(size=n)).round(6)
    return pd.DataFrame({"a": a, "b": b})


def raters3() -> pd.DataFrame:
    """Three readers rating 12 subjects (for ICC with k = 3)."""
    rng = np.random.default_rng(11)
    truth = rng.normal(100, 15, 12)
    return pd.DataFrame({f"r{j}": (truth + rng.normal(2 * j, 5, 12)).round(1) for j in range(1, 4)})


DATASETS = {"c001": cohort, "external": external, "ties": ties, "perfect": perfect, "noties24": noties,
            "noties8": lambda: noties(8, 7), "noties30neg": lambda: noties(30, 9).assign(b=lambda d: -d["b"]),
            "raters3": raters3}

#: column sums (NaN skipped) that fingerprint the simulated data used for r_reference.py
FINGERPRINT = {"c001": {"age": 18967.0, "pbq": 1001.2, "st_hu": 43330.0}}


def write_all(directory: str | Path) -> dict[str, Path]:
    """Write every dataset as ``<name>.csv`` into ``directory`` (NaN written as ``NA`` for R)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, make in DATASETS.items():
        p = d / f"{name}.csv"
        make().to_csv(p, index=False, na_rep="NA", float_format="%.10g")
        out[name] = p
    return out


if __name__ == "__main__":
    for name, path in write_all(sys.argv[1] if len(sys.argv) > 1 else "stats_ref").items():
        print(path)
