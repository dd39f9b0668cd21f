"""Malformed and hostile inputs built from the real files of ../shared/data and the phantom.

:func:`build_corpus` writes every case into a folder and returns what to run on it; :func:`run_case` runs one
(in a subprocess, with a time limit) and :func:`check_case` says what went wrong, if anything: an internal
error (exit 1), a hang, a half-written or changed ``--out``, a changed input, or a refusal that is not one
sentence naming the file. Used by ``tests/inputs/test_corpus.py`` (a sample) and ``tests/malformed_corpus.py``
(all of it, by hand).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
TS = DATA / "totalsegmentator_example"

#: Seconds after which a run counts as hung.
HANG_S = 60.0


@dataclass
class Case:
    """One malformed input and the command run on it."""

    name: str
    klass: str
    argv: list[str]
    out: Path
    inputs: list[Path]
    names: list[str] = field(default_factory=list)  # one of these must be in the refusal sentence
    may_succeed: bool = False  # a valid-looking mutation (fuzzing) may be measured


@dataclass
class Outcome:
    case: Case
    code: int | None
    seconds: float
    stderr: str
    problems: list[str]


# --- snapshots -------------------------------------------------------------------------------------------


def snapshot(path: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``path`` (or of the file itself); {} when absent."""
    if not path.exists():
        return {}
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


# --- NIfTI -----------------------------------------------------------------------------------------------


def _base_nifti(root: Path) -> tuple[nib.Nifti1Image, Path, Path]:
    ct = nib.load(str(TS / "ct.nii.gz"))
    labels = nib.load(str(TS / "seg_v2" / "total.nii.gz"))
    return ct, TS / "ct.nii.gz", TS / "seg_v2" / "total.nii.gz"


def _save(image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))
    return path


