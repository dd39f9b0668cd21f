"""Calibration, Brier, Hosmer-Lemeshow and bootstrap validation against R (rms 6.5.0; hoslem.test in base R)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from spinebq.stats.logistic import expit
from spinebq.stats.performance import (_lowess_calibration, bootstrap_validation, brier_score, calibration_stats,
                                       hosmer_lemeshow)
from spinebq.stats.roc import roc_analysis
from tests.stats import cohorts
from tests.stats import r_reference as R

TOL = dict(rtol=1e-6, atol=1e-10)


def test_hosmer_lemeshow_apparent(model_fit):
    f, cc = model_fit
    hl = hosmer_lemeshow(cc["loosening"], f.predict(cc))
    assert_allclose([hl.chi2, hl.df, hl.p], R.HOSMER_LEMESHOW, **TOL)
    assert len(hl.groups) == 10 and hl.groups["n"].sum() == len(cc)


def test_hosmer_lemeshow_and_calibration_external(model_fit, read):
    f, _ = model_fit
    e = read("external")
    ok = e[cohorts.MODEL].notna().all(axis=1)
    p = f.predict(e[ok])
    y = e.loc[ok, "loosening"].to_numpy(float)
    hl = hosmer_lemeshow(y, p)
    assert_allclose([hl.chi2, hl.df, hl.p], R.EXTERNAL_HOSMER_LEMESHOW, **TOL)
    c = calibration_stats(y, p)
    citl, citl_lo, citl_hi, slope, slope_lo, slope_hi, recal_int, brier, n = R.EXTERNAL_CALIBRATION
    assert_allclose([c.intercept, *c.intercept_ci, c.slope, *c.slope_ci, c.recal_intercept, c.brier],
                    [citl, citl_lo, citl_hi, slope, slope_lo, slope_hi, recal_int, brier], **TOL)
    assert c.n == n


def test_apparent_performance(model_fit):
    f, cc = model_fit
    p = f.predict(cc)
    y = cc["loosening"]
    assert_allclose(brier_score(y, p), R.APPARENT_BRIER, **TOL)
    r = roc_analysis(y, p, "<")
    assert_allclose(r.auc, R.APPARENT_AUC, **TOL)
    assert_allclose([r.auc_ci[0], r.auc, r.auc_ci[1]], R.MODEL_AUC_CI, **TOL)
    yd = r.youden
    assert_allclose([yd["threshold"], yd["sensitivity"], yd["specificity"], yd["ppv"], yd["npv"]],
                    R.MODEL_YOUDEN, **TOL)
    c = calibration_stats(y, p)  # apparent: trivially 0 and 1
    assert abs(c.intercept) < 1e-8 and abs(c.slope - 1) < 1e-8


def test_lowess_calibration_curve_apparent_equals_rms(model_fit):
    """``calibrate()``'s apparent curve is deterministic: lowess(p, y, iter=0) interpolated at 50 points."""
    f, cc = model_fit
    p = f.predict(cc)
    grid = np.asarray(R.RMS_CALIBRATE_PRED)
    ps = np.sort(p)
    assert_allclose(np.linspace(ps[4], ps[len(ps) - 5], 50), grid, rtol=1e-6)
    cal = _lowess_calibration(p, cc["loosening"].to_numpy(float), grid)
    assert_allclose(cal, R.RMS_CALIBRATE_APPARENT, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def validation(model_fit):
    f, cc = model_fit
    X = np.column_stack([np.ones(len(cc))] + [cc[c].to_numpy(float) for c in cohorts.MODEL])
    return bootstrap_validation(X, cc["loosening"].to_numpy(float), B=1000, seed=20240101, n_jobs=2)


def test_bootstrap_validation_within_monte_carlo_error(validation):
    """rms::validate(f, B=1000) with another RNG: optimism agrees within Monte-Carlo error.

    Measured over 10 seeds (B = 1000, these data), the SD of the optimism is 0.0011 (AUC), 0.00025 (Brier),
    0.0055 (slope), 0.008 (intercept) and 0.00036 (calibration MAE); the bounds are 4 SDs (the difference of
    two independent runs has SD sqrt(2) times larger, so about 2.8 SDs of that difference). Means over
    seeds agree closely: AUC optimism 0.0084 (spinebq, 10 seeds) vs 0.0090 (rms, 8 seeds), Brier -0.0047 vs
    -0.0049, recalibration intercept 0.058 vs 0.058, slope 0.067 vs 0.068.
    """
    t = validation.table
    assert validation.B == 1000 and validation.B_used == 1000
    dxy = R.RMS_VALIDATE["Dxy"]
    assert_allclose(t.loc["auc", "apparent"], (dxy[0] + 1) / 2, rtol=1e-9)
    assert abs(t.loc["auc", "optimism"] - dxy[3] / 2) < 0.0045
    assert abs(t.loc["auc", "corrected"] - (dxy[4] + 1) / 2) < 0.0045
    assert_allclose(t.loc["brier", "apparent"], R.RMS_VALIDATE["B"][0], rtol=1e-7)
    assert abs(t.loc["brier", "optimism"] - R.RMS_VALIDATE["B"][3]) < 0.001
    assert abs(t.loc["slope", "optimism"] - R.RMS_VALIDATE["Slope"][3]) < 0.022
    assert abs(t.loc["intercept", "optimism"] - R.RMS_VALIDATE["Intercept"][3]) < 0.032
    assert abs(validation.mae - R.RMS_CALIBRATE_MAE) < 0.0015


def test_bootstrap_is_seeded_and_independent_of_jobs(model_fit):
    f, cc = model_fit
    X = np.column_stack([np.ones(len(cc))] + [cc[c].to_numpy(float) for c in cohorts.MODEL])
    y = cc["loosening"].to_numpy(float)
    a = bootstrap_validation(X, y, B=60, seed=7, n_jobs=1, calibration_curve=False)
    b = bootstrap_validation(X, y, B=60, seed=7, n_jobs=2, calibration_curve=False)
    assert_allclose(a.table.to_numpy(), b.table.to_numpy(), rtol=1e-12)
    assert set(a.to_dict()) >= {"B", "auc_apparent", "auc_optimism", "auc_corrected"}


def test_recalibration_fit_survives_extreme_linear_predictors():
    """A bootstrap model with huge coefficients gives |lp| ~ 50; the recalibration must still converge."""
    from spinebq.stats.logistic import newton_logit
    from spinebq.stats.performance import _recalibrate_fast

    rng = np.random.default_rng(0)
    lp = rng.normal(0, 20, 300)
    y = (rng.random(300) < 1 / (1 + np.exp(-0.4 * lp))).astype(float)
    a, b, c = _recalibrate_fast(y, lp)
    ref, _, ok = newton_logit(np.column_stack([np.ones(300), lp]), y)
    assert ok and np.allclose([a, b], ref, rtol=1e-8)
    cref, _, _ = newton_logit(np.ones((300, 1)), y, offset=lp)
    assert np.isclose(c, cref[0], rtol=1e-8)
