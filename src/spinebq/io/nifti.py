"""NIfTI loading: any orientation in, canonical LPS :class:`~spinebq.image.volume.Volume` out.

The header is checked as stored, before nibabel "fixes" it and before any voxel is read (:func:`check_nifti_header`): a header that does not describe
one 3D image of a patient (a broken ``dim``, zero/NaN/negative/absurd voxel sizes, a singular or non-finite
affine, a qform that disagrees with the sform, non-finite scaling, complex, boolean or RGB voxels, extra axes
that are not singleton, or a size no patient has) is refused in one sentence rather than "fixed".
"""
from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from spinebq.constants import MAX_IMAGE_EXTENT_MM, MAX_IMAGE_VOXELS, VOXEL_SIZE_RANGE_MM
from spinebq.errors import SpinebqError
from spinebq.image.volume import CANONICAL_ORNT, RAS_TO_LPS, Volume, to_canonical

#: What a NIfTI file without orientation (qform and sform codes 0, as ANALYZE-era tools write) leaves unknown.
NO_ORIENTATION = ("the NIfTI header holds no orientation (qform and sform codes 0), so the patient's left and right "
                  "cannot be told: it is read in radiological order, as nibabel reads such files, and the sides of "
                  "pedicles, screws and muscles may be swapped; check them on the pictures")
#: Largest distance (mm) between where the qform and the sform put a corner voxel before they disagree.
QFORM_SFORM_TOLERANCE_MM = 1.0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def read_raw_header(path: Path) -> nib.Nifti1Header | nib.Nifti2Header:
    """The NIfTI header of ``path`` as stored, before nibabel "fixes" anything (a zero pixdim, a wrong sizeof_hdr).

    Raises
    ------
    SpinebqError
        When the file is too short, its ``sizeof_hdr`` is not 348 (NIfTI-1) or 540 (NIfTI-2), or its magic is wrong.
    """
    import gzip

    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            head = handle.read(540)
    except (OSError, EOFError, ValueError) as exc:
        raise SpinebqError(f"{path}: cannot be read as NIfTI ({_one_line(exc)})") from None
    if len(head) < 348:
        raise SpinebqError(f"{path}: too short to be a NIfTI file ({len(head)} bytes)")
    size = next((n for n in (348, 540) if n in (int.from_bytes(head[:4], "little"), int.from_bytes(head[:4], "big"))),
                None)
    if size is None:
        raise SpinebqError(f"{path}: the header size field (sizeof_hdr) is {int.from_bytes(head[:4], 'little')}, not "
                           "348 or 540: the file is damaged or not NIfTI")
    if len(head) < size:
        raise SpinebqError(f"{path}: too short to be a NIfTI-2 file ({len(head)} bytes)")
    kind = nib.Nifti1Header if size == 348 else nib.Nifti2Header
    import io

    try:
        header = kind.from_fileobj(io.BytesIO(head[:size]), check=False)
    except Exception as exc:
        raise SpinebqError(f"{path}: the NIfTI header cannot be read ({_one_line(exc)})") from None
    magic = bytes(header["magic"]).rstrip(b"\0")
    if magic not in (b"n+1", b"n+2"):  # ni1/ni2 name a .hdr/.img pair, never a single .nii file
        raise SpinebqError(f"{path}: the NIfTI magic is {magic!r}, not n+1 or n+2: the file is damaged or not a "
                           "single-file NIfTI")
    return header


