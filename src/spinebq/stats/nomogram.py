"""Nomograms for logistic models: points scales, total points, risk axis, scoring and the figure.

Scaling as ``rms::nomogram``: each predictor's contribution ``b_k * x`` is shifted so that its least
risky value scores 0; the predictor with the widest contribution range over its axis gets 0-100 points and
the others are scaled by the same factor. Total points map linearly to the linear predictor and through
the inverse logit to the risk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from spinebq.stats._result import Result
from spinebq.stats.data import Factor
from spinebq.stats.logistic import LogisticResult, expit, logit

__all__ = ["Nomogram", "nomogram_from_fit"]

#: a whole-number predictor with at most this many distinct values gets a tick at each observed value
FEW_VALUES = 12


def _nice_ticks(lo: float, hi: float, n: int = 6, *, integer: bool = False) -> np.ndarray:
    """Round tick values across ``[lo, hi]``; with ``integer`` only whole numbers (a grade's real values)."""
    span = hi - lo
    if span <= 0:
        return np.array([lo])
    raw = span / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    if integer:
        step = max(1.0, float(np.ceil(step)))
    start = np.ceil(lo / step - 1e-9) * step
    ticks = np.arange(start, hi + step * 1e-6, step)
    return np.round(ticks, 10)


@dataclass
class Nomogram(Result):
    """A logistic nomogram.

    Attributes
    ----------
    intercept : float
        Model intercept (log-odds).
    coefs : dict
        ``{predictor: coefficient per unit}``.
    ranges : dict
        ``{predictor: (low, high)}`` axis range in the predictor's units.
    labels : dict
        Axis labels (default: the names).
    levels : dict
        ``{categorical predictor: {level: log-odds against the reference}}`` (the reference has 0); such a
        predictor has one axis with a tick per level.
    integer : list of str
        Numeric predictors holding whole numbers only (grades, counts): their ticks are whole numbers.
    tick_values : dict
        ``{predictor: values}``: the ticks of a predictor with few distinct values (its observed values).
    """

    intercept: float
    coefs: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    labels: dict[str, str] = field(default_factory=dict)
    levels: dict[str, dict[str, float]] = field(default_factory=dict)
    integer: list[str] = field(default_factory=list)
    tick_values: dict[str, list[float]] = field(default_factory=dict)

    @property
    def axes(self) -> list[str]:
        """Predictor axes in order: the numeric ones, then the categorical ones."""
        return list(self.coefs) + list(self.levels)

    def _width(self, k: str) -> float:
        if k in self.levels:
            v = list(self.levels[k].values())
            return max(v) - min(v)
        return abs(self.coefs[k]) * (self.ranges[k][1] - self.ranges[k][0])

    @property
    def scale(self) -> float:
        """Log-odds per point: (largest contribution range) / 100."""
        widths = [self._width(k) for k in self.axes]
        m = max(widths) if widths else 0.0
        return m / 100.0 if m > 0 else 1.0

    def _base(self, k: str) -> float:
        if k in self.levels:
            return min(self.levels[k].values())
        lo, hi = self.ranges[k]
        b = self.coefs[k]
        return min(b * lo, b * hi)

    def _contribution(self, k: str, x) -> np.ndarray:
        if k in self.levels:
            vals = [x] if isinstance(x, str) or np.ndim(x) == 0 else list(x)
            try:
                out = np.array([self.levels[k][str(v)] for v in vals], float)
            except KeyError as exc:
                raise ValueError(f"{exc.args[0]!r} is not a level of {k!r} "
                                 f"(levels: {', '.join(self.levels[k])})") from None
            return out[0] if isinstance(x, str) or np.ndim(x) == 0 else out
        return self.coefs[k] * np.asarray(x, float)

    def points(self, k: str, x) -> np.ndarray:
        """Points of value(s) ``x`` of predictor ``k`` (level labels for a categorical one)."""
        return (self._contribution(k, x) - self._base(k)) / self.scale

    def total_to_probability(self, total: float | np.ndarray) -> np.ndarray:
        """Risk for a total number of points."""
        lp = self.intercept + sum(self._base(k) for k in self.axes) + np.asarray(total, float) * self.scale
        return expit(np.atleast_1d(lp))

    def probability_to_total(self, p: float | np.ndarray) -> np.ndarray:
        """Total points giving risk ``p``."""
        lp = logit(np.asarray(p, float))
        return (lp - self.intercept - sum(self._base(k) for k in self.axes)) / self.scale

    def score(self, patient: Mapping[str, float | str]) -> dict:
        """Score one patient: ``{"points": {k: pts}, "total_points", "linear_predictor", "probability"}``.

        Values outside an axis range are scored by extrapolation and listed in ``"outside_range"``.
        """
        pts = {k: float(self.points(k, patient[k])) for k in self.axes}
        total = sum(pts.values())
        lp = self.intercept + sum(float(self._contribution(k, patient[k])) for k in self.axes)
        outside = [k for k in self.coefs if not self.ranges[k][0] <= float(patient[k]) <= self.ranges[k][1]]
        return {"points": pts, "total_points": total, "linear_predictor": lp,
                "probability": float(expit(np.array([lp]))[0]), "outside_range": outside}

    def ticks(self, k: str) -> list:
        """Tick values of axis ``k``: round numbers, whole ones for integer predictors, the levels of a factor."""
        if k in self.levels:
            return list(self.levels[k])
        if k in self.tick_values:
            return [float(v) + 0.0 for v in self.tick_values[k]]
        return [float(v) + 0.0 for v in _nice_ticks(*self.ranges[k], integer=k in self.integer)]

    def points_table(self, ticks: Mapping[str, Sequence[float]] | None = None) -> pd.DataFrame:
        """Points for the tick values of every predictor (``predictor, value, points``)."""
        rows = []
        for k in self.axes:
            vals = ticks[k] if ticks and k in ticks else self.ticks(k)
            for v in vals:
                rows.append({"predictor": k, "value": v, "points": float(self.points(k, v))})
        return pd.DataFrame(rows)

    def risk_table(self, probabilities: Sequence[float] = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                                                          0.9, 0.95, 0.99)) -> pd.DataFrame:
        """Total points for a set of risks (``probability, total_points``)."""
        p = np.asarray(probabilities, float)
        return pd.DataFrame({"probability": p, "total_points": self.probability_to_total(p)})

    @property
    def summary(self) -> pd.DataFrame:
        """The points table."""
        return self.points_table()

    def to_dict(self) -> dict:
        """Coefficients (factor dummies named as R prints them, too), ranges, levels, points per unit, risk table."""
        dummies = {f"{k}{lv}": b for k, lv_map in self.levels.items() for lv, b in list(lv_map.items())[1:]}
        return {"intercept": self.intercept, "coefficients": self.coefs | dummies,
                "ranges": {k: list(v) for k, v in self.ranges.items()}, "log_odds_per_point": self.scale,
                "levels": self.levels,
                "points_per_unit": {k: float(b / self.scale) for k, b in self.coefs.items()},
                "risk_table": self.risk_table().to_dict(orient="list")}

    def plot(self, ax=None, *, title: str | None = "Nomogram"):
        """Draw the nomogram (points axis, one axis per predictor, total points, risk) on ``ax``.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        names = self.axes
        rows = ["Points"] + [self.labels.get(k, k) for k in names] + ["Total points", "Risk"]
        if ax is None:
            fig, ax = plt.subplots(figsize=(9, 0.75 * len(rows) + 1.2))
        else:
            fig = ax.figure
        pt = self.risk_table((0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999))
        max_pts = 100.0
        totals_max = sum(self._width(k) for k in names) / self.scale
        tick_total = _nice_ticks(0, totals_max, 8)
        # The bottom two axes are drawn on the total-points scale, mapped to [0, 100] width.
        f = max_pts / totals_max if totals_max > 0 else 1.0
        y = len(rows)

        def axis(yv, xs, labels, label):
            ax.hlines(yv, min(xs), max(xs), color="black", lw=1)
            for xv, lab in zip(xs, labels):
                ax.vlines(xv, yv, yv + 0.12, color="black", lw=1)
                ax.text(xv, yv + 0.18, lab, ha="center", va="bottom", fontsize=8)
            ax.text(-3, yv, label, ha="right", va="center", fontsize=9)

        pts_ticks = np.arange(0, 101, 10)
        axis(y, pts_ticks, [f"{v:g}" for v in pts_ticks], "Points")
        for i, k in enumerate(names, start=1):
            vals = self.ticks(k)
            axis(y - i, self.points(k, vals), [v if isinstance(v, str) else f"{v:g}" for v in vals],
                 self.labels.get(k, k))
        yt = y - len(names) - 1
        axis(yt, tick_total * f, [f"{v + 0.0:g}" for v in tick_total], "Total points")
        pr = pt[(pt["total_points"] >= 0) & (pt["total_points"] <= totals_max)]
        xs_r, labs_r = [], []
        for xv, pv in zip(pr["total_points"].to_numpy() * f, pr["probability"]):
            if not xs_r or xv - xs_r[-1] >= 5.5:  # keep labels apart
                xs_r.append(xv)
                labs_r.append(f"{pv:g}")
        if xs_r:
            axis(yt - 1, np.array(xs_r), labs_r, "Risk")
        ax.set_xlim(-40, 105)
        ax.set_ylim(yt - 1.6, y + 0.8)
        ax.axis("off")
        if title:
            ax.set_title(title)
        return fig


def nomogram_from_fit(fit: LogisticResult, data: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                      ranges: Mapping[str, tuple[float, float]] | None = None,
                      factors: Mapping[str, Factor] | None = None) -> Nomogram:
    """Build the :class:`Nomogram` of a fitted logistic model; axis ranges default to the observed ranges.

    The dummies of each factor in ``factors`` make one axis with a tick per level; a numeric predictor
    holding whole numbers only gets whole-number ticks.
    """
    levels = {}
    dummies = set()
    for name, fac in (factors or {}).items():
        levels[name] = {fac.levels[0]: 0.0} | {lv: float(fit.table.loc[t, "coef"])
                                              for lv, t in zip(fac.levels[1:], fac.terms)}
        dummies.update(fac.terms)
    numeric = [t for t in fit.terms if t not in dummies]
    coefs = {t: float(fit.table.loc[t, "coef"]) for t in numeric}
    rng = {}
    integer = []
    tick_values = {}
    for t in numeric:
        x = pd.to_numeric(data[t], errors="coerce").dropna()
        if x.size and np.all(x == np.round(x)):
            integer.append(t)
            seen = np.unique(x)
            if seen.size <= FEW_VALUES and not (ranges and t in ranges):
                tick_values[t] = seen.tolist()
        if ranges and t in ranges:
            rng[t] = tuple(map(float, ranges[t]))
        else:
            rng[t] = (float(x.min()), float(x.max()))
    return Nomogram(intercept=float(fit.table.loc["(Intercept)", "coef"]), coefs=coefs, ranges=rng,
                    labels=dict(labels or {}), levels=levels, integer=integer,
                    tick_values=tick_values)
