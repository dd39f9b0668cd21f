"""Loading and saving images: :func:`load_volume` (NIfTI file or DICOM folder, brought to the canonical LPS
layout), :func:`save_nifti`, and the modality check of what was loaded."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from spinebq.errors import SpinebqError, option
from spinebq.image.labelmap import label_map_reason
from spinebq.image.volume import RAS_TO_LPS, Volume


def save_nifti(volume: Volume, path: str | Path, *, dtype: Any = None) -> Path:
    """Write ``volume`` as NIfTI (RAS affine, as the format expects); return the path.

    An integer ``dtype`` gets floating-point values rounded to the nearest integer and clipped to its range (a cast
    alone would truncate every HU towards zero and wrap values beyond the range).
    """
    path = Path(path)
    array = volume.array
    if dtype is not None:
        if np.issubdtype(np.dtype(dtype), np.integer) and np.issubdtype(array.dtype, np.floating):
            limits = np.iinfo(dtype)
            array = np.clip(np.rint(array), limits.min, limits.max)
        array = array.astype(dtype)
    image = nib.Nifti1Image(array, RAS_TO_LPS @ volume.affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    nib.save(image, str(path))
    return path


def load_volume(path: str | Path, *, series_uid: str | None = None, expect_modality: str | None = None) -> Volume:
    """Load a NIfTI file or a DICOM folder/file into a canonical :class:`Volume`.

    Parameters
    ----------
    path : str or Path
        A ``.nii``/``.nii.gz`` file, a DICOM folder (searched recursively) or one DICOM file of a series.
    series_uid : str, optional
        SeriesInstanceUID to load when a DICOM folder holds several series.
    expect_modality : {"CT", "MR"}, optional
        Refuse an image whose header names another modality.

    Raises
    ------
    SpinebqError
        When the path cannot be read as an image; the message names the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise SpinebqError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.is_file() and (name.endswith(".nii") or name.endswith(".nii.gz")):
        from spinebq.io.nifti import load_nifti

        volume = load_nifti(path)
    else:
        from spinebq.io.dicom import load_dicom

        volume = load_dicom(path, series_uid=series_uid, modality=expect_modality)
    if expect_modality is not None:
        check_modality(volume, expect_modality, path)
    return volume


def check_modality(volume: Volume, expected: str, path: str | Path) -> None:
    """Raise :class:`SpinebqError` when ``volume`` is not of the ``expected`` modality.

    The header's Modality decides when present. Otherwise a CT is recognised by its values
    (:func:`ct_like_values`): air near -1000 HU, or, in a field of view cropped tightly to the spine, fat
    (-200 to -30 HU) and bone (above 150 HU) side by side, which an MR image in signal units never has.
    """
    modality = volume.metadata.get("modality")
    if modality and modality != expected:
        raise SpinebqError(f"{path}: the image is {modality}, but a {expected} is needed here")
    if modality is None and expected == "CT":
        reason = ct_like_values(volume.array)
        labels = reason and label_map_reason(volume.array)
        if labels:
            raise SpinebqError(f"{path}: this is a label map, not a CT image ({labels}); give the CT image, and a "
                               f"label map as {option('labels')}")
        if reason and intercept_lost(volume.array):
            raise SpinebqError(lost_intercept_message(path))
        if reason:
            raise SpinebqError(f"{path}: this does not look like a CT in Hounsfield units ({reason}); is it an MR "
                               f"image? (give {option('modality')} CT if it is a CT)")
        volume.metadata["modality"] = "CT"


#: What a CT converted without its DICOM rescale intercept (-1024) holds: Hounsfield units plus this.
LOST_INTERCEPT_HU = 1024.0
#: Fat and soft tissue span -150..150 HU: the middle of a CT's non-air voxels lies there.
TISSUE_HU = (-150.0, 150.0)


def intercept_lost(array: np.ndarray) -> bool:
    """True when the values look like Hounsfield units plus :data:`LOST_INTERCEPT_HU` (a CT converted without its
    rescale intercept): none below -100 (air near 0, not -1000), at least 30 % of the voxels above 500 (the body) and
    their median within :data:`TISSUE_HU` once :data:`LOST_INTERCEPT_HU` is taken off.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> body = np.concatenate([rng.normal(-1000, 20, 5000), rng.normal(40, 20, 8000), rng.normal(400, 80, 2000)])
    >>> intercept_lost(body), intercept_lost(body + LOST_INTERCEPT_HU)
    (False, True)
    """
    sample = np.asarray(array).ravel(order="K")
    sample = sample[:: max(1, sample.size // 2_000_000)].astype(np.float32)
    body = sample[sample > 500]
    if np.percentile(sample, 1) < -100 or body.size < 0.3 * sample.size:
        return False
    return bool(TISSUE_HU[0] <= np.median(body) - LOST_INTERCEPT_HU <= TISSUE_HU[1])


def lost_intercept_message(path: str | Path) -> str:
    """The refusal of a CT whose values are Hounsfield units plus :data:`LOST_INTERCEPT_HU`."""
    return (f"{path}: the values look like Hounsfield units plus {LOST_INTERCEPT_HU:.0f} (air near 0, soft tissue near "
            f"{LOST_INTERCEPT_HU:.0f}): the DICOM rescale intercept was lost when the image was converted; convert "
            "the series again keeping it (dcm2niix does), or give the DICOM folder")


#: Share of voxels that must be fat (-200 to -30 HU) and bone (above 150 HU) for a CT without air.
CT_TISSUE_MIN_FRACTION = 0.005


def ct_like_values(array: np.ndarray) -> str | None:
    """None when the values look like CT Hounsfield units, else why not (a few words).

    Air (1st percentile below -500 HU) is enough. Without air (a CT cropped tightly to the spine) the values
    must lie within -1100..4000 HU for 98 % of the voxels and hold both fat and bone.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spine = np.concatenate([rng.normal(-100, 20, 5000), rng.normal(40, 20, 5000), rng.normal(300, 80, 3000)])
    >>> ct_like_values(spine) is None
    True
    >>> ct_like_values(rng.uniform(0, 800, 10000))
    'no air near -1000 HU and no fat below -30 HU'
    """
    sample = np.asarray(array).ravel(order="K")
    sample = sample[:: max(1, sample.size // 2_000_000)].astype(np.float32)
    low, high = np.percentile(sample, [1, 99])
    if low < -500:
        return None
    if low < -1100 or high > 4000:
        return f"values {low:.0f} to {high:.0f} are no HU range"
    fat = float(np.mean((sample >= -200) & (sample <= -30)))
    bone = float(np.mean(sample > 150))
    if fat < CT_TISSUE_MIN_FRACTION:
        return "no air near -1000 HU and no fat below -30 HU"
    if bone < CT_TISSUE_MIN_FRACTION:
        return "no air near -1000 HU and no bone above 150 HU"
    return None
