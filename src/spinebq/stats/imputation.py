"""Multiple imputation by chained equations (predictive mean matching) and Rubin's rules.

The imputation follows ``mice::mice(data, m = 5, maxit = 10, method = "pmm")``: start from random draws
of the observed values, then for every incomplete variable in turn draw the regression parameters from
their posterior (Bayesian linear regression, ridge 1e-5), and for each missing value pick one of the
5 observed values whose predicted mean is closest ("type 1" matching). Being random, the imputed values
equal R's only in distribution; pooling is deterministic and equals ``mice::pool()`` for the same
imputed data sets (Rubin's rules with the Barnard-Rubin degrees of freedom, ``dfcom = n - p``).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from spinebq.stats._result import Result
from spinebq.stats.logistic import fit_logistic

__all__ = ["mice_pmm", "rubin_pool", "pool_logistic", "pool_auc", "PooledResult", "PooledAuc", "barnard_rubin_df"]


def _pmm_draw(Xobs: np.ndarray, yobs: np.ndarray, Xmis: np.ndarray, rng: np.random.Generator,
              donors: int = 5, ridge: float = 1e-5) -> np.ndarray:
    xtx = Xobs.T @ Xobs
    pen = np.diag(np.diag(xtx) * ridge)
    v = np.linalg.inv(xtx + pen)
    coef = v @ Xobs.T @ yobs
    resid = yobs - Xobs @ coef
    df = max(len(yobs) - Xobs.shape[1], 1)
    sigma_star = np.sqrt(np.sum(resid ** 2) / rng.chisquare(df))
    chol = np.linalg.cholesky((v + v.T) / 2)
    beta_star = coef + sigma_star * chol @ rng.standard_normal(Xobs.shape[1])
    yhat_obs = Xobs @ coef
    yhat_mis = Xmis @ beta_star
    out = np.empty(len(Xmis))
    k = min(donors, len(yobs))
    for i, target in enumerate(yhat_mis):
        d = np.abs(yhat_obs - target)
        nearest = np.argpartition(d, k - 1)[:k] if k < len(d) else np.arange(len(d))
        out[i] = yobs[rng.choice(nearest)]
    return out


def mice_pmm(data: pd.DataFrame, *, m: int = 5, maxit: int = 10, seed: int = 20240101,
             donors: int = 5) -> list[pd.DataFrame]:
    """Impute the missing values of the numeric DataFrame ``data`` ``m`` times.

    Parameters
    ----------
    data : DataFrame
        Numeric columns; every column serves as predictor of the others.
    m, maxit : int
        Number of imputed data sets and of iterations per chain (mice defaults 5 and 5; the papers use 10).
    seed : int
        Seed (one :class:`numpy.random.Generator` for the whole run).
    donors : int
        Candidate donors in predictive mean matching.

    Returns
    -------
    list of DataFrame
        ``m`` completed copies of ``data``.
    """
    rng = np.random.default_rng(seed)
    x0 = data.to_numpy(float)
    miss = np.isnan(x0)
    cols = [j for j in range(x0.shape[1]) if miss[:, j].any() and (~miss[:, j]).sum() > 1]
    out = []
    for _ in range(m):
        x = x0.copy()
        for j in cols:
            obs = x0[~miss[:, j], j]
            x[miss[:, j], j] = rng.choice(obs, size=int(miss[:, j].sum()))
        for _ in range(maxit):
            for j in cols:
                others = [c for c in range(x.shape[1]) if c != j]
                X = np.column_stack([np.ones(len(x)), x[:, others]])
                keep = np.ptp(X, axis=0) > 0
                keep[0] = True
                X = X[:, keep]
                ob = ~miss[:, j]
                x[~ob, j] = _pmm_draw(X[ob], x[ob, j], X[~ob], rng, donors=donors)
        out.append(pd.DataFrame(x, columns=data.columns, index=data.index))
    return out


def barnard_rubin_df(m: int, b: np.ndarray, t: np.ndarray, dfcom: float) -> np.ndarray:
    """Barnard-Rubin (1999) degrees of freedom, exactly as ``mice:::barnard.rubin``."""
    lam = (1 + 1 / m) * b / t
    lam = np.where(lam < 1e-4, 1e-4, lam)
    dfold = (m - 1) / lam ** 2
    if np.isinf(dfcom):
        return dfold
    dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return dfold * dfobs / (dfold + dfobs)


@dataclass
class PooledResult(Result):
    """Estimates pooled over imputations by Rubin's rules (``summary(mice::pool(fit), conf.int = TRUE)``)."""

    table: pd.DataFrame
    m: int
    dfcom: float

    @property
    def summary(self) -> pd.DataFrame:
        """``estimate, se, statistic, df, p, or, or_ci_low, or_ci_high, ubar, b, t, riv, lambda, fmi``."""
        return self.table

    def to_dict(self) -> dict:
        """``{term: {or, or_ci, p, estimate, se, df, fmi}}``."""
        return {term: {"or": r["or"], "or_ci": [r["or_ci_low"], r["or_ci_high"]], "p": r["p"],
                       "estimate": r["estimate"], "se": r["se"], "df": r["df"], "fmi": r["fmi"]}
                for term, r in self.table.iterrows() if term != "(Intercept)"} | {"m": self.m, "dfcom": self.dfcom}


