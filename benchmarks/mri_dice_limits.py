"""Where the automatic MRI body Dice is lost, and how far simple repairs could take it (issue 5).

Run from the repository root: ``python benchmarks/mri_dice_limits.py`` (reads ../shared/data/lumbar_mri_t1;
about 45 s on 2 cores). Prints a Markdown table per level (copied into benchmarks/mri.md):

* ``auto``: Dice of the automatic body against the manual mask (as in bench_mri.py);
* ``2D``: the same on the manual mask's mid-sagittal slice only;
* ``clip x``: the automatic body cut to the manual mask's left-right range (perfect lateral ends);
* ``shift x``: the automatic body moved sideways by the best whole number of slices (-10..10);
* ``man 2D x range``: the manual mask's own mid-sagittal slice repeated over its own left-right range
  (what any extrusion of a perfect mid-sagittal outline can reach);
* ``man area``: every automatic slice grown or shrunk along its own distance map to the manual mask's area on
  that slice (slices without manual body dropped; a manual slice beyond the automatic body takes the nearest
  automatic slice): a perfect area profile with the automatic shapes;
* ``taper``: the automatic body cut on every slice to an elliptical axial cross-section (24 mm half-width,
  centred on the manual mask's mid-sagittal slice, front-to-back depth of the automatic mid-sagittal outline
  per row): the rounded shape of a real body, with a perfect centre;
* ``+RW``, ``+GAC``: the automatic body refined in 3D by scikit-image's random walker (seeds: the body
  eroded 3 voxels in-plane vs. everything beyond 4 voxels of it and the other bodies; beta 50; image
  smoothed by 0.7 voxel) or by 5 iterations of its morphological geodesic active contour (balloon 0).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import segmentation

from spinebq.anatomy import VERSE_IDS
from spinebq.io.volume import load_volume
from spinebq.mri.auto import detect_vertebrae
from spinebq.mri.labels import load_mr_labels
from spinebq.mri.rois import mid_sagittal_slice

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lumbar_mri_t1"
IN_PLANE = np.ones((1, 3, 3), bool)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (0 when both are empty)."""
    return 2.0 * (a & b).sum() / max(int(a.sum() + b.sum()), 1)


def refined(image: np.ndarray, body: np.ndarray, others: np.ndarray, how: str) -> np.ndarray:
    """The body refined by random walker (``"rw"``) or geodesic active contour (``"gac"``) in a padded box."""
    box = tuple(slice(max(0, s.start - 8), s.stop + 8) for s in ndimage.find_objects(body.astype(np.uint8))[0])
    b, o = body[box], others[box]
    if how == "rw":
        markers = np.zeros(b.shape, np.int8)
        markers[~ndimage.binary_dilation(b, IN_PLANE, iterations=4) | o] = 2
        markers[ndimage.binary_erosion(b, IN_PLANE, iterations=3)] = 1
        smoothed = ndimage.gaussian_filter(image[box], 0.7)
        r = segmentation.random_walker(smoothed, markers, beta=50, mode="cg_j", tol=1e-3) == 1
    else:
        edges = segmentation.inverse_gaussian_gradient(image[box], alpha=100, sigma=1.0)
        r = segmentation.morphological_geodesic_active_contour(edges, 5, init_level_set=b, smoothing=1, balloon=0) > 0
    out = np.zeros(body.shape, bool)
    out[box] = r & ~o
    return out


def area_matched(body: np.ndarray, manual: np.ndarray) -> np.ndarray:
    """``body`` with each sagittal slice grown or shrunk along its signed distance map to ``manual``'s area there."""
    xs = np.nonzero(body.any(axis=(1, 2)))[0]
    out = np.zeros_like(body)
    for x in np.nonzero(manual.any(axis=(1, 2)))[0]:
        ref = body[xs[np.argmin(np.abs(xs - x))]]
        signed = ndimage.distance_transform_edt(~ref) - ndimage.distance_transform_edt(ref)
        out[x] = signed <= np.sort(signed, axis=None)[int(manual[x].sum()) - 1]
    return out


def tapered(body: np.ndarray, x_centre: float, half_width_vox: float = 24.0) -> np.ndarray:
    """``body`` cut to an elliptical axial cross-section around the outline on its largest slice."""
    mid = body[int(np.argmax(body.sum(axis=(1, 2))))]
    rows = np.nonzero(mid.any(axis=0))[0]
    front = np.array([np.nonzero(mid[:, z])[0].min() for z in rows])
    back = np.array([np.nonzero(mid[:, z])[0].max() for z in rows])
    centre, half = 0.5 * (front + back), 0.5 * (back - front + 1)
    y = np.arange(body.shape[1])[:, None]
    out = np.zeros_like(body)
    for x in range(body.shape[0]):
        t = abs(x - x_centre) / half_width_vox
        if t < 1:
            out[x][:, rows] = body[x][:, rows] & (np.abs(y - centre) <= half * np.sqrt(1 - t * t))
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    print("| exam | level | auto | 2D | clip x | shift x | man 2D x range | man area | taper | +RW | +GAC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    columns = []
    for case in ("02", "06", "08", "10"):
        image = load_volume(DATA / f"case{case}_t1.nii.gz")
        manual = load_mr_labels(DATA / f"case{case}_bodies_verse.nii.gz", image).array
        auto = detect_vertebrae(image)[0].array
        values = image.array.astype(float)
        for level in ("L1", "L2", "L3", "L4"):
            a, m = auto == VERSE_IDS[level], manual == VERSE_IDS[level]
            x_mid = mid_sagittal_slice(m)
            xs = np.nonzero(m.any(axis=(1, 2)))[0]
            clipped = a.copy()
            clipped[:xs[0]] = clipped[xs[-1] + 1:] = False
            extruded = np.zeros_like(m)
            extruded[xs[0]:xs[-1] + 1] = m[x_mid]
            others = (auto > 0) & ~a
            row = [dice(a, m), dice(a[x_mid], m[x_mid]), dice(clipped, m),
                   max(dice(np.roll(a, k, axis=0), m) for k in range(-10, 11)), dice(extruded, m),
                   dice(area_matched(a, m), m), dice(tapered(a, x_mid), m),
                   dice(refined(values, a, others, "rw"), m), dice(refined(values, a, others, "gac"), m)]
            columns.append(row)
            print(f"| case{case} | {level} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)
    arr = np.array(columns)
    print("| all | mean | " + " | ".join(f"{v:.3f}" for v in arr.mean(axis=0)) + " |")
    print("| all | min | " + " | ".join(f"{v:.3f}" for v in arr.min(axis=0)) + " |")


if __name__ == "__main__":
    main()
