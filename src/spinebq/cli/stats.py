"""``spinebq stats``: the cohort analysis of a spreadsheet (ROC/DeLong, logistic, calibration, validation,
decision curves, nomogram, ICC, imputation), written to ``--out`` as stats.json, tables and figures."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from spinebq.cli import _with_flags

NAME = "stats"
FLAGS = {"icc_pairs": "--icc"}
INPUTS = ("data",)
HELP = ("cohort statistics of a spreadsheet (ROC with DeLong CI and Youden cut-off, logistic regression, "
        "calibration, bootstrap validation, decision curves, nomogram, ICC); research use only")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``spinebq stats``."""
    from spinebq.cli._numbers import number

    parser.add_argument("data", nargs="?", help="cohort table: .csv or .xlsx, one row per patient")
    parser.add_argument("--outcome", help="binary outcome column: 1/0, or two levels such as Yes/No (see --event)")
    parser.add_argument("--predictors", help="comma-separated predictor columns, each optionally with ':lower' "
                        "(lower values go with the event, e.g. HU) or ':higher' (e.g. VBQ); without a suffix the "
                        "direction is taken from the data and reported with a warning")
    parser.add_argument("--model", help="comma-separated terms of the multivariable model whose calibration, "
                        "validation, decision curve and nomogram are computed (default: all predictors)")
    parser.add_argument("--out", default="spinebq_stats", help="output directory (default: %(default)s)")
    parser.add_argument("--bootstrap", type=number(0, 100_000, integer=True), default=1000, metavar="B",
                        help="bootstrap samples for the optimism correction (default: %(default)s; 0 skips)")
    parser.add_argument("--seed", type=number(0, 2**32 - 1, integer=True), default=20240101, help="random seed (default: %(default)s)")
    parser.add_argument("--jobs", type=number(1, 256, integer=True), default=2, help="processes for the bootstrap (default: %(default)s)")
    parser.add_argument("--impute", action="store_true",
                        help="also pool the model over 5 MICE imputations (10 iterations, Rubin's rules)")
    parser.add_argument("--icc", action="append", default=[], metavar="COL1,COL2[,...]",
                        help="columns holding the same measurement by different readers: ICC (repeatable)")
    parser.add_argument("--roc-bootstrap", type=number(1, 100_000, integer=True), default=None, metavar="N",
                        help="also give stratified bootstrap CIs of each AUC with N resamples")
    parser.add_argument("--per", default=None, metavar="COL:K,...",
                        help="extra odds ratios per K units or per SD, e.g. st_hu:10,age:sd")
    parser.add_argument("--categorical", default="", help="comma-separated numeric columns that are categories "
                        "(factors as in R: one odds ratio per level against the reference); text columns always are")
    parser.add_argument("--reference", action="append", default=[], metavar="COL=LEVEL",
                        help="reference level of a categorical column, e.g. race=white (default: the first level in "
                        "sorted order, as R); repeatable or comma-separated")
    parser.add_argument("--ordinal", action="append", default=[], metavar="COL=L1<L2<...",
                        help="use a text grade as a number, e.g. raterisk=Less<Same<Greater (Less = 1, Same = 2, "
                        "Greater = 3: one odds ratio per step); repeatable. Without it text columns are categories")
    parser.add_argument("--event", default=None, metavar="VALUE", help="the outcome value that is the event (default: "
                        "1 of 0/1, TRUE of TRUE/FALSE, the level that is not No of a two-level column, else R's "
                        "second level in sorted order: 2 of 1/2)")
    parser.add_argument("--covariates", default="", help="comma-separated further columns described in the baseline "
                        "table (Table 1) that enter no model")
    parser.add_argument("--na", default="", metavar="CODE,...", help="further missing-value codes, e.g. -99,999 "
                        "(empty cells, NA and . are always missing; other words such as None or NULL are texts "
                        "unless given here)")
    parser.add_argument("--cluster", default=None, metavar="PATIENT_COLUMN", help="column naming the patient when "
                        "rows are screws or levels: cluster-robust standard errors (rms::robcov) and cluster "
                        "bootstrap CIs of the AUCs")
    parser.add_argument("--matched", default=None, metavar="SET_COLUMN", help="column naming the matched set of a "
                        "matched case-control study: conditional logistic regression (survival::clogit)")
    parser.add_argument("--excel", action="store_true", help="also write tables.xlsx")
    parser.add_argument("--figure-format", choices=("png", "svg", "pdf"), default="png")
    parser.add_argument("--no-figures", action="store_true", help="do not draw figures")
    parser.add_argument("--example", metavar="ID", help="run a shipped simulated cohort shaped like paper ID "
                        "(001) instead of DATA")


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _p(text: str) -> str:
    """``= 0.012`` or ``< 0.001``."""
    return text if text.startswith("<") else f"= {text}"


