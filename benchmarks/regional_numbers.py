"""Print the figures behind the README's regional section (issue 4) on the real TotalSegmentator example CT.

Automatic trajectories (L1-L5), screws inserted into the CT and found again (also through a rigidly moved
post-operative copy), heights against TotalSegmentator's spine report, contrast phase.

    python benchmarks/regional_numbers.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
sys.path.insert(0, str(REPO))

from spinebq.io.labels import load_labels  # noqa: E402
from spinebq.image.volume import Volume  # noqa: E402
from spinebq.io.volume import load_volume
from spinebq.measure.ct.levels import measure_ct  # noqa: E402
from spinebq.measure.ct.regional import RegionalOptions, measure_regional  # noqa: E402
from spinebq.measure.ct.implants.screws import find_screws  # noqa: E402
from spinebq.measure.ct.trajectory import Screw  # noqa: E402
from spinebq.pipeline import combine_ct  # noqa: E402
from tests.test_screws import KNOWN, insert_screws  # noqa: E402

LUMBAR = ("L1", "L2", "L3", "L4", "L5")


def _documents(result, regional) -> dict:
    """Level name -> its document of measurements.json (the two stages combined as analyse_ct does)."""
    vertebrae, _ = combine_ct(result, regional)
    return {v.level: v.to_json() for v in vertebrae}


def main() -> None:
    ct = load_volume(TS / "ct.nii.gz", expect_modality="CT")
    labels = load_labels(TS / "seg_v2" / "total.nii.gz", ct)
    result = measure_ct(ct, labels)
    regional = measure_regional(ct, labels, result, RegionalOptions(trajectory="auto"))
    documents = _documents(result, regional)
    print("automatic traditional trajectories (seg_v2/total.nii.gz)")
    print("| level | side | d x L (mm) | medial angle plan / pedicle axis (deg) | inside vertebra label / image bone "
          "| isthmus width (mm) | cylinder HU | rectangle HU | cortical plan inside bone |")
    print("|---|---|---|---|---|---|---|---|---|")
    for level in LUMBAR:
        for side in ("left", "right"):
            tr = documents[level]["trajectories"][side]
            ped = documents[level]["pedicles"][side]
            cbt = documents[level]["trajectories_cortical"][side]
            cortical = f"{100 * cbt['inside_bone_fraction']:.0f} %" if cbt.get("entry_mm") else "no plan"
            print(f"| {level} | {side} | {tr['diameter_mm']:g} x {tr['length_mm']:.0f} | {tr['medial_angle_deg']:.0f} / "
                  f"{ped['medial_angle_deg']:.0f} | {100 * tr['inside_vertebra_fraction']:.1f} / "
                  f"{100 * tr['inside_bone_fraction']:.1f} % | {tr['isthmus_width_mm']:.1f} | "
                  f"{tr['hu_mean']:.0f} | {tr['rectangle_2d']['hu_mean']:.0f} | {cortical} |")
    print("| level | st_hu | b_hu | hu_ratio | region A | region B left / right | Genant |")
    print("|---|---|---|---|---|---|---|")
    for level in LUMBAR:
        e = documents[level]
        b = e["regions"]["B"]
        print(f"| {level} | {e['st_hu']:.1f} | {e['b_hu']:.1f} | {e['hu_ratio']:.3f} | {e['regions']['A']['hu_mean']:.1f} | "
              f"{b['left']['hu_mean']:.0f} / {b['right']['hu_mean']:.0f} | {e['genant_grade']} {e['deformity_type'] or ''} |")
    print("contrast:", {k: regional.summary.contrast[k] for k in ("phase", "source", "aorta_hu", "ivc_hu")})

    known = [Screw(lv, sd, np.array(a), np.array(b), d, "test") for lv, sd, a, b, d in KNOWN]
    post = insert_screws(ct, known)
    found = find_screws(post, labels, regional.images.frames)
    print("screws inserted into the real CT and found (from-screws)")
    for truth in known:
        s = next(f.screw for f in found if (f.screw.level, f.screw.side) == (truth.level, truth.side))
        angle = np.degrees(np.arccos(min(1.0, abs(float(s.direction @ truth.direction)))))
        print(f"  {truth.level} {truth.side}: axis error {angle:.2f} deg, entry error {np.linalg.norm(s.entry_mm - truth.entry_mm):.2f} mm, "
              f"tip error {np.linalg.norm(s.target_mm - truth.target_mm):.2f} mm, diameter {s.diameter_mm:.2f} (true {truth.diameter_mm})")
    angle = np.radians(4.0)
    moved = np.eye(4)
    moved[:3, :3] = [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    moved[:3, 3] = [5.0, -6.0, 4.5]
    noisy = post.array + np.random.default_rng(1).normal(0, 8.0, post.shape).astype(np.float32)
    pre = measure_ct(ct, labels)
    pre_regional = measure_regional(ct, labels, pre, RegionalOptions(trajectory="from-screws",
                                                                     postop=Volume(noisy, moved @ post.affine)))
    registration = pre_regional.method["registration"]
    print("  post-operative copy rotated 4 deg about the x axis and shifted 9.0 mm, registered back:",
          registration["rotation_deg"], "deg,", registration["centre_shift_mm"], "mm shift of the image centre")
    pre_documents = _documents(pre, pre_regional)
    for truth in known:
        tr = pre_documents[truth.level]["trajectories"][truth.side]
        entry, target = np.array(tr["entry_mm"]), np.array(tr["target_mm"])
        d = (target - entry) / np.linalg.norm(target - entry)
        print(f"  {truth.level} {truth.side} on the pre-operative CT: axis error "
              f"{np.degrees(np.arccos(min(1.0, abs(float(d @ truth.direction))))):.2f} deg, entry error "
              f"{np.linalg.norm(entry - truth.entry_mm):.2f} mm, ST-HU {tr['hu_mean']:.0f}")

    report = json.loads((TS / "seg_v2" / "spine_report.json").read_text())["results"]
    print("heights (mm), spinebq / spine report")
    for source in ("vertebrae_pp_refined.nii.gz", "total.nii.gz"):
        lab = load_labels(TS / "seg_v2" / source, ct)
        r = measure_ct(ct, lab)
        r_documents = _documents(r, measure_regional(ct, lab, r, RegionalOptions(trajectory="none")))
        for level in LUMBAR:
            h = r_documents[level]["heights_mm"]
            pairs = [f"{h[k]:.1f}/{report[f'vertebrae_{level}_height_{k}_mm']}" for k in ("anterior", "middle", "posterior")]
            print(f"  {source} {level}: " + "  ".join(pairs) + f"  Genant {r_documents[level]['genant_grade']}")


if __name__ == "__main__":
    main()
