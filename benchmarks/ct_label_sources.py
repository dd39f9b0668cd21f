"""The real CT measured with every label source, and resampled to 0.7 mm (issue 19): a table per level.

Prints, for L1-L5, ``hu_3d``, the anterior/middle/posterior heights, the Genant grade and the traditional screws
(diameter x length, medial angle, fraction inside the bone the image shows; left/right) with no labels (built-in segmentation), the built-in labels written by
``spinebq segment`` and fed back with ``--labels``, TotalSegmentator v2 and v1; then TotalSegmentator v2 on the CT
and on the CT resampled to 0.7 mm (lumbar crop), with the contrast phase and vessel HU of each. The resampled CT is
interpolated by cubic B-spline or trilinearly, the labels as smoothed indicators (each label's indicator
interpolated trilinearly and kept where it reaches 0.5) or by nearest voxel; ``--resampled-only`` skips the label
sources. Last, with no labels (the built-in segmentation), the lumbar crop and the whole CT at 3 mm and at 0.7 mm
(cubic), and the built-in bodies of the 3 mm crop and of the 0.7 mm crop read on the 0.7 mm CT.

    python benchmarks/ct_label_sources.py [--resampled-only]
"""
from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

from spinebq.cli import main as cli_main
from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import load_labels
from spinebq.io.volume import load_volume
from spinebq.anatomy import VERSE_IDS
from spinebq.measure.ct.levels import measure_ct
from spinebq.measure.ct.presets import get_preset
from spinebq.image.resample import resample_labels, resample_volume
from spinebq.measure.ct.trabecular import roi_statistics, trabecular_weights
from spinebq.pipeline import CtOptions, analyse_ct
from spinebq.segment.ct.core import segment_ct
from spinebq.vocabulary import LabelContent

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
LUMBAR = ("L1", "L2", "L3", "L4", "L5")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _row(record, level: str) -> str:
    v = record.level(level)
    h = v.heights
    heights = "/".join(_fmt(x) for x in (h.anterior_mm, h.middle_mm, h.posterior_mm)) if h else "n/a"
    screws = []
    for side in ("left", "right"):
        tr = v.trajectories.get(side)
        screws.append(f"{tr.diameter_mm:g}x{tr.length_mm:.0f} {tr.medial_angle_deg:.0f} deg, bone "
                      f"{tr.inside_bone_fraction:.2f}" if tr is not None and tr.measured else "-")
    flags = ",".join(q for q in v.qc if q in ("labels_implausible", "level_unconfirmed"))
    grade = "not graded" if v.genant_grade is None else v.genant_grade
    return f"{_fmt(v.hu)} | {heights} | {grade} | {' / '.join(screws)}{' ' + flags if flags else ''}"


#: The lumbar crop (x, y, z voxels of the 3 mm CT): L1-L5 with the aorta and IVC in front of them.
LUMBAR_BOX = (slice(25, 95), slice(20, 101), slice(0, None))
#: How the resampled grids are made: (CT spline order, labels smoothed).
RESAMPLINGS = {"cubic CT, smooth labels": (3, True), "trilinear CT, smooth labels": (1, True), "nearest CT, smooth labels": (0, True),
               "cubic CT, nearest labels": (3, False), "trilinear CT, nearest labels": (1, False)}


def _row_short(record, level: str) -> str:
    return " | ".join(_row(record, level).split(" | ")[:3])


