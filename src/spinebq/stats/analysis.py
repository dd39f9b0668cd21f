"""The whole cohort study from one DataFrame: what ``spinebq stats`` runs.

:func:`run_analysis` validates the data, then computes the baseline table, ROC per predictor (explicit
directions), paired DeLong tests of the model against each predictor, univariable and multivariable
logistic regression with collinearity diagnostics, the model's calibration, Hosmer-Lemeshow test, bootstrap
validation with calibration curve, decision and clinical impact curves, the nomogram, correlations, ICCs
and (optionally) multiple imputation. The :class:`StudyResult` writes ``stats.json``, tables and figures.
"""
from __future__ import annotations

import itertools
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from spinebq.constants import EXCEL_CSV_ENCODING
from spinebq.errors import OptionError
from spinebq.stats._result import StatsWarning, frame_to_markdown, jsonable
from spinebq.stats.agreement import CorrelationResult, IccResult, correlation, icc
from spinebq.stats.baseline import BaselineResult, baseline_table
from spinebq.stats.conditional import ConditionalLogisticResult, fit_conditional_logistic
from spinebq.stats.data import Factor, RowAccount, account_rows, validate_cohort
from spinebq.stats.decision import ClinicalImpactResult, DecisionCurveResult, clinical_impact, decision_curve
from spinebq.stats.imputation import PooledAuc, PooledResult, mice_pmm, pool_auc, pool_logistic
from spinebq.stats.logistic import LogisticResult, collinearity, fit_logistic
from spinebq.stats.nomogram import Nomogram, nomogram_from_fit
from spinebq.stats.performance import (CalibrationResult, HosmerLemeshowResult, ValidationResult,
                                       bootstrap_validation, calibration_stats, hosmer_lemeshow)
from spinebq.stats.roc import DelongTestResult, RocResult, paired_delong_test, roc_analysis

__all__ = ["run_analysis", "StudyResult", "SCHEMA"]

SCHEMA = "spinebq.stats/1"
MODEL = "model"
#: the note when the multivariable model is perfectly separated: its coefficients are not estimates
NO_NOMOGRAM_SEPARATED = ("no nomogram: the multivariable model has no maximum-likelihood estimate (separated, see "
                         "the warning), so it has no coefficients to give points")
#: the note when ``bootstrap`` was asked for but the model is perfectly separated (R's rms::validate fails there)
NO_VALIDATION_SEPARATED = ("bootstrap validation not computed: the multivariable model has no maximum-likelihood "
                           "estimate (separated, see the warning), so there is no fit whose optimism could be "
                           "estimated")


def _with_scaled_or(fit: LogisticResult) -> pd.DataFrame:
    """The fit's table with the ``--per`` odds ratios as columns ``per, or_per, or_per_ci_low, or_per_ci_high``."""
    t = fit.table.copy()
    if fit.extra_or is not None:
        e = fit.extra_or.rename(columns={"or": "or_per", "or_ci_low": "or_per_ci_low", "or_ci_high": "or_per_ci_high"})
        t = t.join(e, how="left")
    return t


