"""The one layout of the per-patient report: self-contained HTML (inline CSS, pictures as data URIs, no external
resource) that a browser shows and that :mod:`spinebq.report.pdf` prints to A4 pages.

Page one is the summary a surgeon reads in a minute (:mod:`spinebq.report.summary`); the detail follows: one
block per vertebra with its numbers and its own pictures, the MRI, every published model with its caveats, the
methods and the references. Every number cell carries ``data-key`` (its JSON path), ``data-value`` (the exact
value of the input document) and ``data-level`` next to the rounded text, so the report can be checked against
``measurements.json``. Citations are bibliography keys in brackets (``[pickhardt2013]``); the references section
lists every key the page cites, with the full reference.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from spinebq import __version__
from spinebq.measure.mri.muscle import fat_fraction_text, near_cutoff_text
from spinebq.report.files import write_atomic
from spinebq.report.quantities import METHOD_LABELS, PEDICLE_WIDTHS
from spinebq.report.text import cite_text, human
from spinebq.risk.references import CITATION, load_references
from spinebq.risk.registry import value_decimals

#: Style of the cohort report (:mod:`spinebq.report.cohort`).
CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;font-size:14px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;border-bottom:2px solid #35a;padding-bottom:3px;margin-top:28px}
.notice{background:#fff3cd;border:1px solid #e0c060;padding:8px 12px;font-weight:bold;margin:10px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}
th{background:#e8eef8} td.l,th.l{text-align:left} tr.risk td{background:#fde2e2} tr.norisk td{background:#e3f4e3}
tr.na td{color:#777} .small{font-size:12px;color:#555} figure{display:inline-block;margin:6px;vertical-align:top}
figure img{max-width:520px;border:1px solid #ccc} figcaption{font-size:12px;color:#444}
ul.caveats li{margin:3px 0} .glance{display:flex;gap:18px;flex-wrap:wrap} .box{border:1px solid #9ab;padding:8px 12px;border-radius:4px}
@page{size:A4;margin:12mm 11mm 14mm 11mm;
  @bottom-left{content:"spinebq cohort report - research use only, not a medical device";font-size:7pt;color:#666}
  @bottom-right{content:"page " counter(page) " of " counter(pages);font-size:7pt;color:#666}}
tr{break-inside:avoid} h2{break-after:avoid}
@media print{body{font-size:9pt;margin:0;max-width:none} h2{font-size:12pt;margin-top:14px} table{font-size:8pt}
  th,td{padding:1px 4px} tr,figure{break-inside:avoid}
  figure{display:block;margin:6px 0} figure img{width:100%;max-width:none}}
"""

