"""Small shared pieces: the result base class, the stats warning classes and table formatters."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spinebq.errors import SpinebqWarning

__all__ = [
    "StatsWarning",
    "PerfectSeparationWarning",
    "ConvergenceWarning",
    "DirectionWarning",
    "Result",
    "complete_pairs",
    "frame_to_markdown",
    "frame_to_latex",
    "jsonable",
    "format_p",
    "is_p_column",
]

#: p-values below this print as "< 0.001"
P_FLOOR = 0.001


class StatsWarning(SpinebqWarning):
    """A statistical result was produced, but the user should know something about it."""


class PerfectSeparationWarning(StatsWarning):
    """A predictor (or combination) separates events from non-events: the MLE does not exist."""


class ConvergenceWarning(StatsWarning):
    """An iterative fit stopped before convergence."""


class DirectionWarning(StatsWarning):
    """A ROC direction was inferred from the data instead of given by the user."""


def _fmt_cell(value: Any, decimals: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{decimals}f}"
    return str(value)


def format_p(p: float | None) -> str:
    """A p-value as papers print it: ``< 0.001`` below 0.001, else three decimals (``NaN`` when missing)."""
    if p is None or not np.isfinite(p):
        return "NaN"
    return f"< {P_FLOOR:g}" if p < P_FLOOR else f"{p:.3f}"


def is_p_column(name: str) -> bool:
    """Whether a table column holds p-values (``p``, ``p_...``, ``..._p``)."""
    name = str(name).lower()
    return name == "p" or name.startswith("p_") or name.endswith("_p")


def frame_to_markdown(frame: pd.DataFrame, *, decimals: int = 3, index: bool = True) -> str:
    """Return ``frame`` as a GitHub Markdown table (no third-party dependency)."""
    df = frame.reset_index() if index and frame.index.name is not None else frame
    if index and frame.index.name is None and not isinstance(frame.index, pd.RangeIndex):
        df = frame.reset_index()
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    pcols = [is_p_column(c) for c in cols]
    for row in df.itertuples(index=False):
        cells = [format_p(v) if isp and isinstance(v, (float, np.floating)) else _fmt_cell(v, decimals)
                 for v, isp in zip(row, pcols)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        text = text.replace(a, b)
    return text


def frame_to_latex(frame: pd.DataFrame, *, decimals: int = 3, caption: str | None = None) -> str:
    """Return ``frame`` as a LaTeX ``tabular`` (booktabs rules; no jinja2 needed)."""
    df = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    cols = [_latex_escape(str(c)) for c in df.columns]
    out = []
    if caption:
        out.append(r"\begin{table}" + "\n" + r"\caption{" + _latex_escape(caption) + "}")
    out.append(r"\begin{tabular}{" + "l" * len(cols) + "}")
    out.append(r"\toprule")
    out.append(" & ".join(cols) + r" \\")
    out.append(r"\midrule")
    for row in df.itertuples(index=False):
        out.append(" & ".join(_latex_escape(_fmt_cell(v, decimals)) for v in row) + r" \\")
    out.append(r"\bottomrule")
    out.append(r"\end{tabular}")
    if caption:
        out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas values to JSON-ready Python values (NaN and inf become ``None``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return None if (math.isnan(v) or math.isinf(v)) else v
    if isinstance(value, pd.DataFrame):
        return jsonable(value.to_dict(orient="index"))
    return value


@dataclass
class Result:
    """Base class of statistics results.

    Subclasses implement :attr:`summary` (a tidy :class:`pandas.DataFrame`); this class adds the
    renderers. ``notes`` holds plain-language remarks (inferred directions, separation, ties...).
    """

    notes: list[str] = field(default_factory=list, kw_only=True)

    @property
    def summary(self) -> pd.DataFrame:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_html(self, *, decimals: int = 3) -> str:
        """Return :attr:`summary` as an HTML table."""
        return self.summary.to_html(float_format=lambda v: f"{v:.{decimals}f}", na_rep="NaN")

    def to_latex(self, *, decimals: int = 3, caption: str | None = None) -> str:
        """Return :attr:`summary` as a LaTeX tabular."""
        return frame_to_latex(self.summary, decimals=decimals, caption=caption)

    def to_markdown(self, *, decimals: int = 3) -> str:
        """Return :attr:`summary` as a Markdown table."""
        return frame_to_markdown(self.summary, decimals=decimals)

    def __str__(self) -> str:
        return f"{type(self).__name__}\n{self.summary.to_string()}"


def complete_pairs(y, p) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and predictions as float arrays, dropping every pair where either is missing."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    ok = ~(np.isnan(y) | np.isnan(p))
    return y[ok], p[ok]
