"""The one image type of spinebq: an array, its affine to patient LPS millimetres, and metadata.

Every loader returns a :class:`Volume` in the same array orientation: axis 0 runs to the patient's
Left, axis 1 to Posterior, axis 2 to Superior (the closest such axes for oblique scans). An axial
slice is therefore ``volume.array[:, :, k]``, and nothing downstream has to guess orientation again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from spinebq.errors import SpinebqError

#: nibabel orientation array of the canonical spinebq layout: axes along +x, +y, +z of LPS space.
CANONICAL_ORNT = np.array([[0, 1], [1, 1], [2, 1]])

#: Diagonal that turns RAS (NIfTI) world coordinates into LPS (DICOM) coordinates and back.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class Volume:
    """A 3D image with its geometry.

    Parameters
    ----------
    array : numpy.ndarray
        3D voxel values (HU for CT, signal for MR, integer ids for label maps).
    affine : numpy.ndarray
        4 x 4 matrix from voxel indices (i, j, k) to patient coordinates in mm, LPS as in DICOM.
    metadata : dict
        Acquisition details (modality, manufacturer, model, kvp, kernel, contrast_agent,
        slice_thickness_mm, series_uid, source...). Never needed for computation, always reported.
    """

    array: np.ndarray
    affine: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=float)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4 x 4, not {self.affine.shape}")
        if self.array.ndim != 3:
            raise ValueError(f"array must be 3D, not {self.array.ndim}D with shape {self.array.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.array.shape)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size along each array axis, in mm."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def voxel_volume_ml(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    @property
    def orientation(self) -> str:
        """Patient direction each array axis runs to, e.g. ``'LPS'``."""
        return "".join(nib.orientations.aff2axcodes(self.affine, labels=(("R", "L"), ("A", "P"), ("I", "S"))))

    def with_array(self, array: np.ndarray) -> "Volume":
        """A volume on the same grid holding ``array`` (e.g. a label map or a filtered image)."""
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} differs from the volume's {self.array.shape}")
        return Volume(array, self.affine.copy(), dict(self.metadata))

    def index_to_mm(self, ijk: np.ndarray) -> np.ndarray:
        """Convert voxel indices (..., 3) into patient LPS coordinates in mm."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def mm_to_index(self, xyz_mm: np.ndarray) -> np.ndarray:
        """Convert patient LPS coordinates in mm (..., 3) into (fractional) voxel indices."""
        inverse = np.linalg.inv(self.affine)
        return np.asarray(xyz_mm, dtype=float) @ inverse[:3, :3].T + inverse[:3, 3]

    def __repr__(self) -> str:
        spacing = ", ".join(f"{s:.3g}" for s in self.spacing_mm)
        return (
            f"Volume(shape={self.shape}, spacing_mm=({spacing}), orientation={self.orientation}, "
            f"dtype={self.array.dtype}, memory={self.array.nbytes / 2**20:.1f} MiB, "
            f"modality={self.metadata.get('modality')})"
        )


def to_canonical(array: np.ndarray, affine_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder and flip array axes so they run closest to L, P, S; return the array and its new affine."""
    current = nib.orientations.io_orientation(affine_lps)
    transform = nib.orientations.ornt_transform(current, CANONICAL_ORNT)
    if np.array_equal(transform, CANONICAL_ORNT):
        return array, affine_lps
    new_array = nib.orientations.apply_orientation(array, transform)
    new_affine = affine_lps @ nib.orientations.inv_ornt_aff(transform, array.shape)
    # copy in the source's memory order: far faster than forcing C order on a Fortran-ordered NIfTI
    return np.array(new_array, order="K"), new_affine


def to_source_orientation(volume: Volume, source: Volume) -> Volume:
    """``volume`` (on the canonical grid of ``source``) in the stored axis order of ``source``'s NIfTI file.

    Same voxels, same world space: the inverse of the reordering :func:`to_canonical` did when ``source`` was
    loaded (``source.metadata["source_axes"]``). Without that record (DICOM input) ``volume`` is returned as is.
    """
    axes = source.metadata.get("source_axes")
    if not axes:
        return volume
    forward = np.asarray(axes, dtype=float)
    inverse = np.zeros_like(forward)
    for i, (target, flip) in enumerate(forward):
        inverse[int(target)] = (i, flip)
    array = nib.orientations.apply_orientation(volume.array, inverse)
    affine = volume.affine @ nib.orientations.inv_ornt_aff(inverse, volume.array.shape)
    return Volume(np.ascontiguousarray(array), affine, dict(volume.metadata))


def save_nifti(volume: Volume, path: str | Path, *, dtype: Any = None) -> Path:
    """Write ``volume`` as NIfTI (RAS affine, as the format expects); return the path."""
    path = Path(path)
    array = volume.array if dtype is None else volume.array.astype(dtype)
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

    The header's Modality decides when present. Otherwise a CT is recognised by its values: air
    near -1000 HU, which an MR image never has.
    """
    modality = volume.metadata.get("modality")
    if modality and modality != expected:
        raise SpinebqError(f"{path}: the image is {modality}, but a {expected} is needed here")
    if modality is None and expected == "CT":
        low = float(np.percentile(volume.array.ravel(order="K")[::31], 1))
        if low > -500:
            raise SpinebqError(
                f"{path}: this does not look like a CT in Hounsfield units (1st percentile {low:.0f}, "
                "no air near -1000 HU); is it an MR image?"
            )
        volume.metadata["modality"] = "CT"
