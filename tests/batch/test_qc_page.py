"""The cohort QC page and the per-study thumbnail.

Thumbnails are drawn from the real CT with TotalSegmentator's labels and from the synthetic phantom; the page
(done, failed, skipped, pending rows, missing values, a missing picture) is opened in headless Chromium offline:
every picture decodes, a header click sorts (numbers numerically, missing values last), the filter hides rows,
and the page requests nothing from the network.
"""
from __future__ import annotations

import html.parser
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spinebq.batch.qc_page import QcRow, write_qc_page
from spinebq.constants import RESEARCH_NOTICE
from spinebq.report.thumbnail import NO_VERTEBRA_TEXT, WIDTH_PX, spine_thumbnail, thumbnail_figure
from tests.conftest import TS, need
from tests.report.browser import chromium, need_tool, network_hosts

#: Largest thumbnail file we accept, bytes ("a few tens of kB at most").
MAX_THUMBNAIL_BYTES = 40_000
REAL_LEVELS = ["T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"]
PHANTOM_LEVELS = ["T12", "L1", "L2", "L3", "L4", "L5", "S1"]

#: Run in the page after it loaded: report every picture, sort by a column twice, filter, as JSON in the DOM.
PROBE = """
<script>
window.addEventListener("load", function () {
  var out = {};
  var keys = function () {
    return Array.prototype.filter.call(document.querySelectorAll("#qc tbody tr"), function (r) { return !r.hidden; })
      .map(function (r) { return r.dataset.key; });
  };
  var head = function (field) { return document.querySelector('#qc th[data-field="' + field + '"]'); };
  out.images = Array.prototype.map.call(document.querySelectorAll("img.thumb"), function (img) {
    return [img.closest("tr").dataset.key, img.complete, img.naturalWidth, img.naturalHeight];
  });
  out.placeholders = Array.prototype.map.call(document.querySelectorAll(".noimg"), function (d) {
    return [d.closest("tr").dataset.key, d.textContent];
  });
  out.placeholder_first_line = Array.prototype.map.call(document.querySelectorAll(".noimg"), function (d) {
    var text = document.createRange();
    text.selectNodeContents(d);  /* its first line inside the box, and the rest reachable by scrolling */
    return [d.closest("tr").dataset.key, text.getBoundingClientRect().top >= d.getBoundingClientRect().top - 0.5,
            d.scrollHeight <= d.clientHeight || getComputedStyle(d).overflowY === "auto"];
  });
  out.initial = keys();
  var t0 = performance.now();
  head("hu").click();
  out.sort_ms = performance.now() - t0;
  out.hu_up = keys();
  head("hu").dispatchEvent(new MouseEvent("click", {bubbles: true}));
  out.hu_down = keys();
  out.hu_down_state = head("hu").getAttribute("aria-sort");
  head("key").click();
  out.key_up = keys();
  var text = document.getElementById("filter-text");
  text.value = "METAL";
  text.dispatchEvent(new Event("input"));
  out.filter_metal = keys();
  out.shown_metal = document.getElementById("shown").textContent;
  text.value = "";
  text.dispatchEvent(new Event("input"));
  var status = document.getElementById("filter-status");
  status.value = "failed";
  status.dispatchEvent(new Event("change"));
  out.filter_failed = keys();
  status.value = "";
  status.dispatchEvent(new Event("change"));
  out.filter_none = keys();
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


class _Elements(html.parser.HTMLParser):
    """Every start tag with its attributes and the text directly inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self._open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("img", "br", "input", "meta"):
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open and self._open.pop()["tag"] != tag:
            pass

    def handle_data(self, data):
        if self._open:
            self._open[-1]["text"] += data


def parse(page: str) -> list[dict]:
    parser = _Elements()
    parser.feed(page)
    return parser.elements


def probe(page: Path, work: Path, *, height: int = 4000) -> tuple[dict, set[str]]:
    """Open a copy of ``page`` with :data:`PROBE` in Chromium; return its results and the URLs requested."""
    probed = work / f"probed_{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom, urls = chromium(probed.as_uri(), work, "--virtual-time-budget=5000", f"--window-size=1400,{height}",
                         "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; the DOM starts with {dom[:300]!r}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&")), urls


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.fixture(scope="module")
def real():
    from spinebq.io.labels import load_labels
    from spinebq.io.volume import load_volume

    ct = load_volume(need(TS / "ct.nii.gz"))
    return ct, load_labels(need(TS / "seg_v2" / "total.nii.gz"), ct).array


@pytest.fixture(scope="module")
def phantom_ct():
    from spinebq.synthetic.ct import make_ct_phantom

    return make_ct_phantom()