def run(args: argparse.Namespace) -> int:
    """Run the analysis, print a short summary and write the outputs."""
    import warnings

    from spinebq.errors import SpinebqError
    from spinebq.stats.analysis import MODEL, NO_NOMOGRAM_SEPARATED, NO_VALIDATION_SEPARATED, run_analysis
    from spinebq.report.files import write_atomic
    from spinebq.stats._result import format_p
    from spinebq.stats.data import MISSING_OUTCOME_DROPPED, parse_assignments, parse_predictors, read_table
    from spinebq.stats.roc import event_rule

    if args.example:
        from spinebq.stats.examples import EXAMPLES

        if args.example not in EXAMPLES:
            raise SpinebqError(f"--example {args.example}: no such example (available: {', '.join(EXAMPLES)}).")
        sim, outcome, pred_spec, model_spec = EXAMPLES[args.example]
        df = sim()
        source = f"example {args.example} (simulated)"
        outcome = args.outcome or outcome
        pred_spec = args.predictors or pred_spec
        model_spec = args.model or model_spec
    else:
        if not args.data:
            raise SpinebqError("give a DATA file (.csv or .xlsx) or --example 001.")
        if not args.outcome:
            raise SpinebqError("--outcome is required: the name of the binary outcome column (1/0 or Yes/No).")
        if not args.predictors:
            raise SpinebqError("--predictors is required, e.g. --predictors hu:lower,vbq:higher.")
        df = read_table(args.data, na_values=_split(args.na))
        source = Path(args.data).name
        outcome, pred_spec, model_spec = args.outcome, args.predictors, args.model
    if args.bootstrap < 0:
        raise SpinebqError(f"--bootstrap must be 0 or more, not {args.bootstrap}.")
    predictors = parse_predictors(pred_spec)
    model = _split(model_spec) or None
    per = {}
    for item in _split(args.per):
        col, _, k = item.partition(":")
        try:
            per[col] = "sd" if k.lower() == "sd" else float(k)
        except ValueError:
            raise SpinebqError(f"--per {item}: give COLUMN:NUMBER or COLUMN:sd.") from None
    icc_groups = [tuple(_split(g)) for g in args.icc]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # they are collected in the result and printed below
        result = run_analysis(df, outcome, predictors, model=model, bootstrap=args.bootstrap, seed=args.seed,
                              n_jobs=args.jobs, impute=args.impute, icc_pairs=icc_groups,
                              roc_bootstrap=args.roc_bootstrap, per=per or None,
                              categorical=_split(args.categorical), covariates=_split(args.covariates),
                              reference=parse_assignments(",".join(args.reference), "reference"), event=args.event,
                              cluster=args.cluster, matched=args.matched,
                              ordinal={k: v.split("<") for k, v in parse_assignments(args.ordinal, "ordinal").items()},
                              source=source)
    from spinebq.io.output import staged

    with staged(args) as staging:
        files = result.write(staging, excel=args.excel, figures=not args.no_figures, figure_format=args.figure_format)
        # full precision (write_json rounds to 4 decimals, which would turn small p-values into 0)
        files.insert(0, write_atomic(staging / "stats.json", result.to_json() + "\n"))
    out = Path(args.out)

    w = sys.stdout.write
    w(f"spinebq stats: {source}: n = {result.n}, events = {result.n_events} "
      f"({100 * result.n_events / result.n:.1f} %). Research use only; not a medical device.\n")
    if result.rows is not None:
        w(f"{result.rows.sentence()}\n")
    for k, f in result.factors.items():
        w(f"Categorical {k}: reference {f.reference!r}; other levels {', '.join(repr(v) for v in f.levels[1:])} "
          f"(terms {', '.join(f.terms)})\n")
    w("ROC (AUC, DeLong 95 % CI; Youden cut-off -> sensitivity / specificity):\n")
    for k, r in result.roc.items():
        yd = r.youden
        label = "model probability" if k == MODEL else k
        cut = event_rule(r.direction, yd["threshold"], result.factors[k].levels if k in result.factors else None)
        boot = (f"; cluster bootstrap {r.auc_ci_bootstrap[0]:.3f}-{r.auc_ci_bootstrap[1]:.3f}"
                if args.cluster and r.auc_ci_bootstrap is not None else "")
        w(f"  {label:<20s} {r.auc:.3f} ({r.auc_ci[0]:.3f}-{r.auc_ci[1]:.3f}{boot})  event if {cut}"
          f" -> {yd['sensitivity']:.3f} / {yd['specificity']:.3f}"
          f"{'  [direction inferred]' if r.direction_inferred else ''}\n")
    w(f"Multivariable model ({', '.join(result.model_terms)}; n = {result.multivariable.n}):\n")
    for term, row in result.multivariable.table.iterrows():
        if term == "(Intercept)":
            continue
        w(f"  {term:<20s} OR {row['or']:.4g} ({row['or_ci_low']:.4g}-{row['or_ci_high']:.4g}), p {_p(format_p(row['p']))}\n")
    if result.pooled_auc is not None:
        pa = result.pooled_auc
        w(f"Model AUC pooled over {len(pa.aucs)} imputations (Rubin's rules, logit scale): {pa.auc:.3f} "
          f"({pa.ci[0]:.3f}-{pa.ci[1]:.3f})\n")
    cm = result.conditional_multivariable
    if cm is not None:
        w(f"Conditional logistic model (matched on {result.matched_on}: {cm.n_sets} sets, n = {cm.n}):\n")
        for term, row in cm.table.iterrows():
            if row["reason"]:
                w(f"  {term:<20s} not estimated: {row['reason']}\n")
                continue
            w(f"  {term:<20s} OR {row['or']:.4g} ({row['or_ci_low']:.4g}-{row['or_ci_high']:.4g}), "
              f"p {_p(format_p(row['p']))}\n")
    if per:
        w("Odds ratios per --per increment (univariable | multivariable):\n")
        for var in per:
            cells = []
            for fit in (result.univariable.get(var), result.multivariable):
                e = fit.extra_or if fit is not None else None
                if e is None or var not in e.index:
                    cells.append("not in the model")
                    continue
                r = e.loc[var]
                cells.append(f"OR {r['or']:.4g} ({r['or_ci_low']:.4g}-{r['or_ci_high']:.4g})")
            k = result.univariable[var].extra_or.loc[var, "per"] if var in result.univariable else per[var]
            w(f"  {var} per {k:.4g}: {cells[0]} | {cells[1]}\n")
    hl = result.hosmer_lemeshow
    fit = (f"chi2 = {hl.chi2:.3f}, df = {hl.df}, p {_p(format_p(hl.p))}" if math.isfinite(hl.chi2) else
           "not computed (the risk groups hold no expected count to compare with: see the warnings)")
    w(f"Hosmer-Lemeshow {fit}; Brier = {result.calibration.brier:.4f}\n")
    if result.validation is not None:
        t = result.validation.table
        w(f"Bootstrap validation (B = {result.validation.B}, seed {args.seed}): AUC apparent "
          f"{t.loc['auc', 'apparent']:.3f}, optimism {t.loc['auc', 'optimism']:.3f}, corrected "
          f"{t.loc['auc', 'corrected']:.3f}; slope corrected {t.loc['slope', 'corrected']:.3f}; "
          f"calibration MAE {result.validation.mae:.3f}\n")
    for columns, agreement in result.icc.items():
        w(f"ICC of {columns.replace('+', ', ')} (n = {agreement.n_subjects}, {agreement.n_raters} readings; psych::ICC): "
          + "; ".join(f"{form} {row['icc']:.3f} ({row['ci_low']:.3f}-{row['ci_high']:.3f}), {row['model']}"
                      for form, row in agreement.table.loc[["ICC2", "ICC3"]].iterrows()) + "\n")
    runs = result.dca.useful_intervals()
    if runs:
        shown = [f"{a:.2f}-{b:.2f}" if b > a else f"{a:.2f}" for a, b in runs]
        w(f"Decision curve: the model beats treat-all and treat-none at thresholds {', '.join(shown)}\n")
    for msg in result.warnings:
        w(f"warning: {_with_flags(args, msg)}\n")
    for msg in result.notes:  # the notes the screen repeats; every note is in stats.json
        if (msg.startswith(("outcome ", "matched design")) or msg.endswith(MISSING_OUTCOME_DROPPED)
                or any(words in msg for words in ("left out", "has no events", "not independent", "ignores the matching",
                                                  "has no ROC curve"))
                or msg in (NO_VALIDATION_SEPARATED, NO_NOMOGRAM_SEPARATED)):
            w(f"note: {_with_flags(args, msg)}\n")
    w(f"Wrote {len(files)} files to {out}/ (stats.json, tables, figures) in {result.seconds:.1f} s.\n")
    return 0
