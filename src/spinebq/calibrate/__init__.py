"""HU -> vBMD calibration (phantom or scanner equations) and the ACR categories."""
from spinebq.calibrate.core import Calibration, acr_category, no_calibration

__all__ = ["Calibration", "acr_category", "no_calibration"]
