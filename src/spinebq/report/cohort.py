"""Cohort report from the output folder of ``spinebq stats``: tables (Table 1, ROC, DeLong comparisons, univariable
and multivariable logistic models, model performance, ICC) and its figures (ROC, calibration, decision curve,
clinical impact, nomogram), as HTML and PDF."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from spinebq.errors import SpinebqError
from spinebq.constants import RESEARCH_NOTICE
from spinebq.report.files import write_atomic
from spinebq.report.html import CSS, _e, data_uri
from spinebq.stats.roc import event_rule

FIGURE_ORDER = ("roc", "calibration", "decision_curve", "clinical_impact", "nomogram")


def _f(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 else f"{x:.{digits}f}"


def _p(p) -> str:
    """A p-value of stats.json as papers print it (``< 0.001``)."""
    from spinebq.stats._result import format_p

    return "n/a" if p is None else format_p(float(p))


def _table1(path: Path) -> dict | None:
    """Table 1 (baseline characteristics by outcome group) from ``tables/baseline.csv``, as the papers print it."""
    import csv

    from spinebq.stats._result import format_p

    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8-sig") as fh:  # stats writes it with a byte-order mark
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    groups = [h for h in rows[0] if h.startswith(("no event", "event"))]
    out = []
    for r in rows:
        p = r.get("p", "")
        p_text = format_p(float(p)) if p not in ("", None) and math.isfinite(float(p)) else ""
        name = r["variable"] if r.get("test") else ""  # the variable's name on its first row only
        miss = r.get("n_missing", "")
        miss = str(int(float(miss))) if miss not in ("", None) and math.isfinite(float(miss)) else ""
        out.append([name, r["level"]] + [r[g] for g in groups] + [r.get("test", ""), p_text, miss])
    return {"title": "Table 1: baseline characteristics by outcome (mean (SD) or median [IQR]; n (%))",
            "header": ["variable", "", *groups, "test", "p", "missing"], "rows": out, "own_page": True}


def _ci(ci) -> str:
    return f"{_f(ci[0])}-{_f(ci[1])}" if ci else ""


def _univariable(uni: dict) -> dict | None:
    """Univariable logistic models (one per predictor; a factor's levels each against its reference)."""
    rows = [[v.get("variable", term), term, _f(v.get("or")), _ci(v.get("or_ci")), _p(v.get("p")),
             f"{v.get('n')} ({v.get('n_events')})"] for term, v in uni.items() if isinstance(v, dict)]
    return {"title": "Univariable logistic regression", "header": ["variable", "term", "OR", "95% CI", "p",
            "n (events)"], "rows": rows} if rows else None


def _delong(tests: dict) -> dict | None:
    """Paired DeLong tests of the model's AUC against each predictor's."""
    rows = [[name.replace("_vs_", " vs "), _f(t.get("auc1")), _f(t.get("auc2")), _f(t.get("difference")),
             _ci(t.get("difference_ci")), _f(t.get("z")), _p(t.get("p")), f"{t.get('n_cases')} / {t.get('n_controls')}"]
            for name, t in tests.items()]
    return {"title": "Comparison of AUCs (paired DeLong test)", "header": ["comparison", "AUC 1", "AUC 2",
            "difference", "95% CI", "z", "p", "events / non-events"], "rows": rows} if rows else None


def _icc(iccs: dict) -> dict | None:
    """ICCs of each group of reader columns, every form of psych::ICC."""
    rows = []
    for columns, result in iccs.items():
        forms = {k: v for k, v in result.items() if isinstance(v, dict)}
        rows += [[f"{columns.replace('+', ', ')} (n = {result.get('n_subjects')})" if i == 0 else "", form,
                  r.get("model", ""), _f(r.get("icc")), _ci(r.get("ci")), _f(r.get("F")), _p(r.get("p"))]
                 for i, (form, r) in enumerate(forms.items())]
    return {"title": "Intraclass correlation (psych::ICC, 95% CI)", "header": ["columns", "form", "model", "ICC",
            "95% CI", "F", "p"], "rows": rows} if rows else None


def cohort_report(stats_dir: str | Path, *, flags: Callable[[str], str] | None = None) -> dict:
    """Tables and figures of a ``spinebq stats`` folder as plain data (``title``, ``lines``, ``tables``, ``figures``).

    Parameters
    ----------
    stats_dir : path
        The folder written by ``spinebq stats``.
    flags : callable, optional
        Rewrites a note of stats.json for the reader: the command line passes the function that shows each option
        the note names (``option `event```) as its flag; without it the notes are shown as stats.json has them.
    """
    stats_dir = Path(stats_dir)
    file = stats_dir / "stats.json"
    if not file.is_file():
        raise SpinebqError(f"{stats_dir}: no stats.json there (give the folder written by spinebq stats)")
    from spinebq.io.schemas import StatsDocument, read_json, validated

    s = read_json(file, "spinebq stats.json")
    validated(StatsDocument, s, file, "spinebq stats.json")
    lines = [f"source: {s.get('source')}; outcome {s.get('outcome')}: n = {s.get('n')}, events = {s.get('n_events')}"]
    tables = []
    table1 = _table1(stats_dir / "tables" / "baseline.csv")
    if table1 is not None:
        tables.append(table1)
    factors = s.get("factors") or {}
    roc = []
    # the bootstrap CI when asked for (--roc-bootstrap), or the one the notes say to use (--cluster: whole patients)
    boot = any(r.get("auc_ci_bootstrap") for r in (s.get("roc") or {}).values())
    boot_name = "cluster bootstrap 95% CI" if (s.get("settings") or {}).get("cluster") else "bootstrap 95% CI"
    for name, r in (s.get("roc") or {}).items():
        best = r.get("youden") or {}
        rule = "n/a" if best.get("threshold") is None else event_rule(
            r["direction"], best["threshold"], factors[name]["levels"] if name in factors else None)
        ci_boot = r.get("auc_ci_bootstrap")
        roc.append([name, _f(r["auc"]), f"{_f(r['auc_ci'][0])}-{_f(r['auc_ci'][1])}",
                    *([f"{_f(ci_boot[0])}-{_f(ci_boot[1])}" if ci_boot else "n/a"] if boot else []),
                    rule + (" (direction inferred)" if r.get("direction_inferred") else ""),
                    _f(best.get("sensitivity")), _f(best.get("specificity"))])
    tables.append({"title": f"ROC (DeLong 95 % CI{', ' + boot_name if boot else ''}, Youden cutoff)",
                   "header": ["predictor", "AUC", "95% CI", *([boot_name] if boot else []),
                              "event if (Youden cutoff)", "sensitivity", "specificity"], "rows": roc})
    logistic = s.get("logistic") or {}
    tables += [t for t in (_delong(s.get("delong_tests") or {}), _univariable(logistic.get("univariable") or {}))
               if t is not None]
    multi = logistic.get("multivariable") or {}
    terms = multi.get("terms") if isinstance(multi.get("terms"), dict) else {k: v for k, v in multi.items() if isinstance(v, dict) and "or" in v}
    if terms:
        tables.append({"title": f"Multivariable logistic model ({', '.join(s.get('model') or [])})",
                       "header": ["term", "OR", "95% CI", "p"],
                       "rows": [[k, _f(v.get("or")), f"{_f(v['or_ci'][0])}-{_f(v['or_ci'][1])}" if v.get("or_ci") else "",
                                 _p(v.get("p"))] for k, v in terms.items()]})
    val = s.get("validation") or {}
    cal = s.get("calibration") or {}
    hl = s.get("hosmer_lemeshow") or {}
    perf = [["AUC apparent / optimism-corrected", f"{_f(val.get('auc_apparent'))} / {_f(val.get('auc_corrected'))}"],
            ["calibration slope (corrected)", _f(cal.get("slope_corrected", val.get("slope_corrected")))],
            ["Brier (apparent / corrected)", f"{_f(cal.get('brier'))} / {_f(cal.get('brier_corrected'))}"],
            ["Hosmer-Lemeshow", f"chi2 {_f(hl.get('chi2'))}, df {hl.get('df')}, p {_f(hl.get('p'))}"],
            ["bootstrap", f"B = {val.get('B')}, seed {val.get('seed')} ({val.get('method')})"]]
    tables.append({"title": "Model performance", "header": ["measure", "value"], "rows": perf})
    icc = _icc(s.get("icc") or {})
    if icc is not None:
        tables.append(icc)
    figures = []
    fig_dir = stats_dir / "figures"
    for name in FIGURE_ORDER:
        p = fig_dir / f"{name}.png"
        if p.is_file():
            figures.append({"path": p, "title": name.replace("_", " ")})
    notes = [(flags or str)(n) for n in list(s.get("warnings") or []) + list(s.get("notes") or [])]
    return {"title": f"spinebq cohort report: {s.get('outcome')}", "lines": lines, "tables": tables,
            "figures": figures, "notes": notes, "notice": RESEARCH_NOTICE}


def render_cohort_html(report: dict) -> str:
    """Self-contained HTML of a cohort report (figures as data URIs)."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">',
             f"<title>{_e(report['title'])}</title><style>{CSS}</style></head><body>", f"<h1>{_e(report['title'])}</h1>",
             f"<div class='notice' id='research-notice'>Research use only, not a medical device. {_e(report['notice'])}</div>"]
    parts += [f"<p>{_e(line)}</p>" for line in report["lines"]]
    for t in report["tables"]:
        # the header row in <thead>: a table that runs onto the next page repeats it there
        parts.append(f"<h2>{_e(t['title'])}</h2><table><thead><tr>"
                     + "".join(f"<th class='l'>{_e(h)}</th>" for h in t["header"]) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td class='l'>{_e(c)}</td>" for c in row) + "</tr>" for row in t["rows"]]
        parts.append("</tbody></table>")
    if report["figures"]:
        parts.append("<h2>Figures</h2>")
        parts += [f"<figure><img src='{data_uri(f['path'])}' alt='{_e(f['title'])}'><figcaption>{_e(f['title'])}</figcaption></figure>"
                  for f in report["figures"]]
    if report["notes"]:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in report["notes"]) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_cohort_report(stats_dir: str | Path, out_dir: str | Path, *,
                        flags: Callable[[str], str] | None = None, pdf: bool = True) -> list[Path]:
    """Write ``cohort_report.html`` and, with ``pdf``, ``cohort_report.pdf`` (that page printed) into ``out_dir``;
    ``flags`` as :func:`cohort_report`."""
    html = render_cohort_html(cohort_report(stats_dir, flags=flags))
    out = Path(out_dir)
    written = [write_atomic(out / "cohort_report.html", html)]
    if pdf:
        from spinebq.report.pdf import html_to_pdf

        written.append(html_to_pdf(html, out / "cohort_report.pdf"))
    return written
