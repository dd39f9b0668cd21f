"""How much the automatic MRI body Dice depends on each constant of the method (issue 5).

Run from the repository root: ``python benchmarks/mri_auto_sensitivity.py`` (reads ../shared/data/lumbar_mri_t1;
about 3 minutes on 2 cores). Every constant of :mod:`spinebq.segment.mri` that shapes the bodies was set on the
same four exams the Dice is measured on (there is no held-out exam), so this prints, for each constant
moved by -25 % and +25 % (one at a time), the Dice of L1-L4 over the four exams: mean, minimum and the
number of the 16 levels at 0.85 or more (the issue's target), as a Markdown table (copied into
benchmarks/mri.md). ``bright_front`` is moved by 25 % of its excess over the marrow signal (1.3 -> 1.225,
1.375).
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.io.volume import load_volume
from spinebq.segment import mri as auto
from spinebq.io.mr_labels import load_mr_labels

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lumbar_mri_t1"
CASES = ("02", "06", "08", "10")
#: (function of spinebq.segment.mri, keyword, value in use, meaning)
CONSTANTS = [
    ("_body_box", "edge_sigma_px", 2.0, "smoothing of the edge derivative, mid-sagittal (0.5 mm px)"),
    ("_body_box", "dark_line", 0.15, "front wall: dark line prominence x marrow"),
    ("_limit_depths", "tolerance_mm", 4.0, "body depth outside the neighbours' by more than this"),
    ("_extend_3d", "t_frac", 0.7, "marrow: above this x the body signal"),
    ("_extend_3d", "min_area_frac", 0.45, "marrow area below this x the mid area ends the body"),
    ("_extend_3d", "edge_sigma_mm", 0.7, "smoothing of the wall edges, side slices"),
    ("_extend_3d", "wall_step_mm", 1.0, "a wall moves at most this per slice"),
    ("_extend_3d", "wall_smooth_mm", 5.0, "wall positions median-smoothed over this"),
    ("_extend_3d", "weak_front", 0.5, "front edge below this x its first strength fades"),
    ("_extend_3d", "retreat_mm_per_mm", 2.0, "a fading front wall moves back this per slice"),
    ("_extend_3d", "fill_frac", 0.6, "inside the walls, darker than this x marrow is not body"),
    ("_extend_3d", "bright_front", 1.3, "brighter than this x marrow at the front wall is not body"),
    ("_extend_3d", "half_width_mm", 21.0, "half a body width where no lateral cortex is seen"),
    ("_extend_3d", "max_half_width_mm", 30.0, "farthest reach from the mid-sagittal slice"),
    ("_extend_3d", "edge_min_mm", 12.0, "lateral cortex at least this far from the mid slice"),
    ("_extend_3d", "edge_dip", 0.14, "lateral cortex: signal dip x the body signal"),
]


def dice_l1_l4(exams) -> np.ndarray:
    """Dice of L1-L4 of every exam with the module's current functions (16 values)."""
    values = []
    for image, manual in exams:
        found = auto.detect_vertebrae(image)[0].array
        for level in ("L1", "L2", "L3", "L4"):
            a, b = found == VERSE_IDS[level], manual == VERSE_IDS[level]
            values.append(2 * (a & b).sum() / max(int(a.sum() + b.sum()), 1))
    return np.array(values)


def summary(values: np.ndarray) -> str:
    return f"{values.mean():.3f} / {values.min():.3f} / {(values >= 0.85).sum()}"


def main() -> None:
    warnings.simplefilter("ignore")
    exams = []
    for case in CASES:
        image = load_volume(DATA / f"case{case}_t1.nii.gz")
        exams.append((image, load_mr_labels(DATA / f"case{case}_bodies_verse.nii.gz", image).array))
    print(f"As used: mean / min / levels >= 0.85 = {summary(dice_l1_l4(exams))}\n")
    print("| constant | meaning | value | -25 % | +25 % |\n|---|---|---|---|---|")
    for function, keyword, value, meaning in CONSTANTS:
        original = getattr(auto, function)
        cells = []
        for factor in (0.75, 1.25):
            moved = 1.0 + (value - 1.0) * factor if keyword == "bright_front" else value * factor
            setattr(auto, function, functools.partial(original, **{keyword: moved}))
            try:
                cells.append(f"{moved:g}: {summary(dice_l1_l4(exams))}")
            finally:
                setattr(auto, function, original)
        print(f"| `{function}` `{keyword}` | {meaning} | {value:g} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
