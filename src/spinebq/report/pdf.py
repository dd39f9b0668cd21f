"""PDF of a per-patient or cohort report drawn with matplotlib (no browser or other tool needed)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from spinebq import __version__  # noqa: E402

A4 = (8.27, 11.69)
#: CT level columns that fit an A4 page (report.html shows them all).
PDF_CT_KEYS = ("hu_3d", "hu_2d", "vbmd_mg_cm3", "acr_category", "st_hu", "hu_ratio", "regions.A.hu_mean", "genant_grade",
               "body_volume_ml")


def _page(pdf: PdfPages, title: str, notice: str):
    fig = plt.figure(figsize=A4)
    fig.text(0.06, 0.965, title, fontsize=13, weight="bold", va="top")
    fig.text(0.06, 0.935, notice, fontsize=7.5, color="#8a5a00", va="top")
    fig.text(0.06, 0.02, f"spinebq {__version__} - research use only, not a medical device", fontsize=6.5, color="#666")
    return fig


def _table(fig, top: float, header: list[str], rows: list[list[str]], widths: list[float], *, size: float = 6.5,
           height: float | None = None, colors: list[str] | None = None) -> float:
    """Draw a table whose top edge is at ``top`` (figure fraction); return the fraction where it ends."""
    n = len(rows) + 1
    lines = [max(1, max(str(c).count("\n") + 1 for c in row)) for row in [header] + rows]
    h = height or min(top - 0.05, 0.0125 * sum(lines) + 0.004 * n)
    ax = fig.add_axes([0.05, top - h, 0.9, h])
    ax.axis("off")
    table = ax.table(cellText=rows or [["-"] * len(header)], colLabels=header, colWidths=widths, loc="upper left",
                     cellLoc="left", bbox=[0, 0, 1, 1])
    table.auto_set_font_size(False)
    table.set_fontsize(size)
    for (r, c), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        if r == 0:
            cell.set_facecolor("#e8eef8")
        elif colors and colors[r - 1]:
            cell.set_facecolor(colors[r - 1])
    return top - h


def _wrap(text, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) if text else "-"


def write_patient_pdf(report: dict, path: str | Path) -> Path:
    """Write the per-patient report (see :func:`spinebq.report.patient.patient_report`) as a PDF."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    title = f"Spine bone quality report: {report['patient_id']}"
    notice = "Research use only, not a medical device. " + report["notice"]
    with PdfPages(path, metadata={"Title": title, "Creator": f"spinebq {__version__}"}) as pdf:
        fig = _page(pdf, title, notice)
        y = 0.91
        lines = list(report["scans"]) + [f"{k}: {v}" for k, v in report["phi"].items()]
        if report["clinical"]:
            lines.append("clinical data used: " + ", ".join(f"{k} {v}" for k, v in report["clinical"].items()))
        s = report.get("ct_summary")
        if s:
            hu = "n/a" if s["hu"] is None else f"{s['hu']:.1f} HU"
            hu2 = "n/a" if s["hu_2d"] is None else f"{s['hu_2d']:.1f} HU"
            vb = (f"vBMD {s['vbmd_mg_cm3']:.1f} mg/cm3, ACR {s['acr_category']}" if s["vbmd_mg_cm3"] is not None
                  else "not calibrated to vBMD")
            lines.append(f"CT {'-'.join(s['levels']) or 'no level'}: {s['hu_key']} {hu}, three-slice {hu2}; {vb}")
        if report.get("mri"):
            lines.append("MRI: " + ", ".join(f"{sc['label']} {sc['text']}" for sc in report["mri"]["scores"]))
        fig.text(0.06, y, "\n".join(_wrap(t, 120) for t in lines), fontsize=7.5, va="top")
        y -= 0.016 * sum(_wrap(t, 120).count("\n") + 1 for t in lines) + 0.02
        fig.text(0.06, y, "Published models (each on its own, no pooled score)", fontsize=10, weight="bold", va="top")
        rows, colors = [], []
        shown = [r for r in report["assessment"] if r["status"] != "not_applicable"]
        for r in sorted(shown, key=lambda r: r["status"] != "applied"):
            digits = 3 if r["unit"] in ("ratio", "probability") else 1
            auc = "-" if r["auc"] is None else f"{r['auc']:.3f}"
            rows.append([f"{r['key']}\npaper {r['paper']}", _wrap(r["predictor"], 34), str(r["level"] or ""),
                         f"{r['value']:.{digits}f}", r["cutoff_text"], _wrap(r["side_text"], 26), auc,
                         _wrap("; ".join(r["caveats"]), 52)])
            colors.append(("#fde2e2" if r["at_risk_side"] else "#e3f4e3") if r["status"] == "applied" else "")
        y = _table(fig, y - 0.02, ["model", "predictor", "level", "value", "cutoff", "side", "AUC", "caveats"], rows,
                   [0.1, 0.19, 0.07, 0.06, 0.08, 0.15, 0.05, 0.3], size=5.5, colors=colors)
        missing = [r for r in report["assessment"] if r["status"] == "not_applicable"]
        if missing:
            fig.text(0.06, y - 0.01, "Not applied to this patient", fontsize=9, weight="bold", va="top")
            _table(fig, y - 0.03, ["model", "level", "cutoff", "why not"],
                   [[f"{r['key']} ({r['paper']})", str(r["level"] or ""), r["cutoff_text"], _wrap(r["reason"], 95)] for r in missing],
                   [0.16, 0.1, 0.12, 0.62], size=5.5)
        pdf.savefig(fig)
        plt.close(fig)

        if report.get("ct_levels") or report.get("mri"):
            fig = _page(pdf, title, notice)
            y = 0.91
            if report.get("ct_levels"):
                t = dict(report["ct_levels"])
                t["columns"] = [c for c in t["columns"] if c["key"] in PDF_CT_KEYS]
                fig.text(0.06, y, "CT: levels, cranial to caudal (all columns in report.html)", fontsize=10, weight="bold", va="top")
                header = ["level"] + [c["header"] + (f" ({c['unit']})" if c["unit"] else "") for c in t["columns"]] + ["QC"]
                rows = [[row["level"]] + [row["cells"][c["key"]]["text"] for c in t["columns"]]
                        + [_wrap("; ".join(row["qc"]) or "ok", 40)] for row in t["rows"]]
                n = len(t["columns"])
                y = _table(fig, y - 0.02, header, rows, [0.07] + [0.6 / max(n, 1)] * n + [0.33], size=6)
                y -= 0.03
            if report.get("mri"):
                m = report["mri"]
                fig.text(0.06, y, "MRI", fontsize=10, weight="bold", va="top")
                rows = [[sc["label"], sc["text"], _wrap(sc["method"] or sc["reason"], 110)] for sc in m["scores"]]
                y = _table(fig, y - 0.02, ["score", "value", "method"], rows, [0.1, 0.08, 0.82], size=5.5)
                rows = [[row["level"]] + [row["cells"][c["key"]]["text"] for c in m["columns"]] + [_wrap("; ".join(row["qc"]) or "ok", 60)]
                        for row in m["rows"]]
                y = _table(fig, y - 0.02, ["level"] + [c["header"] for c in m["columns"]] + ["QC"], rows,
                           [0.08, 0.12, 0.12, 0.12, 0.56], size=6)
                if m["muscle"]:
                    rows = [[mu["level"], str(mu["goutallier"]), mu["plane"]] for mu in m["muscle"]]
                    _table(fig, y - 0.02, ["disc level", "Goutallier (worse side)", "measured on"], rows,
                           [0.2, 0.4, 0.4], size=6)
            pdf.savefig(fig)
            plt.close(fig)

        pictures = report["pictures"]
        for i in range(0, len(pictures), 2):
            fig = _page(pdf, title, notice)
            for j, pic in enumerate(pictures[i:i + 2]):
                ax = fig.add_axes([0.05, 0.5 - 0.45 * j, 0.9, 0.4])
                ax.imshow(mpimg.imread(str(pic["path"])))
                ax.set_title(pic["title"], fontsize=9)
                ax.axis("off")
            pdf.savefig(fig)
            plt.close(fig)

        fig = _page(pdf, title, notice)
        fig.text(0.06, 0.91, "Methods and caveats", fontsize=10, weight="bold", va="top")
        fig.text(0.06, 0.88, "\n".join("- " + _wrap(c, 125).replace("\n", "\n  ") for c in report["caveats"]), fontsize=7, va="top")
        pdf.savefig(fig)
        plt.close(fig)
    return path
