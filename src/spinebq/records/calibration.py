"""One asynchronous-calibration equation of an equations file, keyed by the scanner that it holds for."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


#: Decimals of the intercept in an equation's text (the HU of a phantom's insert means carry no more).
INTERCEPT_DECIMALS = 2


def equation_text(slope_hu_per_mg_cm3: float, intercept_hu: float) -> str:
    """The HU -> vBMD equation as printed and stored, the intercept's sign written once.

    Examples
    --------
    >>> equation_text(1.2456, 64.7528)
    'vBMD [mg/cm3] = (HU - 64.75) / 1.2456'
    >>> equation_text(1.0, -10.0)
    'vBMD [mg/cm3] = (HU + 10) / 1'
    """
    intercept = round(intercept_hu, INTERCEPT_DECIMALS) + 0.0  # + 0.0: no "-0"
    sign = "-" if intercept >= 0 else "+"
    return f"vBMD [mg/cm3] = (HU {sign} {abs(intercept):g}) / {slope_hu_per_mg_cm3:.6g}"


@dataclass(frozen=True)
class ScannerEquation:
    """HU = slope * vBMD + intercept on one scanner, tube voltage and kernel (measured on a phantom scan).

    Attributes
    ----------
    manufacturer, model, kernel : str
        The scan's DICOM Manufacturer, ManufacturerModelName and ConvolutionKernel (first value).
    kvp : float
        Tube voltage, kV.
    slope_hu_per_mg_cm3, intercept_hu : float
        The phantom fit.
    r2 : float
        Coefficient of determination of the fit (NaN with two inserts is reported as 1.0 by the fit).
    material : str
        ``hydroxyapatite`` or ``k2hpo4``.
    inserts : tuple of dict
        Each insert's known density and measured HU.
    written : str
        ISO date the equation was measured.
    reference : str
        What the equation is (method and where it is described).
    """

    manufacturer: str
    model: str
    kvp: float
    kernel: str
    slope_hu_per_mg_cm3: float
    intercept_hu: float
    r2: float
    material: str
    inserts: tuple[dict, ...] = field(default_factory=tuple)
    written: str = ""
    reference: str = ""

    def key(self) -> tuple:
        """(manufacturer, model, kVp, kernel), case-folded: two equations with the same key are the same scanner."""
        return (self.manufacturer.casefold(), self.model.casefold(), float(self.kvp), self.kernel.casefold())

    def to_json(self) -> dict[str, Any]:
        return {"manufacturer": self.manufacturer, "model": self.model, "kvp": self.kvp, "kernel": self.kernel,
                "slope_hu_per_mg_cm3": self.slope_hu_per_mg_cm3, "intercept_hu": self.intercept_hu, "r2": self.r2,
                "equation": equation_text(self.slope_hu_per_mg_cm3, self.intercept_hu),
                "material": self.material, "inserts": list(self.inserts), "written": self.written,
                "reference": self.reference}
