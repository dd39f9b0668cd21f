"""DICOM series loading: find the CT (or MR) series in a folder and build a canonical Volume.

Geometry comes from ImagePositionPatient (0020,0032) and ImageOrientationPatient (0020,0037) of
every slice, never from SliceThickness (0018,0050). Irregular spacing, missing slices and gantry
tilt are detected; the first two are reported and the stack is resampled onto a regular grid, a
tilted stack is resampled onto an orthogonal grid. Values are converted to HU with RescaleSlope
(0028,1053) and RescaleIntercept (0028,1052).
"""
from __future__ import annotations

import logging
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from scipy import ndimage

from spinebq.errors import OptionError, SpinebqError
from spinebq.image.volume import Volume, to_canonical

logger = logging.getLogger("spinebq")

#: Slice-spacing deviation (fraction of the median) above which spacing counts as irregular.
SPACING_TOLERANCE = 0.05
#: Angle between the slice-stacking direction and the slice normal above which the stack is tilted.
TILT_TOLERANCE_DEG = 0.5
#: A zip archive of DICOM files unpacking to more than this many bytes is refused before it is unpacked (a whole-body
#: CT of MAX_IMAGE_VOXELS int16 voxels is 3 GB; four times that leaves room for other series). spinebq's choice [M].
MAX_ZIP_UNPACKED_BYTES = 12 * 2**30


def is_zip(path: Path) -> bool:
    """Whether ``path`` is a zip archive (a DICOM series is often exchanged as one), or is named as one."""
    return path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path))


@contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """The files of the zip archive ``path`` in a temporary folder, removed on leaving the ``with`` block.

    Member names that would leave the folder (absolute, ``..``) are kept inside it, as :mod:`zipfile` extracts.

    Raises
    ------
    SpinebqError
        When the archive cannot be read, or would unpack to more than :data:`MAX_ZIP_UNPACKED_BYTES`.
    """
    unreadable = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError)
    try:
        archive = zipfile.ZipFile(path)
    except unreadable as exc:
        raise SpinebqError(f"{path}: the zip archive cannot be read ({type(exc).__name__}: {exc})") from None
    with archive, tempfile.TemporaryDirectory(prefix="spinebq-zip-") as folder:
        size = sum(member.file_size for member in archive.infolist())
        if size > MAX_ZIP_UNPACKED_BYTES:
            raise SpinebqError(f"{path}: the zip archive would unpack to {size / 2**30:.0f} GB, more than "
                               f"{MAX_ZIP_UNPACKED_BYTES / 2**30:.0f} GB; unpack it and give the folder")
        try:
            archive.extractall(folder)
        except unreadable as exc:  # a damaged member
            raise SpinebqError(f"{path}: the zip archive cannot be read ({type(exc).__name__}: {exc})") from None
        yield Path(folder)


@contextmanager
def _zip_named(path: Path, folder: Path) -> Iterator[None]:
    """Messages about files unpacked into ``folder`` name the zip archive ``path`` instead."""
    try:
        yield
    except SpinebqError as exc:
        raise SpinebqError(str(exc).replace(str(folder), str(path))) from None


@dataclass
class _Header:
    path: Path
    dataset: pydicom.Dataset


def _read_headers(paths: list[Path]) -> tuple[list[_Header], int]:
    headers, skipped = [], 0
    for path in paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # pydicom raises many types on damaged or foreign files: they are not part of a series
            skipped += 1
            continue
        headers.append(_Header(path, ds))
    return headers, skipped


def _is_volume_slice(ds: pydicom.Dataset) -> bool:
    try:
        image_type = [str(v).upper() for v in ds.get("ImageType", [])]
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except Exception:  # an unreadable ImageType or NumberOfFrames: not a slice of a volume
        return False
    return (
        "Rows" in ds
        and "ImagePositionPatient" in ds
        and "ImageOrientationPatient" in ds
        and "LOCALIZER" not in image_type
        and frames == 1
    )


