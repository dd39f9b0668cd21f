"""Baseline characteristics table by outcome group (the "Table 1" of the papers).

Continuous variables: Shapiro-Wilk in each group; when both p > 0.05, Levene's test (mean-centred, as
SPSS) chooses Student's t (equal variances) or Welch's t and the cell shows mean ± SD; otherwise
Mann-Whitney U and median (IQR, type-7 quantiles). The Mann-Whitney p follows R's ``wilcox.test``: exact
when both groups have fewer than 50 values and there are no ties, else the normal approximation with
continuity and tie correction (scipy's ``method="auto"`` decides differently, so it is not used).
Categorical variables: chi-square (Yates only for 2x2), or Fisher's exact test for a 2x2 table with an
expected count below 5; cells show n (%).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from spinebq.stats._result import Result

__all__ = ["baseline_table", "BaselineResult", "compare_continuous", "compare_categorical"]


def _fmt(v: float, d: int = 2) -> str:
    return "NaN" if not np.isfinite(v) else f"{v:.{d}f}"


def compare_continuous(a: np.ndarray, b: np.ndarray, *, alpha: float = 0.05) -> dict:
    """Compare one continuous variable between two groups (``a`` = no event, ``b`` = event).

    Returns
    -------
    dict
        ``normal, test, statistic, p, shapiro_p0, shapiro_p1, levene_p`` and the group summaries.
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    sw = []
    for g in (a, b):
        if g.size >= 3 and np.ptp(g) > 0:
            sw.append(float(sps.shapiro(g).pvalue))
        else:
            sw.append(float("nan"))
    normal = all(np.isfinite(s) and s > alpha for s in sw)
    out = {"shapiro_p0": sw[0], "shapiro_p1": sw[1], "normal": normal, "levene_p": float("nan")}
    if normal:
        lev = float(sps.levene(a, b, center="mean").pvalue)
        equal = lev >= alpha
        t = sps.ttest_ind(a, b, equal_var=equal)
        out.update(levene_p=lev, test="Student t-test" if equal else "Welch t-test",
                   statistic=float(t.statistic), p=float(t.pvalue))
    else:
        ties = np.unique(np.concatenate([a, b])).size < a.size + b.size
        exact = a.size < 50 and b.size < 50 and not ties
        u = sps.mannwhitneyu(a, b, alternative="two-sided", method="exact" if exact else "asymptotic",
                             use_continuity=True)
        out.update(test="Mann-Whitney U" + (" (exact)" if exact else ""), statistic=float(u.statistic),
                   p=float(u.pvalue))
    for k, g in (("0", a), ("1", b)):
        out[f"mean{k}"] = float(np.mean(g)) if g.size else float("nan")
        out[f"sd{k}"] = float(np.std(g, ddof=1)) if g.size > 1 else float("nan")
        q = np.quantile(g, [0.25, 0.5, 0.75]) if g.size else [np.nan] * 3
        out[f"q1_{k}"], out[f"median{k}"], out[f"q3_{k}"] = (float(v) for v in q)
    return out


def compare_categorical(x: np.ndarray, y: np.ndarray) -> dict:
    """Chi-square (Yates for 2x2) or Fisher's exact test of ``x`` (categories) against ``y`` (0/1).

    Returns
    -------
    dict
        ``test, statistic, p, table`` (a DataFrame of counts, levels x outcome).
    """
    ok = ~(pd.isna(x) | pd.isna(y))
    tab = pd.crosstab(pd.Series(np.asarray(x)[ok], name="level"), pd.Series(np.asarray(y)[ok], name="outcome"))
    if tab.shape[0] < 2 or tab.shape[1] < 2:
        return {"test": "none (one level)", "statistic": float("nan"), "p": float("nan"), "table": tab}
    chi = sps.chi2_contingency(tab.to_numpy(), correction=True)
    if tab.shape == (2, 2) and (chi.expected_freq < 5).any():
        res = sps.fisher_exact(tab.to_numpy())
        return {"test": "Fisher exact", "statistic": float(res.statistic), "p": float(res.pvalue), "table": tab}
    name = "chi-square (Yates)" if tab.shape == (2, 2) else "chi-square"
    note = "" if (chi.expected_freq >= 5).all() else " (expected count < 5)"
    return {"test": name + note, "statistic": float(chi.statistic), "p": float(chi.pvalue), "table": tab}


