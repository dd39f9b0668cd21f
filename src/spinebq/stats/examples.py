"""Simulated cohorts shaped like the papers' study populations (for the worked examples and the tests).

The values are simulated, not patient data: group sizes and event rates follow the papers, the
distributions are plausible, and values are rounded (which creates ties, as in real spreadsheets).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_cohort_001", "EXAMPLES"]


def simulate_cohort_001(seed: int = 1, *, n: int = 313, n_events: int = 45, missing: bool = True) -> pd.DataFrame:
    """A cohort like [yang2026] (pedicle screw loosening; 313 patients, 45 events).

    Columns: ``loosening`` (0/1), ``age`` (years), ``sex_female`` (0/1), ``bmi_kg_m2``, ``pbq`` (PBQ score,
    higher = worse), ``hu_ratio`` (ST-HU / B-HU, lower = worse), ``goutallier`` (grade 1-4), ``st_hu``
    (screw-trajectory HU, lower = worse), ``vbq``, ``fused_levels``, and a second reader's ``pbq_reader2``
    and ``hu_ratio_reader2``. With ``missing=True`` a few values of ``bmi_kg_m2``, ``st_hu`` and ``pbq`` are
    missing (about 2-4 %).
    """
    rng = np.random.default_rng(seed)
    y = np.zeros(n, int)
    y[rng.permutation(n)[:n_events]] = 1
    e = y == 1
    age = np.where(e, rng.normal(68, 8, n), rng.normal(61, 9, n)).round().clip(30, 90)
    sex = (rng.random(n) < np.where(e, 0.7, 0.58)).astype(int)
    bmi = rng.normal(25.5, 3.4, n).round(1)
    pbq = np.where(e, rng.normal(3.65, 0.55, n), rng.normal(3.15, 0.5, n)).round(2)
    hu_ratio = np.where(e, rng.normal(1.16, 0.22, n), rng.normal(1.36, 0.2, n)).round(2)
    p_g0 = np.array([0.19, 0.73, 0.03, 0.05])
    p_g1 = np.array([0.06, 0.55, 0.07, 0.32])
    goutallier = np.where(e, rng.choice([1, 2, 3, 4], n, p=p_g1), rng.choice([1, 2, 3, 4], n, p=p_g0))
    st_hu = np.where(e, rng.normal(118, 35, n), rng.normal(150, 40, n)).round()
    vbq = np.where(e, rng.normal(3.3, 0.5, n), rng.normal(2.95, 0.5, n)).round(2)
    fused = np.where(e, rng.choice([1, 2, 3, 4, 5], n, p=[.2, .3, .25, .15, .1]),
                     rng.choice([1, 2, 3, 4, 5], n, p=[.35, .35, .18, .08, .04]))
    pbq2 = (pbq + rng.normal(0, 0.12, n) + 0.03).round(2)
    hu2 = (hu_ratio + rng.normal(0, 0.05, n)).round(2)
    df = pd.DataFrame({
        "loosening": y, "age": age, "sex_female": sex, "bmi_kg_m2": bmi, "pbq": pbq, "hu_ratio": hu_ratio,
        "goutallier": goutallier, "st_hu": st_hu, "vbq": vbq, "fused_levels": fused,
        "pbq_reader2": pbq2, "hu_ratio_reader2": hu2,
    })
    if missing:
        for col, k in (("bmi_kg_m2", 12), ("st_hu", 9), ("pbq", 6)):
            idx = rng.choice(n, k, replace=False)
            df.loc[idx, col] = np.nan
    return df


#: worked examples: id -> (simulator, outcome, predictors spec, model)
EXAMPLES = {
    "001": (simulate_cohort_001, "loosening",
            "age:higher,pbq:higher,hu_ratio:lower,goutallier:higher,st_hu:lower,vbq:higher",
            "age,pbq,hu_ratio,goutallier"),
}
