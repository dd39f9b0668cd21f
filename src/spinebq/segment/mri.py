"""Automatic vertebral-body and canal detection on a sagittal T1 (image analysis only, no downloaded weights).

Steps (all on the canonical array: axis 0 sagittal slice, axis 1 anterior -> posterior, axis 2 up):

1. *Canal*: the darkest continuous head-to-foot path (dynamic programming, at most 1 mm sideways per mm)
   whose anterior neighbourhood (3-12 mm) is bright (vertebral bodies), restricted to inside the patient,
   on the darkest-signal projection of the central 70 % of the sagittal slices (finds the CSF wherever the
   sac lies across the stack).
2. *Midline curve*: per row, the centre of the slices where the CSF along the canal is dark, smoothed along
   the spine (the spine often crosses the stack obliquely); the slab around it is averaged.
3. *Posterior wall*: from the canal, the first pixel forward that is brighter than halfway between CSF and
   the anterior neighbourhood; smoothed along the spine.
4. *Straightening*: the image is resampled along the wall curve (arc length s) and its anterior normal
   (depth d), so that bodies become stacked rectangles separated by darker discs.
5. *Discs*: minima of the mean signal 5-22 mm in front of the wall; *bodies*: between consecutive discs,
   bounded by four walls seen from the body's centre: the endplates and the front wall are the strongest
   smooth edge lines across the body (a dark patch of marrow covers only part of it), the front wall
   searched up to the first dark line (the cortex), the back wall at the steepest fall of signal; a front
   wall deeper than both neighbours' is sought again within their depth.
6. *Labelling*: counted upwards from S1, the body below the L5/S1 disc = the lowest disc at least 6 mm high
   below which the wall tilts 30 degrees or more from the head-foot axis (the sacral slope; a body is also
   sought below the lowest disc).
7. *3D*: each mid-sagittal body is followed slice by slice to the sides, from the midline curve at its own
   height, while its marrow continues, within its own share of the sagittal plane, up to its lateral
   cortex (a dip of the signal across the stack in the centre of the body; else 42 mm from the other
   side's cortex or 21 mm from the midline, at most 30 mm out);
   on every slice its four walls are found again near the previous slice's (strongest marrow -> cortex
   edge within 1 mm), the front wall moving back where its edge fades (the rounded front of the body), and
   the body fills them but for what is darker than 0.6 x the marrow (cortex, disc, vessel).

Limits: constants tuned on all four 1 mm sagittal T1 exams of ../shared/data/lumbar_mri_t1 together
(3D: marrow above 0.7 x the body signal, stop below 0.45 x the mid area, front wall moving back 2 mm per mm
where its edge falls below half its strength); transitional vertebrae (L6, sacralised L5) and strong
scoliosis are not handled; every output says "automatic" and the level labels should be checked on the
picture.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from spinebq.anatomy import VERSE_IDS
from spinebq.errors import SpinebqError
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.vocabulary import LabelContent, LabelScheme

#: Depth of the spinal canal's CSF under the skin of the back, mm (adults, thin to obese).
CANAL_FROM_SKIN_MM = (30.0, 130.0)
NAMES_UP = ("S1", "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10", "T9")


def _patient_mask(img2d: np.ndarray) -> np.ndarray:
    """Inside of the patient on a sagittal image (above a third of the median tissue signal, holes filled)."""
    nonzero = img2d[img2d > np.percentile(img2d, 5)]
    tissue = img2d > 0.35 * float(np.median(nonzero)) if nonzero.size else img2d > 0
    tissue = ndimage.binary_closing(tissue, structure=np.ones((9, 9)))
    return ndimage.binary_fill_holes(tissue)


def _canal_path(img2d: np.ndarray, tissue: np.ndarray, spacing_yz: tuple[float, float], *,
                near_mm: tuple[float, float] = (3.0, 12.0), w_front: float = 1.0, w_step: float = 0.3) -> np.ndarray:
    """Dynamic-programming canal path: one axis-1 index per axis-2 row (-1 where no tissue)."""
    ny, nz = img2d.shape
    near = int(round(near_mm[0] / spacing_yz[0])), int(round(near_mm[1] / spacing_yz[0]))
    # mean signal 6-14 mm in front of each pixel
    kernel = np.zeros(2 * near[1] + 1)
    kernel[:near[1] - near[0] + 1] = 1.0 / (near[1] - near[0] + 1)
    anterior = ndimage.correlate1d(img2d, kernel, axis=0, mode="nearest")
    scale = float(np.median(img2d[tissue])) if tissue.any() else 1.0
    cost = (img2d - w_front * anterior) / max(scale, 1e-6)
    # stay inside the patient with a margin, and within the reach of the canal from the back's skin
    margin = int(round(25 / spacing_yz[0]))
    inside = ndimage.binary_erosion(tissue, structure=np.ones((2 * margin + 1, 1)))
    rows = np.arange(ny)[:, None]
    skin = np.where(tissue.any(axis=0), ny - 1 - np.argmax(tissue[::-1], axis=0), 0)[None, :]
    from_skin_mm = (skin - rows) * spacing_yz[0]
    inside &= (from_skin_mm >= CANAL_FROM_SKIN_MM[0]) & (from_skin_mm <= CANAL_FROM_SKIN_MM[1])
    cost = np.where(inside, cost, 10.0)
    step = max(1, int(round(1.0 * spacing_yz[1] / spacing_yz[0])))
    acc = cost[:, 0].copy()
    back = np.zeros((ny, nz), np.int32)
    idx = np.arange(ny)
    for z in range(1, nz):
        best = acc.copy()
        arg = idx.copy()
        for dy in range(1, step + 1):
            for shifted, src in ((np.r_[acc[dy:], [np.inf] * dy], idx + dy), (np.r_[[np.inf] * dy, acc[:-dy]], idx - dy)):
                better = shifted + w_step * dy < best
                best = np.where(better, shifted + w_step * dy, best)
                arg = np.where(better, src, arg)
        back[:, z] = arg
        acc = best + cost[:, z]
    path = np.zeros(nz, int)
    path[-1] = int(np.argmin(acc))
    for z in range(nz - 1, 0, -1):
        path[z - 1] = back[path[z], z]
    return path


def _midline_curve(smooth3: np.ndarray, canal: np.ndarray, tissue: np.ndarray, x_range: tuple[int, int],
                   spacing: tuple[float, float, float]) -> np.ndarray:
    """Sagittal slice index of the thecal sac's centre for every axis-2 row (float, smoothed along the spine).

    Along the canal path, the CSF is darker than anything beside it on the same row, so the centre of the
    slices darker than halfway between the darkest and the median signal marks the midline of the sac; it
    is followed along the spine because the lumbar spine often leaves the sagittal stack obliquely
    (scoliosis, rotated patient).
    """
    sx, _, sz = spacing
    rows = np.arange(smooth3.shape[2])
    lo, hi = x_range
    prof = smooth3[lo:hi, canal, rows]  # (x, z)
    prof = ndimage.uniform_filter1d(prof, int(round(9 / sz)) | 1, axis=1, mode="nearest")
    darkest, typical = prof.min(axis=0), np.median(prof, axis=0)
    weight = np.clip(0.5 * (darkest + typical) - prof, 0, None)
    inside = tissue[canal, rows] & (weight.sum(axis=0) > 0)
    xs = np.arange(lo, hi, dtype=float)[:, None]
    centre = np.full(len(rows), 0.5 * (lo + hi - 1))
    if inside.sum() < 10:
        return centre
    centre[inside] = (weight * xs).sum(axis=0)[inside] / weight.sum(axis=0)[inside]
    centre = np.interp(rows, rows[inside], centre[inside])
    centre = ndimage.median_filter(centre, size=int(round(41 / sz)) | 1, mode="nearest")
    return ndimage.gaussian_filter1d(centre, 10.0 / sz, mode="nearest")


def _about_midline(vol: np.ndarray, centre: np.ndarray, half: int) -> np.ndarray:
    """Slices ``-half..half`` around the midline curve: array (2 half + 1, ny, nz), NaN outside the stack."""
    nx, ny, nz = vol.shape
    out = np.full((2 * half + 1, ny, nz), np.nan, np.float32)
    base = np.round(centre).astype(int)
    for k in range(-half, half + 1):
        x = base + k
        ok = (x >= 0) & (x < nx)
        zs = np.nonzero(ok)[0]
        out[k + half][:, zs] = vol[x[zs], :, zs].T
    return out


def detect_vertebrae(image: Volume, *, path="image", slab_mm: float = 5.0) -> tuple[LabelMap, dict]:
    """Find the vertebral bodies T10-S1 on a sagittal T1 and label them with VerSe ids.

    Parameters
    ----------
    image : Volume
        Sagittal T1 (canonical LPS array).
    path : str or Path
        Named in error messages.
    slab_mm : float
        Width of the central slab averaged to find the canal and the bodies.

    Returns
    -------
    labels : LabelMap
        int16 VerSe ids of the bodies found (body only, no posterior elements).
    info : dict
        ``method``, ``midline_slice``, ``discs_mm`` (positions along the canal), ``levels`` found, notes.

    Raises
    ------
    SpinebqError
        When no canal or fewer than five vertebral bodies can be found (not a lumbar sagittal T1).
    """
    arr = image.array.astype(np.float32)
    sx, sy, sz = image.spacing_mm
    nx = arr.shape[0]
    if nx < 5:
        raise SpinebqError(f"{path}: fewer than five sagittal slices; a sagittal lumbar T1 series is needed")
    smooth3 = ndimage.gaussian_filter(arr, (0.6 / sx, 1.0 / sy, 1.0 / sz))
    # canal on the darkest-signal projection of the central sagittal slices (the CSF is found wherever the sac
    # lies across the stack), bodies in front of it on the median projection
    x_range = (int(0.15 * nx), max(int(0.15 * nx) + 1, int(np.ceil(0.85 * nx))))
    across = ndimage.gaussian_filter1d(smooth3[x_range[0]:x_range[1]], 1.5 / sx, axis=0)
    darkest = across.min(axis=0)
    typical = np.median(across, axis=0)
    tissue = _patient_mask(typical)
    canal = _canal_path(darkest, tissue, (sy, sz))
    centre = _midline_curve(smooth3, canal, tissue, x_range, (sx, sy, sz))
    half = max(0, int(round(slab_mm / sx / 2)))
    mid = np.nan_to_num(np.nanmean(_about_midline(smooth3, centre, half), axis=0))
    xc = int(round(float(np.median(centre))))
    st = _straighten(mid, canal, tissue, (sy, sz), path)
    py, pz, ty, tz = st["py"], st["pz"], st["ty"], st["tz"]
    minima, disc_height_mm, bodies2d = _bodies_between_discs(st["straight"], st["depths"], path)
    signal_csf = st["signal_csf"]
    # lumbosacral junction: going down, the column turns backwards at the sacrum (angle of the wall curve)
    angle = np.degrees(np.arctan2(-ty, tz))  # > 0 when the wall runs backwards going up
    s1_index = _find_s1(bodies2d, angle, minima, disc_height_mm)
    if s1_index is None:
        if _sacrum_above(angle, minima, disc_height_mm):
            raise SpinebqError(
                f"{path}: the image is upside down in patient coordinates (the sacrum lies at its head end); "
                "correct the file's orientation (its affine or direction cosines) and run it again"
            )
        s1_index = 0
    names = {}
    for rank, i in enumerate(sorted(range(len(bodies2d)), key=lambda i: bodies2d[i]["s"][0])):
        offset = rank - s1_index
        if 0 <= offset < len(NAMES_UP):
            names[i] = NAMES_UP[offset]
    # back to the image grid (mid-sagittal) and then to 3D
    mids = {}
    for i, body in enumerate(bodies2d):
        if i not in names:
            continue
        mids[i] = _outline_to_image(body["mask"], py, pz, arr.shape[1:], pixelwise=body["open_below"])
    # each body may grow sideways only within its own share of the sagittal plane (nearest mid-sagittal body)
    seeds = np.zeros(arr.shape[1:], np.int32)
    for i, m2 in mids.items():
        seeds[m2] = i + 1
    labels = np.zeros(arr.shape, np.int16)
    if mids:
        dist, (iy, iz) = ndimage.distance_transform_edt(seeds == 0, sampling=(sy, sz), return_indices=True)
        owner = np.where(dist <= 6.0, seeds[iy, iz], 0)
        for i, m2 in mids.items():
            rows_z = np.nonzero(m2.any(axis=0))[0]
            x_body = int(round(float(np.median(centre[rows_z]))))
            m3 = _extend_3d(smooth3, m2, x_body, bodies2d[i]["signal"], owner == i + 1, spacing=(sx, sy, sz))
            labels[m3 & (labels == 0)] = VERSE_IDS[names[i]]
    info = {
        "method": ("automatic (image analysis, no trained weights): canal by dynamic programming, bodies between "
                   "disc minima along the straightened canal wall, levels counted up from the lumbosacral junction; "
                   "check the level labels on the picture"),
        "midline_slice": int(xc),
        "signal_csf_estimate": round(signal_csf, 3),
        "discs_along_canal_mm": [round(float(m) * 0.5, 1) for m in minima],
        "levels_found": [names[i] for i in sorted(names, key=lambda i: bodies2d[i]["s"][0])],
    }
    out = LabelMap(labels, image.affine.copy(), content=LabelContent.BODY, scheme=LabelScheme.VERSE, source="automatic",
                   scheme_note=info["method"])
    return out, info


def _outline_to_image(mask: np.ndarray, py: np.ndarray, pz: np.ndarray, shape: tuple[int, int], *,
                      pixelwise: bool = False) -> np.ndarray:
    """A body mask of the straightened image on the image grid (``py``, ``pz``: image indices of every
    straightened pixel).

    Its sub-pixel outline is mapped and filled: an image pixel belongs to the body when its centre lies
    inside. ``pixelwise`` maps every pixel instead (rounded, then closed and filled), which stays whole
    where the straightening folds, at the sharp bend of the lumbosacral junction.
    """
    from skimage import draw, measure

    out = np.zeros(shape, bool)
    if pixelwise:
        ss, dd = np.nonzero(mask)
        yy, zz = np.round(py[ss, dd]).astype(int), np.round(pz[ss, dd]).astype(int)
        keep = (yy >= 0) & (yy < shape[0]) & (zz >= 0) & (zz < shape[1])
        out[yy[keep], zz[keep]] = True
        return ndimage.binary_fill_holes(ndimage.binary_closing(out, structure=np.ones((3, 3))))
    for contour in measure.find_contours(np.pad(mask.astype(float), 1), 0.5):
        yy = ndimage.map_coordinates(py, (contour - 1).T, order=1, mode="nearest")
        zz = ndimage.map_coordinates(pz, (contour - 1).T, order=1, mode="nearest")
        rows, cols = draw.polygon(yy, zz, shape)
        out[rows, cols] ^= True
    return out


def _straighten(mid: np.ndarray, canal: np.ndarray, tissue: np.ndarray, spacing_yz: tuple[float, float],
                path) -> dict:
    """Posterior wall of the bodies in front of the canal, and the image resampled along it.

    Returns a dict: ``straight`` (arc length s in 0.5 mm rows x depth in front of the wall), ``depths`` (mm),
    ``py``/``pz`` (image indices of every straightened pixel), ``cz`` (wall height, mm), ``ty``/``tz``
    (unit tangent), ``signal_csf``.
    """
    sy, sz = spacing_yz
    rows = np.arange(mid.shape[1])
    csf = mid[canal, rows]
    valid = tissue[canal, rows] & (csf < np.percentile(mid[tissue], 40))
    if valid.sum() * sz < 100:
        raise SpinebqError(f"{path}: no spinal canal found on the sagittal image; is this a sagittal lumbar T1?")
    # posterior wall: first pixel in front of the canal brighter than halfway to the anterior neighbourhood
    n6, n14 = int(round(6 / sy)), int(round(14 / sy))
    ant = np.array([mid[max(0, c - n14):max(1, c - n6), z].mean() for z, c in zip(rows, canal)])
    signal_csf = float(np.median(csf[valid]))
    signal_front = float(np.median(ant[valid]))
    if not signal_front > 1.3 * signal_csf:
        raise SpinebqError(
            f"{path}: no dark CSF in front of bright vertebral bodies was found (CSF-like {signal_csf:.0f}, "
            f"bodies {signal_front:.0f}); a sagittal T1-weighted lumbar MRI is needed"
        )
    t_wall = 0.5 * (signal_csf + signal_front)
    wall = np.full(len(rows), np.nan)
    for z in rows[valid]:
        c = canal[z]
        profile = mid[:c + 1, z][::-1]
        above = np.nonzero(profile >= t_wall)[0]
        if above.size and above[0] * sy < 25:
            wall[z] = c - above[0]
    good = np.isfinite(wall)
    if good.sum() * sz < 100:
        raise SpinebqError(f"{path}: the front wall of the spinal canal could not be followed; is this a sagittal lumbar T1?")
    zg = rows[good]
    wall_f = ndimage.median_filter(wall[good], size=max(3, int(round(21 / sz))) | 1, mode="nearest")
    wall_f = ndimage.gaussian_filter1d(wall_f, 4.0 / sz, mode="nearest")
    # curve in mm, resampled by arc length
    ymm, zmm = wall_f * sy, zg * sz
    seg = np.hypot(np.diff(ymm), np.diff(zmm))
    s = np.r_[0, np.cumsum(seg)]
    s_new = np.arange(0, s[-1], 0.5)
    cy, cz = np.interp(s_new, s, ymm), np.interp(s_new, s, zmm)
    ty, tz = np.gradient(cy), np.gradient(cz)
    norm = np.hypot(ty, tz)
    ty, tz = ty / norm, tz / norm
    ny_, nz_ = -tz, ty  # anterior normal (negative axis-1 direction when the curve runs upwards)
    flip = ny_ > 0
    ny_[flip], nz_[flip] = -ny_[flip], -nz_[flip]
    depths = np.arange(-2.0, 55.0, 0.5)
    py = (cy[:, None] + depths[None, :] * ny_[:, None]) / sy
    pz = (cz[:, None] + depths[None, :] * nz_[:, None]) / sz
    straight = ndimage.map_coordinates(mid, [py, pz], order=1, mode="constant", cval=0.0)
    return {"straight": straight, "depths": depths, "py": py, "pz": pz, "cz": cz, "ty": ty, "tz": tz,
            "signal_csf": signal_csf}


def _bodies_between_discs(straight: np.ndarray, depths: np.ndarray,
                          path) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Disc minima of the straightened image, their heights (mm, width at half depth of the dark line in the
    signal profile) and the marrow region between each pair of consecutive discs."""
    band = (depths >= 5) & (depths <= 22)
    profile = ndimage.gaussian_filter1d(straight[:, band].mean(axis=1), 3.0)
    marrow = float(np.median(profile))
    minima, props = signal.find_peaks(-profile, distance=int(round(18 / 0.5)), prominence=0.12 * marrow, width=0)
    if len(minima) < 4:
        raise SpinebqError(f"{path}: fewer than four intervertebral discs were found along the canal; is this a sagittal lumbar T1?")
    bodies2d = []
    # a body is also sought below the lowest disc (S1 when the sacrum below it shows no further disc)
    starts = np.r_[max(0, minima[0] - int(round(30 / 0.5))), minima[:-1]]
    for a, b in zip(starts, minima):
        if b - a < int(round(10 / 0.5)):
            continue
        core = straight[a + int(0.3 * (b - a)):b - int(0.3 * (b - a)), (depths >= 4) & (depths <= 20)]
        m_b = float(np.median(core))
        open_below = a == starts[0]
        body = _body_box(straight, depths, a, b, edge_lines=not open_below)
        if not body.any():
            continue
        height_mm = (b - a) * 0.5
        bodies2d.append({"s": (int(a), int(b)), "mask": body, "height_mm": height_mm, "signal": m_b,
                         "open_below": open_below})
    _limit_depths(straight, depths, bodies2d)
    if len(bodies2d) < 5:
        raise SpinebqError(f"{path}: fewer than five vertebral bodies were found along the canal; is this a sagittal lumbar T1?")
    return minima, props["widths"] * 0.5, bodies2d


