"""Paraspinal muscle fat (multifidus, erector spinae) per disc level from T1, and the Goutallier grade.

Goutallier is defined on AXIAL images at each disc level (paper 001, docs/methods.md section 5.3). With an axial T1
series of the same exam (:func:`measure_paraspinal_axial`) the ROIs are placed on the axial slices
through each disc, found from the sagittal series' disc positions through the two images' patient
coordinates. Without one (:func:`measure_paraspinal`), the muscles are sampled on the parasagittal
slices beside the spinous processes over +-``half_height_mm`` around each disc: an approximation,
stated in every output, since a sagittal slab narrower than the muscles sees only part of them.

Rule (docs/methods.md section 5.3, midpoint threshold on T1):

* ROI per side: 6-18 mm from the midline (multifidus) and 22-40 mm (erector spinae, where the image
  reaches), from 26 mm behind the vertebral body's posterior wall back to 3 mm before the subcutaneous
  fat (where the side's mean signal profile first exceeds 0.85 x the image's 99th percentile), over the
  disc level; bone labelled in the vertebra map is left out. The ROI is this block, not a traced
  muscle outline;
* SI_fat = median of the subcutaneous fat just behind the ROI; SI_muscle = median of the pooled ROI
  voxels below their Otsu threshold (the lean-muscle mode);
* a voxel is fat when its signal exceeds (SI_muscle + SI_fat) / 2; FF = fat voxels / ROI voxels;
* Goutallier grade from FF: < 5 % -> 0, 5-< 33 % -> 1, 33-< 45 % -> 2, 45-55 % -> 3, > 55 % -> 4;
  the level's grade is the worse side (paper 001).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from spinebq.errors import SpinebqError
from spinebq.io.volume import Volume

DISC_LEVELS = (("L1", "L2"), ("L2", "L3"), ("L3", "L4"), ("L4", "L5"), ("L5", "S1"))
DISC_NAMES = tuple(f"{upper}/{lower}" for upper, lower in DISC_LEVELS)
LIMITATION = ("sagittal approximation: Goutallier is defined on axial images at each disc level; "
              "the parasagittal slices beside the spinous processes are sampled instead")
AXIAL_LIMITATION = ("axial T1 at each disc; the ROI is a block beside the spinous process (6-18 and 22-40 mm from "
                    "the midline) from 26 mm behind the vertebral body to the subcutaneous fat, not a traced muscle outline")
#: Distances from the midline sampled on each side, mm: multifidus, then erector spinae.
COLUMNS_MM = ((6.0, 18.0), (22.0, 40.0))
#: The subcutaneous fat starts where the side's mean profile exceeds this fraction of the image's 99th percentile.
FAT_PLATEAU = 0.85
#: Distance kept from the subcutaneous fat (the fascia), mm.
FASCIA_MM = 3.0
METHOD = ("fat fraction = voxels above (SI_muscle + SI_fat)/2 in the multifidus/erector ROI; "
          "SI_fat from subcutaneous fat, SI_muscle = lean-muscle mode (below Otsu) of the pooled ROIs; "
          "Goutallier 0-4 from FF (<5, <33, <45, <=55, >55 %), worse side kept (paper 001)")


def goutallier_grade(fat_fraction: float) -> int | None:
    """Goutallier grade 0-4 of a fat fraction (docs/methods.md section 5.3 default mapping).

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


def _column_offsets(spacing_mm: float) -> list[int]:
    """Voxel offsets from the midline, on one side, of the sampled multifidus and erector columns."""
    return sorted({int(round(d / spacing_mm)) for lo, hi in COLUMNS_MM for d in np.arange(lo, hi + 1e-6, spacing_mm)})


def _back_block(image: np.ndarray, xs: list[int], y0: int, zs: list[int], fat_ref: float,
                sy: float) -> tuple[int, np.ndarray] | None:
    """Posterior end (axis-1 index, exclusive) of a side's ROI and the subcutaneous fat samples behind it.

    The side's signal profile (mean over ``xs`` and ``zs``) is followed back from ``y0`` to where it
    first exceeds ``FAT_PLATEAU * fat_ref`` (the brightest plateau when it never does); the ROI stops
    ``FASCIA_MM`` before, the fat is sampled 2-8 mm behind. None when less than 5 mm of muscle is left.
    """
    ny = image.shape[1]
    profile = ndimage.uniform_filter1d(image[np.ix_(xs, range(y0, ny), zs)].mean(axis=(0, 2)), 3)
    above = np.nonzero(profile > FAT_PLATEAU * fat_ref)[0]
    y_fat = y0 + int(above[0] if above.size else np.argmax(profile))
    y_end = y_fat - int(round(FASCIA_MM / sy))
    if y_end - y0 < int(round(5 / sy)):
        return None
    fat = image[np.ix_(xs, range(y_fat + int(round(2 / sy)), min(ny, y_fat + int(round(8 / sy)))), zs)].ravel()
    return y_end, fat


