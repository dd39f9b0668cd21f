"""Do the vertebra labels given for an MRI fit that image? (``spinebq mri --labels``)

A label map of another scan on the same grid (another patient, or the same patient on another day, resampled to a
common grid as research datasets are) loads without a word, and its bodies then measure whatever lies under them.
The bodies the image itself shows are found by the built-in detection (:func:`spinebq.segment.mri.detect_vertebrae`,
image analysis without trained weights) and each labelled level's body ROI (the trabecular ROI the VBQ reads,
:func:`spinebq.measure.mri.rois.body_roi_mask`) is compared with the nearest ROI of those bodies, whatever their
names (the check is of place, not of level names). On the four real T1 exams of ``../shared/data/lumbar_mri_t1`` each
exam's own labels lie a median 1.1-2.1 mm from the bodies found, another exam's on the same grid 5.4-7.1 mm
(``benchmarks/mri.md``, "Labels of another scan").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from spinebq.errors import SpinebqError
from spinebq.image.volume import Volume

#: Labels whose body ROIs lie further than this (median over the levels, mm) from the bodies the image shows do not
#: fit the image: each exam's own labels lie 1.1-2.1 mm from them, another exam's 5.4 mm or more.
MAX_MEDIAN_OFFSET_MM = 4.0
#: Fewer levels compared than this leave the labels unchecked (one or two bodies give no median to trust).
MIN_LEVELS = 3


@dataclass(frozen=True)
class LabelFit:
    """How the labelled bodies lie against the bodies the image shows.

    Attributes
    ----------
    checked : bool
        False when the image's bodies could not be found (``reason`` says why): the labels are then taken as given.
    fits : bool
        True unless the labels were checked and lie off the image.
    median_offset_mm : float
        Median over the labelled levels of the distance from the level's body ROI centre to the nearest centre of
        a body found in the image (NaN when not checked).
    offsets_mm : dict
        That distance per labelled level, mm.
    reason : str or None
        Why the labels were not checked, or why they do not fit.
    """

    checked: bool
    fits: bool = True
    median_offset_mm: float = math.nan
    offsets_mm: dict[str, float] = field(default_factory=dict)
    reason: str | None = None

    def to_dict(self) -> dict:
        """The ``roi_source.fit`` entry of mri.json."""
        return {"checked": self.checked, "fits": self.fits,
                "median_offset_mm": None if math.isnan(self.median_offset_mm) else round(self.median_offset_mm, 2),
                "max_median_offset_mm": MAX_MEDIAN_OFFSET_MM,
                "offsets_mm": {lv: round(v, 2) for lv, v in self.offsets_mm.items()}, "reason": self.reason,
                "method": "each labelled body ROI against the nearest body ROI the built-in detection finds in the "
                          "image (no trained weights), whatever its level name"}


def check_label_fit(image: Volume, body_rois: dict[str, np.ndarray], *, slab_mm: float, erosion_mm: float,
                    path: str = "image") -> LabelFit:
    """Compare the labelled levels' body ROIs with the bodies the image shows.

    Parameters
    ----------
    image : Volume
        The sagittal T1 image.
    body_rois : dict
        Level name -> boolean body ROI drawn from the labels (on ``image``'s grid).
    slab_mm, erosion_mm : float
        The body ROI's settings (:func:`~spinebq.measure.mri.rois.body_roi_mask`), used for the bodies found too.
    path : str
        The image's name in messages.

    Returns
    -------
    LabelFit
    """
    from spinebq.measure.mri import rois as R
    from spinebq.segment.mri import detect_vertebrae

    spacing = np.asarray(image.spacing_mm, dtype=float)
    labelled = {lv: np.argwhere(roi).mean(axis=0) * spacing for lv, roi in body_rois.items() if roi.any()}
    if len(labelled) < MIN_LEVELS:
        return LabelFit(False, reason=f"fewer than {MIN_LEVELS} labelled body ROIs to compare")
    try:
        found, _ = detect_vertebrae(image, path=path)
    except SpinebqError as exc:
        return LabelFit(False, reason=f"the bodies could not be found in the image to compare ({exc})")
    centres = []
    for vid in np.unique(found.array[found.array > 0]):
        roi, _ = R.body_roi_mask(found.array == vid, image.spacing_mm, slab_mm=slab_mm, erosion_mm=erosion_mm)
        if roi.any():
            centres.append(np.argwhere(roi).mean(axis=0) * spacing)
    if not centres:
        return LabelFit(False, reason="no body was found in the image to compare")
    centres = np.asarray(centres)
    offsets = {lv: float(np.linalg.norm(centres - c, axis=1).min()) for lv, c in labelled.items()}
    median = float(np.median(list(offsets.values())))
    if median <= MAX_MEDIAN_OFFSET_MM:
        return LabelFit(True, True, median, offsets)
    return LabelFit(True, False, median, offsets,
                    f"the labelled bodies lie a median {median:.0f} mm from the bodies this image shows (each exam's own "
                    f"labels: 1-2 mm; more than {MAX_MEDIAN_OFFSET_MM:g} mm does not fit): labels of another scan? "
                    "VBQ, S1-VBQ and PBQ are left out; give the labels drawn on this image, or run without --labels "
                    "(the bodies are then found automatically)")
