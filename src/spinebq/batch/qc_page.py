"""The cohort QC page (``DIR/qc.html``): one self-contained HTML file with a row per study.

Each row shows the study's thumbnail (:func:`spinebq.report.thumbnail.spine_thumbnail`, inlined as a
``data:image/png`` URI), its status and reason, the series measured and the summary numbers, so a reviewer can
scan a cohort, sort it by any column, filter it by text or status and open a study's own report. The page
has no external resource at all (inline CSS and vanilla JavaScript, a Content-Security-Policy that forbids
fetching anything), so it works offline, moved to another folder or sent by mail.
"""
from __future__ import annotations

import base64
import html
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from spinebq.constants import RESEARCH_NOTICE
from spinebq.records.quantities import STUDY_QUANTITIES
from spinebq.report.files import write_atomic

#: Every status a study can have in the batch ledger, in the order the page counts them.
STATUSES = ("done", "failed", "skipped", "pending", "running")
#: The order a cohort's QC page lists its studies in: those that need a look first (failed), then the results, then
#: what was not measured (skipped files); by study key within a status.
REVIEW_ORDER = ("failed", "done", "running", "pending", "skipped")
#: What a missing value means when the row gives no reason, by status.
MISSING_BY_STATUS = {"done": "no value for this study", "failed": "the study failed",
                     "skipped": "the study was skipped", "pending": "the study has not run yet",
                     "running": "the study is still running"}
#: Sort order of the ACR categories (the page sorts them by severity, not alphabetically).
ACR_ORDER = {"normal": 0, "low_bone_mass": 1, "osteoporosis": 2}
MISSING = "\u2014"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Shown thumbnail height, CSS px (the picture is about 220 x 300 px; a click shows it at full size).
THUMBNAIL_HEIGHT_PX = 140


@dataclass(frozen=True)
class QcRow:
    """One study on the QC page.

    Attributes
    ----------
    key : str
        Pseudonymous study key.
    status : str
        One of :data:`STATUSES`.
    reason : str or None
        Why the study failed or was skipped, or a note on a done study.
    thumbnail : Path or None
        The study's PNG thumbnail (relative paths are relative to the working directory, not to the page).
    series_description : str or None
        SeriesDescription of the CT measured.
    kvp : float or None
        Tube voltage, kV.
    kernel : str or None
        Reconstruction kernel.
    contrast_phase : str or None
        ``non_contrast``, ``portal_venous``, ...
    slice_thickness_mm : float or None
    hu : float or None
        Summary trabecular attenuation of L1-L4, HU.
    vbmd_mg_cm3 : float or None
        Summary volumetric BMD of L1-L4, mg/cm3.
    acr_category : str or None
        ``normal``, ``low_bone_mass`` or ``osteoporosis``.
    fractured_levels : tuple of str or None
        Levels with a vertebral fracture (empty: none found; None: not assessed, e.g. an MRI-only study).
    qc_flags : tuple of str
        QC flags as ``"L1: flag"`` strings.
    report_href : str or None
        Link to the study's report, relative to the page (``studies/<key>/report.html``).
    vbq, pbq : float or None
        The MRI's vertebral and pedicle bone quality scores (the cohort table's ``vbq`` and ``pbq``).
    """

    key: str
    status: str
    reason: str | None = None
    thumbnail: Path | None = None
    series_description: str | None = None
    kvp: float | None = None
    kernel: str | None = None
    contrast_phase: str | None = None
    slice_thickness_mm: float | None = None
    hu: float | None = None
    vbmd_mg_cm3: float | None = None
    acr_category: str | None = None
    fractured_levels: tuple[str, ...] | None = ()
    qc_flags: tuple[str, ...] = ()
    report_href: str | None = None
    vbq: float | None = None
    pbq: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"QcRow {self.key!r}: status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        for name in ("fractured_levels", "qc_flags"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"QcRow {self.key!r}: {name} must be a tuple of strings, not the string "
                                f"{getattr(self, name)!r}")


