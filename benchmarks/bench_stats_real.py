"""Real cohorts shipped with R: agreement of spinebq with R and time of the whole analysis.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_stats_real.py

Prints Markdown (appended to benchmarks/stats.md): for MASS::birthwt (text categories), datasets::infert
(three-level factor, matched sets) and survival::retinopathy (two eyes per patient) the largest relative
difference of every number against ``tests/stats/r_reference.py`` (the R call is beside each value there), and
the wall time of :func:`spinebq.stats.run_analysis` for each design.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spinebq.stats import run_analysis  # noqa: E402
from spinebq.stats.baseline import compare_categorical  # noqa: E402
from spinebq.stats.conditional import fit_conditional_logistic  # noqa: E402
from spinebq.stats.data import read_table, validate_cohort  # noqa: E402
from spinebq.stats.logistic import fit_logistic  # noqa: E402
from tests.stats import r_reference as R  # noqa: E402

DATA = ROOT / "tests" / "stats" / "data"


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300))) if ok.any() else 0.0


def glm_diff(df, outcome, model, ref, **kw) -> float:
    c = validate_cohort(df, outcome, model, **kw)
    f = fit_logistic(c.data, outcome, c.design_terms(model))
    t = f.table
    return max(rel(t[a], ref[b]) for a, b in (("coef", "coef"), ("se", "se"), ("p", "p"), ("or", "or"),
                                             ("or_ci_low", "or_low"), ("or_ci_high", "or_high")))


def main() -> None:
    warnings.simplefilter("ignore")
    bw = read_table(DATA / "birthwt.csv")
    coded = read_table(DATA / "birthwt_coded.csv")
    inf = read_table(DATA / "infert.csv")
    ret = read_table(DATA / "retinopathy.csv")
    model = ["age", "lwt", "race", "smoke", "ht", "ui"]
    y = (bw["low"] == "Yes").to_numpy(float)
    rows = [
        ("birthwt: glm(low ~ age + lwt + race + smoke + ht + ui), text categories, R's reference (black)",
         glm_diff(bw, "low", model, R.BW_MULTI)),
        ("birthwt: the same with race relevelled to white", glm_diff(bw, "low", model, R.BW_MULTI_WHITE,
                                                                    reference={"race": "white"})),
        ("birthwt_coded: numeric codes, --categorical race", glm_diff(coded, "low", model, R.BW_MULTI_CODED,
                                                                       categorical=["race"])),
        ("infert: glm(case ~ education + age + parity + induced + spontaneous)",
         glm_diff(inf, "case", ["education", "age", "parity", "induced", "spontaneous"], R.INF_MULTI)),
    ]
    for v, key in (("race", "RACE"), ("smoke", "SMOKE"), ("ht", "HT"), ("ptl", "PTL"), ("ftv", "FTV")):
        r = compare_categorical(bw[v].to_numpy(), y)
        ref = getattr(R, f"BW_FISHER_{key}") if r["test"] == "Fisher exact" else getattr(R, f"BW_CHISQ_{key}")[1]
        rows.append((f"birthwt Table 1: {v} ({r['test']}) p", rel(r["p"], ref)))
    c = validate_cohort(inf, "case", ["spontaneous", "induced"], ids=["stratum", "pooled_stratum"])
    for col, ref in (("stratum", R.INF_CLOGIT), ("pooled_stratum", R.INF_CLOGIT_POOLED)):
        f = fit_conditional_logistic(c.data, "case", ["spontaneous", "induced"], c.ids[col].to_numpy())
        rows.append((f"infert: clogit(case ~ spontaneous + induced + strata({col}))",
                     max(rel(f.table["coef"], ref["coef"]), rel(f.table["se"], ref["se"]), rel(f.table["p"], ref["p"]))))
    c = validate_cohort(ret, "status", ["trt", "risk", "type"], ids=["id"])
    f = fit_logistic(c.data, "status", c.design_terms(["trt", "risk", "type"]), cluster=c.ids["id"].to_numpy())
    rows.append(("retinopathy: robcov(lrm(status ~ trt + risk + type), cluster = id) SE and p",
                 max(rel(f.table["se"], R.RET_ROBCOV["se"]), rel(f.table["p"], R.RET_ROBCOV["p"]))))
    print("## Real cohorts shipped with R (`python benchmarks/bench_stats_real.py`)\n")
    print("| comparison with R (every coefficient, SE, p, OR and CI) | largest relative difference |")
    print("|---|---|")
    for name, d in rows:
        print(f"| {name} | {d:.1e} |")
    print(f"\nLargest of all: {max(d for _, d in rows):.1e} (the tests require 1e-6).\n")
    runs = [
        ("birthwt (n = 189): 3 predictors, 6-variable model with a 3-level factor, Table 1, B = 1000",
         lambda: run_analysis(bw, "low", {"lwt": "lower", "age": "lower", "race": "auto"}, model=model, bootstrap=1000,
                              n_jobs=2, reference={"race": "white"}, covariates=["ptl", "ftv"], categorical=["ftv"])),
        ("infert (n = 248): --matched stratum (83 sets), B = 1000",
         lambda: run_analysis(inf, "case", {"spontaneous": "higher"}, model=["spontaneous", "induced"],
                              bootstrap=1000, n_jobs=2, matched="stratum")),
        ("retinopathy (394 eyes, 197 patients): --cluster id, cluster bootstrap of 2 AUCs (2000 each), B = 1000",
         lambda: run_analysis(ret, "status", {"risk": "higher"}, model=["trt", "risk", "type"], bootstrap=1000,
                              n_jobs=2, cluster="id")),
    ]
    print("| design | wall time (s), median of 3 |")
    print("|---|---|")
    for name, fn in runs:
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        print(f"| {name} | {np.median(ts):.2f} |")


if __name__ == "__main__":
    main()
