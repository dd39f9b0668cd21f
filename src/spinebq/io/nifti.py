"""NIfTI loading: any orientation in, canonical LPS :class:`~spinebq.io.volume.Volume` out."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from spinebq.errors import SpinebqError
from spinebq.io.volume import CANONICAL_ORNT, RAS_TO_LPS, Volume, to_canonical


def load_nifti(path: str | Path, *, dtype: type | None = np.float32) -> Volume:
    """Read a NIfTI file into a canonical :class:`Volume`.

    Parameters
    ----------
    path : str or Path
        ``.nii`` or ``.nii.gz`` file; its affine is RAS as the format defines.
    dtype : numpy dtype or None
        Type of the returned array; ``None`` keeps the stored type (used for label maps).
    """
    path = Path(path)
    try:
        image = nib.load(str(path))
        # read into memory in file order first (copying a flipped memmap is very slow), straight
        # into the wanted type: no float64 intermediate for an int16 file
        data = np.asanyarray(image.dataobj, dtype=dtype)
        if isinstance(data, np.memmap):
            data = np.array(data)
        stored_float = np.issubdtype(image.get_data_dtype(), np.floating)
    except Exception as exc:  # nibabel raises many types for damaged files
        raise SpinebqError(f"{path}: cannot be read as NIfTI ({type(exc).__name__}: {exc})") from None
    data = np.squeeze(data) if data.ndim > 3 else data
    if data.ndim != 3:
        raise SpinebqError(f"{path}: a 3D image is needed, this one has shape {data.shape}")
    if stored_float and np.issubdtype(data.dtype, np.floating):
        if not np.isfinite(data).all():
            bad = int((~np.isfinite(data)).sum())
            raise SpinebqError(f"{path}: {bad} voxels are NaN or infinite; the image cannot be measured")
    affine_lps = RAS_TO_LPS @ image.affine
    array, affine = to_canonical(data, affine_lps)
    source_axes = nib.orientations.ornt_transform(nib.orientations.io_orientation(affine_lps), CANONICAL_ORNT)
    zooms = [float(z) for z in image.header.get_zooms()[:3]]
    metadata = {"source": str(path), "format": "NIfTI", "slice_thickness_mm": None, "voxel_size_mm": zooms,
                "source_axes": source_axes.astype(int).tolist()}
    return Volume(array, affine, metadata)