def write_qc_page(path: str | Path, rows: Sequence[QcRow], *, title: str, notice: str = RESEARCH_NOTICE) -> Path:
    """Write the cohort QC page as one self-contained HTML file.

    Parameters
    ----------
    path : str or Path
        The HTML file to write (atomically: a crash never leaves half a page).
    rows : Sequence of QcRow
        One row per study, in the order the page first shows them.
    title : str
        Page title and heading.
    notice : str
        The research notice shown at the top (:data:`spinebq.constants.RESEARCH_NOTICE`).

    Returns
    -------
    Path
        ``path``. The same rows give the same bytes (no time stamp).

    Notes
    -----
    A thumbnail that is missing or is not a PNG gives a grey placeholder saying why; it never stops the page.
    """
    counts = Counter(row.status for row in rows)
    chips = "".join(
        f'<button type="button" class="chip s-{status}{" zero" if not counts[status] else ""}" data-status="{status}">'
        f'{status} <b>{counts[status]}</b></button>' for status in STATUSES)
    options = "".join(f'<option value="{s}">{s} ({counts[s]})</option>' for s in STATUSES)
    header = "".join(_header_cell(column) for column in COLUMNS)
    body = "\n".join(_row(row) for row in rows)
    page = PAGE.format(
        title=_e(title), notice=_e(notice), n=len(rows), chips=chips, options=options, header=header, body=body,
        css=CSS, script=SCRIPT)
    return write_atomic(path, page)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _missing(row: QcRow) -> str:
    why = row.reason if row.reason and row.status != "done" else MISSING_BY_STATUS[row.status]
    return f'<td class="na" title="{_e("not measured: " + why)}">{MISSING}</td>'


def _number(decimals: int | None) -> Callable[[QcRow, str], str]:
    """A cell maker for a numeric field: ``decimals`` places, or 3 significant digits when None."""

    def cell(row: QcRow, field: str) -> str:
        value = getattr(row, field)
        if not _finite(value):
            return _missing(row)
        shown = f"{value:.3g}" if decimals is None else f"{value:.{decimals}f}"
        return f'<td class="num" data-v="{float(value)!r}">{shown}</td>'

    return cell


def _text(row: QcRow, field: str) -> str:
    value = getattr(row, field)
    if not value:
        return _missing(row)
    return f'<td data-v="{_e(value)}">{_e(str(value).replace("_", " "))}</td>'


def _key(row: QcRow, field: str) -> str:
    shown = _e(row.key)
    if row.report_href:
        shown = f'<a href="{_e(quote(str(row.report_href), safe="/#?=&.-_~"))}">{shown}</a>'
    return f'<td class="key" data-v="{_e(row.key)}">{shown}</td>'


def _status(row: QcRow, field: str) -> str:
    return f'<td data-v="{row.status}"><span class="badge s-{row.status}">{row.status}</span></td>'


def _reason(row: QcRow, field: str) -> str:
    return f'<td class="reason" data-v="{_e(row.reason or "")}">{_e(row.reason or "")}</td>'


def _acr(row: QcRow, field: str) -> str:
    if not row.acr_category:
        return _missing(row)
    order = ACR_ORDER.get(row.acr_category, len(ACR_ORDER))
    return (f'<td data-v="{order}"><span class="acr acr-{_e(row.acr_category)}">'
            f'{_e(row.acr_category.replace("_", " "))}</span></td>')


def _levels(row: QcRow, field: str) -> str:
    values = getattr(row, field)
    if values is None or (row.status != "done" and not values):
        return _missing(row)
    shown = "<br>".join(_e(v) for v in values) if values else '<span class="none">none</span>'
    return f'<td class="list" data-v="{len(values)}">{shown}</td>'


def _thumbnail(row: QcRow, field: str) -> str:
    if row.thumbnail is None:  # the reason stands in its own column beside it
        return _placeholder(f"no picture: {MISSING_BY_STATUS[row.status]}")
    try:
        data = Path(row.thumbnail).read_bytes()
    except OSError as error:
        return _placeholder(f"picture not readable: {Path(row.thumbnail).name} ({error.strerror or error})")
    if not data.startswith(PNG_SIGNATURE):
        return _placeholder(f"picture is not a PNG: {Path(row.thumbnail).name}")
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<td class="pic"><img class="thumb" src="{uri}" alt="{_e("mid-sagittal picture of " + row.key)}" '
            f'loading="lazy" decoding="async"></td>')


def _placeholder(text: str) -> str:
    return f'<td class="pic"><div class="noimg">{_e(text)}</div></td>'


