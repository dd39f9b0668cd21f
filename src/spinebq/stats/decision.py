"""Decision curve analysis (Vickers & Elkin 2006) and the clinical impact curve (Kerr et al. 2016).

* Net benefit NB(t) = TP/n - FP/n * t / (1 - t), a patient being positive when ``p >= t``.
* Treat all: NB = pi - (1 - pi) * t / (1 - t); treat none: 0.
* Clinical impact for N = 1000: number high risk = N * P(p >= t), with event = N * P(p >= t, y = 1).

R equivalents: ``dcurves::dca(y ~ p, data, thresholds = (1:99)/100)`` and
``rmda::plot_clinical_impact(dc, population.size = 1000)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spinebq.stats._result import Result, complete_pairs

__all__ = ["decision_curve", "clinical_impact", "DecisionCurveResult", "ClinicalImpactResult", "DEFAULT_THRESHOLDS"]

DEFAULT_THRESHOLDS = np.arange(1, 100) / 100.0


@dataclass
class DecisionCurveResult(Result):
    """Net benefit of a model against treat-all and treat-none over the thresholds."""

    table: pd.DataFrame
    prevalence: float
    n: int

    @property
    def summary(self) -> pd.DataFrame:
        """``threshold, model, treat_all, treat_none, tp, fp`` per threshold."""
        return self.table

    def useful_intervals(self) -> list[tuple[float, float]]:
        """Runs of consecutive thresholds where the model beats both treat-all and treat-none.

        Each run is ``(first, last)`` threshold; a run of one threshold has ``first == last``. Empty if never.
        """
        t = self.table
        good = ((t["model"] > t["treat_all"]) & (t["model"] > 0)).to_numpy()
        edges = np.flatnonzero(np.diff(np.concatenate([[0], good.astype(int), [0]])))
        thr = t["threshold"].to_numpy(float)
        return [(float(thr[a]), float(thr[b - 1])) for a, b in zip(edges[::2], edges[1::2])]

    def useful_range(self) -> tuple[float, float] | None:
        """First and last threshold where the model beats both (None if never); between them it may not, see
        :meth:`useful_intervals`."""
        runs = self.useful_intervals()
        return (runs[0][0], runs[-1][1]) if runs else None

    def to_dict(self) -> dict:
        """``{"thresholds", "model", "treat_all", "treat_none", "prevalence", ...}``.

        ``model_better_range`` is ``[first, last]`` threshold where the model beats treat-all and treat-none
        (None if never); ``model_better_intervals`` lists every run ``[first, last]`` where it does, so a
        range with gaps shows them.
        """
        rng = self.useful_range()
        return {"thresholds": self.table["threshold"].tolist(), "model": self.table["model"].tolist(),
                "treat_all": self.table["treat_all"].tolist(), "treat_none": self.table["treat_none"].tolist(),
                "prevalence": self.prevalence, "n": self.n,
                "model_better_range": list(rng) if rng else None,
                "model_better_intervals": [list(r) for r in self.useful_intervals()],
                "positive_rule": "p >= threshold"}


def decision_curve(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray | None = None) -> DecisionCurveResult:
    """Net benefit of predictions ``p`` (probabilities) for outcomes ``y`` at each threshold.

    Parameters
    ----------
    y : array of {0, 1}
    p : array of float
        Predicted probabilities; missing pairs are dropped.
    thresholds : array, optional
        Threshold probabilities in [0, 1); default 0.01, 0.02, ..., 0.99.

    Returns
    -------
    DecisionCurveResult

    Examples
    --------
    >>> r = decision_curve([0, 1, 1, 0], [0.2, 0.8, 0.6, 0.4], [0.5])
    >>> float(r.table["model"].iloc[0])
    0.5
    """
    y, p = complete_pairs(y, p)
    t = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, float)
    n = y.size
    pos = p[None, :] >= t[:, None]
    tp = (pos & (y[None, :] == 1)).sum(axis=1)
    fp = (pos & (y[None, :] == 0)).sum(axis=1)
    odds = t / (1 - t)
    prev = float(y.mean())
    table = pd.DataFrame({"threshold": t, "model": tp / n - fp / n * odds,
                          "treat_all": prev - (1 - prev) * odds, "treat_none": np.zeros_like(t),
                          "tp": tp, "fp": fp})
    return DecisionCurveResult(table=table, prevalence=prev, n=n)


@dataclass
class ClinicalImpactResult(Result):
    """Clinical impact curve: per ``population`` patients, the number classified high risk and true events."""

    table: pd.DataFrame
    population: int

    @property
    def summary(self) -> pd.DataFrame:
        """``threshold, cost_benefit, n_high_risk, n_high_risk_with_event``."""
        return self.table

    def to_dict(self) -> dict:
        """JSON-ready columns."""
        return {"population": self.population, **{c: self.table[c].tolist() for c in self.table.columns}}


def clinical_impact(
    y: np.ndarray, p: np.ndarray, thresholds: np.ndarray | None = None, *, population: int = 1000
) -> ClinicalImpactResult:
    """Clinical impact curve (Kerr et al. 2016) for ``population`` patients.

    Returns
    -------
    ClinicalImpactResult
        ``cost_benefit`` is the ratio t : (1 - t) written as a string ``"1:k"``.
    """
    y, p = complete_pairs(y, p)
    t = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, float)
    pos = p[None, :] >= t[:, None]
    high = population * pos.mean(axis=1)
    high_ev = population * (pos & (y[None, :] == 1)).mean(axis=1)
    cb = [f"1:{(1 - v) / v:.3g}" if v > 0 else "1:inf" for v in t]
    table = pd.DataFrame({"threshold": t, "cost_benefit": cb, "n_high_risk": high,
                          "n_high_risk_with_event": high_ev})
    return ClinicalImpactResult(table=table, population=population)
