"""Where a canonical image's voxels lie in patient LPS millimetres, for the axes of the pictures.

The CT and MRI pictures draw their slices in the patient's LPS millimetres (the numbers ``--points`` takes and the
files hold), not in millimetres from the image's first voxel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinebq.image.volume import Volume


@dataclass(frozen=True)
class ImageGrid:
    """Where the canonical image's voxels lie in patient LPS millimetres, axis by axis (axis 0 left, 1 posterior,
    2 superior): voxel ``i`` of axis ``k`` is centred on ``origin_mm[k] + i * spacing_mm[k]``."""

    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    oblique: bool

    @classmethod
    def of(cls, image: Volume) -> "ImageGrid":
        rotation = np.asarray(image.affine)[:3, :3]
        along_axes = np.allclose(rotation, np.diag(np.diag(rotation)), atol=1e-3 * max(image.spacing_mm))
        return cls(tuple(float(v) for v in image.affine[:3, 3]), tuple(float(v) for v in image.spacing_mm),
                   not along_axes)

    def centre(self, index, axis: int):
        """LPS mm of the centre of voxel ``index`` (a number or an array) along ``axis``."""
        return self.origin_mm[axis] + np.asarray(index, dtype=float) * self.spacing_mm[axis]

    def edge(self, index, axis: int):
        """LPS mm of the lower edge of voxel ``index`` along ``axis`` (its upper edge is ``edge(index + 1)``)."""
        return self.centre(np.asarray(index, dtype=float) - 0.5, axis)

    def label(self, axis: int, direction: str) -> str:
        """An axis label: ``anterior -> posterior, LPS y (mm)``."""
        return f"{direction}, LPS {'xyz'[axis]} (mm{', approximate: oblique image' if self.oblique else ''})"
