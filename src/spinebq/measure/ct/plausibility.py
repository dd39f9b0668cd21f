"""Do labels fit the image? Each level against the image and its neighbours, and the names against the vertebrae counted.

:func:`check_levels` looks at every labelled body on its own: its height and volume against its neighbours', the
order and spacing of the centroids along the spine, the HU inside the mask against its rim (the cortical shell)
and the tissue just outside, and the spinal canal behind it. A mask moved onto a disc or into soft tissue, or
doubled in height, fails one of them: the level is flagged ``labels_implausible`` with the reasons and kept out of
the summary; each check also lowers the level's confidence.


A label map shifted by one level (every vertebra named as its neighbour) has bodies, pedicles and densities
that all look right; only counting the vertebrae in the image shows it. The built-in segmentation's first steps
(:func:`spinebq.segment.ct.core.count_vertebrae`) count them from the sacrum or from the last rib (told from a lumbar
transverse process, :mod:`spinebq.segment.ct.ribs`); where it confirmed its names and each labelled vertebra
overlaps one of its vertebrae, a different name there flags the level ``labels_implausible`` with the reason, and
the level is kept out of the summary. Where the built-in segmentation confirms no level (neither the sacrum nor a
sure last rib, or no spine), nothing is claimed: the check says it could not be made.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS, VERSE_NAMES
from spinebq.errors import SpinebqError
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume

#: QC flag of a level whose label does not fit the image.
LABELS_IMPLAUSIBLE = "labels_implausible"
#: Share of a label's voxels that must fall in one built-in vertebra for the names to be compared.
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class NameCheck:
    """What :func:`check_level_names` found.

    Attributes
    ----------
    implausible : dict
        Level -> reason, for the levels whose name disagrees with the vertebra counted in the image.
    method : str
        How the check was made, or why it could not be.
    """

    implausible: dict[str, str] = field(default_factory=dict)
    method: str = ""


def check_level_names(ct: Volume, labels: LabelMap) -> NameCheck:
    """Compare the names of ``labels`` with the vertebrae the built-in segmentation counts from the sacrum or last rib.

    Parameters
    ----------
    ct : Volume
        The CT in HU.
    labels : LabelMap
        VerSe ids on ``ct``'s grid (whole vertebrae or bodies).

    Returns
    -------
    NameCheck
    """
    from spinebq.segment.ct.core import count_vertebrae

    try:
        ours = count_vertebrae(ct)
    except SpinebqError as exc:
        return NameCheck(method=f"not checked: the built-in segmentation found no spine ({exc})")
    confirmed = ours.confirmed_ids()
    if not confirmed:
        return NameCheck(method="not checked: the built-in segmentation found neither the sacrum nor a sure last rib "
                                "to count from")
    labelled = np.nonzero(labels.array > 0)
    label_ids, ours_ids = labels.array[labelled], ours.vertebra_at(labelled)
    implausible = {}
    for vid in (int(v) for v in np.unique(label_ids) if int(v) in VERSE_NAMES):
        name = VERSE_NAMES[vid]
        inside = ours_ids[label_ids == vid]
        found = inside[inside > 0]
        if found.size < MIN_OVERLAP * inside.size:
            continue
        ids, counts = np.unique(found, return_counts=True)
        best = int(ids[np.argmax(counts)])
        if best in confirmed and best != vid and counts.max() >= MIN_OVERLAP * inside.size:
            implausible[name] = (f"labelled {name}, but the vertebra there is {VERSE_NAMES[best]} counted in the "
                                 f"image ({ours.naming.method}; built-in segmentation): the labels may be shifted")
    return NameCheck(implausible, "names compared with the built-in segmentation's vertebrae counted from the sacrum "
                                  f"or the last rib ({ours.naming.method}; a label must lie "
                                  f"{100 * MIN_OVERLAP:.0f} % in one of them)")



#: A body taller than this many times the median of its neighbours' heights (or shorter than 1 / it) is implausible.
HEIGHT_RATIO_LIMIT = 1.5
#: The same for the body volume.
VOLUME_RATIO_LIMIT = 2.0
#: Neighbours looked at on each side for the height and volume comparison.
NEIGHBOURS = 2
#: The distance between consecutive centroids, divided by the median distance per level, must lie in this range.
SPACING_RANGE = (0.6, 1.5)
#: A body between two neighbours sits near the middle: the larger spacing at most this many times the smaller.
MAX_SPACING_ASYMMETRY = 1.8
#: The rim of a body (its outer layer, the cortical shell) must be this much denser than the tissue just outside, HU.
MIN_RIM_CONTRAST_HU = 60.0
#: The canal behind the body (median HU) must be this much darker than the body's rim, HU.
MIN_CANAL_CONTRAST_HU = 60.0
#: Where the canal is looked for: this far behind the posterior wall, mm, and within this half-width of the midline.
CANAL_DEPTH_MM = (3.0, 12.0)
CANAL_HALF_WIDTH_MM = 4.0
#: Levels whose shape is not a lumbar or thoracic body (the sacrum label holds the whole sacrum, its canal is not a
#: tube behind a body): only the rim against the outside is checked there, and they are nobody's neighbour.
NOT_A_BODY = ("S1",)


@dataclass(frozen=True)
class LevelPlausibility:
    """What :func:`check_levels` found at one level.

    Attributes
    ----------
    reasons : tuple of str
        Why the label does not fit the image (empty when it does).
    confidence : float
        1.0 when every check passes with room; lower the closer a check comes to its limit; at most 0.3 with reasons.
    measures : dict
        The figures the checks read (height, volume, ratios, HU inside/rim/outside/canal, spacing ratios).
    """

    reasons: tuple[str, ...]
    confidence: float
    measures: dict

    def to_dict(self) -> dict:
        return {"plausible": not self.reasons, "reasons": list(self.reasons), "confidence": self.confidence,
                **self.measures}


def check_levels(ct: Volume, body_masks: dict, frames: dict, order: list[str], *, skip: tuple[str, ...] = (),
                 labels: np.ndarray | None = None) -> dict[str, LevelPlausibility]:
    """Check every labelled body against the image and its neighbours.

    Parameters
    ----------
    ct : Volume
        The CT in HU.
    body_masks : dict
        Level -> (box, body mask in the box) on ``ct``'s grid.
    frames : dict
        Level -> :class:`~spinebq.measure.ct.frame.VertebraFrame` (centroid and axes).
    order : list of str
        The levels, cranial to caudal.
    skip : tuple of str
        Levels not checked (cut by the field of view: their size and centroid are partial); they are no
        neighbour either.
    labels : numpy.ndarray, optional
        The label map: other labels' voxels are not "outside" tissue.

    Returns
    -------
    dict
        Level -> :class:`LevelPlausibility`.
    """
    levels = [n for n in order if n in frames and n in body_masks]
    sizes = {n: _size(body_masks[n], ct, frames[n]) for n in levels if n not in skip}
    found = {}
    bodies = [n for n in levels if n not in skip and n not in NOT_A_BODY]
    unit = _unit_spacing(bodies, frames)
    chain = {n: _adjacent(n, bodies) for n in bodies}
    sized = [n for n in levels if n in sizes and n not in NOT_A_BODY]
    odd_size = {n for n in sized if _odd_size(n, sized, sizes)}
    for n in levels:
        if n in skip:
            continue
        reasons, scores, measures, off_centre_reason = [], [], {}, None
        height, volume = sizes[n]
        measures.update(height_mm=round(height, 1), volume_ml=round(volume, 2))
        if n not in NOT_A_BODY:
            # neighbours whose own size is off (a doubled mask next door) are no reference
            near = [m for m in _neighbours(n, sized) if m not in odd_size]
            if near:
                for key, value, limit, idx in (("height", height, HEIGHT_RATIO_LIMIT, 0), ("volume", volume, VOLUME_RATIO_LIMIT, 1)):
                    ratio = value / float(np.median([sizes[m][idx] for m in near]))
                    measures[f"{key}_ratio_to_neighbours"] = round(ratio, 2)
                    scores.append(_room(abs(math.log(ratio)), math.log(limit)))
                    if not 1 / limit <= ratio <= limit:
                        reasons.append(f"body {key} {ratio:.2f} times the median of its neighbours "
                                       f"({', '.join(near)}; allowed {1 / limit:.2f}-{limit:g})")
        if math.isfinite(unit) and n not in NOT_A_BODY:
            spacing_reasons = []
            for m in chain[n]:
                ratio, along = _spacing(n, m, frames, unit)
                measures[f"spacing_ratio_to_{m}"] = round(ratio, 2)
                scores.append(_room(abs(math.log(ratio)), math.log(SPACING_RANGE[1])))
                if along <= 0:
                    spacing_reasons.append(f"centroid {'below' if VERSE_IDS[m] > VERSE_IDS[n] else 'above'} {m}'s: "
                                           "the names are out of order")
                elif not SPACING_RANGE[0] <= ratio <= SPACING_RANGE[1]:
                    spacing_reasons.append(f"centroid {ratio:.2f} times the usual spacing from {m} (allowed "
                                           f"{SPACING_RANGE[0]:g}-{SPACING_RANGE[1]:g})")
            # a moved mask spoils the spacing to both its neighbours; a neighbour has only that one pair wrong
            if spacing_reasons and _spacing_is_own(n, chain, frames, unit):
                reasons.extend(spacing_reasons)
            if len(chain[n]) == 2:
                gaps = [_spacing(n, m, frames, unit)[0] for m in chain[n]]
                off_centre = max(gaps) / max(min(gaps), 1e-6)
                measures["spacing_asymmetry"] = round(off_centre, 2)
                scores.append(_room(math.log(off_centre), math.log(MAX_SPACING_ASYMMETRY)))
                if off_centre > MAX_SPACING_ASYMMETRY:
                    off_centre_reason = (f"centroid off-centre between {chain[n][0]} and {chain[n][1]} (one spacing "
                                   f"{off_centre:.1f} times the other; at most {MAX_SPACING_ASYMMETRY:g})")
        hu = _hu_layers(ct, body_masks[n], labels)
        canal = _canal_hu(ct, body_masks[n], frames[n])
        measures.update({k: round(v, 1) for k, v in {**hu, "canal_hu": canal}.items() if math.isfinite(v)})
        rim_contrast = hu["rim_hu"] - hu["outside_hu"]
        # the HU inside is reported, not judged: osteoporotic trabecular bone may read like the soft tissue around it
        canal_contrast = hu["rim_hu"] - canal if n not in NOT_A_BODY else math.nan
        for value, limit, text in (
                (rim_contrast, MIN_RIM_CONTRAST_HU, "its rim (cortical shell) is only {v:.0f} HU denser than the tissue "
                                                    "outside (at least {l:g} HU for bone)"),
                (canal_contrast, MIN_CANAL_CONTRAST_HU, "no spinal canal behind it (the midline behind the posterior "
                                                        "wall is only {v:.0f} HU darker than the rim; at least {l:g} HU)")):
            if not math.isfinite(value):
                continue
            scores.append(min(1.0, max(0.0, value / (2 * limit))) if value > limit else 0.0)
            if value < limit:
                reasons.append(text.format(v=value, l=limit))
        found[n] = (reasons, scores, measures, off_centre_reason)
    out = {}
    for n, (reasons, scores, measures, off_centre_reason) in found.items():
        # a neighbour moved away bends the spine's axis at this level too: off-centre counts only beside sound ones
        if off_centre_reason and not any(found[m][0] for m in chain.get(n, []) if m in found):
            reasons = reasons + [off_centre_reason]
        confidence = float(min(scores)) if scores else 1.0
        confidence = round(0.5 + 0.5 * confidence if not reasons else min(0.3, 0.3 * confidence), 2)
        out[n] = LevelPlausibility(tuple(reasons), confidence, measures)
    return out


def _room(value: float, limit: float) -> float:
    """1 at 0, falling linearly to 0 at ``limit``."""
    return float(max(0.0, 1.0 - value / limit)) if limit > 0 else 0.0


def _size(box_body, ct: Volume, frame) -> tuple[float, float]:
    """Height along the frame's axis (2nd-98th percentile of the voxel centres plus one voxel, mm) and volume, mL."""
    box, body = box_body
    if not body.any():
        return math.nan, 0.0
    affine = ct.crop(box).affine
    s = (np.argwhere(body) @ affine[:3, :3].T) @ frame.superior
    step = float(np.abs(affine[:3, :3].T @ frame.superior).max())
    return float(np.percentile(s, 98) - np.percentile(s, 2) + step), float(body.sum() * ct.voxel_volume_ml)


