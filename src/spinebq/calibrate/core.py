"""The calibration result every method returns, and the ACR categories of vBMD."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from spinebq.records.calibration import equation_text

#: ACR-SPR-SSR practice parameter for QCT (used by [loeffler2021]): vBMD thresholds in mg/cm3.
ACR_OSTEOPOROSIS_BELOW = 80.0
ACR_NORMAL_ABOVE = 120.0
ACR_REFERENCE = "ACR-SPR-SSR Practice Parameter for QCT: < 80 osteoporosis, 80-120 low bone mass, > 120 normal (mg/cm3)"


@dataclass(frozen=True)
class Calibration:
    """A linear HU -> vBMD relation ``HU = slope * vBMD + intercept``.

    Attributes
    ----------
    method : {"none", "phantom", "equation"}
    slope_hu_per_mg_cm3, intercept_hu : float or None
        ``None`` when uncalibrated.
    details : dict
        How it was obtained (R^2, residuals, phantom material, equation key, reason when none).
    """

    method: str
    slope_hu_per_mg_cm3: float | None = None
    intercept_hu: float | None = None
    details: dict = field(default_factory=dict)

    @property
    def calibrated(self) -> bool:
        return self.slope_hu_per_mg_cm3 is not None

    def vbmd_mg_cm3(self, hu: float) -> float:
        """vBMD in mg/cm3 for a HU value; NaN when uncalibrated or when ``hu`` is NaN."""
        if not self.calibrated or hu is None or not math.isfinite(hu):
            return float("nan")
        return (hu - self.intercept_hu) / self.slope_hu_per_mg_cm3

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "slope_hu_per_mg_cm3": self.slope_hu_per_mg_cm3,
            "intercept_hu": self.intercept_hu,
            "equation": equation_text(self.slope_hu_per_mg_cm3, self.intercept_hu) if self.calibrated else None,
            **self.details,
        }


def no_calibration(reason: str = "no calibration requested: values stay in HU") -> Calibration:
    """The 'HU only' calibration; no vBMD and no ACR category is derived from it."""
    return Calibration("none", details={"reason": reason})


def acr_category(vbmd_mg_cm3: float) -> str | None:
    """ACR category of a trabecular spine vBMD (mg/cm3), or None when it is missing.

    >>> acr_category(79.9), acr_category(120.0), acr_category(120.1)
    ('osteoporosis', 'low_bone_mass', 'normal')
    """
    if vbmd_mg_cm3 is None or not math.isfinite(vbmd_mg_cm3):
        return None
    if vbmd_mg_cm3 < ACR_OSTEOPOROSIS_BELOW:
        return "osteoporosis"
    if vbmd_mg_cm3 <= ACR_NORMAL_ABOVE:
        return "low_bone_mass"
    return "normal"
