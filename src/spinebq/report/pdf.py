"""PDF of a per-patient report (its HTML layout printed by WeasyPrint) and the matplotlib page helpers of the
cohort report."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from spinebq import __version__  # noqa: E402

A4 = (8.27, 11.69)


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
    """Write the per-patient report as an A4 PDF: the HTML layout of :func:`spinebq.report.html.render_patient_html`
    printed by WeasyPrint (the same page a browser shows, with the print style). Only ``data:`` URLs are
    fetched: the report embeds everything, so nothing goes to the network."""
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # its progress steps and CSS notes are not the user's
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    from spinebq.report.html import render_patient_html

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    HTML(string=render_patient_html(report), url_fetcher=URLFetcher(allowed_protocols=["data"])).write_pdf(str(temporary))
    temporary.replace(path)
    return path
