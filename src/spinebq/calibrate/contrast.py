"""Contrast phase of a CT and the named corrections of trabecular HU for enhancement (docs/methods.md section 3).

The phase comes from the DICOM header where it says so (series description or contrast route naming
a phase; a contrast agent without a phase gives ``contrast_unknown_phase``), otherwise it is estimated
from the attenuation of the aorta and the inferior vena cava in front of the upper lumbar bodies:
the brightest vessel-sized disc left-anterior of the spine is taken as the aorta, the brightest
right-anterior one as the IVC. The thresholds are spinebq's heuristics ([M], unvalidated): native
blood is 30-60 HU; an arterial phase has a bright aorta and a dark IVC, a portal-venous phase both
enhanced, a delayed phase both faintly enhanced.

Corrections (``HU_corrected = HU - delta(phase)``; raw HU are always reported beside):

``none``              no correction (default; Pickhardt 2016 found no correction necessary);
``totalsegmentator``  arterial -20 HU, portal venous -14.75 HU (the threshold shifts of TotalSegmentator's
                      spine report applied to the value instead);
``pickhardt``         portal venous -11.2 HU (Pickhardt et al., Osteoporos Int 2016, L1 mean difference);
                      no published value for other phases (then left uncorrected and said so).
"""
from __future__ import annotations

import math
import re

import numpy as np
from scipy import ndimage

from spinebq.errors import OptionError
from spinebq.vocabulary import ContrastPhase

#: Every phase a result can name (the values of :class:`~spinebq.vocabulary.ContrastPhase`).
PHASES = ContrastPhase.values()
#: The phases a user chooses from (``auto`` or one of the four named phases), e.g. as command-line choices.
PHASE_CHOICES = ("auto", *ContrastPhase.named())
CORRECTIONS: dict[str, dict] = {
    "none": {"deltas_hu": {}, "reference": "no correction (Pickhardt et al., Osteoporos Int 2016;27:147-52: "
             "AUC similar with and without contrast, no correction deemed necessary)"},
    "totalsegmentator": {"deltas_hu": {ContrastPhase.ARTERIAL: 20.0, ContrastPhase.PORTAL_VENOUS: 14.75},
                         "reference": "TotalSegmentator spine report threshold add-ons (ART_HU_ADDON 20, PV_HU_ADDON 14.75), "
                                      "origin undocumented (docs/methods.md section 3)"},
    "pickhardt": {"deltas_hu": {ContrastPhase.PORTAL_VENOUS: 11.2},
                  "reference": "Pickhardt et al., Osteoporos Int 2016;27:147-52 (portal venous vs unenhanced, L1: +11.2 HU)"},
}
#: Header words for each phase (series description, contrast route, protocol).
PHASE_WORDS = {
    ContrastPhase.ARTERIAL: r"\b(arterial|art|angio|cta)\b",
    ContrastPhase.PORTAL_VENOUS: r"\b(portal|venous|pv|pvp|ven)\b",
    ContrastPhase.DELAYED: r"\b(delayed|delay|late|excretory|urogram)\b",
    ContrastPhase.UNENHANCED: r"\b(native|non[- ]?contrast|unenhanced|plain|nativ|w/?o)\b",
}
#: Aorta below this is unenhanced blood, HU [M].
UNENHANCED_AORTA_HU = 90.0
#: An arterial phase: aorta at least this bright and this much brighter than the IVC, HU [M].
ARTERIAL_AORTA_HU = 200.0
ARTERIAL_GAP_HU = 80.0
#: Aorta below this (but enhanced) is a delayed phase, HU [M].
DELAYED_AORTA_HU = 130.0
VESSEL_RADIUS_MM = 5.0
#: Smallest gap between a vessel disc and the vertebral body, mm.
VESSEL_CLEARANCE_MM = 2.0


def phase_from_header(metadata: dict) -> tuple[str | None, str]:
    """Phase named by the DICOM header, or None; with the reason."""
    text = " ".join(str(metadata.get(k) or "") for k in ("series_description", "contrast_route", "protocol_name")).lower()
    for phase, pattern in PHASE_WORDS.items():
        if re.search(pattern, text):
            return phase.value, f"header: '{text.strip()}' names the {phase.replace('_', ' ')} phase"
    agent = metadata.get("contrast_agent")
    if agent:
        return ContrastPhase.CONTRAST_UNKNOWN_PHASE.value, f"header: contrast agent '{agent}' without a phase"
    return None, "the header names no contrast agent or phase"


