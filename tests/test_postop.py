"""Post-operative CT: metal screws, rods and cross-links burnt into the real CT along planned pedicle trajectories.

Touching or converging screws and screws joined by rods make one metal group; every screw must still be found on
its level and side with its axis within 3 degrees and its entry within 2 mm, and rods and cross-links reported as such.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from spinebq.io.labels import load_labels
from spinebq.image.volume import Volume
from spinebq.io.volume import load_volume
from spinebq.measure.ct.implants.screws import find_implants
from spinebq.measure.ct.levels import measure_ct
from spinebq.measure.ct.regional import RegionalOptions, measure_regional

#: Titanium-like metal, HU.
METAL_HU = 3000.0
#: The automatic traditional plans of the real CT (``spinebq ct --trajectory auto``, seg_v2 labels): level, side,
#: entry, target (LPS mm), diameter.
PLANS = {("L1", "left"): ((21.5, -79.1, 380.2), (12.3, -125.6, 396.1), 7.0),
         ("L1", "right"): ((-17.2, -83.8, 377.9), (1.2, -132.6, 395.3), 6.5),
         ("L2", "left"): ((18.4, -97.6, 345.9), (18.6, -140.7, 358.8), 7.5),
         ("L2", "right"): ((-14.9, -101.0, 348.0), (-0.9, -142.0, 360.0), 7.0),
         ("L3", "left"): ((22.3, -107.1, 315.0), (14.8, -151.1, 320.9), 7.5),
         ("L3", "right"): ((-20.2, -109.2, 316.0), (0.5, -154.4, 321.4), 7.5),
         ("L4", "left"): ((24.3, -111.8, 284.9), (16.2, -150.8, 281.0), 7.5),
         ("L4", "right"): ((-23.7, -110.8, 285.1), (-6.7, -152.0, 279.7), 7.5),
         ("L5", "left"): ((37.9, -108.9, 252.6), (9.9, -149.5, 244.0), 7.5),
         ("L5", "right"): ((-34.3, -110.9, 255.3), (-8.0, -145.5, 243.7), 7.5)}
#: The lumbar spine of the real CT (index box): T12 tip to the sacrum, with the posterior elements and the rods.
LUMBAR_BOX = (slice(38, 88), slice(40, 95), slice(36, 112))
ROD_DIAMETER_MM = 5.5
TULIP_DIAMETER_MM = 11.0


def burn_cylinders(ct: Volume, cylinders, *, hu: float = METAL_HU, supersample: int = 3, blur_mm: float = 0.7) -> Volume:
    """A copy of ``ct`` with solid metal cylinders ``(start_mm, end_mm, diameter_mm)``: partial volume from
    supersampling each voxel, then a scanner-like Gaussian blur."""
    fraction = np.zeros(ct.shape, np.float32)
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for start, end, diameter in cylinders:
        start, end = np.asarray(start, float), np.asarray(end, float)
        length = float(np.linalg.norm(end - start))
        axis = (end - start) / length
        corners = ct.mm_to_index(np.array([np.minimum(start, end) - diameter, np.maximum(start, end) + diameter]))
        lo = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, np.array(ct.shape) - 1)
        hi = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, np.array(ct.shape) - 1)
        grid = np.stack(np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi)], indexing="ij"), -1).astype(float)
        inside = np.zeros(grid.shape[:3])
        for offset in np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3):
            v = ct.index_to_mm(grid + offset) - start
            t = v @ axis
            radial = np.linalg.norm(v - t[..., None] * axis, axis=-1)
            inside += (t >= 0) & (t <= length) & (radial <= diameter / 2)
        box = tuple(slice(a, b + 1) for a, b in zip(lo, hi))
        fraction[box] = np.maximum(fraction[box], inside / supersample**3)
    if blur_mm > 0:
        fraction = ndimage.gaussian_filter(fraction, blur_mm / np.asarray(ct.spacing_mm))
    return ct.with_array((ct.array * (1 - fraction) + hu * fraction).astype(np.float32))


def touching_pair(level: str, gap_mm: float = 4.0) -> dict:
    """Both screws of ``level`` converging to one point (the middle of the planned tips), tips ``gap_mm`` apart."""
    (entry_l, tip_l, d_l), (entry_r, tip_r, d_r) = PLANS[(level, "left")], PLANS[(level, "right")]
    meet = (np.array(tip_l) + np.array(tip_r)) / 2
    shift = np.array([gap_mm / 2, 0.0, 0.0])  # LPS: +x is the patient's left
    return {(level, "left"): (np.array(entry_l), meet + shift, d_l), (level, "right"): (np.array(entry_r), meet - shift, d_r)}


def rods(screws: dict, levels: list[str], overhang_mm: float = 8.0) -> list:
    """One rod per side through the screw heads of ``levels`` (cranial to caudal), bent at each head."""
    pieces = []
    for side in ("left", "right"):
        heads = [screws[(level, side)][0] for level in levels]
        ends = list(heads)
        for k, (a, b) in ((0, (heads[0], heads[1])), (-1, (heads[-1], heads[-2]))):
            ends[k] = a + overhang_mm * (a - b) / np.linalg.norm(a - b)
        pieces += [(a, b, ROD_DIAMETER_MM) for a, b in zip(ends[:-1], ends[1:])]
    return pieces


def heads(screws: dict) -> list:
    """A tulip (11 mm wide, 10 mm long, centred on the head where the rod lies) and a set screw (8 mm wide, 4 mm
    long, behind the tulip) on each screw."""
    parts = []
    for entry, tip, _ in screws.values():
        back = (entry - tip) / np.linalg.norm(entry - tip)
        parts += [(entry - 5.0 * back, entry + 5.0 * back, TULIP_DIAMETER_MM), (entry + 5.0 * back, entry + 9.0 * back, 8.0)]
    return parts


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _pieces_at(pieces: list, head: np.ndarray) -> tuple:
    """The rod pieces ending (above) and starting (below) at a head."""
    return (next(p for p in pieces if np.allclose(p[1], head)), next(p for p in pieces if np.allclose(p[0], head)))


def axis_error_deg(found, truth_entry, truth_tip) -> float:
    d = (truth_tip - truth_entry) / np.linalg.norm(truth_tip - truth_entry)
    return float(np.degrees(np.arccos(min(1.0, abs(float(found.direction @ d))))))


def lumbar_spine(ts_dir: Path):
    """The real CT and its TotalSegmentator labels cropped to the lumbar spine, and the vertebrae's own frames."""
    whole = load_volume(ts_dir / "ct.nii.gz", expect_modality="CT")
    labels = load_labels(ts_dir / "seg_v2" / "total.nii.gz", whole).crop(LUMBAR_BOX, copy=True)
    ct = whole.crop(LUMBAR_BOX, copy=True)
    result = measure_ct(ct, labels)
    frames = measure_regional(ct, labels, result, RegionalOptions(trajectory="none")).images.frames
    return ct, labels, frames


