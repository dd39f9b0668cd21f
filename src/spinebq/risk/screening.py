"""Opportunistic osteoporosis screening of a routine (uncalibrated) CT: L1 trabecular HU against the published
thresholds of the registry's ``screening`` entries (Pickhardt et al. 2013: 160 HU 90 % sensitive, 110 HU more than
90 % specific for DXA osteoporosis).

The paper measured one hand-placed oval ROI on a single axial L1 slice; spinebq compares ``hu_2d`` at L1 (the mean
of its three ellipses, on planes perpendicular to L1's own axis) and gives the mid-body ellipse beside it. The reading is a screening band, not a
diagnosis, and is given with the conditions that change it: tube voltage other than 120 kVp, contrast, a fractured
or flagged L1.
"""
from __future__ import annotations

import math

from spinebq.records.ct import CtRecord
from spinebq.records.screening import ScreeningReading
from spinebq.risk.contrast_caveats import correction_caveat
from spinebq.risk.registry import load_screening


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def band_of(value_hu: float, thresholds: list[dict], above_reading: str) -> tuple[str, str]:
    """(reading, band in words) of ``value_hu``: the first threshold it is at or below, else ``above_reading``.

    Parameters
    ----------
    value_hu : float
    thresholds : list of dict
        ``{"hu": ..., "reading": ...}``, ascending.
    above_reading : str
        The reading above the highest threshold.
    """
    lower = None
    for threshold in thresholds:
        if value_hu <= threshold["hu"]:
            band = f"at or below {threshold['hu']:g} HU" if lower is None else f"above {lower:g} and at or below {threshold['hu']:g} HU"
            return threshold["reading"], band
        lower = threshold["hu"]
    return above_reading, f"above {lower:g} HU"


def _caveats(entry: dict, ct: CtRecord) -> list[str]:
    caveats = []
    kvp = ct.acquisition.get("kvp")
    wanted = "/".join(f"{k:g}" for k in entry.get("kvp") or [])
    if kvp is None:
        caveats.append(f"tube voltage not recorded in the input; the thresholds were published at {wanted} kVp "
                       "(HU falls as kVp rises)")
    elif wanted and float(kvp) not in [float(k) for k in entry["kvp"]]:
        caveats.append(f"CT at {kvp:g} kVp; the thresholds were published at {wanted} kVp (HU falls as kVp rises)")
    if ct.contrast_enhanced:
        caveats.append("contrast-enhanced CT: " + entry["contrast"])
    correction = correction_caveat(ct)
    if correction:
        caveats.append(correction)
    vertebra = ct.level(entry["level"])
    if vertebra is not None:
        if vertebra.genant_grade:
            caveats.append(f"{entry['level']} has a Genant grade {vertebra.genant_grade} deformity: compressed or "
                           "healing trabeculae read denser, so the value may overstate bone density")
        if vertebra.excluded_reason:
            caveats.append(f"{entry['level']} is left out of the CT summary: {vertebra.excluded_reason}")
        caveats += [f"{entry['level']} QC: {flag.replace('_', ' ')}" for flag in vertebra.qc]
    return caveats


def screening_reading(ct: CtRecord, entry: dict) -> ScreeningReading:
    """Read one CT against one registry screening entry (see :func:`spinebq.risk.registry.load_screening`)."""
    level = entry["level"]
    thresholds = sorted(entry["thresholds"], key=lambda t: t["hu"])
    vertebra = ct.level(level)
    value = vertebra.hu_2d if vertebra is not None and _finite(vertebra.hu_2d) else None
    mid = None
    if vertebra is not None and len(vertebra.hu_2d_slices) == 3 and _finite(vertebra.hu_2d_slices[1]):
        mid = float(vertebra.hu_2d_slices[1])
    reading = band = reason = None
    if vertebra is None:
        reason = f"{level} is not in the CT results (not in the scan or not segmented)"
    elif value is None:
        reason = f"{level} three-slice HU not measured" + (f": {vertebra.excluded_reason}" if vertebra.excluded_reason else "")
    else:
        value = float(value)
        reading, band = band_of(value, thresholds, entry["above_reading"])
    return ScreeningReading(key=entry["key"], reference=entry["reference"], level=level, value_hu=value,
                            mid_slice_hu=mid, reading=reading, band=band,
                            thresholds_hu=tuple(float(t["hu"]) for t in thresholds), reason=reason,
                            caveats=tuple(_caveats(entry, ct)), method=entry["spinebq_value"])


def screening_readings(ct: CtRecord | None) -> list[ScreeningReading]:
    """Every registry screening entry read on ``ct`` (empty without CT results)."""
    if ct is None:
        return []
    return [screening_reading(ct, entry) for entry in load_screening()]