def _numbers(h: _Header, keyword: str, count: int) -> np.ndarray:
    """The ``count`` finite numbers of a multi-valued attribute; SpinebqError naming the file otherwise."""
    try:
        value = h.dataset.get(keyword)
        values = np.array([float(v) for v in (value if isinstance(value, (list, tuple, pydicom.multival.MultiValue))
                                              else [value])], dtype=float)
    except Exception:
        values = np.array([])
    if values.shape != (count,) or not np.all(np.isfinite(values)):
        raise SpinebqError(f"{h.path}: {keyword} is not {count} readable numbers ({_shown(h.dataset, keyword)})")
    return values


def _shown(ds: pydicom.Dataset, keyword: str) -> str:
    try:
        text = str(ds.get(keyword))
    except Exception:
        text = "unreadable"
    return text[:60]


def _normal(ds: pydicom.Dataset) -> np.ndarray:
    try:
        iop = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=float)
        return np.cross(iop[:3], iop[3:])
    except Exception:  # unreadable: checked with the file named when the series is built
        return np.zeros(3)


def _group_series(headers: list[_Header]) -> dict[str, list[_Header]]:
    """The volume slices by SeriesInstanceUID, each image once: a file repeating the SOPInstanceUID of an earlier
    file of its series (a study exported or copied twice into the folder) is left out."""
    groups: dict[str, list[_Header]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for h in headers:
        if _is_volume_slice(h.dataset):
            series = str(h.dataset.get("SeriesInstanceUID", "unknown"))
            instance = str(h.dataset.get("SOPInstanceUID", "") or "")
            if instance and (series, instance) in seen:
                continue
            seen.add((series, instance))
            groups[series].append(h)
    return dict(groups)


def _uid_shown(uid: str) -> str:
    """A series UID as the user types it after --series; a blank one (anonymised series) as ``""`` with a word."""
    return uid if uid else '"" (the series has no SeriesInstanceUID)'


def _describe(uid: str, group: list[_Header]) -> dict:
    ds = group[0].dataset
    axial = abs(_normal(ds)[2]) > 0.8
    return {
        "series_uid": uid,
        "modality": str(ds.get("Modality", "")),
        "slices": len(group),
        "axial": bool(axial),
        "description": str(ds.get("SeriesDescription", "")),
    }


def load_dicom(path: str | Path, *, series_uid: str | None = None, modality: str | None = None) -> Volume:
    """Load one DICOM series into a canonical :class:`Volume` (values in HU for CT).

    Parameters
    ----------
    path : str or Path
        A folder searched recursively (non-DICOM files are ignored), a zip archive of such a folder, or one file of
        the series.
    series_uid : str, optional
        The SeriesInstanceUID to load. Without it the axial series with the most slices is chosen
        (CT preferred) and ``metadata["series_choice"]`` says so.
    modality : str, optional
        Only consider series of this modality.
    """
    path = Path(path)
    if is_zip(path):
        with unpacked(path) as folder, _zip_named(path, folder):
            volume = load_dicom(folder, series_uid=series_uid, modality=modality)
        volume.metadata["source"] = str(path)
        return volume
    if path.is_file():
        headers, _ = _read_headers([path])
        if not headers:
            raise SpinebqError(f"{path}: not a DICOM file (and not a .nii/.nii.gz image); give the image itself, "
                                   "a DICOM folder or file or a .nii/.nii.gz file")
        series_uid = series_uid or str(headers[0].dataset.get("SeriesInstanceUID", ""))
        folder = path.parent
    else:
        folder = path
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    if not paths:
        raise SpinebqError(f"{folder}: the folder is empty")
    headers, skipped = _read_headers(paths)
    if not headers:
        raise SpinebqError(f"{folder}: no DICOM file found among {len(paths)} files")
    groups = _group_series(headers)
    if modality is not None:
        groups = {uid: g for uid, g in groups.items() if str(g[0].dataset.get("Modality", "")) == modality}
    if not groups:
        kinds = sorted({str(h.dataset.get("Modality", "?")) for h in headers})
        wanted = f"{modality} " if modality else ""
        raise SpinebqError(
            f"{folder}: no {wanted}image series with slice positions found (DICOM modalities present: {', '.join(kinds)})"
        )
    if series_uid is None and not path.is_file():
        _refuse_mixed_folder(groups, folder)
    chosen_uid, choice_note = _choose_series(groups, series_uid, folder)
    volume = _build_volume(groups[chosen_uid])
    volume.metadata["series_choice"] = choice_note
    volume.metadata["ignored_files"] = skipped + sum(len(g) for uid, g in groups.items() if uid != chosen_uid)
    volume.metadata["source"] = str(path)
    return volume


def _refuse_mixed_folder(groups: dict[str, list[_Header]], folder: Path) -> None:
    """Refuse a folder whose image series belong to several patients or studies: list them and ask for --series.

    Patients are named by number only (pseudonymous); each series by its UID, description and slice count.
    """
    def who(g: list[_Header]) -> tuple[str, str]:
        ds = g[0].dataset
        return str(ds.get("PatientID", "") or ""), str(ds.get("StudyInstanceUID", "") or "")

    patients = sorted({who(g)[0] for g in groups.values()})
    studies = {who(g) for g in groups.values()}
    if len(patients) < 2 and len(studies) < 2:
        return
    listed = []
    for uid, g in sorted(groups.items(), key=lambda item: (patients.index(who(item[1])[0]), item[0])):
        d = _describe(uid, g)
        listed.append(f"{_uid_shown(uid)} (patient {patients.index(who(g)[0]) + 1}, {d['modality'] or '?'}, "
                      f"'{d['description'] or 'no description'}', {d['slices']} slices)")
    raise OptionError("series_uid", f"{folder} holds {len(patients)} patient(s) and {len(studies)} study(ies) in "
                      f"{len(groups)} image series, and spinebq does not choose between patients or studies; "
                      f"give one series UID: {'; '.join(listed)}")


def _choose_series(groups: dict[str, list[_Header]], series_uid: str | None, folder: Path) -> tuple[str, str]:
    if series_uid is not None:
        if series_uid not in groups:
            raise OptionError("series_uid", f"{folder}: no image series with SeriesInstanceUID {series_uid}; "
                                            f"found {', '.join(map(_uid_shown, groups))}")
        return series_uid, f"series {series_uid} as requested"
    described = [_describe(uid, g) for uid, g in groups.items()]
    described.sort(key=lambda d: (d["modality"] == "CT", d["axial"], d["slices"]), reverse=True)
    best = described[0]
    if len(described) == 1:
        return best["series_uid"], "the only image series in the folder"
    others = "; ".join(f"{_uid_shown(d['series_uid'])} ({d['modality']}, {d['slices']} slices)" for d in described[1:])
    note = (
        f"{len(described)} series found; chose {_uid_shown(best['series_uid'])} ({best['modality']}, "
        f"{best['slices']} slices, {'axial' if best['axial'] else 'not axial'}); others: {others}. "
        "Give another series UID to choose another."
    )
    logger.info(note)
    return best["series_uid"], note


def _build_volume(group: list[_Header]) -> Volume:
    first = group[0].dataset
    patients = {str(h.dataset.get("PatientID", "") or "") for h in group}
    if len(patients) > 1:
        uid = str(first.get("SeriesInstanceUID", "") or "")
        raise SpinebqError(f"{group[0].path.parent}: the series{' ' + uid if uid else ''} holds the "
                           f"images of {len(patients)} patients (its files name different PatientIDs), and spinebq "
                           "does not mix patients; put each patient's files in a folder of their own")
    iop = _numbers(group[0], "ImageOrientationPatient", 6)
    row_cos, col_cos = iop[:3], iop[3:]
    normal = np.cross(row_cos, col_cos)
    if not (0.99 < np.linalg.norm(normal) < 1.01):
        raise SpinebqError(f"{group[0].path}: ImageOrientationPatient is not two perpendicular unit vectors "
                           f"({_shown(first, 'ImageOrientationPatient')})")
    for h in group:
        if not np.allclose(_numbers(h, "ImageOrientationPatient", 6), iop, atol=1e-3):
            raise SpinebqError(f"{h.path}: slice orientation differs from the rest of its series")
    positions = np.array([_numbers(h, "ImagePositionPatient", 3) for h in group])
    _check_size(group)
    order = np.argsort(positions @ normal)
    group = [group[i] for i in order]
    positions = positions[order]
    along = positions @ normal
    if len(group) < 2:
        raise SpinebqError(f"{group[0].path}: a single slice is not a 3D image")
    steps = np.diff(along)
    if np.any(steps < 1e-3):
        dup = group[int(np.argmin(steps)) + 1].path
        raise SpinebqError(f"{dup}: two slices of the series share one position; the series is inconsistent")

    warnings: list[str] = []
    spacing_z = float(np.median(steps))
    gaps = [(float(along[i]), float(along[i + 1])) for i, s in enumerate(steps) if s > spacing_z * (1 + SPACING_TOLERANCE)]
    irregular = bool(np.any(np.abs(steps - spacing_z) > spacing_z * SPACING_TOLERANCE))
    if gaps:
        missing = int(sum(round((b - a) / spacing_z) - 1 for a, b in gaps))
        warnings.append(
            f"slice spacing is irregular: {len(gaps)} gap(s) wider than the usual {spacing_z:.2f} mm "
            f"(about {missing} slice(s) missing); values there are interpolated"
        )
    elif irregular:
        warnings.append(f"slice spacing varies around {spacing_z:.2f} mm; the stack was resampled to a regular grid")

    # stacking direction versus the slice normal: a tilted gantry gives a sheared stack
    displacement = positions[-1] - positions[0]
    tilt_deg = float(np.degrees(np.arccos(min(1.0, abs(displacement @ normal) / np.linalg.norm(displacement)))))

    slices = [_pixels_hu(h) for h in group]
    shapes = {s.shape for s in slices}
    if len(shapes) != 1:
        raise SpinebqError(f"{group[0].path}: slices of the series have different sizes {sorted(shapes)}")
    array = np.stack([s.T for s in slices], axis=-1)  # (columns, rows, slices)

    pixel_spacing = _numbers(group[0], "PixelSpacing", 2)  # (row spacing, column spacing)
    affine = np.eye(4)
    affine[:3, 0] = row_cos * pixel_spacing[1]
    affine[:3, 1] = col_cos * pixel_spacing[0]
    affine[:3, 2] = normal * spacing_z
    affine[:3, 3] = positions[0]

    if tilt_deg > TILT_TOLERANCE_DEG or irregular:
        array = _resample_stack(array, positions, affine, normal)
        if tilt_deg > TILT_TOLERANCE_DEG:
            warnings.append(f"gantry tilt of {tilt_deg:.1f} degrees: resampled onto an orthogonal grid")
    array, affine = to_canonical(array, affine)
    metadata = _metadata(first, len(group))
    metadata.update({"gantry_tilt_deg": round(tilt_deg, 2), "slice_spacing_mm": round(spacing_z, 4), "warnings": warnings,
                     "slice_axis": int(np.argmax(np.abs(normal)))})  # the canonical (L, P, S) axis the slices stack on
    metadata["slice_gaps_mm"] = [[round(a, 2), round(b, 2)] for a, b in gaps]
    return Volume(array, affine, metadata)


def _check_size(group: list[_Header]) -> None:
    """Refuse a series of inconsistent or impossible size before any pixel is decoded (the resource guard)."""
    from spinebq.constants import MAX_IMAGE_EXTENT_MM, MAX_IMAGE_VOXELS, VOXEL_SIZE_RANGE_MM

    sizes = set()
    for h in group:
        try:
            sizes.add((int(h.dataset.Rows), int(h.dataset.Columns)))
        except Exception:
            raise SpinebqError(f"{h.path}: Rows/Columns are not readable numbers") from None
    if len(sizes) != 1:
        raise SpinebqError(f"{group[0].path}: slices of the series have different Rows/Columns {sorted(sizes)}")
    rows, columns = sizes.pop()
    if rows < 1 or columns < 1 or float(rows) * columns * len(group) > MAX_IMAGE_VOXELS:
        raise SpinebqError(f"{group[0].path}: {rows} x {columns} pixels x {len(group)} slices cannot be a patient image")
    spacing = _numbers(group[0], "PixelSpacing", 2)
    low, high = VOXEL_SIZE_RANGE_MM
    if np.any(spacing < low) or np.any(spacing > high):
        raise SpinebqError(f"{group[0].path}: PixelSpacing {spacing[0]:g} x {spacing[1]:g} mm is outside "
                           f"{low:g}-{high:g} mm")
    if max(rows * spacing[0], columns * spacing[1]) > MAX_IMAGE_EXTENT_MM:
        raise SpinebqError(f"{group[0].path}: the slices span more than {MAX_IMAGE_EXTENT_MM:g} mm; check PixelSpacing")


def _pixels_hu(header: _Header) -> np.ndarray:
    try:
        ds = pydicom.dcmread(header.path)
        pixels = ds.pixel_array
    except Exception as exc:  # decoders raise many types on damaged or unsupported data
        text = " ".join(str(exc).split())[:160]
        raise SpinebqError(f"{header.path}: pixel data cannot be decoded ({type(exc).__name__}: {text})") from None
    if pixels.ndim != 2:
        raise SpinebqError(f"{header.path}: expected one 2D frame, found pixel data of shape {pixels.shape}")
    if pixels.shape != (int(ds.Rows), int(ds.Columns)):
        raise SpinebqError(f"{header.path}: the pixel data is {pixels.shape[0]} x {pixels.shape[1]}, but "
                           f"Rows/Columns say {ds.Rows} x {ds.Columns}")
    slope = _rescale(header.path, ds, "RescaleSlope", 1.0)
    intercept = _rescale(header.path, ds, "RescaleIntercept", 0.0)
    if slope <= 0:
        raise SpinebqError(f"{header.path}: RescaleSlope {slope:g} is not positive; the values cannot be HU")
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _rescale(path: Path, ds: pydicom.Dataset, keyword: str, default: float) -> float:
    try:
        value = ds.get(keyword)
        number = default if value is None or value == "" else float(value)
    except Exception:
        number = float("nan")
    if not np.isfinite(number) or abs(number) > 1e6:
        raise SpinebqError(f"{path}: {keyword} is not a usable number ({_shown(ds, keyword)})")
    return number


def _resample_stack(array: np.ndarray, positions: np.ndarray, affine: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Resample a stack with arbitrary slice positions onto the regular orthogonal grid of ``affine``.

    Each output slice k lies at ``affine[:3, 3] + k * spacing * normal``; its in-plane pixels are
    shifted by the in-plane offset of the source slices (tilt) and interpolated linearly between
    the two nearest source slices along the normal.
    """
    along = (positions - positions[0]) @ normal
    spacing_z = float(np.linalg.norm(affine[:3, 2]))
    n_out = int(np.floor(along[-1] / spacing_z + 1e-6)) + 1
    in_plane = np.linalg.inv(np.column_stack([affine[:3, 0], affine[:3, 1], normal]))
    shift_vox = ((positions - positions[0]) @ in_plane.T)[:, :2]  # in-plane offset of each slice, voxels
    out = np.empty(array.shape[:2] + (n_out,), dtype=np.float32)
    for k in range(n_out):
        z = k * spacing_z
        hi = int(np.clip(np.searchsorted(along, z), 1, len(along) - 1))
        lo = hi - 1
        w = float(np.clip((z - along[lo]) / (along[hi] - along[lo]), 0.0, 1.0))
        blended = np.zeros(array.shape[:2], dtype=np.float32)
        for idx, weight in ((lo, 1 - w), (hi, w)):
            if weight == 0:
                continue
            shifted = ndimage.shift(array[:, :, idx], shift_vox[idx], order=1, mode="nearest")
            blended += np.float32(weight) * shifted
        out[:, :, k] = blended
    return out


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)


def _number(ds: pydicom.Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _metadata(ds: pydicom.Dataset, n_slices: int) -> dict:
    """Acquisition details of a series; patient-identifying fields go under ``phi`` only."""
    return {
        "format": "DICOM",
        "modality": _text(ds, "Modality"),
        "manufacturer": _text(ds, "Manufacturer"),
        "model": _text(ds, "ManufacturerModelName"),
        "kvp": _number(ds, "KVP"),
        "kernel": _text(ds, "ConvolutionKernel"),
        "contrast_agent": _text(ds, "ContrastBolusAgent"),
        "contrast_route": _text(ds, "ContrastBolusRoute"),
        "slice_thickness_mm": _number(ds, "SliceThickness"),
        "series_uid": _text(ds, "SeriesInstanceUID"),
        "study_uid": _text(ds, "StudyInstanceUID"),
        "series_description": _text(ds, "SeriesDescription"),
        "body_part": _text(ds, "BodyPartExamined"),
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID.name) if "TransferSyntaxUID" in ds.get("file_meta", {}) else None,
        "slices": n_slices,
        "phi": {
            "patient_name": _text(ds, "PatientName"),
            "patient_id": _text(ds, "PatientID"),
            "patient_birth_date": _text(ds, "PatientBirthDate"),
            "patient_sex": _text(ds, "PatientSex"),
            "patient_age": _text(ds, "PatientAge"),
            "study_date": _text(ds, "StudyDate"),
            "accession_number": _text(ds, "AccessionNumber"),
        },
    }


def folder_patient(path: str | Path):
    """Pseudonymous patient key of the DICOM files in a folder (or of one file), for checking inputs belong together.

    Returns
    -------
    spinebq.io.output.PatientEntry
        The key when every readable file names one PatientID; without a key, the reason.

    Raises
    ------
    SpinebqError
        When the folder holds several patients (the SR would reference images of more than one).
    """
    from spinebq.io.output import PatientEntry, patient_entry

    path = Path(path)
    if is_zip(path):
        with unpacked(path) as folder, _zip_named(path, folder):
            return folder_patient(folder)
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    headers, _ = _read_headers(paths)
    keys = {patient_entry({"phi": {"patient_id": _text(h.dataset, "PatientID"),
                                   "patient_birth_date": _text(h.dataset, "PatientBirthDate")},
                           "format": "DICOM"}).key for h in headers}
    if not headers:
        return PatientEntry(note="no DICOM file there")
    if len(keys) > 1:
        raise SpinebqError(f"{path}: the folder holds the images of {len(keys)} patients; give the folder of one")
    key = keys.pop()
    return PatientEntry(key=key, note=None if key else "the DICOM files carry no PatientID")


#: SOP Class UID of CT Image Storage: the class of a CT slice whose header and file meta both lack one.
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
#: Type 2 attributes (present, possibly empty) that highdicom copies from a source image into a SEG or SR.
COPIED_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                "ReferringPhysicianName", "StudyID", "AccessionNumber")
#: The UIDs :func:`reference_datasets` derives where the source has none, with the names its note gives them (the
#: note, a Content Description, holds at most 64 characters).
DERIVED_UIDS = {"StudyInstanceUID": "Study", "SeriesInstanceUID": "Series", "FrameOfReferenceUID": "Frame of Reference"}


def reference_datasets(path: str | Path, *, series_uid: str | None = None) -> tuple[list[pydicom.Dataset], str | None]:
    """Headers of the image slices of one series, with the UIDs a DICOM SEG or SR must reference.

    Anonymisers may blank the UIDs of the data set. Each slice's SOP Instance UID (0008,0018) and SOP Class UID
    (0008,0016) then come from its file meta (0002,0003) and (0002,0002) (CT Image Storage when neither has one);
    a blank Study Instance UID (0020,000D) or Series Instance UID (0020,000E) becomes one UID derived from the
    slices' SOP Instance UIDs, the same on every run, and so does a blank Frame of Reference UID (0020,0052)
    (:data:`DERIVED_UIDS`). The type 2 attributes a SEG or SR copies from its source (:data:`COPIED_TYPE2`, e.g.
    Patient's Sex) are added empty where a slice lacks them. The files are not changed.

    Parameters
    ----------
    path : str or Path
        A DICOM folder (searched recursively), a zip archive of one, or one file.
    series_uid : str, optional
        The series to keep; without it, the series of the first slice (in file-name order).

    Returns
    -------
    datasets : list of pydicom.Dataset
        The slices' headers (no pixel data), in file-name order; empty when there is no image slice.
    note : str or None
        Which UIDs were derived here (at most 64 characters, a Content Description (0070,0081)); None when none.
    """
    path = Path(path)
    if is_zip(path):
        with unpacked(path) as folder, _zip_named(path, folder):
            return reference_datasets(folder, series_uid=series_uid)
    headers, _ = _read_headers(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    headers = [h for h in headers if "ImagePositionPatient" in h.dataset]
    if headers:
        wanted = series_uid if series_uid is not None else str(headers[0].dataset.get("SeriesInstanceUID", ""))
        headers = [h for h in headers if str(h.dataset.get("SeriesInstanceUID", "")) == wanted]
    for h in headers:
        ds, meta = h.dataset, getattr(h.dataset, "file_meta", pydicom.Dataset())
        if not str(ds.get("SOPInstanceUID", "")):
            if not str(meta.get("MediaStorageSOPInstanceUID", "")):
                raise SpinebqError(f"{h.path}: the slice has no SOP Instance UID, in its data set or its file meta: "
                                   "a DICOM SEG or SR cannot reference it")
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        if not str(ds.get("SOPClassUID", "")):
            ds.SOPClassUID = str(meta.get("MediaStorageSOPClassUID", "")) or CT_IMAGE_STORAGE
        for keyword in COPIED_TYPE2:
            if keyword not in ds:
                setattr(ds, keyword, "")
    datasets = [h.dataset for h in headers]
    derived = []
    for keyword, name in DERIVED_UIDS.items():
        if any(not str(ds.get(keyword, "")) for ds in datasets):
            uid = pydicom.uid.generate_uid(entropy_srcs=[keyword] + sorted(str(ds.SOPInstanceUID) for ds in datasets))
            for ds in datasets:
                if not str(ds.get(keyword, "")):
                    setattr(ds, keyword, uid)
            derived.append(name)
    return datasets, f"source lacked {', '.join(derived)} UID: derived" if derived else None


#: Patient attributes of the source that a SEG or SR would otherwise carry and that are removed without PHI.
PATIENT_ALIASES = ("OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientAddress")


#: The Specific Character Set (0008,0005) of a SEG or SR whose pseudonym the source's character set cannot write.
UTF8_CHARACTER_SET = "ISO_IR 192"


def _encodable(text: str, ds: pydicom.Dataset) -> bool:
    """Whether ``text`` can be written in the character set ``ds`` declares (ASCII when it declares none)."""
    from pydicom.charset import convert_encodings

    if text.isascii():
        return True
    declared = ds.get("SpecificCharacterSet") or ""
    if not declared:
        return False
    try:
        text.encode(convert_encodings(declared)[0])
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def pseudonymise(datasets: list[pydicom.Dataset], patient_id: str) -> None:
    """Put ``patient_id`` in place of the patient's name and ID of the source headers a SEG or SR copies.

    The birth date and the accession number become empty and the patient's other names, IDs and address are
    removed (:data:`PATIENT_ALIASES`). A pseudonym the source's character set cannot write (``王伟`` in Latin-1)
    makes the headers UTF-8 (:data:`UTF8_CHARACTER_SET`). The headers are changed in place (the files are not).

    Parameters
    ----------
    datasets : list of pydicom.Dataset
        Headers returned by :func:`reference_datasets`.
    patient_id : str
        The pseudonym written as Patient's Name and Patient ID.
    """
    for ds in datasets:
        if not _encodable(patient_id, ds):  # else written as "??": another patient's SEG or SR in a PACS
            ds.SpecificCharacterSet = UTF8_CHARACTER_SET
        ds.PatientName = f"{patient_id}^"
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.AccessionNumber = ""
        for keyword in PATIENT_ALIASES:
            if keyword in ds:
                delattr(ds, keyword)