#: Style of the per-patient report, for the screen and for A4 print (the PDF).
REPORT_CSS = """
@page{size:A4;margin:12mm 11mm 14mm 11mm;
  @bottom-left{content:"spinebq report - research use only, not a medical device";font-size:7pt;color:#666}
  @bottom-right{content:"page " counter(page) " of " counter(pages);font-size:7pt;color:#666}}
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:18px auto;max-width:1000px;color:#222;font-size:13px;line-height:1.3}
h1{font-size:20px;margin:0 0 2px} h2{font-size:15px;border-bottom:2px solid #35a;padding-bottom:2px;margin:14px 0 5px}
h3{font-size:14px;margin:10px 0 4px}
.notice{background:#fff3cd;border:1px solid #e0c060;padding:3px 8px;margin:4px 0 6px;font-size:12px}
table{border-collapse:collapse;margin:3px 0;font-size:12px}
th,td{border:1px solid #bbb;padding:2px 5px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#e8eef8;font-weight:bold;white-space:nowrap} td.n{text-align:right;white-space:nowrap}
table.who th{background:#f3f5f9;white-space:nowrap} table.who{width:100%}
table.wide{width:100%} #bone-quality td:first-child{width:21%} #bone-quality td:nth-child(4){width:40%}
#models-summary td:nth-child(2),#assessment td:nth-child(2),#not-applicable td:nth-child(n+2):nth-child(-n+3){white-space:nowrap} .src{font-size:11px;color:#555;white-space:nowrap}
tr.risk td{background:#fde2e2} tr.norisk td{background:#e3f4e3} tr.na td{color:#666}
.small{font-size:11px;color:#555} ul.lines{margin:2px 0;padding-left:18px} ul.lines li{margin:1px 0}
.scale{display:block} .ok{color:#1b6e1b} .risk{color:#a11}
table.levelblock{width:100%;border:none;margin:0} table.levelblock>tbody>tr>td{border:none;padding:0 6px 0 0}
td.nums{width:46%} td.nums th{white-space:nowrap} td.nums td{white-space:nowrap} td.method{color:#555;font-size:90%}
td.pics img{width:86%;margin:0 0 3px 0;border:1px solid #ccc}
div.level{break-inside:avoid;page-break-inside:avoid;border-top:1px solid #ccd;padding-top:2px;margin-top:6px}
figure{display:inline-block;margin:4px;vertical-align:top;width:47%} figure img{width:100%;border:1px solid #ccc}
figcaption{font-size:11px;color:#444}
section.detail{break-before:page;page-break-before:always}
@media print{body{font-size:8.5pt;margin:0;max-width:none;line-height:1.2} table{font-size:7.5pt} .small,.src{font-size:7pt}
  h1{font-size:13pt} h2{font-size:10.5pt;margin:6px 0 2px} h3{font-size:9.5pt} .notice{font-size:7.5pt;padding:2px 6px}
  th,td{padding:1px 4px}
  thead{display:table-header-group} tr,tbody.model{break-inside:avoid;page-break-inside:avoid}
}
"""

