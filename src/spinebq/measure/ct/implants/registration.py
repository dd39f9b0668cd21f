"""Rigid registration of a post-operative CT onto the pre-operative CT of the same patient (SimpleITK).

Paper 001 (Yang et al., Global Spine J 2026) placed each screw's ROI on the pre-operative CT at the
position and angle the post-operative CT showed. spinebq does the same automatically: the screws are
found in the post-operative CT, the post-operative CT is registered rigidly (6 degrees of freedom) onto
the pre-operative one, and the screw axes are carried over and measured in bone that has no metal yet.

Registration: Mattes mutual information on the spine region of the pre-operative CT (the labelled
vertebrae dilated by 15 mm), metal and its surroundings in the post-operative CT left out of the
metric, centred initialisation, three resolutions (shrink 4/2/1, smoothing 2/1/0 mm), regular step
gradient descent, fixed random sampling seed (deterministic).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinebq.constants import METAL_HU
from spinebq.image.volume import Volume

SAMPLING_SEED = 20251
#: The metric looks at this margin around the labelled vertebrae of the pre-operative CT, mm.
SPINE_MARGIN_MM = 15.0
#: Metal and this margin around it (post-operative CT) are left out of the metric, mm.
METAL_MARGIN_MM = 6.0


@dataclass
class RigidRegistration:
    """The result of :func:`register_rigid`: a map from post-operative to pre-operative LPS mm."""

    matrix: np.ndarray  # 3 x 3 rotation, post -> pre
    offset: np.ndarray  # mm
    metric: float
    rotation_deg: float
    centre_shift_mm: float  # how far the pre-operative CT's centre point moves under the map

    def __call__(self, points_mm) -> np.ndarray:
        """Map post-operative points (..., 3) into the pre-operative CT (LPS mm)."""
        return np.asarray(points_mm, dtype=float) @ self.matrix.T + self.offset

    def to_dict(self) -> dict:
        return {"method": "rigid (6 DOF), Mattes mutual information on the spine, metal masked (SimpleITK)",
                "metric": round(self.metric, 4), "rotation_deg": round(self.rotation_deg, 2),
                "centre_shift_mm": round(self.centre_shift_mm, 2),
                "matrix_post_to_pre": np.round(self.matrix, 6).tolist(), "offset_mm": np.round(self.offset, 3).tolist()}


def _to_sitk(volume: Volume, array: np.ndarray | None = None, pixel=None):
    import SimpleITK as sitk

    data = volume.array if array is None else array
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(data, (2, 1, 0))))
    if pixel is not None:
        image = sitk.Cast(image, pixel)
    spacing = np.linalg.norm(volume.affine[:3, :3], axis=0)
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in volume.affine[:3, 3]])
    image.SetDirection([float(v) for v in (volume.affine[:3, :3] / spacing).ravel()])
    return image


def register_rigid(pre: Volume, post: Volume, *, pre_labels: np.ndarray | None = None, metal_hu: float = METAL_HU) -> RigidRegistration:
    """Register ``post`` rigidly onto ``pre``; return the post -> pre map.

    Parameters
    ----------
    pre, post : Volume
        Pre- and post-operative CT (HU), any grids.
    pre_labels : numpy.ndarray, optional
        Vertebra labels on ``pre``'s grid: the metric is restricted to the spine around them.
    metal_hu : float
        Metal threshold of the post-operative CT.
    """
    import SimpleITK as sitk

    fixed = _to_sitk(pre, pre.array.astype(np.float32))
    moving_array = post.array.astype(np.float32)
    metal = moving_array > metal_hu
    moving = _to_sitk(post, np.minimum(moving_array, metal_hu))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.25, SAMPLING_SEED)
    if pre_labels is not None and np.any(pre_labels):
        spine = ndimage.distance_transform_edt(pre_labels == 0, sampling=pre.spacing_mm) <= SPINE_MARGIN_MM
        method.SetMetricFixedMask(_to_sitk(pre, spine.astype(np.uint8), sitk.sitkUInt8))
    if metal.any():
        near_metal = ndimage.distance_transform_edt(~metal, sampling=post.spacing_mm) <= METAL_MARGIN_MM
        method.SetMetricMovingMask(_to_sitk(post, (~near_metal).astype(np.uint8), sitk.sitkUInt8))
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method.SetInitialTransform(initial, inPlace=False)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=200,
                                                    gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    transform = method.Execute(fixed, moving)
    # ITK maps fixed (pre) points to moving (post) points; its inverse carries post -> pre
    inverse = transform.GetInverse()
    origin = np.array(inverse.TransformPoint((0.0, 0.0, 0.0)))
    matrix = np.stack([np.array(inverse.TransformPoint(tuple(e))) - origin for e in np.eye(3)], axis=1)
    angle = float(np.degrees(np.arccos(np.clip((np.trace(matrix) - 1) / 2, -1, 1))))
    centre = np.asarray(pre.index_to_mm((np.array(pre.shape) - 1) / 2))
    shift = float(np.linalg.norm(centre @ matrix.T + origin - centre))
    return RigidRegistration(matrix, origin, float(method.GetMetricValue()), angle, shift)