def _grade(values: dict[tuple[str, str], np.ndarray], fat_samples: list[np.ndarray], fat_ref: float,
           plane: str) -> tuple[dict, dict]:
    """Fat fraction and Goutallier grade per disc and side from the ROI values (the midpoint rule)."""
    pooled = np.concatenate(list(values.values()))
    split = _otsu(pooled)
    signal_muscle = float(np.median(pooled[pooled <= split]))
    signal_fat = float(np.median(np.concatenate(fat_samples))) if fat_samples else fat_ref
    threshold = 0.5 * (signal_muscle + signal_fat)
    muscle: dict = {}
    for (disc, side), v in values.items():
        ff = float((v > threshold).mean()) if v.size else float("nan")
        entry = muscle.setdefault(disc, {"fat_fraction_left": None, "fat_fraction_right": None, "goutallier": None})
        entry[f"fat_fraction_{side}"] = round(ff, 4)
        entry[f"voxels_{side}"] = int(v.size)
        entry[f"goutallier_{side}"] = goutallier_grade(ff)
    for entry in muscle.values():
        grades = [g for g in (entry.get("goutallier_left"), entry.get("goutallier_right")) if g is not None]
        entry["goutallier"] = max(grades) if grades else None
        entry["goutallier_reason"] = None if grades else "no muscle ROI"
        entry["plane"] = plane
        entry["qc"] = [LIMITATION.split(":")[0]] if plane == "sagittal" else []
    info = {"method": METHOD, "signal_fat": round(signal_fat, 3), "signal_muscle": round(signal_muscle, 3),
            "threshold": round(threshold, 3), "plane": plane,
            "limitation": LIMITATION if plane == "sagittal" else AXIAL_LIMITATION}
    return {k: muscle[k] for k in DISC_NAMES if k in muscle}, info


def _midline_and_discs(geometry: dict, csf_mask: np.ndarray | None) -> tuple[int | None, dict]:
    """Mid-sagittal slice and, per disc level, its height and the posterior wall (sagittal voxel indices)."""
    body_slices = [g["slice"] for lv, g in geometry.items() if lv in ("L1", "L2", "L3", "L4", "L5") and "slice" in g]
    if body_slices:
        x_mid = int(np.round(np.median(body_slices)))
    elif csf_mask is not None and csf_mask.any():
        x_mid = int(np.round(np.median(np.nonzero(csf_mask)[0])))
    else:
        x_mid = None
    discs = {}
    for upper, lower in DISC_LEVELS:
        if "rows" in geometry.get(upper, {}) and "rows" in geometry.get(lower, {}):
            discs[f"{upper}/{lower}"] = (0.5 * (geometry[upper]["rows"][0] + geometry[lower]["rows"][1]),
                                         0.5 * (geometry[upper]["posterior"] + geometry[lower]["posterior"]))
    return x_mid, discs


