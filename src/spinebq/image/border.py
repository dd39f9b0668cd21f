"""A frame of constant fill around an image: padding written by a converter or resampler, not anatomy.

Some exported volumes carry whole slices or rows of one value on their faces (the real T1 exams of
``../shared/data/lumbar_mri_t1`` hold rows of 255, the 8-bit maximum, on two faces, and case10 its whole
first sagittal slice). A measurement that samples the image up to its edge would read that fill as tissue:
as the brightest fat of the image, for instance. :func:`fill_border` finds it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FillBorder:
    """The constant faces peeled off an array (:func:`fill_border`).

    Attributes
    ----------
    mask : numpy.ndarray
        Boolean, True on the fill (everything outside the box that remains).
    faces : tuple of (axis, side, slices, value)
        Per peeled face: array axis, ``"first"`` or ``"last"`` index, how many slices deep, and the fill value.
    """

    mask: np.ndarray
    faces: tuple[tuple[int, str, int, float], ...]

    @property
    def voxels(self) -> int:
        return int(self.mask.sum())

    def describe(self) -> str | None:
        """One sentence naming the faces and the value, or None without fill."""
        if not self.faces:
            return None
        parts = [f"axis {axis} {side} {n} slice{'s' if n > 1 else ''} at {value:g}"
                 for axis, side, n, value in self.faces]
        return (f"constant fill on the array's faces ({'; '.join(parts)}; {self.voxels} voxels): padding, not anatomy, "
                "left out")


def fill_border(array: np.ndarray) -> FillBorder:
    """Peel off the faces of a 3D array that hold one value other than the array's minimum.

    A face is the first or last slice along an axis, within what is left after the faces already peeled;
    it is peeled while every voxel in it holds the same value and that value is not the array's minimum
    (a face of background air is image, not fill).

    Parameters
    ----------
    array : numpy.ndarray
        3D image.

    Returns
    -------
    FillBorder

    Examples
    --------
    >>> a = np.zeros((4, 5, 6)); a[1:3, 1:4, 1:5] = 7.0; a[0] = 255.0; a[:, -1] = 255.0
    >>> border = fill_border(a)
    >>> border.faces
    ((0, 'first', 1, 255.0), (1, 'last', 1, 255.0))
    >>> border.voxels  # the first slice (5 x 6) and the last row of the other three (3 x 6)
    48
    """
    minimum = array.min()
    lo, hi = [0] * array.ndim, list(array.shape)
    depth: dict[tuple[int, str], list] = {}
    changed = True
    while changed:
        changed = False
        for axis in range(array.ndim):
            for side in ("first", "last"):
                if hi[axis] - lo[axis] <= 1:
                    continue
                box = [slice(lo[a], hi[a]) for a in range(array.ndim)]
                box[axis] = lo[axis] if side == "first" else hi[axis] - 1
                face = array[tuple(box)]
                value = face.flat[0]
                if value == minimum or not np.all(face == value):
                    continue
                if side == "first":
                    lo[axis] += 1
                else:
                    hi[axis] -= 1
                depth.setdefault((axis, side), [0, float(value)])[0] += 1
                changed = True
    mask = np.ones(array.shape, bool)
    mask[tuple(slice(lo[a], hi[a]) for a in range(array.ndim))] = False
    faces = tuple((axis, side, n, value) for (axis, side), (n, value) in sorted(depth.items()))
    return FillBorder(mask, faces)
