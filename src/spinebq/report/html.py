"""Self-contained HTML of a per-patient report: inline CSS, pictures as data URIs, no external resource.

Every number cell carries ``data-key`` (its JSON path), ``data-level`` and ``data-value`` (the exact value of
the input document) next to the rounded text, so the report can be checked against ``measurements.json``.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from spinebq import __version__
from spinebq.report.files import write_atomic

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;font-size:14px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;border-bottom:2px solid #35a;padding-bottom:3px;margin-top:28px}
.notice{background:#fff3cd;border:1px solid #e0c060;padding:8px 12px;font-weight:bold;margin:10px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}
th{background:#e8eef8} td.l,th.l{text-align:left} tr.risk td{background:#fde2e2} tr.norisk td{background:#e3f4e3}
tr.na td{color:#777} .small{font-size:12px;color:#555} figure{display:inline-block;margin:6px;vertical-align:top}
figure img{max-width:520px;border:1px solid #ccc} figcaption{font-size:12px;color:#444}
ul.caveats li{margin:3px 0} .glance{display:flex;gap:18px;flex-wrap:wrap} .box{border:1px solid #9ab;padding:8px 12px;border-radius:4px}
"""


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
    cls = ' class="l"' if isinstance(cell["value"], str) else ""
    return f"<td{cls}{attrs}{extra}>{_e(cell['text'])}</td>"


