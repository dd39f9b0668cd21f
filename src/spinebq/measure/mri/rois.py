"""Regions of interest on a sagittal T1 image: vertebral body, pedicles and CSF.

Array convention (canonical spinebq Volume): axis 0 = left-right (the sagittal slice index),
axis 1 = anterior -> posterior, axis 2 = inferior -> superior. A sagittal slice is ``array[x]``,
a 2D (posterior, superior) image. All ROIs are boolean masks on the volume's grid.

Rules (docs/methods.md section 5.1, 5.2; Wu 2025 [wu2025] section 2.2; Yang 2026 [yang2026], PBQ):

* body: on the mid-sagittal slice(s) of each level, the body mask eroded by ``erosion_mm``, minus the
  posterior ``posterior_exclusion`` fraction of its depth (basivertebral vein) and minus an
  ``endplate_margin`` fraction of its height at each endplate;
* pedicle: on the parasagittal slice through each pedicle, the pedicle eroded by about 1 mm
  (inside the cortex);
* CSF: the dark subarachnoid space directly posterior to the body, on the slice with the widest canal,
  over the central part of the body's height, eroded by 1 mm;
* every ROI signal is the mean of its voxels after excluding outliers (robust z > ``OUTLIER_Z``:
  focal lesions, nerve roots, partial volume with cortex); the excluded count is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spinebq.constants import MIN_ROI_VOXELS

#: Robust z-score (|v - median| / (1.4826 MAD)) above which a voxel is excluded from an ROI mean.
OUTLIER_Z = 3.5


@dataclass
class RoiResult:
    """One region of interest and its statistics.

    Attributes
    ----------
    mask : numpy.ndarray
        Boolean mask on the volume grid (the voxels measured, outliers included).
    signal_mean : float
        Mean signal of the kept voxels (NaN when the ROI is missing or too small).
    signal_median, signal_sd : float
        Median and standard deviation of the kept voxels.
    voxels : int
        Voxels kept in the mean.
    excluded_voxels : int
        Outlier voxels left out (robust z > :data:`OUTLIER_Z`).
    excluded_high_voxels : int
        Outliers brighter than the rest (haemangioma-like foci, fat, nerve roots on T1).
    slices : list of int
        Sagittal slice indices (array axis 0) the ROI lies on.
    reason : str or None
        Why the signal is NaN, when it is.
    """

    mask: np.ndarray
    signal_mean: float = float("nan")
    signal_median: float = float("nan")
    signal_sd: float = float("nan")
    voxels: int = 0
    excluded_voxels: int = 0
    excluded_high_voxels: int = 0
    slices: list[int] = field(default_factory=list)
    reason: str | None = None


def roi_statistics(image: np.ndarray, mask: np.ndarray, *, outlier_z: float = OUTLIER_Z,
                   min_voxels: int = MIN_ROI_VOXELS) -> RoiResult:
    """Robust mean signal of ``image`` inside ``mask``.

    Parameters
    ----------
    image : numpy.ndarray
        Signal intensities (any unit; MR signal is relative).
    mask : numpy.ndarray of bool
        The ROI, same shape as ``image``.
    outlier_z : float
        Voxels farther than this many robust standard deviations (1.4826 x MAD) from the median are excluded.
    min_voxels : int
        Fewer kept voxels give NaN with a reason.

    Returns
    -------
    RoiResult

    Examples
    --------
    >>> img = np.full((1, 10, 10), 100.0); img[0, 0, 0] = 900.0
    >>> r = roi_statistics(img, np.ones_like(img, bool))
    >>> round(r.signal_mean, 1), r.voxels, r.excluded_high_voxels
    (100.0, 99, 1)
    """
    mask = np.asarray(mask, bool)
    values = image[mask].astype(float)
    slices = sorted(int(i) for i in np.unique(np.nonzero(mask)[0])) if mask.ndim == 3 else []
    result = RoiResult(mask=mask, slices=slices)
    if values.size == 0:
        result.reason = "the ROI holds no voxel"
        return result
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    if mad > 0:
        z = (values - median) / mad
        keep = np.abs(z) <= outlier_z
    else:
        z = np.zeros_like(values)
        keep = np.ones(values.size, bool)
    kept = values[keep]
    result.excluded_voxels = int((~keep).sum())
    result.excluded_high_voxels = int(((~keep) & (z > 0)).sum())
    result.voxels = int(kept.size)
    if kept.size < min_voxels:
        result.reason = f"the ROI holds {kept.size} voxels, fewer than the {min_voxels} needed"
        return result
    result.signal_mean = float(kept.mean())
    result.signal_median = float(np.median(kept))
    result.signal_sd = float(kept.std(ddof=1)) if kept.size > 1 else 0.0
    return result


def _disk(radius_vox: float) -> np.ndarray:
    r = max(int(np.floor(radius_vox)), 0)
    yy, zz = np.mgrid[-r:r + 1, -r:r + 1]
    return (yy ** 2 + zz ** 2) <= radius_vox ** 2 + 1e-9


def erode_2d(mask2d: np.ndarray, radius_mm: float, spacing_yz_mm: tuple[float, float]) -> np.ndarray:
    """Erode a sagittal-slice mask by ``radius_mm`` with an elliptical element matching the pixel spacing."""
    if radius_mm <= 0:
        return mask2d.copy()
    ry, rz = radius_mm / spacing_yz_mm[0], radius_mm / spacing_yz_mm[1]
    ny, nz = int(np.floor(ry)), int(np.floor(rz))
    yy, zz = np.mgrid[-ny:ny + 1, -nz:nz + 1]
    element = (yy / max(ry, 1e-9)) ** 2 + (zz / max(rz, 1e-9)) ** 2 <= 1.0 + 1e-9
    return ndimage.binary_erosion(mask2d, structure=element, border_value=0)


def mid_sagittal_slice(level_mask: np.ndarray) -> int:
    """Sagittal slice (axis-0 index) through the middle of a body mask: its left-right centre of mass."""
    x = np.nonzero(level_mask.any(axis=(1, 2)))[0]
    areas = level_mask[x].sum(axis=(1, 2)).astype(float)
    return int(np.round(np.sum(x * areas) / areas.sum()))


def body_only_2d(mask2d: np.ndarray) -> np.ndarray:
    """Keep the most anterior connected part of a whole-vertebra slice mask: the body (not the posterior arch)."""
    lab, n = ndimage.label(mask2d)
    if n <= 1:
        return mask2d
    sizes = ndimage.sum(mask2d, lab, range(1, n + 1))
    big = [i + 1 for i in range(n) if sizes[i] >= 0.1 * sizes.max()]
    centres = {i: np.nonzero(lab == i)[0].mean() for i in big}
    return lab == min(centres, key=centres.get)


def body_roi_mask(level_mask: np.ndarray, spacing_mm: tuple[float, float, float], *, slab_mm: float = 3.0,
                  erosion_mm: float = 3.0, posterior_exclusion: float = 0.2, endplate_margin: float = 0.15,
                  centre_slice: int | None = None) -> tuple[np.ndarray, dict]:
    """Trabecular body ROI on the mid-sagittal slice(s) of one level.

    Parameters
    ----------
    level_mask : numpy.ndarray of bool
        The vertebra's mask (body only, or whole vertebra: the posterior arch is dropped per slice).
    spacing_mm : tuple of float
        Voxel size along the three array axes.
    slab_mm : float
        Width of the sagittal slab measured around the mid-sagittal slice (3 mm: the slice and its neighbours at 1 mm).
    erosion_mm : float
        Distance kept from the body outline (cortex).
    posterior_exclusion : float
        Fraction of the body's front-to-back depth left out at the back (basivertebral vein).
    endplate_margin : float
        Fraction of the body's height left out next to each endplate.
    centre_slice : int, optional
        Mid-sagittal slice; default :func:`mid_sagittal_slice`.

    Returns
    -------
    mask : numpy.ndarray of bool
    geometry : dict
        ``slice`` (centre), ``slices``, ``height_mm``, ``depth_mm``, ``posterior_wall`` (axis-1 index of the
        back of the body on the centre slice, per axis-2 row), ``rows`` (axis-2 range).
    """
    x0 = mid_sagittal_slice(level_mask) if centre_slice is None else int(centre_slice)
    half = int(np.floor(slab_mm / spacing_mm[0] / 2.0 + 1e-6))
    out = np.zeros(level_mask.shape, bool)
    centre2d = body_only_2d(level_mask[x0])
    geometry: dict = {"slice": x0, "slices": []}
    if not centre2d.any():
        return out, geometry
    ys, zs = np.nonzero(centre2d)
    y_ant, y_post, z_lo, z_hi = ys.min(), ys.max(), zs.min(), zs.max()
    depth, height = (y_post - y_ant + 1), (z_hi - z_lo + 1)
    geometry.update({
        "height_mm": float(height * spacing_mm[2]),
        "depth_mm": float(depth * spacing_mm[1]),
        "rows": [int(z_lo), int(z_hi)],
        "anterior": int(y_ant),
        "posterior": int(y_post),
    })
    y_cut = y_post - posterior_exclusion * depth
    z_cut_lo = z_lo + endplate_margin * height
    z_cut_hi = z_hi - endplate_margin * height
    for x in range(max(0, x0 - half), min(level_mask.shape[0], x0 + half + 1)):
        m = body_only_2d(level_mask[x])
        m = erode_2d(m, erosion_mm, (spacing_mm[1], spacing_mm[2]))
        yy, zz = np.mgrid[0:m.shape[0], 0:m.shape[1]]
        m &= (yy <= y_cut) & (zz >= z_cut_lo) & (zz <= z_cut_hi)
        if m.any():
            out[x] = m
            geometry["slices"].append(int(x))
    return out, geometry


def mid_sagittal_heights(level_mask: np.ndarray, geometry: dict, spacing_mm: tuple[float, float, float], *,
                         inset_mm: float = 3.0):
    """Anterior, middle and posterior body height on the mid-sagittal slice, in the body's own frame.

    The body's depth axis is the major principal axis of its mid-sagittal outline (in mm; lumbar bodies are deeper
    than high), so a tilted body (L5 at the lumbosacral angle) is measured across its endplates, not along the
    image rows. As on CT (:mod:`spinebq.measure.ct.heights`), the depth is taken ``inset_mm`` inside the front
    and back, and the heights are the body's extent across the depth axis in 1 mm strips at 85 %, 50 % and 15 %
    of that depth from the back.

    Returns
    -------
    spinebq.measure.ct.heights.Heights
    """
    from spinebq.measure.ct.heights import POSITIONS, Heights

    if "rows" not in geometry:
        return Heights(np.nan, np.nan, np.nan, 0, "no body on the mid-sagittal slice")
    body = body_only_2d(level_mask[geometry["slice"]])
    points = np.argwhere(body) * np.array([spacing_mm[1], spacing_mm[2]])
    if len(points) < 20:
        return Heights(np.nan, np.nan, np.nan, 0, "body too small to measure its heights")
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(centred.T))
    depth_axis = vectors[:, -1] * (1.0 if vectors[0, -1] >= 0 else -1.0)  # pointing backwards (axis 1 grows)
    u = centred @ depth_axis
    v = centred @ np.array([-depth_axis[1], depth_axis[0]])
    front, back = u.min() + inset_mm, u.max() - inset_mm
    if back <= front:
        return Heights(np.nan, np.nan, np.nan, 0, "body too shallow to measure its heights")
    heights = []
    for name in ("anterior", "middle", "posterior"):
        strip = v[np.abs(u - (back - POSITIONS[name] * (back - front))) <= 0.5]
        heights.append(float(strip.max() - strip.min() + spacing_mm[2]) if strip.size else np.nan)
    return Heights(*(round(h, 2) for h in heights), 1)


def body_endplate_bands(level_mask: np.ndarray, geometry: dict, spacing_mm: tuple[float, float, float], *,
                        band_mm: float = 5.0, erosion_mm: float = 2.0) -> np.ndarray:
    """Marrow next to both endplates on the centre slice (where Modic changes sit), for the QC comparison."""
    out = np.zeros(level_mask.shape, bool)
    if "rows" not in geometry:
        return out
    x0 = geometry["slice"]
    m = erode_2d(body_only_2d(level_mask[x0]), erosion_mm, (spacing_mm[1], spacing_mm[2]))
    if not m.any():
        return out
    zs = np.nonzero(m.any(axis=0))[0]
    band = max(1, int(round(band_mm / spacing_mm[2])))
    zz = np.arange(m.shape[1])[None, :]
    m &= (zz < zs.min() + band) | (zz > zs.max() - band)
    out[x0] = m
    return out


def posterior_wall_rows(body2d: np.ndarray) -> dict[int, int]:
    """For each axis-2 row of a sagittal body mask, the axis-1 index of its posterior edge."""
    rows = {}
    for z in np.nonzero(body2d.any(axis=0))[0]:
        rows[int(z)] = int(np.nonzero(body2d[:, z])[0].max())
    return rows


def canal_roi_2d(slice2d: np.ndarray, body2d: np.ndarray, spacing_yz_mm: tuple[float, float], *,
                 search_mm: float = 30.0, start_gap_mm: float = 6.0, central_fraction: float = 0.6,
                 erosion_mm: float = 1.0, body_signal: float | None = None,
                 min_run_mm: float = 4.0) -> tuple[np.ndarray, dict]:
    """Dark CSF directly posterior to one vertebral body on one sagittal slice.

    For each row in the central ``central_fraction`` of the body's height, the profile is followed
    from the body's posterior wall backwards for ``search_mm``; the CSF is the first run of dark pixels
    (below a threshold half-way between the body signal and the darkest decile of the strip) that starts
    within ``start_gap_mm`` of the wall. The union of the runs is eroded by ``erosion_mm`` (partial volume
    with dura, ligament and cortex).

    Returns
    -------
    mask : numpy.ndarray of bool
        CSF ROI on the slice (2D).
    info : dict
        ``threshold``, ``strip_median`` (signal of the first 3-15 mm behind the wall), ``width_mm`` (median run length).
    """
    out = np.zeros(slice2d.shape, bool)
    info: dict = {"threshold": float("nan"), "strip_median": float("nan"), "width_mm": 0.0}
    walls = posterior_wall_rows(body2d)
    if not walls:
        return out, info
    z_all = np.array(sorted(walls))
    h = z_all.max() - z_all.min() + 1
    lo = z_all.min() + (1 - central_fraction) / 2 * h
    hi = z_all.max() - (1 - central_fraction) / 2 * h
    rows = [z for z in z_all if lo <= z <= hi]
    n_search = int(round(search_mm / spacing_yz_mm[0]))
    strip = []
    for z in rows:
        y0 = walls[z] + 1
        strip.append(slice2d[y0:min(slice2d.shape[0], y0 + n_search), z])
    if not strip or min(len(s) for s in strip) < 5:
        return out, info
    n = min(len(s) for s in strip)
    strip_arr = np.array([s[:n] for s in strip], float)
    near = strip_arr[:, int(3 / spacing_yz_mm[0]):int(15 / spacing_yz_mm[0])]
    info["strip_median"] = float(np.median(near)) if near.size else float("nan")
    reference = float(np.median(body2d_values(slice2d, body2d))) if body_signal is None else float(body_signal)
    dark = float(np.percentile(strip_arr, 10))
    threshold = 0.5 * (reference + dark)
    info["threshold"] = threshold
    start_gap = int(round(start_gap_mm / spacing_yz_mm[0]))
    widths = []
    for z, s in zip(rows, strip_arr):
        is_dark = s < threshold
        idx = np.nonzero(is_dark[:start_gap + 1])[0]
        if idx.size == 0:
            continue
        start = idx[0]
        end = start
        while end + 1 < n and is_dark[end + 1]:
            end += 1
        if (end - start + 1) * spacing_yz_mm[0] < min_run_mm:
            continue
        y0 = walls[z] + 1
        out[y0 + start:y0 + end + 1, z] = True
        widths.append((end - start + 1) * spacing_yz_mm[0])
    info["width_mm"] = float(np.median(widths)) if widths else 0.0
    if erosion_mm > 0 and out.any():
        eroded = erode_2d(out, erosion_mm, spacing_yz_mm)
        if eroded.sum() >= MIN_ROI_VOXELS // 2:
            out = eroded
    return out, info


#: Sac voxels brighter than the CSF mode by more than this many of its robust SDs are roots, cord or conus ...
CSF_SPREAD_Z = 3.0
#: ... when their median is at least this many times the CSF signal (roots, cord and conus are about 2-3 x CSF on
#: T1; a rim of partial volume with the dura, about 1.2-1.4 x, is not taken for roots).
ROOT_CONTRAST = 1.5
#: The CSF's spread is measured on the sac voxels within this fraction of its signal (roots and ligament lie outside).
CSF_WINDOW = 0.3


def csf_in_sac(image2d: np.ndarray, sac2d: np.ndarray) -> tuple[np.ndarray, dict]:
    """The CSF voxels of a thecal-sac ROI on one slice: its dark fluid, away from nerve roots, cord and conus.

    On T1 the cauda equina roots and the conus are brighter than CSF. The CSF signal is the mode of the sac's
    values (its most common signal: the fluid fills most of the sac; a Gaussian kernel density), its spread the
    robust SD (1.4826 MAD) of the voxels within :data:`CSF_WINDOW` of it. Voxels brighter than the mode by more
    than :data:`CSF_SPREAD_Z` SDs are roots when their median is at least :data:`ROOT_CONTRAST` x the mode: they
    and the pixel around them (partial volume) are left out, and of what remains the largest connected pool is
    kept (a dark pocket beyond the roots, outside the dura, is not CSF). A sac without such voxels is kept whole; so is one
    where fewer than ``MIN_ROI_VOXELS`` CSF voxels would be left (with a ``reason``). Darker voxels (ligament,
    cortex) are left to the ROI's outlier rule.

    Returns
    -------
    mask : numpy.ndarray of bool
        The CSF voxels kept.
    info : dict
        ``sac_voxels``, ``root_voxels_left_out`` (roots and their rim), ``csf_mode_signal``, ``csf_upper_signal``
        (None when no roots were found).
    """
    from scipy.stats import gaussian_kde

    values = image2d[sac2d].astype(float)
    info = {"sac_voxels": int(sac2d.sum()), "root_voxels_left_out": 0, "csf_mode_signal": None,
            "csf_upper_signal": None}
    if values.size < 8 or values.min() == values.max():
        return sac2d.copy(), info
    grid = np.linspace(values.min(), values.max(), 512)
    mode = float(grid[int(np.argmax(gaussian_kde(values)(grid)))])
    near = values[np.abs(values - mode) <= CSF_WINDOW * abs(mode)]
    sd = 1.4826 * float(np.median(np.abs(near - mode))) if near.size else 0.0
    info["csf_mode_signal"] = round(mode, 3)
    upper = mode + CSF_SPREAD_Z * max(sd, 1e-6)
    roots = sac2d & (image2d > upper)
    if not roots.any() or float(np.median(image2d[roots])) < ROOT_CONTRAST * mode:
        return sac2d.copy(), info
    keep = sac2d & ~ndimage.binary_dilation(roots, structure=np.ones((3, 3), bool))
    if keep.sum() < MIN_ROI_VOXELS:  # a narrow sac: leave out the roots but keep the pixel around them
        keep = sac2d & ~roots
    lab, n = ndimage.label(keep)
    if n > 1:  # the fluid is one pool: a dark pocket cut off beyond the roots (outside the dura) is not kept
        keep = lab == int(np.argmax(ndimage.sum(keep, lab, range(1, n + 1)))) + 1
    if keep.sum() < MIN_ROI_VOXELS:
        info["reason"] = f"roots not separable: {int(keep.sum())} CSF voxels left of {int(sac2d.sum())}; sac kept whole"
        return sac2d.copy(), info
    info.update({"root_voxels_left_out": int(sac2d.sum() - keep.sum()), "csf_upper_signal": round(upper, 3)})
    return keep, info


def body2d_values(slice2d: np.ndarray, body2d: np.ndarray) -> np.ndarray:
    values = slice2d[body2d]
    return values if values.size else np.array([np.nan])


def pedicle_roi_from_labels(level_mask: np.ndarray, body_geometry: dict, canal_mask: np.ndarray | None,
                            spacing_mm: tuple[float, float, float], *, side: str, erosion_mm: float = 1.5,
                            slab_mm: float = 1.0) -> tuple[np.ndarray, dict]:
    """Pedicle ROI from a whole-vertebra mask: the bone bridging body and arch, lateral to the canal.

    The pedicle is taken between the body's posterior wall and 16 mm behind it, on the parasagittal
    slice (left of the body centre for ``side="left"``: higher axis-0 index, patient left in LPS) with the
    most vertebra voxels in that band, eroded by ``erosion_mm`` (about 1 mm inside the cortex).
    """
    out = np.zeros(level_mask.shape, bool)
    x0 = body_geometry.get("slice")
    if x0 is None or "posterior" not in body_geometry:
        return out, {"reason": "no body outline on the mid-sagittal slice"}
    y_wall = body_geometry["posterior"]
    band = slice(y_wall + 1, min(level_mask.shape[1], y_wall + 1 + int(round(16 / spacing_mm[1]))))
    canal_half = 0
    if canal_mask is not None and canal_mask.any():
        xs = np.nonzero(canal_mask.any(axis=(1, 2)))[0]
        canal_half = max(abs(xs.max() - x0), abs(x0 - xs.min()))
    min_off = max(int(round(6 / spacing_mm[0])), canal_half // 2)
    xs = range(x0 + min_off, level_mask.shape[0]) if side == "left" else range(x0 - min_off, -1, -1)
    best, best_n = None, 0
    for x in xs:
        n = int(level_mask[x, band].sum())
        if n > best_n:
            best, best_n = x, n
    if best is None or best_n == 0:
        return out, {"reason": "the label shows no pedicle on this side of the canal"}
    half = int(np.floor(slab_mm / spacing_mm[0] / 2 + 1e-6))
    for x in range(max(0, best - half), min(level_mask.shape[0], best + half + 1)):
        m = np.zeros(level_mask.shape[1:], bool)
        m[band] = level_mask[x, band]
        lab, n = ndimage.label(m)
        if n > 1:  # keep the part attached to the body side of the band
            sizes = ndimage.sum(m, lab, range(1, n + 1))
            m = lab == (int(np.argmax(sizes)) + 1)
        out[x] = erode_2d(m, erosion_mm, (spacing_mm[1], spacing_mm[2]))
    return out, {"slice": int(best), "source": "label"}


def circle_roi(shape: tuple[int, int, int], centre_vox: np.ndarray, radius_mm: float,
               spacing_mm: tuple[float, float, float], *, slab_mm: float = 1.0) -> np.ndarray:
    """A circular ROI of ``radius_mm`` on the sagittal slice(s) through ``centre_vox`` (a reader's click)."""
    out = np.zeros(shape, bool)
    x0 = int(round(centre_vox[0]))
    half = int(np.floor(slab_mm / spacing_mm[0] / 2 + 1e-6))
    yy, zz = np.mgrid[0:shape[1], 0:shape[2]]
    disk = ((yy - centre_vox[1]) * spacing_mm[1]) ** 2 + ((zz - centre_vox[2]) * spacing_mm[2]) ** 2 <= radius_mm ** 2
    for x in range(max(0, x0 - half), min(shape[0], x0 + half + 1)):
        out[x] = disk
    return out


def pedicle_roi_geometric(image: np.ndarray, level_mask: np.ndarray, geometry: dict, body_signal: float,
                          spacing_mm: tuple[float, float, float], *, side: str, erosion_mm: float = 1.0
                          ) -> tuple[np.ndarray, dict]:
    """Pedicle ROI when the label holds the body only: found on the image next to the body's back.

    The pedicle is expected about 0.72 body half-widths from the body centre (left = higher axis-0
    index), 3-14 mm behind the posterior wall, in the upper 55 % of the body height. On the
    parasagittal slices within 4 mm of that position, the marrow-like pixels (0.6-1.5 x the body signal)
    of that window are grouped, the largest group is kept and eroded by ``erosion_mm``.
    """
    out = np.zeros(level_mask.shape, bool)
    if "posterior" not in geometry or not np.isfinite(body_signal):
        return out, {"reason": "no body outline on the mid-sagittal slice"}
    xs = np.nonzero(level_mask.any(axis=(1, 2)))[0]
    x0 = geometry["slice"]
    half_width = max(x0 - xs.min(), xs.max() - x0)  # the slab may cut one side
    offset = 0.72 * half_width
    target = x0 + offset if side == "left" else x0 - offset
    y0 = geometry["posterior"] + int(round(3 / spacing_mm[1]))
    y1 = geometry["posterior"] + int(round(14 / spacing_mm[1]))
    z_lo, z_hi = geometry["rows"]
    h = z_hi - z_lo
    za, zb = int(z_lo + 0.45 * h), int(z_hi + 0.1 * h)
    best, best_n, best_mask = None, 0, None
    search = int(round(4 / spacing_mm[0]))
    for x in range(int(round(target)) - search, int(round(target)) + search + 1):
        if x < 0 or x >= level_mask.shape[0]:
            continue
        window = image[x, y0:y1, za:zb]
        cand = (window > 0.6 * body_signal) & (window < 1.5 * body_signal)
        lab, n = ndimage.label(cand)
        if n == 0:
            continue
        sizes = ndimage.sum(cand, lab, range(1, n + 1))
        k = int(np.argmax(sizes))
        if sizes[k] > best_n:
            m = np.zeros(level_mask.shape[1:], bool)
            m[y0:y1, za:zb] = lab == k + 1
            best, best_n, best_mask = x, int(sizes[k]), m
    if best is None:
        return out, {"reason": "no marrow-like pedicle found on the image beside the body"}
    out[best] = erode_2d(best_mask, erosion_mm, (spacing_mm[1], spacing_mm[2]))
    return out, {"slice": int(best), "source": "image_near_body_geometry"}
