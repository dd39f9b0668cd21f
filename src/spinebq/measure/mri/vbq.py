"""VBQ, S1-VBQ and PBQ from per-level ROI signals, and the published cutoffs with their provenance.

Definitions (docs/methods.md section 5.1-5.2):

* VBQ = median(SI of the L1-L4 bodies) / SI of CSF at L3 (L2 or L4 when L3 is blocked)
  (Ehresman 2020; Wu 2025 [wu2025] section 2.2);
* S1-VBQ = SI of the S1 body / the same CSF SI (Spine J 2024;24:1443-50);
* PBQ = mean(SI of the L1-L4 pedicles, both sides) / the same CSF SI (Yang 2026 [yang2026], citing the 2024 PBQ paper).
"""
from __future__ import annotations

import math

import numpy as np

VBQ_LEVELS = ("L1", "L2", "L3", "L4")

#: Published cutoffs. Each names its score, method, paper and what a value at or above it means.
CUTOFFS: tuple[dict, ...] = (
    {"score": "vbq", "cutoff": 3.3, "direction": ">=", "meaning": "higher risk of internal fixation failure after PLIF",
     "source": "Wu et al., Spine Research 2025 [wu2025] (AUC 0.859, sensitivity 0.776, specificity 0.799)",
     "method": "VBQ = SI median L1-L4 / SI CSF L3, T1 sagittal"},
    {"score": "vbq", "cutoff": 3.0, "direction": ">=", "meaning": "osteoporosis likely (screening threshold, about 3.0-3.06)",
     "source": "Ehresman 2020 Spine J 20:556-62; Pu 2023 (docs/methods.md section 5.1)",
     "method": "VBQ = SI median L1-L4 / SI CSF L3, T1 sagittal"},
)


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def vbq_score(body_signals: dict[str, float], signal_csf: float, *,
              levels: tuple[str, ...] = VBQ_LEVELS) -> tuple[float, str | None, list[str]]:
    """VBQ = median of the body signals of ``levels`` divided by the CSF signal.

    Parameters
    ----------
    body_signals : dict
        Level name -> mean body ROI signal (NaN for an unusable level).
    signal_csf : float
        CSF ROI mean signal.

    Returns
    -------
    vbq : float
        NaN when fewer than two levels or no CSF are usable.
    reason : str or None
        Why VBQ is NaN, or what was left out.
    used : list of str
        Levels that entered the median.

    Examples
    --------
    >>> vbq_score({"L1": 300, "L2": 320, "L3": 310, "L4": 330}, 100.0)[0]
    3.15
    """
    used = [lv for lv in levels if lv in body_signals and math.isfinite(float(body_signals[lv]))]
    if not math.isfinite(signal_csf) or signal_csf <= 0:
        return float("nan"), "no CSF signal", used
    if len(used) < 2:
        return float("nan"), f"too few levels: {len(used)} of {', '.join(levels)} measurable", used
    value = float(np.median([body_signals[lv] for lv in used])) / signal_csf
    missing = [lv for lv in levels if lv not in used]
    reason = f"{', '.join(missing)} not measured (median of {len(used)})" if missing else None
    return round(value, 6), reason, used


def pbq_score(pedicle_signals: dict[str, tuple[float, float]], signal_csf: float, *,
              levels: tuple[str, ...] = VBQ_LEVELS) -> tuple[float, str | None, list[str]]:
    """PBQ = mean of the L1-L4 segmental pedicle signals (mean of left and right) / CSF signal.

    Parameters
    ----------
    pedicle_signals : dict
        Level name -> (left signal, right signal); NaN for a missing side (the other side is used alone).
    signal_csf : float
        CSF ROI mean signal.

    Examples
    --------
    >>> pbq_score({"L1": (300, 310), "L2": (320, 320), "L3": (300, 300), "L4": (330, 330)}, 100.0)[0]
    3.1375
    """
    segmental = {}
    for lv in levels:
        sides = _finite(pedicle_signals.get(lv, ()))
        if sides:
            segmental[lv] = float(np.mean(sides))
    if not math.isfinite(signal_csf) or signal_csf <= 0:
        return float("nan"), "no CSF signal", list(segmental)
    if len(segmental) < 2:
        return float("nan"), f"too few levels: {len(segmental)} of {', '.join(levels)} with a pedicle ROI", list(segmental)
    value = float(np.mean(list(segmental.values()))) / signal_csf
    missing = [lv for lv in levels if lv not in segmental]
    reason = f"{', '.join(missing)} not measured (mean of {len(segmental)})" if missing else None
    return round(value, 6), reason, list(segmental)


def cutoff_assessment(score: str, value: float) -> list[dict]:
    """Where ``value`` stands against each published cutoff of ``score`` (``"vbq"``)."""
    out = []
    for c in CUTOFFS:
        if c["score"] != score:
            continue
        above = None if not math.isfinite(value) else bool(value >= c["cutoff"])
        out.append({**c, "at_or_above": above})
    return out