def data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` of a picture file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _assessment_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>No assessment (no model could be evaluated).</p>"
    shown = [r for r in rows if r["status"] != "not_applicable"]
    shown.sort(key=lambda r: r["status"] != "applied")
    out = ['<table id="assessment"><tr><th class="l">model (paper)</th><th class="l">predictor</th><th>level</th>'
           '<th>patient value</th><th>cutoff</th><th class="l">side</th><th>AUC (95% CI)</th><th>Se / Sp</th>'
           '<th class="l">endpoint</th><th class="l">caveats</th></tr>']
    for r in shown:
        cls = ("risk" if r["at_risk_side"] else "norisk") if r["status"] == "applied" else ""
        unit = "" if r["unit"] in ("ratio", "probability") else f" {r['unit']}"
        digits = 3 if r["unit"] in ("ratio", "probability") else 1
        value = {"value": r["value"], "text": f"{r['value']:.{digits}f}{unit}"}
        auc = "-" if r["auc"] is None else f"{r['auc']:.3f}" + (f" ({r['auc_ci'][0]:.3f}-{r['auc_ci'][1]:.3f})" if r.get("auc_ci") else "")
        sesp = "-" if r["sensitivity"] is None else f"{r['sensitivity']:.3f} / {r['specificity']:.3f}"
        notes = [_e(c) for c in r["caveats"]]
        if r.get("points"):
            notes.insert(0, "points: " + _e(", ".join(f"{k} {v:.0f}" for k, v in r["points"].items()))
                         + f"; total {r['total_points']:.0f}; coefficients: {_e(r.get('nomogram_source'))}")
        if r.get("corrections"):
            notes.append("registry correction of the printed paper: " + _e("; ".join(r["corrections"])))
        out.append(f'<tr class="{cls}" data-model="{_e(r["key"])}" data-status="{_e(r["status"])}">'
                   f'<td class="l">{_e(r["key"])}<br><span class="small">paper {_e(r["paper"])}</span></td>'
                   f'<td class="l">{_e(r["predictor"])}</td><td>{_e(r["level"])}</td>'
                   + _td(value, "value", str(r["level"] or ""), extra=f' data-model="{_e(r["key"])}"')
                   + f'<td>{_e(r["cutoff_text"])}</td><td class="l"><b>{_e(r["side_text"])}</b></td><td>{_e(auc)}</td>'
                   f'<td>{_e(sesp)}</td><td class="l small">{_e(r["endpoint"])}</td>'
                   f'<td class="l small">{"<br>".join(notes) or "-"}</td></tr>')
    out.append("</table>")
    missing = [r for r in rows if r["status"] == "not_applicable"]
    if missing:
        out.append('<p class="small">Not applied to this patient:</p><table id="not-applicable" class="small">'
                   '<tr><th class="l">model (paper)</th><th class="l">predictor</th><th>level</th><th>cutoff</th>'
                   '<th class="l">why not</th></tr>')
        for r in missing:
            out.append(f'<tr class="na" data-model="{_e(r["key"])}" data-status="not_applicable"><td class="l">{_e(r["key"])} '
                       f'({_e(r["paper"])})</td><td class="l">{_e(r["predictor"])}</td><td>{_e(r["level"])}</td>'
                       f'<td>{_e(r["cutoff_text"])}</td><td class="l">{_e(r["reason"])}</td></tr>')
        out.append("</table>")
    return "\n".join(out)


def _level_table(table: dict, table_id: str, prefix: str = "") -> str:
    cols = table["columns"]
    head = "".join(f"<th>{_e(c['header'])}" + (f"<br><span class='small'>{_e(c['unit'])}</span>" if c["unit"] else "") + "</th>"
                   for c in cols)
    out = [f'<table id="{table_id}"><tr><th class="l">level</th>{head}<th class="l">QC</th></tr>']
    for row in table["rows"]:
        cells = "".join(_td(row["cells"][c["key"]], prefix + c["key"], row["level"]) for c in cols)
        qc = "; ".join(q.replace("_", " ") for q in row["qc"]) or "ok"
        out.append(f'<tr data-level="{_e(row["level"])}"><td class="l"><b>{_e(row["level"])}</b></td>{cells}'
                   f'<td class="l small">{_e(qc)}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def render_patient_html(report: dict) -> str:
    """The HTML text of a per-patient report built by :func:`spinebq.report.patient.patient_report`."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">',
             f"<title>spinebq report {_e(report['patient_id'])}</title><style>{CSS}</style></head><body>",
             f"<h1>Spine bone quality report: <span id='patient-id'>{_e(report['patient_id'])}</span></h1>",
             f"<div class='notice' id='research-notice'>Research use only, not a medical device. {_e(report['notice'])}</div>"]
    if report["phi"]:
        parts.append("<p id='phi'>" + "; ".join(f"{_e(k)}: {_e(v)}" for k, v in report["phi"].items()) + "</p>")
    parts.append("<p class='small'>" + "<br>".join(_e(s) for s in report["scans"]) + "</p>")
    if report["clinical"]:
        parts.append("<p class='small'>Clinical data used: " + _e(", ".join(f"{k} {v}" for k, v in report["clinical"].items())) + "</p>")
    glance = []
    s = report.get("ct_summary")
    if s:
        levels = "-".join(s["levels"]) or "no level"
        glance.append(f"<div class='box'><b>CT {levels}</b> ({_e(s['hu_key'])}): "
                      + _td({"value": s["hu"], "text": "n/a" if s["hu"] is None else f"{s['hu']:.1f} HU"}, "summary.hu").replace("<td", "<span").replace("</td>", "</span>")
                      + "; three-slice " + _td({"value": s["hu_2d"], "text": "n/a" if s["hu_2d"] is None else f"{s['hu_2d']:.1f} HU"}, "summary.hu_2d").replace("<td", "<span").replace("</td>", "</span>")
                      + ("; vBMD " + f"{s['vbmd_mg_cm3']:.1f} mg/cm3, ACR {_e(s['acr_category'])}" if s["vbmd_mg_cm3"] is not None
                         else f"<br><span class='small'>{_e(s['acr_reference'])}</span>") + "</div>")
    if report.get("mri"):
        for sc in report["mri"]["scores"]:
            if sc["key"] in ("vbq", "pbq"):
                glance.append(f"<div class='box'><b>{_e(sc['label'])}</b> "
                              + _td(sc, f"mri.{sc['key']}").replace("<td", "<span").replace("</td>", "</span>")
                              + (f" <span class='small'>({_e(sc['reason'])})</span>" if sc["reason"] else "") + "</div>")
    parts.append("<h2>At a glance</h2><div class='glance'>" + "".join(glance) + "</div>")
    parts.append("<h2>Published models</h2><p class='small'>Each model on its own, against its own paper's cutoff; red: the "
                 "patient is on the side of the cutoff that went with the endpoint; green: the other side. No pooled score.</p>")
    parts.append(_assessment_table(report["assessment"]))
    if report.get("ct_levels"):
        parts.append("<h2>CT: levels, cranial to caudal</h2>")
        parts.append("<div style='overflow-x:auto'>" + _level_table(report["ct_levels"], "ct-levels") + "</div>")
    if report.get("mri"):
        m = report["mri"]
        parts.append("<h2>MRI</h2><table id='mri-scores'><tr><th class='l'>score</th><th>value</th><th class='l'>method</th></tr>")
        for sc in m["scores"]:
            parts.append(f"<tr><td class='l'>{_e(sc['label'])}</td>{_td(sc, 'mri.' + sc['key'])}"
                         f"<td class='l small'>{_e(sc['method'] or sc['reason'])}</td></tr>")
        parts.append("</table>")
        parts.append(_level_table(m, "mri-levels", prefix="mri."))
        if m["muscle"]:
            parts.append("<table id='mri-muscle'><tr><th class='l'>disc level</th><th>Goutallier (worse side)</th>"
                         "<th>fat fraction L</th><th>fat fraction R</th><th class='l'>measured on</th></tr>")
            for mu in m["muscle"]:
                ff = lambda v: "n/a" if v is None else f"{100 * v:.0f} %"  # noqa: E731
                parts.append(f"<tr><td class='l'>{_e(mu['level'])}</td><td>{_e(mu['goutallier'])}</td>"
                             f"<td>{ff(mu['fat_fraction_left'])}</td><td>{ff(mu['fat_fraction_right'])}</td>"
                             f"<td class='l'>{_e(mu['plane'])}</td></tr>")
            parts.append("</table>")
    if report["pictures"]:
        parts.append("<h2>Pictures</h2>")
        for pic in report["pictures"]:
            parts.append(f"<figure><img src='{data_uri(pic['path'])}' alt='{_e(pic['title'])}'>"
                         f"<figcaption>{_e(pic['title'])}</figcaption></figure>")
    parts.append("<h2>Methods and caveats</h2><ul class='caveats'>" + "".join(f"<li>{_e(c)}</li>" for c in report["caveats"]) + "</ul>")
    parts.append(f"<p class='small'>spinebq {_e(__version__)}. Research use only, not a medical device.</p></body></html>")
    return "\n".join(parts) + "\n"


def write_patient_html(report: dict, path: str | Path) -> Path:
    """Write the per-patient report as one self-contained HTML file."""
    return write_atomic(path, render_patient_html(report))
