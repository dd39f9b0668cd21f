"""ICC against psych::ICC(lmer=FALSE) and correlations against cor.test."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from spinebq.stats.agreement import correlation, icc
from tests.stats import r_reference as R

FORMS = ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]


@pytest.mark.parametrize("ref,cols", [("ICC_PBQ", ("pbq", "pbq_reader2")), ("ICC_RATERS3", None)])
def test_icc_all_forms(read, c001, ref, cols):
    data = c001[list(cols)] if cols else read("raters3")
    r = icc(data)
    exp = getattr(R, ref)
    t = r.table.loc[FORMS]
    for col, key in (("icc", "ICC"), ("F", "F"), ("df1", "df1"), ("df2", "df2"), ("p", "p"),
                     ("ci_low", "lower"), ("ci_high", "upper")):
        assert_allclose(t[col].to_numpy(float), exp[key], rtol=1e-6, atol=0, err_msg=col)
    if cols:
        assert r.n_dropped == 6


def test_pearson(c001):
    c = correlation(c001["pbq"], c001["hu_ratio"])
    assert_allclose([c.pearson_r, c.pearson_t, c.pearson_p, *c.pearson_ci], R.PEARSON_PBQ_HU_RATIO, rtol=1e-6)


def test_spearman_with_ties_uses_t_approximation(c001):
    c = correlation(c001["pbq"], c001["hu_ratio"])
    assert_allclose([c.spearman_rho, c.spearman_p], R.SPEARMAN_PBQ_HU_RATIO, rtol=1e-6)
    assert "ties" in c.spearman_method


@pytest.mark.parametrize("name", ["noties24", "noties8", "noties30neg"])
def test_spearman_without_ties_uses_as89(read, name):
    z = read(name)
    c = correlation(z["a"], z["b"])
    assert_allclose([c.spearman_rho, c.spearman_p], getattr(R, f"SPEARMAN_{name.upper()}"), rtol=1e-6)
    assert c.spearman_method.startswith("AS 89")
