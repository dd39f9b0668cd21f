"""Decision curve and clinical impact against their formulas evaluated in R (dcurves is not in Debian)."""
import numpy as np
from numpy.testing import assert_allclose

from spinebq.stats.decision import clinical_impact, decision_curve
from tests.stats import r_reference as R


def test_net_benefit(model_fit):
    f, cc = model_fit
    r = decision_curve(cc["loosening"], f.predict(cc))
    assert_allclose(r.table["threshold"], np.arange(1, 100) / 100)
    assert_allclose(r.table["model"], R.DCA_MODEL, rtol=1e-6, atol=1e-12)
    assert_allclose(r.table["treat_all"], R.DCA_TREAT_ALL, rtol=1e-6, atol=1e-12)
    assert (r.table["treat_none"] == 0).all()
    d = r.to_dict()
    assert set(d) >= {"thresholds", "model", "treat_all"} and len(d["model"]) == 99


def test_clinical_impact(model_fit):
    f, cc = model_fit
    r = clinical_impact(cc["loosening"], f.predict(cc))
    assert_allclose(r.table["n_high_risk"], R.CIC_HIGH_RISK, rtol=1e-9)
    assert_allclose(r.table["n_high_risk_with_event"], R.CIC_HIGH_RISK_EVENT, rtol=1e-9)
    assert r.table["cost_benefit"].iloc[49] == "1:1"


def test_threshold_equal_to_prediction_counts_as_positive():
    r = decision_curve([1, 0], [0.5, 0.2], [0.5])
    assert r.table["tp"].iloc[0] == 1


def test_every_interval_where_the_model_is_useful_is_reported():
    # birthwt's model beats treat-all and treat-none at 0.03-0.69 and 0.78-0.83, not at 0.70-0.77
    from spinebq.stats.data import read_table, validate_cohort
    from spinebq.stats.logistic import fit_logistic
    from tests.stats.test_factors import BW_MODEL, DATA

    c = validate_cohort(read_table(DATA / "birthwt.csv"), "low", BW_MODEL, reference={"race": "white"})
    f = fit_logistic(c.data, "low", c.design_terms(BW_MODEL))
    r = decision_curve(c.data["low"], f.predict(c.data))
    expected = np.reshape(R.BW_DCA_BETTER_INTERVALS, (-1, 2))
    assert_allclose(r.useful_intervals(), expected, rtol=1e-12)
    d = r.to_dict()
    assert_allclose(d["model_better_intervals"], expected, rtol=1e-12)
    assert_allclose(d["model_better_range"], [expected[0, 0], expected[-1, 1]], rtol=1e-12)
    assert decision_curve([0, 1], [0.9, 0.1], [0.5]).useful_intervals() == []
