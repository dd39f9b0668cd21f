"""ROC, DeLong and Youden against pROC 1.18.0 (calls and values in r_reference.py)."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from spinebq.stats import DirectionWarning
from spinebq.stats.roc import (auc_score, bootstrap_auc_ci, delong_placements, infer_direction, paired_delong_test,
                               roc_analysis, roc_curve)
from tests.stats import cohorts
from tests.stats import r_reference as R

TOL = dict(rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", list(cohorts.PREDICTORS))
def test_auc_delong_ci_and_youden_match_proc(c001, name):
    d = cohorts.PREDICTORS[name]
    r = roc_analysis(c001["loosening"], c001[name], d, name=name)
    lo, auc, hi = getattr(R, f"ROC_{name.upper()}_AUC_CI")
    assert_allclose([r.auc_ci[0], r.auc, r.auc_ci[1]], [lo, auc, hi], **TOL)
    thr, se, sp, ppv, npv, acc = getattr(R, f"ROC_{name.upper()}_YOUDEN")
    y = r.youden
    assert_allclose([y["threshold"], y["sensitivity"], y["specificity"], y["ppv"], y["npv"], y["accuracy"]],
                    [thr, se, sp, ppv, npv, acc], **TOL)
    assert len(y["ties"]) == getattr(R, f"ROC_{name.upper()}_N_BEST")
    assert r.direction == d and not r.direction_inferred


def test_auto_direction_is_pROCs_but_warned(c001):
    with pytest.warns(DirectionWarning, match="vbq:higher"):
        r = roc_analysis(c001["loosening"], c001["vbq"], "auto", name="vbq")
    assert r.direction == R.ROC_VBQ_AUTO_DIRECTION and r.direction_inferred
    assert infer_direction(c001["loosening"], c001["hu_ratio"]) == R.ROC_HU_RATIO_AUTO_DIRECTION


def test_direction_never_flipped(c001):
    """A wrong explicit direction gives AUC < 0.5, kept as such (pROC with direction given)."""
    with pytest.warns(DirectionWarning, match="lower values go with the event"):
        r = roc_analysis(c001["loosening"], c001["hu_ratio"], "higher", name="hu_ratio")
    assert_allclose(r.auc, 1 - R.ROC_HU_RATIO_AUC_CI[1], **TOL)
    assert any("not flipped" in n for n in r.notes)


def test_paired_delong_matches_roc_test(c001):
    t = paired_delong_test(c001["loosening"], c001["pbq"], c001["hu_ratio"], "<", ">")
    assert_allclose([t.z, t.p, *t.diff_ci], R.DELONG_PBQ_VS_HU_RATIO, **TOL)
    # st_hu has missing values: complete pairs only
    t = paired_delong_test(c001["loosening"], c001["st_hu"], c001["hu_ratio"], ">", ">")
    assert_allclose([t.z, t.p, *t.diff_ci], R.DELONG_ST_HU_VS_HU_RATIO, **TOL)
    assert t.n_dropped == 9


def test_ties_curve_and_youden(read):
    t = read("ties")
    r = roc_analysis(t["y"], t["x"], "<")
    assert_allclose([r.auc_ci[0], r.auc, r.auc_ci[1]], R.TIES_AUC_CI, **TOL)
    assert_allclose(r.curve["threshold"], R.TIES_CURVE_THRESHOLDS)
    assert_allclose(r.curve["sensitivity"], R.TIES_CURVE_SENSITIVITY, **TOL)
    assert_allclose(r.curve["specificity"], R.TIES_CURVE_SPECIFICITY, **TOL)
    assert_allclose(r.youden["ties"], np.atleast_1d(R.TIES_YOUDEN_THRESHOLDS))
    assert_allclose([r.youden["sensitivity"], r.youden["specificity"]], R.TIES_YOUDEN_SE_SP, **TOL)


def test_tied_youden_optima_report_lowest_threshold():
    y = [0, 0, 1, 1, 0, 1]
    x = [1, 2, 3, 4, 3.5, 1.5]  # J ties at several thresholds
    r = roc_analysis(y, x, "<")
    assert len(r.youden["ties"]) > 1
    assert r.youden["threshold"] == min(r.youden["ties"])


def test_perfect_and_constant_predictors(read):
    p = read("perfect")
    r = roc_analysis(p["y"], p["x"], "<")
    assert_allclose([r.auc_ci[0], r.auc, r.auc_ci[1]], R.PERFECT_AUC_CI)
    c = roc_analysis(p["y"], p["const"], "<")
    assert_allclose([c.auc_ci[0], c.auc, c.auc_ci[1]], R.CONSTANT_AUC_CI)
    assert np.isnan(c.youden["ppv"]) or c.youden["ppv"] >= 0  # NaN only when nobody is test-positive


def test_ppv_nan_when_no_positive():
    r = roc_curve([0, 1, 0, 1], [1, 1, 1, 1], "<")
    assert list(r["threshold"]) == [-np.inf, np.inf]


def test_fast_delong_equals_quadratic_definition():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    x = np.round(rng.normal(size=200) + y, 1)
    auc, v10, v01 = delong_placements(y, x, "<")
    cases, controls = x[y == 1], x[y == 0]
    psi = (cases[:, None] > controls[None, :]) + 0.5 * (cases[:, None] == controls[None, :])
    assert_allclose(v10, psi.mean(axis=1))
    assert_allclose(v01, psi.mean(axis=0))
    assert_allclose(auc, psi.mean())


def test_large_n_is_stable():
    """pROC#19: the CI must not collapse to 1-1 at large n."""
    rng = np.random.default_rng(0)
    n = 200_000
    y = rng.integers(0, 2, n)
    x = rng.normal(size=n) + 0.5 * y
    r = roc_analysis(y, x, "<")
    assert 0 < r.auc_ci[0] < r.auc < r.auc_ci[1] < 1
    assert_allclose(r.auc, auc_score(y, x, "<"))


def test_stratified_bootstrap_ci_within_monte_carlo_error(c001):
    lo, hi = bootstrap_auc_ci(c001["loosening"], c001["hu_ratio"], ">", n_boot=2000, seed=1)
    # R: set.seed(1); ci.auc(..., method="bootstrap", boot.n=2000): quantile MC SE is about 0.003 here
    assert abs(lo - R.ROC_HU_RATIO_BOOT_CI[0]) < 0.012
    assert abs(hi - R.ROC_HU_RATIO_BOOT_CI[2]) < 0.012


def test_result_renderers(c001):
    r = roc_analysis(c001["loosening"], c001["pbq"], "higher", name="pbq")
    assert "<table" in r.to_html() and r"\begin{tabular}" in r.to_latex()
    assert r.summary.loc["pbq", "auc"] == r.auc
    d = r.to_dict()
    assert set(d) >= {"auc", "auc_ci", "direction", "youden"}
    assert set(d["youden"]) >= {"threshold", "sensitivity", "specificity", "ppv", "npv"}
