"""Reader agreement (ICC) and correlation tests, matching ``psych::ICC(lmer = FALSE)`` and ``cor.test``.

ICC forms (Shrout & Fleiss 1979; McGraw & Wong 1996):

======  ==========================================  ===========================================
psych   model                                       McGraw & Wong
======  ==========================================  ===========================================
ICC1    one-way random, single rater                ICC(1)
ICC2    two-way random, absolute agreement, single  ICC(A,1)
ICC3    two-way mixed, consistency, single          ICC(C,1)
ICC1k   one-way random, average of k raters         ICC(k)
ICC2k   two-way random, absolute agreement, average ICC(A,k)
ICC3k   two-way mixed, consistency, average         ICC(C,k)
======  ==========================================  ===========================================
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from spinebq.stats._result import Result

__all__ = ["icc", "IccResult", "correlation", "CorrelationResult", "spearman_p_as89"]


@dataclass
class IccResult(Result):
    """All six ICC forms with F test and CI (``psych::ICC`` layout)."""

    table: pd.DataFrame
    n_subjects: int
    n_raters: int
    n_dropped: int

    @property
    def summary(self) -> pd.DataFrame:
        """Index ``ICC1 ... ICC3k``; columns ``model, icc, F, df1, df2, p, ci_low, ci_high``."""
        return self.table

    def to_dict(self) -> dict:
        """``{form: {icc, ci, F, p, model}}``."""
        return {k: {"icc": r["icc"], "ci": [r["ci_low"], r["ci_high"]], "F": r["F"], "df1": r["df1"],
                    "df2": r["df2"], "p": r["p"], "model": r["model"]} for k, r in self.table.iterrows()} | {
            "n_subjects": self.n_subjects, "n_raters": self.n_raters, "n_dropped": self.n_dropped}


def icc(ratings: np.ndarray | pd.DataFrame, *, alpha: float = 0.05) -> IccResult:
    """Intraclass correlation coefficients from an n-subjects x k-raters table (ANOVA estimates).

    Parameters
    ----------
    ratings : array or DataFrame, shape (n, k)
        One row per subject, one column per rater/reading. Rows with a missing value are dropped.
    alpha : float
        The CIs are ``1 - alpha`` two-sided (psych uses ``qf(1 - alpha/2, ...)``).

    Returns
    -------
    IccResult
    """
    x = np.asarray(ratings, float)
    ok = ~np.isnan(x).any(axis=1)
    n_dropped = int((~ok).sum())
    x = x[ok]
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_tot = np.sum((x - grand) ** 2)
    ss_err = ss_tot - ss_rows - ss_cols
    msb = ss_rows / (n - 1)
    msj = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_err) / (n * (k - 1))
    icc1 = (msb - msw) / (msb + (k - 1) * msw)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc3 = (msb - mse) / (msb + (k - 1) * mse)
    icc1k = (msb - msw) / msb
    icc2k = (msb - mse) / (msb + (msj - mse) / n)
    icc3k = (msb - mse) / msb
    f11 = msb / msw
    d11n, d11d = n - 1, n * (k - 1)
    f21 = msb / mse
    d21n, d21d = n - 1, (n - 1) * (k - 1)
    p11 = float(sps.f.sf(f11, d11n, d11d))
    p21 = float(sps.f.sf(f21, d21n, d21d))
    q = 1 - alpha / 2
    f1l = f11 / sps.f.ppf(q, d11n, d11d)
    f1u = f11 * sps.f.ppf(q, d11d, d11n)
    f3l = f21 / sps.f.ppf(q, d21n, d21d)
    f3u = f21 * sps.f.ppf(q, d21d, d21n)
    fj = msj / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k ** 2 * icc2 ** 2 * fj ** 2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = sps.f.ppf(q, n - 1, v)
    f2l = sps.f.ppf(q, v, n - 1)
    l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
    rows = [
        ("ICC1", "one-way random, single rater", icc1, f11, d11n, d11d, p11,
         (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        ("ICC2", "two-way random, absolute agreement, single rater", icc2, f21, d21n, d21d, p21, l2, u2),
        ("ICC3", "two-way mixed, consistency, single rater", icc3, f21, d21n, d21d, p21,
         (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        ("ICC1k", "one-way random, average of raters", icc1k, f11, d11n, d11d, p11, 1 - 1 / f1l, 1 - 1 / f1u),
        ("ICC2k", "two-way random, absolute agreement, average of raters", icc2k, f21, d21n, d21d, p21,
         l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        ("ICC3k", "two-way mixed, consistency, average of raters", icc3k, f21, d21n, d21d, p21,
         1 - 1 / f3l, 1 - 1 / f3u),
    ]
    table = pd.DataFrame(rows, columns=["form", "model", "icc", "F", "df1", "df2", "p", "ci_low", "ci_high"])
    table = table.set_index("form")
    table["df2"] = table["df2"].astype(float)
    return IccResult(table=table, n_subjects=n, n_raters=k, n_dropped=n_dropped)


def _prho_exact(n: int, s: float, lower_tail: bool) -> float:
    """Exact P(S >= s) (or P(S < s)) by enumerating all permutations (n <= 9), as AS 89."""
    base = np.arange(1, n + 1)
    perms = np.array(list(itertools.permutations(base)), dtype=np.int64)
    ss = ((perms - base) ** 2).sum(axis=1)
    ge = np.count_nonzero(ss >= s)
    p = ge / perms.shape[0]
    return 1 - p if lower_tail else p


def _prho(n: int, s: float, lower_tail: bool) -> float:
    """Port of R's ``prho`` (Algorithm AS 89): upper tail P(S >= s) unless ``lower_tail``."""
    pv = 0.0 if lower_tail else 1.0
    if n <= 1 or s <= 0:
        return pv
    n3 = n * (n * n - 1) / 3.0
    if s > n3:
        return 1 - pv
    if n <= 9:
        return _prho_exact(n, s, lower_tail)
    c1, c2, c3, c4, c5, c6 = 0.2274, 0.2531, 0.1745, 0.0758, 0.1033, 0.3932
    c7, c8, c9, c10, c11, c12 = 0.0879, 0.0151, 0.0072, 0.0831, 0.0131, 4.6e-4
    b = 1.0 / n
    x = (6.0 * (s - 1) * b / (n * n - 1) - 1) * np.sqrt(1 / b - 1)
    y = x * x
    u = x * b * (c1 + b * (c2 + c3 * b) + y * (-c4 + b * (c5 + c6 * b) - y * b * (
        c7 + c8 * b - y * (c9 - c10 * b + y * b * (c11 - c12 * y)))))
    y = u / np.exp(y / 2)
    pv = (sps.norm.cdf(x) - y) if lower_tail else (sps.norm.sf(x) + y)
    return float(min(max(pv, 0.0), 1.0))


