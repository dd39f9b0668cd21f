"""Does the constant frame on the real T1 exams' faces steer the automatic vertebra finding?

Run from the repository root: ``python benchmarks/mri_auto_padding.py`` (reads ../shared/data/lumbar_mri_t1; about
60 s on 2 cores). Per exam and per padded face (:func:`spinebq.image.border.fill_border`), the face is replaced by
its inner neighbour (the image as it would be without the padding), and the image (with the manual masks) is
cropped 10 and 30 mm at the bottom; :func:`spinebq.segment.mri.detect_vertebrae` is run again on each; prints the
levels found, the first disc along the canal and the L1-L5 Dice against the manual masks, as a Markdown table
(benchmarks/mri.md).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.image.border import fill_border
from spinebq.io.mr_labels import load_mr_labels
from spinebq.io.volume import load_volume
from spinebq.segment.mri import detect_vertebrae

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lumbar_mri_t1"
CASES = ("02", "06", "08", "10")
LUMBAR = ("L1", "L2", "L3", "L4", "L5")
CROPS_MM = (10.0, 30.0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * (a & b).sum() / max(1, a.sum() + b.sum())


def main() -> None:
    print("| exam | padded face replaced or crop | levels found | first disc along the canal, mm | Dice " + " ".join(LUMBAR) + " |")
    print("|---|---|---|---|---|")
    for case in CASES:
        image = load_volume(DATA / f"case{case}_t1.nii.gz")
        manual = load_mr_labels(DATA / f"case{case}_bodies_verse.nii.gz", image).array
        variants = {"none (as stored)": (image, manual)}
        for axis, side, depth, _ in fill_border(image.array).faces:
            array = np.moveaxis(image.array.copy(), axis, 0)
            if side == "first":
                array[:depth] = array[depth]
            else:
                array[-depth:] = array[-depth - 1]
            variants[f"axis {axis} {side}"] = (image.with_array(np.moveaxis(array, 0, axis)), manual)
        for crop_mm in CROPS_MM:
            box = (slice(None), slice(None), slice(int(round(crop_mm / image.spacing_mm[2])), None))  # axis 2 runs up
            variants[f"cropped {crop_mm:g} mm at the bottom"] = (image.crop(box, copy=True), manual[box])
        for name, (volume, truth) in variants.items():
            found, info = detect_vertebrae(volume)
            dice = " ".join(f"{_dice(found.array == VERSE_IDS[lv], truth == VERSE_IDS[lv]):.3f}" for lv in LUMBAR)
            print(f"| case{case} | {name} | {len(info['levels_found'])} ({info['levels_found'][-1]}-S1) | "
                  f"{info['discs_along_canal_mm'][0]} | {dice} |")


if __name__ == "__main__":
    main()