def _neighbours(name: str, levels: list[str]) -> list[str]:
    i = levels.index(name) if name in levels else None
    if i is None:
        return []
    return [m for m in levels[max(0, i - NEIGHBOURS):i] + levels[i + 1:i + 1 + NEIGHBOURS]]


def _adjacent(name: str, levels: list[str]) -> list[str]:
    i = levels.index(name)
    return [levels[k] for k in (i - 1, i + 1) if 0 <= k < len(levels)]


def _odd_size(n: str, sized: list[str], sizes: dict) -> bool:
    """Whether ``n``'s height or volume is out of range against all its neighbours (the first pass)."""
    near = _neighbours(n, sized)
    if not near:
        return False
    return any(not 1 / limit <= sizes[n][i] / float(np.median([sizes[m][i] for m in near])) <= limit
               for i, limit in ((0, HEIGHT_RATIO_LIMIT), (1, VOLUME_RATIO_LIMIT)))


def _spacing(n: str, m: str, frames: dict, unit: float) -> tuple[float, float]:
    """Distance of the centroids of ``n`` and ``m`` over the usual spacing for their number of levels apart, and how
    far ``n`` lies on the right side of ``m`` along ``n``'s axis (positive when in order), mm."""
    offset = frames[n].centre_mm - frames[m].centre_mm
    ratio = float(np.linalg.norm(offset)) / (unit * abs(VERSE_IDS[m] - VERSE_IDS[n]))
    along = float(offset @ frames[n].superior) * (1.0 if VERSE_IDS[m] > VERSE_IDS[n] else -1.0)
    return ratio, along