def _limit_depths(straight: np.ndarray, depths: np.ndarray, bodies2d: list[dict], tolerance_mm: float = 4.0) -> None:
    """Find again the front wall of a body whose depth lies more than ``tolerance_mm`` outside its neighbours'.

    Too deep, the front wall lies on the soft tissue in front of the body; too shallow, on a dark line
    inside it. It is sought again without the dark-line stop, no deeper than the deeper neighbour plus
    half the tolerance (in place, on ``bodies2d``; the body below the lowest disc is left as found).
    """
    def back_and_front_mm(mask: np.ndarray) -> tuple[float, float]:
        rows = np.nonzero(mask.any(axis=1))[0]
        rows = rows[len(rows) // 4:3 * len(rows) // 4 + 1]
        back = np.median([np.nonzero(mask[r])[0].min() for r in rows])
        front = np.median([np.nonzero(mask[r])[0].max() for r in rows])
        return float(depths[int(back)]), float(depths[int(front)])

    if len(bodies2d) < 3:
        return
    walls = [back_and_front_mm(body["mask"]) for body in bodies2d]
    depth = [front - back for back, front in walls]
    for i, body in enumerate(bodies2d):
        neighbours = [depth[j] for j in (i - 1, i + 1) if 0 <= j < len(bodies2d)]
        if body["open_below"] or abs(depth[i] - np.clip(depth[i], min(neighbours), max(neighbours))) <= tolerance_mm:
            continue
        a, b = body["s"]
        again = _body_box(straight, depths, a, b, dark_line=np.inf,
                          max_depth_mm=walls[i][0] + max(neighbours) + 0.5 * tolerance_mm)
        if again.any():
            body["mask"] = again


def _steepest_drop(values: np.ndarray) -> int:
    """Index of the first value after the steepest fall of a 1D profile (``len(values)`` if it has < 3 values)."""
    if len(values) < 3:
        return len(values)
    return int(np.argmin(np.diff(values))) + 1


def _first_valley(values: np.ndarray, prominence: float) -> int:
    """Index of the first dark line of a profile (a valley the signal rises again after by ``prominence``),
    or its length when there is none."""
    valleys, _ = signal.find_peaks(-values, prominence=prominence)
    valleys = valleys[valleys >= 2]
    return int(valleys[0]) if valleys.size else len(values)


def _best_line(edge: np.ndarray, lo: int, hi: int, *, max_tilt_px: int = 10, max_bend_px: int = 4,
               refine_px: int = 3, smooth_px: int = 9) -> np.ndarray:
    """Position (row of ``edge``, ``lo``..``hi``) per column of the strongest smooth edge across the columns.

    ``edge`` holds the edge strength with rows running outwards from the body's centre and one column per
    line across the body. Of the curves ``r + k u + q (u^2 - 1/3)`` (u from -1 to 1 across the columns; tilt
    ``|k| <= max_tilt_px``, bend ``|q| <= max_bend_px``), the one of highest mean strength is kept: an edge
    across the whole body (cortex, endplate) beats a dark patch of marrow that covers part of it. Each
    column then moves to its own strongest edge within ``refine_px``, median-smoothed over ``smooth_px``.
    """
    n_rows, n_cols = edge.shape
    u = np.linspace(-1.0, 1.0, n_cols)
    columns = np.arange(n_cols)
    starts = np.arange(lo, hi + 1)
    best_score, best_rows = -np.inf, None
    for k in range(-max_tilt_px, max_tilt_px + 1):
        for q in range(-max_bend_px, max_bend_px + 1, 2):
            rows = starts[:, None] + np.round(k * u + q * (u ** 2 - 1.0 / 3.0)).astype(int)[None, :]
            inside = (rows >= lo) & (rows <= hi)
            score = np.where(inside, edge[np.clip(rows, 0, n_rows - 1), columns], 0.0).mean(axis=1)
            j = int(np.argmax(score))
            if score[j] > best_score:
                best_score, best_rows = score[j], np.clip(rows[j], lo, hi)
    refined = best_rows.copy()
    for c in columns:
        r0, r1 = max(lo, best_rows[c] - refine_px), min(hi, best_rows[c] + refine_px)
        refined[c] = r0 + int(np.argmax(edge[r0:r1 + 1, c]))
    return ndimage.median_filter(refined, size=smooth_px, mode="nearest")


def _body_box(straight: np.ndarray, depths: np.ndarray, a: int, b: int, *, max_depth_mm: float = 50.0,
              edge_sigma_px: float = 2.0, dark_line: float = 0.15, edge_lines: bool = True) -> np.ndarray:
    """Vertebral body between the disc minima ``a`` and ``b`` of the straightened image (0.5 mm pixels).

    Seen from the body's centre (10 mm in front of the posterior wall, halfway between the discs):

    * the front wall is the strongest smooth line of falling signal (:func:`_best_line`; derivative after
      smoothing over ``edge_sigma_px``) in front of the centre, each row searched up to its first dark line
      (a valley the signal rises again after by ``dark_line`` x the marrow signal: the cortex, with the
      soft tissue in front of it);
    * the back wall is, per row, the steepest fall of signal behind the centre, smoothed over 4 mm;
    * the endplates are the strongest smooth lines of falling signal above and below the centre, so that a
      dark patch of marrow, the basivertebral vein or a Modic change does not cut the body.

    The body is the set of pixels inside the four walls. Without ``edge_lines`` (the body below the lowest
    disc: the sacrum, tilted at the lumbosacral bend, has no lower endplate) every wall is the steepest
    fall of signal per row or column, smoothed over 4 mm.
    """
    img = ndimage.gaussian_filter(straight, 1.0)
    mid_row, seed = (a + b) // 2, int(np.searchsorted(depths, 10.0))
    back_limit, front_limit = int(np.searchsorted(depths, -2.0)), int(np.searchsorted(depths, max_depth_mm))
    inner = max(1, (b - a) // 5)
    rows = np.arange(a + inner, b - inner + 1)
    core = img[a + int(0.3 * (b - a)):b - int(0.3 * (b - a)), int(np.searchsorted(depths, 4.0)):int(np.searchsorted(depths, 20.0))]
    prominence = dark_line * float(np.median(core))
    width = int(round(4 / 0.5)) | 1

    def steepest(profiles: list[np.ndarray]) -> np.ndarray:
        return ndimage.median_filter(np.array([_steepest_drop(p) for p in profiles]), size=width, mode="nearest")

    back = seed - steepest([img[r, back_limit:seed + 1][::-1] for r in rows])
    if edge_lines:
        fall_forward = -ndimage.gaussian_filter1d(straight, edge_sigma_px, axis=1, order=1)[rows, seed:front_limit].T
        for j, r in enumerate(rows):
            fall_forward[_first_valley(img[r, seed:front_limit], prominence) + 1:, j] = 0.0
        front = seed + _best_line(fall_forward, 1, fall_forward.shape[0] - 1) + 1
    else:
        front = seed + steepest([img[r, seed:front_limit] for r in rows])
    cols = np.arange(int(np.median(back)) + 1, int(np.median(front)))
    if cols.size < 4:
        return np.zeros(straight.shape, bool)
    if edge_lines:
        rise_up = ndimage.gaussian_filter1d(straight, edge_sigma_px, axis=0, order=1)[:, cols]
        up = mid_row + _best_line(-rise_up[mid_row:b + 1], 1, b - mid_row) + 1
        down = mid_row - _best_line(rise_up[a:mid_row + 1][::-1], 1, mid_row - a) - 1
    else:
        up = mid_row + steepest([img[mid_row:b + 1, c] for c in cols])
        down = mid_row - steepest([img[a:mid_row + 1, c][::-1] for c in cols])
    # rows near the endplates take the walls of the nearest inner row
    all_rows = np.arange(max(0, min(a, down.min())), min(straight.shape[0] - 1, max(b, up.max())) + 1)
    front_all = np.interp(all_rows, rows, front)
    back_all = np.interp(all_rows, rows, back)
    box = np.zeros(straight.shape, bool)
    for r, lo, hi in zip(all_rows, back_all, front_all):
        box[r, int(round(lo)) + 1:int(round(hi))] = True
    ends = np.zeros(straight.shape, bool)
    for c, lo, hi in zip(cols, down, up):
        ends[lo + 1:hi, c] = True
    return box & ends


#: Tilt of the posterior wall from the head-foot axis at the sacral slope, degrees (see ``_find_s1``).
SACRAL_TILT_DEG = 30.0
#: How far from a disc the sacral slope is looked for, mm.
SACRAL_SLOPE_REACH_MM = 15.0
#: Least height of a disc's dark line (at half its depth in the signal profile), mm.
MIN_DISC_MM = 6.0


def _tilt_deg(angle: np.ndarray) -> np.ndarray:
    """Tilt of the posterior wall (degrees, on 0.5 mm steps of arc length), smoothed over 5 mm."""
    return ndimage.gaussian_filter1d(angle, 5.0 / 0.5)


def _sacrum_above(angle: np.ndarray, minima: np.ndarray, disc_height_mm: np.ndarray) -> bool:
    """Whether the sacral slope lies above a disc instead of below it: an image upside down.

    Upside down, the wall going up from a disc into the sacrum tilts as far the other way as it tilts below
    the L5/S1 disc the right way up. Measured on the four real T1 exams (``benchmarks/status.md``, seam sweep
    9): above a disc of at least ``MIN_DISC_MM`` the wall tilts at most -26 degrees the right way up (the
    thoracic kyphosis) and -41 to -56 degrees upside down. Asked only when no disc has the slope below it.
    """
    tilt = _tilt_deg(angle)
    reach = int(round(SACRAL_SLOPE_REACH_MM / 0.5))
    return any(h >= MIN_DISC_MM and tilt[m:m + reach + 1].min() <= -SACRAL_TILT_DEG
               for m, h in zip(minima, disc_height_mm))


def _find_s1(bodies2d: list[dict], angle: np.ndarray, minima: np.ndarray, disc_height_mm: np.ndarray, *,
             sacral_tilt_deg: float = SACRAL_TILT_DEG, below_mm: float = SACRAL_SLOPE_REACH_MM,
             min_disc_mm: float = MIN_DISC_MM) -> int | None:
    """Rank (0 = lowest) of the S1 body among the bodies sorted from the bottom up (None: no disc found).

    The L5/S1 disc is the lowest disc below which the column turns backwards into the sacrum: the posterior
    wall, smoothed over 5 mm, tilts ``sacral_tilt_deg`` or more from the head-foot axis somewhere within
    ``below_mm`` below the disc (the top of S1 at the sacral slope; the lumbar walls above tilt less, the
    thoracic ones forward). A dark line thinner than ``min_disc_mm`` (height at half its depth in the signal
    profile) is not counted: the fused remnant between S1 and S2 and the sacral segments below it. Further
    down the sacrum the wall may tilt more than at S1 (the canal path runs deeper into the sacrum when the
    image reaches further down), so the lowest qualifying disc is taken, not the most tilted place.
    Constants set on the four real T1 exams, as stored, with each padded face replaced and cropped 10 and
    30 mm at the bottom (benchmarks/mri.md): L5/S1 tilts 41-56 degrees below it, L4/L5 17-33, the lowest
    full-height dark lines under S1 at most 24; L5/S1 is 7.3-11.5 mm high, the sacral remnants 3.4-5.1.
    Without such a disc None is returned (the caller takes the lowest body as S1).
    """
    ranked = sorted(range(len(bodies2d)), key=lambda i: bodies2d[i]["s"][0])
    tilt = _tilt_deg(angle)
    below = int(round(below_mm / 0.5))
    disc = next((m for m, h in sorted(zip(minima, disc_height_mm)) if h >= min_disc_mm
                 and tilt[max(0, m - below):m + 1].max() >= sacral_tilt_deg), None)
    for rank, i in enumerate(ranked):
        if bodies2d[i]["s"][1] == disc:
            return rank
    return None


def _wall_positions(mask: np.ndarray, fallback: dict | None = None) -> dict:
    """The four walls of a body outline on a sagittal slice (axis 0 front to back, axis 1 up).

    ``front``/``back``: first and last axis-0 index per axis-1 row; ``down``/``up``: first and last axis-1
    index per axis-0 column; where the mask has no pixel the ``fallback`` walls are taken.
    """
    rows, cols = mask.any(axis=0), mask.any(axis=1)
    walls = {"front": np.argmax(mask, axis=0), "back": mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0),
             "down": np.argmax(mask, axis=1), "up": mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)}
    if fallback is not None:
        for key, present in (("front", rows), ("back", rows), ("down", cols), ("up", cols)):
            walls[key] = np.where(present, walls[key], fallback[key])
    return walls


