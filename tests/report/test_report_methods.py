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