def _spacing_is_own(n: str, chain: dict, frames: dict, unit: float) -> bool:
    """Whether a wrong spacing at ``n`` is ``n``'s fault: every pair of ``n`` is wrong, and with a single neighbour,
    that neighbour's other pairs are right."""
    def wrong(a: str, b: str) -> bool:
        ratio, along = _spacing(a, b, frames, unit)
        return along <= 0 or not SPACING_RANGE[0] <= ratio <= SPACING_RANGE[1]

    if not all(wrong(n, m) for m in chain[n]):
        return False
    if len(chain[n]) == 1:
        m = chain[n][0]
        others = [k for k in chain[m] if k != n]
        return not others or not all(wrong(m, k) for k in others)
    return True


def _unit_spacing(levels: list[str], frames: dict) -> float:
    """Median distance between consecutive centroids per level step (a missing level counts as a step)."""
    steps = [float(np.linalg.norm(frames[a].centre_mm - frames[b].centre_mm)) / max(1, abs(VERSE_IDS[b] - VERSE_IDS[a]))
             for a, b in zip(levels, levels[1:])]
    return float(np.median(steps)) if steps else math.nan


def _hu_layers(ct: Volume, box_body, labels: np.ndarray | None) -> dict:
    """Median HU inside the body (its outer layer removed), of the cortical shell and of the tissue beyond it.

    A mask may end just outside the cortex (TotalSegmentator) or just inside it (a body sub-region drawn inside
    the shell): the shell is the denser of the mask's outer layer and the first layer outside it; the tissue is
    the second and third layers outside (voxels of other labels left out).
    """
    box, body = box_body
    grow = 4
    big = tuple(slice(max(0, b.start - grow), min(n, b.stop + grow)) for b, n in zip(box, ct.shape))
    full = np.zeros(tuple(b.stop - b.start for b in big), dtype=bool)
    full[tuple(slice(b.start - bb.start, b.start - bb.start + n) for b, bb, n in zip(box, big, body.shape))] = body
    values = ct.array[big]
    inner = ndimage.binary_erosion(full)
    first = ndimage.binary_dilation(full)
    third = ndimage.binary_dilation(first, iterations=2)
    free = labels[big] <= 0 if labels is not None else np.ones_like(full)

    def median(mask):
        return float(np.median(values[mask])) if mask.sum() >= 5 else math.nan

    layers = [median(full & ~inner), median(first & ~full & free)]
    layers = [v for v in layers if math.isfinite(v)]
    return {"inside_hu": median(inner), "rim_hu": max(layers) if layers else math.nan,
            "outside_hu": median(third & ~first & free)}


