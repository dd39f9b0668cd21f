"""Benchmark: the full spinebq stats analysis of a 313-patient cohort (B = 1000) against R on the same data.

Run from the repository root::

    python benchmarks/bench_stats.py > benchmarks/stats.md

Python side: :func:`spinebq.stats.run_analysis` (baseline table, ROC/DeLong/Youden for 6 predictors and the
model, paired DeLong tests, univariable + multivariable logistic regression, collinearity, calibration,
Hosmer-Lemeshow, bootstrap optimism correction *with* the calibration curve, B = 1000, decision and clinical
impact curves, nomogram, correlations, ICC), timed after imports, on 2 worker processes.
R side (when ``Rscript`` is on the PATH): ``rms::lrm`` + ``rms::validate(B = 1000)`` + ``rms::calibrate(B = 1000)``
+ pROC (``roc``, ``ci.auc(method = "delong")``, ``coords("best")`` for the same 7 curves, ``roc.test``),
timed inside R after loading the packages. The output is Markdown.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from spinebq.stats import run_analysis
from spinebq.stats.examples import simulate_cohort_001

PREDICTORS = {"age": "<", "pbq": "<", "hu_ratio": ">", "goutallier": "<", "st_hu": ">", "vbq": "<"}
MODEL = ["age", "pbq", "hu_ratio", "goutallier"]
B = 1000
SEED = 20240101

R_CODE = r"""
suppressPackageStartupMessages({library(pROC); library(rms)})
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
preds <- c(age = "<", pbq = "<", hu_ratio = ">", goutallier = "<", st_hu = ">", vbq = "<")
cpu <- function() { pt <- proc.time(); pt[["user.self"]] + pt[["sys.self"]] }
c0 <- cpu()
t0 <- proc.time()[["elapsed"]]
cc <- na.omit(d[, c("loosening", "age", "pbq", "hu_ratio", "goutallier")])
f <- lrm(loosening ~ age + pbq + hu_ratio + goutallier, data = cc, x = TRUE, y = TRUE)
set.seed(20240101); v <- validate(f, B = 1000)
t1 <- proc.time()[["elapsed"]]
set.seed(20240101); cal <- calibrate(f, B = 1000)
t2 <- proc.time()[["elapsed"]]
out <- list()
p <- plogis(f$linear.predictors)
curves <- list()
for (k in names(preds)) curves[[k]] <- roc(d$loosening, d[[k]], levels = c(0, 1), direction = preds[[k]], quiet = TRUE)
curves[["model"]] <- roc(cc$loosening, p, levels = c(0, 1), direction = "<", quiet = TRUE)
for (k in names(curves)) {
  ci <- ci.auc(curves[[k]], method = "delong")
  b <- coords(curves[[k]], "best", best.method = "youden", transpose = FALSE, ret = c("threshold", "sensitivity", "specificity"))
  out[[k]] <- c(as.numeric(ci), as.numeric(b[1, ]))
}
tt <- roc.test(curves[["pbq"]], curves[["hu_ratio"]], method = "delong", paired = TRUE)
t3 <- proc.time()[["elapsed"]]
c3 <- cpu()
pr <- attr(cal, "predicted"); s <- !is.na(cal[, "predy"] + cal[, "calibrated.corrected"])
mae <- mean(abs(pr - approxExtrap(cal[s, "predy"], cal[s, "calibrated.corrected"], xout = pr, ties = mean)$y))
cat(sprintf("ROC %s %.17g %.17g %.17g %.17g %.17g %.17g\n", names(out), sapply(out, `[`, 1), sapply(out, `[`, 2),
            sapply(out, `[`, 3), sapply(out, `[`, 4), sapply(out, `[`, 5), sapply(out, `[`, 6)), sep = "")
cat(sprintf("VALIDATE %.17g %.17g %.17g %.17g %.17g %.17g\n", v["Dxy", "index.orig"], v["Dxy", "optimism"],
            v["Dxy", "index.corrected"], v["Slope", "optimism"], v["B", "optimism"], mae))
