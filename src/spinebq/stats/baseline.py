"""Baseline characteristics table by outcome group (the "Table 1" of the papers).

Continuous variables: Shapiro-Wilk in each group; when both p > 0.05, Levene's test (mean-centred, as
SPSS) chooses Student's t (equal variances) or Welch's t and the cell shows mean (SD); otherwise
Mann-Whitney U and median [Q1, Q3] (type-7 quantiles). The Mann-Whitney p follows R's ``wilcox.test``: exact
when both groups have fewer than 50 values and there are no ties, else the normal approximation with
continuity and tie correction (scipy's ``method="auto"`` decides differently, so it is not used).
Categorical variables (factors, in their level order): Pearson's chi-square (``chisq.test``: Yates'
correction only for 2x2), or Fisher's exact test (``fisher.test``, R x 2 included) when an expected count
is below 5; cells show n (%) of the group's non-missing values.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from spinebq.stats._result import Result, format_p, frame_to_markdown

__all__ = ["baseline_table", "BaselineResult", "compare_continuous", "compare_categorical", "fisher_exact_rx2"]

#: expected cell count below which Fisher's exact test replaces the chi-square test
FISHER_EXPECTED_MIN = 5
#: most tables enumerated by the exact R x 2 test before it gives up (the chi-square test is then reported)
FISHER_MAX_TABLES = 20_000_000


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


def fisher_exact_rx2(table: np.ndarray) -> float:
    """Two-sided p of Fisher's exact test for an R x 2 table of counts, as R's ``fisher.test``.

    Every table with the observed margins is enumerated; its probability is multivariate hypergeometric.
    The p-value sums the tables no more probable than the observed one (relative tolerance 1e-7, R's).

    Raises
    ------
    ValueError
        When more than ``FISHER_MAX_TABLES`` partial tables would have to be enumerated.
    """
    from scipy.special import gammaln

    t = np.asarray(table, dtype=np.int64)
    rows = t.sum(axis=1)
    c1 = int(t[:, 0].sum())

    def lchoose(n, k):
        return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)

    sums = np.zeros(1, dtype=np.int64)
    logp = np.zeros(1)
    remaining = int(rows.sum())
    for r in rows:
        remaining -= int(r)
        a = np.arange(int(r) + 1)
        s2 = (sums[:, None] + a[None, :]).ravel()
        l2 = (logp[:, None] + lchoose(int(r), a)[None, :]).ravel()
        keep = (s2 <= c1) & (s2 + remaining >= c1)
        sums, logp = s2[keep], l2[keep]
        if sums.size > FISHER_MAX_TABLES:
            raise ValueError("too many tables for the exact test")
    logp = logp - lchoose(int(rows.sum()), c1)
    observed = float(np.sum(lchoose(rows, t[:, 0]))) - float(lchoose(int(rows.sum()), c1))
    p = np.exp(logp)
    return float(min(1.0, p[p <= np.exp(observed) * (1 + 1e-7)].sum()))


def compare_categorical(x: np.ndarray, y: np.ndarray, *, levels: Sequence | None = None) -> dict:
    """Chi-square (Yates for 2x2) or Fisher's exact test of ``x`` (categories) against ``y`` (0/1).

    Fisher's test is used when an expected count is below ``FISHER_EXPECTED_MIN`` (2 x 2 and R x 2 alike).

    Parameters
    ----------
    x : array
        Category of each row (missing values are left out).
    y : array
        Outcome 0/1.
    levels : sequence, optional
        The categories in their order (all of them kept, even when empty).

    Returns
    -------
    dict
        ``test, statistic, p, table`` (a DataFrame of counts, levels x outcome 0/1).
    """
    xs = pd.Series(np.asarray(x, dtype=object))
    ys = pd.Series(np.asarray(y, dtype=float))
    ok = ~(xs.isna() | ys.isna()).to_numpy()
    tab = pd.crosstab(pd.Series(xs[ok].to_numpy(), name="level"), pd.Series(ys[ok].to_numpy(), name="outcome"))
    tab = tab.reindex(columns=[0.0, 1.0], fill_value=0)
    if levels is not None:
        tab = tab.reindex(index=list(levels), fill_value=0)
    used = tab[tab.sum(axis=1) > 0]
    if used.shape[0] < 2 or (used.sum(axis=0) == 0).any():
        return {"test": "none (one level)", "statistic": float("nan"), "p": float("nan"), "table": tab}
    chi = sps.chi2_contingency(used.to_numpy(), correction=True)
    if (chi.expected_freq < FISHER_EXPECTED_MIN).any():
        if used.shape[0] == 2:
            res = sps.fisher_exact(used.to_numpy())
            return {"test": "Fisher exact", "statistic": float("nan"), "p": float(res.pvalue), "table": tab}
        try:
            return {"test": "Fisher exact", "statistic": float("nan"), "p": fisher_exact_rx2(used.to_numpy()),
                    "table": tab}
        except ValueError:
            pass
    name = "chi-square (Yates)" if used.shape == (2, 2) else "chi-square"
    note = "" if (chi.expected_freq >= FISHER_EXPECTED_MIN).all() else " (expected count < 5)"
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

    def display(self) -> pd.DataFrame:
        """The table as papers print it: p as ``< 0.001`` or three decimals, blanks instead of NaN."""
        t = self.table.drop(columns=["n0", "n1"])
        t["statistic"] = [f"{v:.3f}" if np.isfinite(v) else "" for v in t["statistic"]]
        t["p"] = [format_p(v) if np.isfinite(v) else "" for v in t["p"]]
        t["n_missing"] = [f"{int(v)}" if np.isfinite(v) else "" for v in t["n_missing"]]
        return t

    def to_markdown(self, *, decimals: int = 3) -> str:
        """Return :meth:`display` as a Markdown table."""
        return frame_to_markdown(self.display(), decimals=decimals)

    def to_dict(self) -> dict:
        """``{variable: {test, p, ...}}`` (categorical ones also ``levels: {level: [n no event, n event]}``)."""
        out: dict = {}
        current = None
        for _, r in self.table.iterrows():
            if r["test"]:
                current = out[r["variable"]] = {"test": r["test"], "statistic": r["statistic"], "p": r["p"],
                                                "no_event": r.iloc[2], "event": r.iloc[3],
                                                "n_missing": r["n_missing"]}
            elif current is not None and np.isfinite(r["n0"]):
                current.setdefault("levels", {})[r["level"]] = [int(r["n0"]), int(r["n1"])]
        return out


def _is_categorical(col: pd.Series, name: str, categorical: Sequence[str]) -> bool:
    if isinstance(col.dtype, pd.CategoricalDtype) or name in categorical:
        return True
    if not pd.api.types.is_numeric_dtype(col):
        return True
    return pd.unique(col.dropna()).size <= 2


def _level_label(v) -> str:
    return f"{v:g}" if isinstance(v, (float, np.floating, int, np.integer)) else str(v)


def baseline_table(
    data: pd.DataFrame,
    outcome: str,
    variables: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    decimals: int = 2,
) -> BaselineResult:
    """Build the baseline characteristics table (Table 1) by outcome group.

    Parameters
    ----------
    data : DataFrame
        ``outcome`` coded 0/1; numeric columns, and categorical ones as pandas categoricals (their category
        order is the level order) or text.
    outcome : str
    variables : sequence of str
    categorical : sequence of str
        Numeric variables to treat as categorical; binary (two-valued) variables are categorical anyway.
    decimals : int
        Decimals of the formatted cells.

    Returns
    -------
    BaselineResult
        Continuous: mean (SD) or median [Q1, Q3]; categorical: a header row with the test and one row per
        level with n (%) of the group's non-missing values (counts also in columns ``n0``, ``n1``).
    """
    y = data[outcome].to_numpy(float)
    g0, g1 = y == 0, y == 1
    n0, n1 = int(g0.sum()), int(g1.sum())
    h0, h1 = f"no event (n={n0})", f"event (n={n1})"
    rows = []
    for v in variables:
        col = data[v]
        n_miss = int(col.isna().sum())
        if _is_categorical(col, v, categorical):
            if isinstance(col.dtype, pd.CategoricalDtype):
                levels = list(col.cat.categories)
                x = col.astype(object).where(col.notna(), None).to_numpy()
            else:
                levels = sorted(pd.unique(col.dropna()), key=lambda u: (isinstance(u, str), u))
                x = col.to_numpy(dtype=object)
            res = compare_categorical(x, y, levels=levels)
            rows.append({"variable": v, "level": "", h0: "", h1: "", "test": res["test"],
                         "statistic": res["statistic"], "p": res["p"], "n_missing": n_miss,
                         "n0": np.nan, "n1": np.nan})
            tab = res["table"]
            m0, m1 = max(int(tab[0.0].sum()), 1), max(int(tab[1.0].sum()), 1)
            for lev in tab.index:
                c0, c1 = int(tab.loc[lev, 0.0]), int(tab.loc[lev, 1.0])
                rows.append({"variable": v, "level": _level_label(lev),
                             h0: f"{c0} ({100 * c0 / m0:.1f}%)", h1: f"{c1} ({100 * c1 / m1:.1f}%)",
                             "test": "", "statistic": np.nan, "p": np.nan, "n_missing": np.nan, "n0": c0, "n1": c1})
            continue
        x = col.to_numpy(float)
        res = compare_continuous(x[g0], x[g1])
        if res["normal"]:
            c0 = f"{_fmt(res['mean0'], decimals)} ({_fmt(res['sd0'], decimals)})"
            c1 = f"{_fmt(res['mean1'], decimals)} ({_fmt(res['sd1'], decimals)})"
        else:
            c0 = f"{_fmt(res['median0'], decimals)} [{_fmt(res['q1_0'], decimals)}, {_fmt(res['q3_0'], decimals)}]"
            c1 = f"{_fmt(res['median1'], decimals)} [{_fmt(res['q1_1'], decimals)}, {_fmt(res['q3_1'], decimals)}]"
        rows.append({"variable": v, "level": "mean (SD)" if res["normal"] else "median [IQR]", h0: c0, h1: c1,
                     "test": res["test"], "statistic": res["statistic"], "p": res["p"], "n_missing": n_miss,
                     "n0": np.nan, "n1": np.nan})
    return BaselineResult(table=pd.DataFrame(rows), outcome=outcome, n0=n0, n1=n1)