def check_nifti_header(header: nib.Nifti1Header | nib.Nifti2Header, path: Path) -> None:
    """Refuse a NIfTI header (as stored: :func:`read_raw_header`) that does not describe one finite 3D image of
    patient size.

    Raises
    ------
    SpinebqError
        Naming ``path`` and the first problem found.
    """
    code = int(header["datatype"])
    try:
        dtype = header.get_data_dtype()
    except Exception:
        raise SpinebqError(f"{path}: the header's data type code {code} is not one NIfTI defines") from None
    if dtype.fields is not None or dtype.kind in "cbOSUV" or code in (1, 128, 2304):
        kind = {"c": "complex", "b": "boolean"}.get(dtype.kind, "RGB, binary or structured")
        raise SpinebqError(f"{path}: the voxels are stored as {kind} values (data type code {code}); a CT, MR or "
                           "label image holds real numbers")
    dim = [int(n) for n in header["dim"]]
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise SpinebqError(f"{path}: the header's dim[0] is {ndim}, not a number of axes from 1 to 7")
    shape = tuple(dim[1: ndim + 1])
    if ndim < 3 or any(n < 1 for n in shape):
        raise SpinebqError(f"{path}: the header gives the image shape {shape}; a 3D image is needed")
    if any(n != 1 for n in shape[3:]):
        raise SpinebqError(f"{path}: a {ndim}D image of shape {shape}; a 3D image is needed (the axes after "
                           "the third must have size 1)")
    zooms = np.asarray(header["pixdim"][1:4], dtype=float)
    low, high = VOXEL_SIZE_RANGE_MM
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        raise SpinebqError(f"{path}: the voxel size in the header (pixdim {_mm(zooms)}) is zero, negative or "
                           "not a number")
    if np.any(zooms < low) or np.any(zooms > high):
        raise SpinebqError(f"{path}: voxel size {_mm(zooms)} mm is outside {low:g}-{high:g} mm; this is not a "
                           "patient image (or its header units are wrong)")
    voxels = float(np.prod(np.asarray(shape[:3], dtype=float)))
    if voxels > MAX_IMAGE_VOXELS:
        raise SpinebqError(f"{path}: {shape[0]} x {shape[1]} x {shape[2]} voxels is more than any patient image "
                           f"({MAX_IMAGE_VOXELS:.1e}); refused before reading")
    extent = np.asarray(shape[:3]) * zooms
    if np.any(extent > MAX_IMAGE_EXTENT_MM):
        raise SpinebqError(f"{path}: the image spans {_mm(extent)} mm, longer than any patient "
                           f"({MAX_IMAGE_EXTENT_MM:g} mm); check the voxel size in the header")
    q_code, s_code = int(header["qform_code"]), int(header["sform_code"])
    forms = {}
    with np.errstate(all="ignore"):
        if s_code > 0:
            forms["sform"] = header.get_sform()
        if q_code > 0:
            forms["qform"] = header.get_qform()
    for name, form in forms.items():
        if not np.all(np.isfinite(form)):
            raise SpinebqError(f"{path}: the {name} (orientation and position) holds NaN or infinite numbers")
        if abs(np.linalg.det(form[:3, :3])) < 1e-6 * float(np.prod(zooms)):
            raise SpinebqError(f"{path}: the {name} is singular (its axes are parallel or of zero length); the image "
                               "has no valid geometry")
    if len(forms) == 2:
        corners = np.array([[i, j, k, 1.0] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                            for k in (0, shape[2] - 1)])
        gap = float(np.max(np.linalg.norm((corners @ forms["qform"].T - corners @ forms["sform"].T)[:, :3], axis=1)))
        if gap > QFORM_SFORM_TOLERANCE_MM:
            raise SpinebqError(f"{path}: the qform and the sform of the header disagree (corners {gap:.1f} mm "
                               "apart); which geometry is right cannot be told")
    offset = float(header["vox_offset"]) if "vox_offset" in header else 0.0
    if not np.isfinite(offset) or offset < 0 or offset > 2**31:
        raise SpinebqError(f"{path}: the header's vox_offset {offset:g} does not point into the file")
    for name in ("scl_slope", "scl_inter"):
        value = float(header[name])
        if np.isinf(value) or abs(value) > 1e30:
            raise SpinebqError(f"{path}: the header's {name} is {value:g}; the voxel values cannot be scaled")


def _mm(values) -> str:
    return " x ".join(f"{float(v):.4g}" for v in values)


def load_nifti(path: str | Path, *, dtype: type | None = np.float32) -> Volume:
    """Read a NIfTI file into a canonical :class:`Volume`.

    Parameters
    ----------
    path : str or Path
        ``.nii`` or ``.nii.gz`` file; its affine is RAS as the format defines.
    dtype : numpy dtype or None
        Type of the returned array; ``None`` keeps the stored type (used for label maps).

    Raises
    ------
    SpinebqError
        When the file cannot be read, its header fails :func:`check_nifti_header`, or voxels are not finite.
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel's own complaints; the checks below say what matters
        check_nifti_header(read_raw_header(path), path)
        try:
            image = nib.load(str(path))
        except Exception as exc:  # nibabel raises many types for damaged files
            raise SpinebqError(f"{path}: cannot be read as NIfTI ({_one_line(exc)})") from None
        if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
            raise SpinebqError(f"{path}: not a NIfTI image (nibabel reads it as {type(image).__name__})")
        try:
            # read into memory in file order first (copying a flipped memmap is very slow), straight
            # into the wanted type: no float64 intermediate for an int16 file
            with np.errstate(all="ignore"):
                data = np.asanyarray(image.dataobj, dtype=dtype)
            if isinstance(data, np.memmap):
                data = np.array(data)
        except MemoryError:
            raise SpinebqError(f"{path}: the image does not fit in memory ({image.shape})") from None
        except Exception as exc:  # truncated or corrupt data
            raise SpinebqError(f"{path}: the voxel data cannot be read ({_one_line(exc)}); is the file truncated?") from None
    data = data.reshape(data.shape[:3]) if data.ndim > 3 else data
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise SpinebqError(f"{path}: {bad} voxels are NaN or infinite (after the header's scaling), so the image "
                           "cannot be measured; give the series as acquired, or save it again with those voxels set "
                           "to a number (0 where there is no signal)")
    affine_lps = RAS_TO_LPS @ image.affine
    try:
        array, affine = to_canonical(data, affine_lps)
        source_axes = nib.orientations.ornt_transform(nib.orientations.io_orientation(affine_lps), CANONICAL_ORNT)
    except ValueError as exc:  # an affine whose axes nibabel cannot match to patient directions
        raise SpinebqError(f"{path}: the orientation of the image axes cannot be determined ({_one_line(exc)})") from None
    zooms = [float(z) for z in image.header.get_zooms()[:3]]
    metadata = {"source": str(path), "format": "NIfTI", "slice_thickness_mm": None, "voxel_size_mm": zooms,
                "source_axes": source_axes.astype(int).tolist()}
    if int(image.header["qform_code"]) == 0 and int(image.header["sform_code"]) == 0:
        metadata["warnings"] = [f"{path.name}: {NO_ORIENTATION}"]
    return Volume(array, affine, metadata)