def rubin_pool(estimates: np.ndarray, variances: np.ndarray, *, dfcom: float, names: Sequence[str],
               conf_level: float = 0.95) -> PooledResult:
    """Pool ``m x p`` estimates and their squared standard errors by Rubin's rules.

    Q̄ = mean Q_i; W (ubar) = mean U_i; B = var(Q_i); T = W + (1 + 1/m) B; df Barnard-Rubin.
    p-values and CIs use the t distribution with that df (as ``mice::pool``).
    """
    q = np.asarray(estimates, float)
    u = np.asarray(variances, float)
    m = q.shape[0]
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    df = barnard_rubin_df(m, b, t, dfcom)
    riv = (1 + 1 / m) * b / ubar
    lam = (1 + 1 / m) * b / t
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = np.sqrt(t)
    stat = qbar / se
    p = 2 * sps.t.sf(np.abs(stat), df)
    tc = sps.t.ppf(1 - (1 - conf_level) / 2, df)
    table = pd.DataFrame({"estimate": qbar, "se": se, "statistic": stat, "df": df, "p": p,
                          "ci_low": qbar - tc * se, "ci_high": qbar + tc * se,
                          "or": np.exp(qbar), "or_ci_low": np.exp(qbar - tc * se), "or_ci_high": np.exp(qbar + tc * se),
                          "ubar": ubar, "b": b, "t": t, "riv": riv, "lambda": lam, "fmi": fmi},
                         index=pd.Index(list(names), name="term"))
    return PooledResult(table=table, m=m, dfcom=float(dfcom))


def pool_logistic(datasets: Sequence[pd.DataFrame], outcome: str, terms: Sequence[str], *,
                  cluster: np.ndarray | None = None) -> PooledResult:
    """Fit ``outcome ~ terms`` on each completed data set and pool (``with(imp, glm(...))``, ``pool()``).

    ``dfcom`` is the residual df of the complete-data model, ``n - (number of coefficients)``. With ``cluster``
    (the patient of each row) each fit's variance is cluster-robust (``rms::robcov``), as the complete-case model's.
    """
    fits = [fit_logistic(d, outcome, terms, cluster=cluster) for d in datasets]
    est = np.vstack([f.table["coef"].to_numpy() for f in fits])
    var = np.vstack([f.table["se"].to_numpy() ** 2 for f in fits])
    dfcom = fits[0].n - len(fits[0].table)
    return rubin_pool(est, var, dfcom=dfcom, names=list(fits[0].table.index))


@dataclass
class PooledAuc(Result):
    """The model's AUC pooled over imputations by Rubin's rules on the logit scale.

    Attributes
    ----------
    auc : float
        ``expit`` of the mean logit AUC.
    ci : tuple of float
        ``expit(qbar -+ t_df * sqrt(T))``.
    df : float
        Rubin's (1987) degrees of freedom (complete-data df infinite).
    aucs : list of float
        The apparent AUC of the model refitted on each completed data set.
    """

    auc: float
    ci: tuple[float, float]
    df: float
    aucs: list[float]

    @property
    def summary(self) -> pd.DataFrame:
        """One row: ``auc, ci_low, ci_high, df, m``."""
        return pd.DataFrame([{"auc": self.auc, "ci_low": self.ci[0], "ci_high": self.ci[1], "df": self.df,
                              "m": len(self.aucs)}], index=pd.Index(["model"], name="roc"))

    def to_dict(self) -> dict:
        """``{auc, auc_ci, df, aucs, method}``."""
        return {"auc": self.auc, "auc_ci": list(self.ci), "df": self.df, "aucs": self.aucs,
                "method": "Rubin's rules on logit(AUC), DeLong variance by delta method"}


def pool_auc(datasets: Sequence[pd.DataFrame], outcome: str, terms: Sequence[str], *,
             conf_level: float = 0.95) -> PooledAuc:
    """Pool the model's AUC over completed data sets (Rubin's rules on the logit scale).

    On each data set the model is refitted and its AUC ``a`` and DeLong variance ``v`` computed;
    ``logit(a)`` with variance ``v / (a (1 - a))^2`` (delta method) is pooled as ``mice::pool.scalar(n = Inf)``
    does, and the interval ``qbar -+ t_df sqrt(T)`` is transformed back with ``expit``.
    """
    from spinebq.stats.logistic import expit
    from spinebq.stats.roc import delong_placements, delong_variance

    q, u, aucs = [], [], []
    for d in datasets:
        fit = fit_logistic(d, outcome, terms)
        cc = d[[outcome] + list(terms)].dropna()
        a, v10, v01 = delong_placements(cc[outcome].to_numpy(float) == 1, fit.predict(cc), "<")
        v = delong_variance(v10, v01)
        aucs.append(float(a))
        q.append(np.log(a / (1 - a)))
        u.append(v / (a * (1 - a)) ** 2)
    pooled = rubin_pool(np.array(q)[:, None], np.array(u)[:, None], dfcom=np.inf, names=["auc"],
                        conf_level=conf_level).table.iloc[0]
    ci = (float(expit(pooled["ci_low"])), float(expit(pooled["ci_high"])))
    return PooledAuc(auc=float(expit(pooled["estimate"])), ci=ci, df=float(pooled["df"]), aucs=aucs)
