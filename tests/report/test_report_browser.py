"""The per-patient report of the real CT and a real MRI, opened in headless Chromium (screenshot and DOM),
checked against measurements.json / mri.json, with no external resource; and its PDF rendered to pages."""
from __future__ import annotations

import html.parser
import json
import shutil
import subprocess

import numpy as np
import pytest

from spinebq.report.quantities import get_path
from tests.report.browser import chromium, need_tool, network_hosts


class _Cells(html.parser.HTMLParser):
    """Collect every element's attributes (to read data-key/data-value cells and any src/href)."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self._open = []

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag in ("td", "span"):
            self._open.append(element)

    def handle_endtag(self, tag):
        if tag in ("td", "span") and self._open:
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self._open[-1]["text"] += data


def parse(dom: str) -> list[dict]:
    parser = _Cells()
    parser.feed(dom)
    return parser.elements


@pytest.fixture(scope="module")
def dom(real_report_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("chromium")
    out, urls = chromium((real_report_dir / "report.html").as_uri(), work, "--dump-dom")
    return out, urls, work


def test_screenshot_is_not_blank_and_shows_the_report(real_report_dir, tmp_path):
    need_tool("chromium", "chromium-browser", "google-chrome")
    shot = tmp_path / "shot.png"
    chromium((real_report_dir / "report.html").as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1200,1600")
    import matplotlib.image as mpimg

    image = mpimg.imread(str(shot))[..., :3]
    assert image.shape[0] == 1600 and image.shape[1] == 1200
    grey = image.mean(axis=2)
    dark = (grey < 0.5).mean()
    print(f"screenshot: {dark:.3%} dark pixels, {len(np.unique(image.reshape(-1, 3), axis=0))} colours")
    assert 0.005 < dark < 0.6  # text and tables are drawn, not a blank or black page
    # the yellow research notice and the green/red table rows are rendered in colour
    assert len(np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50


def test_dom_has_every_level_and_numbers_equal_to_measurements_json(dom, real_ct_dir):
    out, urls, _ = dom
    doc = json.loads((real_ct_dir / "measurements.json").read_text())
    elements = parse(out)
    blocks = [e["attrs"]["id"][len("level-"):] for e in elements if e["tag"] == "div"
              and e["attrs"].get("id", "").startswith("level-")]
    assert blocks == list(doc["vertebrae"])  # one block per level, cranial to caudal
    cells = [e for e in elements if e["tag"] == "td" and "data-level" in e["attrs"] and "data-key" in e["attrs"]
             and not e["attrs"]["data-key"].startswith("mri") and e["attrs"]["data-level"] in doc["vertebrae"]
             and "data-model" not in e["attrs"]]
    checked = 0
    for cell in cells:
        level, key = cell["attrs"]["data-level"], cell["attrs"]["data-key"]
        if level not in doc["vertebrae"] or cell["attrs"].get("data-value") is None:
            continue
        expected = get_path(doc["vertebrae"][level], key)
        shown = cell["attrs"]["data-value"]
        if expected is None:
            assert shown == "null" and cell["text"].startswith("not measured"), (level, key)
        elif isinstance(expected, str):
            assert cell["text"] == expected.replace("_", " ")
        else:
            assert float(shown) == expected, (level, key)
            decimals = 3 if key == "hu_ratio" else (0 if key == "genant_grade" else 1)
            assert cell["text"] == f"{expected:.{decimals}f}", (level, key, cell["text"])
            checked += 1
    print(f"{checked} numeric cells equal to measurements.json")
    measured = sum(1 for v in doc["vertebrae"].values() for k in ("hu_3d", "hu_3d_median", "hu_2d") if v.get(k) is not None)
    assert checked >= measured
    summary = {e["attrs"]["data-key"]: e for e in elements if e["attrs"].get("data-key", "").startswith("summary.")}
    assert float(summary["summary.hu"]["attrs"]["data-value"]) == doc["summary"]["hu"]


def test_dom_mri_scores_equal_to_mri_json(dom, real_mri_dir):
    out, _, _ = dom
    doc = json.loads((real_mri_dir / "mri.json").read_text())
    values = {e["attrs"]["data-key"]: e for e in parse(out) if e["attrs"].get("data-key", "").startswith("mri.")}
    for key in ("vbq", "pbq", "s1_vbq"):
        assert float(values[f"mri.{key}"]["attrs"]["data-value"]) == doc[key]
        assert values[f"mri.{key}"]["text"] == f"{doc[key]:.2f}"
    mri_levels = [e for e in parse(out) if e["tag"] == "td" and e["attrs"].get("data-key") == "mri.body_signal"]
    assert [e["attrs"]["data-level"] for e in mri_levels] == list(doc["levels"])
    assert [float(e["attrs"]["data-value"]) for e in mri_levels] == [v["body_signal"] for v in doc["levels"].values()]


def test_assessment_in_the_dom_matches_assessment_json(dom, real_report_dir):
    out, _, _ = dom
    assessment = json.loads((real_report_dir / "assessment.json").read_text())
    shown = {(e["attrs"]["data-model"], e["attrs"].get("data-level", "")): e for e in parse(out)
             if e["tag"] == "td" and "data-model" in e["attrs"]}
    applied = [r for r in assessment["models"] if r["status"] in ("applied", "no_cutoff")]
    assert applied, "the real CT and MRI should place the patient against at least one model"
    for row in applied:
        assert float(shown[(row["key"], row["level"] or "")]["attrs"]["data-value"]) == row["value"]
    assert "Research use only, not a medical device" in out


def test_no_external_resource_in_dom_or_fetched(dom, tmp_path):
    out, urls, work = dom
    elements = parse(out)
    links = [v for e in elements for k, v in e["attrs"].items() if k in ("src", "href") and v]
    assert links and all(v.startswith("data:") for v in links)  # pictures are embedded
    # the browser's own background requests (same with an empty page) are not the report's
    _, blank = chromium("about:blank", work)
    assert network_hosts(urls) - network_hosts(blank) == set()
    # control: the same check sees an external image
    page = tmp_path / "external.html"
    page.write_text('<html><body><img src="http://example.com/x.png"></body></html>')
    _, control = chromium(page.as_uri(), work)
    assert "http://example.com" in network_hosts(control) - network_hosts(blank)


def test_pdf_renders_to_pages(real_report_dir, tmp_path):
    exe = need_tool("pdftoppm")
    subprocess.run([exe, "-r", "40", "-png", str(real_report_dir / "report.pdf"), str(tmp_path / "page")], check=True,
                   capture_output=True, timeout=120)
    pages = sorted(tmp_path.glob("page*.png"))
    import matplotlib.image as mpimg

    print(f"report.pdf: {len(pages)} pages")
    assert len(pages) >= 4  # page one, the level blocks with their pictures, MRI, models and references
    text_exe = need_tool("pdftotext")
    for number, page in enumerate(pages, start=1):
        grey = mpimg.imread(str(page))[..., :3].mean(axis=2)
        words = subprocess.run([text_exe, "-f", str(number), "-l", str(number), str(real_report_dir / "report.pdf"), "-"],
                               capture_output=True, text=True).stdout.split()
        assert (grey < 0.5).mean() > 0.00002 and len(words) > 20, f"{page.name} is blank"  # more than the footer
    text_exe = shutil.which("pdftotext")
    if text_exe:
        text = subprocess.run([text_exe, str(real_report_dir / "report.pdf"), "-"], capture_output=True, text=True).stdout
        assert "research use only" in text.lower() and "L3" in text