def _header_cell(column: tuple) -> str:
    label, field, kind, _, hint = column
    if kind is None:
        return f'<th scope="col" data-field="{field}"><span>{_e(label)}</span></th>'
    return (f'<th scope="col" class="sortable" data-field="{field}" data-type="{kind}" title="{_e(hint)}">'
            f'<button type="button">{_e(label)}</button></th>')


def _row(row: QcRow) -> str:
    search = " ".join([row.key, row.reason or "", *row.qc_flags]).lower()
    cells = "".join(make(row, field) for _, field, _, make, _ in COLUMNS)
    return (f'<tr class="s-{row.status}" data-key="{_e(row.key)}" data-status="{row.status}" '
            f'data-search="{_e(search)}">{cells}</tr>')


#: The table: header, QcRow field, sort type (None: not sortable), cell maker, header tooltip.
COLUMNS: tuple[tuple[str, str, str | None, Callable[[QcRow, str], str], str], ...] = (
    ("Picture", "thumbnail", None, _thumbnail, ""),
    ("Study", "key", "text", _key, "pseudonymous study key; a link opens the study's report"),
    ("Status", "status", "text", _status, "status of the study in the batch"),
    ("Reason", "reason", "text", _reason, "why the study failed or was skipped"),
    ("Series", "series_description", "text", _text, "SeriesDescription of the CT measured"),
    ("kVp", "kvp", "num", _number(0), "tube voltage, kV"),
    ("Kernel", "kernel", "text", _text, "reconstruction kernel"),
    ("Contrast phase", "contrast_phase", "text", _text, "contrast phase of the CT"),
    ("Slice (mm)", "slice_thickness_mm", "num", _number(None), "slice thickness, mm"),
    ("L1\u2013L4 (HU)", "hu", "num", _number(1), "summary trabecular attenuation of L1-L4, HU"),
    ("L1\u2013L4 vBMD (mg/cm\u00b3)", "vbmd_mg_cm3", "num", _number(1), "summary volumetric BMD of L1-L4, mg/cm3"),
    ("ACR category", "acr_category", "num", _acr, "ACR category of the vBMD; sorts by severity"),
    *((quantity.label, quantity.key, "num", _number(quantity.decimals), quantity.method)
      for quantity in STUDY_QUANTITIES if quantity.key in ("vbq", "pbq")),
    ("Fractures", "fractured_levels", "num", _levels, "levels with a vertebral fracture; sorts by count"),
    ("QC flags", "qc_flags", "num", _levels, "quality flags per level; sorts by count"),
)

