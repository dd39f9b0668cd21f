"""MR sequence checks: is this a non-contrast T1-weighted sagittal image, and what shifts VBQ.

The DICOM attributes read here (all optional in practice):
MagneticFieldStrength (0018,0087), RepetitionTime (0018,0080), EchoTime (0018,0081),
InversionTime (0018,0082), SequenceName (0018,0024), ScanningSequence (0018,0020),
SequenceVariant (0018,0021), ScanOptions (0018,0022), PixelBandwidth (0018,0095),
ContrastBolusAgent (0018,0010), SeriesDescription (0008,103E), Manufacturer (0008,0070).

The sequence range recommended for marrow signal (TR 400-850 ms, TE 8-20 ms) and the field
strength dependence of VBQ are summarised in docs/methods.md section 5.1.
"""
from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from spinebq.errors import SpinebqError, SpinebqWarning, option
from spinebq.image.labelmap import label_map_reason
from spinebq.image.volume import Volume
from spinebq.io.dicom import is_zip, unpacked
from spinebq.vocabulary import QcFlag

logger = logging.getLogger("spinebq")

#: Recommended T1 spin-echo range for marrow signal (docs/methods.md section 5.1).
T1_TR_MS = (300.0, 1000.0)
T1_TE_MS = (5.0, 30.0)
#: Field strength at which the VBQ cutoffs in use were derived ([yang2026]: Philips Achieva 3.0 T; [wu2025] does not say).
CUTOFF_FIELD_STRENGTH_T = 3.0

_T2_WORDS = re.compile(r"\b(t2|stir|tirm|flair|pd|proton|dwi|diffusion|adc|t2\*|me?dic|swi)", re.IGNORECASE)
_T1_WORDS = re.compile(r"t1", re.IGNORECASE)
_FATSAT_WORDS = re.compile(r"(fat ?sat|\bfs\b|_fs|fs_|spir|spair|chess|\bfatsat|water|dixon|\bw\b)", re.IGNORECASE)
_CONTRAST_WORDS = re.compile(r"(\+c\b|\bpost\b|gd|gad|contrast|\bce\b|kontrast)", re.IGNORECASE)


def _orientation_hint(volume: Volume) -> str:
    """Why a NIfTI image without orientation can look too small: its axes are not known to be the patient's."""
    from spinebq.io.nifti import NO_ORIENTATION

    if any(str(w).endswith(NO_ORIENTATION) for w in volume.metadata.get("warnings", ())):
        return ("; the NIfTI header holds no orientation (qform and sform codes 0), so which axis runs head to foot "
                "is not known: give the file with its orientation")
    return ""


def read_mr_header(path: str | Path, series_uid: str | None = None) -> dict[str, Any] | None:
    """Read the MR acquisition attributes of the series loaded from ``path``.

    Parameters
    ----------
    path : str or Path
        A DICOM folder, a zip archive of one, or a file. NIfTI files carry no acquisition header: ``None`` is
        returned.
    series_uid : str, optional
        SeriesInstanceUID of the series loaded (``Volume.metadata["series_uid"]``): the attributes are read
        from a file of that series, never from another series of the same folder. Without it, the first file.

    Returns
    -------
    dict or None
        ``field_strength_t``, ``tr_ms``, ``te_ms``, ``ti_ms``, ``flip_angle_deg``, ``pixel_bandwidth_hz``,
        ``sequence_name``, ``scanning_sequence``, ``sequence_variant``, ``scan_options``,
        ``series_description``, ``manufacturer``, ``model``, ``contrast_agent``, ``modality``, ``series_uid``,
        ``study_uid``, ``frame_of_reference_uid``; absent attributes are ``None``. None when no file of the
        series is found.
    """
    import pydicom

    path = Path(path)
    name = path.name.lower()
    if path.is_file() and (name.endswith(".nii") or name.endswith(".nii.gz")):
        return None
    if is_zip(path):
        with unpacked(path) as folder:
            return read_mr_header(folder, series_uid)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        try:
            ds = pydicom.dcmread(file, stop_before_pixels=True)
        except Exception:  # not DICOM: try the next file
            continue
        if "Modality" not in ds and "SeriesInstanceUID" not in ds:
            continue
        if series_uid is not None and _text(ds, "SeriesInstanceUID") != series_uid:
            continue
        return {
            "series_uid": _text(ds, "SeriesInstanceUID"),
            "study_uid": _text(ds, "StudyInstanceUID"),
            "frame_of_reference_uid": _text(ds, "FrameOfReferenceUID"),
            "modality": _text(ds, "Modality"),
            "manufacturer": _text(ds, "Manufacturer"),
            "model": _text(ds, "ManufacturerModelName"),
            "field_strength_t": _number(ds, "MagneticFieldStrength"),
            "tr_ms": _number(ds, "RepetitionTime"),
            "te_ms": _number(ds, "EchoTime"),
            "ti_ms": _number(ds, "InversionTime"),
            "flip_angle_deg": _number(ds, "FlipAngle"),
            "pixel_bandwidth_hz": _number(ds, "PixelBandwidth"),
            "sequence_name": _text(ds, "SequenceName"),
            "scanning_sequence": _text(ds, "ScanningSequence"),
            "sequence_variant": _text(ds, "SequenceVariant"),
            "scan_options": _text(ds, "ScanOptions"),
            "series_description": _text(ds, "SeriesDescription"),
            "contrast_agent": _text(ds, "ContrastBolusAgent"),
        }
    return None


