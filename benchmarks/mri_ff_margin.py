"""How far the paraspinal fat fraction moves with the ROI: the margin of ``goutallier_near_cutoff``.

Run from the repository root: ``python benchmarks/mri_ff_margin.py`` (reads ../shared/data/lumbar_mri_t1; about
35 s on 2 cores). For each of the four real sagittal T1 exams the muscle fat is measured twice, on the manual body
masks and on the vertebrae the automatic mode finds, and per disc level and side prints both fat fractions and
their difference; then the median, 90th percentile and largest absolute difference between the two runs and
between the left and right side of one level (manual masks), which set
:data:`spinebq.measure.mri.muscle.NEAR_CUTOFF_MARGIN` (benchmarks/mri.md).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from spinebq.io.mr_labels import load_mr_labels
from spinebq.io.volume import load_volume
from spinebq.measure.mri.measure import measure_mri
from spinebq.measure.mri.muscle import NEAR_CUTOFF_MARGIN
from spinebq.segment.mri import detect_vertebrae

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lumbar_mri_t1"
CASES = ("02", "06", "08", "10")


def main() -> None:
    runs, sides = [], []
    print("| exam | disc | side | FF manual | FF automatic | automatic - manual |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        image = load_volume(DATA / f"case{case}_t1.nii.gz")
        labels = load_mr_labels(DATA / f"case{case}_bodies_verse.nii.gz", image)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manual = measure_mri(image, labels=labels).data["muscle"]
            automatic = measure_mri(image, labels=detect_vertebrae(image)[0]).data["muscle"]
        for disc, e in manual.items():
            for side in ("left", "right"):
                a, m = automatic.get(disc, {}).get(f"fat_fraction_{side}"), e[f"fat_fraction_{side}"]
                if a is not None and m is not None:
                    runs.append(a - m)
                print(f"| case{case} | {disc} | {side} | {m} | {a} | {None if a is None or m is None else round(a - m, 4)} |")
            sides.append(e["fat_fraction_left"] - e["fat_fraction_right"])
    for name, values in (("automatic - manual", runs), ("left - right (manual)", sides)):
        d = np.abs(values)
        print(f"\n{name}: n {d.size}, |difference| median {np.median(d):.4f}, 90th percentile "
              f"{np.percentile(d, 90):.4f}, max {d.max():.4f}, under {NEAR_CUTOFF_MARGIN:g}: {(d < NEAR_CUTOFF_MARGIN).sum()}")


if __name__ == "__main__":
    main()
