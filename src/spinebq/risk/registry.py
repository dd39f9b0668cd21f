"""The registry of published models and cutoffs, shipped as package data (``spinebq/data/models.json``).

Every entry cites its paper (``paper`` is a key of the package's bibliography, :mod:`spinebq.risk.references`), gives population, endpoint,
predictor with the exact method and level the paper used, cutoff and direction, AUC with CI and
sensitivity/specificity (corrected values, with the printed ones under ``as_printed``), and the conditions
under which applying it is questionable. The ``screening`` entries are the published L1 HU thresholds that
screen a routine CT for osteoporosis (read by :mod:`spinebq.risk.screening`).
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from spinebq.risk.references import reference

#: Keys every model entry carries (the registry's JSON listing gives at least these).
REQUIRED_KEYS = ("key", "paper", "population", "endpoint", "predictor", "variable", "unit", "method",
                 "cutoff", "direction", "auc", "auc_ci", "sensitivity", "specificity", "as_printed",
                 "corrections", "questionable_when", "conditions")

DIRECTION_MEANING = {
    "<": "lower values went with the endpoint: a patient is on the risk side when value < cutoff",
    ">": "higher values went with the endpoint: a patient is on the risk side when value >= cutoff",
}


@lru_cache(maxsize=1)
def load_registry() -> dict:
    """Return the whole registry document (``schema``, ``about``, ``models``, ``screening``)."""
    text = resources.files("spinebq").joinpath("data", "models.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_models() -> list[dict]:
    """Return the model entries, each with its paper's citation and DOI filled in.

    Returns
    -------
    list of dict
        One dict per model (copies: changing them does not change the registry).
    """
    registry = load_registry()
    out = []
    for entry in registry["models"]:
        model = json.loads(json.dumps(entry))
        paper = reference(model["paper"])
        model["citation"] = paper.citation()
        model["doi"] = paper.doi
        model["direction_meaning"] = DIRECTION_MEANING[model["direction"]]
        out.append(model)
    return out


def load_screening() -> list[dict]:
    """Return the screening threshold entries (copies), each with its reference's full citation."""
    out = []
    for entry in load_registry().get("screening") or []:
        item = json.loads(json.dumps(entry))
        item["citation"] = reference(item["reference"]).citation()
        out.append(item)
    return out


def get_model(key: str) -> dict:
    """Return one model entry by its key; ``KeyError`` naming the known keys otherwise."""
    for model in load_models():
        if model["key"] == key:
            return model
    raise KeyError(f"no published model {key!r}; known: {', '.join(m['key'] for m in load_models())}")


def get_entry(key: str) -> dict:
    """Return one registry entry by its key, a model or a screening threshold set (``pickhardt2013_L1``), as
    ``spinebq models`` lists them; ``KeyError`` naming every known key otherwise."""
    entries = load_models() + load_screening()
    for entry in entries:
        if entry["key"] == key:
            return entry
    raise KeyError(f"no published model or screening threshold {key!r}; known: {', '.join(e['key'] for e in entries)}")


def value_decimals(key: str, unit: str) -> int:
    """Decimals model ``key``'s value is shown with: those of its variable's quantity
    (:func:`spinebq.records.quantities.decimals`), else 3 for a ratio or probability and 1 otherwise.

    >>> value_decimals("S001_HU_ratio", "ratio"), value_decimals("S004_VBQ", "ratio"), value_decimals("S003_3DHU", "HU")
    (3, 2, 1)
    """
    from spinebq.records.quantities import decimals

    return decimals(get_model(key).get("variable", ""), 3 if unit in ("ratio", "probability") else 1)


def format_number(value, digits: int = 3) -> str:
    """A number for a table: ``'-'`` when missing, otherwise up to ``digits`` significant decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def auc_text(model: dict) -> str:
    """``'0.736 (0.659-0.812)'`` or ``'-'``."""
    if model.get("auc") is None:
        return "-"
    ci = model.get("auc_ci")
    return f"{model['auc']:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")


def cutoff_text(model: dict) -> str:
    """``'< 119.5 mg/cm3'``, ``'>= 3.3'`` or ``'no cutoff published'``."""
    if model.get("cutoff") is None:
        return "no cutoff published"
    sign = "<" if model["direction"] == "<" else ">="
    unit = "" if model["unit"] in ("ratio", "probability") else f" {model['unit']}"
    return f"{sign} {model['cutoff']:g}{unit}"


def models_table(models: list[dict] | None = None) -> str:
    """A plain-text table of the registry for a terminal: one block per model, aligned columns."""
    models = load_models() if models is None else models
    header = ("key", "paper", "predictor", "level", "risk side", "AUC (95% CI)", "Se / Sp", "endpoint")
    rows = []
    for m in models:
        sesp = "-" if m.get("sensitivity") is None else f"{m['sensitivity']:.3f} / {m['specificity']:.3f}"
        rows.append((m["key"], m["paper"], _clip(m["predictor"], 44), m.get("level") or "-", cutoff_text(m),
                     auc_text(m), sesp, _clip(m["endpoint"], 36)))
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    flagged = [m["key"] for m in models if m.get("corrections")]
    if flagged:
        lines.append("")
        lines.append("corrected against the printed paper (printed values kept as 'as_printed' in the JSON listing): " + ", ".join(flagged))
    for entry in load_screening():
        lines.append("")
        lines.append(f"opportunistic screening {entry['key']} ({entry['level']} {entry['unit']}, {entry['target']}): "
                     + "; ".join(f"<= {th['hu']:g} {th['reading']}" for th in entry["thresholds"])
                     + f"; above: {entry['above_reading']} [{entry['reference']}]")
    lines.append("")
    lines.append("papers:")
    cited = [m["paper"] for m in models] + [e["reference"] for e in load_screening()]
    lines += [f"  {k}: {reference(k).citation()}" for k in dict.fromkeys(cited)]
    return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."
