"""Logistic regression (statsmodels) with separation/convergence reporting, ORs and collinearity.

Estimates and standard errors are the exact-at-MLE values (Newton fit), which agree with R's
``glm(y ~ ..., family = binomial)`` to about 1e-6 relative (docs/methods.md section 7.1). ORs use Wald z intervals.
Rows with a missing value in the model's variables are dropped per model and counted.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.special import expit as _sp_expit

from spinebq.errors import SpinebqError
from spinebq.stats._result import ConvergenceWarning, PerfectSeparationWarning, Result

__all__ = [
    "newton_logit",
    "aliased_terms",
    "fit_logistic",
    "univariable_screen",
    "robust_covariance",
    "collinearity",
    "LogisticResult",
    "expit",
    "logit",
]

_Z975 = float(sps.norm.ppf(0.975))
SEPARATION_REASON = "perfect separation: the maximum-likelihood estimate does not exist"
#: the separation program's optimum (per row, on predictors scaled to at most 1) above which the data are separated
SEPARATION_TOLERANCE = 1e-9
#: a design column whose part not explained by the columns before it is shorter than this fraction of its length
#: is aliased: R's glm.fit QR tolerance min(1e-7, epsilon / 1000) with glm.control's default epsilon = 1e-8
ALIAS_TOL = 1e-11


def expit(lp: np.ndarray) -> np.ndarray:
    """Inverse logit, numerically stable."""
    return _sp_expit(np.asarray(lp, dtype=float))


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities ``p`` (0 and 1 give -inf and +inf)."""
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def newton_logit(
    X: np.ndarray, y: np.ndarray, *, offset: np.ndarray | None = None, maxiter: int = 50, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Plain Newton-Raphson logistic fit (used inside bootstraps, where it is much faster than statsmodels).

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Design matrix including the intercept column.
    y : ndarray, shape (n,)
        0/1 outcome.
    offset : ndarray, optional
        Known offset added to the linear predictor.

    Returns
    -------
    beta : ndarray, shape (k,)
    cov : ndarray, shape (k, k)
        Inverse information at the final estimate.
    converged : bool
        False when the iteration limit was reached or the information matrix became singular.
    """
    n, k = X.shape
    beta = np.zeros(k)
    off = np.zeros(n) if offset is None else offset
    converged = False
    p = _sp_expit(off)
    for _ in range(maxiter):
        w = p * (1 - p)
        info = X.T @ (X * w[:, None])
        grad = X.T @ (y - p)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        beta = beta + step
        p = _sp_expit(X @ beta + off)
        if np.abs(step).max() < tol * (1 + np.abs(beta).max()):
            converged = True
            break
    w = p * (1 - p)
    info = X.T @ (X * w[:, None])
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((k, k), np.nan)
        converged = False
    return beta, cov, converged


def aliased_terms(X: np.ndarray, names: Sequence[str]) -> dict[str, list[str]]:
    """Design columns that are linear combinations of the columns before them (perfect collinearity).

    These are the columns R's ``glm`` drops (coefficient ``NA``): each column is projected on the columns kept
    before it, and it is aliased when what is left is shorter than :data:`ALIAS_TOL` times its length.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Design matrix, intercept column first.
    names : sequence of str
        The k column names.

    Returns
    -------
    dict
        ``{aliased column: [the earlier columns it is a combination of]}``, empty when X has full rank.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 4.0])
    >>> aliased_terms(np.column_stack([np.ones(3), x, 2 * x]), ["(Intercept)", "lb", "twice"])
    {'twice': ['lb']}
    """
    kept: list[int] = []
    out: dict[str, list[str]] = {}
    for j in range(X.shape[1]):
        x = X[:, j]
        size = np.linalg.norm(x)
        coef = np.linalg.lstsq(X[:, kept], x, rcond=None)[0] if kept else np.zeros(0)
        if np.linalg.norm(x - X[:, kept] @ coef) > ALIAS_TOL * size:
            kept.append(j)
            continue
        # the columns that make it up; parts below a millionth of its length are rounding noise of the projection
        out[names[j]] = [names[k] for k, b in zip(kept, coef) if abs(b) * np.linalg.norm(X[:, k]) > 1e-6 * size]
    return out


def _refuse_aliased(X: np.ndarray, names: Sequence[str], outcome: str,
                    dummies: Mapping[str, tuple[str, str]]) -> None:
    """Raise :class:`SpinebqError` naming the first aliased column of the design, if any.

    A factor's dummy is named as the user wrote it, its spreadsheet column and level (``dummies``), not as the
    model term (``smknever``).
    """
    aliased = aliased_terms(X, names)
    if not aliased:
        return

    def column(term: str) -> str:
        return dummies[term][0] if term in dummies else term

    def said(term: str) -> str:
        return f"'{dummies[term][0]}' (level '{dummies[term][1]}')" if term in dummies else f"'{term}'"

    term, combined = next(iter(aliased.items()))
    others = [c for c in combined if c != "(Intercept)"]
    if others:
        what = (f"is a linear combination of {', '.join(said(c) for c in others)}"
                f"{' and a constant' if len(others) < len(combined) else ''} (perfectly collinear)")
    else:
        what = f"has the single value {X[0, names.index(term)]:.15g}"
    model = f"{outcome} ~ {' + '.join(dict.fromkeys(column(t) for t in names[1:]))}"
    raise SpinebqError(f"logistic model {model}: {said(term)} {what} in the {X.shape[0]} complete rows, so its odds "
                       f"ratio cannot be estimated (R's glm gives it NA); leave '{column(term)}' or the columns it "
                       f"repeats out.")


def _detect_separation(X: np.ndarray, y: np.ndarray) -> bool:
    """Complete or quasi-complete separation: the maximum-likelihood estimate does not exist.

    Konis's linear program (2007; R's ``detectseparation``): the data are separated when some direction ``b`` of
    the design has ``(2y - 1) * (X @ b) >= 0`` on every row and ``> 0`` on one (the log-likelihood then rises
    forever along ``b``). A fitted probability near 0 or 1 is no sign of it: a row far out on a predictor has one
    in a fit that converges (R's glm warns and estimates).
    """
    from scipy.optimize import linprog

    scale = np.abs(X).max(axis=0)
    signed = (2 * y - 1)[:, None] * (X / np.where(scale > 0, scale, 1.0))
    res = linprog(-signed.sum(axis=0), A_ub=-signed, b_ub=np.zeros(len(y)), bounds=[(-1, 1)] * X.shape[1],
                  method="highs")
    return bool(res.status == 0 and -res.fun > SEPARATION_TOLERANCE * len(y))


@dataclass
class LogisticResult(Result):
    """A fitted binary logistic regression.

    Attributes
    ----------
    table : DataFrame
        One row per term (``(Intercept)`` first): ``coef, se, z, p, or, or_ci_low, or_ci_high`` (Wald).
        When the MLE does not exist (separation) the ORs and p are NaN and ``reason`` says why.
    cov : DataFrame
        Covariance of the coefficients.
    n, n_events, n_dropped : int
        Observations used, events among them, rows dropped for missing values.
    converged, separation : bool
    loglik, aic : float
    terms : list of str
        Predictor names (without the intercept).
    """

    table: pd.DataFrame
    cov: pd.DataFrame
    n: int
    n_events: int
    n_dropped: int
    converged: bool
    separation: bool
    loglik: float
    aic: float
    terms: list[str]
    outcome: str = "y"
    extra_or: pd.DataFrame | None = None

    @property
    def coef(self) -> pd.Series:
        """Coefficients (log-odds), intercept included."""
        return self.table["coef"]

    @property
    def summary(self) -> pd.DataFrame:
        """Tidy coefficient table (plus scaled ORs when they were requested)."""
        return self.table

    def linear_predictor(self, data: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Linear predictor (log-odds) for new data holding the model's columns."""
        b = self.table["coef"].to_numpy()
        X = np.column_stack([np.ones(len(np.asarray(data[self.terms[0]])))]
                            + [np.asarray(data[t], float) for t in self.terms])
        return X @ b

    def predict(self, data: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Predicted probability of the event for new data."""
        return expit(self.linear_predictor(data))

    def to_dict(self) -> dict:
        """``{term: {or, or_ci, p, coef, se}}`` plus fit diagnostics under ``"_fit"``."""
        out: dict = {}
        for term, row in self.table.iterrows():
            if term == "(Intercept)":
                continue
            entry = {"or": row["or"], "or_ci": [row["or_ci_low"], row["or_ci_high"]], "p": row["p"],
                     "coef": row["coef"], "se": row["se"]}
            if isinstance(row.get("reason"), str) and row.get("reason"):
                entry["reason"] = row["reason"]
            if self.extra_or is not None and term in self.extra_or.index:
                e = self.extra_or.loc[term]
                entry["or_scaled"] = {"per": e["per"], "or": e["or"], "or_ci": [e["or_ci_low"], e["or_ci_high"]]}
            out[term] = entry
        return out


def robust_covariance(X: np.ndarray, y: np.ndarray, p: np.ndarray, cov: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cluster-robust covariance ``cov @ (sum_c U_c U_c') @ cov`` with ``U_c`` the score summed over cluster c.

    This is ``rms::robcov(fit, cluster)`` (Huber's method, no small-sample factor).
    """
    scores = X * (y - p)[:, None]
    _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    summed = np.zeros((inv.max() + 1, X.shape[1]))
    np.add.at(summed, inv, scores)
    return cov @ (summed.T @ summed) @ cov


def _design(df: pd.DataFrame, terms: Sequence[str]) -> np.ndarray:
    return np.column_stack([np.ones(len(df))] + [df[t].to_numpy(float) for t in terms])


def fit_logistic(
    data: pd.DataFrame,
    outcome: str,
    terms: Sequence[str],
    *,
    per: Mapping[str, float | str] | None = None,
    conf_level: float = 0.95,
    cluster: np.ndarray | None = None,
    dummies: Mapping[str, tuple[str, str]] | None = None,
) -> LogisticResult:
    """Fit ``outcome ~ terms`` by maximum likelihood (statsmodels ``Logit``, Newton's method).

    Parameters
    ----------
    data : DataFrame
        Numeric columns ``outcome`` (0/1) and ``terms``; rows with any missing value among them are dropped.
    outcome : str
        Name of the 0/1 outcome column.
    terms : sequence of str
        Predictor columns (numeric; code categories as numbers or dummies first).
    per : mapping, optional
        Extra ORs per a given increment: ``{"st_hu": 10}`` gives the OR per 10 units, ``{"age": "sd"}``
        the OR per standard deviation (of the fitting sample).
    conf_level : float
        Level of the Wald intervals.
    cluster : array, optional
        One cluster label per row of ``data`` (the patient of each screw or level): the standard errors,
        p-values and intervals then use the cluster-robust (Huber-White sandwich) covariance of
        ``rms::robcov(fit, cluster)``, ``I^-1 (sum over clusters of U_c U_c') I^-1`` without a small-sample
        factor.
    dummies : mapping, optional
        ``{term: (column, level)}`` of the factor dummies among ``terms`` (``{"raceother": ("race", "other")}``,
        :meth:`~spinebq.stats.data.Cohort.dummies`): messages name the column and level, not the term.

    Returns
    -------
    LogisticResult
        Separation and non-convergence are flagged (and warned with
        :class:`PerfectSeparationWarning` / :class:`ConvergenceWarning`), never hidden.

    Raises
    ------
    SpinebqError
        When a term is constant or a linear combination of the terms before it (see :func:`aliased_terms`).
    """
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SmConvergence
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning as SmSeparation

    terms = list(terms)
    cols = [outcome] + terms
    sub = data[cols].apply(pd.to_numeric, errors="coerce")
    complete = sub.dropna()
    n_dropped = len(sub) - len(complete)
    groups = None if cluster is None else np.asarray(cluster)[sub.notna().all(axis=1).to_numpy()]
    y = complete[outcome].to_numpy(float)
    X = _design(complete, terms)
    names = ["(Intercept)"] + terms
    _refuse_aliased(X, names, outcome, dummies or {})
    notes: list[str] = []
    sep_flag = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = Logit(y, X)
            fit = model.fit(method="newton", maxiter=100, disp=0, tol=1e-12)
            beta = np.asarray(fit.params, float)
            cov = np.asarray(fit.cov_params(), float)
            converged = bool(fit.mle_retvals.get("converged", True))
        except (np.linalg.LinAlgError, Exception) as exc:  # statsmodels raises on singular Hessians
            if "separation" in str(exc).lower():
                sep_flag = True
            beta, cov, converged = newton_logit(X, y)
    for w in caught:
        if issubclass(w.category, SmSeparation):
            sep_flag = True
        elif issubclass(w.category, SmConvergence):
            converged = False
    lp = X @ beta
    p = expit(lp)
    separation = sep_flag or _detect_separation(X, y)
    if not np.all(np.isfinite(cov)):
        converged = False
    if groups is not None and np.all(np.isfinite(cov)):
        cov = robust_covariance(X, y, p, cov, groups)
        notes.append(f"standard errors are cluster-robust (sandwich over {np.unique(groups).size} clusters, "
                     "as rms::robcov): rows of one cluster are not independent")
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(len(beta), np.nan)
    zc = float(sps.norm.ppf(1 - (1 - conf_level) / 2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = beta / se
        pval = 2 * sps.norm.sf(np.abs(z))
        table = pd.DataFrame({
            "coef": beta, "se": se, "z": z, "p": pval,
            "or": np.exp(beta), "or_ci_low": np.exp(beta - zc * se), "or_ci_high": np.exp(beta + zc * se),
        }, index=pd.Index(names, name="term"))
    table["reason"] = ""
    if separation:
        msg = (f"logistic model {outcome} ~ {' + '.join(terms)}: {SEPARATION_REASON}; "
               "odds ratios are reported as NaN")
        warnings.warn(msg, PerfectSeparationWarning, stacklevel=2)
        notes.append(msg)
        for c in ("z", "p", "or", "or_ci_low", "or_ci_high"):
            table[c] = np.nan
        table["reason"] = "perfect separation"
    elif not converged:
        msg = f"logistic model {outcome} ~ {' + '.join(terms)} did not converge; estimates are unreliable"
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        notes.append(msg)
        table["reason"] = "did not converge"
    with np.errstate(divide="ignore"):
        loglik = float(np.sum(np.where(y == 1, np.log(p), np.log1p(-p))))
    res = LogisticResult(
        table=table, cov=pd.DataFrame(cov, index=names, columns=names), n=len(y), n_events=int(y.sum()),
        n_dropped=int(n_dropped), converged=converged, separation=separation, loglik=loglik,
        aic=-2 * loglik + 2 * len(beta), terms=terms, outcome=outcome, notes=notes,
    )
    if per:
        rows = []
        for term, inc in per.items():
            if term not in terms:
                continue
            k = float(np.std(complete[term].to_numpy(float), ddof=1)) if str(inc).lower() == "sd" else float(inc)
            b, s = table.loc[term, "coef"], table.loc[term, "se"]
            rows.append({"term": term, "per": k, "or": np.exp(b * k), "or_ci_low": np.exp((b - zc * s) * k),
                         "or_ci_high": np.exp((b + zc * s) * k)})
            if separation:
                rows[-1].update({"or": np.nan, "or_ci_low": np.nan, "or_ci_high": np.nan})
        res.extra_or = pd.DataFrame(rows).set_index("term") if rows else None
    return res


def univariable_screen(
    data: pd.DataFrame, outcome: str, predictors: Sequence[str], *, per: Mapping[str, float | str] | None = None
) -> dict[str, LogisticResult]:
    """Fit ``outcome ~ x`` for each predictor on its own complete cases.

    Returns
    -------
    dict
        ``{predictor: LogisticResult}``.
    """
    return {x: fit_logistic(data, outcome, [x], per=per) for x in predictors}


def collinearity(data: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Collinearity diagnostics as SPSS reports them (complete cases).

    * VIF_j = 1 / (1 - R²_j) from the OLS of column j on the others (with intercept); tolerance = 1 / VIF.
    * Condition indices: eigenvalues of X'X for the design *with* the intercept column, each column scaled
      to unit length; index_i = sqrt(max eigenvalue / eigenvalue_i).

    Returns
    -------
    vif : DataFrame
        Index = columns; ``vif``, ``tolerance``.
    condition : DataFrame
        ``dimension, eigenvalue, condition_index`` (sorted by decreasing eigenvalue).
    """
    columns = list(columns)
    d = data[columns].apply(pd.to_numeric, errors="coerce").dropna().to_numpy(float)
    n = d.shape[0]
    rows = []
    for j, name in enumerate(columns):
        yj = d[:, j]
        others = np.column_stack([np.ones(n)] + [d[:, k] for k in range(len(columns)) if k != j])
        beta, *_ = np.linalg.lstsq(others, yj, rcond=None)
        resid = yj - others @ beta
        ss_tot = np.sum((yj - yj.mean()) ** 2)
        r2 = 1 - np.sum(resid ** 2) / ss_tot if ss_tot > 0 else np.nan
        vif = 1.0 / (1.0 - r2) if r2 < 1 else np.inf
        rows.append({"variable": name, "vif": vif, "tolerance": 1.0 / vif})
    X = np.column_stack([np.ones(n), d])
    Xs = X / np.sqrt((X ** 2).sum(axis=0))
    ev = np.sort(np.linalg.eigvalsh(Xs.T @ Xs))[::-1]
    cond = pd.DataFrame({"dimension": np.arange(1, len(ev) + 1), "eigenvalue": ev,
                         "condition_index": np.sqrt(ev.max() / ev)})
    return pd.DataFrame(rows).set_index("variable"), cond
