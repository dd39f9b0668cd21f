"""ROC analysis matching ``pROC``: AUC, DeLong CI (fast algorithm), paired DeLong test, Youden cut-offs.

Conventions (docs/methods.md section 7.1):

* The **direction** is always explicit. ``"<"`` (alias ``"higher"``) means cases have *higher* values
  than controls (VBQ, PBQ): a patient is test-positive when ``x > t``. ``">"`` (alias ``"lower"``)
  means cases have *lower* values (bone density, HU): test-positive when ``x < t``. Inferring it from the
  data (``direction="auto"``, the pROC rule: compare the medians) is possible but returns a
  :class:`~spinebq.stats.DirectionWarning` and records ``direction_inferred=True``.
* AUC counts ties as 1/2. The DeLong variance uses the structural components (placement values) computed
  from mid-ranks in O(n log n) (Sun & Xu 2014), with sample variances (n - 1).
* Thresholds are midpoints of consecutive unique observed values, plus -inf and +inf.
* Youden's J = Se + Sp - 1 (no prevalence weighting). Among tied optima the lowest threshold is
  reported (all tied thresholds are kept in ``youden_ties``).
"""
from __future__ import annotations

from collections.abc import Sequence

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from spinebq.stats._result import DirectionWarning, Result

__all__ = [
    "normalize_direction",
    "infer_direction",
    "auc_score",
    "delong_placements",
    "delong_variance",
    "roc_curve",
    "youden",
    "roc_analysis",
    "cluster_bootstrap_auc_ci",
    "paired_delong_test",
    "bootstrap_auc_ci",
    "RocResult",
    "DelongTestResult",
]

Direction = Literal["<", ">"]
_Z975 = float(sps.norm.ppf(0.975))


#: resamples of the cluster bootstrap of an AUC when none are asked for
CLUSTER_BOOTSTRAP_N = 2000


def normalize_direction(direction: str) -> str:
    """Map ``"<"``, ``"higher"``, ``">"``, ``"lower"`` and ``"auto"`` to ``"<"``, ``">"`` or ``"auto"``.

    Raises
    ------
    ValueError
        For any other value.
    """
    d = str(direction).strip().lower()
    mapping = {"<": "<", "higher": "<", "high": "<", ">": ">", "lower": ">", "low": ">", "auto": "auto"}
    if d not in mapping:
        raise ValueError(f"direction must be '<'/'higher', '>'/'lower' or 'auto', not {direction!r}")
    return mapping[d]


