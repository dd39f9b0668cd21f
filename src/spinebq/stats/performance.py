"""Model performance: calibration, Brier, Hosmer-Lemeshow, Harrell bootstrap optimism, calibration curve.

References: Harrell, *Regression Modeling Strategies* (2015) §5.3; Steyerberg, *Clinical Prediction
Models* (2019) ch. 15; Hosmer & Lemeshow (2013). Conventions: docs/methods.md sections 7 and 7.1 (items 7, 9, 10).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from spinebq.stats._result import Result, complete_pairs
from spinebq.stats.logistic import expit, logit, newton_logit
from spinebq.stats.roc import _auc_fast

__all__ = [
    "brier_score",
    "calibration_stats",
    "hosmer_lemeshow",
    "bootstrap_validation",
    "CalibrationResult",
    "HosmerLemeshowResult",
    "ValidationResult",
]


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Brier score ``mean((p - y)^2)``."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    return float(np.mean((p - y) ** 2))


@dataclass
class CalibrationResult(Result):
    """Logistic recalibration of predicted probabilities.

    ``intercept`` is calibration-in-the-large, the intercept of ``glm(y ~ offset(logit p), binomial)``;
    ``slope`` is the coefficient of ``glm(y ~ logit p, binomial)``; ``recal_intercept`` is that model's
    intercept (what ``rms::val.prob``/``validate`` call *Intercept*). CIs are Wald 95 %.
    """

    intercept: float
    intercept_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    recal_intercept: float
    brier: float
    n: int

    @property
    def summary(self) -> pd.DataFrame:
        """Rows: calibration intercept, slope, Brier score."""
        return pd.DataFrame(
            {"estimate": [self.intercept, self.slope, self.brier],
             "ci_low": [self.intercept_ci[0], self.slope_ci[0], np.nan],
             "ci_high": [self.intercept_ci[1], self.slope_ci[1], np.nan]},
            index=pd.Index(["calibration intercept (CITL)", "calibration slope", "Brier score"], name="measure"))

    def to_dict(self) -> dict:
        """JSON-ready dict with ``intercept``, ``slope``, ``brier`` and their CIs."""
        return {"intercept": self.intercept, "intercept_ci": list(self.intercept_ci), "slope": self.slope,
                "slope_ci": list(self.slope_ci), "recalibration_intercept": self.recal_intercept,
                "brier": self.brier, "n": self.n}


def _recalibration(y: np.ndarray, lp: np.ndarray) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """Return CITL, its SE, recalibration intercept and slope (and covariance)."""
    n = y.size
    b_off, cov_off, _ = newton_logit(np.ones((n, 1)), y, offset=lp)
    X = np.column_stack([np.ones(n), lp])
    b, cov, _ = newton_logit(X, y)
    return float(b_off[0]), float(np.sqrt(cov_off[0, 0])), float(b[0]), b, cov


def calibration_stats(y: np.ndarray, p: np.ndarray, *, conf_level: float = 0.95) -> CalibrationResult:
    """Calibration intercept (in the large), slope and Brier score of predictions ``p`` for outcomes ``y``.

    Parameters
    ----------
    y : array of {0, 1}
    p : array of float in (0, 1)
        Predicted probabilities. Missing pairs are dropped.

    Returns
    -------
    CalibrationResult
    """
    y, p = complete_pairs(y, p)
    lp = logit(np.clip(p, 1e-15, 1 - 1e-15))
    citl, citl_se, recal_int, b, cov = _recalibration(y, lp)
    z = float(sps.norm.ppf(1 - (1 - conf_level) / 2))
    slope_se = float(np.sqrt(cov[1, 1]))
    return CalibrationResult(
        intercept=citl, intercept_ci=(citl - z * citl_se, citl + z * citl_se), slope=float(b[1]),
        slope_ci=(float(b[1]) - z * slope_se, float(b[1]) + z * slope_se), recal_intercept=recal_int,
        brier=brier_score(y, p), n=int(y.size))


@dataclass
class HosmerLemeshowResult(Result):
    """Hosmer-Lemeshow goodness-of-fit test (``ResourceSelection::hoslem.test``)."""

    chi2: float
    df: int
    p: float
    groups: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """The observed and expected counts per risk group."""
        return self.groups

    def to_dict(self) -> dict:
        """``{"chi2", "df", "p", "groups": n}``."""
        return {"chi2": self.chi2, "df": self.df, "p": self.p, "n_groups": int(len(self.groups))}


def hosmer_lemeshow(y: np.ndarray, p: np.ndarray, *, g: int = 10) -> HosmerLemeshowResult:
    """Hosmer-Lemeshow test as ``ResourceSelection::hoslem.test(y, p, g = 10)``.

    Groups: breaks at the *unique* type-7 quantiles of ``p`` at ``seq(0, 1, 1/g)``, right-closed with the
    lowest value included. The statistic sums (O - E)²/E over both outcome columns; ``df = g - 2`` (as
    hoslem.test, even when ties merge groups).

    Returns
    -------
    HosmerLemeshowResult
    """
    y, p = complete_pairs(y, p)
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, g + 1)))
    # right-closed intervals (b[i-1], b[i]], first interval includes its lower end
    grp = np.searchsorted(breaks, p, side="left") - 1
    grp[grp < 0] = 0
    ng = len(breaks) - 1
    rows = []
    chi2 = 0.0
    for k in range(ng):
        m = grp == k
        o1, o0 = y[m].sum(), (1 - y[m]).sum()
        e1, e0 = p[m].sum(), (1 - p[m]).sum()
        chi2 += (o1 - e1) ** 2 / e1 + (o0 - e0) ** 2 / e0 if m.any() else 0.0
        rows.append({"group": k + 1, "p_low": breaks[k], "p_high": breaks[k + 1], "n": int(m.sum()),
                     "observed_events": o1, "expected_events": e1, "observed_nonevents": o0,
                     "expected_nonevents": e0})
    df = g - 2
    return HosmerLemeshowResult(chi2=float(chi2), df=df, p=float(sps.chi2.sf(chi2, df)),
                                groups=pd.DataFrame(rows).set_index("group"))


# ----------------------------------------------------------------------------------------------------------
# Bootstrap validation


def lowess_r(x: np.ndarray, y: np.ndarray, *, f: float = 2.0 / 3.0, delta: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """R's ``lowess(x, y, f, iter = 0)`` (the ``clowess`` algorithm), vectorised over the fitted points.

    Points are sorted by ``x`` (stably); local linear fits with tricube weights over the ``floor(f n)``
    nearest points are made at a subset of points (skipping those within ``delta`` of the last fit, default
    1 % of the range) and linearly interpolated in between, exactly as R does.

    Returns
    -------
    xs, ys : ndarray
        Sorted ``x`` and the smoothed values.
    """
    import bisect

    order = np.argsort(x, kind="stable")
    xs = np.asarray(x, float)[order]
    yv = np.asarray(y, float)[order]
    n = xs.size
    if delta is None:
        delta = 0.01 * (xs[-1] - xs[0])
    ns = max(2, min(n, int(f * n + 1e-7)))
    xl = xs.tolist()
    # the points where a local fit is made (the delta rule of clowess)
    fit_idx = []
    i, last = 0, -1
    while True:
        fit_idx.append(i)
        last = i
        cut = xl[last] + delta
        j = bisect.bisect_right(xl, cut, lo=last + 1)  # first index with x > cut
        # points tied with x[last] take its value; the last of them becomes "last"
        k = bisect.bisect_right(xl, xl[last], lo=last + 1) - 1
        last = max(last, k)
        i = max(last + 1, j - 1)
        if last >= n - 1:
            break
    fi = np.asarray(fit_idx)
    x0 = xs[fi]
    # window [nleft, nleft + ns - 1]: clowess slides right while x[i] - x[nleft] > x[nright + 1] - x[i]
    if ns < n:
        s_left = xs[: n - ns]
        s_right = xs[ns:]
        adv = (x0[:, None] - s_left[None, :]) > (s_right[None, :] - x0[:, None])
        nleft = adv.sum(axis=1)  # monotone condition: count of advances
    else:
        nleft = np.zeros(fi.size, int)
    nright = nleft + ns - 1
    h = np.maximum(x0 - xs[nleft], xs[nright] - x0)
    lo = int(nleft.min())
    xw, yw = xs[lo:], yv[lo:]  # no window reaches left of the smallest nleft
    d = xw[None, :] - x0[:, None]
    r = np.abs(d)
    hh = h[:, None]
    inwin = (np.arange(lo, n)[None, :] >= nleft[:, None]) & (r <= 0.999 * hh)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = r / hh
        t = 1.0 - u * u * u
        w = t * t * t
    w[r <= 0.001 * hh] = 1.0
    w[~inwin] = 0.0
    a = w.sum(axis=1)
    ok = a > 0
    w /= np.where(ok, a, 1.0)[:, None]
    rng = xs[-1] - xs[0]
    ctr = w @ xw
    dc = xw[None, :] - ctr[:, None]
    c = np.einsum("ij,ij->i", w * dc, dc)
    b = x0 - ctr
    slope_ok = (h > 0) & (np.sqrt(c) > 0.001 * rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        bb = np.where(slope_ok, b / c, 0.0)
    y0 = w @ yw + bb * ((w * dc) @ yw)
    y0 = np.where(ok, y0, yv[fi])
    ys = np.interp(xs, x0, y0)
    return xs, ys


def _lowess_calibration(p: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``approx(lowess(p, y, iter=0), xout=grid, ties=first)$y`` as in ``rms::calibrate`` (NaN outside)."""
    xs, ys = lowess_r(p, y)
    xu, first = np.unique(xs, return_index=True)
    return np.interp(grid, xu, ys[first], left=np.nan, right=np.nan)


