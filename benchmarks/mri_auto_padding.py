"""Does the constant frame on the real T1 exams' faces steer the automatic vertebra finding?

Run from the repository root: ``python benchmarks/mri_auto_padding.py`` (reads ../shared/data/lumbar_mri_t1; about
60 s on 2 cores). Per exam and per padded face (:func:`spinebq.image.border.fill_border`), the face is replaced by
its inner neighbour (the image as it would be without the padding), and the image (with the manual masks) is
cropped 10 and 30 mm at the bottom (``tests.mri.conftest.lower_edge_variants``, the variants the test reads);
:func:`spinebq.segment.mri.detect_vertebrae` is run again on each; prints the levels found, the first disc along the
canal and the L1-L5 Dice against the manual masks, as a Markdown table (benchmarks/mri.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

from spinebq.anatomy import VERSE_IDS
from spinebq.io.mr_labels import load_mr_labels
from spinebq.io.volume import load_volume
from spinebq.segment.mri import detect_vertebrae

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' helpers
from tests.mri.conftest import CASES, T1_DIR, lower_edge_variants  # noqa: E402
from tests.segment.conftest import dice  # noqa: E402

LUMBAR = ("L1", "L2", "L3", "L4", "L5")


def main() -> None:
    print("| exam | padded face replaced or crop | levels found | first disc along the canal, mm | Dice " + " ".join(LUMBAR) + " |")
    print("|---|---|---|---|---|")
    for case in CASES:
        image = load_volume(T1_DIR / f"case{case}_t1.nii.gz")
        stored = {"none (as stored)": (image, load_mr_labels(T1_DIR / f"case{case}_bodies_verse.nii.gz", image).array)}
        for name, (volume, truth) in {**stored, **lower_edge_variants(case)}.items():
            found, info = detect_vertebrae(volume)
            scores = " ".join(f"{dice(found.array == VERSE_IDS[lv], truth == VERSE_IDS[lv]):.3f}" for lv in LUMBAR)
            print(f"| case{case} | {name} | {len(info['levels_found'])} ({info['levels_found'][-1]}-S1) | "
                  f"{info['discs_along_canal_mm'][0]} | {scores} |")


if __name__ == "__main__":
    main()
