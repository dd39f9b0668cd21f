"""Does an axial series belong to the same exam as the sagittal one? (``spinebq mri --axial``)

Muscle fat is read on the axial series at the disc levels found on the sagittal one, through the two images'
patient coordinates; that only holds when both come from one exam, in one frame of reference.

* DICOM with UIDs: StudyInstanceUID and FrameOfReferenceUID must both match where both series carry them
  (a series of another exam, or of the same exam after the patient was repositioned, is refused);
* otherwise (NIfTI, no UIDs): by geometry and image. The axial stack must contain the centre of at least one
  disc of the sagittal series, and where the two overlap behind the discs their signals must agree: the
  Pearson correlation of the axial voxels with the sagittal image sampled at the same points must reach
  :data:`MIN_CORRELATION` (two T1 series of one exam correlate highly; another patient's anatomy, even
  placed in the same coordinates, does not). The output says which check was made.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from spinebq.errors import SpinebqError
from spinebq.image.volume import Volume

#: Two series of one exam correlate at least this well where they overlap around the discs.
MIN_CORRELATION = 0.5
#: The region compared around each disc centre: left-right half width, front, back and head-foot half height, mm.
REGION_MM = {"half_width": 40.0, "front": 20.0, "back": 60.0, "half_height": 10.0}


def check_same_exam(sagittal: Volume, sagittal_header: dict[str, Any] | None, axial: Volume,
                    axial_header: dict[str, Any] | None, disc_centres_mm: list[np.ndarray], *, path,
                    axial_path) -> dict[str, Any]:
    """Refuse an axial series of another exam; say how it was recognised as the same one.

    Parameters
    ----------
    sagittal, axial : Volume
        The two series.
    sagittal_header, axial_header : dict or None
        Their MR headers (:func:`spinebq.io.mr_header.read_mr_header`; None for NIfTI).
    disc_centres_mm : list of numpy.ndarray
        Centres of the sagittal series' disc levels (behind the discs, on the midline), LPS mm; empty when the
        levels are unknown (the geometric check is then skipped and said so).
    path, axial_path : str or Path
        The inputs, named in the message.

    Returns
    -------
    dict
        ``same_exam_check`` (``uids``, ``geometry_and_image`` or ``none``), ``same_exam_note`` and, by geometry,
        ``correlation``.

    Raises
    ------
    SpinebqError
        One sentence naming the axial input and why it is not of the same exam.
    """
    sag, ax = dict(sagittal_header or {}), dict(axial_header or {})
    checked = []
    for key, name in (("study_uid", "StudyInstanceUID"), ("frame_of_reference_uid", "FrameOfReferenceUID")):
        a, b = sag.get(key), ax.get(key)
        if a and b:
            if a != b:
                raise SpinebqError(
                    f"{axial_path}: the axial series is of another exam than {path} (its {name} differs from the "
                    "sagittal series'); give the axial T1 series of the same exam")
            checked.append(name)
    if checked:
        return {"same_exam_check": "uids", "same_exam_note": f"{' and '.join(checked)} match the sagittal series'"}
    if not disc_centres_mm:
        return {"same_exam_check": "none",
                "same_exam_note": "no UIDs to compare and no disc level located: not checked"}
    inside = [c for c in disc_centres_mm if _inside(axial, c)]
    if not inside:
        raise SpinebqError(
            f"{axial_path}: the axial series does not reach any disc level of {path} (no UIDs to compare: checked by "
            "geometry); give the axial T1 series of the same exam, in the same frame of reference")
    r = _correlation(sagittal, axial, inside)
    if not np.isfinite(r) or r < MIN_CORRELATION:
        raise SpinebqError(
            f"{axial_path}: the axial series does not show the same anatomy as {path} where they overlap behind the "
            f"discs (signal correlation {r:.2f}, below {MIN_CORRELATION}; no UIDs to compare); give the axial T1 series "
            "of the same exam")
    return {"same_exam_check": "geometry_and_image", "correlation": round(float(r), 3),
            "same_exam_note": (f"no UIDs to compare (NIfTI): the axial stack reaches {len(inside)} disc level(s) and "
                               f"its signal correlates with the sagittal series' there (r = {r:.2f})")}


def _inside(volume: Volume, point_mm: np.ndarray) -> bool:
    ijk = volume.mm_to_index(np.asarray(point_mm, float))
    return bool(np.all(ijk >= -0.5) and np.all(ijk <= np.array(volume.shape) - 0.5))


def _correlation(sagittal: Volume, axial: Volume, centres_mm: list[np.ndarray]) -> float:
    """Pearson correlation of the axial voxels around the disc centres with the sagittal image at the same points."""
    a_values, s_values = [], []
    for centre in centres_mm:
        lo = axial.mm_to_index(centre - np.array([REGION_MM["half_width"], REGION_MM["front"], REGION_MM["half_height"]]))
        hi = axial.mm_to_index(centre + np.array([REGION_MM["half_width"], REGION_MM["back"], REGION_MM["half_height"]]))
        box = [np.arange(max(0, int(np.floor(min(l, h)))), min(n, int(np.ceil(max(l, h))) + 1))
               for l, h, n in zip(lo, hi, axial.shape)]
        if any(b.size == 0 for b in box):
            continue
        ijk = np.stack(np.meshgrid(*box, indexing="ij"), axis=-1).reshape(-1, 3)
        ijk = ijk[:: max(1, len(ijk) // 20000)]
        src = sagittal.mm_to_index(axial.index_to_mm(ijk.astype(float)))
        ok = np.all((src >= 0) & (src <= np.array(sagittal.shape) - 1), axis=1)
        if not ok.any():
            continue
        a_values.append(axial.array[tuple(ijk[ok].T)].astype(float))
        s_values.append(ndimage.map_coordinates(sagittal.array.astype(np.float32), src[ok].T, order=1))
    if not a_values:
        return float("nan")
    a, s = np.concatenate(a_values), np.concatenate(s_values)
    if a.size < 100 or a.std() == 0 or s.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, s)[0, 1])