def _recalibrate_fast(y: np.ndarray, lp: np.ndarray, maxiter: int = 30, tol: float = 1e-10) -> tuple[float, float, float]:
    """Newton fits of ``glm(y ~ lp)`` (intercept, slope) and ``glm(y ~ offset(lp))`` (CITL) with 2x2 algebra."""
    from scipy.special import expit as _ex

    a, b = 0.0, 0.0  # start at p = 1/2 everywhere, as glm/lrm do (robust for extreme lp)
    for _ in range(maxiter):
        p = _ex(a + b * lp)
        w = p * (1 - p)
        r = y - p
        s0, s1, s2 = w.sum(), (w * lp).sum(), (w * lp * lp).sum()
        g0, g1 = r.sum(), (r * lp).sum()
        det = s0 * s2 - s1 * s1
        if not det > 0:
            return float("nan"), float("nan"), float("nan")
        da = (s2 * g0 - s1 * g1) / det
        db = (s0 * g1 - s1 * g0) / det
        a, b = a + da, b + db
        if max(abs(da), abs(db)) < tol * (1 + abs(a) + abs(b)):
            break
    c = 0.0
    for _ in range(maxiter):
        p = _ex(c + lp)
        info = (p * (1 - p)).sum()
        if not info > 0:
            return float(a), float(b), float("nan")
        dc = (y - p).sum() / info
        c += dc
        if abs(dc) < tol * (1 + abs(c)):
            break
    return float(a), float(b), float(c)


