"""The report's one layout, read as a surgeon reads it: page one holds the summary, numbers are written for
people, the PDF (the same HTML printed) has no overlapping or cut text, and every citation resolves.

Checked on the demo patient (synthetic CT with rods, calibrated to vBMD, and the synthetic T1 MRI) and on the real
CT (TotalSegmentator example, uncalibrated) with a real T1 MRI."""
from __future__ import annotations

import html
import html.parser
import json
import re
import subprocess
from xml.etree import ElementTree

import pytest

from spinebq.risk.references import load_references
from tests.report.browser import chromium, need_tool

#: What page one must hold (the issue's summary items), by element id in the DOM and by words in the PDF.
PAGE_ONE_IDS = ("who", "bone-quality", "fractures", "planned-levels", "models-summary", "warnings")
PAGE_ONE_WORDS = ("Patient", "Planned levels", "Bone quality", "CT 3D HU", "L1 screening", "vBMD", "MRI VBQ",
                  "MRI PBQ", "Fractures", "screw corridor", "ST-HU", "HU ratio", "Published models", "Warnings")
#: Python values leaking into text.
LEAKS = re.compile(r"\bNone\b|\b[nN]a[nN]\b|\[\s*'|'\s*\]|\bTrue\b|\bFalse\b")


class _Text(html.parser.HTMLParser):
    """Every text node (outside style/script), and the id of each element's nearest section."""

    def __init__(self):
        super().__init__()
        self.nodes, self.ids, self.headers = [], {}, []
        self._stack = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._stack.append((tag, attrs.get("id")))
        if attrs.get("id"):
            self.ids[attrs["id"]] = ""

    def handle_endtag(self, tag):
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._stack and self._stack[-1][0] in ("style", "script", "title"):
            return
        if data.strip():
            self.nodes.append(data.strip())
            for _, element_id in self._stack:
                if element_id:
                    self.ids[element_id] += " " + data.strip()
            if self._stack and self._stack[-1][0] == "th":
                self.headers.append(data.strip())


def _dom(report_dir, tmp_path_factory) -> _Text:
    out, _ = chromium((report_dir / "report.html").as_uri(), tmp_path_factory.mktemp("dom"), "--dump-dom")
    parsed = _Text()
    parsed.feed(out)
    return parsed


@pytest.fixture(scope="module", params=["demo", "real"])
def case(request, tmp_path_factory):
    report_dir = request.getfixturevalue("demo_report_dir" if request.param == "demo" else "real_report_dir")
    return request.param, report_dir, _dom(report_dir, tmp_path_factory)