@pytest.fixture(scope="module")
def thumbnails(real, phantom_ct, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("thumbnails")
    ct, labels = real
    return {
        "real": spine_thumbnail(ct, labels, folder / "real.png", levels={"L1": "142 HU", "L3": "120 HU"}),
        "phantom": spine_thumbnail(phantom_ct.ct, phantom_ct.labels.array, folder / "phantom.png"),
        "empty": spine_thumbnail(ct, np.zeros(ct.shape, np.int16), folder / "empty.png"),
    }


@pytest.fixture(scope="module")
def rows(thumbnails, tmp_path_factory) -> list[QcRow]:
    not_png = tmp_path_factory.mktemp("bad") / "not_a_png.png"
    not_png.write_text("not a picture")
    return [
        QcRow("case-10", "done", None, thumbnails["real"], "ABD 3.0 B30f", 120.0, "B30f", "portal_venous", 3.0,
              142.34, 121.06, "low_bone_mass", ("L1",), ("L2: roi_small", "L4: metal_near_roi"),
              "studies/case-10/report.html"),
        QcRow("case-2", "done", None, thumbnails["phantom"], "phantom", 120.0, "none", "non_contrast", 1.5, 135.0,
              104.2, "normal", (), (), "studies/case-2/report.html"),
        QcRow("case-3", "failed", "segmentation found no lumbar vertebra <script>alert(1)</script>", None),
        QcRow("case-4", "skipped", "only localizer series", None),
        QcRow("case-5", "done", None, thumbnails["empty"], "THIN & sharp", 100.0, "STANDARD", None, 0.625,
              float("nan"), None, None, (), ("L3: touches_fov_border",)),
        QcRow("case-6", "pending"),
        QcRow("case-7", "done", None, not_png, "x", 140.0, "B", "arterial", 5.0, 80.0, 60.0, "osteoporosis",
              ("L1", "L2"), ()),
        QcRow("case-8", "done", None, not_png.with_name("gone.png"), "y", 120.0, "B", None, 2.0, 160.5, 140.0,
              "normal", (), ()),
    ]


@pytest.fixture(scope="module")
def page(rows, tmp_path_factory) -> Path:
    return write_qc_page(tmp_path_factory.mktemp("page") / "qc.html", rows, title="Cohort <A> & QC",
                         notice=RESEARCH_NOTICE)


@pytest.fixture(scope="module")
def browser(page, tmp_path_factory):
    need_tool("chromium", "chromium-browser", "google-chrome")
    work = tmp_path_factory.mktemp("chromium")
    results, urls = probe(page, work)
    _, blank = chromium("about:blank", work)
    return results, urls, blank, work


# --- thumbnails -------------------------------------------------------------------------------------------------


def test_real_ct_thumbnail_names_every_labelled_vertebra(real, thumbnails):
    ct, labels = real
    fig = thumbnail_figure(ct, labels, levels={"L1": "142 HU", "L3": "120 HU"})
    assert texts(fig) == ["T11", "T12", "L1 142 HU", "L2", "L3 120 HU", "L4", "L5", "S1"]
    with Image.open(thumbnails["real"]) as image:
        width, height = image.size
    size = thumbnails["real"].stat().st_size
    print(f"real CT thumbnail: {width} x {height} px, {size} bytes")
    assert width == WIDTH_PX and 150 <= height <= 330
    assert 2_000 < size < MAX_THUMBNAIL_BYTES


def test_a_vertebra_off_the_mid_sagittal_plane_is_still_named(real):
    ct, labels = real
    moved = np.where(labels == 21, 0, labels)
    moved[20:30, 40:50, 60:70] = 21  # L2 far to the patient's right: drawn dashed by its projection
    assert texts(thumbnail_figure(ct, moved)) == REAL_LEVELS


def test_phantom_thumbnail_and_the_names_are_drawn(phantom_ct, thumbnails, tmp_path):
    fig = thumbnail_figure(phantom_ct.ct, phantom_ct.labels.array)
    assert texts(fig) == PHANTOM_LEVELS
    with Image.open(thumbnails["phantom"]) as image:
        assert image.width <= WIDTH_PX and image.height <= 330
        plain = np.asarray(image.convert("RGB"), dtype=int)
    assert thumbnails["phantom"].stat().st_size < MAX_THUMBNAIL_BYTES
    # the same picture with a text per level differs only on the anterior side, where the names are written
    labelled = spine_thumbnail(phantom_ct.ct, phantom_ct.labels.array, tmp_path / "hu.png",
                               levels={n: "999 HU" for n in PHANTOM_LEVELS})
    with Image.open(labelled) as image:
        changed = np.nonzero((np.asarray(image.convert("RGB"), dtype=int) != plain).any(axis=(0, 2)))[0]
    assert changed.size and changed.max() < plain.shape[1] // 2


def test_thumbnail_without_vertebrae_says_so(real, thumbnails):
    ct, _ = real
    fig = thumbnail_figure(ct, np.zeros(ct.shape, np.int16))
    assert texts(fig) == [NO_VERTEBRA_TEXT]
    with Image.open(thumbnails["empty"]) as image:
        assert image.width <= WIDTH_PX
        grey = np.asarray(image.convert("L"), dtype=float)
    assert grey.std() > 10  # the CT slice is drawn, not a blank picture


def test_thumbnail_is_deterministic_and_checks_the_grid(real, thumbnails, tmp_path):
    ct, labels = real
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    again = spine_thumbnail(ct, labels, tmp_path / "again.png", levels={"L1": "142 HU", "L3": "120 HU"})
    assert again.read_bytes() == thumbnails["real"].read_bytes()
    assert plt.get_fignums() == figures  # no pyplot figure left open
    with pytest.raises(ValueError, match="CT's"):
        spine_thumbnail(ct, labels[:-1], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# --- the page as written --------------------------------------------------------------------------------------


def test_page_is_self_contained_escaped_and_formatted(page, rows):
    text = page.read_text(encoding="utf-8")
    elements = parse(text)
    assert [e["tag"] for e in elements].count("script") == 1  # the row's "<script>" reason is text, not code
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "Cohort &lt;A&gt; &amp; QC" in text
    assert RESEARCH_NOTICE in next(e["text"] for e in elements if e["attrs"].get("id") == "notice")
    links = [v for e in elements for k, v in e["attrs"].items() if k in ("src", "href") and v]
    sources = [e["attrs"]["src"] for e in elements if e["tag"] == "img"]
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(e["attrs"].get("loading") == "lazy" for e in elements if e["tag"] == "img")
    assert not [v for v in links if "://" in v or v.startswith("//")]
    assert not re.search(r"<link|@import|url\(", text)
    rows_html = re.findall(r'<tr class="s-\w+" data-key="([^"]+)".*?</tr>', text, re.S)
    assert rows_html == [r.key for r in rows]
    # numbers for people: 1 decimal for HU and vBMD, whole kVp, thickness to 3 significant digits
    row10 = re.search(r'data-key="case-10".*?</tr>', text, re.S).group(0)
    for shown in (">142.3<", ">121.1<", ">120<", ">3<", ">portal venous<", ">low bone mass<"):
        assert shown in row10, shown
    assert ">0.625<" in re.search(r'data-key="case-5".*?</tr>', text, re.S).group(0)
    # missing values: a dash with the reason in its title
    row3 = re.search(r'data-key="case-3".*?</tr>', text, re.S).group(0)
    assert row3.count('title="not measured: segmentation found no lumbar vertebra &lt;script&gt;') == 12
    row5 = re.search(r'data-key="case-5".*?</tr>', text, re.S).group(0)
    assert row5.count('title="not measured: no value for this study">\u2014<') == 6  # HU (NaN), vBMD, ACR, phase, VBQ, PBQ


def test_status_counts_and_placeholders(page):
    elements = parse(page.read_text(encoding="utf-8"))
    chips = {e["attrs"]["data-status"]: e for e in elements if "chip" in e["attrs"].get("class", "")}
    counts = {status: int(next(b["text"] for b in elements[elements.index(chip):] if b["tag"] == "b"))
              for status, chip in chips.items()}
    assert counts == {"done": 5, "failed": 1, "skipped": 1, "pending": 1, "running": 0}
    placeholders = [e["text"] for e in elements if e["attrs"].get("class") == "noimg"]
    # the reason is in the next column; repeated in the 90 px placeholder it scrolled, its first letters cut off
    assert placeholders == ["no picture: the study failed", "no picture: the study was skipped",
                            "no picture: the study has not run yet",
                            "picture is not a PNG: not_a_png.png",
                            "picture not readable: gone.png (No such file or directory)"]


def test_row_validation():
    with pytest.raises(ValueError, match="status must be one of"):
        QcRow("a", "finished")
    with pytest.raises(TypeError, match="tuple of strings"):
        QcRow("a", "done", qc_flags="L1: metal")


@pytest.fixture(scope="module")
def thousand(thumbnails, tmp_path_factory) -> tuple[Path, float]:
    """A page of 1000 studies (every 7th failed, every 5th with a metal flag) and the seconds it took to write."""
    rows = [QcRow(f"study-{i:04d}", "failed" if i % 7 == 0 else "done", None, thumbnails["real"], "ABD", 120.0, "B30f",
                  None, 3.0, 100.0 + i % 97, 80.0, "normal", (), ("L1: metal",) if i % 5 == 0 else ())
            for i in range(1000)]
    start = time.perf_counter()
    page = write_qc_page(tmp_path_factory.mktemp("thousand") / "qc.html", rows, title="1000", notice=RESEARCH_NOTICE)
    return page, time.perf_counter() - start


def test_a_thousand_rows_stay_light(thousand, thumbnails):
    page, seconds = thousand
    per_row = (page.stat().st_size - 12_000) / 1000
    print(f"1000 rows: {page.stat().st_size / 1e6:.1f} MB written in {seconds:.2f} s, {per_row / 1e3:.1f} kB per row")
    assert seconds < 5
    assert per_row < thumbnails["real"].stat().st_size * 4 / 3 + 1_500  # base64 of the picture + ~1 kB of markup


@pytest.mark.slow
def test_a_thousand_rows_in_the_browser(thousand, tmp_path):
    need_tool("chromium", "chromium-browser", "google-chrome")
    results, _ = probe(thousand[0], tmp_path, height=1000)
    print(f"1000 rows in Chromium: sorted in {results['sort_ms']:.0f} ms")
    assert len(results["images"]) == 1000 and all(width > 0 for _, _, width, _ in results["images"])
    assert results["sort_ms"] < 1000
    hu = [100.0 + int(k[-4:]) % 97 for k in results["hu_up"]]
    assert hu == sorted(hu)
    assert len(results["filter_metal"]) == 200 and len(results["filter_failed"]) == 143


# --- the page in headless Chromium ----------------------------------------------------------------------------


def test_every_thumbnail_decodes_in_the_browser(browser):
    results, _, _, _ = browser
    images = {key: (complete, width, height) for key, complete, width, height in results["images"]}
    assert set(images) == {"case-10", "case-2", "case-5"}
    for key, (complete, width, height) in images.items():
        assert complete and 0 < width <= WIDTH_PX and height > 0, key
    assert [key for key, _ in results["placeholders"]] == ["case-3", "case-4", "case-6", "case-7", "case-8"]


def test_header_click_sorts_numerically_with_missing_values_last(browser, rows):
    results, _, _, _ = browser
    assert results["initial"] == [r.key for r in rows]
    measured = sorted((r.hu, r.key) for r in rows if r.hu is not None and np.isfinite(r.hu))
    missing = [r.key for r in rows if r.hu is None or not np.isfinite(r.hu)]
    assert results["hu_up"] == [k for _, k in measured] + missing
    assert results["hu_down"] == [k for _, k in reversed(measured)] + missing
    assert results["hu_down_state"] == "descending"
    # text columns sort naturally: case-2 before case-10
    assert results["key_up"] == ["case-2", "case-3", "case-4", "case-5", "case-6", "case-7", "case-8", "case-10"]


def test_filter_hides_rows(browser):
    results, _, _, _ = browser
    assert results["filter_metal"] == ["case-10"] and results["shown_metal"] == "1"  # a QC flag, any case
    assert results["filter_failed"] == ["case-3"]
    assert len(results["filter_none"]) == 8


def test_page_makes_no_network_request(browser, tmp_path):
    _, urls, blank, work = browser
    assert network_hosts(urls) - network_hosts(blank) == set()
    # control: the same check sees an external picture
    control = tmp_path / "external.html"
    control.write_text('<html><body><img src="http://example.com/x.png"></body></html>')
    _, seen = chromium(control.as_uri(), work)
    assert "http://example.com" in network_hosts(seen) - network_hosts(blank)


def test_screenshot_shows_the_table_and_the_pictures(page, tmp_path):
    need_tool("chromium", "chromium-browser", "google-chrome")
    shot = tmp_path / "qc.png"
    chromium(page.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1400,900")
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=float) / 255
    assert image.shape[:2] == (900, 1400)
    grey = image.mean(axis=2)
    print(f"screenshot: {(grey < 0.5).mean():.1%} dark pixels")
    assert 0.02 < (grey < 0.5).mean() < 0.6  # text and the dark CT pictures, not a blank page
    yellow = (image[..., 0] > 0.95) & (image[..., 1] > 0.9) & (image[..., 2] < 0.85)
    assert yellow.mean() > 0.005  # the research notice


def test_a_long_reason_in_place_of_a_picture_starts_in_view(tmp_path):
    """The real abdominal MR given as a CT: its placeholder repeats the 200-character reason, which was centred in a
    box too small for it and cut at both ends ("...does not look like a CT in", its first words hidden, the rest
    out of reach); the text now starts at the top of the box and scrolls."""
    need_tool("chromium", "chromium-browser", "google-chrome")
    reason = ("the CT series: this does not look like a CT in Hounsfield units (no air near -1000 HU and no fat below "
              "-30 HU); is it an MR image? (give spinebq ct --modality CT if it is a CT)")
    page = write_qc_page(tmp_path / "qc.html", [QcRow("s1", "failed", reason=reason), QcRow("s2", "done", hu=120.0)],
                         title="QC")
    results, _ = probe(page, tmp_path)
    assert results["placeholder_first_line"] == [["s1", True, True], ["s2", True, True]], results
