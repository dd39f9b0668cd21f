"""The caveats a contrast-enhanced CT puts on every HU cutoff (docs/methods.md section 3): models of
:mod:`spinebq.risk.assess` and screening readings of :mod:`spinebq.risk.screening` alike."""
from __future__ import annotations

import math

from spinebq.records.ct import CtRecord

CONTRAST_CAVEAT = ("contrast-enhanced CT: trabecular HU is raised by enhancement (about +11 to +26 HU in the portal "
                   "venous phase, docs/methods.md section 3) and the published CT cutoffs assume unenhanced scans")
#: The caveat of an HU cutoff on a CT whose HU had a contrast correction: which value is compared, and why.
CORRECTION_CAVEAT = ("spinebq ct applied the {correction} contrast correction ({delta:+g} HU; measurements.json "
                     "hu_contrast_corrected), but the value compared here is the raw HU: the published cutoffs were "
                     "found on raw HU of unenhanced scans")


def correction_caveat(ct: CtRecord) -> str | None:
    """:data:`CORRECTION_CAVEAT` for the correction ``spinebq ct --contrast-correction`` applied, or None when none
    changed the HU (no correction asked for, an unenhanced phase's 0 HU, or a phase without a published value)."""
    contrast = ct.summary.regional.contrast if ct.summary.regional is not None else {}
    delta_hu = float(contrast.get("correction_delta_hu") or 0.0)
    if contrast.get("correction", "none") == "none" or not math.isfinite(delta_hu) or delta_hu == 0.0:
        return None
    return CORRECTION_CAVEAT.format(correction=contrast["correction"], delta=-delta_hu)
