"""How much the placement of the built-in segmentation's working blocks moves the 0.7 mm numbers (issue 19).

The lumbar crop of tests/test_resampled_ct.py is resampled by cubic B-spline to 0.7 mm and measured with no labels
(``--trajectory none``) as it is and with its first one or two 0.7 mm voxels dropped along each axis. The image is the
same; only where the 2.1 mm working blocks (three 0.7 mm voxels) fall on it changes. Prints L1-L5 hu_3d and the
anterior / middle / posterior heights of each run and the range over the runs. About 80 s.

    python benchmarks/working_block_phase.py
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
sys.path.insert(0, str(REPO / "src"))

from spinebq.image.resample import resample_volume  # noqa: E402
from spinebq.io.volume import load_volume  # noqa: E402
from spinebq.pipeline import CtOptions, analyse_ct  # noqa: E402

LUMBAR = ("L1", "L2", "L3", "L4", "L5")
#: x, y, z voxels of the 3 mm CT: the crop of tests/test_resampled_ct.py.
BOX = (slice(25, 95), slice(20, 101), slice(0, None))


def main() -> None:
    fine = resample_volume(load_volume(TS / "ct.nii.gz").crop(BOX), 0.7, order=3)
    options = CtOptions(threads=1, trajectory="none")
    runs = [("as resampled", fine)]
    for axis, name in enumerate("xyz"):
        for dropped in (1, 2):
            box = [slice(None)] * 3
            box[axis] = slice(dropped, None)
            runs.append((f"{dropped} {name} voxel(s) dropped", fine.crop(tuple(box))))
    hu = {level: [] for level in LUMBAR}
    for title, ct in runs:
        record = analyse_ct(ct, None, options)
        cells = []
        for level in LUMBAR:
            vertebra, heights = record.level(level), record.level(level).heights
            hu[level].append(vertebra.hu)
            cells.append(f"{level} {vertebra.hu:6.1f} HU {heights.anterior_mm:4.1f}/{heights.middle_mm:4.1f}/"
                         f"{heights.posterior_mm:4.1f} mm")
        print(f"{title:22s} " + " | ".join(cells), flush=True)
    print("hu_3d range over the runs: " + ", ".join(f"{level} {min(v):.1f}-{max(v):.1f}" for level, v in hu.items()))


if __name__ == "__main__":
    main()