def _text(ds, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _number(ds, keyword: str) -> float | None:
    value = ds.get(keyword)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _words(header: dict[str, Any]) -> str:
    """Series description, sequence name and scan options, joined (where sequences name their weighting)."""
    return " ".join(str(header.get(k) or "") for k in ("series_description", "sequence_name", "scan_options"))


def _refuse_non_mr(volume: Volume, header: dict[str, Any], path: str | Path, *, needed: str) -> None:
    """Raise :class:`SpinebqError` for an image whose header names another modality, or a CT told by its values."""
    modality = header.get("modality") or volume.metadata.get("modality")
    if modality and str(modality).upper() != "MR":
        raise SpinebqError(f"{path}: the image is {modality}, but {needed} is needed")
    low = float(np.percentile(volume.array, 0.5))
    if modality is None and low < -500:
        raise SpinebqError(f"{path}: this looks like a CT in Hounsfield units (values down to {low:.0f}), but {needed} is needed")


def _refuse_label_map(volume: Volume, path: str | Path) -> None:
    """Raise :class:`SpinebqError` for a label map given where an MR image is needed."""
    reason = label_map_reason(volume.array)
    if reason:
        raise SpinebqError(f"{path}: this is a label map, not an MR image ({reason}); give the MR image, and a label "
                           f"map as {option('labels')}")


def _refuse_non_t1(header: dict[str, Any], path: str | Path, *, needed: str) -> None:
    """Raise :class:`SpinebqError` when the MR header names or times a sequence that is not T1-weighted.

    Parameters
    ----------
    header : dict
        MR attributes from :func:`read_mr_header`.
    path : str or Path
        The input, named in the message.
    needed : str
        Why T1 is needed, ending the message (``"VBQ and PBQ are defined on non-contrast sagittal T1"``).
    """
    words = _words(header)
    tr, te, ti = header.get("tr_ms"), header.get("te_ms"), header.get("ti_ms")
    if _T2_WORDS.search(words) and not _T1_WORDS.search(words):
        raise SpinebqError(f"{path}: the series is described as {words.strip()!r}, not a T1-weighted sequence; {needed}")
    if te is not None and te > 40:
        raise SpinebqError(f"{path}: echo time {te:g} ms is that of a T2-weighted sequence (T1 uses about 8-20 ms); {needed}")
    if tr is not None and tr > 2000 and not (ti is not None and ti > 0):
        raise SpinebqError(
            f"{path}: repetition time {tr:g} ms is that of a T2- or PD-weighted sequence (T1 uses about 400-850 ms); {needed}"
        )
    if ti is not None and 100 < ti < 250:
        raise SpinebqError(f"{path}: inversion time {ti:g} ms is that of a STIR sequence, not a T1-weighted one")


def _is_fat_suppressed(header: dict[str, Any]) -> bool:
    """True when the series description, sequence name or scan options name a fat-suppression technique."""
    words = _words(header)
    return bool(_FATSAT_WORDS.search(words)) or "FS" in str(header.get("scan_options") or "").upper().split("\\")


def check_sequence(volume: Volume, header: dict[str, Any] | None, path: str | Path) -> dict[str, Any]:
    """Refuse what is not a sagittal T1-weighted MR image and describe the sequence.

    Parameters
    ----------
    volume : Volume
        The loaded image (canonical LPS array).
    header : dict or None
        MR attributes from :func:`read_mr_header` (``None`` for NIfTI input).
    path : str or Path
        The input, named in error messages.

    Returns
    -------
    dict
        The ``input`` section of ``mri.json``: weighting decision and how it was made, field strength,
        TR/TE, vendor, fat suppression, contrast and the ``flags`` (:class:`~spinebq.vocabulary.QcFlag` codes) that
        the literature says shift VBQ, with their sentences in ``flag_notes``.

    Raises
    ------
    SpinebqError
        For a CT, a sequence the header names as T2/STIR/PD/diffusion, TR/TE of a T2-weighted
        acquisition, a single slice, or an image too small to hold a lumbar spine.
    """
    header = dict(header or {})
    _refuse_non_mr(volume, header, path, needed="a sagittal T1-weighted MR image")
    _refuse_label_map(volume, path)
    shape = volume.shape
    spacing = volume.spacing_mm
    if min(shape) < 2:
        raise SpinebqError(f"{path}: a single slice (shape {shape}) is not enough; a sagittal series of several slices is needed")
    extent_mm = [n * s for n, s in zip(shape, spacing)]
    if extent_mm[2] < 100 or extent_mm[1] < 60:
        raise SpinebqError(
            f"{path}: the image covers only {extent_mm[1]:.0f} mm front-to-back and {extent_mm[2]:.0f} mm head-to-foot, "
            "too little for a lumbar spine (L1 to S1 needs about 180 mm)" + _orientation_hint(volume)
        )
    flags: dict[QcFlag, str] = {}
    words = _words(header)
    tr, te, ti = header.get("tr_ms"), header.get("te_ms"), header.get("ti_ms")
    weighting, how = "unknown", "no acquisition header (NIfTI input)"
    if header:
        _refuse_non_t1(header, path, needed="VBQ and PBQ are defined on non-contrast sagittal T1")
        if _T1_WORDS.search(words) or (tr is not None and te is not None):
            weighting, how = "T1", "from the header (" + ", ".join(
                p for p in (f"description {words.strip()!r}" if words.strip() else "",
                            f"TR {tr:g} ms" if tr is not None else "", f"TE {te:g} ms" if te is not None else "") if p) + ")"
        else:
            how = "the header names no weighting and no TR/TE"
        if tr is not None and not (T1_TR_MS[0] <= tr <= T1_TR_MS[1]):
            flags[QcFlag.TR_OUTSIDE_RECOMMENDED_RANGE] = f"TR {tr:g} ms outside 400-850 ms (docs/methods.md section 5.1)"
        if te is not None and not (T1_TE_MS[0] <= te <= T1_TE_MS[1]):
            flags[QcFlag.TE_OUTSIDE_RECOMMENDED_RANGE] = f"TE {te:g} ms outside 8-20 ms (docs/methods.md section 5.1)"
    if weighting == "unknown":
        warnings.warn(
            f"{path}: the weighting cannot be read from the file ({how}); it is assumed to be T1 and checked on the image "
            "(CSF must be darker than marrow)",
            SpinebqWarning,
            stacklevel=2,
        )
        flags[QcFlag.WEIGHTING_NOT_IN_HEADER] = QcFlag.WEIGHTING_NOT_IN_HEADER.sentence
    fat_suppressed = _is_fat_suppressed(header)
    if fat_suppressed:
        flags[QcFlag.FAT_SUPPRESSED] = QcFlag.FAT_SUPPRESSED.sentence
    contrast = header.get("contrast_agent") or (words if _CONTRAST_WORDS.search(words) else None)
    if contrast:
        flags[QcFlag.CONTRAST_ENHANCED] = QcFlag.CONTRAST_ENHANCED.sentence
    field = header.get("field_strength_t")
    if field is None:
        flags[QcFlag.FIELD_STRENGTH_UNKNOWN] = QcFlag.FIELD_STRENGTH_UNKNOWN.sentence
    elif abs(field - CUTOFF_FIELD_STRENGTH_T) > 0.25:
        flags[QcFlag.FIELD_STRENGTH_OTHER] = (f"measured at {field:g} T: {QcFlag.FIELD_STRENGTH_OTHER.sentence}")
    orientation = "sagittal" if spacing[0] >= max(spacing[1], spacing[2]) - 1e-6 else "not_sagittal"
    if orientation != "sagittal":
        flags[QcFlag.NOT_SAGITTAL] = QcFlag.NOT_SAGITTAL.sentence
    return {
        "modality": "MR",
        "weighting": weighting,
        "weighting_source": how,
        "field_strength_t": field,
        "tr_ms": tr,
        "te_ms": te,
        "ti_ms": ti,
        "pixel_bandwidth_hz": header.get("pixel_bandwidth_hz"),
        "manufacturer": header.get("manufacturer") or volume.metadata.get("manufacturer"),
        "model": header.get("model") or volume.metadata.get("model"),
        "sequence_name": header.get("sequence_name"),
        "series_description": header.get("series_description") or volume.metadata.get("series_description"),
        "fat_suppressed": fat_suppressed if header else None,
        "contrast_agent": contrast,
        "format": volume.metadata.get("format"),
        "shape": list(shape),
        "spacing_mm": [round(s, 4) for s in spacing],
        "orientation": orientation,
        "flags": [code.value for code in flags],
        "flag_notes": {code.value: note for code, note in flags.items()},
    }


#: The canonical array axis that runs head to foot, and the plane of slices stacked along each canonical axis.
HEAD_FOOT_AXIS = 2
SLICE_PLANES = ("sagittal", "coronal", "axial")


def file_slice_axis(volume: Volume) -> int | None:
    """The canonical axis along which the image file or series stacks its slices, if the loader recorded it.

    Parameters
    ----------
    volume : Volume
        A loaded image; a NIfTI input records its file axes in ``metadata["source_axes"]`` (the slices are its
        third axis), a DICOM series the axis of its slice normal in ``metadata["slice_axis"]``.

    Returns
    -------
    int or None
        0 (left-right: sagittal slices), 1 (front-back: coronal) or 2 (head-foot: axial); None without a record
        (an image built in memory).
    """
    axes = volume.metadata.get("source_axes")
    if axes:
        return int(axes[2][0])
    stacked = volume.metadata.get("slice_axis")
    return int(stacked) if stacked is not None else None


def check_axial(volume: Volume, header: dict[str, Any] | None, path: str | Path) -> dict[str, Any]:
    """Refuse what is not an axial T1-weighted MR series (for the paraspinal muscle fat) and describe it.

    Parameters
    ----------
    volume : Volume
        The loaded axial series (canonical LPS array).
    header : dict or None
        MR attributes from :func:`read_mr_header` (``None`` for NIfTI input).
    path : str or Path
        The input, named in error messages.

    Returns
    -------
    dict
        ``source``, ``weighting_source``, ``series_description``, ``shape``, ``spacing_mm``.

    Raises
    ------
    SpinebqError
        For a CT, a sequence that is not T1-weighted or is fat-suppressed, or slices that are not axial.
    """
    header = dict(header or {})
    needed = "the muscle fat fraction is read from T1 signal"
    _refuse_non_mr(volume, header, path, needed="an axial T1-weighted MR series")
    if header:
        _refuse_non_t1(header, path, needed=needed)
        if _is_fat_suppressed(header):
            raise SpinebqError(f"{path}: the axial series is fat-suppressed ({_words(header).strip()!r}); {needed}")
    spacing = volume.spacing_mm
    if spacing[2] < 0.9 * max(spacing[0], spacing[1]):
        raise SpinebqError(
            f"{path}: the image is not an axial series (its thickest voxel axis is not head-to-foot; voxel "
            f"{' x '.join(f'{s:.2g}' for s in spacing)} mm); give the axial T1 series of the same exam"
        )
    stacked = file_slice_axis(volume)
    if stacked is not None and stacked != HEAD_FOOT_AXIS:
        raise SpinebqError(
            f"{path}: the image is not an axial series (the file stacks {SLICE_PLANES[stacked]} slices); give the "
            "axial T1 series of the same exam"
        )
    return {
        "source": str(path),
        "weighting_source": "from the header" if header else "no acquisition header (NIfTI input): T1 assumed",
        "series_description": header.get("series_description") or volume.metadata.get("series_description"),
        "shape": list(volume.shape),
        "spacing_mm": [round(s, 4) for s in spacing],
    }