@dataclass
class StudyResult:
    """Everything :func:`run_analysis` computed. ``to_dict()`` is the ``stats.json`` content."""

    source: str
    outcome: str
    n: int
    n_events: int
    predictors: dict[str, str]
    model_terms: list[str]
    baseline: BaselineResult
    roc: dict[str, RocResult]
    delong_tests: dict[str, DelongTestResult]
    univariable: dict[str, LogisticResult]
    multivariable: LogisticResult
    vif: pd.DataFrame
    condition: pd.DataFrame
    calibration: CalibrationResult
    hosmer_lemeshow: HosmerLemeshowResult
    validation: ValidationResult | None
    dca: DecisionCurveResult
    clinical_impact: ClinicalImpactResult
    nomogram: Nomogram | None
    correlations: dict[str, CorrelationResult]
    icc: dict[str, IccResult]
    imputation: PooledResult | None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    matched_on: str | None = None
    conditional_univariable: dict[str, ConditionalLogisticResult] = field(default_factory=dict)
    conditional_multivariable: ConditionalLogisticResult | None = None
    pooled_auc: PooledAuc | None = None
    factors: dict[str, Factor] = field(default_factory=dict)
    event: str = "1"
    #: how many rows of the table the multivariable model used, and why the others were left out
    rows: RowAccount | None = None

    # ------------------------------------------------------------------ tables
    def tables(self) -> dict[str, pd.DataFrame]:
        """All result tables by file stem (``baseline``, ``roc``, ``logistic_univariable``, ...)."""
        parts = []
        for k, f in self.univariable.items():
            t = _with_scaled_or(f).drop(index="(Intercept)")
            t.insert(0, "variable", k)
            t.insert(1, "n", f.n)
            parts.append(t)
        uni = pd.concat(parts)
        multi = _with_scaled_or(self.multivariable)
        out = {
            "baseline": self.baseline.table,
            "roc": pd.concat([r.summary for r in self.roc.values()]),
            "delong_tests": pd.concat([t.summary for t in self.delong_tests.values()]) if self.delong_tests
            else pd.DataFrame(),
            "logistic_univariable": uni,
            "logistic_multivariable": multi,
            "collinearity": self.vif,
            "condition_index": self.condition,
            "calibration": self.calibration.summary,
            "hosmer_lemeshow_groups": self.hosmer_lemeshow.groups,
            "decision_curve": self.dca.table,
            "clinical_impact": self.clinical_impact.table,
        }
        if self.nomogram is not None:
            out["nomogram_points"] = self.nomogram.points_table()
            out["nomogram_risk"] = self.nomogram.risk_table()
        if self.multivariable.extra_or is not None:
            out["logistic_multivariable_scaled"] = self.multivariable.extra_or
        if self.validation is not None:
            out["validation"] = self.validation.table
            if self.validation.calibration_curve is not None:
                out["calibration_curve"] = self.validation.calibration_curve
        # the key of each result heads its column (pd.concat leaves an unnamed level: 'level_0' in tables.md)
        if self.correlations:
            out["correlations"] = pd.concat({k: v.summary for k, v in self.correlations.items()}, names=["pair"])
        if self.icc:
            out["icc"] = pd.concat({k: v.table for k, v in self.icc.items()}, names=["measurements"])
        if self.imputation is not None:
            out["logistic_multivariable_pooled"] = self.imputation.table
        if self.pooled_auc is not None:
            out["roc_pooled"] = self.pooled_auc.summary
        if self.conditional_multivariable is not None:
            parts = []
            for k, f in self.conditional_univariable.items():
                t = f.table.copy()
                t.insert(0, "variable", k)
                t.insert(1, "n_sets", f.n_sets)
                parts.append(t)
            out["logistic_conditional_univariable"] = pd.concat(parts)
            out["logistic_conditional_multivariable"] = self.conditional_multivariable.table
        return out

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The ``stats.json`` document (schema ``spinebq.stats/1``); NaN and inf become ``null``."""
        v = self.validation
        d = {
            "schema": SCHEMA,
            "research_use_only": True,
            "source": self.source,
            "outcome": self.outcome,
            "n": self.n,
            "n_events": self.n_events,
            "rows": self.rows.to_dict() if self.rows is not None else None,
            "event": self.event,
            "factors": {k: {"levels": list(f.levels), "reference": f.reference, "terms": list(f.terms)}
                        for k, f in self.factors.items()},
            "predictors": {k: {"direction": r.direction, "direction_inferred": r.direction_inferred}
                           for k, r in self.roc.items() if k != MODEL},
            "model": self.model_terms,
            "roc": {k: r.to_dict() for k, r in self.roc.items()},
            "delong_tests": {k: t.to_dict() for k, t in self.delong_tests.items()},
            "baseline": self.baseline.to_dict(),
            "logistic": {
                "univariable": {t: e | {"n": f.n, "n_events": f.n_events} | ({"variable": k} if t != k else {})
                                for k, f in self.univariable.items() for t, e in f.to_dict().items()},
                "multivariable": self.multivariable.to_dict(),
                "multivariable_fit": {"n": self.multivariable.n, "n_events": self.multivariable.n_events,
                                      "n_dropped": self.multivariable.n_dropped,
                                      "converged": self.multivariable.converged,
                                      "separation": self.multivariable.separation,
                                      "intercept": float(self.multivariable.table.loc["(Intercept)", "coef"]),
                                      "loglik": self.multivariable.loglik, "aic": self.multivariable.aic},
                "collinearity": {"vif": self.vif["vif"].to_dict(), "tolerance": self.vif["tolerance"].to_dict(),
                                 "max_condition_index": float(self.condition["condition_index"].max())},
            },
            "hosmer_lemeshow": self.hosmer_lemeshow.to_dict(),
            "calibration": self.calibration.to_dict(),
            "validation": v.to_dict() if v is not None else {"B": 0},
            "dca": self.dca.to_dict(),
            "clinical_impact": self.clinical_impact.to_dict(),
            "nomogram": self.nomogram.to_dict() if self.nomogram is not None else None,
            "correlations": {k: c.to_dict() for k, c in self.correlations.items()},
            "icc": {k: i.to_dict() for k, i in self.icc.items()},
            "imputation": (self.imputation.to_dict() | {"auc": self.pooled_auc.to_dict()}
                           if self.imputation is not None and self.pooled_auc is not None else None),
            "warnings": self.warnings,
            "notes": self.notes,
            "settings": self.settings,
        }
        if self.conditional_multivariable is not None:
            cm = self.conditional_multivariable
            d["logistic"]["conditional"] = {
                "method": "conditional logistic regression (survival::clogit, exact)", "matched_on": self.matched_on,
                "univariable": {t: e | {"n": f.n, "n_sets": f.n_sets} | ({"variable": k} if t != k else {})
                                for k, f in self.conditional_univariable.items() for t, e in f.to_dict().items()},
                "multivariable": cm.to_dict(),
                "multivariable_fit": {"n": cm.n, "n_events": cm.n_events, "n_sets": cm.n_sets,
                                      "n_sets_dropped": cm.n_sets_dropped, "converged": cm.converged,
                                      "loglik": cm.loglik, "loglik_null": cm.loglik_null},
            }
        if v is not None:
            d["calibration"]["intercept_corrected"] = float(v.table.loc["citl", "corrected"])
            d["calibration"]["slope_corrected"] = float(v.table.loc["slope", "corrected"])
            d["calibration"]["brier_corrected"] = float(v.table.loc["brier", "corrected"])
        return jsonable(d)

    def to_json(self) -> str:
        """``stats.json`` text (sorted keys are *not* used: the order follows the study)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    # ------------------------------------------------------------------ files
    def write(self, out_dir: str | Path, *, excel: bool = False, figures: bool = True,
              figure_format: str = "png") -> list[Path]:
        """Write ``tables/*.csv`` + ``tables.md`` (+ ``tables.xlsx``) and figures into ``out_dir``.

        ``stats.json`` (:meth:`to_json`) is written by the command with the project's atomic JSON writer.

        Returns
        -------
        list of Path
            The files written.
        """
        out = Path(out_dir)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        written = []
        tables = self.tables()
        md = [f"# spinebq stats: {self.source}\n", "Research use only; not a medical device.\n"]
        if self.rows is not None:
            md.append(f"\n{self.rows.sentence()}.\n")
        for name, t in tables.items():
            if t is None or t.empty:
                continue
            p = out / "tables" / f"{name}.csv"
            t.to_csv(p, float_format="%.10g", encoding=EXCEL_CSV_ENCODING)
            written.append(p)
            body = self.baseline.to_markdown() if name == "baseline" else frame_to_markdown(t, decimals=4)
            md.append(f"\n## {name.replace('_', ' ')}\n\n" + body)
        p = out / "tables.md"
        p.write_text("".join(md), encoding="utf-8")
        written.append(p)
        if excel:
            p = out / "tables.xlsx"
            with pd.ExcelWriter(p, engine="openpyxl") as xw:
                for name, t in tables.items():
                    if t is not None and not t.empty:
                        t.to_excel(xw, sheet_name=name[:31])
            written.append(p)
        if figures:
            written += self.write_figures(out / "figures", fmt=figure_format)
        return written

    def write_figures(self, fig_dir: str | Path, *, fmt: str = "png") -> list[Path]:
        """Write the ROC, calibration, decision curve, clinical impact and nomogram figures."""
        from spinebq.stats import figures as F

        d = Path(fig_dir)
        d.mkdir(parents=True, exist_ok=True)
        paths = [F.save_figure(F.roc_figure(list(self.roc.values())), d / f"roc.{fmt}")]
        if self.validation is not None and self.validation.calibration_curve is not None:
            paths.append(F.save_figure(F.calibration_figure(self.validation), d / f"calibration.{fmt}"))
        paths.append(F.save_figure(F.dca_figure(self.dca), d / f"decision_curve.{fmt}"))
        paths.append(F.save_figure(F.clinical_impact_figure(self.clinical_impact), d / f"clinical_impact.{fmt}"))
        if self.nomogram is not None:
            paths.append(F.save_figure(F.nomogram_figure(self.nomogram), d / f"nomogram.{fmt}"))
        return paths