def measure_paraspinal(image: np.ndarray, labels: Volume, geometry: dict, csf_mask: np.ndarray | None,
                       spacing_mm: tuple[float, float, float], *, half_height_mm: float = 10.0,
                       offset_mm: float = 26.0) -> tuple[dict, dict, dict]:
    """Fat fraction and Goutallier grade of the paraspinal muscles at each disc level L1/L2-L5/S1 (sagittal T1).

    Parameters
    ----------
    image : numpy.ndarray
        The T1 array (canonical axes).
    labels : Volume
        VerSe vertebra labels (bone is left out of the muscle ROIs).
    geometry : dict
        Per level body geometry from :func:`spinebq.measure.mri.rois.body_roi_mask` (``slice``, ``rows``, ``posterior``).
    csf_mask : numpy.ndarray or None
        CSF ROI, whose slice marks the midline.
    spacing_mm : tuple of float
        Voxel size.
    half_height_mm, offset_mm : float
        Head-to-foot half height of the ROI around each disc, and its start behind the posterior wall.

    Returns
    -------
    muscle : dict
        Disc level ("L4/L5") -> ``fat_fraction_left``, ``fat_fraction_right``, ``goutallier``, voxel counts, ``plane``.
    info : dict
        Method, thresholds (``signal_fat``, ``signal_muscle``, ``threshold``), ``plane`` and the limitation.
    rois : dict
        ``muscle_left_L4/L5`` ... boolean masks.
    """
    sx, sy, sz = spacing_mm
    nx, ny, nz = image.shape
    x_mid, discs = _midline_and_discs(geometry, csf_mask)
    if x_mid is None:
        return {}, {"reason": "no midline (no lumbar body and no CSF ROI)", "limitation": LIMITATION}, {}
    if not discs:
        return {}, {"reason": "no disc level with both neighbouring vertebrae", "limitation": LIMITATION}, {}
    bone = labels.array > 0
    fat_ref = float(np.percentile(image, 99.0))
    rois, values, fat_samples = {}, {}, []
    for disc, (z_disc, wall) in discs.items():
        z0, z1 = int(round(z_disc - half_height_mm / sz)), int(round(z_disc + half_height_mm / sz)) + 1
        y0 = int(round(wall + offset_mm / sy)) + 1
        if z0 < 0 or z1 > nz or y0 >= ny:
            continue
        for side, sgn in (("left", 1), ("right", -1)):
            xs = [x_mid + sgn * d for d in _column_offsets(sx) if 0 <= x_mid + sgn * d < nx]
            back = _back_block(image, xs, y0, list(range(z0, z1)), fat_ref, sy) if xs else None
            if back is None:
                continue
            m = np.zeros(image.shape, bool)
            m[np.ix_(xs, range(y0, back[0]), range(z0, z1))] = True
            m &= ~bone
            rois[f"muscle_{side}_{disc}"] = m
            values[(disc, side)] = image[m]
            fat_samples.append(back[1])
    if not values:
        return {}, {"reason": "paraspinal muscles not found between the spine and the subcutaneous fat",
                    "limitation": LIMITATION}, {}
    muscle, info = _grade(values, fat_samples, fat_ref, "sagittal")
    info["midline_slice"] = int(x_mid)
    return muscle, info, rois


