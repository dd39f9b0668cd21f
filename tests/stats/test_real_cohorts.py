"""Table 1, clustered rows and the user guards on real cohorts shipped with R (tests/stats/data/README.md).

Every expected number is in r_reference.py beside the R call that produced it.
"""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from spinebq.stats import DirectionWarning
from spinebq.stats._result import format_p
from spinebq.stats.baseline import baseline_table, compare_categorical, fisher_exact_rx2
from spinebq.stats.data import read_table, validate_cohort
from spinebq.stats.logistic import fit_logistic
from spinebq.stats.roc import cluster_bootstrap_auc_ci, bootstrap_auc_ci, roc_analysis
from tests.stats import r_reference as R

DATA = Path(__file__).parent / "data"
TOL = dict(rtol=1e-6, atol=1e-12)


@pytest.fixture(scope="module")
def table1():
    b = read_table(DATA / "birthwt.csv")
    c = validate_cohort(b, "low", ["age", "lwt", "race", "smoke", "ht", "ptl", "ftv"], categorical=["ptl", "ftv"])
    data = c.data[["low", "age", "lwt"]].join(c.labels)
    return baseline_table(data, "low", ["age", "lwt", "race", "smoke", "ht", "ptl", "ftv"])


def _head(t, v):
    return t.table[(t.table["variable"] == v) & (t.table["test"] != "")].iloc[0]


def test_table1_categorical_tests_equal_r(table1):
    # chisq.test where every expected count is >= 5 (Yates only for 2x2), fisher.test otherwise (R x 2 too)
    r = _head(table1, "race")
    assert r["test"] == "chi-square" and R.BW_CHISQ_RACE[2] >= 5
    assert_allclose([r["statistic"], r["p"]], R.BW_CHISQ_RACE[:2], **TOL)
    r = _head(table1, "smoke")
    assert r["test"] == "chi-square (Yates)"
    assert_allclose([r["statistic"], r["p"]], R.BW_CHISQ_SMOKE[:2], **TOL)
    for v, ref, chi in (("ht", R.BW_FISHER_HT, R.BW_CHISQ_HT), ("ptl", R.BW_FISHER_PTL, R.BW_CHISQ_PTL),
                        ("ftv", R.BW_FISHER_FTV, R.BW_CHISQ_FTV)):
        r = _head(table1, v)
        assert chi[2] < 5 and r["test"] == "Fisher exact", v
        assert_allclose(r["p"], ref, **TOL, err_msg=v)


def test_fisher_rx2_of_every_table_equals_r():
    b = read_table(DATA / "birthwt.csv")
    y = (b["low"] == "Yes").to_numpy(float)
    for v, ref in (("race", R.BW_FISHER_RACE), ("smoke", R.BW_FISHER_SMOKE), ("ptl", R.BW_FISHER_PTL),
                   ("ftv", R.BW_FISHER_FTV)):
        tab = pd.crosstab(b[v], y).to_numpy()
        assert_allclose(fisher_exact_rx2(tab), ref, **TOL, err_msg=v)
    i = read_table(DATA / "infert.csv")
    r = compare_categorical(i["education"].to_numpy(), i["case"].to_numpy())
    assert r["test"] == "Fisher exact" and R.INF_CHISQ_EDUCATION[2] < 5
    assert_allclose(r["p"], R.INF_FISHER_EDUCATION, **TOL)


def test_table1_continuous_and_layout(table1):
    t = table1.table
    for v in ("age", "lwt"):
        r = _head(table1, v)
        assert min(getattr(R, f"BW_SHAPIRO_{v.upper()}")) < 0.05 and r["test"] == "Mann-Whitney U"
        assert_allclose([r["statistic"], r["p"]], getattr(R, f"BW_WILCOX_{v.upper()}"), **TOL)
        m = getattr(R, f"BW_MEDIAN_IQR_{v.upper()}")
        assert r["level"] == "median [IQR]"
        assert r.iloc[2] == f"{m[0]:.2f} [{m[1]:.2f}, {m[2]:.2f}]" and r.iloc[3] == f"{m[3]:.2f} [{m[4]:.2f}, {m[5]:.2f}]"
    race = t[t["variable"] == "race"]
    assert list(race["level"].iloc[1:]) == ["black", "other", "white"]
    assert race.iloc[1, 2] == "15 (11.5%)" and race.iloc[1, 3] == "11 (18.6%)"  # table(b$race, b$low)
    md = table1.to_markdown()
    assert "| race |  |  |  | chi-square | 5.005 | 0.082 | 0 |" in md
    assert "< 0.001" in md and "0.000 |" not in md and "NaN" not in md


def test_p_values_print_as_papers_print_them():
    assert format_p(R.BW_FISHER_PTL) == "< 0.001"
    assert format_p(R.BW_CHISQ_RACE[1]) == "0.082"
    assert format_p(float("nan")) == "NaN"


