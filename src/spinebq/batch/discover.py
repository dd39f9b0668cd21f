"""Discovery of studies and choice of series: turn batch inputs into :class:`~spinebq.records.study.StudyInputs`.

An input is one of

* a **folder** searched at any depth. Every ``*.nii``/``*.nii.gz`` file in it is one study, its image in ``ct``
  with ``role_from_values`` set (NIfTI carries no acquisition header: measuring reads the values and takes it as a
  CT, an MRI or a label map to skip, :func:`spinebq.pipeline.analyse_study`); a file named ``<stem>_labels.nii.gz``
  or ``<stem>_seg.nii.gz`` (also ``.nii``) is the vertebra label map of the image ``<stem>.nii.gz`` in the same
  folder, never a study of its own. Every other file is read as DICOM, headers only (``stop_before_pixels``), in a
  thread pool (the files inside a ``.zip`` archive too: a series lying in one archive is loaded from it); files that
  are not DICOM (a README, a DICOMDIR, garbage) are ignored and counted in the log. DICOM files are grouped by
  PatientID (when missing: one patient per study) / StudyInstanceUID / SeriesInstanceUID; files without
  StudyInstanceUID are grouped by folder (each folder one study), files without SeriesInstanceUID by folder,
  modality, SeriesNumber and description (``SeriesInfo.series_uid`` is then None). A file reached twice (a folder
  given twice, or also inside another input) is read once.
* a **NIfTI file**: one study with a CT.
* a **manifest** (``*.csv``): columns ``id`` (required, unique), ``ct``, ``mri``, ``axial``, ``labels`` (the CT's),
  ``mri_labels`` (the MRI's), ``patient`` (optional) and any clinical columns, kept in their order; read as a
  clinical spreadsheet is (Excel's encodings and delimiters, a title row above the column names passed over). Paths are
  relative to the manifest's folder and may name a NIfTI file or a DICOM folder; in a DICOM folder holding several
  series the series is chosen by the rule below. A path that does not exist makes that row a study with ``problem`` set.

Keys are pseudonymous and stable across runs: ``"s" + sha256(x)[:10]`` for a study, where x is the
StudyInstanceUID (DICOM), the manifest ``id``, or the file's path relative to the input folder (NIfTI); and
``"p" + sha256(y)[:10]`` for its patient, where y is the PatientID (else the StudyInstanceUID), the manifest
``patient`` column (else the ``id``), or the study's own x. Identifiers (PatientID, AccessionNumber,
StudyInstanceUID, StudyDate, a manifest id) go only into ``StudyInputs.identifiers``.

The rule that chooses the series of a DICOM study
-------------------------------------------------
A series is **unusable** (and listed in ``passed_over`` with the reason) when its files have truncated pixel data;
it is not an image (modality SR/OT/PR/KO/SEG/RT*, a structured-report or secondary-capture SOP class, ImageType
SECONDARY, SCREEN SAVE, DOSE INFO, MIP/VRT renderings); it is a localizer (ImageType LOCALIZER, or a description
naming a scout, topogram, surview or 3-plane localizer); it is multi-frame (the loader reads single-frame series);
several of its images share one slice position; or its images do not all have one orientation.

**CT** (``ct``): modality CT, axial (slice normal within about 37 degrees of head-foot), at least
:data:`MIN_CT_SLICES` images. Among those, in this order:

1. coverage: the length along the slice normal, counted up to :data:`COMPLETE_COVERAGE_MM` (enough for T12-L5,
   so a longer series does not outrank a thinner one); series within :data:`COVERAGE_TOLERANCE_MM` of the best
   count as equal;
2. unenhanced before contrast-enhanced (ContrastBolusAgent (0018,0010) present and not "none", or the
   description names contrast, C+, arterial, venous, portal phase or KM);
3. slices of at most :data:`MAX_THIN_SLICE_MM` before thicker ones (thicker only when nothing thinner exists);
4. soft-tissue kernel before an unknown one before bone or lung kernels (:func:`kernel_class`);
5. thinner slices (SliceThickness (0018,0050), else the slice spacing);
6. more images, then SeriesInstanceUID (so the choice is deterministic).

**MR** (``mri`` and ``axial``): modality MR, at least :data:`MIN_MR_SLICES` images, T1-weighted
(:func:`t1_weighting`: the SeriesDescription, ProtocolName or SequenceName names T1 and not a fat-suppressed or
DIXON water image; or, when they name no weighting, EchoTime < :data:`T1_MAX_TE_MS` with RepetitionTime <
:data:`T1_MAX_TR_MS`). A sagittal one is ``mri``, an axial one ``axial`` (kept only beside a sagittal T1).
Among several: unenhanced before enhanced, then more images, then SeriesInstanceUID.

A study with neither a CT nor a sagittal T1 MR gets ``problem`` set: no readable image series, only a
localizer, or no usable series (each series then says why in ``passed_over``).

Kernel classes (:func:`kernel_class`; sharper than soft tissue counts as bone)
-------------------------------------------------------------------------------
========================  ============================  ==========================  ======================
vendor                    soft                          bone (sharp)                lung
========================  ============================  ==========================  ======================
Siemens (B/Br/Bv/Bf/H/Hr/  number below 50 (B30f, Br38)  number 50 and above (B70f)  Bl.. (Bl57, Bl64)
I/Ir/Q/Qr/J/D + number)
GE                        STANDARD, SOFT, SMOOTH,        BONE, BONEPLUS, EDGE,       LUNG, CHEST
                          DETAIL, BODY                   SHARP
Philips                   A, B, C, UA, UB, UC, YA, YB,   D, E, YD, YE, EC, ED        L, LA, YL
                          YC, CA, CB, CC
Canon / Toshiba           FC01-FC29                      FC30-FC49                   FC50 and above
========================  ============================  ==========================  ======================
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from spinebq.errors import SpinebqError
from spinebq.records.study import PassedOver, SeriesInfo, StudyInputs

logger = logging.getLogger("spinebq")

#: Fewest images of a CT series that can hold a lumbar volume (fewer: a localizer or a partial series).
MIN_CT_SLICES = 10
#: Fewest images of a usable MR series (a lumbar sagittal T1 has 11-19).
MIN_MR_SLICES = 5
#: Coverage along the slice normal that counts as complete (T12-L5 is about 150-200 mm), mm.
COMPLETE_COVERAGE_MM = 150.0
#: Coverage differences up to this count as equal when comparing CT series, mm.
COVERAGE_TOLERANCE_MM = 10.0
#: Thickest CT reconstruction preferred for density measurement, mm.
MAX_THIN_SLICE_MM = 3.0
#: Smallest |cosine| between the slice normal and a patient axis for the plane to be named after it (about 37 deg).
ORIENTATION_MIN_COS = 0.8
#: Echo time below which (with a short TR) an MR series counts as T1-weighted when its name says nothing, ms.
T1_MAX_TE_MS = 30.0
#: Repetition time below which (with a short TE) an MR series counts as T1-weighted, ms.
T1_MAX_TR_MS = 1000.0
#: Hex digits of SHA-256 kept in a key.
KEY_HEX_DIGITS = 10
#: File-name endings of a label map beside its image (``<stem>_labels.nii.gz`` labels ``<stem>.nii.gz``).
LABEL_SUFFIXES = ("_labels", "_seg")
#: Manifest columns that are not clinical data.
MANIFEST_ROLES = ("ct", "mri", "axial", "labels", "mri_labels")
MANIFEST_RESERVED = ("id", "patient") + MANIFEST_ROLES
#: Modalities of objects that are not image volumes (dose reports, presentation states, segmentations ...).
NON_IMAGE_MODALITIES = frozenset({"SR", "OT", "PR", "KO", "SEG", "REG", "DOC", "PLAN", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD"})
#: SOP class UID prefixes of non-volume objects: secondary capture, structured reports (dose), presentation states,
#: encapsulated documents, raw data.
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.88.",
    "1.2.840.10008.5.1.4.1.1.11.",
    "1.2.840.10008.5.1.4.1.1.104.",
    "1.2.840.10008.5.1.4.1.1.66",
)
#: Media Storage Directory (DICOMDIR) SOP class.
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
#: ImageType values of screen saves, renderings and dose pages.
NON_VOLUME_IMAGE_TYPES = frozenset({"SECONDARY", "SCREEN SAVE", "DOSE INFO", "DOSE_INFO", "MIP", "VRT", "VOLUME RENDERING", "MINIP"})
#: Extensions that are never DICOM (not worth a forced read).
NOT_DICOM_EXTENSIONS = frozenset({".txt", ".md", ".json", ".csv", ".xml", ".html", ".htm", ".pdf", ".png", ".jpg", ".jpeg",
                                  ".gif", ".zip", ".gz", ".tar", ".py", ".exe", ".ini", ".log", ".nii", ".nrrd", ".mha"})
#: Header attributes read from each file.
#: bytes read from each end of a file to tell a copy of a study (:func:`same_images`)
FINGERPRINT_BYTES = 1 << 20
#: how many series passed over a skipped study's reason names with their reasons
REASONS_IN_PROBLEM = 3
HEADER_TAGS = [
    "SOPClassUID", "Modality", "PatientID", "AccessionNumber", "StudyDate", "StudyInstanceUID", "SeriesInstanceUID",
    "SeriesNumber", "SeriesDescription", "ProtocolName", "SequenceName", "ImageType", "ConvolutionKernel",
    "SliceThickness", "ImageOrientationPatient", "ImagePositionPatient", "ContrastBolusAgent", "EchoTime",
    "RepetitionTime", "NumberOfFrames", "Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "SOPInstanceUID",
]

_LOCALIZER_WORDS = re.compile(r"(LOCALI[SZ]ER|SCOUT|TOPOGRA|SURVIEW|SURVEY|3[- ]?PLANE|TRI[- ]?PILOT|\bLOC\b|\bPILOT\b)")
_NON_CONTRAST_WORDS = re.compile(r"(NON[- ]?CONTRAST|\bW/?O\b|WITHOUT|NATIVE?\b|PLAIN|\bNC\b|\bPRE\b|UNENHANCED)")
_CT_CONTRAST_WORDS = re.compile(r"(C\+|\+C\b|CONTRAST|ARTERIAL|VENOUS|PORTAL|\bKM\b|ENHANCED|\bCE\b)")
_MR_CONTRAST_WORDS = re.compile(r"(C\+|\+C\b|CONTRAST|\bPOST\b|\bGD\b|GAD|\bKM\b|\bCE\b)")
_T1_WORDS = re.compile(r"(?<![A-Z0-9])T1(?![0-9])")
_NOT_T1_WORDS = re.compile(r"(?<![A-Z0-9])(T2|STIR|TIRM|PDW?|DWI|DIFFUSION|ADC|SWI|TRUFI)(?![0-9])")
_FAT_SUPPRESSION_WORDS = re.compile(r"(?<![A-Z])(FS|FATSAT|FAT[- _]?SAT|SPAIR|SPIR|CHESS|WATER|DIXON[_ ]?W|STIR)(?![A-Z])")
_NO_CONTRAST_AGENT = frozenset({"", "NONE", "NO", "N", "0", "NIL", "NATIVE"})

_SIEMENS_KERNEL = re.compile(r"^(BL|BR|BV|BF|B|HR|HC|H|IR|I|QR|Q|J|D|T|U)(\d{2})")
_CANON_KERNEL = re.compile(r"^FC(\d{1,2})")
_GE_KERNELS = {
    "soft": ("STANDARD", "SOFT", "SMOOTH", "DETAIL", "BODY"),
    "bone": ("BONEPLUS", "BONE", "EDGE", "SHARP"),
    "lung": ("LUNG", "CHEST"),
}
_PHILIPS_KERNELS = {
    "soft": ("A", "B", "C", "UA", "UB", "UC", "YA", "YB", "YC", "CA", "CB", "CC"),
    "bone": ("D", "E", "YD", "YE", "EC", "ED"),
    "lung": ("L", "LA", "YL"),
}
#: Siemens kernel numbers from which a kernel counts as sharp (bone).
SIEMENS_SHARP_FROM = 50
#: Canon kernel numbers from which a kernel counts as bone, and from which as lung.
CANON_BONE_FROM, CANON_LUNG_FROM = 30, 50
#: How sentences name each kernel class.
_KERNEL_WORDS = {"soft": "soft-tissue kernel", "bone": "bone kernel", "lung": "lung kernel", "unknown": "unclassified kernel"}
#: Order of kernel classes in the CT choice (lower first).
KERNEL_RANK = {"soft": 0, "unknown": 1, "bone": 2, "lung": 2}


# ----------------------------------------------------------------------------------------------- public helpers


def study_key(identifier: str) -> str:
    """Pseudonymous study key: ``"s"`` and the first hex digits of SHA-256 of ``identifier``.

    >>> study_key("1.2.3")
    'sc47f5b18b8'
    """
    return "s" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:KEY_HEX_DIGITS]


def patient_key(identifier: str) -> str:
    """Pseudonymous patient key: ``"p"`` and the first hex digits of SHA-256 of ``identifier``."""
    return "p" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:KEY_HEX_DIGITS]


def kernel_class(kernel: str | None) -> str:
    """Class of a CT reconstruction kernel: ``soft``, ``bone``, ``lung`` or ``unknown`` (table in the module doc).

    Parameters
    ----------
    kernel : str or None
        ConvolutionKernel (0018,1210); a multi-valued kernel (``Br38f\\3``) is judged by its first value.

    Examples
    --------
    >>> [kernel_class(k) for k in ("B30f", "Br64", "Bl57", "STANDARD", "BONE", "YB", "FC35", None)]
    ['soft', 'bone', 'lung', 'soft', 'bone', 'soft', 'bone', 'unknown']
    """
    if not kernel:
        return "unknown"
    name = kernel.split("\\")[0].strip().upper()
    if match := _CANON_KERNEL.match(name):
        number = int(match.group(1))
        return "soft" if number < CANON_BONE_FROM else "bone" if number < CANON_LUNG_FROM else "lung"
    if match := _SIEMENS_KERNEL.match(name):
        if match.group(1) == "BL":
            return "lung"
        return "bone" if int(match.group(2)) >= SIEMENS_SHARP_FROM else "soft"
    for table in (_GE_KERNELS, _PHILIPS_KERNELS):
        for label, names in table.items():
            if name in names or any(name.startswith(n) for n in names if len(n) > 2):
                return label
    return "unknown"


def t1_weighting(words: str, echo_time_ms: float | None, repetition_time_ms: float | None) -> tuple[bool, str]:
    """Decide whether an MR series is a T1-weighted image without fat suppression.

    Parameters
    ----------
    words : str
        SeriesDescription, ProtocolName and SequenceName, joined.
    echo_time_ms, repetition_time_ms : float or None
        EchoTime (0018,0081) and RepetitionTime (0018,0080).

    Returns
    -------
    (bool, str)
        The decision and a clause saying why (``"named T1"``, ``"named T2/STIR"``, ...).
    """
    text = words.upper()
    if _T1_WORDS.search(text):
        if suppression := _FAT_SUPPRESSION_WORDS.search(text):
            return False, f"a fat-suppressed or water image ({suppression.group(1)} in its name), not a plain T1"
        return True, "named T1"
    if named := _NOT_T1_WORDS.search(text):
        return False, f"a {named.group(1)} sequence by its name, not T1"
    if echo_time_ms is None or repetition_time_ms is None:
        return False, "of unknown weighting (no T1 in its name, no TE/TR)"
    if echo_time_ms < T1_MAX_TE_MS and repetition_time_ms < T1_MAX_TR_MS:
        return True, f"T1 by its timing (TE {echo_time_ms:g} ms, TR {repetition_time_ms:g} ms)"
    return False, f"not T1 by its timing (TE {echo_time_ms:g} ms, TR {repetition_time_ms:g} ms)"


# ----------------------------------------------------------------------------------------------- reading headers


@dataclass(frozen=True, slots=True)
class _Header:
    """What discovery needs from one DICOM file (``archive``: the zip archive it lies in, if any)."""

    path: Path
    root: Path
    study_uid: str
    series_uid: str
    sop_uid: str
    patient_id: str
    accession: str
    study_date: str
    modality: str
    sop_class: str
    series_number: int | None
    description: str
    words: str
    image_type: tuple[str, ...]
    kernel: str | None
    thickness_mm: float | None
    orientation: str
    normal: tuple[float, float, float] | None
    position: tuple[float, float, float] | None
    contrast_agent: str | None
    echo_time_ms: float | None
    repetition_time_ms: float | None
    frames: int
    is_image: bool
    damage: str | None
    archive: Path | None = None


@dataclass
class _Scan:
    """Headers read from a set of inputs and what could not be read."""

    headers: list[_Header] = field(default_factory=list)
    n_files: int = 0
    n_unreadable: int = 0


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _number(ds: pydicom.Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _vector(ds: pydicom.Dataset, keyword: str, size: int) -> np.ndarray | None:
    value = ds.get(keyword)
    try:
        array = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return array if array.shape == (size,) and np.all(np.isfinite(array)) else None


def _orientation(iop: np.ndarray | None) -> tuple[str, np.ndarray | None]:
    """Plane named by ImageOrientationPatient (0020,0037), and the slice normal."""
    if iop is None:
        return "unknown", None
    normal = np.cross(iop[:3], iop[3:])
    length = np.linalg.norm(normal)
    if length < 1e-6:
        return "unknown", None
    normal = normal / length
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < ORIENTATION_MIN_COS:
        return "oblique", normal
    return ("sagittal", "coronal", "axial")[axis], normal


def _pixel_damage(ds: pydicom.Dataset, end_of_header: int, size_bytes: int) -> str | None:
    """Say why the pixel data after the header cannot be whole, or None when it can."""
    remaining = size_bytes - end_of_header
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    compressed = bool(syntax is not None and syntax.is_compressed)
    implicit = bool(syntax is not None and syntax.is_implicit_VR) or syntax is None
    element_header = 8 if implicit else 12
    if remaining <= element_header:
        return "no pixel data"
    if compressed:
        return None
    try:
        expected = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1)
                    * int(ds.get("BitsAllocated", 16) or 16) // 8 * int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError, AttributeError):
        return None
    if remaining - element_header < expected:
        return f"pixel data truncated ({remaining - element_header} of {expected} bytes)"
    return None


def _read_header(path: Path, root: Path) -> _Header | None:
    """Read one file's header; None when it is not a DICOM image object of a study."""
    if path.suffix.lower() in NOT_DICOM_EXTENSIONS and path.name.upper() != "DICOMDIR":
        return None
    try:
        with open(path, "rb") as handle:
            return _header_of(handle, path.stat().st_size, path, root)
    except OSError:
        return None


