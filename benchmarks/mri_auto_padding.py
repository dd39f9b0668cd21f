"""Does the constant frame on the real T1 exams' faces steer the automatic vertebra finding?

Run from the repository root: ``python benchmarks/mri_auto_padding.py`` (reads ../shared/data/lumbar_mri_t1; about
40 s on 2 cores). Per exam and per padded face (:func:`spinebq.image.border.fill_border`), the face is replaced by
its inner neighbour (the image as it would be without the padding) and :func:`spinebq.segment.mri.detect_vertebrae`
is run again; prints the levels found, the first disc along the canal and the L1-L5 Dice against the manual masks,
as a Markdown table (benchmarks/mri.md).
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


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * (a & b).sum() / max(1, a.sum() + b.sum())


def main() -> None:
    print("| exam | padded face replaced | levels found | first disc along the canal, mm | Dice " + " ".join(LUMBAR) + " |")
    print("|---|---|---|---|---|")
    for case in CASES:
        image = load_volume(DATA / f"case{case}_t1.nii.gz")
        manual = load_mr_labels(DATA / f"case{case}_bodies_verse.nii.gz", image).array
        variants = {"none (as stored)": image.array}
        for axis, side, depth, _ in fill_border(image.array).faces:
            array = np.moveaxis(image.array.copy(), axis, 0)
            if side == "first":
                array[:depth] = array[depth]
            else:
                array[-depth:] = array[-depth - 1]
            variants[f"axis {axis} {side}"] = np.moveaxis(array, 0, axis)
        for name, array in variants.items():
            found, info = detect_vertebrae(image.with_array(array))
            dice = " ".join(f"{_dice(found.array == VERSE_IDS[lv], manual == VERSE_IDS[lv]):.3f}" for lv in LUMBAR)
            print(f"| case{case} | {name} | {len(info['levels_found'])} ({info['levels_found'][-1]}-S1) | "
                  f"{info['discs_along_canal_mm'][0]} | {dice} |")


if __name__ == "__main__":
    main()
