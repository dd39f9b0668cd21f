"""What the label sources disagree on at the ends of the real CT's lumbar bodies (issue 19, heights).

For L1-L5 of the real CT (TotalSegmentator example, 3 mm), the voxels that TotalSegmentator v2's or v1's body holds
beyond the built-in body's end in the same image column (one voxel above its top or below its bottom), with the HU of
that voxel, of the built-in body's own end voxel below/above it and of the next voxel out; "more bone than disc" is
the share of those voxels above the half-level between the two. Then the built-in body's and each source's
anterior/middle/posterior heights, all read on the built-in body's frame (so only the masks differ).

    python benchmarks/body_ends.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.measure.ct.heights import body_heights
from spinebq.pipeline import CtOptions, analyse_ct

TS = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_example"
LUMBAR = ("L1", "L2", "L3", "L4", "L5")
SOURCES = {"TotalSegmentator v2": TS / "seg_v2" / "total.nii.gz", "TotalSegmentator v1": TS / "seg_v1"}


def end_voxels(hu: np.ndarray, builtin: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(HU of the voxel, of the built-in end voxel beside it, of the next voxel out) for every voxel of ``other``
    one voxel beyond the built-in body's top or bottom in its column (third axis: superior)."""
    rows = []
    for x, y in zip(*np.nonzero((other & ~builtin).any(axis=2))):
        inside = np.flatnonzero(builtin[x, y])
        if len(inside) == 0:
            continue
        for z, step in ((inside.min() - 1, -1), (inside.max() + 1, 1)):
            if other[x, y, z] and 0 <= z + step < hu.shape[2]:
                rows.append((hu[x, y, z], hu[x, y, z - step], hu[x, y, z + step]))
    return np.array(rows).reshape(-1, 3)


def main() -> None:
    ct_path = str(TS / "ct.nii.gz")
    options = CtOptions(threads=1, trajectory="none")
    builtin = analyse_ct(ct_path, None, options).images
    others = {name: analyse_ct(ct_path, str(path), options).images for name, path in SOURCES.items()}
    hu = builtin.ct.array
    print("| level | source | voxels beyond the built-in end | their HU | built-in end voxel HU | next voxel out HU "
          "| more bone than disc |")
    print("|---|---|---|---|---|---|---|")
    for level in LUMBAR:
        vid = VERSE_IDS[level]
        mine = builtin.result.bodies == vid
        for name, images in others.items():
            rows = end_voxels(hu, mine, images.result.bodies == vid)
            half = rows[:, 1:].mean(axis=1)
            print(f"| {level} | {name} | {len(rows)} | {np.median(rows[:, 0]):.0f} | {np.median(rows[:, 1]):.0f} | "
                  f"{np.median(rows[:, 2]):.0f} | {np.mean(rows[:, 0] > half):.0%} |")
    print()
    print("| level | heights a/m/p mm on the built-in frame: built-in | TotalSegmentator v2 | TotalSegmentator v1 |")
    print("|---|---|---|---|")
    for level in LUMBAR:
        vid = VERSE_IDS[level]
        frame = builtin.regional.frames[level]
        cells = []
        for images in (builtin, *others.values()):
            h = body_heights(images.result.bodies == vid, builtin.ct.affine, frame)
            cells.append(f"{h.anterior:.1f}/{h.middle:.1f}/{h.posterior:.1f}")
        print(f"| {level} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
