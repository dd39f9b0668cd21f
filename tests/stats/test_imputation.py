"""Rubin's rules against mice::pool on R's own imputed data sets; our MICE within Monte-Carlo error."""
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from spinebq.stats.imputation import barnard_rubin_df, mice_pmm, pool_logistic
from tests.stats import r_reference as R

COLS = ["loosening", "age", "pbq", "hu_ratio", "goutallier", "st_hu"]
TERMS = COLS[1:]


def _r_imputations(c001: pd.DataFrame) -> list[pd.DataFrame]:
    sets = []
    for i in range(5):
        d = c001[COLS].copy()
        d.loc[np.asarray(R.MICE_IMP_PBQ_ROWS) - 1, "pbq"] = R.MICE_IMP_PBQ[i]
        d.loc[np.asarray(R.MICE_IMP_ST_HU_ROWS) - 1, "st_hu"] = R.MICE_IMP_ST_HU[i]
        sets.append(d)
    return sets


def test_pool_equals_mice_pool_for_fixed_imputations(c001):
    sets = _r_imputations(c001)
    assert not any(s.isna().any().any() for s in sets)
    res = pool_logistic(sets, "loosening", TERMS)
    t = res.table
    for col, key in (("estimate", "estimate"), ("se", "se"), ("statistic", "statistic"), ("df", "df"), ("p", "p"),
                     ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("fmi", "fmi")):
        assert_allclose(t[col].to_numpy(), R.MICE_POOL[key], rtol=1e-6, err_msg=col)
    assert res.dfcom == 313 - 6


def test_barnard_rubin_infinite_dfcom():
    df = barnard_rubin_df(5, np.array([0.1]), np.array([0.5]), np.inf)
    assert_allclose(df, 4 / ((1.2 * 0.1 / 0.5) ** 2))


def test_our_mice_is_seeded_and_close_to_r(c001):
    a = mice_pmm(c001[COLS], m=5, maxit=10, seed=3)
    b = mice_pmm(c001[COLS], m=5, maxit=10, seed=3)
    assert all(x.equals(y) for x, y in zip(a, b))
    assert not any(s.isna().any().any() for s in a)
    # observed values untouched; imputed values come from observed donors (pmm)
    obs = c001["pbq"].notna()
    assert (a[0].loc[obs, "pbq"] == c001.loc[obs, "pbq"]).all()
    assert set(a[0].loc[~obs, "pbq"]) <= set(c001.loc[obs, "pbq"])
    res = pool_logistic(a, "loosening", TERMS)
    # with 5 % of pbq and st_hu missing, the pooled estimates move by well under one SE between imputations
    est, se = np.asarray(R.MICE_POOL["estimate"]), np.asarray(R.MICE_POOL["se"])
    assert np.all(np.abs(res.table["estimate"].to_numpy() - est) < 0.5 * se)


def test_pooled_auc_equals_rubin_on_the_logit_scale(c001):
    from spinebq.stats.imputation import pool_auc

    res = pool_auc(_r_imputations(c001), "loosening", TERMS)
    auc, lo, hi, df, *aucs = R.MICE_POOLED_AUC
    assert_allclose(res.aucs, aucs, rtol=1e-9)
    assert_allclose([res.auc, res.ci[0], res.ci[1], res.df], [auc, lo, hi, df], rtol=1e-6)
    assert res.to_dict()["auc_ci"] == list(res.ci)
