"""Cohort statistics that match R (pROC, rms/glm, mice, psych): ROC/DeLong/Youden, logistic regression,
calibration and bootstrap validation, decision curves, ICC, multiple imputation and nomograms.

Research use only; not a medical device. Conventions: docs/methods.md sections 7 and 7.1.
"""
from spinebq.stats._result import (ConvergenceWarning, DirectionWarning, PerfectSeparationWarning, Result,
                                   StatsWarning)
from spinebq.stats.agreement import correlation, icc
from spinebq.stats.analysis import StudyResult, run_analysis
from spinebq.stats.baseline import baseline_table
from spinebq.stats.data import parse_predictors, read_table, validate_cohort
from spinebq.stats.decision import clinical_impact, decision_curve
from spinebq.stats.imputation import mice_pmm, pool_logistic, rubin_pool
from spinebq.stats.logistic import collinearity, fit_logistic, univariable_screen
from spinebq.stats.nomogram import Nomogram, nomogram_from_fit
from spinebq.stats.performance import bootstrap_validation, calibration_stats, hosmer_lemeshow
from spinebq.stats.roc import bootstrap_auc_ci, paired_delong_test, roc_analysis, roc_curve

__all__ = [
    "ConvergenceWarning", "DirectionWarning", "PerfectSeparationWarning", "Result", "StatsWarning",
    "StudyResult", "Nomogram", "baseline_table", "bootstrap_auc_ci", "bootstrap_validation",
    "calibration_stats", "clinical_impact", "collinearity", "correlation", "decision_curve", "fit_logistic",
    "hosmer_lemeshow", "icc", "mice_pmm", "nomogram_from_fit", "paired_delong_test", "parse_predictors",
    "pool_logistic", "read_table", "roc_analysis", "roc_curve", "rubin_pool", "run_analysis",
    "univariable_screen", "validate_cohort",
]