def touching_case(lumbar) -> tuple[dict, Volume]:
    """Tips touching side by side (4 mm apart at L1, 2 mm at L3) or meeting (L2); a bar across the two L1 heads."""
    ct, _, _ = lumbar
    screws = {**touching_pair("L1"), **touching_pair("L2", gap_mm=0.0), **touching_pair("L3", gap_mm=2.0)}
    head_bar = (screws[("L1", "left")][0], screws[("L1", "right")][0], ROD_DIAMETER_MM)
    return screws, burn_cylinders(ct, list(screws.values()) + [head_bar])


def construct_case(lumbar) -> tuple[dict, Volume]:
    """L3-L5 on both sides along the plans with tulips and set screws, a rod on each side across the heads and a
    cross-link between the rods."""
    ct, _, _ = lumbar
    screws = {key: (np.array(e), np.array(t), d) for key, (e, t, d) in PLANS.items() if key[0] in ("L3", "L4", "L5")}
    bars = rods(screws, ["L3", "L4", "L5"])
    middle = [(screws[("L3", side)][0] + screws[("L4", side)][0]) / 2 for side in ("left", "right")]
    cross_link = (middle[0], middle[1], 5.0)
    return screws, burn_cylinders(ct, list(screws.values()) + heads(screws) + bars + [cross_link])


@pytest.fixture(scope="session")
def lumbar(ts_dir):
    return lumbar_spine(ts_dir)


@pytest.fixture(scope="session")
def touching(lumbar):
    screws, post = touching_case(lumbar)
    return screws, find_implants(post, lumbar[1], lumbar[2]), post


@pytest.fixture(scope="session")
def construct(lumbar):
    screws, post = construct_case(lumbar)
    return screws, find_implants(post, lumbar[1], lumbar[2]), post