def run_analysis(
    data: pd.DataFrame,
    outcome: str,
    predictors: Mapping[str, str],
    *,
    model: Sequence[str] | None = None,
    bootstrap: int = 1000,
    seed: int = 20240101,
    n_jobs: int = 2,
    impute: bool = False,
    icc_pairs: Sequence[Sequence[str]] = (),
    roc_bootstrap: int | None = None,
    per: Mapping[str, float | str] | None = None,
    categorical: Sequence[str] = (),
    covariates: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    event: str | None = None,
    cluster: str | None = None,
    matched: str | None = None,
    ordinal: Mapping[str, Sequence[str]] | None = None,
    source: str = "the data",
    min_events: int = 10,
) -> StudyResult:
    """Run the whole study on a table.

    Parameters
    ----------
    data : DataFrame
        The cohort, one row per patient.
    outcome : str
        Binary outcome column (1 = event).
    predictors : mapping
        ``{column: direction}``; direction ``">"``/``"lower"`` (lower values go with the event),
        ``"<"``/``"higher"``, or ``"auto"`` (inferred, reported with a warning).
    model : sequence of str, optional
        Terms of the multivariable model (default: all predictors).
    bootstrap : int
        Bootstrap samples for the optimism correction (0 skips it).
    seed : int
        Seed of every random step.
    n_jobs : int
        Processes for the bootstrap.
    impute : bool
        Also pool the multivariable model over m = 5 MICE imputations (maxit = 10).
    icc_pairs : sequence of column groups
        Each group (two or more columns: readers or repeated readings) gets an ICC.
    roc_bootstrap : int, optional
        Also give stratified bootstrap CIs of each AUC with this many resamples.
    per : mapping, optional
        Scaled ORs, e.g. ``{"st_hu": 10, "age": "sd"}``.
    categorical : sequence of str
        Numeric columns that are categories (factors, as R's ``factor()``); text columns always are.
    covariates : sequence of str
        Further columns described in the baseline table (Table 1) that enter no model.
    reference : mapping, optional
        ``{column: level}``: the reference level of a categorical column (default: the first in sorted order).
    event : str, optional
        The outcome value that is the event (default: 1 of 0/1, TRUE of TRUE/FALSE, the level that is not
        no-like, else R's second level in sorted order; see :func:`~spinebq.stats.data.validate_cohort`).
    cluster : str, optional
        Column identifying the patient when rows are screws or levels: cluster-robust standard errors
        (``rms::robcov``) and cluster bootstrap CIs of the AUCs.
    ordinal : mapping, optional
        ``{column: levels in order}``: text grades used as numbers 1, 2, ... (default: text columns are factors).
    source : str
        Name of the data used in messages and outputs.
    min_events : int
        Fewest events accepted.

    Returns
    -------
    StudyResult
    """
    from spinebq.stats.roc import normalize_direction

    t0 = time.perf_counter()
    preds = {k: normalize_direction(v) for k, v in predictors.items()}
    model_vars = list(model) if model else list(preds)
    covariates = [c for c in covariates if c not in preds and c not in model_vars]
    for grp in icc_pairs:
        if len(grp) < 2:
            raise OptionError("icc_pairs", f"group '{','.join(grp)}' needs at least two columns (one per reader).")
    icc_cols = list(dict.fromkeys(c for grp in icc_pairs for c in grp))
    missing = [c for c in icc_cols if c not in data.columns]
    if missing:
        raise OptionError("icc_pairs", f"{source} has no column {', '.join(repr(m) for m in missing)} (columns are: "
                                       f"{', '.join(map(str, data.columns[:12]))}{', ...' if data.shape[1] > 12 else ''}).")
    with warnings.catch_warnings(record=True) as caught_reading:
        warnings.simplefilter("always", StatsWarning)
        cohort = validate_cohort(data, outcome, list(preds) + model_vars + list(covariates) + icc_cols,
                                 source=source, min_events=min_events, categorical=categorical, reference=reference,
                                 event=event, ids=[c for c in (cluster, matched) if c], describe_only=covariates,
                                 ordinal=ordinal)
    for c in icc_cols:  # an ICC compares numbers: a text column became a factor (dummies) or was left out
        if c in cohort.factors or c in cohort.left_out:
            held = (f"holds the texts {', '.join(repr(v) for v in cohort.factors[c].levels[:4])}"
                    f"{', ...' if len(cohort.factors[c].levels) > 4 else ''}" if c in cohort.factors
                    else f"cannot be used: {cohort.left_out[c]}")
            raise OptionError("icc_pairs", f"ICC columns must hold numbers (one measurement per reader), but column "
                                           f"'{c}' in {source} {held}.")
    cluster_ids = cohort.ids[cluster].astype(str).to_numpy() if cluster else None
    named = [c for c in list(preds) + model_vars if c in cohort.left_out]
    if named:
        c = named[0]
        raise OptionError("predictors" if c in preds else "model",
                          f"column '{c}' in {source} cannot be analysed: {cohort.left_out[c]}.")
    per = dict(per or {})
    for k in per:
        if k not in preds and k not in model_vars:
            raise OptionError("per", f"'{k}' is not a predictor or model term, so it has no odds ratio.")
        if k in cohort.factors:
            raise OptionError("per", f"'{k}' is categorical; its odds ratios are per level, not per unit.")
    df = cohort.data
    y = df[outcome].to_numpy(float)
    model_terms = cohort.design_terms(model_vars)
    table_vars = [c for c in dict.fromkeys(list(preds) + model_vars + list(covariates)) if c not in cohort.left_out]
    table_data = df[[outcome] + [c for c in table_vars if c not in cohort.factors]].join(cohort.labels)
    caught_msgs: list[str] = []
    skipped_roc: list[str] = []
    validation_skipped = None  # why the bootstrap validation asked for was not run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatsWarning)
        base = baseline_table(table_data, outcome, table_vars, categorical=list(categorical) + list(cohort.factors))
        roc_x = {}
        for k in preds:
            terms = cohort.terms(k)
            if len(terms) > 1:
                skipped_roc.append(f"{k!r} is categorical with {len(terms) + 1} levels, so it has no ROC curve; "
                                   "it enters the logistic models only")
                continue
            roc_x[k] = terms[0]
        roc = {k: roc_analysis(y, df[roc_x[k]].to_numpy(float), preds[k], name=k, bootstrap=roc_bootstrap,
                               seed=seed, cluster=cluster_ids)
               for k in roc_x}
        dummies = cohort.dummies()
        uni = {k: fit_logistic(df, outcome, cohort.terms(k), per=per, cluster=cluster_ids, dummies=dummies)
               for k in dict.fromkeys(list(preds) + model_vars)}
        multi = fit_logistic(df, outcome, model_terms, per=per, cluster=cluster_ids, dummies=dummies)
        vif, cond = collinearity(df, model_terms)
        keep_rows = df[[outcome] + model_terms].notna().all(axis=1).to_numpy()
        cc = df[[outcome] + model_terms][keep_rows]
        yc = cc[outcome].to_numpy(float)
        p = multi.predict(cc)
        cc_cluster = None if cluster_ids is None else cluster_ids[keep_rows]
        roc[MODEL] = roc_analysis(yc, p, "<", name=MODEL, bootstrap=roc_bootstrap, seed=seed, cluster=cc_cluster)
        tests = {}
        for k, col in roc_x.items():
            if col in cc.columns:
                tests[f"{MODEL}_vs_{k}"] = paired_delong_test(yc, p, cc[col].to_numpy(float), "<", roc[k].direction,
                                                              names=(MODEL, k))
            else:
                pk = np.full(len(df), np.nan)
                pk[keep_rows] = p
                tests[f"{MODEL}_vs_{k}"] = paired_delong_test(y, pk, df[col].to_numpy(float), "<", roc[k].direction,
                                                              names=(MODEL, k))
        cal = calibration_stats(yc, p)
        hl = hosmer_lemeshow(yc, p, g=10)
        val = None
        if bootstrap and bootstrap > 0 and multi.separation:
            validation_skipped = NO_VALIDATION_SEPARATED
        elif bootstrap and bootstrap > 0:
            X = np.column_stack([np.ones(len(cc))] + [cc[t].to_numpy(float) for t in model_terms])
            val = bootstrap_validation(X, yc, B=int(bootstrap), seed=seed, n_jobs=n_jobs, groups=cc_cluster)
        dca = decision_curve(yc, p)
        cic = clinical_impact(yc, p)
        nomo = None if multi.separation else nomogram_from_fit(
            multi, cc, factors={k: f for k, f in cohort.factors.items() if k in model_vars})
        cors = {}
        cont = [k for k in roc_x if k not in cohort.factors and np.unique(df[k].dropna()).size > 2]
        for a, b in itertools.combinations(cont, 2):
            cors[f"{a}~{b}"] = correlation(df[a].to_numpy(float), df[b].to_numpy(float), names=(a, b))
        iccs = {}
        for grp in icc_pairs:
            iccs["+".join(grp)] = icc(df[list(grp)])
        cond_uni, cond_multi = {}, None
        if matched:
            strata = cohort.ids[matched].astype(str).to_numpy()
            cond_uni = {k: fit_conditional_logistic(df, outcome, cohort.terms(k), strata) for k in uni}
            cond_multi = fit_conditional_logistic(df, outcome, model_terms, strata)
        pooled = pooled_auc = None
        if impute:
            imp_cols = [outcome] + model_terms
            sets = mice_pmm(df[imp_cols], m=5, maxit=10, seed=seed)
            pooled = pool_logistic(sets, outcome, model_terms, cluster=cluster_ids)
            pooled_auc = pool_auc(sets, outcome, model_terms)
    caught = caught_reading + caught
    for w in caught:  # once each: a one-predictor model repeats its univariable fit's warnings
        if str(w.message) not in caught_msgs:
            caught_msgs.append(str(w.message))
    for w in caught:  # pass them on to the caller, too
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    notes = list(cohort.notes) + skipped_roc
    if cond_multi is not None:
        notes.append(f"matched design on '{matched}' ({cond_multi.n_sets} sets): report the conditional odds ratios "
                     "(clogit); the unconditional model's calibration, decision curve and nomogram ignore the "
                     "matching, and absolute risks cannot be estimated from a case-control sample")
        notes += cond_multi.notes
    for r in roc.values():
        notes += [n for n in r.notes if n not in caught_msgs]
    if validation_skipped:
        notes.append(validation_skipped)
    if nomo is None:
        notes.append(NO_NOMOGRAM_SEPARATED)
    if val is not None:
        notes += val.notes
        if cluster:
            notes.append(f"the bootstrap validation resamples whole clusters ('{cluster}'), not rows")
    if impute and cluster:
        notes.append(f"the pooled model's standard errors are cluster-robust ('{cluster}'); the pooled AUC's interval "
                     "(DeLong within each imputation) is too narrow, as the rows are not independent; the imputations "
                     "themselves ignore the clusters")
    if impute and matched:
        notes.append(f"the model pooled over the imputations is the unconditional one: it ignores the matching on "
                     f"'{matched}'; the conditional odds ratios (clogit) are of the complete cases")
    if impute:
        incomplete = [k for k, f in cohort.factors.items() if k in model_vars and len(f.terms) > 1
                      and cohort.labels[k].isna().any()]
        if incomplete:
            notes.append(f"the dummies of {', '.join(repr(k) for k in incomplete)} were imputed one by one (pmm), "
                         "not as one categorical variable")
    settings = {"bootstrap": int(bootstrap or 0), "seed": int(seed), "n_jobs": int(n_jobs), "impute": bool(impute),
                "mice": {"m": 5, "maxit": 10, "method": "pmm"} if impute else None,
                "roc_bootstrap": roc_bootstrap, "cluster": cluster, "matched": matched, "youden_ties": "lowest threshold",
                "hosmer_lemeshow_groups": 10, "dca_positive_rule": "p >= threshold",
                "baseline_levene_center": "mean"}
    return StudyResult(
        source=source, outcome=outcome, n=len(df), n_events=int(y.sum()), predictors=preds,
        model_terms=model_terms, baseline=base, roc=roc, delong_tests=tests, univariable=uni, multivariable=multi,
        vif=vif, condition=cond, calibration=cal, hosmer_lemeshow=hl, validation=val, dca=dca,
        clinical_impact=cic, nomogram=nomo, correlations=cors, icc=iccs, imputation=pooled,
        warnings=caught_msgs, notes=notes, seconds=time.perf_counter() - t0, settings=settings,
        matched_on=matched, conditional_univariable=cond_uni, conditional_multivariable=cond_multi,
        pooled_auc=pooled_auc, factors=cohort.factors, event=cohort.event,
        rows=account_rows(data, cohort, model_vars))