def resampled_table(spacing_mm: float = 0.7) -> None:
    """Print hu_3d, heights and Genant grade of L1-L5 on the 3 mm crop and on each resampling, and the contrast."""
    ct = load_volume(TS / "ct.nii.gz")
    labels = load_labels(TS / "seg_v2" / "total.nii.gz", ct)
    ct, labels = ct.crop(LUMBAR_BOX), LabelMap.of(labels.crop(LUMBAR_BOX), content=labels.content)
    options = CtOptions(threads=1, trajectory="none")
    measured = {"3 mm": analyse_ct(ct, labels, options)}
    for name, (order, smooth) in RESAMPLINGS.items():
        grid = (resample_volume(ct, spacing_mm, order=order), resample_labels(labels, spacing_mm, smooth=smooth))
        measured[f"{spacing_mm:g} mm, {name}"] = analyse_ct(*grid, options)
    print("| level | grid | hu_3d | heights a/m/p mm | Genant |")
    print("|---|---|---|---|---|")
    for level in LUMBAR:
        for name, record in measured.items():
            print(f"| {level} | {name} | {_row_short(record, level)} |")
    reference = measured["3 mm"]
    for name, record in measured.items():
        contrast = record.summary.regional.contrast
        if name != "3 mm":
            hu = max(abs(record.level(lv).hu - reference.level(lv).hu) for lv in LUMBAR)
            heights = max(abs(getattr(record.level(lv).heights, k) - getattr(reference.level(lv).heights, k))
                          for lv in LUMBAR for k in ("anterior_mm", "middle_mm", "posterior_mm"))
            print(f"{name}: largest difference from 3 mm: hu_3d {hu:.1f} HU, height {heights:.1f} mm")
        print(f"contrast, {name}: {contrast['phase']} (aorta {_fmt(contrast.get('aorta_hu'))} HU, "
              f"IVC {_fmt(contrast.get('ivc_hu'))} HU)")


def interpolation_check(spacing_mm: float = 0.7) -> None:
    """The same 3D-HU ROI (the 3 mm CT's voxel weights, copied onto the fine grid voxel for voxel) read on the 3 mm
    CT and on the CT interpolated to ``spacing_mm`` by nearest voxel, cubic B-spline and trilinearly: what the
    interpolation alone does to hu_3d, with the region held fixed."""
    ct = load_volume(TS / "ct.nii.gz")
    labels = load_labels(TS / "seg_v2" / "total.nii.gz", ct)
    ct, labels = ct.crop(LUMBAR_BOX), LabelMap.of(labels.crop(LUMBAR_BOX), content=labels.content)
    result = measure_ct(ct, labels)
    images = {name: resample_volume(ct, spacing_mm, order=order).array
              for name, order in (("nearest", 0), ("cubic", 3), ("trilinear", 1))}
    print(f"| level | 3 mm ROI on the 3 mm CT | on the {spacing_mm:g} mm CT: nearest | cubic | trilinear |")
    print("|---|---|---|---|---|")
    for level in LUMBAR:
        weights = trabecular_weights(result.bodies == VERSE_IDS[level], ct.spacing_mm, get_preset("3dhu"))
        fine = resample_volume(ct.with_array(weights), spacing_mm, order=0).array
        row = [roi_statistics(ct.array, weights)["mean"]] + [roi_statistics(a, fine)["mean"] for a in images.values()]
        print(f"| {level} | " + " | ".join(_fmt(v) for v in row) + " |")


