"""A local frame per vertebra, so tilted vertebrae are measured on their own planes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class VertebraFrame:
    """Orthonormal axes of one vertebral body in patient LPS mm.

    Attributes
    ----------
    centre_mm : numpy.ndarray
        Body centroid.
    superior, posterior, left : numpy.ndarray
        Unit vectors: along the spine's axis (cranial), front-to-back, and right-to-left.
    """

    centre_mm: np.ndarray
    superior: np.ndarray
    posterior: np.ndarray
    left: np.ndarray

    def to_mm(self, s_mm, p_mm, l_mm) -> np.ndarray:
        """Patient coordinates of points given in frame coordinates (broadcasting)."""
        s, p, l = (np.asarray(v, dtype=float)[..., None] for v in (s_mm, p_mm, l_mm))
        return self.centre_mm + s * self.superior + p * self.posterior + l * self.left


def spine_frames(centroids_mm: dict[str, np.ndarray], order: list[str]) -> dict[str, VertebraFrame]:
    """Build a frame for each vertebra from the centroids of its neighbours.

    The superior axis of a level runs from the centroid below it to the centroid above it (as
    TotalSegmentator's spine report does), or to/from the one neighbour present, or along the
    patient's S axis for a lone vertebra. The posterior axis is the patient's P axis made
    perpendicular to it.

    Parameters
    ----------
    centroids_mm : dict
        Body centroid (LPS mm) per vertebra name.
    order : list of str
        The names present, cranial to caudal.
    """
    frames = {}
    for n, name in enumerate(order):
        above = centroids_mm[order[n - 1]] if n > 0 else None
        below = centroids_mm[order[n + 1]] if n + 1 < len(order) else None
        centre = centroids_mm[name]
        if above is not None and below is not None:
            axis = above - below
        elif above is not None:
            axis = above - centre
        elif below is not None:
            axis = centre - below
        else:
            axis = np.array([0.0, 0.0, 1.0])
        superior = axis / np.linalg.norm(axis)
        if superior[2] < 0:
            superior = -superior
        posterior = np.array([0.0, 1.0, 0.0]) - superior[1] * superior
        posterior /= np.linalg.norm(posterior)
        left = np.cross(posterior, superior)
        frames[name] = VertebraFrame(centre, superior, posterior, left)
    return frames
