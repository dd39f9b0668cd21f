"""The one image type of spinebq: an array, its affine to patient LPS millimetres, and metadata.

Every loader returns a :class:`Volume` in the same array orientation: axis 0 runs to the patient's
Left, axis 1 to Posterior, axis 2 to Superior (the closest such axes for oblique scans). An axial
slice is therefore ``volume.array[:, :, k]``, and nothing downstream has to guess orientation again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage


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
        """A volume on the same grid holding ``array`` (e.g. a label map or a filtered image).

        The result is of the same type as ``self``: a :class:`~spinebq.image.labelmap.LabelMap` gives a
        LabelMap with the same content and scheme.
        """
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} differs from the volume's {self.array.shape}")
        return self._like(array, self.affine.copy())

    def _like(self, array: np.ndarray, affine: np.ndarray) -> "Volume":
        """A volume of ``self``'s type and attributes (metadata copied) holding ``array`` with ``affine``."""
        return dataclasses.replace(self, array=array, affine=affine, metadata=dict(self.metadata))

    def crop(self, box: tuple[slice, ...], *, copy: bool = False) -> "Volume":
        """The part of the volume inside an index box, every voxel keeping its patient coordinates.

        Parameters
        ----------
        box : tuple of slice
            One slice per array axis (missing trailing axes are taken whole), as returned by
            ``scipy.ndimage.find_objects``; ``None`` and negative bounds count as in NumPy, steps other
            than 1 are refused.
        copy : bool
            Copy the voxels; by default the array is a view of this volume's array (cheap, but writing
            to it writes here).

        Returns
        -------
        Volume
            Of the same type as ``self`` (a label map stays a label map), metadata copied; its affine is
            this one translated to the first voxel of the box.

        Raises
        ------
        ValueError
            When the box is empty or has a step.

        Examples
        --------
        >>> ct = Volume(np.zeros((10, 10, 10)), np.diag([0.5, 0.5, 2.0, 1.0]))
        >>> part = ct.crop((slice(2, 6), slice(None), slice(3, 5)))
        >>> part.shape
        (4, 10, 2)
        >>> part.index_to_mm([0, 0, 0]).tolist(), ct.index_to_mm([2, 0, 3]).tolist()
        ([1.0, 0.0, 6.0], [1.0, 0.0, 6.0])
        """
        box = _resolve_box(box, self.shape)
        array = self.array[box]
        affine = self.affine.copy()
        affine[:3, 3] = self.index_to_mm([b.start for b in box])
        return self._like(array.copy() if copy else array, affine)

    def sub_volume(self, centre_mm: np.ndarray, size_mm: float | tuple[float, float, float], *,
                   copy: bool = False) -> "Volume":
        """The box of voxels around a point, clipped to the image.

        Parameters
        ----------
        centre_mm : array_like, shape (3,)
            Centre of the box in patient LPS coordinates, mm.
        size_mm : float or tuple of 3 floats
            Edge length of the box along each array axis, mm. Every voxel whose centre lies within
            half of it from ``centre_mm`` (measured along that axis) is kept.
        copy : bool
            Copy the voxels instead of returning a view (see :meth:`crop`).

        Returns
        -------
        Volume
            As :meth:`crop`; smaller than asked where the box reaches past the image.

        Raises
        ------
        ValueError
            When the box lies wholly outside the image; the message gives the point and the image extent.

        Examples
        --------
        >>> ct = Volume(np.zeros((10, 10, 10)), np.diag([2.0, 2.0, 2.0, 1.0]))
        >>> ct.sub_volume([10.0, 10.0, 10.0], 8.0).shape
        (5, 5, 5)
        >>> ct.sub_volume([0.0, 10.0, 18.0], 8.0).shape  # clipped at the first and the last slice
        (3, 5, 3)
        """
        size = np.broadcast_to(np.asarray(size_mm, dtype=float), (3,))
        if np.any(~np.isfinite(size)) or np.any(size < 0):
            raise ValueError(f"size_mm must be finite and not negative, not {size_mm!r}")
        centre = self.mm_to_index(np.asarray(centre_mm, dtype=float).reshape(3))
        half = size / 2.0 / np.asarray(self.spacing_mm)
        start = np.maximum(np.ceil(centre - half - 1e-9), 0).astype(int)
        stop = np.minimum(np.floor(centre + half + 1e-9) + 1, self.shape).astype(int)
        if np.any(stop <= start):
            lo, hi = self.index_to_mm([0, 0, 0]), self.index_to_mm(np.array(self.shape) - 1)
            raise ValueError(f"the {_fmt_mm(size)} mm box around {_fmt_mm(centre_mm)} mm lies outside the image "
                             f"(voxel centres from {_fmt_mm(lo)} to {_fmt_mm(hi)} mm)")
        return self.crop(tuple(slice(int(a), int(b)) for a, b in zip(start, stop)), copy=copy)

    def sample_mm(self, points_mm: np.ndarray, order: int = 1) -> np.ndarray:
        """Values of the image at patient LPS points, interpolated; NaN outside the image.

        Parameters
        ----------
        points_mm : array_like, shape (N, 3) or (..., 3)
            Points in patient LPS coordinates, mm.
        order : int
            Spline order of ``scipy.ndimage.map_coordinates``: 0 nearest voxel, 1 trilinear (default), up to 5.

        Returns
        -------
        numpy.ndarray
            float64 of shape ``points_mm.shape[:-1]``. A point outside the voxel edges of the image is NaN;
            between the outermost voxel centre and its edge the edge value is held (``mode="nearest"``).

        Examples
        --------
        >>> ct = Volume(np.arange(27.0).reshape(3, 3, 3), np.diag([2.0, 2.0, 2.0, 1.0]))
        >>> ct.sample_mm([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [2.0, 2.0, 2.0], [9.0, 0.0, 0.0]])
        array([ 0. ,  0.5, 13. ,  nan])
        """
        points = np.asarray(points_mm, dtype=float)
        if points.shape[-1:] != (3,):
            raise ValueError(f"points_mm must have shape (N, 3), not {points.shape}")
        index = self.mm_to_index(points.reshape(-1, 3))
        inside = np.all((index >= -0.5) & (index <= np.array(self.shape) - 0.5), axis=1)
        values = np.full(len(index), np.nan)
        if inside.any():
            values[inside] = ndimage.map_coordinates(self.array, index[inside].T, order=order, mode="nearest",
                                                     output=np.float64)
        return values.reshape(points.shape[:-1])

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


def _resolve_box(box: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """``box`` as one slice per axis with explicit, in-range starts and stops."""
    box = tuple(box)
    if len(box) > len(shape) or not all(isinstance(b, slice) for b in box):
        raise ValueError(f"box must be up to {len(shape)} slices, not {box!r}")
    box = box + (slice(None),) * (len(shape) - len(box))
    resolved = []
    for axis, (b, n) in enumerate(zip(box, shape)):
        start, stop, step = b.indices(n)
        if step != 1:
            raise ValueError(f"box slice {b} of axis {axis} has a step; crop takes contiguous boxes only")
        if stop <= start:
            raise ValueError(f"box slice {b} of axis {axis} is empty for an axis of {n} voxels")
        resolved.append(slice(start, stop))
    return tuple(resolved)


def _fmt_mm(values) -> str:
    return "(" + ", ".join(f"{float(v):.1f}" for v in np.broadcast_to(np.asarray(values, dtype=float), (3,))) + ")"


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
    return volume._like(np.ascontiguousarray(array), affine)
