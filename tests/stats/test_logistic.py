"""Logistic regression against R's glm (epsilon=1e-14, so SEs are at the MLE; docs/methods.md section 7.1)."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from spinebq.stats import ConvergenceWarning, PerfectSeparationWarning
from spinebq.stats.logistic import collinearity, fit_logistic, newton_logit, univariable_screen
from tests.stats import cohorts
from tests.stats import r_reference as R

TOL = dict(rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", list(cohorts.PREDICTORS))
def test_univariable_or_ci_p(c001, name):
    f = fit_logistic(c001, "loosening", [name])
    row = f.table.loc[name]
    coef, se, p, or_, lo, hi, nobs = getattr(R, f"UNI_{name.upper()}")
    assert_allclose([row["coef"], row["se"], row["p"], row["or"], row["or_ci_low"], row["or_ci_high"]],
                    [coef, se, p, or_, lo, hi], **TOL)
    assert f.n == nobs and f.n_dropped == 313 - nobs


def test_multivariable(model_fit):
    f, _ = model_fit
    t = f.table
    for col, key in (("coef", "coef"), ("se", "se"), ("p", "p"), ("or", "or"), ("or_ci_low", "or_low"),
                     ("or_ci_high", "or_high")):
        assert_allclose(t[col].to_numpy(), R.MULTI[key], **TOL)
    assert f.n == R.MULTI["nobs"]
    assert_allclose(f.loglik, R.MULTI_LOGLIK, rtol=1e-9)
    assert f.converged and not f.separation


def test_scaled_or(c001):
    f = fit_logistic(c001, "loosening", ["st_hu"], per={"st_hu": 10})
    e = f.extra_or.loc["st_hu"]
    assert_allclose([e["or"], e["or_ci_low"], e["or_ci_high"]], R.UNI_ST_HU_PER10, **TOL)
    f = fit_logistic(c001, "loosening", ["age"], per={"age": "sd"})
    sd = c001["age"].std()
    assert_allclose(f.extra_or.loc["age", "or"], np.exp(R.UNI_AGE[0] * sd), rtol=1e-6)


def test_vif_and_condition_index(c001):
    vif, cond = collinearity(c001, cohorts.MODEL)
    assert_allclose(vif["vif"].to_numpy(), R.VIF, **TOL)
    assert_allclose(vif["tolerance"].to_numpy(), 1 / np.asarray(R.VIF), **TOL)
    assert_allclose(cond["condition_index"].to_numpy(), R.CONDITION_INDEX, rtol=1e-6)


def test_perfect_separation_is_reported(read):
    p = read("perfect")
    with pytest.warns(PerfectSeparationWarning):
        f = fit_logistic(p, "y", ["x"])
    assert f.separation
    assert np.isnan(f.table.loc["x", "or"]) and f.table.loc["x", "reason"] == "perfect separation"
    assert "perfect separation" in f.notes[0]


def test_quasi_separation_is_reported():
    df = pd.DataFrame({"y": [0, 0, 0, 0, 1, 1, 1, 1, 0, 1], "x": [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]})
    with pytest.warns(PerfectSeparationWarning):
        f = fit_logistic(df, "y", ["x"])
    assert f.separation


def test_univariable_screen_and_dict(c001):
    res = univariable_screen(c001, "loosening", ["age", "pbq"])
    assert set(res) == {"age", "pbq"}
    d = res["pbq"].to_dict()["pbq"]
    assert set(d) >= {"or", "or_ci", "p"}


def test_newton_matches_statsmodels(model_fit):
    f, cc = model_fit
    X = np.column_stack([np.ones(len(cc))] + [cc[c].to_numpy(float) for c in cohorts.MODEL])
    b, cov, ok = newton_logit(X, cc["loosening"].to_numpy(float))
    assert ok
    assert_allclose(b, R.MULTI["coef"], rtol=1e-8)
    assert_allclose(np.sqrt(np.diag(cov)), R.MULTI["se"], rtol=1e-6)


def test_a_row_far_out_is_no_separation():
    """birthwt, low ~ lwt with one mother's weight keyed as 2000 lb (a typo an Excel export keeps): her fitted
    probability is below 1e-8, which was taken for quasi-separation, so every odds ratio was reported NaN; R's glm
    estimates it (R 4.x: ``d$lwt[which(d$low == 0)[1]] <- 2000; coef(glm(low ~ lwt, binomial, d))`` gives
    0.9548995130326, -0.0136740632796). Separation is now Konis's linear program."""
    import statsmodels.api as sm

    df = pd.read_csv(Path(__file__).parent / "data" / "birthwt_coded.csv")
    df.loc[df.index[df["low"] == 0][0], "lwt"] = 2000
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        f = fit_logistic(df, "low", ["lwt"])
    ref = sm.Logit(df["low"], sm.add_constant(df[["lwt"]])).fit(disp=0)
    assert ref.mle_retvals["converged"] and ref.predict().min() < 1e-8
    assert not f.separation and f.converged
    assert_allclose(f.table["coef"].to_numpy(), ref.params.to_numpy(), rtol=1e-6)
    assert_allclose(f.table["or"].to_numpy(), np.exp(ref.params.to_numpy()), rtol=1e-6)
    assert_allclose(f.table["coef"].to_numpy(), [0.9548995130326, -0.0136740632796], rtol=1e-6)  # R's glm