cat(sprintf("ROCTEST %.17g %.17g\n", tt$statistic, tt$p.value))
cat(sprintf("TIME %.3f %.3f %.3f %.3f %.3f\n", t1 - t0, t2 - t1, t3 - t2, t3 - t0, c3 - c0))
"""


def _r_versions(rscript: str) -> str:
    code = ('cat(R.version.string, "; pROC", as.character(packageVersion("pROC")), "; rms", '
            'as.character(packageVersion("rms")))')
    return subprocess.run([rscript, "-e", code], capture_output=True, text=True, check=True).stdout.strip()


def main() -> int:
    df = simulate_cohort_001(seed=1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_stats_"))
    csv = tmp / "c001.csv"
    df.to_csv(csv, index=False, na_rep="NA", float_format="%.10g")
    ncpu = os.cpu_count()

    # warm-up (imports, joblib workers); not timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_analysis(df, "loosening", PREDICTORS, model=MODEL, bootstrap=50, n_jobs=2)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            res = run_analysis(df, "loosening", PREDICTORS, model=MODEL, bootstrap=B, seed=SEED, n_jobs=2,
                               icc_pairs=[("pbq", "pbq_reader2")])
            times.append(time.perf_counter() - t0)
        c0 = time.process_time()
        run_analysis(df, "loosening", PREDICTORS, model=MODEL, bootstrap=B, seed=SEED, n_jobs=1,
                     icc_pairs=[("pbq", "pbq_reader2")])
        py_cpu = time.process_time() - c0
        t0 = time.perf_counter()
        res.write(tmp / "out", excel=True)
        t_write = time.perf_counter() - t0
    py = float(np.median(times))
    d = res.to_dict()

    print("# Benchmark: `spinebq stats` vs R (rms::validate + rms::calibrate + pROC)\n")
    print(f"Cohort: simulated paper-001 cohort, n = {len(df)}, {int(df.loosening.sum())} events, model "
          f"`loosening ~ {' + '.join(MODEL)}` (n = {res.multivariable.n} complete cases), B = {B}.")
    print(f"Machine: {platform.machine()}, {ncpu} CPUs, Python {platform.python_version()}, shared with other "
          "jobs, so times vary by about ±30 %.\n")
    print("| step | time (s) |")
    print("|---|---|")
    print(f"| spinebq: whole analysis (6 ROC + model ROC, DeLong tests, logistic, HL, validation B = {B} with "
          f"calibration curve, DCA, nomogram, ICC), 2 processes, median of 3 runs (wall) | {py:.2f} |")
    print(f"| spinebq: runs (s) | {', '.join(f'{t:.2f}' for t in times)} |")
    print(f"| spinebq: the same in 1 process, CPU time | {py_cpu:.2f} |")
    print(f"| spinebq: writing stats.json, CSV/Markdown/Excel tables and 5 PNG figures | {t_write:.2f} |")

    rscript = shutil.which("Rscript")
    if not rscript:
        print("\nRscript was not found on this machine: the R side of the benchmark was not run.")
        return 0
    rfile = tmp / "bench.R"
    rfile.write_text(R_CODE)
    t0 = time.perf_counter()
    proc = subprocess.run([rscript, str(rfile), str(csv)], capture_output=True, text=True)
    r_wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"\nR failed: {proc.stderr.strip().splitlines()[-1]}")
        return 1
    lines = [ln.split() for ln in proc.stdout.splitlines()]
    rroc = {ln[1]: [float(v) for v in ln[2:]] for ln in lines if ln[0] == "ROC"}
    val = [float(v) for v in next(ln for ln in lines if ln[0] == "VALIDATE")[1:]]
    rtest = [float(v) for v in next(ln for ln in lines if ln[0] == "ROCTEST")[1:]]
    rt = [float(v) for v in next(ln for ln in lines if ln[0] == "TIME")[1:]]
    print(f"| R: rms::validate(B = {B}) | {rt[0]:.2f} |")
    print(f"| R: rms::calibrate(B = {B}) | {rt[1]:.2f} |")
    print(f"| R: pROC roc + ci.auc(DeLong) + coords(best) for 7 curves + roc.test | {rt[2]:.2f} |")
    print(f"| R: total of the three (after loading packages) | {rt[3]:.2f} |")
    print(f"| R: the three, CPU time (R is single-threaded) | {rt[4]:.2f} |")
    print(f"| R: whole Rscript process (incl. start-up and library loading) | {r_wall:.2f} |")
    print(f"\n**Speed-up: {rt[3] / py:.1f}x wall-clock** (R {rt[3]:.2f} s / spinebq {py:.2f} s on 2 processes) and "
          f"**{rt[4] / py_cpu:.1f}x in CPU time** (R {rt[4]:.2f} s / spinebq {py_cpu:.2f} s, one process each; this "
          "ratio is the one least disturbed by other jobs on the machine). spinebq's time includes everything "
          "listed above, R's only validate + calibrate + pROC.\n")
    print(f"R versions: {_r_versions(rscript)}.\n")

    print("## Deterministic numbers (must agree to 1e-6)\n")
    print("| curve | AUC spinebq | AUC R | max abs diff (AUC, CI, Youden cut-off/Se/Sp) |")
    print("|---|---|---|---|")
    worst = 0.0
    for k, r in rroc.items():
        ours = d["roc"][k]
        mine = [ours["auc_ci"][0], ours["auc"], ours["auc_ci"][1], ours["youden"]["threshold"],
                ours["youden"]["sensitivity"], ours["youden"]["specificity"]]
        diff = float(np.max(np.abs(np.array(mine) - np.array(r)) / np.maximum(1, np.abs(r))))
        worst = max(worst, diff)
        print(f"| {k} | {ours['auc']:.6f} | {r[1]:.6f} | {diff:.1e} |")
    from spinebq.stats.roc import paired_delong_test

    t = paired_delong_test(df.loosening, df.pbq, df.hu_ratio, "<", ">")
    dt = max(abs(t.z - rtest[0]), abs(t.p - rtest[1]))
    worst = max(worst, dt)
    print(f"| roc.test pbq vs hu_ratio (z, p) | z = {t.z:.6f} | z = {rtest[0]:.6f} | {dt:.1e} |")
    print(f"\nLargest relative difference: {worst:.1e} -> {'AGREE' if worst < 1e-6 else 'DISAGREE'} to 1e-6.\n")

    print("## Bootstrap numbers (agree within Monte-Carlo error; different random streams)\n")
    v = res.validation.table
    mc = {"AUC optimism": 0.0011, "slope optimism": 0.0055, "Brier optimism": 0.00025, "calibration MAE": 0.00036}
    rows = [("AUC apparent", v.loc["auc", "apparent"], (val[0] + 1) / 2, None),
            ("AUC optimism", v.loc["auc", "optimism"], val[1] / 2, mc["AUC optimism"]),
            ("AUC corrected", v.loc["auc", "corrected"], (val[2] + 1) / 2, mc["AUC optimism"]),
            ("slope optimism", v.loc["slope", "optimism"], val[3], mc["slope optimism"]),
            ("Brier optimism", v.loc["brier", "optimism"], val[4], mc["Brier optimism"]),
            ("calibration MAE", res.validation.mae, val[5], mc["calibration MAE"])]
    print("| quantity | spinebq | R | difference | Monte-Carlo SD of one run | within 3 x sqrt(2) SD |")
    print("|---|---|---|---|---|---|")
    for name, a, b, sd in rows:
        ok = "exact" if sd is None else ("yes" if abs(a - b) < 3 * np.sqrt(2) * sd else "NO")
        print(f"| {name} | {a:.5f} | {b:.5f} | {a - b:+.5f} | {'-' if sd is None else f'{sd:.5f}'} | {ok} |")
    print("\nMonte-Carlo SDs measured by repeating the spinebq bootstrap with 10 seeds on these data.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