def measure_paraspinal_axial(axial: Volume, sagittal: Volume, labels: Volume, geometry: dict,
                             csf_mask: np.ndarray | None = None, *, half_height_mm: float = 5.0,
                             offset_mm: float = 26.0, path="axial") -> tuple[dict, dict, dict]:
    """Fat fraction and Goutallier grade of the paraspinal muscles on an axial T1 series of the same exam.

    Each disc's centre (mid-sagittal slice, halfway between the neighbouring bodies, at their posterior
    wall) is taken from the sagittal series into the axial one through the two images' patient
    coordinates; the axial slices within ``half_height_mm`` of it hold the ROIs (the same blocks and fat
    rule as the sagittal method, on the axial grid; tilted stacks are followed through their affine).

    Parameters
    ----------
    axial : Volume
        The axial T1 series (canonical LPS array: axis 2 is the slice index).
    sagittal : Volume
        The sagittal series whose ``labels`` and ``geometry`` locate the discs.
    labels : Volume
        VerSe vertebra labels on the sagittal grid (labelled bone is left out of the ROIs).
    geometry : dict
        Per level body geometry from :func:`spinebq.measure.mri.rois.body_roi_mask`.
    csf_mask : numpy.ndarray or None
        CSF ROI on the sagittal grid, whose slice marks the midline when no body does.
    half_height_mm, offset_mm : float
        Axial slices used around each disc centre, and the ROI's start behind the posterior wall.
    path : str or Path
        The axial input, named in messages.

    Returns
    -------
    muscle, info, rois
        As :func:`measure_paraspinal`; ``rois`` are masks on the axial grid; ``info["not_covered"]`` names
        the disc levels the axial series does not reach, with the reason.

    Raises
    ------
    SpinebqError
        When the axial series reaches no disc level of the sagittal one (another exam or frame of reference).
        Muscles it reaches but cannot find give an empty result with the ``reason``.
    """
    sx, sy, sz = axial.spacing_mm
    img = axial.array.astype(np.float32, copy=False)
    nx, ny, nz = img.shape
    x_mid, discs = _midline_and_discs(geometry, csf_mask)
    if x_mid is None or not discs:
        return {}, {"reason": "no disc level located on the sagittal series", "limitation": AXIAL_LIMITATION}, {}
    fat_ref = float(np.percentile(img, 99.0))
    rois, values, fat_samples, not_covered, slices_used = {}, {}, [], {}, {}
    for disc, (z_disc, wall) in discs.items():
        ic, jc, kc = axial.mm_to_index(sagittal.index_to_mm(np.array([x_mid, wall, z_disc], float)))
        ks = [k for k in range(nz) if abs(k - kc) * sz <= half_height_mm]
        if not ks or not (0 <= ic < nx and 0 <= jc < ny):
            not_covered[disc] = f"no axial slice within {half_height_mm:g} mm of the disc centre"
            continue
        y0 = int(round(jc + offset_mm / sy)) + 1
        i0 = int(round(ic))
        for side, sgn in (("left", 1), ("right", -1)):
            xs = [i0 + sgn * d for d in _column_offsets(sx) if 0 <= i0 + sgn * d < nx]
            back = _back_block(img, xs, y0, ks, fat_ref, sy) if xs and y0 < ny else None
            if back is None:
                continue
            m = np.zeros(img.shape, bool)
            m[np.ix_(xs, range(y0, back[0]), ks)] = True
            m[m] = ~_labelled(np.argwhere(m), axial, sagittal, labels)
            rois[f"muscle_{side}_{disc}"] = m
            values[(disc, side)] = img[m]
            fat_samples.append(back[1])
        slices_used[disc] = [int(k) for k in ks]
    if len(not_covered) == len(discs):
        raise SpinebqError(
            f"{path}: the axial series reaches no disc level of the sagittal series ("
            + "; ".join(f"{d}: {r}" for d, r in not_covered.items())
            + "); both must be of the same exam, in one frame of reference"
        )
    if not values:
        return {}, {"reason": "paraspinal muscles not found between the spine and the subcutaneous fat on the axial "
                              "series", "limitation": AXIAL_LIMITATION, "not_covered": not_covered}, {}
    muscle, info = _grade(values, fat_samples, fat_ref, "axial")
    for disc, ks in slices_used.items():
        if disc in muscle:
            muscle[disc]["axial_slices"] = ks
    info["not_covered"] = not_covered
    return muscle, info, rois


def combine_planes(sagittal: tuple[dict, dict, dict], axial: tuple[dict, dict, dict]) -> tuple[dict, dict, dict, dict]:
    """Each disc level from the axial series where it was measured there, from the sagittal one otherwise.

    Parameters
    ----------
    sagittal, axial : tuple
        ``(muscle, info, rois)`` of :func:`measure_paraspinal` and :func:`measure_paraspinal_axial`.

    Returns
    -------
    muscle, info : dict
        The levels (each names its ``plane``) and the method; ``info["sagittal_levels"]`` and
        ``info["sagittal_method"]`` describe the levels the axial series did not reach.
    sagittal_rois, axial_rois : dict
        The ROIs of the levels taken from each series.
    """
    (sag_muscle, sag_info, sag_rois), (ax_muscle, ax_info, ax_rois) = sagittal, axial
    if not ax_muscle:
        return sag_muscle, {**sag_info, "axial_reason": ax_info["reason"]}, sag_rois, {}
    sagittal_only = [d for d in sag_muscle if d not in ax_muscle]
    muscle = {d: ax_muscle.get(d) or sag_muscle[d] for d in DISC_NAMES if d in ax_muscle or d in sag_muscle}
    info = {**ax_info, "sagittal_levels": sagittal_only, "sagittal_method": sag_info if sagittal_only else None}
    if sagittal_only:
        info["plane"] = "axial and sagittal"
        info["limitation"] += f"; {', '.join(sagittal_only)}: {LIMITATION}"
    kept = {k: m for k, m in sag_rois.items() if k.rsplit("_", 1)[1] in sagittal_only}
    return muscle, info, kept, ax_rois


def _labelled(ijk: np.ndarray, axial: Volume, sagittal: Volume, labels: Volume) -> np.ndarray:
    """Which axial voxels ``ijk`` fall on a labelled vertebra of the sagittal label map (nearest voxel)."""
    idx = np.round(sagittal.mm_to_index(axial.index_to_mm(ijk.astype(float)))).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(labels.shape)), axis=1)
    out = np.zeros(len(ijk), bool)
    out[inside] = labels.array[tuple(idx[inside].T)] > 0
    return out