def _pdf_words(pdf) -> list[dict]:
    """Every word of the PDF with its page and box, from ``pdftotext -bbox-layout``."""
    exe = need_tool("pdftotext")
    xml = subprocess.run([exe, "-bbox-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    root = ElementTree.fromstring(re.sub(r'\sxmlns="[^"]+"', "", xml, count=1))
    words = []
    for number, page in enumerate(root.iter("page"), start=1):
        width, height = float(page.get("width")), float(page.get("height"))
        for word in page.iter("word"):
            box = [float(word.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")]
            words.append({"page": number, "text": word.text or "", "box": box, "size": (width, height)})
    return words


def _page_text(pdf, page: int) -> str:
    exe = need_tool("pdftotext")
    text = subprocess.run([exe, "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return " ".join(text.split())


def test_page_one_holds_the_summary(case):
    name, report_dir, dom = case
    for element_id in PAGE_ONE_IDS:
        assert dom.ids.get(element_id, "").strip(), (name, element_id)
    who = dom.ids["who"]
    assert "Planned levels L4-L5" in " ".join(who.split()) and ("demo" if name == "demo" else "case-A") in who
    bone = dom.ids["bone-quality"]
    for item in ("CT 3D HU", "three-slice HU", "L1 screening", "vBMD", "MRI VBQ", "MRI PBQ"):
        assert item in bone, (name, item)
    assert "L4" in dom.ids["planned-levels"] and "L5" in dom.ids["planned-levels"]
    page_one = _page_text(report_dir / "report.pdf", 1)
    for words in PAGE_ONE_WORDS:
        assert words in page_one, (name, words)
    last_warning = dom.ids["warnings"].split("  ")[-1].strip()
    assert " ".join(last_warning.split())[:40] in page_one  # the warnings end on page one, not after it
    print(f"{name}: page one has {len(page_one.split())} words")


def test_demo_reads_vbmd_and_the_real_ct_reads_the_screening(case):
    name, _, dom = case
    bone = " ".join(dom.ids["bone-quality"].split())
    if name == "demo":  # calibrated with the rods: a vBMD and its ACR category
        assert re.search(r"\d+\.\d mg/cm3", bone) and "ACR category:" in bone
    else:  # routine CT: HU only, the L1 screening reading stands in
        assert "scan not calibrated" in bone
        assert re.search(r"(osteoporosis likely|indeterminate|osteoporosis unlikely)", bone)
    assert "[pickhardt2013]" in bone


def test_no_python_values_in_any_text_node(case):
    name, report_dir, dom = case
    leaks = [node for node in dom.nodes if LEAKS.search(node)]
    assert not leaks, (name, leaks[:5])
    pdf_text = " ".join(w["text"] for w in _pdf_words(report_dir / "report.pdf"))
    assert not LEAKS.search(pdf_text), (name, LEAKS.search(pdf_text))


def test_pdf_words_do_not_overlap_and_stay_on_the_page(case):
    """From the PDF's text boxes: no two words on a page overlap (overlapping headers, text run into the next
    cell) and every word is inside the page (nothing cut at an edge)."""
    name, report_dir, _ = case
    words = _pdf_words(report_dir / "report.pdf")
    assert words
    by_page = {}
    for w in words:
        x0, y0, x1, y1 = w["box"]
        width, height = w["size"]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (name, w)
        by_page.setdefault(w["page"], []).append(w)
    overlaps = []
    for page, items in by_page.items():
        items.sort(key=lambda w: w["box"][0])
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                if b["box"][0] >= a["box"][2]:
                    break
                dx = min(a["box"][2], b["box"][2]) - max(a["box"][0], b["box"][0])
                dy = min(a["box"][3], b["box"][3]) - max(a["box"][1], b["box"][1])
                if dx > 0.5 and dy > 0.5:
                    overlaps.append((page, a["text"], b["text"]))
    assert not overlaps, (name, overlaps[:5])
    print(f"{name}: {len(words)} words on {len(by_page)} pages, none overlapping")


def test_levels_and_cutoffs_are_printed_on_one_line(case):
    """The models' tables wrapped their narrow columns inside a level range and a unit ("L1-L2-" over "L3-L4",
    "< 90.05 mg/" over "cm3"), which then read as two values."""
    name, report_dir, _ = case
    words = [w["text"] for w in _pdf_words(report_dir / "report.pdf")]
    cut = [w for w in words if re.fullmatch(r"(L\d-){2,}|mg/|cm3", w)]  # (prose may wrap after "L1-")
    assert not cut, (name, cut)


def test_every_table_header_is_printed_whole(case):
    """A header cut inside a word ('AU' / 'C') or squeezed ('3D HU (HU)3-slice') would not read back whole."""
    name, report_dir, dom = case
    exe = need_tool("pdftotext")
    text = subprocess.run([exe, str(report_dir / "report.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    lines = [" ".join(line.split()) for line in text.splitlines()]
    words = set(" ".join(lines).split())
    for header in set(dom.headers):
        for word in header.split():
            assert word in words, (name, header, word)


def test_every_cited_key_resolves_to_a_full_reference(case):
    name, report_dir, dom = case
    text = html.unescape((report_dir / "report.html").read_text())
    body, _, references = text.partition("id='references'")
    cited = set(re.findall(r"\[([a-z][a-z0-9]*\d{4}[a-z0-9]*)\]", body))
    assert {"pickhardt2013", "genant1993"} <= cited, (name, cited)
    bibliography = load_references()
    listed = dict(re.findall(r"data-ref='([^']+)'>\[[^\]]+\] ([^<]+)</li>", references))
    assert set(listed) == cited, (name, cited ^ set(listed))
    for key in cited:
        ref = bibliography[key]
        assert listed[key] == ref.citation() and ref.title in listed[key] and str(ref.year) in listed[key]
    assert "paper 00" not in body and "METHODS.md" not in body  # the old pointers are gone


def test_each_vertebra_block_shows_only_its_own_pictures(real_report_dir, real_ct_dir):
    """The L1 block holds L1's ellipses and L1's virtual screws, never a neighbour's picture."""
    text = (real_report_dir / "report.html").read_text()
    blocks = re.findall(r"<div class='level' id='level-([A-Z]\d+)'>(.*?)</div></td></tr></table></div>", text, re.S)
    assert [level for level, _ in blocks] == list(json.loads((real_ct_dir / "measurements.json").read_text())["vertebrae"])
    with_pictures = 0
    for level, block in blocks:
        alts = re.findall(r"<img src='data:image/png;base64,[^']+' alt='([^']+)'", block)
        assert all(alt.startswith(f"{level}: ") for alt in alts), (level, alts)
        expected = {p.stem for p in real_ct_dir.glob("*.png") if level in p.stem.split("_")}
        assert len(alts) == len(expected), (level, alts, expected)
        with_pictures += bool(alts)
    assert with_pictures >= 5  # L1-L5 have ellipses and screws


def test_measurement_files_cite_papers_by_key(real_ct_dir, real_mri_dir):
    """measurements.json and mri.json name each seed paper by its bibliography key (``[yang2026]``), the key the
    report's reference list resolves, never by its file number in ../shared/papers (``paper 001``)."""
    bibliography = load_references()
    for path in (real_ct_dir / "measurements.json", real_mri_dir / "mri.json"):
        text = path.read_text()
        assert "paper 00" not in text, path.name
        cited = set(re.findall(r"\[([a-z][a-z0-9]*\d{4}[a-z0-9]*)\]", text))
        assert cited and cited <= set(bibliography), (path.name, cited - set(bibliography))
    assert {"yang2026", "xu2025", "chang2025"} <= set(re.findall(r"\[([a-z]+\d{4})\]", (real_ct_dir / "measurements.json").read_text()))


def test_a_planned_level_says_why_each_corridor_number_is_missing(real_ct_dir):
    """The real CT with L5-S1 planned: S1 has its screw corridor (ST-HU) but no lumbar pedicle isthmus, and in the
    no-labels run no three-slice HU (one of its three slices holds no ellipse; here blanked in the document as that
    run writes it). Each cell says its own reason (they read "trajectory not measurable" for B-HU and HU ratio, and
    "not found" for each pedicle), and L5's numbers stand."""
    from spinebq.measure.ct.regional import SACRAL_PEDICLE_REASON
    from spinebq.report.summary import planned_levels
    from spinebq.risk.assess import ct_record

    document = json.loads((real_ct_dir / "measurements.json").read_text())
    s1 = document["vertebrae"]["S1"]
    s1.update({"hu_2d": None, "b_hu": None, "hu_ratio": None})
    l5_row, s1_row = planned_levels(ct_record(document), ["L5", "S1"])["rows"]
    assert all(l5_row[key]["value"] is not None for key in ("st_hu", "hu_ratio", "b_hu"))
    assert re.fullmatch(r"L \d+\.\d mm, R \d+\.\d mm", l5_row["pedicles"]), l5_row["pedicles"]
    assert s1_row["st_hu"]["value"] is not None
    assert s1_row["b_hu"]["text"] == s1_row["hu_ratio"]["text"] == "not measured: no three-slice HU at S1"
    assert s1_row["pedicles"] == f"not measured: {SACRAL_PEDICLE_REASON}"


def _bar_positions(svg: str) -> tuple[float, list[float]]:
    """The x of the value's marker and of each cutoff tick of a page-one bar, as fractions of its width."""
    root = ElementTree.fromstring(svg)
    width = float(root.get("width"))
    lines = root.findall("{http://www.w3.org/2000/svg}line")
    ticks = [float(line.get("x1")) / width for line in lines if line.get("stroke") == "#555"]
    marker = [float(line.get("x1")) / width for line in lines if line.get("stroke") == "#000"]
    return marker[0], ticks


@pytest.mark.parametrize("value,cutoff,near", [(3.24, 3.3, True), (156.0, 153.5, True), (119.2, 56.3, False),
                                               (-2.6, -1.45, False)])
def test_a_bar_draws_a_value_beside_its_cutoff_beside_it(value, cutoff, near):
    """case08's VBQ 3.24 against Wu's 3.3 was drawn as far from its cutoff as 119 HU against 56.3 (the bar was
    scaled to the two points alone, so the marker and the tick always sat at 19 % and 81 % of its width): a value
    1.8 % under its cutoff looked comfortably clear of it. Now the bar spans at least half the cutoff's size."""
    from spinebq.report.html import scale_svg

    x, (tick,) = _bar_positions(scale_svg({"value": value, "thresholds": [cutoff], "zones": ["risk", "ok"]}))
    assert (abs(x - tick) < 0.1) == near, (x, tick)
    assert 0 < x < 1 and (x < tick) == (value < cutoff)