def spearman_p_as89(rho: float, n: int) -> float:
    """Two-sided p of Spearman's rho without ties, as R's ``cor.test(method = "spearman")`` (AS 89)."""
    q = (n ** 3 - n) * (1 - rho) / 6.0
    if q > (n ** 3 - n) / 6.0:
        p = _prho(n, round(q) + 0, lower_tail=False)
    else:
        p = _prho(n, round(q) + 2, lower_tail=True)
    return float(min(2 * p, 1.0))


@dataclass
class CorrelationResult(Result):
    """Pearson and Spearman correlation of two variables with tests (``cor.test``)."""

    x_name: str
    y_name: str
    n: int
    pearson_r: float
    pearson_ci: tuple[float, float]
    pearson_t: float
    pearson_p: float
    spearman_rho: float
    spearman_p: float
    spearman_method: str

    @property
    def summary(self) -> pd.DataFrame:
        """Two rows (Pearson, Spearman)."""
        return pd.DataFrame([
            {"method": "Pearson", "estimate": self.pearson_r, "ci_low": self.pearson_ci[0],
             "ci_high": self.pearson_ci[1], "p": self.pearson_p, "n": self.n, "p_method": "t test"},
            {"method": "Spearman", "estimate": self.spearman_rho, "ci_low": np.nan, "ci_high": np.nan,
             "p": self.spearman_p, "n": self.n, "p_method": self.spearman_method},
        ]).set_index("method")

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"x": self.x_name, "y": self.y_name, "n": self.n,
                "pearson": {"r": self.pearson_r, "ci": list(self.pearson_ci), "t": self.pearson_t,
                            "p": self.pearson_p},
                "spearman": {"rho": self.spearman_rho, "p": self.spearman_p, "p_method": self.spearman_method}}


def correlation(x: np.ndarray, y: np.ndarray, *, names: tuple[str, str] = ("x", "y")) -> CorrelationResult:
    """Pearson (t test, Fisher-z 95 % CI) and Spearman correlation with R's p-values.

    Spearman's p follows ``cor.test``: with no ties and n < 1290 the AS 89 algorithm (exact for n <= 9,
    Edgeworth series above); otherwise the t approximation with n - 2 df.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = x.size
    r = float(np.corrcoef(x, y)[0, 1])
    df = n - 2
    t = r * np.sqrt(df / (1 - r * r))
    p = float(2 * sps.t.sf(abs(t), df))
    z = np.arctanh(r)
    se = 1 / np.sqrt(n - 3)
    zc = sps.norm.ppf(0.975)
    ci = (float(np.tanh(z - zc * se)), float(np.tanh(z + zc * se)))
    rx, ry = sps.rankdata(x), sps.rankdata(y)
    rho = float(np.corrcoef(rx, ry)[0, 1])
    ties = np.unique(x).size < n or np.unique(y).size < n
    if n < 1290 and not ties:
        sp = spearman_p_as89(rho, n)
        method = "AS 89" + (" exact" if n <= 9 else " Edgeworth series")
    else:
        ts = rho / np.sqrt((1 - rho * rho) / df)
        sp = float(2 * sps.t.sf(abs(ts), df))
        method = "t approximation" + (" (ties)" if ties else "")
    return CorrelationResult(x_name=names[0], y_name=names[1], n=n, pearson_r=r, pearson_ci=ci,
                             pearson_t=float(t), pearson_p=p, spearman_rho=rho, spearman_p=sp,
                             spearman_method=method)
