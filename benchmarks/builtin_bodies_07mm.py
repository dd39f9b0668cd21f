"""Where the built-in (no labels) bodies at 0.7 mm differ from those at 3 mm, and what that does to hu_3d (issue 19).

The lumbar crop of tests/test_resampled_ct.py is segmented with no labels at 3 mm and resampled by cubic B-spline to
0.7 mm. For L1-L5: hu_3d (3D-HU ROI, 3 mm peel) of the 3 mm body on the 3 mm CT, of the same body (resampled as a
smooth label) on the 0.7 mm CT, and of the 0.7 mm run's own body; then the 0.7 mm body with the smooth 3 mm body put
back in one region (the 4 mm at the body's upper or lower end of each column, the 4 mm at its back of each row, more
or less than 12 mm beside its centre); then the mean distance (mm) of the 0.7 mm body's outline outside the smooth
3 mm one, per part of the surface. About 1 min.

    python benchmarks/builtin_bodies_07mm.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from spinebq.anatomy import VERSE_IDS  # noqa: E402
from spinebq.image.labelmap import LabelMap  # noqa: E402
from spinebq.image.resample import resample_labels, resample_volume  # noqa: E402
from spinebq.io.volume import load_volume  # noqa: E402
from spinebq.measure.ct.presets import get_preset  # noqa: E402
from spinebq.measure.ct.trabecular import roi_statistics, trabecular_weights  # noqa: E402
from spinebq.segment.ct.core import segment_ct  # noqa: E402
from spinebq.vocabulary import LabelContent  # noqa: E402
from tests.test_resampled_ct import BOX, LUMBAR  # noqa: E402

#: Depth (mm) of the end and back regions.
END_MM = 4.0
#: Distance (mm) beside the body's centre beyond which the back region is "beside the canal" (the pedicle roots).
BESIDE_MM = 12.0


def _hu(ct, body) -> float:
    return roi_statistics(ct.array, trabecular_weights(body, ct.spacing_mm, get_preset("3dhu")))["mean"]


def _within_of_end(mask: np.ndarray, axis: int, depth_vox: float, last: bool) -> np.ndarray:
    """Voxels within ``depth_vox`` of the mask's last (or first) voxel along ``axis``, in every line of that axis."""
    n = mask.shape[axis]
    index = np.arange(n).reshape([-1 if a == axis else 1 for a in range(3)])
    end = np.where(mask, index, -1).max(axis=axis, keepdims=True) if last else \
        np.where(mask, index, n).min(axis=axis, keepdims=True)
    return mask & (index > end - depth_vox) if last else mask & (index < end + depth_vox)


def _outline_offsets(mine: np.ndarray, reference: np.ndarray, spacing_mm: float) -> dict[str, float]:
    """Mean signed distance (mm, + outside) of ``mine``'s outline from ``reference``'s, per part of the surface."""
    union_box = ndimage.find_objects((mine | reference).astype(np.uint8))[0]
    box = tuple(slice(max(0, b.start - 8), b.stop + 8) for b in union_box)
    mine, reference = mine[box], reference[box]
    # distances between voxel centres; an outline lies half a voxel beyond the last voxel inside, so a surface voxel of
    # ``mine`` that is also a surface voxel of ``reference`` has its outline at 0
    outside = ndimage.distance_transform_edt(~reference, sampling=spacing_mm)
    inside = ndimage.distance_transform_edt(reference, sampling=spacing_mm)
    signed = np.where(reference, spacing_mm - inside, outside)
    surface = np.argwhere(mine & ~ndimage.binary_erosion(mine))
    values = signed[tuple(surface.T)]
    rel = (surface - np.argwhere(mine).mean(axis=0)) * spacing_mm
    half_height = 0.5 * np.ptp(np.argwhere(mine)[:, 2]) * spacing_mm
    top, bottom = rel[:, 2] > half_height - 3.0, rel[:, 2] < -half_height + 3.0
    side = ~top & ~bottom
    parts = {"upper end": top, "lower end": bottom, "front": side & (rel[:, 1] < -8.0),
             "sides": side & (np.abs(rel[:, 1]) <= 8.0), "back": side & (rel[:, 1] > 8.0)}
    return {name: float(values[part].mean()) for name, part in parts.items()}


def main() -> None:
    coarse = load_volume(TS / "ct.nii.gz").crop(BOX)
    fine = resample_volume(coarse, 0.7, order=3)
    bodies = {}
    for name, ct in (("3 mm", coarse), ("0.7 mm", fine)):
        seg = segment_ct(ct)
        bodies[name] = np.where(seg.subregions.array == 1, seg.vertebrae.array, 0).astype(np.int16)
        print(f"{name}: surface thresholds " + ", ".join(f"{level} {seg.levels[level]['body_surface_hu']:.1f}"
                                                         for level in LUMBAR), file=sys.stderr)
    smooth = resample_labels(LabelMap(bodies["3 mm"], coarse.affine.copy(), {}, content=LabelContent.WHOLE), 0.7).array
    regions = ("upper end", "lower end", "back, beside", "back, middle", "upper end and back, beside")
    print("| level | 3 mm body on 3 mm CT | same body on 0.7 mm CT | 0.7 mm body | "
          + " | ".join(f"0.7 mm body, 3 mm body in: {r}" for r in regions) + " |")
    print("|---|---|---|---|" + "---|" * len(regions))
    offsets = {}
    depth = END_MM / 0.7
    for level in LUMBAR:
        vid = VERSE_IDS[level]
        mine, reference = bodies["0.7 mm"] == vid, smooth == vid
        union = mine | reference
        beside = np.abs(np.arange(union.shape[0]) - np.argwhere(union)[:, 0].mean())[:, None, None] * 0.7 > BESIDE_MM
        back = _within_of_end(union, 1, depth, last=True)
        parts = {"upper end": _within_of_end(union, 2, depth, last=True),
                 "lower end": _within_of_end(union, 2, depth, last=False),
                 "back, beside": back & beside, "back, middle": back & ~beside}
        parts["upper end and back, beside"] = parts["upper end"] | parts["back, beside"]
        cells = [_hu(coarse, bodies["3 mm"] == vid), _hu(fine, reference), _hu(fine, mine)]
        cells += [_hu(fine, np.where(parts[r], reference, mine)) for r in regions]
        print(f"| {level} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
        offsets[level] = _outline_offsets(mine, reference, 0.7)
    print()
    names = list(next(iter(offsets.values())))
    print("| level | " + " | ".join(f"0.7 mm outline outside the 3 mm one, {n} (mm)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for level, values in offsets.items():
        print(f"| {level} | " + " | ".join(f"{values[n]:+.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