def _raw_nii(ct: nib.Nifti1Image, path: Path, edit) -> Path:
    """An uncompressed .nii of ``ct`` with ``edit(bytearray)`` applied to its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.nii")
    nib.save(nib.Nifti1Image(np.asarray(ct.dataobj), ct.affine, ct.header), str(tmp))
    data = bytearray(tmp.read_bytes())
    tmp.unlink()
    data = edit(data)
    path.write_bytes(bytes(data))
    return path


def _put(offset: int, fmt: str, *values):
    def edit(data: bytearray) -> bytearray:
        struct.pack_into("<" + fmt, data, offset, *values)
        return data
    return edit


def nifti_cases(root: Path) -> list[tuple[str, str, Path, bool]]:
    """(name, class, file, may_succeed) of malformed CT NIfTI files."""
    ct, _, _ = _base_nifti(root)
    data = np.asarray(ct.dataobj).astype(np.int16)
    d = root / "nifti"
    out: list[tuple[str, str, Path, bool]] = []

    def image(array=data, affine=ct.affine, dtype=None, **header):
        img = nib.Nifti1Image(array if dtype is None else array.astype(dtype), affine)
        img.header.set_xyzt_units("mm")
        for key, value in header.items():
            img.header[key] = value
        return img

    good_gz = (TS / "ct.nii.gz").read_bytes()
    for fraction in (0.0, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
        p = d / f"truncated_gz_{fraction}.nii.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(good_gz[: int(len(good_gz) * fraction)])
        out.append((p.stem, "nifti truncated", p, False))
    for fraction in (0.05, 0.2, 0.5, 0.9, 0.999):
        p = _raw_nii(ct, d / f"truncated_nii_{fraction}.nii", lambda b, f=fraction: b[: int(len(b) * f)])
        out.append((p.stem, "nifti truncated", p, False))
    for value in (0, 1, 347, 540, 2**31 - 1, -348):
        p = _raw_nii(ct, d / f"sizeof_hdr_{value}.nii", _put(0, "i", value))
        out.append((p.stem, "nifti sizeof_hdr", p, False))
    for magic in (b"xxxx", b"\0\0\0\0", b"ni1\0", b"n+2\0"):
        p = _raw_nii(ct, d / f"magic_{magic.hex()}.nii", lambda b, m=magic: b[:344] + bytearray(m) + b[348:])
        out.append((p.stem, "nifti magic", p, False))
    for dim0 in (0, -1, 8, 9, 2):
        p = _raw_nii(ct, d / f"dim0_{dim0}.nii", _put(40, "h", dim0))
        out.append((p.stem, "nifti dim", p, False))
    for axis, value in ((1, 0), (2, -5), (3, 32767), (1, 1)):
        p = _raw_nii(ct, d / f"dim{axis}_{value}.nii", _put(40 + 2 * axis, "h", value))
        out.append((p.stem, "nifti dim", p, False))
    huge = _raw_nii(ct, d / "dim_huge_4d.nii", _put(40, "8h", 4, 32767, 32767, 32767, 1000, 1, 1, 1))
    out.append((huge.stem, "resource guard", huge, False))
    huge3 = _raw_nii(ct, d / "dim_huge_3d.nii", _put(40, "8h", 3, 30000, 30000, 30000, 1, 1, 1, 1))
    out.append((huge3.stem, "resource guard", huge3, False))
    out.append(("four_d", "nifti 4D/5D", _save(image(np.stack([data, data], axis=3)), d / "four_d.nii.gz"), False))
    out.append(("five_d", "nifti 4D/5D", _save(image(data[..., None, None].repeat(2, axis=4)), d / "five_d.nii.gz"), False))
    out.append(("two_d", "nifti dim", _save(image(data[:, :, 50]), d / "two_d.nii.gz"), False))
    for axis in (1, 2, 3):
        for label, value in (("zero", 0.0), ("nan", float("nan")), ("neg", -3.0), ("absurd", 1e6), ("tiny", 1e-6),
                             ("inf", float("inf"))):
            p = _raw_nii(ct, d / f"pixdim{axis}_{label}.nii", _put(76 + 4 * axis, "f", value))
            out.append((p.stem, "nifti pixdim", p, False))
    big_voxels = _raw_nii(ct, d / "extent_absurd.nii", _put(80, "3f", 40.0, 40.0, 40.0))
    out.append((big_voxels.stem, "resource guard", big_voxels, False))
    for label, affine in (("nan", np.full((4, 4), np.nan)), ("inf", np.where(np.eye(4) > 0, np.inf, 0)),
                          ("singular", np.diag([3.0, 0.0, 3.0, 1.0])), ("zeros", np.zeros((4, 4))),
                          ("collinear", np.array([[3.0, 3, 0, 0], [0, 0, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]]))):
        img = image()
        img.header.set_sform(affine, code=1)
        img.header.set_qform(None, code=0)
        p = d / f"sform_{label}.nii"
        _save(img, p)
        # nibabel may refuse to store some of these: write the sform rows straight into the header bytes
        raw = bytearray(p.read_bytes())
        struct.pack_into("<12f", raw, 280, *np.asarray(affine[:3], dtype=np.float32).ravel())
        struct.pack_into("<hh", raw, 252, 0, 1)
        p.write_bytes(bytes(raw))
        out.append((p.stem, "nifti affine", p, False))
    for label, shift in (("shift50", 50.0), ("shift2", 2.0)):
        img = image()
        q = ct.affine.copy()
        q[0, 3] += shift
        img.set_qform(q, code=1)
        img.set_sform(ct.affine, code=1)
        out.append((f"qform_sform_{label}", "nifti qform/sform", _save(img, d / f"qform_sform_{label}.nii.gz"), False))
    rotated = image()
    rotated.set_qform(ct.affine, code=1)
    rot = ct.affine.copy()
    rot[:3, :3] = rot[:3, :3] @ np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    rotated.set_sform(rot, code=1)
    out.append(("qform_sform_swapped", "nifti qform/sform", _save(rotated, d / "qform_sform_swapped.nii.gz"), False))
    qnan = _raw_nii(ct, d / "quatern_nan.nii", lambda b: _put(252, "hh", 1, 0)(_put(256, "3f", np.nan, np.nan, np.nan)(b)))
    out.append((qnan.stem, "nifti affine", qnan, False))
    for label, slope, inter in (("slope_inf", np.inf, 0.0), ("inter_inf", 1.0, np.inf), ("slope_huge", 1e38, 0.0),
                                ("inter_nan", 1.0, np.nan), ("slope_neg", -1.0, 0.0)):
        p = _raw_nii(ct, d / f"scl_{label}.nii", _put(112, "ff", slope, inter))
        out.append((p.stem, "nifti scaling", p, label in ("inter_nan", "slope_neg")))
    for label, dtype in (("complex64", np.complex64), ("complex128", np.complex128)):
        out.append((f"dtype_{label}", "nifti data type", _save(image(dtype=dtype), d / f"dtype_{label}.nii.gz"), False))
    for code, label in ((1, "binary"), (128, "rgb24"), (2304, "rgba32"), (255, "dt_all"), (1792, "complex256"),
                        (0, "unknown")):
        p = _raw_nii(ct, d / f"datatype_{label}.nii", _put(70, "h", code))
        out.append((p.stem, "nifti data type", p, False))
    out.append(("bool_as_uint8", "nifti data type", _save(image((data > 200).astype(np.uint8)), d / "bool_as_uint8.nii.gz"), True))
    floats = data.astype(np.float32)
    floats[60, 50, 50] = np.nan
    out.append(("nan_voxel", "nifti values", _save(image(floats), d / "nan_voxel.nii.gz"), False))
    floats = data.astype(np.float32)
    floats[60, 50, 50] = np.inf
    out.append(("inf_voxel", "nifti values", _save(image(floats), d / "inf_voxel.nii.gz"), False))
    for offset in (-1, 2**40, 10**9, 0):
        p = _raw_nii(ct, d / f"vox_offset_{offset}.nii", _put(108, "f", float(offset)))
        out.append((p.stem, "nifti header", p, offset == 0))
    rng = np.random.default_rng(18)
    for n in range(24):  # random bytes of the header overwritten: any outcome but an internal error or a hang
        pos = int(rng.integers(0, 348))
        value = bytes(rng.integers(0, 256, size=int(rng.integers(1, 9)), dtype=np.uint8))
        p = _raw_nii(ct, d / f"header_fuzz_{n:02d}.nii",
                     lambda b, pos=pos, value=value: b[:pos] + bytearray(value) + b[pos + len(value):])
        out.append((p.stem, "nifti header fuzz", p, True))
    for name, payload in (("empty", b""), ("text", b"this is not an image\n"), ("garbage", bytes(rng.integers(0, 256, 4096, dtype=np.uint8))),
                          ("gzip_of_text", gzip.compress(b"hello world" * 100))):
        p = d / f"{name}.nii.gz"
        p.write_bytes(payload)
        out.append((name, "nifti not an image", p, False))
    mr = TS / "mr_small.nii.gz"
    out.append(("mr_as_ct", "CT value check", mr, False))
    return out


def label_cases(root: Path) -> list[tuple[str, str, Path]]:
    """(name, class, file) of malformed label maps for the real CT."""
    ct = nib.load(str(TS / "ct.nii.gz"))
    labels = nib.load(str(TS / "seg_v2" / "total.nii.gz"))
    ids = np.asarray(labels.dataobj).astype(np.int32)
    d = root / "labels"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    out = [("ct_as_labels", "label map is an image", TS / "ct.nii.gz")]

    def save(name: str, array, affine=labels.affine) -> Path:
        return _save(nib.Nifti1Image(array, affine), d / f"{name}.nii.gz")

    out.append(("negative_ids", "label map negative ids", save("negative_ids", np.where(ids > 0, -ids, 0).astype(np.int16))))
    out.append(("fractional", "label map values", save("fractional", (ids + 0.37 * (ids > 0)).astype(np.float32))))
    out.append(("thousands", "label map is an image", save("thousands", rng.integers(0, 5000, ids.shape).astype(np.int16))))
    out.append(("noise_float", "label map is an image", save("noise_float", rng.normal(0, 100, ids.shape).astype(np.float32))))
    out.append(("all_zero", "label map empty", save("all_zero", np.zeros_like(ids, dtype=np.int16))))
    out.append(("coarser_grid", "label map grid (valid: resampled)", save("coarser_grid", ids[::2, ::2, ::2].astype(np.int16),
                                                        labels.affine @ np.diag([2, 2, 2, 1.0]))))
    out.append(("shifted_far", "label map grid", save("shifted_far", ids.astype(np.int16),
                                                        labels.affine + np.array([[0, 0, 0, 900.0]] * 3 + [[0, 0, 0, 0]]))))
    out.append(("four_d_labels", "label map 4D", save("four_d_labels", np.stack([ids, ids], 3).astype(np.int16))))
    out.append(("nan_labels", "label map values", save("nan_labels", np.where(ids > 0, np.nan, 0).astype(np.float32))))
    gz = (TS / "seg_v2" / "total.nii.gz").read_bytes()
    for fraction in (0.1, 0.5, 0.9):
        p = d / f"truncated_{fraction}.nii.gz"
        p.write_bytes(gz[: int(len(gz) * fraction)])
        out.append((p.stem, "label map truncated", p))
    return out


# --- DICOM -----------------------------------------------------------------------------------------------


def _dicom_copy(root: Path, name: str) -> tuple[Path, list[Path]]:
    folder = root / "dicom" / name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(TS / "ct_dicom", folder)
    return folder, sorted(folder.iterdir())


def _edit_slices(files: list[Path], edit, which: slice = slice(None)) -> None:
    for path in files[which]:
        ds = pydicom.dcmread(path)
        edit(ds)
        ds.save_as(path, enforce_file_format=False)


def _set_raw(keyword: str, value: bytes):
    """Set an attribute's raw bytes, bypassing pydicom's value checks (as a damaged file holds them)."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    tag = Tag(tag_for_keyword(keyword))
    padded = value + (b" " if len(value) % 2 else b"")

    def edit(ds: pydicom.Dataset) -> None:
        ds._dict[tag] = RawDataElement(tag, dictionary_VR(tag), len(padded), padded, 0, False, True)
    return edit