def no_labels_table(spacing_mm: float = 0.7) -> None:
    """Print hu_3d, heights and Genant grade of L1-L5 with no labels (built-in segmentation) on the lumbar crop and
    the whole CT, at 3 mm and resampled (cubic B-spline) to ``spacing_mm``; then the built-in bodies of both crops
    (the 3 mm one resampled as a smooth label) read with the 3D-HU ROI on the resampled CT, with their volumes."""
    whole = load_volume(TS / "ct.nii.gz")
    images = {"crop": whole.crop(LUMBAR_BOX), "whole CT": whole}
    options = CtOptions(threads=1, trajectory="none")
    measured = {}
    for name, ct in images.items():
        measured[f"{name}, 3 mm"] = analyse_ct(ct, None, options)
        measured[f"{name}, {spacing_mm:g} mm cubic"] = analyse_ct(resample_volume(ct, spacing_mm, order=3), None, options)
    print("| level | no labels | hu_3d | heights a/m/p mm | Genant | level confidence | flags |")
    print("|---|---|---|---|---|---|---|")
    for level in (*LUMBAR, "S1"):
        for name, record in measured.items():
            v = record.level(level)
            row = _row(record, level).split(" | ") if v is not None else ["not found"] * 4
            flags = ",".join(q for q in v.qc if q in ("labels_implausible", "level_unconfirmed")) if v else ""
            confidence = _fmt(v.details.get("level_confidence"), 2) if v else ""
            print(f"| {level} | {name} | {' | '.join(row[:3])} | {confidence} | {flags} |")
    for name, record in measured.items():
        print(f"{name}: levels {', '.join(v.level for v in record.vertebrae)}")
    coarse = images["crop"]
    fine = resample_volume(coarse, spacing_mm, order=3)
    segs = {"3 mm": segment_ct(coarse), f"{spacing_mm:g} mm": segment_ct(fine)}
    bodies = {name: np.where(seg.subregions.array == 1, seg.vertebrae.array, 0).astype(np.int16)
              for name, seg in segs.items()}
    coarse_on_fine = resample_labels(LabelMap(bodies["3 mm"], coarse.affine.copy(), {}, content=LabelContent.WHOLE),
                                     spacing_mm).array
    print()
    print(f"| level | built-in body, 3 mm crop: hu_3d on 3 mm CT | same body on the {spacing_mm:g} mm CT | "
          f"{spacing_mm:g} mm crop's own body on it | body ml 3 mm / {spacing_mm:g} mm | surface threshold HU "
          f"3 mm / {spacing_mm:g} mm |")
    print("|---|---|---|---|---|---|")
    preset = get_preset("3dhu")
    fine_ml = float(np.prod(fine.spacing_mm)) / 1000.0
    for level in LUMBAR:
        vid = VERSE_IDS[level]
        cells = [roi_statistics(coarse.array, trabecular_weights(bodies["3 mm"] == vid, coarse.spacing_mm, preset))["mean"],
                 roi_statistics(fine.array, trabecular_weights(coarse_on_fine == vid, fine.spacing_mm, preset))["mean"],
                 roi_statistics(fine.array, trabecular_weights(bodies[f"{spacing_mm:g} mm"] == vid, fine.spacing_mm,
                                                               preset))["mean"]]
        ml = [float((bodies["3 mm"] == vid).sum()) * coarse.voxel_volume_ml,
              float((bodies[f"{spacing_mm:g} mm"] == vid).sum()) * fine_ml]
        thresholds = [seg.levels.get(level, {}).get("body_surface_hu") for seg in segs.values()]
        print(f"| {level} | " + " | ".join(_fmt(c) for c in cells) + f" | {_fmt(ml[0])} / {_fmt(ml[1])} | "
              f"{_fmt(thresholds[0])} / {_fmt(thresholds[1])} |")
    for name, seg in segs.items():
        print(f"crop, {name}: discs {seg.info['discs']}, levels {', '.join(seg.levels)}; {seg.info['method']}")


def main_cli(args: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return cli_main(args)


def main() -> None:
    if "--resampled-only" in sys.argv[1:]:
        resampled_table()
        print()
        interpolation_check()
        print()
        no_labels_table()
        return
    ct_path = TS / "ct.nii.gz"
    with tempfile.TemporaryDirectory() as tmp:
        if main_cli(["segment", str(ct_path), "--out", tmp, "--no-preview"]) != 0:
            raise SystemExit("spinebq segment failed")
        sources = {"no labels": None, "built-in fed back": str(Path(tmp) / "vertebrae.nii.gz"),
                   "TotalSegmentator v2": str(TS / "seg_v2" / "total.nii.gz"), "TotalSegmentator v1": str(TS / "seg_v1")}
        records = {name: analyse_ct(str(ct_path), labels, CtOptions(threads=1)) for name, labels in sources.items()}
    print("| level | source | hu_3d | heights a/m/p mm | Genant | screws L / R (mm, medial, inside bone) |")
    print("|---|---|---|---|---|---|")
    for level in LUMBAR:
        for name, record in records.items():
            print(f"| {level} | {name} | {_row(record, level)} |")
    for name, record in records.items():
        contrast = record.summary.regional.contrast
        print(f"contrast, {name}: {contrast['phase']} (aorta {_fmt(contrast.get('aorta_hu'))} HU, "
              f"IVC {_fmt(contrast.get('ivc_hu'))} HU)")
    print()
    resampled_table()
    print()
    interpolation_check()


if __name__ == "__main__":
    main()
