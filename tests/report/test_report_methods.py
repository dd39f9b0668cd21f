"""Every number of the report names its method, and every text says what the code does: checked on the real CT
(TotalSegmentator example, uncalibrated) with the real T1 MRI (the session fixtures of ``conftest.py``)."""
from __future__ import annotations

import html
import json
import re


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