CSS = """
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2430;
       background: #f6f7f9; }
header { position: sticky; top: 0; z-index: 3; background: #fff; border-bottom: 1px solid #d7dbe2;
         padding: 10px 16px 8px; }
h1 { font-size: 18px; margin: 0 0 6px; }
.notice { background: #fff4c2; border: 1px solid #e6c94d; border-radius: 4px; padding: 4px 8px; margin: 0 0 8px; }
.bar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.chip { border: 1px solid #c9ced8; border-radius: 12px; padding: 2px 10px; background: #fff; cursor: pointer;
        font: inherit; }
.chip.zero { opacity: .45; }
.bar input, .bar select { font: inherit; padding: 3px 6px; border: 1px solid #b9c0cc; border-radius: 4px; }
.bar input { width: 22em; }
.shown { color: #5b6473; }
main { padding: 8px 16px 24px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th { position: sticky; top: var(--head, 96px); z-index: 2; background: #eef1f5; text-align: left;
     border-bottom: 2px solid #c9ced8; padding: 0; vertical-align: bottom; }
th > button, th > span { display: block; font: inherit; font-weight: 600; border: 0; background: none;
     padding: 6px 8px; width: 100%; text-align: left; cursor: pointer; color: inherit; }
th > span { cursor: default; }
th.sortable > button::after { content: "\\00a0\\2195"; color: #9aa3b2; }
th[aria-sort=ascending] > button::after { content: "\\00a0\\25B2"; color: #1d2430; }
th[aria-sort=descending] > button::after { content: "\\00a0\\25BC"; color: #1d2430; }
td { border-bottom: 1px solid #e3e6eb; padding: 4px 8px; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.na { color: #8a93a3; text-align: center; cursor: help; }
td.key { font-weight: 600; white-space: nowrap; }
td.reason { max-width: 18em; }
td.list { font-size: 12px; white-space: nowrap; }
.none { color: #8a93a3; }
td.pic { width: 100px; padding: 3px; }
img.thumb { height: THUMBpx; max-width: 220px; object-fit: contain; display: block; cursor: zoom-in; background: #000; }
img.thumb.big { height: auto; max-width: none; cursor: zoom-out; }
.noimg { width: 90px; height: THUMBpx; background: #dfe2e7; color: #4d5666; font-size: 11px; display: flex;
         align-items: safe center; justify-content: center; text-align: center; padding: 4px; box-sizing: border-box;
         overflow: auto; }
tr.s-failed td:first-child { box-shadow: inset 4px 0 #d64545; }
tr.s-skipped td:first-child { box-shadow: inset 4px 0 #9aa3b2; }
.badge { border-radius: 3px; padding: 1px 6px; font-size: 12px; color: #fff; background: #6b7485; }
.s-done .badge, .chip.s-done b { background: #2f8f4e; }
.s-failed .badge, .chip.s-failed b { background: #d64545; }
.s-skipped .badge, .chip.s-skipped b { background: #7c8595; }
.s-pending .badge, .chip.s-pending b { background: #4a78c2; }
.s-running .badge, .chip.s-running b { background: #8a5cc2; }
.chip b { color: #fff; border-radius: 8px; padding: 0 6px; margin-left: 2px; }
.acr { border-radius: 3px; padding: 1px 6px; font-size: 12px; white-space: nowrap; }
.acr-normal { background: #d9f0df; }
.acr-low_bone_mass { background: #fde8c4; }
.acr-osteoporosis { background: #f8d0d0; }
""".replace("THUMB", str(THUMBNAIL_HEIGHT_PX))

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("qc");
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  var rows = Array.prototype.slice.call(body.rows);
  rows.forEach(function (row, i) { row.dataset.order = i; });
  var head = document.querySelector("header");
  function sticky() { document.documentElement.style.setProperty("--head", head.offsetHeight + "px"); }
  sticky();
  window.addEventListener("resize", sticky);

  function value(row, col, numeric) {
    var v = row.cells[col].getAttribute("data-v");
    if (v === null || v === "") { return null; }
    return numeric ? parseFloat(v) : v;
  }
  function sortBy(col) {
    var th = heads[col];
    var numeric = th.dataset.type === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var sorted = Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = value(a, col, numeric), y = value(b, col, numeric);
      var tie = a.dataset.order - b.dataset.order;
      if (x === null || y === null) { return x === y ? tie : (x === null ? 1 : -1); }  /* missing last */
      var c = numeric ? x - y : x.localeCompare(y, undefined, {numeric: true, sensitivity: "base"});
      return c ? dir * c : tie;
    });
    var fragment = document.createDocumentFragment();
    sorted.forEach(function (row) { fragment.appendChild(row); });
    body.appendChild(fragment);
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    if (th.classList.contains("sortable")) { th.addEventListener("click", function () { sortBy(col); }); }
  });

  var text = document.getElementById("filter-text");
  var status = document.getElementById("filter-status");
  var shown = document.getElementById("shown");
  function filter() {
    var q = text.value.trim().toLowerCase(), s = status.value, n = 0;
    rows.forEach(function (row) {
      var keep = (!s || row.dataset.status === s) && (!q || row.dataset.search.indexOf(q) >= 0);
      row.hidden = !keep;
      if (keep) { n += 1; }
    });
    shown.textContent = n;
  }
  text.addEventListener("input", filter);
  status.addEventListener("change", filter);
  Array.prototype.forEach.call(document.querySelectorAll(".chip"), function (chip) {
    chip.addEventListener("click", function () {
      status.value = status.value === chip.dataset.status ? "" : chip.dataset.status;
      filter();
    });
  });
  body.addEventListener("click", function (event) {
    if (event.target.classList.contains("thumb")) { event.target.classList.toggle("big"); }
  });
  filter();
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="notice" id="notice">{notice}</p>
<div class="bar">
<span>{n} studies:</span> {chips}
<input id="filter-text" type="search" placeholder="filter: study key, reason, QC flag" aria-label="filter by text">
<select id="filter-status" aria-label="filter by status"><option value="">every status</option>{options}</select>
<span class="shown">showing <b id="shown">{n}</b> of {n}</span>
</div>
</header>
<main>
<table id="qc">
<thead><tr>{header}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</main>
<script>{script}</script>
</body>
</html>
"""
