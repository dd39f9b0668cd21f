"""Every number of the report names its method, and every text says what the code does: checked on the real CT
(TotalSegmentator example, uncalibrated) with the real T1 MRI (the session fixtures of ``conftest.py``)."""
from __future__ import annotations

import contextlib
import html
import io
import json
import re

import pytest

from spinebq.cli import main


def _text(report_dir) -> str:
    """The report's text, tags removed, whitespace collapsed."""
    page = (report_dir / "report.html").read_text()
    page = re.sub(r"<style>.*?</style>|<title>.*?</title>", "", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _section(report_dir, element_id: str) -> str:
    page = (report_dir / "report.html").read_text()
    match = re.search(rf"<(\w+)[^>]* id='{element_id}'[^>]*>(.*?)</\1>", page, re.S)
    assert match, element_id
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(2))).split())


def test_the_three_slice_method_is_told_as_the_code_does_it(real_report_dir, real_ct_dir):
    """The three-slice ellipses lie on planes perpendicular to each vertebra's own axis (measurements.json
    ``method.hu_2d``); the screening reading, which compares L1's three-slice HU, says the same, never "axial"."""
    measured = json.loads((real_ct_dir / "measurements.json").read_text())["method"]["hu_2d"]
    assert "perpendicular to each vertebra's own axis" in measured
    screening = json.loads((real_report_dir / "assessment.json").read_text())["screening"]
    for reading in screening:
        assert "perpendicular to" in reading["method"] and "own axis" in reading["method"], reading["method"]
    text = _text(real_report_dir)
    for reading in screening:
        assert " ".join(reading["method"].split("; ")[0].split()) in text  # the detail shows the method as written
    assert not re.search(r"axial ellip", text, re.I)


#: The three groups of model rows and the words every count names them by.
GROUPS = {"applied": "applied", "no_cutoff": "no published cutoff", "not_applicable": "not applicable"}


@pytest.fixture(scope="module")
def planned_to_s1(real_ct_dir, tmp_path_factory):
    """``spinebq report`` and ``spinebq assess`` on the real CT alone, L4-S1 planned (the user test's case: a
    registry model evaluated at three levels, one model without a published cutoff): (folder, their screen text)."""
    out = tmp_path_factory.mktemp("planned_s1")
    args = ["--ct", str(real_ct_dir), "--planned-levels", "L4-S1", "--age", "70", "--sex", "F"]
    screen = io.StringIO()
    with contextlib.redirect_stdout(screen):
        assert main(["report", *args, "--no-pdf", "--out", str(out / "report")]) == 0
        assert main(["assess", *args]) == 0
    return out / "report", screen.getvalue()


def test_model_counts_name_all_three_groups_alike(planned_to_s1):
    """The screen, page one and the detail count the rows of assessment.json the same way: applied, no published
    cutoff, not applicable, and the models they come from; the detail lists exactly those rows."""
    report_dir, screen = planned_to_s1
    rows = json.loads((report_dir / "assessment.json").read_text())["models"]
    counts = {status: sum(r["status"] == status for r in rows) for status in GROUPS}
    assert sum(counts.values()) == len(rows) and all(counts.values())  # every group present in this case
    models = len({r["key"] for r in rows})
    assert models < len(rows)  # one model at several levels: rows and models differ
    said = ", ".join(f"{n} {GROUPS[s]}" for s, n in counts.items()) + f" ({len(rows)} rows of {models} models)"
    assert screen.count(said) == 2, screen  # spinebq report and spinebq assess
    assert said in _section(report_dir, "model-counts") and said in _section(report_dir, "model-counts-detail")
    page = (report_dir / "report.html").read_text()
    listed = re.findall(r"<tr class='[^']*' data-model='[^']+' data-status='([a-z_]+)'", page)
    assert {s: listed.count(s) for s in GROUPS} == counts


def test_every_number_of_the_level_blocks_names_its_method(real_report_dir, real_ct_dir):
    """Each row of a level block carries a method label; Methods and caveats describes each label once, naming the
    numbers it covers, in the words of measurements.json ``method`` (with its paper key); page one says which ST-HU
    its screw-corridor table shows."""
    method = json.loads((real_ct_dir / "measurements.json").read_text())["method"]
    regional = method["regional"]
    page = (real_report_dir / "report.html").read_text()
    blocks = re.findall(r"<div class='level' id='level-[A-Z]\d+'>(.*?)</div></td></tr></table></div>", page, re.S)
    rows = [re.sub(r"<[^>]+>", "|", html.unescape(row)).split("|")
            for block in blocks for row in re.findall(r"<tr data-level='[^']+'>(.*?)</tr>", block, re.S)]
    label_of = {}
    for row in rows:
        cells = [c for c in row if c.strip()]
        number, method_label = cells[0], cells[-1]
        assert method_label not in ("HU", "mm", "ml", "grade", "mg/cm3"), cells  # a method cell, not the unit
        label_of.setdefault(number, set()).add(method_label)
    assert all(len(labels) == 1 for labels in label_of.values()), label_of  # one method per number at every level
    label_of = {number: labels.pop() for number, labels in label_of.items()}
    entries = re.findall(r"<li>([^<]*)</li>", page.split("id='caveats'>", 1)[1].split("</ul>", 1)[0])
    entries = [html.unescape(e) for e in entries]
    described = {}
    for number, label in label_of.items():
        (entry,) = [e for e in entries if e.startswith(f"{label} (") or e.startswith(f"{label}:")]
        assert number in entry.split(":", 1)[0] or entry.startswith(f"{number}:"), (number, entry)
        described[number] = entry
    # the two screw numbers the user test found unexplained have different methods, each the JSON's own words
    assert label_of["ST-HU"] != label_of["trajectory L"] == label_of["trajectory R"]
    assert regional["st_hu"] in described["ST-HU"] and "[yang2026]" in described["ST-HU"]
    assert regional["screw_roi"] in described["trajectory L"]
    for region, text in regional["regions"].items():
        shown = [entry for number, entry in described.items() if number.startswith(f"region {region}")]
        assert shown and all(text in entry for entry in shown) and "[xu2025]" in text
    assert regional["heights"] in described["height ant."] and regional["hu_ratio"] in described["HU ratio"]
    assert method["hu_2d"].split(" (")[0] in described["3-slice HU"] and method["headline_key"] in described["vBMD"]
    assert regional["pedicles"] in described["pedicle isthmus"]
    # page one: which ST-HU, by the label the level blocks give it, with its paper
    planned = _section(real_report_dir, "planned-method")
    assert f"{label_of['ST-HU']} ST-HU of [yang2026]" in planned and label_of["trajectory L"] in planned
