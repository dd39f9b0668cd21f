"""NIfTI loading: any orientation in, canonical LPS :class:`~spinebq.io.volume.Volume` out.

The header is checked before any voxel is read (:func:`check_nifti_header`): a header that does not describe
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
from spinebq.io.volume import CANONICAL_ORNT, RAS_TO_LPS, Volume, to_canonical

#: Largest distance (mm) between where the qform and the sform put a corner voxel before they disagree.
QFORM_SFORM_TOLERANCE_MM = 1.0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def check_nifti_header(image: nib.Nifti1Image | nib.Nifti2Image, path: Path) -> None:
    """Refuse a NIfTI header that does not describe one finite 3D image of patient size.

    Raises
    ------
    SpinebqError
        Naming ``path`` and the first problem found.
    """
    header = image.header
    dtype = header.get_data_dtype()
    if dtype.fields is not None or dtype.kind in "cbOSUV":
        kind = {"c": "complex", "b": "boolean"}.get(dtype.kind, "RGB or structured")
        raise SpinebqError(f"{path}: the voxels are stored as {kind} values ({dtype}); a CT, MR or label image "
                           "holds real numbers")
    shape = tuple(int(n) for n in image.shape)
    if len(shape) < 3 or any(n < 1 for n in shape):
        raise SpinebqError(f"{path}: the header gives the image shape {shape}; a 3D image is needed")
    if any(n != 1 for n in shape[3:]):
        raise SpinebqError(f"{path}: a {len(shape)}D image of shape {shape}; a 3D image is needed (the axes after "
                           "the third must have size 1)")
    zooms = np.asarray(header.get_zooms()[:3], dtype=float)
    low, high = VOXEL_SIZE_RANGE_MM
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        raise SpinebqError(f"{path}: the voxel size in the header (pixdim {_mm(zooms)} mm) is zero, negative or "
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
    affine = image.affine
    if affine is None or not np.all(np.isfinite(affine)):
        raise SpinebqError(f"{path}: the affine (orientation and position) holds NaN or infinite numbers")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-6 * float(np.prod(zooms)):
        raise SpinebqError(f"{path}: the affine is singular (its axes are parallel or of zero length); the image "
                           "has no valid geometry")
    if hasattr(header, "get_qform") and int(header["qform_code"]) > 0 and int(header["sform_code"]) > 0:
        qform, sform = header.get_qform(), header.get_sform()
        if not (np.all(np.isfinite(qform)) and np.all(np.isfinite(sform))):
            raise SpinebqError(f"{path}: the qform or sform of the header holds NaN or infinite numbers")
        corners = np.array([[i, j, k, 1.0] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                            for k in (0, shape[2] - 1)])
        gap = float(np.max(np.linalg.norm((corners @ qform.T - corners @ sform.T)[:, :3], axis=1)))
        if gap > QFORM_SFORM_TOLERANCE_MM:
            raise SpinebqError(f"{path}: the qform and the sform of the header disagree (corners {gap:.1f} mm "
                               "apart); which geometry is right cannot be told")
    slope, inter = header.get_slope_inter() if hasattr(header, "get_slope_inter") else (None, None)
    for name, value in (("scl_slope", slope), ("scl_inter", inter)):
        if value is not None and not np.isfinite(value):
            raise SpinebqError(f"{path}: the header's {name} is {value}; the voxel values cannot be scaled")


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
        try:
            image = nib.load(str(path))
        except Exception as exc:  # nibabel raises many types for damaged files
            raise SpinebqError(f"{path}: cannot be read as NIfTI ({_one_line(exc)})") from None
        if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
            raise SpinebqError(f"{path}: not a NIfTI image (nibabel reads it as {type(image).__name__})")
        check_nifti_header(image, path)
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
        raise SpinebqError(f"{path}: {bad} voxels are NaN or infinite (after the header's scaling); the image "
                           "cannot be measured")
    affine_lps = RAS_TO_LPS @ image.affine
    array, affine = to_canonical(data, affine_lps)
    source_axes = nib.orientations.ornt_transform(nib.orientations.io_orientation(affine_lps), CANONICAL_ORNT)
    zooms = [float(z) for z in image.header.get_zooms()[:3]]
    metadata = {"source": str(path), "format": "NIfTI", "slice_thickness_mm": None, "voxel_size_mm": zooms,
                "source_axes": source_axes.astype(int).tolist()}
    return Volume(array, affine, metadata)
