"""Print the per-screw errors of the post-operative CT tests (issue 19): screws, rods and cross-links burnt into the
real TotalSegmentator example CT along the automatic pedicle plans, then found again with ``find_implants``.

    python benchmarks/postop_screws.py

The same on the lumbar crop interpolated to a 1 mm grid (trilinear CT, nearest labels; the metal burnt on the 1 mm
grid): a check of the thin-slice path, not of thin-slice image quality.
"""
from __future__ import annotations

import sys
import dataclasses
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
sys.path.insert(0, str(REPO))

from spinebq.measure.ct.implants.screws import find_implants  # noqa: E402
from tests.test_postop import (_pieces_at, _unit, axis_error_deg, construct_case, lumbar_spine, rods,  # noqa: E402
                               touching_case)


def on_finer_grid(lumbar, factor: int):
    """The lumbar crop interpolated ``factor`` times finer (voxel centres placed inside the coarse voxels)."""
    ct, labels, frames = lumbar
    affine = ct.affine.copy()
    affine[:3, :3] = ct.affine[:3, :3] / factor
    affine[:3, 3] = ct.affine[:3, 3] - (factor - 1) / (2 * factor) * (ct.affine[:3, :3] @ np.ones(3))
    fine_ct = dataclasses.replace(ct, array=ndimage.zoom(ct.array, factor, order=1).astype(np.float32), affine=affine)
    fine_labels = dataclasses.replace(labels, array=ndimage.zoom(labels.array, factor, order=0), affine=affine.copy())
    return fine_ct, fine_labels, frames


def main() -> None:
    coarse = lumbar_spine(TS)
    for grid, lumbar in (("3 mm", coarse), ("1 mm", on_finer_grid(coarse, 3))):
        print(f"\n{grid} grid {lumbar[0].shape}")
        table(lumbar)


def table(lumbar) -> None:
    _, labels, frames = lumbar
    print("| case | screw | axis error (deg) | entry error (mm) | tip error (mm) | diameter found / true (mm) | head / tip |")
    print("|---|---|---|---|---|---|---|")
    cases = {"tips touching": touching_case, "rods + cross-link + tulips": construct_case}
    others, rows = [], []
    for name, make in cases.items():
        screws, post = make(lumbar)
        start = time.perf_counter()
        found = find_implants(post, labels, frames)
        seconds = time.perf_counter() - start
        for (level, side), (entry, tip, diameter) in screws.items():
            match = [f for f in found.screws if (f.screw.level, f.screw.side) == (level, side)]
            if len(match) != 1:
                print(f"| {name} | {level} {side} | found {len(match)} times | | | | |")
                continue
            f = match[0]
            print(f"| {name} | {level} {side} | {axis_error_deg(f.screw, entry, tip):.2f} | "
                  f"{np.linalg.norm(f.screw.entry_mm - entry):.2f} | {np.linalg.norm(f.screw.target_mm - tip):.2f} | "
                  f"{f.screw.diameter_mm:.2f} / {diameter:g} | {'joined' if f.head_joined else 'free'} / "
                  f"{'joined' if f.tip_joined else 'free'} |")
        for rod in found.rods:
            side = rod.screws[0].split()[1]
            levels = [name.split()[0] for name in rod.screws]
            heads = [screws[(level, side)][0] for level in levels]
            bars = rods(screws, levels)
            truth = []
            for head in heads[1:-1]:
                above, below = _pieces_at(bars, head)
                truth.append(np.degrees(np.arccos(np.clip(_unit(above[1] - above[0]) @ _unit(below[1] - below[0]), -1, 1))))
            vertex = max(min(np.linalg.norm(v - h) for v in rod.path_mm) for h in heads)
            rows.append(f"| {name} | rod {', '.join(rod.screws)} | " + ", ".join(
                f"{at} {angle:.1f} / {true:.1f}" for (at, angle), true in zip(rod.bends, truth))
                + f" | {vertex:.2f} | {rod.length_mm:.1f} |")
        extra = [f"{f.screw.level} {f.screw.side}" for f in found.screws if (f.screw.level, f.screw.side) not in screws]
        others.append(f"{name}: {len(found.screws)} screws found (extra: {extra or 'none'}), {len(found.rods)} rod pieces "
                      f"{[list(r.screws) for r in found.rods]}, {len(found.cross_links)} cross-links "
                      f"{[list(r.screws) for r in found.cross_links]}, other metal {[f'{o.kind} {o.screw}' for o in found.other]}; "
                      f"find_implants {seconds:.2f} s")
    for line in others:
        print(line)
    print("\n| case | rod | bend found / true (deg) | largest path vertex error (mm) | length along path (mm) |")
    print("|---|---|---|---|---|")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
