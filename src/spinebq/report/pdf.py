"""PDF of a report: its HTML layout printed by WeasyPrint (the same page a browser shows, with the print style)."""
from __future__ import annotations

from pathlib import Path


def html_to_pdf(html: str, path: str | Path) -> Path:
    """Print ``html`` to the A4 PDF ``path`` (written whole or not at all). Only ``data:`` URLs are fetched: the
    reports embed everything, so nothing goes to the network."""
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # its progress steps and CSS notes are not the user's
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=["data"])).write_pdf(str(temporary))
    temporary.replace(path)
    return path


def write_patient_pdf(report: dict, path: str | Path) -> Path:
    """Write the per-patient report as an A4 PDF: the HTML of :func:`spinebq.report.html.render_patient_html`
    printed (:func:`html_to_pdf`)."""
    from spinebq.report.html import render_patient_html

    return html_to_pdf(render_patient_html(report), path)