def test_auc_below_half_in_the_given_direction_warns():
    b = read_table(DATA / "birthwt.csv")
    y = (b["low"] == "Yes").to_numpy(float)
    with pytest.warns(DirectionWarning, match=r"AUC 0.447 < 0.5 in the direction given \(higher values"):
        r = roc_analysis(y, b["age"].to_numpy(float), "higher", name="age")
    assert_allclose([r.auc_ci[0], r.auc, r.auc_ci[1]], R.BW_ROC_AGE_HIGHER, **TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = roc_analysis(y, b["lwt"].to_numpy(float), "lower", name="lwt")
    assert_allclose([r.auc_ci[0], r.auc, r.auc_ci[1]], R.BW_ROC_LWT_LOWER, **TOL)


def test_cluster_robust_errors_equal_robcov():
    rt = read_table(DATA / "retinopathy.csv")
    c = validate_cohort(rt, "status", ["trt", "risk", "type"], ids=["id"])
    terms = c.design_terms(["trt", "risk", "type"])
    assert terms == ["trt", "risk", "typejuvenile"]
    f = fit_logistic(c.data, "status", terms, cluster=c.ids["id"].to_numpy())
    assert_allclose(f.table["coef"].to_numpy(), R.RET_ROBCOV["coef"], **TOL)
    assert_allclose(f.table["se"].to_numpy(), R.RET_ROBCOV["se"], **TOL)
    assert_allclose(f.table["p"].to_numpy(), R.RET_ROBCOV["p"], **TOL)
    assert "not independent" in f.notes[0]
    naive = fit_logistic(c.data, "status", terms)
    assert_allclose(naive.table["se"].to_numpy(), R.RET_ROBCOV["se_naive"], **TOL)


def test_cluster_bootstrap_counts_patients_not_rows():
    # Each patient of birthwt entered twice (as two screws of one patient would be): the naive bootstrap's
    # interval shrinks by about sqrt(2), the cluster bootstrap's stays that of the 189 patients.
    b = read_table(DATA / "birthwt.csv")
    y = (b["low"] == "Yes").to_numpy(float)
    x = b["lwt"].to_numpy(float)
    y2, x2, ids = np.tile(y, 2), np.tile(x, 2), np.tile(np.arange(y.size), 2)
    once = bootstrap_auc_ci(y, x, ">", n_boot=1000, seed=3)
    naive = bootstrap_auc_ci(y2, x2, ">", n_boot=1000, seed=3)
    clustered = cluster_bootstrap_auc_ci(y2, x2, ">", ids, n_boot=1000, seed=3)
    w1, wn, wc = (np.diff(c)[0] for c in (once, naive, clustered))
    assert wn / w1 == pytest.approx(1 / np.sqrt(2), rel=0.15)
    assert wc / w1 == pytest.approx(1.0, rel=0.12)
    r = roc_analysis(y2, x2, ">", name="lwt", cluster=ids, bootstrap=200)
    assert r.auc_ci_bootstrap is not None and "not independent" in r.notes[-1]


def test_conditional_logistic_equals_clogit():
    from spinebq.stats.conditional import fit_conditional_logistic

    i = read_table(DATA / "infert.csv")
    c = validate_cohort(i, "case", ["spontaneous", "induced", "education"], ids=["stratum", "pooled_stratum"])
    f = fit_conditional_logistic(c.data, "case", ["spontaneous", "induced"], c.ids["stratum"].to_numpy())
    t = f.table
    for col, key in (("coef", "coef"), ("se", "se"), ("p", "p"), ("or", "or"), ("or_ci_low", "or_low"),
                     ("or_ci_high", "or_high")):
        assert_allclose(t[col].to_numpy(), R.INF_CLOGIT[key], **TOL, err_msg=col)
    assert_allclose([f.loglik_null, f.loglik], R.INF_CLOGIT["loglik"], **TOL)
    assert f.n_sets == 83
    # several cases per set: the exact conditional likelihood
    f = fit_conditional_logistic(c.data, "case", ["spontaneous", "induced"], c.ids["pooled_stratum"].to_numpy())
    assert_allclose(f.table[["coef", "se", "p"]].to_numpy().T, [R.INF_CLOGIT_POOLED[k] for k in ("coef", "se", "p")],
                    **TOL)
    assert_allclose([f.loglik_null, f.loglik], R.INF_CLOGIT_POOLED["loglik"], **TOL)
    # a matching variable cannot be estimated: NA in R, NaN with a reason here
    f = fit_conditional_logistic(c.data, "case", c.design_terms(["spontaneous", "induced", "education"]),
                                 c.ids["stratum"].to_numpy())
    assert_allclose(f.table["coef"].to_numpy(), R.INF_CLOGIT_EDUCATION["coef"], **TOL)
    assert f.table.loc["education6-11yrs", "reason"].startswith("constant within every matched set")


def test_bootstrap_validation_resamples_whole_patients():
    from spinebq.stats.performance import bootstrap_validation, cluster_resamples

    groups = np.repeat(np.arange(30), 2)
    for ix in cluster_resamples(groups, 20, np.random.default_rng(1)):
        counts = np.bincount(groups[ix], minlength=30)
        assert np.all(counts % 2 == 0) and ix.size == 60  # both rows of a patient, 30 patients
    # each birthwt mother entered twice: the row bootstrap halves the optimism, the cluster bootstrap keeps it
    b = read_table(DATA / "birthwt.csv")
    model = ["age", "lwt", "race", "smoke", "ht", "ui"]
    c = validate_cohort(b, "low", model)
    X = np.column_stack([np.ones(len(c.data))] + [c.data[t].to_numpy(float) for t in c.design_terms(model)])
    X2, y2, g = np.vstack([X, X]), np.tile(c.y, 2), np.tile(np.arange(c.y.size), 2)
    opt = {name: bootstrap_validation(Xi, yi, B=200, seed=1, n_jobs=1, calibration_curve=False, groups=gi)
           .table.loc["auc", "optimism"] for name, Xi, yi, gi in (("once", X, c.y, None), ("rows", X2, y2, None),
                                                                  ("patients", X2, y2, g))}
    assert opt["rows"] < 0.6 * opt["once"]
    assert opt["patients"] == pytest.approx(opt["once"], abs=0.012)