def vessel_attenuation(ct_array: np.ndarray, affine: np.ndarray, bodies: np.ndarray, levels: dict[str, int]) -> dict:
    """Aorta and IVC attenuation (HU) in front of the given vertebral bodies.

    Parameters
    ----------
    ct_array, affine : numpy.ndarray
        CT in HU (canonical LPS axes) and its affine.
    bodies : numpy.ndarray
        Label array of the vertebral bodies (VerSe ids).
    levels : dict
        Names -> VerSe ids of the levels to look in front of (e.g. L1-L3).
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    aorta, ivc = [], []
    for name, vid in levels.items():
        where = np.argwhere(bodies == vid)
        if len(where) == 0:
            continue
        k = int(round(where[:, 2].mean()))
        section = bodies[:, :, k] == vid
        if not section.any():
            continue
        i_c = where[:, 0].mean()
        front = np.flatnonzero(section.any(axis=0)).min()  # smallest index along P = most anterior
        image = ct_array[:, :, k].astype(float)
        radius = (VESSEL_RADIUS_MM / spacing[:2]).astype(int)
        disc = _disc(radius)
        mean = ndimage.correlate(image, disc / disc.sum(), mode="nearest")
        bone = ndimage.maximum_filter(image, footprint=disc) > 500  # no bone or calcified wall in the disc
        i = np.arange(image.shape[0])[:, None]
        j = np.arange(image.shape[1])[None, :]
        # the disc stays clear of the body (its cortex would raise a disc that overlaps it, more so on a fine grid)
        clear = ndimage.distance_transform_edt(~section, sampling=spacing[:2]) > VESSEL_RADIUS_MM + VESSEL_CLEARANCE_MM
        band = (j <= front - 1) & (j >= front - int(round(50 / spacing[1]))) & ~bone & clear
        left = band & (i >= i_c) & (i <= i_c + 45 / spacing[0])
        right = band & (i < i_c) & (i >= i_c - 45 / spacing[0])
        if left.any():
            aorta.append(float(mean[left].max()))
        if right.any():
            ivc.append(float(mean[right].max()))
    return {"aorta_hu": float(np.median(aorta)) if aorta else math.nan,
            "ivc_hu": float(np.median(ivc)) if ivc else math.nan, "levels": list(levels)}


def _disc(radius_px: np.ndarray) -> np.ndarray:
    ri, rj = max(1, int(radius_px[0])), max(1, int(radius_px[1]))
    i, j = np.mgrid[-ri:ri + 1, -rj:rj + 1]
    return ((i / ri) ** 2 + (j / rj) ** 2 <= 1).astype(float)


def phase_from_vessels(aorta_hu: float, ivc_hu: float) -> str:
    """Phase from aorta and IVC attenuation (spinebq heuristic, [M])."""
    if not math.isfinite(aorta_hu):
        return ContrastPhase.UNKNOWN.value
    if aorta_hu < UNENHANCED_AORTA_HU:
        return ContrastPhase.UNENHANCED.value
    if aorta_hu >= ARTERIAL_AORTA_HU and (not math.isfinite(ivc_hu) or aorta_hu - ivc_hu >= ARTERIAL_GAP_HU):
        return ContrastPhase.ARTERIAL.value
    if aorta_hu < DELAYED_AORTA_HU:
        return ContrastPhase.DELAYED.value
    return ContrastPhase.PORTAL_VENOUS.value


def contrast_phase(metadata: dict, ct_array: np.ndarray, affine: np.ndarray, bodies: np.ndarray, levels: dict[str, int],
                   *, override: str | ContrastPhase | None = None) -> dict:
    """The contrast phase of a CT: given, from the header, or estimated from the vessels.

    Returns
    -------
    dict
        ``phase``, ``source`` (``option``/``header``/``vessels``), ``reason``, and the vessel HU when
        they were measured.
    """
    if override and override != "auto":
        if override not in PHASES:
            raise OptionError("contrast_phase", f"{str(override)!r} is not a contrast phase "
                                                  f"(choose one of {', '.join(PHASE_CHOICES)})")
        return {"phase": ContrastPhase(override).value, "source": "option", "reason": "contrast phase given by the user"}
    phase, reason = phase_from_header(metadata)
    vessels = vessel_attenuation(ct_array, affine, bodies, levels)
    estimated = phase_from_vessels(vessels["aorta_hu"], vessels["ivc_hu"])
    result = {"aorta_hu": vessels["aorta_hu"], "ivc_hu": vessels["ivc_hu"], "vessel_levels": vessels["levels"],
              "estimated_phase": estimated,
              "estimate_method": "brightest 5 mm disc left- (aorta) and right-anterior (IVC) of the vertebral bodies in "
                                 "vessel_levels (L1-L3 when present); "
                                 f"unenhanced < {UNENHANCED_AORTA_HU:.0f} HU, arterial >= {ARTERIAL_AORTA_HU:.0f} HU and "
                                 f">= {ARTERIAL_GAP_HU:.0f} HU above the IVC, delayed < {DELAYED_AORTA_HU:.0f} HU, else "
                                 "portal venous (spinebq heuristic, unvalidated)"}
    if phase is not None and phase != ContrastPhase.CONTRAST_UNKNOWN_PHASE:
        result.update({"phase": phase, "source": "header", "reason": reason})
    elif phase == ContrastPhase.CONTRAST_UNKNOWN_PHASE and estimated in (ContrastPhase.UNENHANCED, ContrastPhase.UNKNOWN):
        result.update({"phase": phase, "source": "header", "reason": reason + "; the vessels do not show which"})
    else:
        result.update({"phase": estimated, "source": "vessels",
                       "reason": (reason + "; " if phase else "") + "estimated from the aorta and IVC attenuation"})
    return result


def correction_delta_hu(phase: str, correction: str) -> tuple[float, str]:
    """The HU subtracted from trabecular HU for ``phase`` under the named ``correction``, with a note."""
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown contrast correction {correction!r}; choose one of {', '.join(CORRECTIONS)}")
    deltas = CORRECTIONS[correction]["deltas_hu"]
    if correction == "none" or phase == ContrastPhase.UNENHANCED:
        return 0.0, "no correction applied"
    if phase in deltas:
        return deltas[phase], f"{correction}: -{deltas[phase]} HU for the {phase.replace('_', ' ')} phase"
    return math.nan, f"{correction} gives no correction for phase '{phase}': corrected values are missing"