def _indices(y: np.ndarray, lp: np.ndarray, recalibrate: bool = True) -> np.ndarray:
    """AUC, Brier, recalibration intercept, slope and CITL of linear predictor ``lp`` on outcome ``y``.

    Without ``recalibrate`` the last three are 0, 1 and 0 (their value on a model's own fitting sample).
    """
    p = expit(lp)
    auc = _auc_fast(y.astype(bool), lp)
    brier = float(np.mean((p - y) ** 2))
    if not recalibrate:
        return np.array([auc, brier, 0.0, 1.0, 0.0])
    a, b, c = _recalibrate_fast(y, lp)
    return np.array([auc, brier, a, b, c])


def _boot_chunk(X: np.ndarray, y: np.ndarray, idx: np.ndarray, grid: np.ndarray | None) -> tuple:
    """Worker: evaluate one chunk of bootstrap samples. Returns (train, test, cal_opt, failed)."""
    import warnings

    train = np.full((len(idx), 5), np.nan)
    test = np.full((len(idx), 5), np.nan)
    cal = np.full((len(idx), 0 if grid is None else grid.size), np.nan)
    failed = np.zeros(len(idx), bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            for i, ix in enumerate(idx):
                Xb, yb = X[ix], y[ix]
                if yb.min() == yb.max():
                    failed[i] = True
                    continue
                beta, cov, conv = newton_logit(Xb, yb)
                if not conv or not np.all(np.isfinite(beta)):
                    failed[i] = True
                    continue
                lp_b = Xb @ beta
                lp_o = X @ beta
                train[i] = _indices(yb, lp_b, recalibrate=False)  # 0, 1, 0 on the training sample (as rms)
                test[i] = _indices(y, lp_o)
                if grid is not None:
                    cal[i] = _lowess_calibration(expit(lp_b), yb, grid) - _lowess_calibration(expit(lp_o), y, grid)
    return train, test, cal, failed


@dataclass
class ValidationResult(Result):
    """Harrell's bootstrap optimism correction of a logistic model's performance.

    Attributes
    ----------
    table : DataFrame
        Index ``auc, brier, intercept, slope, citl``; columns ``apparent, train, test, optimism, corrected``
        (``train``/``test`` are the bootstrap means, as ``rms::validate`` prints them).
    B, B_used : int
        Requested and successful bootstrap fits (fits that fail are skipped, as rms does).
    calibration_curve : DataFrame or None
        ``predicted, apparent, bias_corrected`` (lowess, ``rms::calibrate``) on 50 grid points.
    mae : float
        Mean |predicted - bias-corrected| over the observed predictions (``print.calibrate``).
    """

    table: pd.DataFrame
    B: int
    B_used: int
    seed: int
    calibration_curve: pd.DataFrame | None = None
    mae: float = float("nan")
    mae_q90: float = float("nan")

    @property
    def summary(self) -> pd.DataFrame:
        """The index table (apparent, optimism, corrected)."""
        return self.table

    def to_dict(self) -> dict:
        """``{"B", "auc_apparent", "auc_optimism", "auc_corrected", ...}`` for every index."""
        out: dict = {"B": self.B, "B_used": self.B_used, "seed": self.seed, "method": "Harrell bootstrap optimism"}
        for name, row in self.table.iterrows():
            out[f"{name}_apparent"] = row["apparent"]
            out[f"{name}_optimism"] = row["optimism"]
            out[f"{name}_corrected"] = row["corrected"]
        out["calibration_mae"] = self.mae
        return out


def cluster_resamples(groups: np.ndarray, B: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``B`` bootstrap samples of row indices that draw whole clusters with replacement.

    Each sample holds as many clusters as the data (not necessarily as many rows).
    """
    _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    members = [np.flatnonzero(inv == c) for c in range(inv.max() + 1)]
    k = len(members)
    return [np.concatenate([members[c] for c in rng.integers(0, k, k)]) for _ in range(B)]


def bootstrap_validation(
    X: np.ndarray,
    y: np.ndarray,
    *,
    B: int = 1000,
    seed: int = 20240101,
    n_jobs: int = 2,
    calibration_curve: bool = True,
    groups: np.ndarray | None = None,
) -> ValidationResult:
    """Bootstrap optimism correction (``rms::validate`` / ``rms::calibrate``, method ``"boot"``).

    For each of ``B`` samples drawn with replacement the model is refitted; its AUC, Brier score,
    recalibration intercept and slope and CITL are computed on the bootstrap sample and on the original
    data; optimism = mean(bootstrap - original); corrected = apparent - optimism.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Design matrix *with* the intercept column (complete cases).
    y : ndarray, shape (n,)
        0/1 outcome.
    B : int
        Number of bootstrap samples.
    seed : int
        Seed of :func:`numpy.random.default_rng`; all resample indices are drawn up front, so the result
        does not depend on ``n_jobs``.
    n_jobs : int
        Worker processes (joblib); 1 runs in-process.
    calibration_curve : bool
        Also compute the lowess calibration curve (apparent and bias-corrected) and its MAE.
    groups : array, optional
        Cluster (patient) of each row: whole clusters are resampled, so the rows of one patient stay together.

    Returns
    -------
    ValidationResult
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n = y.size
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(B, n)) if groups is None else cluster_resamples(groups, B, rng)
    beta, _, _ = newton_logit(X, y)
    lp = X @ beta
    p = expit(lp)
    grid = None
    if calibration_curve:
        ps = np.sort(p)
        grid = np.linspace(ps[4], ps[n - 5], 50)
    apparent = _indices(y, lp, recalibrate=False)
    n_jobs = max(1, min(int(n_jobs), os.cpu_count() or 1))
    if n_jobs == 1 or B < 50:
        parts = [_boot_chunk(X, y, idx, grid)]
    else:
        from joblib import Parallel, delayed

        chunks = [[idx[j] for j in part] for part in np.array_split(np.arange(B), n_jobs)]
        parts = Parallel(n_jobs=n_jobs)(delayed(_boot_chunk)(X, y, c, grid) for c in chunks)
    train = np.vstack([q[0] for q in parts])
    test = np.vstack([q[1] for q in parts])
    failed = np.concatenate([q[3] for q in parts])
    ok = ~failed
    opt = np.nanmean(train[ok] - test[ok], axis=0)
    names = ["auc", "brier", "intercept", "slope", "citl"]
    table = pd.DataFrame({"apparent": apparent, "train": np.nanmean(train[ok], axis=0),
                          "test": np.nanmean(test[ok], axis=0), "optimism": opt, "corrected": apparent - opt},
                         index=pd.Index(names, name="index"))
    res = ValidationResult(table=table, B=int(B), B_used=int(ok.sum()), seed=int(seed))
    if int(failed.sum()):
        res.notes.append(f"{int(failed.sum())} of {B} bootstrap fits failed (one class or no convergence) "
                         "and were skipped")
    if calibration_curve:
        cal = np.vstack([q[2] for q in parts])[ok]
        orig = _lowess_calibration(p, y, grid)
        corrected = orig - np.nanmean(cal, axis=0)
        res.calibration_curve = pd.DataFrame({"predicted": grid, "apparent": orig, "bias_corrected": corrected})
        s = ~np.isnan(corrected)
        # approxExtrap: linear interpolation with linear extrapolation at both ends
        gx, gy = grid[s], corrected[s]
        interp = np.interp(p, gx, gy)
        lo, hi = p < gx[0], p > gx[-1]
        interp[lo] = gy[0] + (p[lo] - gx[0]) * (gy[1] - gy[0]) / (gx[1] - gx[0])
        interp[hi] = gy[-1] + (p[hi] - gx[-1]) * (gy[-1] - gy[-2]) / (gx[-1] - gx[-2])
        err = p - interp
        res.mae = float(np.mean(np.abs(err)))
        res.mae_q90 = float(np.quantile(err, 0.9))
    return res