def _check_screws(screws: dict, found) -> None:
    assert len(found.screws) == len(screws), [(f.screw.level, f.screw.side) for f in found.screws]
    for (level, side), (entry, tip, diameter) in screws.items():
        match = [f.screw for f in found.screws if (f.screw.level, f.screw.side) == (level, side)]
        assert len(match) == 1, (level, side, [(f.screw.level, f.screw.side) for f in found.screws])
        assert axis_error_deg(match[0], entry, tip) <= 3.0, (level, side)
        assert np.linalg.norm(match[0].entry_mm - entry) <= 2.0, (level, side)
        assert match[0].diameter_mm == pytest.approx(diameter, abs=1.5), (level, side)


def test_converging_screws_whose_tips_touch_are_found_apart(touching):
    screws, found, _ = touching
    _check_screws(screws, found)
    for f in found.screws:
        _, tip, _ = screws[(f.screw.level, f.screw.side)]
        # a tip touching the other screw's metal: where its own metal ends along its axis; else at half maximum
        assert np.linalg.norm(f.screw.target_mm - tip) <= 2.0, (f.screw.level, f.screw.side, f.tip_joined)
    assert sum(f.tip_joined for f in found.screws) >= 4
    # the bar across the L1 heads is a cross-link, not a screw
    assert len(found.cross_links) == 1 and set(found.cross_links[0].screws) >= {"L1 left", "L1 right"}


def test_screws_joined_by_rods_and_a_cross_link_are_found(touching, construct):
    screws, found, _ = construct
    _check_screws(screws, found)
    assert all(f.head_joined for f in found.screws)
    # one rod per side, bent at L4 (by 23 degrees left, 13 right): a path through its three heads
    assert sorted(rod.screws for rod in found.rods) == [("L3 left", "L4 left", "L5 left"),
                                                         ("L3 right", "L4 right", "L5 right")]
    bars = rods(screws, ["L3", "L4", "L5"])
    for rod in found.rods:
        side = rod.screws[0].split()[1]
        assert rod.diameter_mm == pytest.approx(ROD_DIAMETER_MM, abs=1.5)
        assert rod.start_mm[2] > rod.end_mm[2]  # cranial end first
        heads = [screws[(level, side)][0] for level in ("L3", "L4", "L5")]
        assert len(rod.path_mm) == 3 and all(np.linalg.norm(v - h) <= 2.0 for v, h in zip(rod.path_mm, heads))
        above, below = _pieces_at(bars, heads[1])
        truth = np.degrees(np.arccos(np.clip(_unit(above[1] - above[0]) @ _unit(below[1] - below[0]), -1, 1)))
        assert [name for name, _ in rod.bends] == [f"L4 {side}"]
        assert rod.bends[0][1] == pytest.approx(truth, abs=5.0), (side, truth)
    # what is left at the heads is named: tulip or set screw of its screw (or a rod's end past its last head)
    assert all(o.kind in ("tulip", "set_screw", "rod_end") and o.screw for o in found.other), found.other
    # the cross-link joins the two rods: it names the screws of both sides
    assert len(found.cross_links) == 1
    assert {name.split()[1] for name in found.cross_links[0].screws} == {"left", "right"}


def test_the_construct_is_measured_and_reported(lumbar, construct):
    """``--trajectory from-screws`` on the construct: each screw's corridor measured, rods and cross-links in the summary."""
    _, labels, _ = lumbar
    screws, _, post = construct
    result = measure_ct(post, labels)
    regional = measure_regional(post, labels, result, RegionalOptions(trajectory="from-screws"))
    implants = regional.summary.implants
    assert {(s["level"], s["side"]) for s in implants["screws"]} == set(screws)
    assert len(implants["rods"]) == 2 and len(implants["cross_links"]) == 1
    assert all(len(rod["path_mm"]) == 3 and rod["bends"][0]["screw"].startswith("L4") for rod in implants["rods"])
    assert all(o["kind"] != "unknown" and o["screw"] for o in implants["other_metal"])
    for level, side in screws:
        tr = regional.levels[level].trajectories[side]
        assert tr.source == "from_screws" and "metal" in tr.reason
    assert "no metal screw found" in regional.levels["L2"].trajectories["left"].reason


def test_thick_metal_is_no_screw_or_rod(ts_dir, lumbar):
    """The real CT holds a thick metal group low on the patient's left (605 voxels of ~2950 HU, 9 mm deep: a hip
    prosthesis, outside the lumbar crop): reported as thick other metal, never as screws or rods."""
    ct = load_volume(ts_dir / "ct.nii.gz", expect_modality="CT")
    labels = load_labels(ts_dir / "seg_v2" / "total.nii.gz", ct)
    found = find_implants(ct, labels, lumbar[2])
    assert not found.screws and not found.rods and not found.cross_links
    assert [o.kind for o in found.other if o.segment.metal_voxels > 100] == ["thick"]
