"""Reading a cohort spreadsheet (CSV or XLSX) and validating it for the analysis.

Every problem with the spreadsheet ends in one :class:`~spinebq.errors.SpinebqError` whose message is a
single sentence naming the file, the column and what is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence

import numpy as np
import pandas as pd

from spinebq.errors import OptionError, SpinebqError

__all__ = ["read_table", "parse_predictors", "validate_cohort", "Cohort", "MIN_EVENTS"]

MIN_EVENTS = 10
_TRUE = {"1", "1.0", "yes", "y", "true", "t", "event", "positive"}
_FALSE = {"0", "0.0", "no", "n", "false", "f", "none", "negative"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv`` (comma, semicolon or tab separated) or ``.xlsx``/``.xls`` file into a DataFrame.

    Raises
    ------
    SpinebqError
        When the file is missing, of another type, unreadable or empty.
    """
    path = Path(path)
    if not path.exists():
        raise SpinebqError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            df = pd.read_csv(path, sep=None, engine="python", encoding_errors="replace")
        elif suffix in (".xlsx", ".xlsm", ".xls"):
            df = pd.read_excel(path)
        else:
            raise SpinebqError(f"{path.name}: unsupported file type '{suffix}'; give a .csv or .xlsx file.")
    except SpinebqError:
        raise
    except Exception as exc:  # pandas raises many types for malformed files
        raise SpinebqError(f"{path.name} could not be read as a table ({type(exc).__name__}: {exc}).") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise SpinebqError(f"{path.name} has no data rows.")
    return df


def parse_predictors(predictors: str | Sequence[str]) -> dict[str, str]:
    """Parse ``"A:lower,B:higher,C"`` into ``{"A": ">", "B": "<", "C": "auto"}``.

    ``:lower`` means lower values go with the event (pROC ``direction=">"``); ``:higher`` the opposite.
    """
    from spinebq.stats.roc import normalize_direction

    items = predictors.split(",") if isinstance(predictors, str) else list(predictors)
    out: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, _, d = item.rpartition(":") if ":" in item else (item, "", "auto")
        name = name.strip()
        try:
            out[name] = normalize_direction(d or "auto")
        except ValueError:
            raise OptionError("predictors", f"'{item}': the direction after ':' must be 'lower' or 'higher', "
                                            f"not '{d}'.") from None
    if not out:
        raise OptionError("predictors", "no predictor given; give e.g. HU:lower,VBQ:higher.")
    return out


@dataclass
class Cohort:
    """A validated cohort: numeric columns, outcome coded 0/1 (NaN where missing)."""

    data: pd.DataFrame
    outcome: str
    columns: list[str]
    source: str
    n_outcome_missing: int
    notes: list[str] = field(default_factory=list)

    @property
    def y(self) -> np.ndarray:
        """The outcome as a float array (1 = event)."""
        return self.data[self.outcome].to_numpy(float)


def _code_outcome(col: pd.Series, name: str, source: str) -> pd.Series:
    values = col.dropna()
    if pd.api.types.is_bool_dtype(values):
        return col.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        uniq = np.unique(values.to_numpy(float))
        if not set(uniq.tolist()) <= {0.0, 1.0}:
            shown = ", ".join(f"{u:g}" for u in uniq[:6]) + (", ..." if uniq.size > 6 else "")
            raise SpinebqError(f"outcome column '{name}' in {source} must be binary (0 = no event, 1 = event) "
                               f"but holds {uniq.size} different values ({shown}).")
        return col.astype(float)
    text = col.astype("string").str.strip().str.lower()
    coded = pd.Series(np.nan, index=col.index, dtype=float)
    coded[text.isin(_TRUE)] = 1.0
    coded[text.isin(_FALSE)] = 0.0
    bad = text.notna() & (text != "") & coded.isna()
    if bad.any():
        uniq = sorted(set(col[bad].astype(str)))
        shown = ", ".join(repr(u) for u in uniq[:5])
        raise SpinebqError(f"outcome column '{name}' in {source} must be binary (0/1 or yes/no) but holds "
                           f"other values ({shown}).")
    return coded


def validate_cohort(
    df: pd.DataFrame,
    outcome: str,
    columns: Sequence[str],
    *,
    source: str = "the data",
    min_events: int = MIN_EVENTS,
) -> Cohort:
    """Check a cohort table and return its numeric, 0/1-coded form.

    Checks, in order, each failing with one sentence: the outcome column exists; every named column
    exists; the outcome is binary; both classes occur; at least ``min_events`` events and non-events;
    every named column holds only numbers or empty cells (the first text value is quoted with its row).

    Parameters
    ----------
    df : DataFrame
        As read by :func:`read_table`.
    outcome : str
        The 0/1 outcome column (1 = event).
    columns : sequence of str
        Predictor and model columns that must be numeric.
    source : str
        File name used in messages.
    min_events : int
        Smallest number of events (and of non-events) accepted.

    Returns
    -------
    Cohort
        Rows with a missing outcome are dropped (counted in ``n_outcome_missing``).

    Raises
    ------
    SpinebqError
    """
    cols = list(dict.fromkeys(columns))
    if outcome not in df.columns:
        raise SpinebqError(f"{source} has no outcome column '{outcome}' (columns are: "
                           f"{', '.join(map(str, df.columns[:12]))}{', ...' if df.shape[1] > 12 else ''}).")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise SpinebqError(f"{source} has no column {', '.join(repr(m) for m in missing)} named in the "
                           f"predictors or model (columns are: {', '.join(map(str, df.columns[:12]))}).")
    y = _code_outcome(df[outcome], outcome, source)
    n_missing_y = int(y.isna().sum())
    classes = set(y.dropna().unique().tolist())
    if len(classes) < 2:
        only = "events (1)" if classes == {1.0} else "non-events (0)" if classes == {0.0} else "missing values"
        raise SpinebqError(f"outcome column '{outcome}' in {source} has only one class: all rows are {only}.")
    n_events = int((y == 1).sum())
    n_non = int((y == 0).sum())
    if n_events < min_events:
        raise SpinebqError(f"outcome column '{outcome}' in {source} has only {n_events} events (value 1); at "
                           f"least {min_events} are needed for logistic regression and ROC analysis.")
    if n_non < min_events:
        raise SpinebqError(f"outcome column '{outcome}' in {source} has only {n_non} non-events (value 0); at "
                           f"least {min_events} are needed for logistic regression and ROC analysis.")
    out = pd.DataFrame({outcome: y})
    for c in cols:
        col = df[c]
        if pd.api.types.is_bool_dtype(col):
            out[c] = col.astype(float)
            continue
        if pd.api.types.is_numeric_dtype(col):
            out[c] = col.astype(float)
            continue
        as_text = col.astype("string").str.strip()
        num = pd.to_numeric(as_text.str.replace(",", ".", regex=False), errors="coerce")
        bad = as_text.notna() & (as_text != "") & num.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SpinebqError(f"column '{c}' in {source} has a text value {str(col.iloc[i])!r} in row {i + 2} "
                               f"(counting the header as row 1); it must hold numbers or empty cells.")
        out[c] = num.astype(float)
    notes = []
    if n_missing_y:
        notes.append(f"{n_missing_y} rows with a missing outcome were dropped")
    out = out[~y.isna().to_numpy()].reset_index(drop=True)
    return Cohort(data=out, outcome=outcome, columns=cols, source=source, n_outcome_missing=n_missing_y,
                  notes=notes)
