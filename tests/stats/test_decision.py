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
