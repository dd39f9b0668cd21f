"""The package's one bibliography and the opportunistic-screening thresholds of the registry."""
from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from spinebq.risk.references import cited_keys, load_references, reference
from spinebq.risk.registry import load_registry, load_screening
from spinebq.risk.screening import band_of


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_every_key_the_registry_cites_resolves_to_a_full_reference():
    registry = load_registry()
    keys = [m["paper"] for m in registry["models"]]
    for entry in registry["screening"]:
        keys += [entry["reference"], *entry["related"]]
    keys += [k for text in _strings(registry) for k in cited_keys(text)]
    assert "pickhardt2013" in keys and "jang2019" in keys
    for key in keys:
        ref = reference(key)  # KeyError if the bibliography lacks it
        text = ref.citation()
        assert ref.authors and ref.title and ref.year, key
        assert ref.title in text and str(ref.year) in text and ref.authors[0] in text
        assert "None" not in text and "nan" not in text.lower().split()


def test_bibliography_entries_are_well_formed():
    document = json.loads(resources.files("spinebq").joinpath("data", "references.json").read_text(encoding="utf-8"))
    assert set(document["references"]) == set(load_references())
    for key, ref in load_references().items():
        assert re.fullmatch(r"[a-z][a-z0-9]*\d{4}[a-z0-9]*", key), key
        assert ref.checked in ("full text", "abstract", "secondary")
        if ref.doi is not None:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", ref.doi), (key, ref.doi)
            assert ref.citation().endswith(f"doi:{ref.doi}")
        else:
            assert ref.citation().endswith("DOI not available")
    with pytest.raises(KeyError, match="not in spinebq's bibliography"):
        reference("nobody1999")


#: A Wolters Kluwer DOI of the journal-code form: ``10.1097/BRS.0000000000004577`` (16 digits after the code).
WOLTERS_KLUWER_DOI = re.compile(r"10\.1097/[a-z0-9]+\.\d{16}", re.IGNORECASE)


def test_the_vbq_paper_has_the_doi_of_its_publisher_not_the_misprinted_one():
    """[wu2025] (Spine Research, Wolters Kluwer for Higher Education Press) printed its DOI a zero short
    (``10.1097/br9.000000000000019``), so the bibliography gave "DOI not available"; it now has the DOI of the
    article's page at its publisher, of the 16-digit form every journal-code DOI of that publisher has, and keeps
    the printed one in its note."""
    ref = reference("wu2025")
    assert ref.doi is not None and WOLTERS_KLUWER_DOI.fullmatch(ref.doi), ref.doi
    assert "10.1097/br9.000000000000019" in ref.note and ref.citation().endswith(f"doi:{ref.doi}")
    journal_code = [r.doi for r in load_references().values() if r.doi and re.match(r"10\.1097/[a-z0-9]+\.\d", r.doi, re.I)]
    assert all(WOLTERS_KLUWER_DOI.fullmatch(doi) for doi in journal_code), journal_code


def test_pickhardt_thresholds_are_recorded_as_printed():
    """110 and 160 HU at L1, 120 kVp, each number present in the sentence printed in the paper's abstract."""
    (entry,) = [e for e in load_screening() if e["reference"] == "pickhardt2013"]
    assert entry["level"] == "L1" and entry["unit"] == "HU" and entry["kvp"] == [120]
    thresholds = {t["hu"]: t for t in entry["thresholds"]}
    assert sorted(thresholds) == [110, 160]
    for hu, t in thresholds.items():
        assert f"{hu} HU" in t["as_printed"]
    assert "90% specific" in thresholds[110]["as_printed"].replace("more than 90%", "90%")
    assert "90% sensitive" in thresholds[160]["as_printed"]
    assert "hu_2d" in entry["spinebq_value"] and "single axial slice" in entry["roi_method"]
    assert "Pickhardt PJ" in entry["citation"] and "Annals of Internal Medicine 2013" in entry["citation"]


@pytest.mark.parametrize("hu, reading", [(35.0, "osteoporosis likely"), (110.0, "osteoporosis likely"),
                                         (110.01, "indeterminate: osteoporosis not excluded"),
                                         (160.0, "indeterminate: osteoporosis not excluded"),
                                         (160.01, "osteoporosis unlikely"), (240.0, "osteoporosis unlikely")])
def test_bands_include_the_threshold_itself(hu, reading):
    """'160 HU or less' is the sensitive threshold: a value equal to a threshold falls in the band below it."""
    (entry,) = [e for e in load_screening() if e["key"] == "pickhardt2013_L1"]
    got, band = band_of(hu, entry["thresholds"], entry["above_reading"])
    assert got == reading
    assert band.startswith(("at or below", "above"))
