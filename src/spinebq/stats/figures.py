"""Publication figures (matplotlib, Agg backend): ROC, calibration, decision curve, clinical impact, nomogram.

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes PNG/SVG/PDF by the
file suffix and closes it.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

import numpy as np

from spinebq.stats.decision import ClinicalImpactResult, DecisionCurveResult
from spinebq.stats.nomogram import Nomogram
from spinebq.stats.performance import ValidationResult
from spinebq.stats.roc import RocResult

__all__ = ["roc_figure", "calibration_figure", "dca_figure", "clinical_impact_figure", "nomogram_figure",
           "save_figure"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, *, dpi: int = 200) -> Path:
    """Save ``fig`` (format from the suffix: .png, .svg, .pdf) and close it."""
    plt = _plt()
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": "spinebq"} if path.suffix == ".png" else None)
    plt.close(fig)
    return path


def roc_figure(results: Sequence[RocResult], *, title: str = "ROC curves") -> object:
    """ROC curves (1 - specificity vs sensitivity) with AUC and DeLong CI in the legend; Youden points marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for r in results:
        c = r.curve.sort_values(["specificity", "sensitivity"], ascending=[False, True])
        line, = ax.plot(1 - c["specificity"], c["sensitivity"], drawstyle="default", lw=1.6,
                        label=f"{r.name} ({'higher' if r.direction == '<' else 'lower'}) AUC {r.auc:.3f} [{r.auc_ci[0]:.3f}-{r.auc_ci[1]:.3f}]")
        ax.plot(1 - r.youden["specificity"], r.youden["sensitivity"], "o", color=line.get_color(), ms=4)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)
    return fig


def calibration_figure(validation: ValidationResult, *, title: str | None = None) -> object:
    """Apparent and bias-corrected lowess calibration curves against the ideal line (``plot(rms::calibrate)``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    cc = validation.calibration_curve
    if cc is not None:
        ax.plot(cc["predicted"], cc["apparent"], ls="--", color="tab:blue", label="Apparent")
        ax.plot(cc["predicted"], cc["bias_corrected"], color="tab:red", label="Bias-corrected")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="Ideal")
    ax.set_xlabel("Predicted probability")
    ax.set_ylabel("Observed probability")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or f"Calibration (B = {validation.B}, MAE = {validation.mae:.3f})")
    return fig


def dca_figure(dca: DecisionCurveResult, *, title: str = "Decision curve") -> object:
    """Net benefit of the model, treat-all and treat-none."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    t = dca.table
    ax.plot(t["threshold"], t["model"], color="tab:red", lw=1.8, label="Model")
    ax.plot(t["threshold"], t["treat_all"], color="grey", ls="--", lw=1.2, label="Treat all")
    ax.plot(t["threshold"], t["treat_none"], color="black", lw=1.2, label="Treat none")
    top = max(float(np.nanmax(t["model"])), dca.prevalence)
    ax.set_ylim(-0.05 * max(top, 0.05) - 0.01, top * 1.1 + 0.01)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Threshold probability")
    ax.set_ylabel("Net benefit")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def clinical_impact_figure(ci: ClinicalImpactResult, *, title: str = "Clinical impact curve") -> object:
    """Number high risk and number high risk with event per ``population`` patients, with cost:benefit axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    t = ci.table
    ax.plot(t["threshold"], t["n_high_risk"], color="black", lw=1.6, label=f"Number high risk/{ci.population}")
    ax.plot(t["threshold"], t["n_high_risk_with_event"], color="tab:red", ls="--", lw=1.6,
            label=f"Number high risk with event/{ci.population}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, ci.population)
    ax.set_xlabel("Risk threshold")
    ax.set_ylabel(f"Number high risk (of {ci.population})")
    sec = ax.secondary_xaxis("top")
    ticks = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    sec.set_xticks(ticks)
    sec.set_xticklabels([f"1:{(1 - v) / v:.2g}" for v in ticks], fontsize=7)
    sec.set_xlabel("Cost:benefit ratio", fontsize=8)
    ax.legend(fontsize=8)
    ax.set_title(title, pad=28)
    return fig


def nomogram_figure(nomogram: Nomogram, *, title: str = "Nomogram") -> object:
    """The nomogram (see :meth:`Nomogram.plot`)."""
    return nomogram.plot(title=title)
