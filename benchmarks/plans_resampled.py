"""Print the automatic screw plans on the real CT's lumbar crop at 3 mm and resampled to 0.7 mm (issue 19).

The crop of tests/test_resampled_ct.py (L1-L5 and S1), planned with TotalSegmentator v2's labels (resampled as smooth
labels) and with none (the built-in segmentation); the CT resampled by cubic B-spline, and with none on that CT saved as
a whole-HU int16 NIfTI and read back (as thin-slice CTs come). Then each S1 tip: how far it lies outside its run's S1
label (mm, 0 inside) and its HU. About 2 min.

    python benchmarks/plans_resampled.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from spinebq.anatomy import VERSE_IDS  # noqa: E402
from spinebq.image.labelmap import LabelMap  # noqa: E402
from spinebq.image.resample import resample_labels, resample_volume  # noqa: E402
from spinebq.io.labels import load_labels  # noqa: E402
from spinebq.io.volume import load_volume, save_nifti  # noqa: E402
from spinebq.measure.ct.sampling import sample_values  # noqa: E402
from spinebq.pipeline import CtOptions, analyse_ct  # noqa: E402
from tests.test_resampled_ct import BOX  # noqa: E402

LEVELS = ("L1", "L2", "L3", "L4", "L5", "S1")


def _plan(screw) -> str:
    if not screw.measured:
        return f"no plan ({screw.reason})"
    warnings = f", {', '.join(screw.warnings)}" if screw.warnings else ""
    return (f"{screw.diameter_mm:g}x{screw.length_mm:.0f} {screw.medial_angle_deg:.0f} deg, "
            f"bone {screw.inside_bone_fraction:.2f}{warnings}")


def main(tmp: str) -> None:
    ct = load_volume(TS / "ct.nii.gz")
    labels = load_labels(TS / "seg_v2" / "total.nii.gz", ct)
    ct, labels = ct.crop(BOX), LabelMap.of(labels.crop(BOX), content=labels.content)
    fine_ct = resample_volume(ct, 0.7, order=3)
    runs = {"TotalSegmentator v2, 3 mm": (ct, labels), "TotalSegmentator v2, 0.7 mm": (fine_ct, resample_labels(labels, 0.7)),
            "no labels, 3 mm": (ct, None), "no labels, 0.7 mm": (fine_ct, None),
            "no labels, 0.7 mm int16 file": (load_volume(save_nifti(fine_ct, Path(tmp) / "ct.nii.gz", dtype=np.int16)), None)}
    records = {}
    for name, (image, label_map) in runs.items():
        start = time.perf_counter()
        records[name] = analyse_ct(image, label_map, CtOptions(threads=1))
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print("| level | labels, grid | left (diameter x length, medial, inside bone) | right |")
    print("|---|---|---|---|")
    for level in LEVELS:
        for name, record in records.items():
            screws = record.level(level).trajectories
            print(f"| {level} | {name} | {_plan(screws['left'])} | {_plan(screws['right'])} |")
    print()
    print("| labels, grid | S1 tip left: outside the S1 label mm, HU | right |")
    print("|---|---|---|")
    for name, record in records.items():
        images = record.images
        spacing = np.linalg.norm(images.ct.affine[:3, :3], axis=0)
        outside_mm = ndimage.distance_transform_edt(images.labels.array != VERSE_IDS["S1"], sampling=spacing)
        cells = []
        for side in ("left", "right"):
            tip = np.asarray(record.level("S1").trajectories[side].target_mm)[None, :]
            cells.append(f"{sample_values(outside_mm, images.ct.affine, tip)[0]:.1f}, "
                         f"{sample_values(images.ct.array, images.ct.affine, tip)[0]:.0f} HU")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        main(folder)
