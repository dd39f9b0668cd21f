"""Paraspinal muscle fat (multifidus, erector spinae) per disc level from T1, and the Goutallier grade.

Goutallier is defined on AXIAL images at each disc level ([yang2026], docs/methods.md section 5.3). With an axial T1
series of the same exam (:func:`measure_paraspinal_axial`) the ROIs are placed on the axial slices
through each disc, found from the sagittal series' disc positions through the two images' patient
coordinates. Without one (:func:`measure_paraspinal`), the muscles are sampled on the parasagittal
slices beside the spinous processes over +-``half_height_mm`` around each disc: an approximation,
stated in every output, since a sagittal slab narrower than the muscles sees only part of them.

Rule (docs/methods.md section 5.3, midpoint threshold on T1), in both planes (array axis 1 runs anterior -> posterior):

* lines: per side, the columns 6-18 mm from the midline (multifidus) and 22-40 mm (erector spinae, where the
  image reaches), over the disc level, each followed backwards from 26 mm behind the vertebral body's
  posterior wall (behind the canal and the laminae);
* body outline: on each line the skin is the last tissue voxel (above :data:`AIR_FRACTION` x the image's
  median tissue signal) before the first run of :data:`AIR_RUN_MM` of air; nothing behind it is sampled;
* fat and muscle found in the image: the tissue between the ROI start and the skin is split by Otsu into a
  dark (muscle) and a bright (fat) class; SI_fat = median of the bright voxels within
  :data:`SUBCUTANEOUS_MM` of the skin (subcutaneous fat), else of the bright voxels anywhere on the lines
  (intermuscular fat); it counts only with at least :data:`MIN_FAT_VOXELS` voxels and at least
  :data:`FAT_CONTRAST` x the muscle signal, and a median below the image's maximum (a median at the maximum means
  at least half of the fat is clipped: its true signal, and so the threshold, is unknown). Without it the fat
  fractions and grades are missing, with the reason and the QC flag ``no_fat_reference`` or
  ``fat_reference_clipped``;
* a constant frame on the array's faces (padding, :func:`spinebq.image.border.fill_border`) is outside the image:
  lines end there, and it counts neither for the air threshold nor for the image's maximum;
* ROI: on each line from the start to :data:`FASCIA_MM` before the subcutaneous fat (the run of voxels above
  the midpoint that reaches back to the skin), never past the skin; labelled bone is left out. The ROI is this
  set of lines, not a traced muscle outline;
* SI_muscle = median of the ROI voxels below the first midpoint (the lean muscle); a voxel is fat when its
  signal exceeds (SI_muscle + SI_fat) / 2; FF = fat voxels / ROI voxels;
* Goutallier grade from FF by docs/methods.md section 5.3's default mapping (conventional reading of Goutallier's
  definitions, as [yang2026] uses the grade): < 5 % -> 0, 5-< 33 % -> 1, 33-< 45 % -> 2, 45-55 % -> 3,
  > 55 % -> 4 (:data:`GOUTALLIER_CUTOFFS`); the level's grade is the worse side ([yang2026]). A grade read on the
  sagittal series carries the caveat ``sagittal approximation``; one read on an axial series does not;
* a fat fraction closer than :data:`NEAR_CUTOFF_MARGIN` to a cutoff is named per side (``near_cutoff_left`` /
  ``near_cutoff_right``: the cutoff), and when it is the worse side's the level carries ``near_cutoff`` and the flag
  ``goutallier_near_cutoff``: another ROI of the same muscle may give the other grade. Fat fractions are shown to
  the reader by :func:`fat_fraction_text` (a percentage with the digits that tell the side of every cutoff).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinebq.errors import SpinebqError
from spinebq.image.border import fill_border
from spinebq.image.volume import Volume
from spinebq.vocabulary import QcFlag

DISC_LEVELS = (("L1", "L2"), ("L2", "L3"), ("L3", "L4"), ("L4", "L5"), ("L5", "S1"))
DISC_NAMES = tuple(f"{upper}/{lower}" for upper, lower in DISC_LEVELS)
LIMITATION = ("sagittal approximation: Goutallier is defined on axial images at each disc level; "
              "the parasagittal slices beside the spinous processes are sampled instead")
AXIAL_LIMITATION = ("axial T1 at each disc; the ROI is the lines beside the spinous process (6-18 and 22-40 mm from "
                    "the midline) from 26 mm behind the vertebral body to the subcutaneous fat, not a traced muscle outline")
#: Distances from the midline sampled on each side, mm: multifidus, then erector spinae.
COLUMNS_MM = ((6.0, 18.0), (22.0, 40.0))
#: Tissue is brighter than this fraction of the image's median tissue signal; air is darker.
AIR_FRACTION = 0.35
#: A run of air this long behind the tissue is outside the patient (a bright speck in the air is not skin), mm.
AIR_RUN_MM = 5.0
#: Subcutaneous fat is sought this far inside the skin, mm.
SUBCUTANEOUS_MM = 15.0
#: A fat reference needs this many voxels ...
MIN_FAT_VOXELS = 30
#: ... at least this many times brighter than the muscle.
FAT_CONTRAST = 1.5
#: Distance kept from the subcutaneous fat (the fascia), mm.
FASCIA_MM = 2.0
#: The skin (and its partial volume with air) is darker than fat: the subcutaneous fat may start this far inside it, mm.
SKIN_MM = 5.0
#: A dark septum inside the subcutaneous fat up to this thickness does not end it when the next
#: :data:`SEPTUM_CHECK_MM` in front of it are at least :data:`SEPTUM_FAT_FRACTION` fat, mm. 6 mm rather than 10:
#: case10's deeper fat layer at L5/S1 is thinner than 10 mm, and the left muscle ROI ran into it (fat fraction 0.27,
#: grade 1; 0.02 with 6 mm), the other three exams move by at most 0.0007 (benchmarks/mri.md).
SEPTUM_MM = 4.0
SEPTUM_CHECK_MM = 6.0
SEPTUM_FAT_FRACTION = 0.95
#: Parts of a side's ROI smaller than this fraction of it (islands beyond the removed fat) are dropped.
ISLAND_FRACTION = 0.05
#: The ROI ends are median-smoothed over this head-to-foot (or slice) length, so a single line cannot stray, mm.
END_SMOOTH_MM = 7.0
#: Fat fractions at which the Goutallier grade goes up by one (docs/methods.md section 5.3): grade 0 below 0.05, 1
#: from 0.05, 2 from 0.33, 3 from 0.45 up to 0.55 itself, 4 above 0.55.
GOUTALLIER_CUTOFFS = (0.05, 0.33, 0.45, 0.55)
#: A fat fraction closer than this to a Goutallier cutoff may fall on the other side with another ROI of the same
#: muscle, so its grade carries a caveat. 0.03, from the measurement's own variability on the four real T1 exams
#: (benchmarks/mri.md, "Fat fractions near a Goutallier cutoff"): the automatic mode's fat fractions differ from
#: those of the manual body masks by a median of 0.004, a 90th percentile of 0.023 and at most 0.044 (39 of the 40
#: side-levels by less than 0.03; case10 L5/S1 left 0.023 with the masks, 0.052 automatic: grade 0 against 1), and
#: the two sides of one level by a median of 0.014. Measured on the sagittal approximation; an axial series's ROIs
#: were not compared, and the same margin is used there.
NEAR_CUTOFF_MARGIN = 0.03
GOUTALLIER_SOURCE = ("Goutallier grade from the fat fraction by docs/methods.md section 5.3's default mapping (<5 % 0, <33 % 1, "
                     "<45 % 2, <=55 % 3, >55 % 4; a conventional reading of Goutallier's definitions), worse side kept "
                     "as in Yang 2026 [yang2026]")
METHOD = ("fat fraction = voxels above (SI_muscle + SI_fat)/2 in the multifidus/erector ROI, which runs from behind "
          "the laminae to 2 mm before the subcutaneous fat and never past the skin; SI_fat = fat found in the image "
          "(subcutaneous, else intermuscular), SI_muscle = lean muscle of the ROIs; " + GOUTALLIER_SOURCE)


@dataclass(frozen=True)
class FatReference:
    """Muscle and fat signals found on the lines behind the spine (:func:`find_fat_reference`).

    Attributes
    ----------
    signal_fat : float or None
        Median signal of the fat found; None when no fat was found, with the ``reason``.
    signal_muscle : float
        Median signal of the dark (muscle) class.
    source : str or None
        ``subcutaneous`` or ``intermuscular``.
    voxels : int
        Fat voxels the median is taken over.
    reason : str or None
        Why no fat reference was found.
    clipped : bool
        The fat found has its median at the image's maximum (clipped), so it was not used.
    """

    signal_fat: float | None
    signal_muscle: float
    source: str | None
    voxels: int
    reason: str | None = None
    clipped: bool = False

    @property
    def midpoint(self) -> float | None:
        """(SI_muscle + SI_fat) / 2, the fat threshold; None without a fat reference."""
        return None if self.signal_fat is None else 0.5 * (self.signal_fat + self.signal_muscle)


def goutallier_grade(fat_fraction: float | None) -> int | None:
    """Goutallier grade 0-4 of a fat fraction (docs/methods.md section 5.3 default mapping, :data:`GOUTALLIER_CUTOFFS`).

    Examples
    --------
    >>> [goutallier_grade(f) for f in (0.02, 0.05, 0.2, 0.4, 0.5, 0.55, 0.7)]
    [0, 1, 1, 2, 3, 3, 4]
    """
    if fat_fraction is None or not np.isfinite(fat_fraction):
        return None
    *lower, top = GOUTALLIER_CUTOFFS
    return 4 if fat_fraction > top else int(sum(fat_fraction >= cutoff for cutoff in lower))


def near_cutoff(fat_fraction: float | None) -> float | None:
    """The Goutallier cutoff closer than :data:`NEAR_CUTOFF_MARGIN` to ``fat_fraction``; None when none is (or the
    fat fraction is missing).

    Examples
    --------
    >>> near_cutoff(0.052), near_cutoff(0.023), near_cutoff(0.2), near_cutoff(0.31), near_cutoff(None)
    (0.05, 0.05, None, 0.33, None)
    """
    if fat_fraction is None or not np.isfinite(fat_fraction):
        return None
    return next((c for c in GOUTALLIER_CUTOFFS if abs(fat_fraction - c) < NEAR_CUTOFF_MARGIN), None)


def fat_fraction_text(fat_fraction: float | None) -> str:
    """A fat fraction as the reader sees it: a percentage with one decimal, or more where one decimal would round it
    onto the other side of a Goutallier cutoff (the grade it is given can then be read off the number).

    Examples
    --------
    >>> fat_fraction_text(0.0517), fat_fraction_text(0.0463), fat_fraction_text(0.04996), fat_fraction_text(None)
    ('5.2 %', '4.6 %', '4.996 %', 'not measured')
    """
    if fat_fraction is None or not np.isfinite(fat_fraction):
        return "not measured"
    grade = goutallier_grade(fat_fraction)
    for decimals in range(1, 7):
        text = f"{100 * fat_fraction:.{decimals}f}"
        if goutallier_grade(float(text) / 100) == grade:
            break
    return f"{text} %"


def near_cutoff_text(cutoff: float) -> str:
    """The short caveat of a grade near ``cutoff``, as the pictures, the screen and the report show it.

    >>> near_cutoff_text(0.05)
    'near the 5 % cutoff'
    """
    return f"near the {100 * cutoff:g} % cutoff"


def _otsu(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(values)) if values.size > 1 and values.min() < values.max() else float(values.mean())


def _column_offsets(spacing_mm: float) -> list[int]:
    """Voxel offsets from the midline, on one side, of the sampled multifidus and erector columns."""
    return sorted({int(round(d / spacing_mm)) for lo, hi in COLUMNS_MM for d in np.arange(lo, hi + 1e-6, spacing_mm)})


def air_threshold(image: np.ndarray) -> float:
    """Signal below which a voxel is air: :data:`AIR_FRACTION` x the median of the voxels above the 5th percentile."""
    tissue = image[image > np.percentile(image, 5)]
    return AIR_FRACTION * float(np.median(tissue)) if tissue.size else 0.0


@dataclass
class Lines:
    """The lines (array axis 1, from ``y0`` backwards) of one side at one disc level.

    ``values`` is (lines, depth) from ``y0``; ``skin`` the index (from ``y0``) of the last tissue voxel on each
    line, -1 where the line starts in air; ``xs``, ``zs`` the line positions on axes 0 and 2.
    """

    xs: np.ndarray
    zs: np.ndarray
    y0: int
    values: np.ndarray
    skin: np.ndarray


def trace_lines(image: np.ndarray, xs: list[int], zs: list[int], y0: int, air: float, sy: float) -> Lines:
    """Follow every (x, z) line backwards from ``y0`` to the skin (:data:`AIR_RUN_MM` of air behind it)."""
    xx, zz = np.meshgrid(np.asarray(xs, int), np.asarray(zs, int), indexing="ij")
    xx, zz = xx.ravel(), zz.ravel()
    values = image[xx, y0:, zz] if y0 < image.shape[1] else np.zeros((xx.size, 0), image.dtype)
    run = max(1, int(round(AIR_RUN_MM / sy)))
    is_air = values < air
    # a voxel starts an air run when it and the next run-1 voxels are air (the image's end counts as air)
    padded = np.concatenate([is_air, np.ones((is_air.shape[0], run), bool)], axis=1).astype(np.int32)
    window = np.cumsum(padded, axis=1)
    window = np.concatenate([np.zeros((window.shape[0], 1), np.int32), window], axis=1)
    full = (window[:, run:run + values.shape[1]] - window[:, :values.shape[1]]) == run
    first = np.where(full.any(axis=1), np.argmax(full, axis=1), values.shape[1])
    return Lines(xx, zz, int(y0), values.astype(np.float32), first - 1)


def find_fat_reference(lines: list[Lines], sy: float, *, image_max: float = np.inf) -> FatReference:
    """Muscle and fat signals of the tissue on ``lines`` (see the module's rule).

    ``image_max`` is the image's highest signal: fat whose median reaches it is clipped and not used.
    """
    tissue = [ln.values[i, :ln.skin[i] + 1] for ln in lines for i in range(len(ln.skin)) if ln.skin[i] >= 0]
    if not tissue or sum(t.size for t in tissue) < MIN_FAT_VOXELS:
        return FatReference(None, float("nan"), None, 0, "no tissue behind the spine on the sampled lines")
    pooled = np.concatenate(tissue)
    split = _otsu(pooled)
    signal_muscle = float(np.median(pooled[pooled <= split]))
    band = max(1, int(round(SUBCUTANEOUS_MM / sy)))
    near_skin = np.concatenate([t[max(0, t.size - band):] for t in tissue])
    found = []
    for source, values in (("subcutaneous", near_skin), ("intermuscular", pooled)):
        bright = values[values > split]
        signal = float(np.median(bright)) if bright.size else float("nan")
        if bright.size >= MIN_FAT_VOXELS and signal >= FAT_CONTRAST * signal_muscle:
            if signal < image_max:
                return FatReference(signal, signal_muscle, source, int(bright.size))
            # the fat is there but its signal is unknown: a dimmer class further on would be partial volume, not fat
            return FatReference(None, signal_muscle, None, 0,
                                f"the fat signal is clipped ({source} fat: {bright.size} bright voxels, median at the "
                                f"image's maximum {image_max:.0f}): at least half of the fat voxels are at the top of the "
                                "scale, so the true fat signal, and the fat threshold, are unknown", clipped=True)
        found.append(f"{source}: {bright.size} bright voxels" + (f" at {signal:.0f}" if bright.size else ""))
    return FatReference(None, signal_muscle, None, 0,
                        f"no fat found behind the spine ({'; '.join(found)}; fat must be at least "
                        f"{FAT_CONTRAST:g} x the muscle signal {signal_muscle:.0f} over {MIN_FAT_VOXELS} voxels)")


def roi_ends(ln: Lines, reference: FatReference, sy: float, sz: float) -> tuple[np.ndarray, np.ndarray]:
    """End (exclusive, from ``y0``) of the ROI on each line: :data:`FASCIA_MM` before the subcutaneous fat.

    Returns the ends and, per line, the start of the unbroken run of fat at the skin (``skin + 1`` where there is
    none): the subcutaneous fat for certain.

    The subcutaneous fat on a line is the run of voxels above the midpoint (dark septa up to :data:`SEPTUM_MM`
    bridged where the :data:`SEPTUM_CHECK_MM` in front of it are fat) that reaches back to within :data:`SKIN_MM`
    of the skin. Without a fat reference, or where no such run lies behind the muscle, the ROI ends :data:`SUBCUTANEOUS_MM` inside the skin. The ends are then
    median-smoothed over :data:`END_SMOOTH_MM` along the lines' third axis (``sz``: its spacing), never moving
    past a line's own skin limit.
    """
    fascia = int(round(FASCIA_MM / sy))
    skin_gap = int(round(SKIN_MM / sy))
    septum = max(1, int(round(SEPTUM_MM / sy)))
    check = max(2, int(round(SEPTUM_CHECK_MM / sy)))
    ends = np.full(len(ln.skin), -1, int)
    limit = np.full(len(ln.skin), -1, int)
    fat_start = ln.skin + 1
    cut = reference.midpoint
    for i, skin in enumerate(ln.skin):
        if skin < 0:
            continue
        limit[i] = skin + 1 - fascia
        end = skin + 1 - int(round(SUBCUTANEOUS_MM / sy))
        if cut is not None:
            bright = ln.values[i, :skin + 1] > cut
            k = skin
            while k >= 0 and skin - k < skin_gap and not bright[k]:
                k -= 1
            if k >= 0 and bright[k]:
                first = True
                while True:
                    while k >= 0 and bright[k]:
                        k -= 1
                    if first:
                        fat_start[i], first = k + 1, False
                    # a septum: bright again within SEPTUM_MM, and mostly fat in front of it
                    ahead = np.nonzero(bright[max(0, k - septum):k + 1])[0]
                    if k < 0 or not ahead.size:
                        break
                    j = max(0, k - septum) + int(ahead[-1])
                    if j - check + 1 < 0 or bright[j - check + 1:j + 1].mean() < SEPTUM_FAT_FRACTION:
                        break
                    k = j
                end = k + 1 - fascia
        ends[i] = end
    n_z = len(np.unique(ln.zs))
    if n_z and len(ends) == n_z * (len(ends) // n_z):
        grid = ends.reshape(-1, n_z).astype(float)
        grid[grid < 0] = np.nan
        size = max(1, int(round(END_SMOOTH_MM / sz))) | 1
        smooth = ndimage.generic_filter(grid, np.nanmedian, size=(1, size), mode="nearest")
        ends = np.where(np.isfinite(smooth), np.round(smooth), -1).astype(int).ravel()
        ends = np.minimum(ends, limit)
    return ends, fat_start


def _measure_blocks(image: np.ndarray, blocks: dict[tuple[str, str], tuple[list[int], list[int], int]],
                    spacing_mm: tuple[float, float, float], plane: str, bone) -> tuple[dict, dict, dict]:
    """Fat fraction and grade of every (disc, side) block of lines ``(xs, zs, y0)`` on ``image``.

    ``bone(mask)`` returns the voxels of ``mask`` on labelled bone (left out of the ROIs).
    """
    sy, sz = spacing_mm[1], spacing_mm[2]
    border = fill_border(image)
    inside = image[~border.mask]
    air = air_threshold(inside)
    if border.faces:  # the fill is outside the image: a line reaching it ends there, as in air
        image = np.where(border.mask, -np.inf, image).astype(np.float32)
    lines = {key: trace_lines(image, xs, zs, y0, air, sy) for key, (xs, zs, y0) in blocks.items() if xs and zs}
    reference = find_fat_reference(list(lines.values()), sy, image_max=float(inside.max()))
    min_length = int(round(5.0 / sy))
    rois: dict[str, np.ndarray] = {}
    values: dict[tuple[str, str], np.ndarray] = {}
    for (disc, side), ln in lines.items():
        ends, fat_start = roi_ends(ln, reference, sy, sz)
        mask = np.zeros(image.shape, bool)
        behind = np.zeros(image.shape, bool)  # the unbroken run of fat at the skin: subcutaneous fat for certain
        for x, z, end, start, skin in zip(ln.xs, ln.zs, ends, fat_start, ln.skin):
            if end >= min_length:
                mask[x, ln.y0:ln.y0 + end, z] = True
            behind[x, ln.y0 + start:ln.y0 + skin + 1, z] = True
        mask &= ~bone(mask)
        if reference.midpoint is not None and mask.any():
            # fat touching the subcutaneous fat behind the ROI (a fold, a lobe) is not muscle
            box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(mask | behind))
            bright = (image[box] > reference.midpoint) & (mask[box] | behind[box])
            lab, _ = ndimage.label(bright)
            touching = np.unique(lab[behind[box] & bright])
            mask[box] &= ~np.isin(lab, touching[touching > 0])
        if mask.any():  # small islands cut off beyond the removed fat (a skin fold) are not muscle
            box = ndimage.find_objects(mask.astype(np.uint8))[0]
            lab, n = ndimage.label(mask[box])
            sizes = np.bincount(lab.ravel())[1:]
            mask[box] = np.isin(lab, 1 + np.nonzero(sizes >= ISLAND_FRACTION * sizes.sum())[0])
        if mask.sum() < 50:
            continue
        rois[f"muscle_{side}_{disc}"] = mask
        values[(disc, side)] = image[mask]
    if not values:
        return {}, {"reason": f"paraspinal muscles not found between the spine and the skin on the {plane} series",
                    "limitation": LIMITATION if plane == "sagittal" else AXIAL_LIMITATION}, {}
    muscle, info = _grade(values, reference, plane)
    info["air_threshold"] = round(air, 3)
    info["image_fill_border"] = border.describe()
    return muscle, info, rois


def _grade(values: dict[tuple[str, str], np.ndarray], reference: FatReference, plane: str) -> tuple[dict, dict]:
    """Fat fraction and Goutallier grade per disc and side from the ROI values (the midpoint rule)."""
    signal_muscle, threshold = reference.signal_muscle, None
    if reference.signal_fat is not None:
        pooled = np.concatenate(list(values.values()))
        lean = pooled[pooled <= reference.midpoint]
        signal_muscle = float(np.median(lean)) if lean.size else reference.signal_muscle
        threshold = 0.5 * (signal_muscle + reference.signal_fat)
    muscle: dict = {}
    for (disc, side), v in values.items():
        ff = float((v > threshold).mean()) if threshold is not None and v.size else float("nan")
        entry = muscle.setdefault(disc, {"fat_fraction_left": None, "fat_fraction_right": None, "goutallier": None})
        entry[f"fat_fraction_{side}"] = round(ff, 4) if np.isfinite(ff) else None
        entry[f"voxels_{side}"] = int(v.size)
        entry[f"signal_mean_{side}"] = round(float(v.mean()), 3)
        entry[f"goutallier_{side}"] = goutallier_grade(entry[f"fat_fraction_{side}"])
        entry[f"near_cutoff_{side}"] = near_cutoff(entry[f"fat_fraction_{side}"])
    for entry in muscle.values():
        fractions = [f for f in (entry.get("fat_fraction_left"), entry.get("fat_fraction_right")) if f is not None]
        entry["goutallier"] = goutallier_grade(max(fractions)) if fractions else None
        entry["goutallier_reason"] = (None if fractions else f"no fat reference: {reference.reason}"
                                      if threshold is None else "no muscle ROI")
        entry["near_cutoff"] = near_cutoff(max(fractions)) if fractions else None
        entry["plane"] = plane
        flags = {QcFlag.SAGITTAL_APPROXIMATION: None} if plane == "sagittal" else {}
        if threshold is None:
            flags[QcFlag.FAT_REFERENCE_CLIPPED if reference.clipped else QcFlag.NO_FAT_REFERENCE] = reference.reason
        if entry["near_cutoff"] is not None:
            flags[QcFlag.GOUTALLIER_NEAR_CUTOFF] = _near_cutoff_note(entry)
        entry["qc"] = [code.value for code in flags]
        entry["qc_notes"] = {code.value: note or code.sentence for code, note in flags.items()}
    info = {"method": METHOD, "goutallier_source": GOUTALLIER_SOURCE,
            "signal_fat": None if reference.signal_fat is None else round(reference.signal_fat, 3),
            "signal_fat_source": reference.source, "signal_fat_voxels": reference.voxels,
            "signal_fat_reason": reference.reason,
            "signal_muscle": round(signal_muscle, 3) if np.isfinite(signal_muscle) else None,
            "threshold": None if threshold is None else round(threshold, 3), "plane": plane,
            "limitation": LIMITATION if plane == "sagittal" else AXIAL_LIMITATION}
    return {k: muscle[k] for k in DISC_NAMES if k in muscle}, info


def _near_cutoff_note(entry: dict) -> str:
    """The ``goutallier_near_cutoff`` note of a level: the side(s) near a cutoff, the cutoff and why it matters."""
    cutoff = entry["near_cutoff"]
    sides = [f"{side} {fat_fraction_text(entry[f'fat_fraction_{side}'])}" for side in ("left", "right")
             if entry.get(f"near_cutoff_{side}") == cutoff]
    grade = GOUTALLIER_CUTOFFS.index(cutoff)
    return (f"fat fraction {', '.join(sides)}: closer than {100 * NEAR_CUTOFF_MARGIN:g} percentage points to the "
            f"{100 * cutoff:g} % cutoff between Goutallier grades {grade} and {grade + 1}; another ROI of the same "
            "muscle (from automatic instead of manual vertebrae, say) may give the other grade")


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


def disc_centres_mm(image: Volume, geometry: dict, csf_mask: np.ndarray | None) -> list[np.ndarray]:
    """Centre of every disc level (mid-sagittal slice, halfway between the bodies, at their posterior wall), LPS mm."""
    x_mid, discs = _midline_and_discs(geometry, csf_mask)
    if x_mid is None:
        return []
    return [image.index_to_mm(np.array([x_mid, wall, z_disc], float)) for z_disc, wall in discs.values()]


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
    bone_array = labels.array > 0
    blocks = {}
    for disc, (z_disc, wall) in discs.items():
        z0, z1 = int(round(z_disc - half_height_mm / sz)), int(round(z_disc + half_height_mm / sz)) + 1
        y0 = int(round(wall + offset_mm / sy)) + 1
        if z0 < 0 or z1 > nz or y0 >= ny:
            continue
        for side, sgn in (("left", 1), ("right", -1)):
            xs = [x_mid + sgn * d for d in _column_offsets(sx) if 0 <= x_mid + sgn * d < nx]
            blocks[(disc, side)] = (xs, list(range(z0, z1)), y0)
    muscle, info, rois = _measure_blocks(image, blocks, spacing_mm, "sagittal", lambda mask: mask & bone_array)
    if muscle:
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
    not_covered, slices_used, blocks = {}, {}, {}
    for disc, (z_disc, wall) in discs.items():
        ic, jc, kc = axial.mm_to_index(sagittal.index_to_mm(np.array([x_mid, wall, z_disc], float)))
        ks = [k for k in range(nz) if abs(k - kc) * sz <= half_height_mm]
        if not ks or not (0 <= ic < nx and 0 <= jc < ny):
            not_covered[disc] = f"no axial slice within {half_height_mm:g} mm of the disc centre"
            continue
        y0 = int(round(jc + offset_mm / sy)) + 1
        i0 = int(round(ic))
        if y0 >= ny:
            continue
        for side, sgn in (("left", 1), ("right", -1)):
            xs = [i0 + sgn * d for d in _column_offsets(sx) if 0 <= i0 + sgn * d < nx]
            blocks[(disc, side)] = (xs, ks, y0)
        slices_used[disc] = [int(k) for k in ks]
    if len(not_covered) == len(discs):
        raise SpinebqError(
            f"{path}: the axial series reaches no disc level of the sagittal series ("
            + "; ".join(f"{d}: {r}" for d, r in not_covered.items())
            + "); both must be of the same exam, in one frame of reference"
        )

    def bone(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(mask.shape, bool)
        out[mask] = _labelled(np.argwhere(mask), axial, sagittal, labels)
        return out

    muscle, info, rois = _measure_blocks(img, blocks, axial.spacing_mm, "axial", bone)
    if not muscle:
        return {}, {**info, "not_covered": not_covered}, {}
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
