"""Conditional logistic regression for matched case-control data (R ``survival::clogit``, exact method).

Each matched set contributes the probability that its cases, and no other subset of the same size, are
the cases: ``exp(sum over cases of x'b) / sum over subsets S of size d of exp(sum over S of x'b)``. The
denominator and its first two derivatives are computed by the recursion over the set's members
(Gail, Lubin & Rubinstein 1981, Biometrika 68:703), which is what ``clogit(method="exact")`` maximises.
Sets without a case or without a control carry no information and are left out (counted). Terms constant
within every set (matching variables) cannot be estimated: their coefficient is NaN with a reason, as R
gives ``NA``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from spinebq.stats._result import ConvergenceWarning
from spinebq.stats.logistic import LogisticResult

__all__ = ["fit_conditional_logistic", "ConditionalLogisticResult"]

ALIASED_REASON = "constant within every matched set: not estimable"


@dataclass
class ConditionalLogisticResult(LogisticResult):
    """A conditional logistic fit: ``table`` has no intercept; ``n_sets`` informative matched sets."""

    n_sets: int = 0
    n_sets_dropped: int = 0
    loglik_null: float = float("nan")


def _set_terms(X: np.ndarray, d: int, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """log of the sum over subsets of size d of exp(sum x'b), its gradient and Hessian (X centred)."""
    n, p = X.shape
    w = np.exp(X @ beta)
    B = np.zeros(d + 1)
    G = np.zeros((d + 1, p))
    H = np.zeros((d + 1, p, p))
    B[0] = 1.0
    for m in range(n):
        x, wm = X[m], w[m]
        for k in range(min(d, m + 1), 0, -1):  # downwards: the (k-1) terms are still those of m-1 members
            Bk1, Gk1, Hk1 = B[k - 1], G[k - 1], H[k - 1]
            H[k] += wm * (Hk1 + np.outer(x, Gk1) + np.outer(Gk1, x) + np.outer(x, x) * Bk1)
            G[k] += wm * (Gk1 + x * Bk1)
            B[k] += wm * Bk1
    b, g, h = B[d], G[d], H[d]
    return float(np.log(b)), g / b, h / b - np.outer(g, g) / b ** 2


def _loglik(sets, beta):
    ll = 0.0
    grad = np.zeros(beta.size)
    info = np.zeros((beta.size, beta.size))
    for X, yb in sets:
        lb, g, h = _set_terms(X, int(yb.sum()), beta)
        ll += float(X[yb].sum(axis=0) @ beta) - lb
        grad += X[yb].sum(axis=0) - g
        info += h
    return ll, grad, info


def fit_conditional_logistic(
    data: pd.DataFrame,
    outcome: str,
    terms: Sequence[str],
    strata: np.ndarray,
    *,
    conf_level: float = 0.95,
    maxiter: int = 50,
    tol: float = 1e-10,
) -> ConditionalLogisticResult:
    """Fit ``outcome ~ terms + strata(set)`` by conditional maximum likelihood (``survival::clogit``).

    Parameters
    ----------
    data : DataFrame
        Numeric columns ``outcome`` (0/1) and ``terms``; rows with a missing value among them are dropped.
    outcome : str
        The 0/1 case indicator.
    terms : sequence of str
        Design columns (factor dummies included).
    strata : array
        Matched-set label of every row of ``data``.
    conf_level : float
        Level of the Wald intervals (``confint`` of a ``clogit`` fit).

    Returns
    -------
    ConditionalLogisticResult
        ``table`` with ``coef, se, z, p, or, or_ci_low, or_ci_high`` per term; ``loglik`` and
        ``loglik_null`` as R's ``fit$loglik``.
    """
    terms = list(terms)
    sub = data[[outcome] + terms].apply(pd.to_numeric, errors="coerce")
    ok = sub.notna().all(axis=1).to_numpy()
    n_dropped = int((~ok).sum())
    y = sub[outcome].to_numpy(float)[ok]
    X_all = sub[terms].to_numpy(float)[ok]
    groups = np.asarray(strata).astype(str)[ok]
    sets, used = [], np.zeros(y.size, bool)
    n_sets_dropped = 0
    for g in pd.unique(groups):
        idx = np.flatnonzero(groups == g)
        yb = y[idx] == 1
        if yb.all() or not yb.any():
            n_sets_dropped += 1
            continue
        Xg = X_all[idx]
        sets.append((Xg - Xg.mean(axis=0), yb))
        used[idx] = True
    Xc = np.vstack([s[0] for s in sets]) if sets else np.zeros((0, len(terms)))
    keep: list[int] = []
    for j in range(len(terms)):  # R drops a term that is a combination of earlier ones (aliased)
        cand = keep + [j]
        if np.linalg.matrix_rank(Xc[:, cand], tol=1e-9 * max(1.0, np.abs(Xc).max(initial=0))) == len(cand):
            keep.append(j)
    sets_k = [(X[:, keep], yb) for X, yb in sets]
    beta = np.zeros(len(keep))
    ll0, _, _ = _loglik(sets_k, beta)
    ll = ll0
    converged = False
    notes: list[str] = []
    for _ in range(maxiter):
        ll, grad, info = _loglik(sets_k, beta)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        new = beta + step
        ll_new = _loglik(sets_k, new)[0]
        halvings = 0
        while ll_new < ll - 1e-12 and halvings < 20:  # step halving, as coxph
            step /= 2
            new = beta + step
            ll_new = _loglik(sets_k, new)[0]
            halvings += 1
        beta = new
        if abs(ll_new - ll) < tol * (1 + abs(ll)) and np.abs(step).max() < 1e-7 * (1 + np.abs(beta).max()):
            converged = True
            ll = ll_new
            break
    ll, grad, info = _loglik(sets_k, beta)
    try:
        cov_k = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov_k = np.full((len(keep), len(keep)), np.nan)
        converged = False
    p = len(terms)
    coef = np.full(p, np.nan)
    cov = np.full((p, p), np.nan)
    coef[keep] = beta
    cov[np.ix_(keep, keep)] = cov_k
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    zc = float(sps.norm.ppf(1 - (1 - conf_level) / 2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = coef / se
        table = pd.DataFrame({"coef": coef, "se": se, "z": z, "p": 2 * sps.norm.sf(np.abs(z)), "or": np.exp(coef),
                              "or_ci_low": np.exp(coef - zc * se), "or_ci_high": np.exp(coef + zc * se)},
                             index=pd.Index(terms, name="term"))
    table["reason"] = ""
    for j, t in enumerate(terms):
        if j not in keep:
            table.loc[t, "reason"] = ALIASED_REASON
            notes.append(f"conditional logistic model: '{t}' is {ALIASED_REASON} (R gives NA)")
    if n_sets_dropped:
        notes.append(f"{n_sets_dropped} matched sets without a case or without a control were left out")
    if not converged:
        import warnings

        msg = f"conditional logistic model {outcome} ~ {' + '.join(terms)} did not converge"
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        notes.append(msg)
        table["reason"] = table["reason"].where(table["reason"] != "", "did not converge")
    return ConditionalLogisticResult(
        table=table, cov=pd.DataFrame(cov, index=terms, columns=terms), n=int(used.sum()),
        n_events=int(y[used].sum()), n_dropped=n_dropped + int((~used).sum()), converged=converged,
        separation=False, loglik=ll, aic=-2 * ll + 2 * len(keep), terms=terms, outcome=outcome, notes=notes,
        n_sets=len(sets), n_sets_dropped=n_sets_dropped, loglik_null=ll0)