@dataclass
class BaselineResult(Result):
    """Baseline table: one row per continuous variable, one row per level of a categorical one."""

    table: pd.DataFrame
    outcome: str
    n0: int
    n1: int

    @property
    def summary(self) -> pd.DataFrame:
        """Columns ``variable, level, no event (n=..), event (n=..), test, statistic, p, n_missing``."""
        return self.table

    def to_dict(self) -> dict:
        """``{variable: {test, p, ...}}``."""
        out: dict = {}
        for _, r in self.table.iterrows():
            if r["level"] in ("", None):
                out[r["variable"]] = {"test": r["test"], "statistic": r["statistic"], "p": r["p"],
                                      "no_event": r.iloc[2], "event": r.iloc[3], "n_missing": r["n_missing"]}
        return out


def baseline_table(
    data: pd.DataFrame,
    outcome: str,
    variables: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    decimals: int = 2,
) -> BaselineResult:
    """Build the baseline characteristics table by outcome group.

    Parameters
    ----------
    data : DataFrame
        Numeric columns; ``outcome`` coded 0/1.
    outcome : str
    variables : sequence of str
    categorical : sequence of str
        Variables to treat as categorical; binary (two-valued) variables are categorical anyway.
    decimals : int
        Decimals of the formatted cells.

    Returns
    -------
    BaselineResult
    """
    y = data[outcome].to_numpy(float)
    g0, g1 = y == 0, y == 1
    n0, n1 = int(g0.sum()), int(g1.sum())
    h0, h1 = f"no event (n={n0})", f"event (n={n1})"
    rows = []
    for v in variables:
        x = data[v].to_numpy(float)
        n_miss = int(np.isnan(x).sum())
        uniq = np.unique(x[~np.isnan(x)])
        if v in categorical or uniq.size <= 2:
            res = compare_categorical(x, y)
            rows.append({"variable": v, "level": "", h0: "", h1: "", "test": res["test"],
                         "statistic": res["statistic"], "p": res["p"], "n_missing": n_miss})
            tab = res["table"]
            for lev in tab.index:
                c0 = int(tab.loc[lev].get(0.0, 0))
                c1 = int(tab.loc[lev].get(1.0, 0))
                rows.append({"variable": v, "level": f"{lev:g}",
                             h0: f"{c0} ({100 * c0 / max(n0, 1):.1f}%)", h1: f"{c1} ({100 * c1 / max(n1, 1):.1f}%)",
                             "test": "", "statistic": np.nan, "p": np.nan, "n_missing": np.nan})
            continue
        res = compare_continuous(x[g0], x[g1])
        if res["normal"]:
            c0 = f"{_fmt(res['mean0'], decimals)} ± {_fmt(res['sd0'], decimals)}"
            c1 = f"{_fmt(res['mean1'], decimals)} ± {_fmt(res['sd1'], decimals)}"
        else:
            c0 = f"{_fmt(res['median0'], decimals)} ({_fmt(res['q1_0'], decimals)}-{_fmt(res['q3_0'], decimals)})"
            c1 = f"{_fmt(res['median1'], decimals)} ({_fmt(res['q1_1'], decimals)}-{_fmt(res['q3_1'], decimals)})"
        rows.append({"variable": v, "level": "", h0: c0, h1: c1, "test": res["test"],
                     "statistic": res["statistic"], "p": res["p"], "n_missing": n_miss})
    return BaselineResult(table=pd.DataFrame(rows), outcome=outcome, n0=n0, n1=n1)
