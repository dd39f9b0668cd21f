"""The registry of published models: complete entries, citations, and sensitivities that reconcile with counts."""
from __future__ import annotations

import json

from spinebq.cli import main
from spinebq.risk.references import load_references
from spinebq.risk.registry import REQUIRED_KEYS, load_models


def test_every_entry_is_complete_and_cites_its_paper():
    references = load_references()
    models = load_models()
    assert len(models) >= 10
    for m in models:
        missing = [k for k in REQUIRED_KEYS if k not in m]
        assert not missing, (m["key"], missing)
        assert m["paper"] in references and references[m["paper"]].title in m["citation"]
        assert m["direction"] in ("<", ">")
        if m["auc"] is not None:
            lo, hi = m["auc_ci"]
            assert lo < m["auc"] < hi
        assert m["questionable_when"], m["key"]
    assert len({m["key"] for m in models}) == len(models)
    for paper in ("xu2025", "yang2026", "loeffler2021", "chang2025", "wu2025"):  # the five stored papers
        assert any(m["paper"] == paper for m in models)


def test_sensitivity_and_specificity_reconcile_with_whole_patient_counts():
    """Se x events and Sp x non-events are whole numbers of patients (how the S000 swap was found)."""
    for m in load_models():
        if m["sensitivity"] is None or m.get("events") is None or m["kind"] != "cutoff":
            continue
        tp = m["sensitivity"] * m["events"]
        tn = m["specificity"] * (m["n"] - m["events"])
        # a proportion printed with 3 decimals is off by at most 0.0005: times the group size
        tol_tp, tol_tn = 0.0005 * m["events"] + 1e-9, 0.0005 * (m["n"] - m["events"]) + 1e-9
        assert abs(tp - round(tp)) <= tol_tp and abs(tn - round(tn)) <= tol_tn, (m["key"], tp, tn)
        printed = m["as_printed"]
        if "sensitivity" in printed:  # the printed pair does not reconcile: that is why it was corrected
            se = printed["sensitivity"] * m["events"]
            sp = printed["specificity"] * (m["n"] - m["events"])
            assert (abs(se - round(se)) > tol_tp or abs(sp - round(sp)) > tol_tn) and m["corrections"]


def test_models_command_table_and_json(capsys):
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    for m in load_models():
        assert m["key"] in table
    assert "research tool" in table
    assert main(["models", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert isinstance(entries, list) and len(entries) == len(load_models())
    for e in entries:
        assert {"key", "paper", "predictor", "cutoff", "direction", "auc", "endpoint"} <= set(e)
    assert main(["models", "--key", "S000_C"]) == 0
    assert json.loads(capsys.readouterr().out)["cutoff"] == 119.5
    assert main(["models", "--key", "nope"]) == 2


def test_every_key_the_table_shows_can_be_shown_in_full(capsys):
    """``spinebq models`` lists the screening key ``pickhardt2013_L1``, and ``--key pickhardt2013_L1`` refused it as
    "no published model"; every key of the table is now shown in full, with its thresholds and citation."""
    from spinebq.risk.registry import load_screening

    assert main(["models"]) == 0
    table = capsys.readouterr().out
    for entry in load_screening():
        assert entry["key"] in table
        assert main(["models", "--key", entry["key"]]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["thresholds"] == entry["thresholds"] and shown["citation"] == entry["citation"]