def dicom_cases(root: Path) -> list[tuple[str, str, Path, bool]]:
    """(name, class, folder, may_succeed) of malformed DICOM CT series (copies of the real 20-slice series)."""
    import warnings

    warnings.simplefilter("ignore")
    out: list[tuple[str, str, Path, bool]] = []

    def case(name: str, klass: str, edit, which=slice(None), may_succeed=False):
        folder, files = _dicom_copy(root, name)
        _edit_slices(files, edit, which)
        out.append((name, klass, folder, may_succeed))

    for label, value in (("text", b"abc\\def\\ghi"), ("two", b"1\\2"), ("nan", b"nan\\0\\0"), ("empty", b""),
                         ("inf", b"inf\\inf\\inf")):
        case(f"ipp_{label}", "DICOM ImagePositionPatient", _set_raw("ImagePositionPatient", value), slice(3, 4))
    for label, value in (("nan", b"nan"), ("neg", b"-1"), ("zero", b"0"), ("text", b"x"), ("huge", b"1e300"),
                         ("inf", b"inf")):
        case(f"slope_{label}", "DICOM RescaleSlope", _set_raw("RescaleSlope", value), slice(5, 6),
             may_succeed=label == "zero")
    for label, value in (("inf", b"inf"), ("text", b"abc")):
        case(f"intercept_{label}", "DICOM RescaleIntercept", _set_raw("RescaleIntercept", value), slice(2, 3))
    for label, value in (("zeros", b"0\\0\\0\\0\\0\\0"), ("text", b"a\\b\\c\\d\\e\\f"), ("short", b"1\\0\\0")):
        case(f"iop_{label}", "DICOM ImageOrientationPatient", _set_raw("ImageOrientationPatient", value), slice(None))
    for label, value in (("zero", b"0\\0"), ("nan", b"nan\\nan"), ("neg", b"-1\\-1"), ("one", b"0.9"),
                         ("absurd", b"500\\500")):
        case(f"spacing_{label}", "DICOM PixelSpacing", _set_raw("PixelSpacing", value), slice(None))

    def rows(n):
        def edit(ds):
            ds.Rows = n
        return edit
    case("rows_256_one_slice", "DICOM Rows/Columns", rows(256), slice(4, 5))
    case("rows_256_all", "DICOM Rows/Columns", rows(256), slice(None))

    def columns(ds):
        ds.Columns = 1
    case("columns_1", "DICOM Rows/Columns", columns, slice(None))

    def syntax(uid):
        def edit(ds):
            ds.file_meta.TransferSyntaxUID = uid
        return edit
    for label, uid in (("jpeg_baseline", "1.2.840.10008.1.2.4.50"), ("rle", "1.2.840.10008.1.2.5"),
                       ("explicit_le", "1.2.840.10008.1.2.1"), ("jpegls", "1.2.840.10008.1.2.4.80")):
        # JPEG 2000 frames labelled JPEG baseline still decode (the decoder recognises the codestream)
        case(f"mislabelled_{label}", "DICOM compressed frame", syntax(uid), slice(6, 7),
             may_succeed=label == "jpeg_baseline")

    def corrupt_frame(ds):
        data = bytearray(ds.PixelData)
        mid = len(data) // 2
        data[mid: mid + 400] = b"\xff" * 400
        ds.PixelData = bytes(data)
    case("corrupt_frame", "DICOM compressed frame", corrupt_frame, slice(7, 8), may_succeed=True)

    def cut_frame(ds):
        ds.PixelData = bytes(ds.PixelData)[:200]
    case("truncated_frame", "DICOM compressed frame", cut_frame, slice(8, 9))

    def no_equipment(ds):
        for keyword in ("PatientID", "PatientName", "Manufacturer", "ManufacturerModelName", "StationName",
                        "KVP", "ConvolutionKernel", "StudyInstanceUID", "SeriesInstanceUID", "SliceThickness"):
            if keyword in ds:
                delattr(ds, keyword)
    case("minimal_header", "DICOM minimal header (valid)", no_equipment, slice(None), may_succeed=True)

    def duplicate_position(ds):
        ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    case("duplicate_position", "DICOM geometry", duplicate_position, slice(None))

    folder, files = _dicom_copy(root, "truncated_files")
    for n, p in enumerate(files[::4]):
        p.write_bytes(p.read_bytes()[: 300 + 50 * n])
    out.append(("truncated_files", "DICOM truncated file", folder, True))
    folder, files = _dicom_copy(root, "one_slice")
    for p in files[1:]:
        p.unlink()
    out.append(("one_slice", "DICOM geometry", folder, False))
    folder = root / "dicom" / "empty_folder"
    folder.mkdir(parents=True, exist_ok=True)
    out.append(("empty_folder", "DICOM folder", folder, False))
    folder = root / "dicom" / "no_dicom"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("no images here\n")
    (folder / "fake.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    out.append(("no_dicom", "DICOM folder", folder, False))
    out.append(("two_patients", "DICOM several patients", two_patient_folder(root / "dicom" / "two_patients"), False))
    return out


def two_patient_folder(folder: Path) -> Path:
    """The real series twice in one folder: as patient A and as patient B (other IDs and UIDs)."""
    from pydicom.uid import generate_uid

    if folder.exists():
        shutil.rmtree(folder)
    for who in ("A", "B"):
        study, series = generate_uid(), generate_uid()
        for n, src in enumerate(sorted((TS / "ct_dicom").iterdir())):
            ds = pydicom.dcmread(src)
            ds.PatientID, ds.PatientName, ds.PatientBirthDate = f"PAT-{who}", f"Test^{who}", "19600101"
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SeriesDescription = f"series of {who}"
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            (folder / who).mkdir(parents=True, exist_ok=True)
            ds.save_as(folder / who / f"{n:03d}.dcm", enforce_file_format=False)
    return folder


# --- JSON and CSV ----------------------------------------------------------------------------------------

#: Valid documents of each user file type (trajectory for the real CT, phantom rods, equations, reader points,
#: nomogram, clinical); each is broken in every way of :func:`_json_variants`.
VALID = {
    "trajectory": {"screws": [{"level": "L4", "side": "left", "entry": [-20.0, 40.0, 100.0],
                               "target": [-5.0, -10.0, 100.0], "diameter_mm": 6.5}]},
    "phantom": {"material": "hydroxyapatite", "rods_mg_cm3": [0, 50, 100, 200]},
    "equations": [{"slope_hu_per_mg_cm3": 1.1, "intercept_hu": -10.0, "kvp": 120}],
    "nomogram": {"intercept": -2.0, "coefficients": {"age": 0.03}, "ranges": {"age": [40, 90]}, "cutoff": 0.5},
    "clinical": {"age": 70, "sex": "F", "bmi_kg_m2": 27.0},
}


#: Variants that are still valid documents (a negative intercept, clinical data left out): they may be used.
VALID_VARIANTS = {"nomogram_intercept_negative", "nomogram_intercept_zero", "clinical_empty_object",
                  "clinical_missing_key", "clinical_age_zero", "clinical_age_null", "clinical_name_ignored",
                  "clinical_csv_semicolon_decimal_comma", "clinical_csv_wide"}


def _first_number(text: str, replacement: str) -> bytes:
    import re

    return re.sub(r"(: |\[|, )-?\d+(?:\.\d+)?", lambda found: found.group(1) + replacement, text, count=1).encode()


def _json_variants(kind: str, valid) -> list[tuple[str, bytes]]:
    first_key = next(iter(valid)) if isinstance(valid, dict) else None
    text = json.dumps(valid)
    variants = [
        ("top_list", b"[1, 2, 3]"), ("top_string", b'"hello"'), ("top_number", b"42"), ("top_null", b"null"),
        ("empty", b""), ("empty_object", b"{}"), ("binary", bytes(range(256)) * 4), ("bom_garbage", b"\xef\xbb\xbf{]"),
        ("deep", b"[" * 5000 + b"]" * 5000), ("deep_object", (b'{"a":' * 200) + b"1" + b"}" * 200),
        ("nan", _first_number(text, "NaN")), ("infinity", _first_number(text, "-Infinity")),
        ("huge_number", _first_number(text, "1" + "0" * 400)), ("overflow_float", _first_number(text, "1e400")),
        ("truncated", text[: len(text) // 2].encode()), ("latin1", text.encode("utf-16")),
    ]
    if first_key is not None:
        missing = dict(valid)
        del missing[first_key]
        variants.append(("missing_key", json.dumps(missing).encode()))
        for label, value in (("null", None), ("string", "abc"), ("negative", -5), ("zero", 0), ("absurd", 1e300),
                             ("list", [1, 2]), ("object", {"x": 1})):
            variants.append((f"{first_key}_{label}", json.dumps({**valid, first_key: value}).encode()))
    return variants


def json_cases(root: Path) -> list[tuple[str, str, Path]]:
    d = root / "json"
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for kind, valid in VALID.items():
        for label, payload in _json_variants(kind, valid):
            p = d / f"{kind}_{label}.json"
            p.write_bytes(payload)
            out.append((f"{kind}_{label}", f"JSON {kind}", p))
    trajectory = VALID["trajectory"]["screws"][0]
    for label, screw in (("side_up", {**trajectory, "side": "up"}), ("entry_two", {**trajectory, "entry": [1, 2]}),
                         ("entry_nan_string", {**trajectory, "entry": ["nan", 1, 2]}),
                         ("diameter_zero", {**trajectory, "diameter_mm": 0}),
                         ("length_negative", {**trajectory, "length_mm": -40}),
                         ("far_away", {**trajectory, "entry": [1e9, 0, 0]}),
                         ("same_points", {**trajectory, "target": trajectory["entry"]})):
        p = d / f"trajectory_{label}.json"
        p.write_text(json.dumps({"screws": [screw]}))
        out.append((f"trajectory_{label}", "JSON trajectory", p))
    for label, rows in (("slope_nan", "slope_hu_per_mg_cm3,intercept_hu\nnan,3\n"),
                        ("slope_zero", "slope_hu_per_mg_cm3,intercept_hu\n0,3\n"),
                        ("missing_column", "slope,intercept_hu\n1,3\n"),
                        ("text", "slope_hu_per_mg_cm3,intercept_hu\nabc,def\n"), ("empty", ""),
                        ("binary", "\x00\x01\x02garbage\xff")):
        p = d / f"equations_csv_{label}.csv"
        p.write_bytes(rows.encode("latin-1"))
        out.append((f"equations_csv_{label}", "CSV equations", p))
    for label, doc in (("misspelt", {"age": 70, "Sex": "F", "hip_tscore": -2.0}), ("name_ignored", {"age": 70, "name": "X"})):
        p = d / f"clinical_{label}.json"
        p.write_text(json.dumps(doc))
        out.append((f"clinical_{label}", "JSON clinical", p))
    for label, rows in (("age_text", "field,value\nage,old\n"), ("age_negative", "field,value\nage,-4\n"),
                        ("sex_x", "field,value\nsex,X\n"), ("binary", "\xff\xfe\x00garbage"),
                        ("misspelt", "field,value\nSex,F\n"), ("wide_two_patients", "age,sex\n71,F\n64,M\n"),
                        ("semicolon_decimal_comma", "field;value\nage;71\nhip_t_score;-2,0\n"),
                        ("wide", "age,sex,hip_t_score\n71,F,-2.0\n")):
        p = d / f"clinical_csv_{label}.csv"
        p.write_bytes(rows.encode("latin-1"))
        out.append((f"clinical_csv_{label}", "CSV clinical", p))
    return out


# --- the corpus ------------------------------------------------------------------------------------------


def build_corpus(root: Path) -> list[Case]:
    """Write every malformed input under ``root`` and return the cases (>= 300)."""
    root.mkdir(parents=True, exist_ok=True)
    ct, labels = TS / "ct.nii.gz", TS / "seg_v2" / "total.nii.gz"
    runs = root / "runs"
    quick = ["--no-pictures", "--trajectory", "none"]
    cases: list[Case] = []

    def out(name: str) -> Path:
        return runs / name / "out"

    for name, klass, path, ok in nifti_cases(root):
        cases.append(Case(name, klass, ["ct", str(path), "--labels", str(labels), "--out", str(out(name)), *quick],
                          out(name), [path, labels], [path.name], ok))
    for name, klass, path in label_cases(root):
        cases.append(Case(f"labels_{name}", klass, ["ct", str(ct), "--labels", str(path), "--out",
                                                    str(out(f"labels_{name}")), *quick],
                          out(f"labels_{name}"), [ct, path], [path.name], "valid" in klass))
    dicom_labels = TS / "ct_dicom_seg.nii.gz"
    for name, klass, folder, ok in dicom_cases(root):
        cases.append(Case(f"dicom_{name}", klass, ["ct", str(folder), "--labels", str(dicom_labels), "--out",
                                                   str(out(f"dicom_{name}")), *quick],
                          out(f"dicom_{name}"), [folder, dicom_labels], [folder.name], ok))
    for name, klass, path in json_cases(root):
        kind = name.split("_")[0]
        o = out(f"json_{name}")
        if kind == "trajectory":
            argv = ["ct", str(ct), "--labels", str(labels), "--trajectory", str(path), "--no-pictures"]
        elif kind == "phantom":
            argv = ["ct", str(ct), "--labels", str(labels), "--calibration", "phantom", "--phantom", str(path), *quick]
        elif kind == "equations":
            argv = ["ct", str(ct), "--labels", str(labels), "--calibration", str(path), *quick]
        elif kind == "nomogram":
            argv = ["assess", "--ct", str(reference_ct(root)), "--nomogram", str(path)]
        else:
            argv = ["assess", "--ct", str(reference_ct(root)), "--clinical", str(path)]
        cases.append(Case(f"json_{name}", klass, [*argv, "--out", str(o)], o, [path], [path.name],
                          name in VALID_VARIANTS))
    options = [("metal_hu_nan", ["ct", str(ct), "--metal-hu", "nan"]), ("metal_hu_inf", ["ct", str(ct), "--metal-hu", "inf"]),
               ("metal_hu_text", ["ct", str(ct), "--metal-hu", "lots"]), ("metal_hu_low", ["ct", str(ct), "--metal-hu", "-5"]),
               ("screw_diameter_zero", ["ct", str(ct), "--screw-diameter", "0"]),
               ("screw_diameter_nan", ["ct", str(ct), "--screw-diameter", "nan"]),
               ("screw_length_negative", ["ct", str(ct), "--screw-length", "-30"]),
               ("shell_negative", ["ct", str(ct), "--shell-mm", "-5"]), ("bloom_inf", ["ct", str(ct), "--bloom-mm", "inf"]),
               ("levels_unknown", ["ct", str(ct), "--levels", "L1,X9"]),
               ("phantom_spacing_tiny", ["phantom", "--spacing", "0.01,0.01,0.01"]),
               ("phantom_spacing_nan", ["phantom", "--spacing", "nan,1,1"]), ("phantom_spacing_two", ["phantom", "--spacing", "1,1"]),
               ("phantom_seed_negative", ["phantom", "--seed", "-1"]), ("phantom_noise_negative", ["phantom", "--noise", "-3"]),
               ("phantom_tilt_absurd", ["phantom", "--tilt", "1e9"]),
               ("stats_roc_bootstrap_negative", ["stats", "--example", "001", "--roc-bootstrap", "-5"]),
               ("stats_bootstrap_negative", ["stats", "--example", "001", "--bootstrap", "-1"]),
               ("stats_jobs_zero", ["stats", "--example", "001", "--jobs", "0"]),
               ("stats_seed_negative", ["stats", "--example", "001", "--seed", "-1"]),
               ("assess_age_absurd", ["assess", "--ct", "x", "--age", "900"]),
               ("segment_level_at_text", ["segment", str(ct), "--level-at", "a,b,c=L3"]),
               ("series_unknown", ["ct", str(TS / "ct_dicom"), "--series", "1.2.3"])]
    for name, argv in options:
        o = out(f"option_{name}")
        cases.append(Case(f"option_{name}", "CLI number", [*argv, "--out", str(o)], o, [], [argv[-2] if argv[-2].startswith("--") else argv[-1]]))
    cases.extend(output_cases(root, ct, labels))
    return cases


def reference_ct(root: Path) -> Path:
    """A valid ``spinebq ct`` folder of the real CT (made once), for the assess cases."""
    folder = root / "reference_ct"
    if not (folder / "spinebq-manifest-ct.json").is_file():
        subprocess.run([sys.executable, "-m", "spinebq.cli", "ct", str(TS / "ct.nii.gz"), "--labels",
                        str(TS / "seg_v2" / "total.nii.gz"), "--out", str(folder), "--no-pictures", "--trajectory",
                        "none"], check=True, capture_output=True)
    return folder


def output_cases(root: Path, ct: Path, labels: Path) -> list[Case]:
    """--out that is a file, under a file, an input, inside an input folder, or holding another input's results."""
    d = root / "outputs"
    d.mkdir(parents=True, exist_ok=True)
    a_file = d / "a_file.txt"
    a_file.write_text("keep me\n")
    dicom, _ = _dicom_copy(root, "out_inside")
    other = d / "other_results"
    if not other.exists():
        shutil.copytree(reference_ct(root), other)
        manifest = json.loads((other / "spinebq-manifest-ct.json").read_text())
        manifest["inputs"]["ct"]["fingerprint"] = "sha256:" + "0" * 64  # the results of another CT
        (other / "spinebq-manifest-ct.json").write_text(json.dumps(manifest))
    quick = ["--no-pictures", "--trajectory", "none"]
    spec = [("out_is_file", a_file, ["ct", str(ct), "--labels", str(labels)]),
            ("out_under_file", a_file / "sub", ["ct", str(ct), "--labels", str(labels)]),
            ("out_is_input", ct, ["ct", str(ct), "--labels", str(labels)]),
            ("out_inside_dicom", dicom / "results", ["ct", str(dicom), "--labels", str(TS / "ct_dicom_seg.nii.gz")]),
            ("out_other_input", other, ["ct", str(ct), "--labels", str(labels)]),
            ("report_out_is_ct", reference_ct(root), ["report", "--ct", str(reference_ct(root)), "--no-pdf"]),
            ("segment_out_is_input", dicom, ["segment", str(dicom)])]
    cases = []
    for name, out, argv in spec:
        extra = quick if argv[0] == "ct" else []
        cases.append(Case(f"out_{name}", "--out refused", [*argv, "--out", str(out), *extra], out, [ct, labels],
                          [out.name]))
    return cases


def run_case(case: Case, *, timeout_s: float = HANG_S) -> Outcome:
    """Run one case in a subprocess and check it (see :func:`check_case`)."""
    before_out = snapshot(case.out)
    before_inputs = {p: snapshot(p) for p in case.inputs}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "spinebq.cli", *case.argv], capture_output=True, text=True,
                              timeout=timeout_s)
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        code, stderr = None, ""
    seconds = time.perf_counter() - start
    return Outcome(case, code, seconds, stderr, check_case(case, code, stderr, before_out, before_inputs))


def check_case(case: Case, code: int | None, stderr: str, before_out: dict, before_inputs: dict) -> list[str]:
    problems = []
    if code is None:
        problems.append(f"hang (> {HANG_S:g} s)")
    elif code == 1:
        problems.append("internal error: " + stderr.strip()[-300:])
    elif code == 0 and not case.may_succeed:
        problems.append("accepted a malformed input")
    elif code not in (0, 2):
        problems.append(f"exit code {code}")
    if code == 2:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        if len(lines) != 1:
            problems.append(f"refusal in {len(lines)} lines: {stderr.strip()[:300]}")
        elif case.names and not any(n in lines[0] for n in case.names):
            problems.append(f"refusal does not name {case.names[0]}: {lines[0][:200]}")
    after = snapshot(case.out)
    if code != 0 and after != before_out:
        problems.append("--out changed after a refusal")
    if code == 0 and case.out.is_dir():
        manifests = list(case.out.glob("spinebq-manifest-*.json"))
        listed = set()
        for m in manifests:
            listed |= {f["path"] for f in json.loads(m.read_text())["files"]}
        missing = [name for name in listed if not (case.out / name).is_file()]
        if not manifests or missing:
            problems.append(f"half-written output (manifest {'missing' if not manifests else 'lists missing files'})")
    staging = list(case.out.parent.glob(".spinebq-staging-*")) if case.out.parent.exists() else []
    if staging:
        problems.append(f"staging folder left behind: {staging[0]}")
    for path, snap in before_inputs.items():
        if snapshot(path) != snap:
            problems.append(f"input changed: {path}")
    return problems


def sample_corpus(root: Path) -> list[Case]:
    """A quick, representative sample: label maps, JSON/CSV, CLI numbers and --out cases, one or two of each class
    (the NIfTI and DICOM classes are sampled in-process by tests/inputs/test_refusals.py)."""
    ct, labels = TS / "ct.nii.gz", TS / "seg_v2" / "total.nii.gz"
    runs = root / "runs"
    cases = []
    for name, klass, path in label_cases(root)[1::6]:
        o = runs / f"labels_{name}" / "out"
        cases.append(Case(f"labels_{name}", klass, ["ct", str(ct), "--labels", str(path), "--out", str(o),
                                                    "--no-pictures", "--trajectory", "none"], o, [ct, path], [path.name]))
    for name, klass, path in [c for c in json_cases(root) if c[0].split("_")[0] in ("trajectory", "phantom", "equations")][::20]:
        o = runs / f"json_{name}" / "out"
        kind = name.split("_")[0]
        option = {"trajectory": ["--trajectory", str(path)], "phantom": ["--calibration", "phantom", "--phantom", str(path)],
                  "equations": ["--calibration", str(path)]}.get(kind)
        if option is None:
            continue
        cases.append(Case(f"json_{name}", klass, ["ct", str(ct), "--labels", str(labels), *option, "--out", str(o),
                                                  "--no-pictures"], o, [path], [path.name]))
    o = runs / "option_metal" / "out"
    cases.append(Case("option_metal_hu_nan", "CLI number", ["ct", str(ct), "--metal-hu", "nan", "--out", str(o)], o, [],
                      ["--metal-hu"]))
    a_file = root / "a_file.txt"
    a_file.write_text("keep me\n")
    cases.append(Case("out_under_file", "--out refused", ["ct", str(ct), "--out", str(a_file / "sub")], a_file / "sub",
                      [ct], ["sub"]))
    return cases