def _edge_track(strength: np.ndarray, previous: np.ndarray, active: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                step: int, smooth: int) -> tuple[np.ndarray, np.ndarray]:
    """Move one wall, line by line, to the strongest edge within ``step`` of its previous position.

    ``strength`` (lines x positions) is the edge strength of this wall; positions stay within ``lo``..``hi``
    per line, ``active`` lines only. Returns the new positions (median-smoothed over ``smooth`` lines) and
    the strength found on each line (0 on inactive lines).
    """
    n, m = strength.shape
    candidates = previous[:, None].astype(int) + np.arange(-step, step + 1)[None, :]
    allowed = (candidates >= np.maximum(lo, 0)[:, None]) & (candidates <= np.minimum(hi, m - 1)[:, None])
    values = np.where(allowed, strength[np.arange(n)[:, None], np.clip(candidates, 0, m - 1)], -np.inf)
    best = np.argmax(values, axis=1)
    moved = active & allowed.any(axis=1)
    new = previous.copy()
    new[moved] = candidates[moved, best[moved]]
    if moved.sum() >= 3:
        new[moved] = ndimage.median_filter(new[moved], size=smooth, mode="nearest")
    return new, np.where(moved, values[np.arange(n), best], 0.0)


def _lateral_ends(smooth3: np.ndarray, mid2d: np.ndarray, x_mid: int, body_signal: float, sx: float, *,
                  half_width_mm: float, max_half_width_mm: float, edge_min_mm: float, edge_dip: float) -> dict[int, int]:
    """Last sagittal slice of a body on each side (``{1: higher slices, -1: lower}``), at its lateral cortex.

    Across the sagittal stack, the mean signal in the centre of the body (the central half of its
    mid-sagittal outline in depth and height, 3 mm inside the outline) stays that of marrow until the
    slices reach the side of the body, where the lateral cortex (cut tangentially) and the psoas make it
    dip. On each side, the first local minimum at least ``edge_min_mm`` from the mid-sagittal slice and
    ``edge_dip`` x the body signal below the brightest slice between them is the lateral cortex. A side
    without such a dip (the body runs off the stack, or shows no contrast) ends a body width
    (2 ``half_width_mm``) from the other side's cortex, or ``half_width_mm`` from the mid-sagittal slice
    when neither side shows one; never more than ``max_half_width_mm`` out. The two outermost slices of
    the stack are never taken for a cortex (they are often partial or faulty).
    """
    nx = smooth3.shape[0]
    ys, zs = np.nonzero(mid2d)
    (y0, y1), (z0, z1) = np.percentile(ys, [25, 75]), np.percentile(zs, [25, 75])
    yy, zz = np.indices(mid2d.shape)
    core = ndimage.binary_erosion(mid2d, iterations=int(round(3 / sx))) & (yy >= y0) & (yy <= y1) & (zz >= z0) & (zz <= z1)
    profile = smooth3[:, core if core.any() else mid2d].mean(axis=1) / body_signal
    reach, half, near = (int(round(v / sx)) for v in (max_half_width_mm, half_width_mm, edge_min_mm))
    cortex = {}
    for direction in (1, -1):
        top = profile[x_mid]
        for x in range(x_mid + direction, x_mid + direction * reach, direction):
            if not 2 < x < nx - 3:
                break
            top = max(top, profile[x])
            if (abs(x - x_mid) >= near and profile[x] <= profile[x - direction] and profile[x] < profile[x + direction]
                    and top - profile[x] >= edge_dip):
                cortex[direction] = x
                break
    ends = {}
    for direction in (1, -1):
        if direction in cortex:
            end = cortex[direction]
        elif -direction in cortex:
            end = cortex[-direction] + direction * 2 * half
        else:
            end = x_mid + direction * half
        ends[direction] = x_mid + direction * min(reach, direction * (end - x_mid))
    return ends


