"""Statistics of one region of interest, with one name for each statistic whatever the ROI."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RoiStats:
    """Mean, median, SD and size of the values inside one ROI.

    Missing values are NaN (an ROI with no voxel), never 0.

    Attributes
    ----------
    mean, median, sd : float
        Of the values inside the ROI, in the image's unit (HU for CT, signal for MRI).
    voxels : int
        Number of voxels (or sample points) the statistics are computed from.
    volume_ml : float
        Volume of those voxels (NaN where the ROI is a set of sample points).

    Examples
    --------
    >>> stats = RoiStats.of(np.array([100.0, 110.0, 120.0]), voxel_volume_ml=0.001)
    >>> stats.mean, stats.median, stats.voxels
    (110.0, 110.0, 3)
    >>> RoiStats.from_json(stats.to_json("hu_3d"), "hu_3d") == stats
    True
    """

    mean: float
    median: float
    sd: float
    voxels: int
    volume_ml: float = math.nan

    @classmethod
    def of(cls, values: np.ndarray, *, voxel_volume_ml: float = math.nan) -> "RoiStats":
        """The statistics of ``values`` (SD with ``ddof=1``, as R's ``sd``)."""
        values = np.asarray(values, dtype=float)
        n = int(values.size)
        if n == 0:
            return cls(math.nan, math.nan, math.nan, 0, 0.0)
        sd = float(values.std(ddof=1)) if n > 1 else math.nan
        return cls(float(values.mean()), float(np.median(values)), sd, n, n * voxel_volume_ml)

    def to_json(self, key: str) -> dict[str, Any]:
        """The keys of the ``spinebq.ct/1`` document: ``key``, ``key_median``, ``key_sd``, ``key_voxels``, ``key_volume_ml``."""
        return {key: self.mean, f"{key}_median": self.median, f"{key}_sd": self.sd, f"{key}_voxels": self.voxels,
                f"{key}_volume_ml": self.volume_ml}

    @classmethod
    def from_json(cls, document: dict[str, Any], key: str) -> "RoiStats":
        """Read the keys written by :meth:`to_json` (missing or null -> NaN)."""
        return cls(number(document.get(key)), number(document.get(f"{key}_median")), number(document.get(f"{key}_sd")),
                   int(document.get(f"{key}_voxels") or 0), number(document.get(f"{key}_volume_ml")))


def number(value: Any) -> float:
    """A JSON number as float; ``None`` (how JSON writes a missing value) as NaN.

    >>> number(None), number(3)
    (nan, 3.0)
    """
    return math.nan if value is None else float(value)
