"""Paraspinal muscle fat (multifidus, erector spinae) per disc level from a sagittal T1, and the Goutallier grade.

Limitation, stated in every output: Goutallier is defined on AXIAL images at each disc level
(paper 001, METHODS.md 5.3). From a sagittal series the muscles are sampled on the parasagittal
slices beside the spinous processes, over +-``half_height_mm`` around each disc, which approximates
but does not reproduce an axial reading; a sagittal slab narrower than the muscles sees only part of them.

Rule (METHODS.md 5.3, midpoint threshold on T1):

* ROI per side: multifidus slices 6-18 mm from the midline (erector spinae 22-40 mm when the slab
  reaches), from 26 mm behind the vertebral body's posterior wall back to the subcutaneous fat,
  over the disc level; bone labelled in the vertebra map is left out;
* SI_fat = median of the subcutaneous fat just behind the ROI; SI_muscle = median of the pooled ROI
  voxels below their Otsu threshold (the lean-muscle mode);
* a voxel is fat when its signal exceeds (SI_muscle + SI_fat) / 2; FF = fat voxels / ROI voxels;
* Goutallier grade from FF: < 5 % -> 0, 5-< 33 % -> 1, 33-< 45 % -> 2, 45-55 % -> 3, > 55 % -> 4;
  the level's grade is the worse side (paper 001).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS

DISC_LEVELS = (("L1", "L2"), ("L2", "L3"), ("L3", "L4"), ("L4", "L5"), ("L5", "S1"))
LIMITATION = ("sagittal approximation: Goutallier is defined on axial images at each disc level; "
              "the parasagittal slices beside the spinous processes are sampled instead")


def goutallier_grade(fat_fraction: float) -> int | None:
    """Goutallier grade 0-4 of a fat fraction (METHODS.md 5.3 default mapping).

    Examples
    --------
    >>> [goutallier_grade(f) for f in (0.02, 0.2, 0.4, 0.5, 0.7)]
    [0, 1, 2, 3, 4]
    """
    if fat_fraction is None or not np.isfinite(fat_fraction):
        return None
    if fat_fraction < 0.05:
        return 0
    if fat_fraction < 0.33:
        return 1
    if fat_fraction < 0.45:
        return 2
    if fat_fraction <= 0.55:
        return 3
    return 4


def _otsu(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(values)) if values.size > 1 and values.min() < values.max() else float(values.mean())


def measure_paraspinal(image: np.ndarray, labels, geometry: dict, csf_mask: np.ndarray | None,
                       spacing_mm: tuple[float, float, float], *, half_height_mm: float = 10.0,
                       offset_mm: float = 26.0) -> tuple[dict, dict, dict]:
    """Fat fraction and Goutallier grade of the paraspinal muscles at each disc level L1/L2-L5/S1.

    Parameters
    ----------
    image : numpy.ndarray
        The T1 array (canonical axes).
    labels : Volume
        VerSe vertebra labels (bone is left out of the muscle ROIs).
    geometry : dict
        Per level body geometry from :func:`spinebq.mri.rois.body_roi_mask` (``slice``, ``rows``, ``posterior``).
    csf_mask : numpy.ndarray or None
        CSF ROI, whose slice marks the midline.
    spacing_mm : tuple of float
        Voxel size.

    Returns
    -------
    muscle : dict
        Disc level ("L4/L5") -> ``fat_fraction_left``, ``fat_fraction_right``, ``goutallier``, voxel counts.
    info : dict
        Method, thresholds (``signal_fat``, ``signal_muscle``, ``threshold``) and the limitation.
    rois : dict
        ``muscle_left_L4/L5`` ... boolean masks.
    """
    sx, sy, sz = spacing_mm
    nx, ny, nz = image.shape
    body_slices = [g["slice"] for lv, g in geometry.items() if lv in ("L1", "L2", "L3", "L4", "L5") and "slice" in g]
    if body_slices:
        x_mid = int(np.round(np.median(body_slices)))
    elif csf_mask is not None and csf_mask.any():
        x_mid = int(np.round(np.median(np.nonzero(csf_mask)[0])))
    else:
        return {}, {"reason": "no midline (no lumbar body and no CSF ROI)", "limitation": LIMITATION}, {}
    bone = labels.array > 0
    boxes = {}
    for upper, lower in DISC_LEVELS:
        if upper not in geometry or lower not in geometry or "rows" not in geometry[upper] or "rows" not in geometry[lower]:
            continue
        z_disc = 0.5 * (geometry[upper]["rows"][0] + geometry[lower]["rows"][1])
        wall = 0.5 * (geometry[upper]["posterior"] + geometry[lower]["posterior"])
        z0, z1 = int(round(z_disc - half_height_mm / sz)), int(round(z_disc + half_height_mm / sz)) + 1
        y0 = int(round(wall + offset_mm / sy)) + 1
        for side, sgn in (("left", 1), ("right", -1)):
            xs = [x_mid + sgn * int(round(d / sx)) for d in np.arange(6.0, 18.0 + 1e-6, sx)]
            xs += [x_mid + sgn * int(round(d / sx)) for d in np.arange(22.0, 40.0 + 1e-6, sx)]
            xs = sorted({x for x in xs if 0 <= x < nx})
            if not xs or z0 < 0 or z1 > nz or y0 >= ny:
                continue
            boxes[(f"{upper}/{lower}", side)] = (xs, y0, z0, z1)
    if not boxes:
        return {}, {"reason": "no disc level with both neighbouring vertebrae", "limitation": LIMITATION}, {}
    # posterior limit: where the z- and x-averaged profile reaches the subcutaneous fat
    fat_ref = float(np.percentile(image[:, :, :], 99.0))
    rois, fat_samples = {}, []
    for (disc, side), (xs, y0, z0, z1) in boxes.items():
        profile = image[np.ix_(xs, range(y0, ny), range(z0, z1))].mean(axis=(0, 2))
        profile = ndimage.uniform_filter1d(profile, 3)
        above = np.nonzero(profile > 0.85 * fat_ref)[0]
        if above.size == 0:
            # no subcutaneous fat seen: take the brightest plateau
            above = np.array([int(np.argmax(profile))])
        y_fat = y0 + int(above[0])
        y_end = y_fat - int(round(3 / sy))  # keep off the fascia
        if y_end - y0 < int(round(5 / sy)):
            continue
        m = np.zeros(image.shape, bool)
        m[np.ix_(xs, range(y0, y_end), range(z0, z1))] = True
        m &= ~bone
        rois[(disc, side)] = m
        fat_samples.append(image[np.ix_(xs, range(y_fat + int(round(2 / sy)), min(ny, y_fat + int(round(8 / sy)))), range(z0, z1))].ravel())
    if not rois:
        return {}, {"reason": "paraspinal muscles not found between the spine and the subcutaneous fat", "limitation": LIMITATION}, {}
    pooled = np.concatenate([image[m] for m in rois.values()])
    split = _otsu(pooled)
    signal_muscle = float(np.median(pooled[pooled <= split]))
    signal_fat = float(np.median(np.concatenate(fat_samples))) if fat_samples else fat_ref
    threshold = 0.5 * (signal_muscle + signal_fat)
    muscle: dict = {}
    for (disc, side), m in rois.items():
        values = image[m]
        ff = float((values > threshold).mean()) if values.size else float("nan")
        entry = muscle.setdefault(disc, {"fat_fraction_left": None, "fat_fraction_right": None, "goutallier": None})
        entry[f"fat_fraction_{side}"] = round(ff, 4)
        entry[f"voxels_{side}"] = int(values.size)
        entry[f"goutallier_{side}"] = goutallier_grade(ff)
    for disc, entry in muscle.items():
        grades = [g for g in (entry.get("goutallier_left"), entry.get("goutallier_right")) if g is not None]
        entry["goutallier"] = max(grades) if grades else None
        entry["goutallier_reason"] = None if grades else "no muscle ROI"
        entry["qc"] = [LIMITATION.split(":")[0]]
    order = [f"{u}/{lo}" for u, lo in DISC_LEVELS]
    muscle = {k: muscle[k] for k in order if k in muscle}
    info = {
        "method": ("fat fraction = voxels above (SI_muscle + SI_fat)/2 in the multifidus/erector ROI; "
                   "SI_fat from subcutaneous fat, SI_muscle = lean-muscle mode (below Otsu) of the pooled ROIs; "
                   "Goutallier 0-4 from FF (<5, <33, <45, <=55, >55 %), worse side kept (paper 001)"),
        "signal_fat": round(signal_fat, 3),
        "signal_muscle": round(signal_muscle, 3),
        "threshold": round(threshold, 3),
        "midline_slice": int(x_mid),
        "plane": "sagittal",
        "limitation": LIMITATION,
    }
    out_rois = {f"muscle_{side}_{disc}": m for (disc, side), m in rois.items()}
    return muscle, info, out_rois