def _read_archive(archive: Path, root: Path) -> tuple[list[_Header], int]:
    """The headers of the DICOM files inside a zip archive (a member's path is ``archive / name``, its ``archive``
    the zip), and how many members are not DICOM image objects or cannot be read."""
    headers, unreadable = [], 0
    try:
        with zipfile.ZipFile(archive) as opened:
            for member in opened.infolist():
                if member.is_dir():
                    continue
                path = archive / member.filename
                header = None
                if path.suffix.lower() not in NOT_DICOM_EXTENSIONS:
                    with opened.open(member) as handle:
                        header = _header_of(handle, member.file_size, path, root, archive=archive)
                if header is None:
                    unreadable += 1
                else:
                    headers.append(header)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
        return headers, unreadable + 1
    return headers, unreadable


def _header_of(handle, size_bytes: int, path: Path, root: Path, *, archive: Path | None = None) -> _Header | None:
    """The header of the DICOM file open in ``handle`` (``size_bytes`` long); None when it is not a DICOM image
    object of a study."""
    try:
        try:
            ds = pydicom.dcmread(handle, stop_before_pixels=True, specific_tags=HEADER_TAGS)
        except InvalidDicomError:  # no preamble: accept a raw data set only when it names a study
            handle.seek(0)
            ds = pydicom.dcmread(handle, stop_before_pixels=True, specific_tags=HEADER_TAGS, force=True)
            if "StudyInstanceUID" not in ds or "Modality" not in ds:
                return None
        end_of_header = handle.tell()
    except Exception:  # noqa: BLE001 - damaged files raise many types; they are counted, never fatal
        return None
    sop_class = _text(ds, "SOPClassUID")
    meta = getattr(ds, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    if DICOMDIR_SOP_CLASS in (sop_class, media_class) or path.name.upper() == "DICOMDIR":
        return None
    modality = _text(ds, "Modality").upper()
    if not (modality or sop_class or _text(ds, "StudyInstanceUID")):
        return None
    image_type = tuple(v.strip().upper() for v in _text(ds, "ImageType").split("\\") if v.strip())
    orientation, normal = _orientation(_vector(ds, "ImageOrientationPatient", 6))
    position = _vector(ds, "ImagePositionPatient", 3)
    is_image = "Rows" in ds
    damage = _pixel_damage(ds, end_of_header, size_bytes) if is_image else None
    agent = _text(ds, "ContrastBolusAgent")
    frames = _number(ds, "NumberOfFrames")
    series_number = _number(ds, "SeriesNumber")
    description = _text(ds, "SeriesDescription")
    return _Header(
        path=path, root=root, archive=archive,
        study_uid=_text(ds, "StudyInstanceUID"), series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID"), patient_id=_text(ds, "PatientID"), accession=_text(ds, "AccessionNumber"), study_date=_text(ds, "StudyDate"),
        modality=modality, sop_class=sop_class,
        series_number=int(series_number) if series_number is not None else None,
        description=description,
        words=" ".join((description, _text(ds, "ProtocolName"), _text(ds, "SequenceName"))).upper(),
        image_type=image_type, kernel=_text(ds, "ConvolutionKernel") or None,
        thickness_mm=_number(ds, "SliceThickness"),
        orientation=orientation,
        normal=tuple(float(v) for v in normal) if normal is not None else None,
        position=tuple(float(v) for v in position) if position is not None else None,
        contrast_agent=agent or None,
        echo_time_ms=_number(ds, "EchoTime"), repetition_time_ms=_number(ds, "RepetitionTime"),
        frames=int(frames) if frames else 1,
        is_image=is_image, damage=damage,
    )


def _walk(folder: Path) -> list[Path]:
    """Every file under ``folder``, in a deterministic order (hidden files included, symlinks followed)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        files.extend(Path(dirpath) / name for name in sorted(filenames))
    return files


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _nifti_stem(path: Path) -> str:
    name = path.name
    return name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else name[: -len(".nii")]


def _read_dicom_files(files: list[tuple[Path, Path]], *, threads: int,
                      progress: Callable[[int, int], None] | None, done: int = 0, total: int | None = None) -> _Scan:
    """Read the headers of ``(file, input root)`` pairs in a thread pool; progress is reported from this thread."""
    scan = _Scan(n_files=len(files))
    total = len(files) if total is None else total
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for n, (headers, unreadable) in enumerate(pool.map(lambda pair: _read_file(*pair), files), start=1):
            scan.headers.extend(headers)
            scan.n_unreadable += unreadable
            if progress is not None:
                progress(done + n, total)
    return scan


def _read_file(path: Path, root: Path) -> tuple[list[_Header], int]:
    """The headers of a DICOM file, or of the DICOM files inside a zip archive, and how many could not be read."""
    if path.suffix.lower() == ".zip":
        return _read_archive(path, root)
    header = _read_header(path, root)
    return ([], 1) if header is None else ([header], 0)


# ----------------------------------------------------------------------------------------------- series


@dataclass(frozen=True)
class _Series:
    """A series as the rule sees it: the record plus what only the rule needs."""

    info: SeriesInfo
    number: int | None
    words: str
    sop_class: str
    echo_time_ms: float | None
    repetition_time_ms: float | None
    n_damaged: int
    damage: str | None
    n_positions: int
    orientations: tuple[str, ...]
    frames: int
    has_positions: bool
    is_image: bool

    @property
    def label(self) -> str:
        """How sentences name the series: its description and number, never a UID."""
        name = f'"{self.info.description}"' if self.info.description else "an unnamed series"
        return f"{name} (series {self.number})" if self.number is not None else name

    @property
    def sort_key(self) -> tuple:
        return (self.info.modality or "", self.number if self.number is not None else -1, self.info.series_uid or "",
                self.info.path)


def _common_folder(paths: list[Path]) -> str:
    return os.path.commonpath([str(p.parent) for p in paths])


def _build_series(series_uid: str | None, headers: list[_Header]) -> _Series:
    """Describe one series from the headers of its files."""
    headers = sorted(headers, key=lambda h: str(h.path))
    first = next((h for h in headers if h.damage is None and h.is_image), headers[0])
    orientations = tuple(sorted(Counter(h.orientation for h in headers if h.is_image).keys()))
    orientation = Counter(h.orientation for h in headers if h.is_image).most_common(1)
    extent_mm, n_positions = 0.0, 0
    positions = np.array([h.position for h in headers if h.position is not None], dtype=float)
    if first.normal is not None and len(positions):
        along = positions @ np.array(first.normal)
        extent_mm = float(along.max() - along.min())
        n_positions = len(np.unique(np.round(along, 2)))
    thickness = first.thickness_mm
    if thickness is None and n_positions > 1:
        thickness = round(extent_mm / (n_positions - 1), 3)
    damaged = [h for h in headers if h.damage is not None]
    archives = {h.archive for h in headers}
    one_archive = len(archives) == 1 and None not in archives  # a series in one zip archive is loaded from it
    info = SeriesInfo(
        path=str(archives.pop()) if one_archive else _common_folder([h.path for h in headers]),
        series_uid=series_uid,
        modality=first.modality or None,
        description=first.description,
        n_images=sum(h.frames for h in headers if h.is_image),
        slice_thickness_mm=thickness,
        kernel=first.kernel,
        orientation=orientation[0][0] if orientation else "unknown",
        image_type=first.image_type,
        contrast_agent=first.contrast_agent,
        extent_mm=round(extent_mm, 2),
    )
    return _Series(
        info=info, number=first.series_number, words=first.words, sop_class=first.sop_class,
        echo_time_ms=first.echo_time_ms, repetition_time_ms=first.repetition_time_ms,
        n_damaged=len(damaged), damage=damaged[0].damage if damaged else None,
        n_positions=n_positions, orientations=orientations, frames=max(h.frames for h in headers),
        has_positions=bool(len(positions)), is_image=any(h.is_image for h in headers),
    )


def _non_image_reason(s: _Series) -> str | None:
    """Why a series is not an image volume at all (dose report, screen save, localizer ...), or None."""
    modality = s.info.modality or "?"
    if s.n_damaged:
        return f"{s.n_damaged} of its {s.info.n_images} files cannot be read whole ({s.damage})"
    if s.sop_class.startswith(NON_IMAGE_SOP_PREFIXES[0]):
        return f"a secondary capture (a screen page, not a volume; modality {modality})"
    if modality in NON_IMAGE_MODALITIES or s.sop_class.startswith(NON_IMAGE_SOP_PREFIXES) or not s.is_image:
        return f"a dose report, structured report or other object without a volume (modality {modality})"
    if flagged := sorted(NON_VOLUME_IMAGE_TYPES.intersection(s.info.image_type)):
        return f"a screen save, rendering or dose page (ImageType {'/'.join(flagged)})"
    if "LOCALIZER" in s.info.image_type or _LOCALIZER_WORDS.search(s.words):
        return f"a localizer ({s.info.n_images} image{'s' if s.info.n_images != 1 else ''})"
    if not s.has_positions or s.info.orientation == "unknown":
        return "its images carry no slice position or orientation"
    if s.frames > 1:
        return "a multi-frame object, which the loader does not read"
    if len(s.orientations) > 1:
        return f"its images lie in several planes ({', '.join(s.orientations)})"
    if s.n_positions < s.info.n_images:
        return (f"its {s.info.n_images} images share {s.n_positions} slice positions "
                "(several echoes, phases or repeats in one series)")
    return None


def _is_localizer(s: _Series) -> bool:
    return "LOCALIZER" in s.info.image_type or bool(_LOCALIZER_WORDS.search(s.words))


def _ct_unusable(s: _Series) -> str | None:
    """Why a series cannot be the CT, or None when it can."""
    if reason := _non_image_reason(s):
        return reason
    if s.info.modality != "CT":
        return f"not a CT (modality {s.info.modality or 'missing'})"
    if s.info.orientation != "axial":
        return f"{_article(s.info.orientation)} {s.info.orientation} series, not axial"
    if s.info.n_images < MIN_CT_SLICES:
        return f"only {s.info.n_images} images (fewer than {MIN_CT_SLICES}): a partial series"
    return None


def _enhanced(s: _Series, words: re.Pattern) -> str | None:
    """Why the series counts as contrast-enhanced, or None."""
    agent = (s.info.contrast_agent or "").strip()
    if agent.upper() not in _NO_CONTRAST_AGENT:
        return f"contrast agent {agent!r} in the header"
    if not _NON_CONTRAST_WORDS.search(s.words) and (match := words.search(s.words)):
        return f"{match.group(1)!r} in its name"
    return None


def _thickness(s: _Series) -> float:
    return s.info.slice_thickness_mm if s.info.slice_thickness_mm is not None else float("inf")


def _coverage(s: _Series) -> float:
    return min(s.info.extent_mm, COMPLETE_COVERAGE_MM)


def _ct_criteria(s: _Series, best_coverage_mm: float) -> tuple:
    """The CT rule's sort key, criterion by criterion (lower first)."""
    return (
        _coverage(s) < best_coverage_mm - COVERAGE_TOLERANCE_MM,
        _enhanced(s, _CT_CONTRAST_WORDS) is not None,
        _thickness(s) > MAX_THIN_SLICE_MM,
        KERNEL_RANK[kernel_class(s.info.kernel)],
        _thickness(s),
        -s.info.n_images,
        s.info.series_uid or s.info.path,
    )


def _describe_ct(s: _Series) -> str:
    thickness = f"{s.info.slice_thickness_mm:g} mm" if s.info.slice_thickness_mm is not None else "unknown thickness"
    kernel = f"{_KERNEL_WORDS[kernel_class(s.info.kernel)]} {s.info.kernel}" if s.info.kernel else "no kernel named"
    enhanced = "enhanced" if _enhanced(s, _CT_CONTRAST_WORDS) else "unenhanced"
    return f"{s.label}, {s.info.n_images} axial images of {thickness}, {kernel}, {enhanced}, {s.info.extent_mm:.0f} mm long"


def _ct_loses(s: _Series, chosen: _Series, best_coverage_mm: float) -> str:
    """One clause saying by which criterion ``s`` loses against the chosen CT."""
    mine, theirs = _ct_criteria(s, best_coverage_mm), _ct_criteria(chosen, best_coverage_mm)
    if mine[0] != theirs[0]:
        return f"covers {s.info.extent_mm:.0f} mm, less than the {chosen.info.extent_mm:.0f} mm of the chosen CT"
    if mine[1] != theirs[1]:
        return f"contrast-enhanced ({_enhanced(s, _CT_CONTRAST_WORDS)}) while an unenhanced CT exists"
    if mine[2] != theirs[2]:
        return f"{_thickness(s):g} mm slices, thicker than {MAX_THIN_SLICE_MM:g} mm, while a {_thickness(chosen):g} mm series exists"
    if mine[3] != theirs[3]:
        return (f"{_KERNEL_WORDS[kernel_class(s.info.kernel)]} {s.info.kernel}, while a series with the "
                f"{_KERNEL_WORDS[kernel_class(chosen.info.kernel)]} {chosen.info.kernel} exists")
    if mine[4] != theirs[4]:
        return f"{_thickness(s):g} mm slices, thicker than the chosen {_thickness(chosen):g} mm"
    return "equivalent to the chosen CT, which has more images or comes first by SeriesInstanceUID"


def _choose_ct(series: list[_Series]) -> tuple[_Series | None, str | None, dict[int, str]]:
    """Apply the CT rule: the chosen series, the sentence why, and a reason for every other CT candidate."""
    usable = [s for s in series if _ct_unusable(s) is None]
    if not usable:
        return None, None, {}
    best_coverage_mm = max(_coverage(s) for s in usable)
    usable.sort(key=lambda s: _ct_criteria(s, best_coverage_mm))
    chosen = usable[0]
    notes = []
    if _thickness(chosen) > MAX_THIN_SLICE_MM:
        notes.append(f"thicker than {MAX_THIN_SLICE_MM:g} mm because no thinner reconstruction exists")
    if why := _enhanced(chosen, _CT_CONTRAST_WORDS):
        notes.append(f"contrast-enhanced ({why}) because no unenhanced series exists")
    if kernel_class(chosen.info.kernel) != "soft":
        notes.append("no series with a soft-tissue kernel exists")
    if chosen.info.extent_mm < COMPLETE_COVERAGE_MM:
        notes.append(f"it covers less than {COMPLETE_COVERAGE_MM:.0f} mm, so levels of T12-L5 may be missing")
    how = "the only usable CT series" if len(usable) == 1 else (
        f"the best of {len(usable)} usable CT series by coverage, contrast, slice thickness and kernel")
    sentence = f"CT: {_describe_ct(chosen)}: {how}" + ("; " + "; ".join(notes) if notes else "") + "."
    reasons = {id(s): _ct_loses(s, chosen, best_coverage_mm) for s in usable[1:]}
    return chosen, sentence, reasons


def _mr_unusable(s: _Series, plane: str) -> str | None:
    """Why a series cannot be the ``plane`` T1 MR, or None when it can."""
    if reason := _non_image_reason(s):
        return reason
    if s.info.modality != "MR":
        return f"not an MR (modality {s.info.modality or 'missing'})"
    if s.info.n_images < MIN_MR_SLICES:
        return f"only {s.info.n_images} images (fewer than {MIN_MR_SLICES})"
    is_t1, why = t1_weighting(s.words, s.echo_time_ms, s.repetition_time_ms)
    if not is_t1:
        return f"{why}"
    if s.info.orientation != plane:
        return f"{_article(s.info.orientation)} {s.info.orientation} T1, not {plane}"
    return None


def _choose_mr(series: list[_Series], plane: str) -> tuple[_Series | None, str | None, dict[int, str]]:
    """Apply the MR rule for ``plane`` (``sagittal`` or ``axial``)."""
    usable = [s for s in series if _mr_unusable(s, plane) is None]
    if not usable:
        return None, None, {}
    usable.sort(key=lambda s: (_enhanced(s, _MR_CONTRAST_WORDS) is not None, -s.info.n_images, s.info.series_uid or s.info.path))
    chosen = usable[0]
    role = "MRI" if plane == "sagittal" else "axial MRI"
    _, weighting = t1_weighting(chosen.words, chosen.echo_time_ms, chosen.repetition_time_ms)
    how = f"the only {plane} T1 series" if len(usable) == 1 else f"the best of {len(usable)} {plane} T1 series (unenhanced, then most images)"
    sentence = f"{role}: {chosen.label}, {chosen.info.n_images} {plane} images, {weighting}: {how}"
    if why := _enhanced(chosen, _MR_CONTRAST_WORDS):
        sentence += f"; contrast-enhanced ({why}) because no unenhanced one exists"
    reasons = {}
    for s in usable[1:]:
        if _enhanced(s, _MR_CONTRAST_WORDS) and not _enhanced(chosen, _MR_CONTRAST_WORDS):
            reasons[id(s)] = f"a contrast-enhanced {plane} T1 while an unenhanced one exists"
        elif s.info.n_images < chosen.info.n_images:
            reasons[id(s)] = f"fewer images ({s.info.n_images}) than the chosen {plane} T1 ({chosen.info.n_images})"
        else:
            reasons[id(s)] = f"equivalent to the chosen {plane} T1, which comes first by SeriesInstanceUID"
    return chosen, sentence + ".", reasons


@dataclass(frozen=True)
class _Choice:
    ct: SeriesInfo | None
    mri: SeriesInfo | None
    axial: SeriesInfo | None
    choice: tuple[str, ...]
    passed_over: tuple[PassedOver, ...]
    problem: str | None


def _choose(series: list[_Series], roles: Sequence[str] = ("ct", "mri", "axial")) -> _Choice:
    """Choose the series of each role among ``series`` and say why every other one was not chosen."""
    series = sorted(series, key=lambda s: s.sort_key)
    ct, ct_why, ct_reasons = _choose_ct(series) if "ct" in roles else (None, None, {})
    mri, mri_why, mri_reasons = _choose_mr(series, "sagittal") if "mri" in roles else (None, None, {})
    axial, axial_why, axial_reasons = _choose_mr(series, "axial") if "axial" in roles else (None, None, {})
    if axial is not None and mri is None and "mri" in roles:
        axial_reasons = {**axial_reasons, id(axial): "an axial T1 is used only beside a sagittal T1, and there is none"}
        axial, axial_why = None, None
    chosen = {id(s) for s in (ct, mri, axial) if s is not None}
    passed = []
    for s in series:
        if id(s) in chosen:
            continue
        reason = ct_reasons.get(id(s)) or mri_reasons.get(id(s)) or axial_reasons.get(id(s)) or _unusable(s, roles)
        passed.append(PassedOver(s.info, _sentence(f"{s.label}: {reason}")))
    found = axial is not None if tuple(roles) == ("axial",) else (ct is not None or mri is not None)
    problem = None if found else _problem(series, roles, passed)
    return _Choice(
        ct=ct.info if ct else None, mri=mri.info if mri else None, axial=axial.info if axial else None,
        choice=tuple(w for w in (ct_why, mri_why, axial_why) if w), passed_over=tuple(passed), problem=problem,
    )


def _unusable(s: _Series, roles: Sequence[str]) -> str:
    """Why a series fits none of ``roles``: judged by the MR rule when it is an MR and an MR role is wanted."""
    mr_plane = "sagittal" if "mri" in roles else "axial" if "axial" in roles else None
    if mr_plane and (s.info.modality == "MR" or "ct" not in roles):
        reason = _mr_unusable(s, mr_plane)
    else:
        reason = _ct_unusable(s)
    return reason or "not needed for any role"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


def _problem(series: list[_Series], roles: Sequence[str], passed: Sequence[PassedOver] = ()) -> str:
    """One sentence saying why a study has nothing to measure, with the reasons of the first series passed over (a
    skipped study has no folder: its reason is all the cohort table and QC page show)."""
    wanted = {"ct": "CT", "mri": "sagittal T1 MR", "axial": "axial T1 MR"}
    needed = " or ".join(wanted[r] for r in roles if r != "axial" or len(roles) == 1)
    damaged = sum(s.n_damaged for s in series)
    images = [s for s in series if s.is_image and not s.n_damaged and s.info.modality not in NON_IMAGE_MODALITIES
              and not s.sop_class.startswith(NON_IMAGE_SOP_PREFIXES)]
    if not series:
        return "no readable image series"
    if not images:
        if damaged:
            return f"no readable image series: {damaged} files have truncated or missing pixel data"
        return "no readable image series: only dose reports, secondary captures or other non-volume objects"
    if all(_is_localizer(s) for s in images):
        return f"only a localizer ({sum(s.info.n_images for s in images)} images), no {needed} series"
    shown = "; ".join(p.reason.rstrip(".") for p in passed[:REASONS_IN_PROBLEM])
    more = f"; {len(passed) - REASONS_IN_PROBLEM} more in the ledger" if len(passed) > REASONS_IN_PROBLEM else ""
    return f"no usable {needed} series among {len(series)} series" + (f": {shown}{more}" if shown else "")


# ----------------------------------------------------------------------------------------------- inputs


def once_each(headers: list[_Header]) -> tuple[list[_Header], int]:
    """The headers with each image once: a file repeating the SOPInstanceUID of an earlier one (in path order) of
    its series, as a study exported or copied twice, is dropped; files without a SOPInstanceUID are all kept.

    Returns
    -------
    headers : list
        The headers kept, in path order.
    n_repeated : int
        How many files repeated an image.
    """
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for h in sorted(headers, key=lambda h: str(h.path)):
        key = (h.study_uid, h.series_uid, h.sop_uid)
        if h.sop_uid and key in seen:
            continue
        seen.add(key)
        kept.append(h)
    return kept, len(headers) - len(kept)


def _group_dicom(headers: list[_Header]) -> dict[str, dict[str | None, list[_Header]]]:
    """Group headers by study (StudyInstanceUID, or the folder when missing) and series."""
    studies: dict[str, dict[str | None, list[_Header]]] = defaultdict(lambda: defaultdict(list))
    for h in headers:
        folder = _relative_folder(h)
        study = h.study_uid or f"folder:{folder}"
        series = h.series_uid or f"folder:{folder}|{h.modality}|{h.series_number}|{h.description}"
        studies[study][series].append(h)
    return studies


def _relative_folder(h: _Header) -> str:
    """The file's folder relative to the parent of its input (machine independent, for keys of UID-less files)."""
    return h.path.parent.relative_to(h.root.parent).as_posix() if h.path.is_relative_to(h.root.parent) else h.path.parent.as_posix()


def _dicom_study(study_id: str, groups: dict[str | None, list[_Header]]) -> StudyInputs:
    headers = [h for group in groups.values() for h in group]
    first = min(headers, key=lambda h: str(h.path))
    series = [_build_series(None if uid.startswith("folder:") else uid, group) for uid, group in groups.items()]
    choice = _choose(series)
    identifiers = tuple(
        (name, value) for name, value in (
            ("PatientID", first.patient_id), ("AccessionNumber", first.accession),
            ("StudyInstanceUID", first.study_uid), ("StudyDate", first.study_date),
        ) if value
    )
    return StudyInputs(
        key=study_key(study_id), patient_key=patient_key(first.patient_id or study_id),
        ct=choice.ct, mri=choice.mri, axial=choice.axial, identifiers=identifiers,
        choice=choice.choice, passed_over=choice.passed_over, problem=choice.problem,
    )


def _nifti_studies(images: list[tuple[Path, Path]]) -> list[StudyInputs]:
    """One study per NIfTI image ``(file, input root)``; ``<stem>_labels``/``<stem>_seg`` files are label maps."""
    by_folder_stem = {(path.parent, _nifti_stem(path)): path for path, _ in images}
    studies = []
    for path, root in images:
        stem = _nifti_stem(path)
        if any(stem.endswith(suffix) for suffix in LABEL_SUFFIXES):
            image_stem = next(stem[: -len(s)] for s in LABEL_SUFFIXES if stem.endswith(s))
            if (path.parent, image_stem) not in by_folder_stem:
                logger.info("%s: a label map without an image %s.nii(.gz) beside it; ignored", path, image_stem)
            continue
        labels = next((by_folder_stem[(path.parent, stem + s)] for s in LABEL_SUFFIXES
                       if (path.parent, stem + s) in by_folder_stem), None)
        relative = path.relative_to(root).as_posix()
        key = study_key(relative)
        series, problem = nifti_series(path)
        studies.append(StudyInputs(
            key=key, patient_key=patient_key(relative), ct=series,
            labels=str(labels) if labels is not None else None,
            choice=(f"CT: {_describe_nifti(series)}" + (", with its label map beside it." if labels else "."),),
            problem=problem and f"the NIfTI file {problem}", role_from_values=True,
        ))
    return studies


def nifti_series(path: Path) -> tuple[SeriesInfo, str | None]:
    """A NIfTI image described from its header (no voxels read), and why it cannot be read (None when it can).

    The third voxel axis is the slice axis: ``n_images`` counts its slices, ``extent_mm`` is the length they
    cover ((n - 1) x the spacing along it) and ``orientation`` names the plane by the direction of that axis in
    the affine. NIfTI carries no acquisition header, so modality, description, kernel and thickness stay unknown.
    The reason never names the path (folder names may name the patient).
    """
    import nibabel as nib

    try:
        image = nib.load(str(path))
        shape, affine = image.shape, np.asarray(image.affine, dtype=float)
    except Exception as exc:  # nibabel raises many types for a damaged header
        return SeriesInfo(path=str(path)), f"cannot be read as NIfTI ({type(exc).__name__})"
    if len(shape) < 3:
        return SeriesInfo(path=str(path)), f"holds a {len(shape)}D image, not a volume"
    columns = affine[:3, :3] / np.maximum(np.linalg.norm(affine[:3, :3], axis=0), 1e-12)
    orientation, _ = _orientation(np.concatenate([columns[:, 0], columns[:, 1]]))
    spacing_mm = float(np.linalg.norm(affine[:3, 2]))
    return SeriesInfo(path=str(path), n_images=int(shape[2]), orientation=orientation,
                      extent_mm=round((shape[2] - 1) * spacing_mm, 2)), None


def _describe_nifti(series: SeriesInfo) -> str:
    """How a choice sentence names a NIfTI file: its slices and plane, never its path."""
    if not series.n_images:
        return "a NIfTI file"
    return f"a NIfTI file of {series.n_images} {series.orientation} slices, {series.extent_mm:.0f} mm long"


@dataclass(frozen=True)
class _Manifest:
    """What a manifest gives: its studies, the row each came from (as a text editor or Excel numbers it) and the
    headers of the DICOM files its folders hold (for :func:`same_images`)."""

    studies: list[StudyInputs]
    #: study key -> (the manifest's file name, its row)
    rows: dict[str, tuple[str, int]]
    headers: list[_Header]


def manifest_rows(text: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a manifest's text, each with its line number as a text editor or Excel shows it.

    Blank lines (and rows of empty cells) are dropped but still counted, so a message names the row the user
    sees (:func:`spinebq.stats.data.csv_records`). The delimiter is found as in a clinical spreadsheet
    (:func:`spinebq.stats.data.csv_delimiter`).

    >>> manifest_rows("id,ct\\n\\na,x.nii\\n,\\nb,y.nii\\n")
    [(1, ['id', 'ct']), (3, ['a', 'x.nii']), (5, ['b', 'y.nii'])]
    """
    from spinebq.stats.data import csv_delimiter, csv_records

    return [(line, row) for line, row in csv_records(text, csv_delimiter(text)) if any(cell.strip() for cell in row)]


def _names_paths(manifest: Path, cells: Sequence[str]) -> bool:
    """Whether every filled cell of a manifest column names an existing file or folder (read from the manifest's
    folder when relative, as the image columns are), and at least one is filled (``.``, a missing-value code of
    SPSS and SAS, names no file here)."""
    filled = [cell.strip() for cell in cells if cell.strip() not in ("", ".", "..")]

    def exists(cell: str) -> bool:
        path = Path(cell).expanduser()
        return (path if path.is_absolute() else manifest.parent / path).exists()

    return bool(filled) and all(exists(cell) for cell in filled)


def _manifest_studies(manifest: Path, *, threads: int) -> _Manifest:
    """One study per row of a manifest CSV (see the module doc)."""
    from spinebq.stats.data import HEADER_SEARCH_ROWS, csv_text

    try:
        text = csv_text(manifest.name, manifest.read_bytes())
    except OSError as exc:
        raise SpinebqError(f"{manifest}: the manifest cannot be read ({exc})") from None
    rows = manifest_rows(text)
    if not rows:
        raise SpinebqError(f"{manifest}: the manifest is empty; it needs a header row with an 'id' column")
    # rows above the column names (a title) are passed over, as in a clinical spreadsheet
    named = [n for n, (_, row) in enumerate(rows[:HEADER_SEARCH_ROWS]) if "id" in (cell.strip().lower() for cell in row)]
    rows = rows[named[0]:] if named else rows
    header = [name.strip() for name in rows[0][1]]
    lower = [name.lower() for name in header]
    if "id" not in lower:
        raise SpinebqError(f"{manifest}: the manifest has no 'id' column (columns: {', '.join(header)})")
    if "ct" not in lower and "mri" not in lower:
        raise SpinebqError(f"{manifest}: the manifest has neither a 'ct' nor an 'mri' column (columns: {', '.join(header)})")
    if len(set(lower)) != len(lower):
        twice = sorted({n for n in header if lower.count(n.lower()) > 1})
        raise SpinebqError(f"{manifest}: the manifest repeats the column(s) {', '.join(twice)}")
    column = {name: lower.index(name) for name in MANIFEST_RESERVED if name in lower}
    clinical = [i for i, name in enumerate(lower) if name not in MANIFEST_RESERVED]
    paths = [header[i] for i in clinical if _names_paths(manifest, [row[i] for _, row in rows[1:] if i < len(row)])]
    if paths:
        raise SpinebqError(f"{manifest}: the column(s) {', '.join(paths)} hold file or folder paths but are none of the "
                           f"image columns ({', '.join(MANIFEST_ROLES)}): they would be copied into cohort.csv as "
                           "clinical values (a folder's name may name the patient). Rename a column to its role "
                           "('labels' are the CT's vertebra labels, 'mri_labels' the MRI's), or "
                           "remove it")
    seen: dict[str, int] = {}
    scans: dict[Path, tuple[list[_Series], list[_Header]]] = {}
    studies, where = [], {}
    for line, row in rows[1:]:
        row = row + [""] * (len(header) - len(row))
        value = {name: row[i].strip() for name, i in column.items()}
        study_id = value["id"]
        if not study_id:
            raise SpinebqError(f"{manifest}: row {line} has an empty id")
        if study_id in seen:
            raise SpinebqError(f"{manifest}: the id {study_id!r} appears on rows {seen[study_id]} and {line}; ids must be unique")
        seen[study_id] = line
        studies.append(_manifest_row(manifest, line, study_id, value, [(header[i], row[i].strip()) for i in clinical],
                                     scans, threads=threads))
        where[studies[-1].key] = (manifest.name, line)
    return _Manifest(studies, where, [h for _, headers in scans.values() for h in headers])


def _manifest_row(manifest: Path, line: int, study_id: str, value: dict[str, str], clinical: list[tuple[str, str]],
                  scans: dict[Path, tuple[list[_Series], list[_Header]]], *, threads: int) -> StudyInputs:
    """The study of row ``line`` of a manifest: each role's path resolved, DICOM folders chosen from by the rule.

    Sentences name the row, never a path (folder names may name the patient)."""
    identifiers = (("id", study_id),) + ((("patient", value["patient"]),) if value.get("patient") else ())
    base = dict(key=study_key(study_id), patient_key=patient_key(value.get("patient") or study_id),
                clinical=tuple(clinical), identifiers=identifiers)
    paths = {role: value.get(role, "") for role in MANIFEST_ROLES}
    if not paths["ct"] and not paths["mri"]:
        return StudyInputs(**base, problem="the manifest row names neither a ct nor an mri path")
    if paths["mri_labels"] and not paths["mri"]:
        return StudyInputs(**base, problem="the manifest row names mri_labels but no mri path for them to label")
    try:  # a value the assessment cannot read is said before the images are measured, not after
        _check_clinical(clinical, line)
    except SpinebqError as exc:
        return StudyInputs(**base, problem=str(exc))
    resolved = {}
    for role, text in paths.items():
        if text:
            path = Path(text) if Path(text).is_absolute() else manifest.parent / text
            if not path.exists():
                return StudyInputs(**base, problem=f"the {role} path on row {line} of the manifest does not exist"
                                   + _from_current_folder(text))
            resolved[role] = path
    roles: dict[str, SeriesInfo | None] = {}
    choice, passed, problems = [], [], []
    for role in ("ct", "mri", "axial"):
        path = resolved.get(role)
        if path is None:
            continue
        if path.is_file() and _is_nifti(path):
            roles[role], unreadable = nifti_series(path)
            if unreadable:
                return StudyInputs(**base, problem=f"the {role} file on row {line} of the manifest {unreadable}")
            choice.append(f"{role.upper() if role == 'ct' else role}: {_describe_nifti(roles[role])} (the {role} "
                          f"column of row {line} of the manifest).")
            continue
        if path not in scans:
            scans[path] = _scan_dicom_folder(path, threads=threads)
        picked = _choose(scans[path][0], roles=(role,))
        roles[role] = getattr(picked, role)
        choice.extend(picked.choice)
        passed.extend(picked.passed_over)
        if roles[role] is None:
            problems.append(f"the {role} path on row {line} of the manifest: {picked.problem or 'no usable series'}")
    problem = None
    if roles.get("ct") is None and roles.get("mri") is None:
        problem = "; ".join(problems) or "no usable CT or sagittal T1 MR series"
    return StudyInputs(
        **base, ct=roles.get("ct"), mri=roles.get("mri"), axial=roles.get("axial") if roles.get("mri") or roles.get("ct") else None,
        labels=str(resolved["labels"]) if "labels" in resolved else None,
        mri_labels=str(resolved["mri_labels"]) if "mri_labels" in resolved else None,
        choice=tuple(choice), passed_over=tuple(passed), problem=problem,
    )


def _check_clinical(clinical: list[tuple[str, str]], line: int) -> None:
    """Refuse a manifest row whose clinical columns that the assessment reads (``age``, ``sex``, ``planned_levels``
    ...: :class:`spinebq.io.schemas.Clinical`) hold a value it cannot read; the row is named, not the file."""
    from spinebq.io.schemas import Clinical, clinical_fields, validated

    validated(Clinical, clinical_fields(clinical), f"row {line} of the manifest", "the clinical values")


def _from_current_folder(text: str) -> str:
    """What to add when a manifest's relative path, missing from the manifest's folder, exists from the current one."""
    if Path(text).is_absolute() or not Path(text).exists():
        return ""
    return (" in the manifest's folder, which relative paths are read from (it exists from the current folder): "
            "write it from the manifest's folder or as an absolute path")


def _file_fingerprint(path: Path) -> str:
    """Size and the SHA-256 of the first and last :data:`FINGERPRINT_BYTES` of a file: equal for a copy."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_BYTES))
        handle.seek(max(0, size - FINGERPRINT_BYTES))
        digest.update(handle.read(FINGERPRINT_BYTES))
    return digest.hexdigest()


def same_images(studies: Sequence[StudyInputs], headers: Sequence[_Header] = ()) -> list[list[str]]:
    """The keys of studies whose CT, or whose sagittal MRI, is the same images, a group per copied study.

    A NIfTI image is compared by its file; a DICOM series by its first file (in path order) among ``headers``, so
    an anonymised export copied twice (no UIDs: each folder a study of its own) is found, and so are two manifest
    rows naming one image or one DICOM folder twice (a copy of it, or it and its parent folder); a DICOM series
    also by its SeriesInstanceUID, which names one series wherever its files lie. Reads at most two
    :data:`FINGERPRINT_BYTES` pieces of one file per image.
    """
    first: dict[tuple[str, str], Path] = {}
    for h in sorted(headers, key=lambda h: str(h.path)):
        first.setdefault((str(h.path.parent), h.series_uid), h.path)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for study in studies:
        for role in ("ct", "mri"):
            series = getattr(study, role)
            if series is None or study.problem:
                continue
            path = Path(series.path)
            if series.series_uid:
                groups[role, "uid:" + series.series_uid].append(study.key)
            if not path.is_file():  # a DICOM folder: the first file of the series under it
                inside = [p for (folder, uid), p in first.items()
                          if uid == (series.series_uid or "") and Path(folder).is_relative_to(path)]
                path = min(inside, key=str) if inside else None
            if path is not None:
                try:
                    groups[role, _file_fingerprint(path)].append(study.key)
                except OSError:
                    continue
    copies = {tuple(sorted(set(keys))) for keys in groups.values()}
    return sorted(list(keys) for keys in copies if len(keys) > 1)


def _manifest_rows_of(keys: Sequence[str], rows: dict[str, tuple[str, int]]) -> str:
    """How a note names the manifest rows of studies: ``"rows 2 and 5 of manifest.csv; "`` (empty for none)."""
    by_file: dict[str, list[int]] = defaultdict(list)
    for key in keys:
        if key in rows:
            by_file[rows[key][0]].append(rows[key][1])
    said = []
    for name, lines in by_file.items():
        numbers = [str(n) for n in sorted(lines)]
        listed = ", ".join(numbers[:-1]) + " and " + numbers[-1] if len(numbers) > 1 else numbers[0]
        said.append(f"row{'s' * (len(numbers) > 1)} {listed} of {name}; ")
    return "".join(said)


def _scan_dicom_folder(path: Path, *, threads: int) -> tuple[list[_Series], list[_Header]]:
    """Every series under a DICOM folder (or one DICOM file), whatever its study, and the headers read."""
    files = _walk(path) if path.is_dir() else [path]
    scan = _read_dicom_files([(f, path) for f in files if not _is_nifti(f)], threads=threads, progress=None)
    if scan.n_unreadable:
        logger.info("%s: %d of %d files are not readable DICOM and were ignored", path, scan.n_unreadable, scan.n_files)
    headers, repeated = once_each(scan.headers)
    if repeated:
        logger.info("%s: %d files repeat images found in other files (the same SOPInstanceUID); each image is "
                    "read once", path, repeated)
    return [_build_series(None if uid.startswith("folder:") else uid, group)
            for groups in _group_dicom(headers).values() for uid, group in groups.items()], headers


def discover(inputs: Sequence[str | Path], *, threads: int = 4,
             progress: Callable[[int, int], None] | None = None) -> list[StudyInputs]:
    """Find the studies in ``inputs`` and choose the series of each (the rule is in the module doc).

    Parameters
    ----------
    inputs : sequence of str or Path
        DICOM trees, folders of NIfTI files, single NIfTI or DICOM files, and manifest CSVs, in any mix.
        DICOM files of one study found under several inputs are joined into one study.
    threads : int
        Threads reading DICOM headers in parallel.
    progress : callable, optional
        Called as ``progress(files_done, files_total)`` from the calling thread while DICOM headers are read.

    Returns
    -------
    list of StudyInputs
        One per study, sorted by key; a study that cannot be measured has ``problem`` set.

    Raises
    ------
    SpinebqError
        When an input does not exist, holds no readable DICOM or NIfTI file, or is a malformed manifest
        (no ``id`` column, duplicate ids), or when two inputs give studies the same key.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not inputs:
        raise SpinebqError("no input was given: name DICOM folders, NIfTI folders or files, or a manifest CSV")
    dicom_files: list[tuple[Path, Path]] = []
    nifti_files: list[tuple[Path, Path]] = []
    manifests: list[Path] = []
    counts: dict[Path, tuple[int, int]] = {}  # input -> (files, NIfTI images)
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item).absolute()
        if not path.exists():
            raise SpinebqError(f"{item}: no such file or folder")
        if path.is_file() and path.suffix.lower() == ".csv":
            manifests.append(path)
            continue
        files = _walk(path) if path.is_dir() else [path]
        if not files:
            raise SpinebqError(f"{item}: the folder is empty")
        files = [f for f in files if f not in seen and not seen.add(f)]  # a folder given twice, or inside another
        images = [f for f in files if _is_nifti(f)]
        nifti_files.extend((f, path if path.is_dir() else path.parent) for f in images)
        dicom_files.extend((f, path) for f in files if not _is_nifti(f))
        if files:  # an input whose files all lie in an earlier one adds nothing, and is no error
            counts[path] = (len(files), len(images))

    scan = _read_dicom_files(dicom_files, threads=threads, progress=progress)
    read_from = Counter(h.root for h in scan.headers)
    for path, (n_files, n_images) in counts.items():
        if n_images == 0 and read_from[path] == 0:
            raise SpinebqError(f"{path}: no readable DICOM or NIfTI file among its {n_files} files")
    if scan.n_unreadable:
        logger.info("%d of %d files are not DICOM image objects or are unreadable; they were ignored",
                    scan.n_unreadable, scan.n_files)

    headers, repeated = once_each(scan.headers)
    if repeated:
        logger.info("%d files repeat images found in other files (the same SOPInstanceUID: a study exported or copied "
                    "twice); each image is read once", repeated)
    studies = [_dicom_study(study_id, groups) for study_id, groups in _group_dicom(headers).items()]
    studies.extend(_nifti_studies(nifti_files))
    rows: dict[str, tuple[str, int]] = {}
    for manifest in manifests:
        read = _manifest_studies(manifest, threads=threads)
        studies.extend(read.studies)
        rows |= read.rows
        headers += read.headers
    for copies in same_images(studies, headers):
        logger.info("studies %s hold the same image files (%sone study copied?): each is measured; give it once",
                    " and ".join(copies), _manifest_rows_of(copies, rows))
    keys: dict[str, StudyInputs] = {}
    for study in studies:
        if study.key in keys:
            raise SpinebqError(
                f"two inputs give the study key {study.key} (the same manifest id, NIfTI path or StudyInstanceUID "
                "in two inputs); give each study once (a NIfTI file is keyed by its path inside the folder given: "
                "for two folders each holding a file of that name, give the folder above them)"
            )
        keys[study.key] = study
    return sorted(studies, key=lambda s: s.key)