#: Fill colours of a scale's zones.
ZONE_COLOURS = {"risk": "#f2b3b3", "mid": "#f5dd9b", "ok": "#b9e0b9"}
#: a bar spans at least this share of its largest cutoff's magnitude (3.3 -> 1.65, 153.5 HU -> 77 HU)
SCALE_MIN_SPAN_FRACTION = 0.5


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _num_attr(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "null"
    return repr(value) if isinstance(value, float) else str(value)


def _td(cell: dict, key: str, level: str | None = None, extra: str = "") -> str:
    attrs = f' data-key="{_e(key)}" data-value="{_e(_num_attr(cell["value"]))}"'
    if level:
        attrs += f' data-level="{_e(level)}"'
    cls = "" if isinstance(cell["value"], str) or cell["value"] is None else ' class="n"'
    return f"<td{cls}{attrs}{extra}>{_e(cell['text'])}</td>"


def data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of a picture file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def scale_svg(scale: dict | None, width: int = 130, height: int = 14) -> str:
    """A small bar: the zones between the thresholds coloured by meaning, a tick per threshold, a black marker at
    the value. No text inside (the numbers are in the cells beside it)."""
    if not scale:
        return ""
    value, thresholds = scale["value"], scale["thresholds"]
    points = [value, *thresholds]
    # the drawn range is at least a share of the cutoff's size, so a value just beside its cutoff is drawn beside it
    # (scaled to the two points alone, 3.24 against 3.3 was drawn as far from its cutoff as 119 HU against 56.3)
    least = SCALE_MIN_SPAN_FRACTION * max(abs(t) for t in thresholds) if thresholds else 0.0
    span = max(max(points) - min(points), least) or abs(value) or 1.0
    lo, hi = min(points) - 0.3 * span, max(points) + 0.3 * span

    def x(v: float) -> float:
        return round(1 + (width - 2) * (v - lo) / (hi - lo), 1)

    edges = [lo, *thresholds, hi]
    parts = [f'<svg class="scale" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="value against cutoff">']
    for zone, (a, b) in zip(scale["zones"], zip(edges[:-1], edges[1:])):
        parts.append(f'<rect x="{x(a)}" y="3" width="{round(x(b) - x(a), 1)}" height="8" fill="{ZONE_COLOURS[zone]}"/>')
    for t in thresholds:
        parts.append(f'<line x1="{x(t)}" y1="1" x2="{x(t)}" y2="13" stroke="#555" stroke-width="1"/>')
    parts.append(f'<path d="M{x(value) - 4} 0 L{x(value) + 4} 0 L{x(value)} 7 Z" fill="#000"/>'
                 f'<line x1="{x(value)}" y1="3" x2="{x(value)}" y2="14" stroke="#000" stroke-width="2"/></svg>')
    return "".join(parts)


def _cites(keys) -> str:
    return " ".join(f"[{k}]" for k in keys)


def _page_one(report: dict) -> str:
    p = report["page_one"]
    out = ["<section id='page-one'>",
           f"<h1>Spine bone quality report: <span id='patient-id'>{_e(report['patient_id'])}</span></h1>",
           f"<div class='notice' id='research-notice'>{_e(report['notice'])}</div>"]
    if report["phi"]:
        out.append("<p id='phi'>" + "; ".join(f"{_e(k)}: {_e(v)}" for k, v in report["phi"].items()) + "</p>")
    pairs = [f"<th>{_e(k)}</th><td>{_e(v)}</td>" for k, v in p["who"]]
    pairs += ["<th></th><td></td>"] * (len(pairs) % 2)
    out.append("<table class='who' id='who'>" + "".join(f"<tr>{a}{b}</tr>" for a, b in zip(pairs[::2], pairs[1::2]))
               + "</table>")
    out.append("<h2>Bone quality</h2><table class='wide' id='bone-quality'><thead><tr><th>measure</th><th>value</th>"
               "<th>against the cutoff</th><th>reading</th><th>source</th></tr></thead>")
    for row in p["bone"]:
        out.append(f"<tr><td>{_e(row['label'])}</td>" + _td(row, row["key"])
                   + f"<td>{scale_svg(row['scale'])}</td><td>{_e(row['reading'] or '-')}</td>"
                   f"<td class='src'>{_e(_cites(row['cite']) or '-')}</td></tr>")
    out.append("</table>")
    fractures = ". ".join(p["fractures"]) + " [genant1993]" if p["fractures"] else "not assessed (no CT or MRI)"
    out.append(f"<h2>Fractures</h2><p id='fractures'>{_e(fractures)}</p>")
    planned = p["planned"]
    out.append("<h2>Planned levels: screw corridor</h2>")
    if planned["reason"]:
        out.append(f"<p id='planned-levels'>{_e(planned['reason'])}</p>")
    else:
        out.append("<table class='wide' id='planned-levels'><thead><tr><th>level</th><th>HU along the screws (HU)</th><th>against "
                   f"{planned['sakai_cutoff_hu']:g} HU [sakai2018]</th><th>ST-HU (HU)</th><th>HU ratio</th><th>B-HU (HU)</th>"
                   "<th>pedicle isthmus width</th></tr></thead>")
        for r in planned["rows"]:
            if r["missing"]:
                out.append(f"<tr data-level='{_e(r['level'])}'><td>{_e(r['level'])}</td><td colspan='6'>{_e(r['missing'])}</td></tr>")
                continue
            out.append(f"<tr><td><b>{_e(r['level'])}</b></td>" + _td(r["st_hu_3d"], "st_hu_3d", r["level"])
                       + f"<td>{scale_svg(r['st_hu_3d']['scale'])}<span class='small'>{_e(r['st_hu_3d']['side'])}</span></td>"
                       + _td(r["st_hu"], "st_hu", r["level"])
                       + _td(r["hu_ratio"], "hu_ratio", r["level"]) + _td(r["b_hu"], "b_hu", r["level"])
                       + f"<td>{_e(r['pedicles'])}</td></tr>")
        out.append(f"</table><p class='small' id='planned-method'>{_e(planned['method'])}</p>")
    out.append("<h2>Published models</h2>")
    if p["models"]:
        out.append("<table class='wide' id='models-summary'><thead><tr><th>predictor</th><th>level</th><th>value</th><th>cutoff</th>"
                   "<th>side</th><th>AUC</th><th>source</th><th>endpoint</th></tr></thead>")
        for m in p["models"]:
            out.append(f"<tr class='{'risk' if m['risk'] else 'norisk'}' data-model='{_e(m['key'])}'><td>{_e(m['predictor'])}</td>"
                       f"<td>{_e(m['level'])}</td>"
                       + _td({"value": m["value"], "text": m["text"]}, "value", m["level_key"], extra=f' data-model="{_e(m["key"])}"')
                       + f"<td class='n'>{_e(m['cutoff'])}</td><td class='n'><b>{_e(m['side'])}</b></td><td class='n'>{_e(m['auc'] or '-')}</td>"
                       f"<td class='src'>[{_e(m['paper'])}]</td><td class='small'>{_e(m['endpoint'])}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>No published model could be applied to this patient's values.</p>")
    counts = f"Published models: {p['model_counts']}" if p["model_counts"] else "No assessment"
    out.append(f"<p class='small'>Red: the side of the cutoff that went with the paper's endpoint; green: the other "
               f"side. Each model on its own, no pooled score. <span id='model-counts'>{_e(counts)}</span>; the values "
               f"without a cutoff, the reasons and the caveats are in the detail.</p>")
    out.append("<h2>Warnings</h2><ul class='lines' id='warnings'>"
               + ("".join(f"<li>{_e(w)}</li>" for w in p["warnings"]) or "<li>none</li>") + "</ul>")
    out.append("</section>")
    return "\n".join(out)


def _level_block(block: dict) -> str:
    flags = "; ".join(block["flags"]) or "no QC flag"
    rows = "".join(f"<tr data-level='{_e(block['level'])}'><th>{_e(r['label'])}</th>"
                   + _td(r, r["key"], block["level"])
                   + f"<td>{_e(r['unit'])}</td><td class='method'>{_e(r['method'])}</td></tr>" for r in block["rows"])
    widths = block["pedicle_widths_mm"]
    if widths:
        rows += (f"<tr data-level='{_e(block['level'])}'><th>pedicle isthmus</th><td class='n'>"
                 + _e(" / ".join(human(widths[s], "", 1, reason="not found") for s in ("left", "right")))
                 + f"</td><td>mm (L / R)</td><td class='method'>{_e(METHOD_LABELS[PEDICLE_WIDTHS])}</td></tr>")
    pics = "".join(f"<img src='{data_uri(pic['path'])}' alt='{_e(pic['title'])}' title='{_e(pic['title'])}'>"
                   for pic in block["pictures"])
    captions = ", ".join(pic["title"].split(": ", 1)[-1] for pic in block["pictures"])
    return (f"<div class='level' id='level-{_e(block['level'])}'><h3>{_e(block['level'])} <span class='small'>{_e(flags)}"
            f"</span></h3><table class='levelblock'><tr><td class='nums'><table class='wide'>{rows}</table></td>"
            f"<td class='pics'>{pics}<div class='small'>{_e(captions)}</div></td></tr></table></div>")


def _figures(pictures: list[dict]) -> str:
    return "".join(f"<figure><img src='{data_uri(pic['path'])}' alt='{_e(pic['title'])}'>"
                   f"<figcaption>{_e(pic['title'])}</figcaption></figure>" for pic in pictures)


def _models_detail(rows: list[dict]) -> str:
    shown = sorted([r for r in rows if r["status"] != "not_applicable"], key=lambda r: r["status"] != "applied")
    out = []
    if shown:
        out.append("<table class='wide' id='assessment'><thead><tr><th>model</th><th>level</th><th>value</th><th>cutoff</th>"
                   "<th>side</th><th>AUC (95% CI)</th><th>Se / Sp</th></tr></thead>")
        for r in shown:
            cls = ("risk" if r["at_risk_side"] else "norisk") if r["status"] == "applied" else ""
            digits = value_decimals(r["key"], r["unit"])
            unit = "" if r["unit"] in ("ratio", "probability") else r["unit"]
            auc = "-" if r["auc"] is None else f"{r['auc']:.3f}" + (
                f" ({r['auc_ci'][0]:.3f}-{r['auc_ci'][1]:.3f})" if r.get("auc_ci") else "")
            sesp = "-" if r["sensitivity"] is None else f"{r['sensitivity']:.3f} / {r['specificity']:.3f}"
            notes = list(r["caveats"])
            if r.get("points"):
                notes.insert(0, "points: " + ", ".join(f"{k} {v:.0f}" for k, v in r["points"].items())
                             + f"; total {r['total_points']:.0f}; coefficients: {r.get('nomogram_source')}")
            if r.get("corrections"):
                notes.append("registry correction of the printed paper: " + "; ".join(r["corrections"]))
            level = str(r["level"] or "")
            out.append(f"<tbody class='model'><tr class='{cls}' data-model='{_e(r['key'])}' data-status='{_e(r['status'])}'>"
                       f"<td>{_e(r['key'])} [{_e(r['paper'])}]<br><span class='small'>{_e(r['predictor'])}</span></td>"
                       f"<td>{_e(level or '-')}</td>"
                       + _td({"value": r["value"], "text": human(r["value"], unit, digits)}, "value", level,
                             extra=f' data-model="{_e(r["key"])}"')
                       + f"<td class='n'>{_e(r['cutoff_text'])}</td><td>{_e(cite_text(r['side_text'] or '-'))}</td>"
                       f"<td class='n'>{_e(auc)}</td><td class='n'>{_e(sesp)}</td></tr>")
            out.append(f"<tr class='{cls}'><td colspan='7' class='small'>Endpoint: {_e(r['endpoint'])}."
                       + "".join(f"<br>{_e(cite_text(n))}" for n in notes) + "</td></tr></tbody>")
        out.append("</table>")
    missing = [r for r in rows if r["status"] == "not_applicable"]
    if missing:
        out.append("<h3>Not applicable to this patient</h3><table class='wide' id='not-applicable'><thead><tr><th>model</th>"
                   "<th>level</th><th>cutoff</th><th>why not</th></tr></thead>")
        for r in missing:
            out.append(f"<tr class='na' data-model='{_e(r['key'])}' data-status='not_applicable'><td>{_e(r['key'])} "
                       f"[{_e(r['paper'])}]</td><td>{_e(r['level'] or '-')}</td><td>{_e(r['cutoff_text'])}</td>"
                       f"<td>{_e(cite_text(r['reason'] or '-'))}</td></tr>")
        out.append("</table>")
    return "\n".join(out) or "<p>No assessment.</p>"


def _screening_detail(readings: list[dict]) -> str:
    out = []
    for r in readings:
        value = human(r["value_hu"], "HU", 1, reason=r["reason"])
        mid = human(r["mid_slice_hu"], "HU", 1)  # "not measured" when missing (its reason is the value's)
        out.append(f"<p id='screening-{_e(r['key'])}'><b>{_e(r['level'])} opportunistic screening</b> [{_e(r['reference'])}]: "
                   f"three-slice HU {_e(value)} (mid-body ellipse {_e(mid)}); thresholds "
                   f"{_e(' / '.join(f'{t:g}' for t in r['thresholds_hu']))} HU; reading: "
                   f"{_e(r['reading'] + ' (' + r['band'] + ')' if r['reading'] else 'none')}.</p>"
                   f"<ul class='lines small'><li>{_e(cite_text(r['method']))}</li>"
                   + "".join(f"<li>{_e(cite_text(c))}</li>" for c in r["caveats"]) + "</ul>")
    return "\n".join(out)


def _mri_detail(m: dict) -> str:
    out = ["<table class='wide' id='mri-scores'><tr><th>score</th><th>value</th><th>method</th></tr>"]
    for sc in m["scores"]:
        out.append(f"<tr><td>{_e(sc['label'])}</td>{_td(sc, 'mri.' + sc['key'])}"
                   f"<td class='small'>{_e(cite_text(sc['method'] or sc['reason'] or '-'))}</td></tr>")
    out.append("</table>")
    head = "".join(f"<th>{_e(c['header'])}</th>" for c in m["columns"])
    out.append(f"<table id='mri-levels'><tr><th>level</th>{head}<th>QC</th></tr>")
    for row in m["rows"]:
        cells = "".join(_td(row["cells"][c["key"]], "mri." + c["key"], row["level"]) for c in m["columns"])
        qc = "; ".join(q.replace("_", " ") for q in row["qc"]) or "ok"
        out.append(f"<tr data-level='{_e(row['level'])}'><td><b>{_e(row['level'])}</b></td>{cells}<td class='small'>{_e(qc)}</td></tr>")
    out.append("</table>")
    if m["muscle"]:
        out.append("<table id='mri-muscle'><tr><th>disc level</th><th>Goutallier (worse side)</th><th>fat fraction L</th>"
                   "<th>fat fraction R</th><th>measured on</th></tr>")
        for mu in m["muscle"]:
            grade = human(mu["goutallier"], decimals=0)
            if mu["near_cutoff"] is not None:
                grade += f" ({near_cutoff_text(mu['near_cutoff'])})"
            out.append(f"<tr data-level='{_e(mu['level'])}'><td>{_e(mu['level'])}</td><td class='n'>{_e(grade)}</td>"
                       f"<td class='n'>{_e(fat_fraction_text(mu['fat_fraction_left']))}</td>"
                       f"<td class='n'>{_e(fat_fraction_text(mu['fat_fraction_right']))}</td><td>{_e(mu['plane'])}</td></tr>")
        out.append("</table>")
        out += [f"<p class='small mri-muscle-missing'>Goutallier not measured at {_e(levels)}: {_e(reason)}</p>"
                for reason, levels in m.get("muscle_missing", {}).items()]
    return "\n".join(out)


def references_html(body: str) -> str:
    """The references section: every bibliography key cited in ``body``, in order of first citation."""
    references = load_references()
    keys = list(dict.fromkeys(CITATION.findall(html.unescape(body))))
    items = []
    for key in keys:
        text = references[key].citation() if key in references else "not in spinebq's bibliography"
        items.append(f"<li id='ref-{_e(key)}' data-ref='{_e(key)}'>[{_e(key)}] {_e(text)}</li>")
    return "<h2>References</h2><ul class='lines small' id='references'>" + "".join(items) + "</ul>"


def render_patient_html(report: dict) -> str:
    """The HTML text of a per-patient report built by :func:`spinebq.report.patient.patient_report`."""
    body = [_page_one(report), "<section class='detail'>"]
    if report["levels"]:
        body.append("<h2>CT, level by level (cranial to caudal)</h2>")
        overview = [pic for pic in report["pictures"] if pic["title"].startswith("CT")]
        if overview:
            body.append(_figures(overview))
        body += [_level_block(b) for b in report["levels"]]
    if report["screening"]:
        body.append("<h2>Opportunistic screening</h2>" + _screening_detail(report["screening"]))
    if report.get("mri"):
        body.append("<h2>MRI</h2>" + _mri_detail(report["mri"]))
        body.append(_figures([pic for pic in report["pictures"] if pic["title"].startswith("MRI")]))
    counts = report["page_one"]["model_counts"]
    body.append("<h2>Published models in detail</h2>"
                + (f"<p class='small' id='model-counts-detail'>{_e(counts)}.</p>" if counts else "")
                + _models_detail(report["assessment"]))
    body.append("<h2>Methods and caveats</h2><ul class='lines small' id='caveats'>"
                + "".join(f"<li>{_e(c)}</li>" for c in report["caveats"]) + "</ul>")
    text = "\n".join(body)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">',
             f"<title>spinebq report {_e(report['patient_id'])}</title><style>{REPORT_CSS}</style></head><body>",
             text, references_html(text),
             f"<p class='small'>spinebq {_e(__version__)}. Research use only, not a medical device. Methods: "
             f"docs/methods.md of the spinebq documentation.</p></section></body></html>"]
    return "\n".join(parts) + "\n"


def write_patient_html(report: dict, path: str | Path) -> Path:
    """Write the per-patient report as one self-contained HTML file."""
    return write_atomic(path, render_patient_html(report))
