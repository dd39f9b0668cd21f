"""Named ways of measuring trabecular HU in 3D, each reproducing a published tool or paper.

==================  =======================================================  =========  ===================
preset              region                                                   statistic  source
==================  =======================================================  =========  ===================
``3dhu`` (default)  body minus a 3 mm distance-based cortical peel          mean       Chang 2025 [chang2025] (3D-HU)
``bonescreen``      body eroded by 10 mm (distance-based)                    mean       Löffler 2021 [loeffler2021]
``totalsegmentator``body eroded with TotalSegmentator's "4 mm" voxel kernel   median     TotalSegmentator
``comp2comp``       elliptical sub-ROI in a 7.5 mm mid-body slab             mean       Comp2Comp
==================  =======================================================  =========  ===================
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Erosion(str, Enum):
    """How the cortex is removed from the body mask."""

    DISTANCE = "distance"  # keep voxels farther than erosion_mm from the mask's outside (Euclidean)
    TOTALSEGMENTATOR_KERNEL = "totalsegmentator_kernel"  # TotalSegmentator's voxel-grid ellipsoid, quirks kept
    COMP2COMP_ELLIPSE = "comp2comp_ellipse"  # Comp2Comp's elliptical sub-ROI


@dataclass(frozen=True)
class Preset:
    """A trabecular 3D ROI definition.

    Attributes
    ----------
    name : str
    erosion : Erosion
    erosion_mm : float
        Depth removed from the body surface (for ``comp2comp``: unused; it erodes 1-2 voxels).
    statistic : {"mean", "median"}
        The statistic the source reports; spinebq always reports both, and the summary uses this one.
    reference : str
        Where the definition comes from.
    """

    name: str
    erosion: Erosion
    erosion_mm: float
    statistic: str
    reference: str


PRESETS: dict[str, Preset] = {
    "3dhu": Preset(
        "3dhu", Erosion.DISTANCE, 3.0, "mean",
        "Chang et al. 2025, 3D-HU: mean over the whole trabecular body volume, cortex excluded [chang2025]",
    ),
    "bonescreen": Preset(
        "bonescreen", Erosion.DISTANCE, 10.0, "mean",
        "Löffler et al., Front Endocrinol 2021: body eroded by 10 mm, voxels > 1400 HU excluded [loeffler2021]",
    ),
    "totalsegmentator": Preset(
        "totalsegmentator", Erosion.TOTALSEGMENTATOR_KERNEL, 4.0, "median",
        "TotalSegmentator spine report (Wasserth et al., Radiol AI 2023): body eroded with its 4 mm voxel kernel",
    ),
    "comp2comp": Preset(
        "comp2comp", Erosion.COMP2COMP_ELLIPSE, 0.0, "mean",
        "Comp2Comp spine ROI (StanfordMIMI): ellipse at 42 % of the AP depth from the anterior edge, 7.5 mm slab",
    ),
}
DEFAULT_PRESET = "3dhu"


def get_preset(name: str | Preset) -> Preset:
    """Return the preset called ``name``; raise ``ValueError`` naming the choices otherwise."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