def _canal_hu(ct: Volume, box_body, frame) -> float:
    """Median HU just behind the body's posterior wall near the midline (the spinal canal), NaN outside the image."""
    from spinebq.measure.ct.sampling import sample_values

    box, body = box_body
    part = ct.crop(box)
    points = np.argwhere(body) @ part.affine[:3, :3].T + part.affine[:3, 3]
    rel = points - frame.centre_mm
    p, l, s = rel @ frame.posterior, rel @ frame.left, rel @ frame.superior
    central = (np.abs(l) <= CANAL_HALF_WIDTH_MM) & (np.abs(s) <= 5.0)
    if central.sum() < 3:
        return math.nan
    wall = float(np.percentile(p[central], 95))
    grid = np.arange(-CANAL_HALF_WIDTH_MM, CANAL_HALF_WIDTH_MM + 0.1, 1.0)
    depth = np.arange(CANAL_DEPTH_MM[0], CANAL_DEPTH_MM[1] + 0.1, 1.0)
    dd, ll, ss = np.meshgrid(depth, grid, np.arange(-3.0, 3.1, 1.5), indexing="ij")
    samples = frame.to_mm(ss.ravel(), wall + dd.ravel(), ll.ravel())
    values = sample_values(ct.array, ct.affine, samples)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size >= 10 else math.nan