def _clean(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if y.shape != x.shape:
        raise ValueError(f"y and x must have the same shape, got {y.shape} and {x.shape}")
    ok = ~(np.isnan(y) | np.isnan(x))
    yy, xx = y[ok], x[ok]
    if not np.all((yy == 0) | (yy == 1)):
        raise ValueError("y must contain only 0 (control), 1 (case) or NaN")
    if yy.sum() == 0 or yy.sum() == yy.size:
        raise ValueError("ROC analysis needs at least one case and one control")
    return yy.astype(bool), xx, int((~ok).sum())


def infer_direction(y: np.ndarray, x: np.ndarray) -> str:
    """Return the direction pROC's ``direction="auto"`` would pick.

    ``"<"`` when ``median(controls) <= median(cases)``, else ``">"``.
    """
    yy, xx, _ = _clean(y, x)
    return "<" if np.median(xx[~yy]) <= np.median(xx[yy]) else ">"


def delong_placements(y: np.ndarray, x: np.ndarray, direction: str) -> tuple[float, np.ndarray, np.ndarray]:
    """DeLong structural components by mid-ranks (fast algorithm, O(n log n)).

    Parameters
    ----------
    y : array of {0, 1}
        Outcome; 1 = case. No missing values.
    x : array of float
        Predictor, no missing values.
    direction : {"<", ">"}
        See the module docstring.

    Returns
    -------
    auc : float
        Area under the ROC curve (ties count 1/2).
    v10 : ndarray, shape (n_cases,)
        Placement of each case: fraction of controls it beats.
    v01 : ndarray, shape (n_controls,)
        Placement of each control: fraction of cases that beat it.
    """
    d = normalize_direction(direction)
    if d == "auto":
        raise ValueError("delong_placements needs an explicit direction")
    yb = np.asarray(y).astype(bool)
    s = np.asarray(x, dtype=float)
    if d == ">":
        s = -s
    cases, controls = s[yb], s[~yb]
    n1, n0 = cases.size, controls.size
    r_all = sps.rankdata(np.concatenate([cases, controls]))
    r1 = sps.rankdata(cases)
    r0 = sps.rankdata(controls)
    v10 = (r_all[:n1] - r1) / n0
    v01 = 1.0 - (r_all[n1:] - r0) / n1
    return float(v10.mean()), v10, v01


def delong_variance(v10: np.ndarray, v01: np.ndarray) -> float:
    """DeLong variance of the AUC from the placements: ``var(V10)/n1 + var(V01)/n0`` (n - 1 denominators)."""
    n1, n0 = v10.size, v01.size
    s10 = np.var(v10, ddof=1) if n1 > 1 else 0.0
    s01 = np.var(v01, ddof=1) if n0 > 1 else 0.0
    return float(s10 / n1 + s01 / n0)


def auc_score(y: np.ndarray, x: np.ndarray, direction: str) -> float:
    """AUC of ``x`` for outcome ``y`` in the given direction (missing pairs dropped)."""
    yy, xx, _ = _clean(y, x)
    return delong_placements(yy, xx, direction)[0]


def _auc_fast(yb: np.ndarray, s: np.ndarray) -> float:
    """AUC (direction '<') by the Mann-Whitney rank sum; ``yb`` boolean."""
    n1 = int(yb.sum())
    n0 = yb.size - n1
    r = sps.rankdata(s)
    return float((r[yb].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def roc_curve(y: np.ndarray, x: np.ndarray, direction: str) -> pd.DataFrame:
    """Empirical ROC curve at pROC's thresholds.

    Returns
    -------
    DataFrame
        Columns ``threshold, tp, fp, tn, fn, sensitivity, specificity``, one row per threshold, from
        -inf to +inf. For ``"<"`` a patient is positive when ``x > threshold``; for ``">"`` when
        ``x < threshold``.
    """
    d = normalize_direction(direction)
    yy, xx, _ = _clean(y, x)
    u = np.unique(xx)
    thr = np.concatenate([[-np.inf], (u[1:] + u[:-1]) / 2.0, [np.inf]])
    cases = np.sort(xx[yy])
    controls = np.sort(xx[~yy])
    n1, n0 = cases.size, controls.size
    above_cases = n1 - np.searchsorted(cases, thr, side="right")  # cases with x > t
    above_controls = n0 - np.searchsorted(controls, thr, side="right")
    if d == "<":
        tp, fp = above_cases, above_controls
    else:
        tp = np.searchsorted(cases, thr, side="left")  # x < t
        fp = np.searchsorted(controls, thr, side="left")
    tn = n0 - fp
    fn = n1 - tp
    return pd.DataFrame(
        {
            "threshold": thr,
            "tp": tp.astype(int),
            "fp": fp.astype(int),
            "tn": tn.astype(int),
            "fn": fn.astype(int),
            "sensitivity": tp / n1,
            "specificity": tn / n0,
        }
    )


def _safe_div(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def youden(curve: pd.DataFrame) -> dict:
    """Best Youden cut-off of a :func:`roc_curve` table.

    J is compared exactly in integers (``tp*n0 + tn*n1``); among tied optima the lowest threshold wins.

    Returns
    -------
    dict
        ``threshold, sensitivity, specificity, ppv, npv, accuracy, j, tp, fp, tn, fn, ties`` where
        ``ties`` lists every threshold reaching the maximum. PPV/NPV are NaN when their denominator is 0.
    """
    n1 = int(curve["tp"].iloc[0] + curve["fn"].iloc[0])
    n0 = int(curve["tn"].iloc[0] + curve["fp"].iloc[0])
    score = curve["tp"].to_numpy(np.int64) * n0 + curve["tn"].to_numpy(np.int64) * n1
    best = score == score.max()
    idx = np.flatnonzero(best)
    ties = curve["threshold"].to_numpy()[idx]
    i = idx[np.argmin(ties)]
    row = curve.iloc[i]
    tp, fp, tn, fn = (int(row[k]) for k in ("tp", "fp", "tn", "fn"))
    se, sp = tp / n1, tn / n0
    return {
        "threshold": float(row["threshold"]),
        "sensitivity": se,
        "specificity": sp,
        "ppv": _safe_div(tp, tp + fp),
        "npv": _safe_div(tn, tn + fn),
        "accuracy": (tp + tn) / (n1 + n0),
        "j": se + sp - 1.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "ties": [float(t) for t in np.sort(ties)],
    }


def event_rule(direction: str, threshold: float, levels: Sequence[str] | None = None) -> str:
    """The Youden cut-off as the rule it states: ``"> 111"`` or, for a two-level factor (its 0/1 dummy), ``"= 'Yes'"``.

    Parameters
    ----------
    direction : str
        ``"<"`` (controls below cases: higher values go with the event) or ``">"``.
    threshold : float
        The Youden threshold.
    levels : sequence of str, optional
        The factor's levels, reference first: the dummy is 1 for the second.

    Examples
    --------
    >>> event_rule("<", 111.0), event_rule(">", 27.5), event_rule("<", 0.5, ["No", "Yes"])
    ('> 111', '< 27.5', "= 'Yes'")
    """
    if levels is not None:
        return f"= {(levels[1] if direction == '<' else levels[0])!r}"
    return f"{'>' if direction == '<' else '<'} {threshold:.4g}"


@dataclass
class RocResult(Result):
    """ROC analysis of one predictor.

    Attributes
    ----------
    name : str
        Predictor name.
    direction : {"<", ">"}
        ``"<"``: higher values go with the event; ``">"``: lower values go with the event.
    direction_inferred : bool
        True when the direction came from the data (pROC's median rule) rather than the user.
    auc, auc_se, auc_ci : float, float, (float, float)
        AUC, DeLong standard error and 95 % DeLong CI (clipped to [0, 1]).
    youden : dict
        See :func:`youden`.
    curve : DataFrame
        See :func:`roc_curve`.
    n_cases, n_controls, n_missing : int
        Counts used; ``n_missing`` pairs were dropped.
    auc_ci_bootstrap : (float, float) or None
        Stratified percentile bootstrap CI when requested.
    """

    name: str
    direction: str
    direction_inferred: bool
    auc: float
    auc_se: float
    auc_ci: tuple[float, float]
    youden: dict
    curve: pd.DataFrame
    n_cases: int
    n_controls: int
    n_missing: int
    conf_level: float = 0.95
    auc_ci_bootstrap: tuple[float, float] | None = None
    bootstrap_n: int | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """One row: predictor, direction, AUC and CI, Youden cut-off and its diagnostic values."""
        y = self.youden
        row = {
            "predictor": self.name,
            "direction": self.direction,
            "direction_inferred": self.direction_inferred,
            "n_cases": self.n_cases,
            "n_controls": self.n_controls,
            "auc": self.auc,
            "auc_ci_low": self.auc_ci[0],
            "auc_ci_high": self.auc_ci[1],
            "cutoff": y["threshold"],
            "sensitivity": y["sensitivity"],
            "specificity": y["specificity"],
            "ppv": y["ppv"],
            "npv": y["npv"],
            "accuracy": y["accuracy"],
            "youden_j": y["j"],
        }
        if self.auc_ci_bootstrap is not None:
            row["auc_boot_ci_low"], row["auc_boot_ci_high"] = self.auc_ci_bootstrap
        return pd.DataFrame([row]).set_index("predictor")

    def to_dict(self) -> dict:
        """The ``stats.json`` shape: ``auc, auc_ci, direction, youden{threshold, sensitivity, ...}``."""
        y = self.youden
        out = {
            "auc": self.auc,
            "auc_se": self.auc_se,
            "auc_ci": list(self.auc_ci),
            "auc_ci_method": "DeLong",
            "direction": self.direction,
            "direction_meaning": "higher values go with the event" if self.direction == "<"
            else "lower values go with the event",
            "direction_inferred": self.direction_inferred,
            "n_cases": self.n_cases,
            "n_controls": self.n_controls,
            "n_missing": self.n_missing,
            "youden": {k: y[k] for k in ("threshold", "sensitivity", "specificity", "ppv", "npv", "accuracy", "j")}
            | {"tied_thresholds": y["ties"]},
        }
        if self.auc_ci_bootstrap is not None:
            out["auc_ci_bootstrap"] = list(self.auc_ci_bootstrap)
            out["bootstrap_n"] = self.bootstrap_n
        return out


def bootstrap_auc_ci(
    y: np.ndarray,
    x: np.ndarray,
    direction: str,
    *,
    n_boot: int = 2000,
    seed: int = 20240101,
    conf_level: float = 0.95,
) -> tuple[float, float]:
    """Stratified percentile bootstrap CI of the AUC (as ``pROC::ci.auc(method="bootstrap")``).

    Cases and controls are resampled separately; the quantiles are R's type 7.
    """
    d = normalize_direction(direction)
    yy, xx, _ = _clean(y, x)
    s = xx if d == "<" else -xx
    cases, controls = s[yy], s[~yy]
    n1, n0 = cases.size, controls.size
    rng = np.random.default_rng(seed)
    aucs = np.empty(n_boot)
    yb = np.concatenate([np.ones(n1, bool), np.zeros(n0, bool)])
    for b in range(n_boot):
        sc = cases[rng.integers(0, n1, n1)]
        so = controls[rng.integers(0, n0, n0)]
        aucs[b] = _auc_fast(yb, np.concatenate([sc, so]))
    a = (1 - conf_level) / 2
    lo, hi = np.quantile(aucs, [a, 1 - a])
    return float(lo), float(hi)


def cluster_bootstrap_auc_ci(
    y: np.ndarray,
    x: np.ndarray,
    direction: str,
    groups: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 20240101,
    conf_level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the AUC resampling whole clusters (patients) with replacement.

    Rows of one cluster stay together, so the interval reflects the number of patients, not of rows.
    Resamples holding only one class are skipped. The quantiles are R's type 7.
    """
    d = normalize_direction(direction)
    y = np.asarray(y, float)
    s = np.asarray(x, float) if d == "<" else -np.asarray(x, float)
    _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(inv.max() + 1))
    sizes = np.bincount(inv)
    k = sizes.size
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        pick = rng.integers(0, k, k)
        idx = np.concatenate([order[starts[c]:starts[c] + sizes[c]] for c in pick])
        yb = y[idx].astype(bool)
        if yb.all() or not yb.any():
            continue
        aucs.append(_auc_fast(yb, s[idx]))
    a = (1 - conf_level) / 2
    lo, hi = np.quantile(np.asarray(aucs), [a, 1 - a])
    return float(lo), float(hi)


def roc_analysis(
    y: np.ndarray,
    x: np.ndarray,
    direction: str = "auto",
    *,
    name: str = "x",
    conf_level: float = 0.95,
    bootstrap: int | None = None,
    seed: int = 20240101,
    cluster: np.ndarray | None = None,
) -> RocResult:
    """ROC curve, AUC with DeLong CI and Youden cut-off for one predictor.

    Parameters
    ----------
    y : array of {0, 1, NaN}
        Outcome (1 = event). Pairs with a missing value are dropped and counted in ``n_missing``.
    x : array of float
        Predictor in its own units.
    direction : {"<", "higher", ">", "lower", "auto"}
        See the module docstring. ``"auto"`` issues a :class:`DirectionWarning`.
    name : str
        Predictor name used in tables.
    conf_level : float
        Confidence level of the CIs.
    bootstrap : int, optional
        Also compute a stratified percentile bootstrap CI with this many resamples.
    seed : int
        Seed of the bootstrap.
    cluster : array, optional
        One cluster label per row (the patient of each screw or level). The bootstrap then resamples
        whole clusters (``CLUSTER_BOOTSTRAP_N`` resamples unless ``bootstrap`` is given), and a note says
        that the DeLong interval assumes independent rows.

    Returns
    -------
    RocResult

    Examples
    --------
    >>> r = roc_analysis([0, 0, 1, 1], [1.0, 2.0, 3.0, 2.0], "higher")
    >>> round(r.auc, 4)
    0.875
    """
    d = normalize_direction(direction)
    yy, xx, n_missing = _clean(y, x)
    notes = []
    inferred = False
    if d == "auto":
        d = infer_direction(yy.astype(float), xx)
        inferred = True
        meaning = "higher" if d == "<" else "lower"
        msg = (f"direction of {name!r} was not given; the data suggest {meaning} values go with the event "
               f"(direction '{d}'); give '{name}:{meaning}' to make it explicit")
        warnings.warn(msg, DirectionWarning, stacklevel=2)
        notes.append(msg)
    auc, v10, v01 = delong_placements(yy, xx, d)
    var = delong_variance(v10, v01)
    se = float(np.sqrt(max(var, 0.0)))
    z = float(sps.norm.ppf(1 - (1 - conf_level) / 2))
    ci = (min(max(auc - z * se, 0.0), 1.0), min(max(auc + z * se, 0.0), 1.0))
    curve = roc_curve(yy.astype(float), xx, d)
    yd = youden(curve)
    if len(yd["ties"]) > 1:
        notes.append(f"{name}: {len(yd['ties'])} thresholds tie for the best Youden J; the lowest is reported")
    if auc < 0.5 and not inferred:
        given = "higher" if d == "<" else "lower"
        other = "lower" if d == "<" else "higher"
        msg = (f"{name}: AUC {auc:.3f} < 0.5 in the direction given ({given} values go with the event), "
               f"but in these data {other} values go with the event (AUC {1 - auc:.3f} the other way); "
               f"check the direction ('{name}:{other}') - the AUC is kept, not flipped")
        warnings.warn(msg, DirectionWarning, stacklevel=2)
        notes.append(msg)
    res = RocResult(
        name=name, direction=d, direction_inferred=inferred, auc=auc, auc_se=se, auc_ci=ci, youden=yd,
        curve=curve, n_cases=int(yy.sum()), n_controls=int((~yy).sum()), n_missing=n_missing,
        conf_level=conf_level, notes=notes,
    )
    if cluster is not None:
        ok = ~(np.isnan(np.asarray(y, float)) | np.isnan(np.asarray(x, float)))
        groups = np.asarray(cluster)[ok]
        n_boot = int(bootstrap or CLUSTER_BOOTSTRAP_N)
        res.auc_ci_bootstrap = cluster_bootstrap_auc_ci(yy.astype(float), xx, d, groups, n_boot=n_boot, seed=seed,
                                                        conf_level=conf_level)
        res.bootstrap_n = n_boot
        res.notes.append(f"{name}: {xx.size} rows from {np.unique(groups.astype(str)).size} clusters are not "
                         f"independent; use the cluster bootstrap CI ({n_boot} resamples of whole clusters), the "
                         f"DeLong CI is too narrow")
    elif bootstrap:
        res.auc_ci_bootstrap = bootstrap_auc_ci(yy.astype(float), xx, d, n_boot=bootstrap, seed=seed,
                                                conf_level=conf_level)
        res.bootstrap_n = int(bootstrap)
    return res


@dataclass
class DelongTestResult(Result):
    """Paired DeLong test of two correlated ROC curves (``pROC::roc.test(method="delong")``)."""

    name1: str
    name2: str
    direction1: str
    direction2: str
    auc1: float
    auc2: float
    z: float
    p: float
    diff_ci: tuple[float, float]
    n_cases: int
    n_controls: int
    n_dropped: int

    @property
    def summary(self) -> pd.DataFrame:
        """One row with both AUCs, their difference and CI, z and p."""
        return pd.DataFrame([{
            "comparison": f"{self.name1} vs {self.name2}",
            "auc1": self.auc1, "auc2": self.auc2, "difference": self.auc1 - self.auc2,
            "diff_ci_low": self.diff_ci[0], "diff_ci_high": self.diff_ci[1], "z": self.z, "p": self.p,
            "n_cases": self.n_cases, "n_controls": self.n_controls,
        }]).set_index("comparison")

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"auc1": self.auc1, "auc2": self.auc2, "direction1": self.direction1,
                "direction2": self.direction2, "difference": self.auc1 - self.auc2,
                "difference_ci": list(self.diff_ci), "z": self.z, "p": self.p,
                "n_cases": self.n_cases, "n_controls": self.n_controls, "n_dropped": self.n_dropped}


def paired_delong_test(
    y: np.ndarray,
    x1: np.ndarray,
    x2: np.ndarray,
    direction1: str,
    direction2: str,
    *,
    names: tuple[str, str] = ("x1", "x2"),
    conf_level: float = 0.95,
) -> DelongTestResult:
    """Paired DeLong test of AUC(x1) = AUC(x2) on the same patients.

    Each curve keeps its own (explicit) direction; only complete triples (y, x1, x2) are used.

    Returns
    -------
    DelongTestResult
        Two-sided z test; the CI of the difference is ``diff ± z * SE``.
    """
    y = np.asarray(y, float)
    x1 = np.asarray(x1, float)
    x2 = np.asarray(x2, float)
    ok = ~(np.isnan(y) | np.isnan(x1) | np.isnan(x2))
    d1, d2 = normalize_direction(direction1), normalize_direction(direction2)
    if "auto" in (d1, d2):
        raise ValueError("paired_delong_test needs explicit directions")
    yb = y[ok].astype(bool)
    a1, v10a, v01a = delong_placements(yb, x1[ok], d1)
    a2, v10b, v01b = delong_placements(yb, x2[ok], d2)
    n1, n0 = v10a.size, v01a.size
    s10 = np.cov(np.vstack([v10a, v10b]), ddof=1)
    s01 = np.cov(np.vstack([v01a, v01b]), ddof=1)
    s = s10 / n1 + s01 / n0
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    diff = a1 - a2
    se = np.sqrt(var) if var > 0 else 0.0
    if se > 0:
        z = diff / se
        p = float(2 * sps.norm.sf(abs(z)))
    else:
        z, p = float("nan"), float("nan")
    zc = float(sps.norm.ppf(1 - (1 - conf_level) / 2))
    return DelongTestResult(
        name1=names[0], name2=names[1], direction1=d1, direction2=d2, auc1=a1, auc2=a2, z=float(z), p=p,
        diff_ci=(diff - zc * se, diff + zc * se), n_cases=n1, n_controls=n0, n_dropped=int((~ok).sum()),
    )
