"""Do the labels given for an MRI fit it? Every real T1 exam measured with every exam's labels on the same grid.

Prints, for each image and label map of ``../shared/data/lumbar_mri_t1`` (case10 has its own grid, so only its own
labels load on it): whether spinebq refused the pair (and why), else the median distance of the labelled body ROIs
from the bodies the built-in detection finds in the image (:mod:`spinebq.measure.mri.label_fit`), the verdict, the
VBQ, and the seconds the fit check takes.

    python benchmarks/mri_label_fit.py
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

from spinebq.errors import SpinebqError
from spinebq.io.mr_labels import load_mr_labels
from spinebq.io.volume import load_volume
from spinebq.measure.mri.label_fit import check_label_fit
from spinebq.measure.mri.measure import measure_mri

T1 = Path(__file__).resolve().parents[2] / "shared" / "data" / "lumbar_mri_t1"
CASES = ("02", "06", "08", "10")


def main() -> None:
    warnings.simplefilter("ignore")
    print("| image | labels | median offset mm | fits | VBQ | fit check s |")
    print("|---|---|---|---|---|---|")
    for image_case in CASES:
        image = load_volume(T1 / f"case{image_case}_t1.nii.gz")
        for labels_case in CASES:
            try:
                labels = load_mr_labels(T1 / f"case{labels_case}_bodies_verse.nii.gz", image)
                result = measure_mri(image, labels=labels, path=f"case{image_case}", measure_muscle=False)
            except SpinebqError as exc:
                print(f"| {image_case} | {labels_case} | refused: {str(exc).split(': ', 1)[-1][:90]}... | | | |")
                continue
            d = result.data
            fit = d["roi_source"]["fit"]
            rois = {k.removeprefix("body_"): v for k, v in result.rois.items() if k.startswith("body_")}
            start = time.perf_counter()
            check_label_fit(image, rois, slab_mm=3.0, erosion_mm=3.0)
            seconds = time.perf_counter() - start
            vbq = "missing" if d["vbq"] is None else f"{d['vbq']:.3f}"
            print(f"| {image_case} | {labels_case} | {fit['median_offset_mm']:.1f} | {fit['fits']} | {vbq} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