def _extend_3d(smooth3: np.ndarray, mid2d: np.ndarray, x_mid: int, body_signal: float, allowed: np.ndarray, *,
               spacing: tuple[float, float, float], t_frac: float = 0.7, half_width_mm: float = 21.0,
               min_area_frac: float = 0.45, edge_sigma_mm: float = 0.7, wall_step_mm: float = 1.0,
               wall_smooth_mm: float = 5.0, weak_front: float = 0.5, retreat_mm_per_mm: float = 2.0,
               fill_frac: float = 0.6, bright_front: float = 1.3, max_half_width_mm: float = 30.0,
               edge_min_mm: float = 12.0, edge_dip: float = 0.14) -> np.ndarray:
    """Follow a mid-sagittal body to the sides, slice by slice, finding its walls again on every slice.

    *Marrow*: on each slice, the marrow-like region (``t_frac`` to 1.8 x a reference signal, the mean of the
    body signal and the previous slice's median) within 2 voxels of the mid-sagittal outline and 1 voxel of
    the previous slice's marrow, inside ``allowed`` (the body's share of the sagittal plane, so it never
    grows into a neighbour). The body ends where this region falls below ``min_area_frac`` of the
    mid-sagittal area, or at its lateral cortex (:func:`_lateral_ends`; lumbar bodies are 40-50 mm wide,
    ``half_width_mm`` is half of that where no cortex is seen, ``max_half_width_mm`` the farthest reach).

    *Walls*: the front and back walls and the two endplates start at the mid-sagittal outline; on each
    further slice every wall moves, line by line, to the strongest marrow -> cortex edge (signal gradient
    after smoothing over ``edge_sigma_mm``) within ``wall_step_mm`` of its place on the previous slice,
    never beyond the grown outline, median-smoothed over ``wall_smooth_mm``. Where the front wall's edge
    fades (median strength below ``weak_front`` x its strength next to the mid-sagittal slice), the slice
    cuts the rounded front of the body obliquely, and the wall moves back ``retreat_mm_per_mm`` per mm.

    The body on a slice is what lies inside the four walls and is brighter than ``fill_frac`` x the marrow
    reference: the marrow test above only decides where the body ends sideways. A region brighter than
    ``bright_front`` x the reference that touches the front wall is the fat or muscle in front of the
    body's rounded front (cut obliquely by a side slice), not marrow, and is left out.
    """
    out = np.zeros(smooth3.shape, bool)
    if not mid2d.any():
        return out
    sx, sy, sz = spacing
    out[x_mid] = mid2d
    grown = ndimage.binary_dilation(mid2d, iterations=2) & allowed
    box = tuple(slice(max(0, s.start - 3), s.stop + 3) for s in ndimage.find_objects(grown.astype(np.uint8))[0])
    grown, mid = grown[box], mid2d[box]
    area0 = mid.sum()
    ends = _lateral_ends(smooth3, mid2d, x_mid, body_signal, sx, half_width_mm=half_width_mm,
                         max_half_width_mm=max_half_width_mm, edge_min_mm=edge_min_mm, edge_dip=edge_dip)
    x_lo, x_hi = max(0, ends[-1]), min(smooth3.shape[0], ends[1] + 1)
    chunk = smooth3[x_lo:x_hi, box[0], box[1]]
    smoothed = ndimage.gaussian_filter(chunk, (0, edge_sigma_mm / sy, edge_sigma_mm / sz))
    rise_back = np.gradient(smoothed, axis=1) / body_signal  # > 0 at the front wall, < 0 at the back wall
    rise_up = np.gradient(smoothed, axis=2) / body_signal  # > 0 at the lower endplate, < 0 at the upper
    limits = _wall_positions(grown)
    start = _wall_positions(mid, fallback=limits)
    rows_ok, cols_ok = grown.any(axis=0), grown.any(axis=1)
    step_y, step_z = (max(1, int(round(wall_step_mm * sx / s))) for s in (sy, sz))
    smooth_z, smooth_y = (max(1, int(round(wall_smooth_mm / s))) | 1 for s in (sz, sy))
    retreat = max(1, int(round(retreat_mm_per_mm * sx / sy)))
    yy, zz = np.arange(grown.shape[0])[:, None], np.arange(grown.shape[1])[None, :]
    opening = np.ones((3, 3))
    for direction in (1, -1):
        marrow, walls = mid, dict(start)
        rows_on, cols_on = mid.any(axis=0), mid.any(axis=1)
        front_reference = None
        for x in range(x_mid + direction, x_hi if direction > 0 else x_lo - 1, direction):
            image2d = chunk[x - x_lo]
            reference = 0.5 * (body_signal + float(np.median(image2d[marrow])))
            candidates = (image2d > t_frac * reference) & (image2d < 1.8 * reference) & grown
            lab, n = ndimage.label(ndimage.binary_opening(candidates, structure=opening))
            overlap = np.bincount(lab[marrow], minlength=n + 1)
            overlap[0] = 0
            if overlap.max() == 0:
                break
            marrow = ndimage.binary_fill_holes(lab == np.argmax(overlap)) & ndimage.binary_dilation(marrow)
            if marrow.sum() < min_area_frac * area0:
                break
            gy, gz = rise_back[x - x_lo].T, rise_up[x - x_lo]
            walls["front"], front_strength = _edge_track(gy, walls["front"], rows_on, limits["front"], limits["back"],
                                                         step_y, smooth_z)
            walls["back"], _ = _edge_track(-gy, walls["back"], rows_on, limits["front"], limits["back"], step_y, smooth_z)
            walls["down"], _ = _edge_track(gz, walls["down"], cols_on, limits["down"], limits["up"], step_z, smooth_y)
            walls["up"], _ = _edge_track(-gz, walls["up"], cols_on, limits["down"], limits["up"], step_z, smooth_y)
            if rows_on.any():
                strength = float(np.median(front_strength[rows_on]))
                front_reference = strength if front_reference is None else front_reference
                if strength < weak_front * front_reference:
                    walls["front"] = np.minimum(walls["front"] + retreat, limits["back"])
            inside = ((yy >= walls["front"][None, :]) & (yy <= walls["back"][None, :]) & rows_on[None, :]
                      & (zz >= walls["down"][:, None]) & (zz <= walls["up"][:, None]) & cols_on[:, None])
            # fat or muscle in front of the body's rounded front: brighter than marrow and touching the front wall
            bright, _ = ndimage.label(inside & (image2d > bright_front * reference))
            at_front = bright[inside & (yy <= walls["front"][None, :])]
            inside &= ~np.isin(bright, at_front[at_front > 0])
            # the body fills its walls: a dark patch of marrow, the basivertebral vein or a Modic change does
            # not cut it; only what is darker than fill_frac x the marrow (cortex, disc, vessel) is left out
            body = ndimage.binary_opening(inside & (image2d > fill_frac * reference), structure=opening)
            out[x, box[0], box[1]] = body
            rows_on, cols_on = body.any(axis=0) & rows_ok, body.any(axis=1) & cols_ok
    return out
