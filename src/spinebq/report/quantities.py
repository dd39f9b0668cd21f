"""The quantities the per-patient report, the DICOM SR and ``measurements.csv`` show, read from the typed records.

One table (:data:`LEVEL_QUANTITIES`) names every per-vertebra CT number of the report's level table, of the
SR's measurement groups and of the columns of ``measurements.csv``, as
:class:`~spinebq.records.quantities.Quantity` entries:

``key``
    The quantity's path inside a vertebra of ``measurements.json`` (``hu_3d``, ``trajectories.left.hu_mean``):
    the ``data-key`` of the report's cell and the concept code of the SR (scheme ``99SPINEBQ``).
``unit``
    UCUM code; :data:`UNITS` gives the text a table shows and the unit's meaning in the SR.
``label``
    The column header.
``decimals``
    Decimals of the report's text (the SR carries the full value).
``method``
    What is measured, in at most 64 characters: the meaning of the SR concept.

``csv_column``
    The column of ``measurements.csv`` where it is not the key (the heights: ``height_anterior_mm``).

A key that the cohort table of :mod:`spinebq.records.quantities` also names takes its unit and decimals from that
table (:func:`_shared`). The report shows
:data:`REPORT_CT_KEYS`, the SR carries :data:`SR_CT_KEYS`, ``measurements.csv`` has the columns of
:data:`CSV_CT_KEYS`, each in its own order. The MRI scores are the
cohort table's entries (``vbq``, ``s1_vbq``, ``pbq``); the MRI level columns are :data:`MRI_LEVEL_QUANTITIES`.

Values are read from the records (:func:`level_value`): typed fields, among them the screw trajectories and the
regions A/B/C of [xu2025] (:class:`~spinebq.records.regional.LevelRegional`). A missing value (None or NaN) is None.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from spinebq.records.ct import VertebraRecord
from spinebq.records.mri import MriLevel
from spinebq.records.quantities import LEVEL_QUANTITIES as COHORT_LEVEL_QUANTITIES
from spinebq.records.quantities import STUDY_QUANTITIES, Quantity
from spinebq.vocabulary import Side

#: UCUM code -> (text shown in a table header, unit meaning in the SR).
UNITS = {
    "[hnsf'U]": ("HU", "Hounsfield unit"),
    "mg/cm3": ("mg/cm3", "milligram per cubic centimeter"),
    "mm": ("mm", "millimeter"),
    "ml": ("ml", "milliliter"),
    "1": ("", "ratio"),
    "{grade}": ("grade", "grade"),
    "{voxels}": ("", "voxels"),
    "[arb'U]": ("", "arbitrary unit"),
    "": ("", ""),
}

#: Keys of the cohort table whose unit or decimals the report keeps different, and why.
_COHORT = {q.key: q for q in COHORT_LEVEL_QUANTITIES}


def _shared(key: str, label: str, meaning: str) -> Quantity:
    """The cohort table's entry for ``key`` (unit, decimals) with the report's header and the SR's meaning."""
    base = _COHORT[key]
    return Quantity(key, base.unit, label, base.decimals, meaning)


def _regions() -> tuple[Quantity, ...]:
    """Mean HU of the regions of [xu2025]: A the vertebral body (once), B the pedicle and C the screw corridor per side."""
    out = [Quantity("regions.A.hu_mean", "[hnsf'U]", "region A", 1, "Region A (vertebral body) mean attenuation")]
    for region, what in (("B", "pedicle"), ("C", "screw corridor")):
        for side in Side.values():
            out.append(Quantity(f"regions.{region}.{side}.hu_mean", "[hnsf'U]", f"region {region} {side[0].upper()}", 1,
                                f"Region {region} ({side} {what}) mean attenuation"))
    return tuple(out)


def _contrast_corrected() -> tuple[Quantity, ...]:
    """The HU with a contrast correction subtracted (``hu_contrast_corrected`` of a level), and the correction's name;
    empty without a correction. Their columns say which HU is corrected; the raw HU keep their own columns."""
    out = [Quantity(f"hu_contrast_corrected.{key}", "[hnsf'U]", f"{label} (contrast-corrected)", 1,
                    f"{meaning} minus the contrast correction", f"{key}_contrast_corrected")
           for key, label, meaning in (("hu", "HU", "Headline trabecular attenuation"), ("hu_3d", "3D HU", "3D ROI mean"),
                                       ("hu_2d", "3-slice HU", "Three-slice ROI mean"))]
    out.append(Quantity("hu_contrast_corrected.correction", "", "contrast correction", None,
                        "Contrast correction subtracted (empty: none)", "contrast_correction"))
    return tuple(out)


#: Every per-vertebra CT quantity of the report, the SR and measurements.csv.
LEVEL_QUANTITIES: tuple[Quantity, ...] = (
    Quantity("hu", "[hnsf'U]", "HU", 1, "Headline trabecular attenuation of the preset"),
    _shared("hu_3d", "3D HU", "3D trabecular ROI mean attenuation"),
    Quantity("hu_3d_median", "[hnsf'U]", "3D HU median", 1, "3D trabecular ROI median attenuation"),
    Quantity("hu_3d_sd", "[hnsf'U]", "3D HU SD", 1, "3D trabecular ROI attenuation standard deviation"),
    Quantity("hu_3d_voxels", "{voxels}", "3D ROI voxels", 0, "3D trabecular ROI voxel count"),
    Quantity("hu_3d_volume_ml", "ml", "3D ROI volume", 3, "3D trabecular ROI volume"),
    _shared("hu_2d", "3-slice HU", "Three-slice elliptical ROI mean attenuation"),
    Quantity("hu_2d_slices", "[hnsf'U]", "3-slice HU per slice", 1, "Three-slice ROI means, cranial to caudal"),
    _shared("vbmd_mg_cm3", "vBMD", "Trabecular volumetric bone mineral density"),
    Quantity("acr_category", "", "ACR", None, "ACR category of the trabecular vBMD"),
    Quantity("b_hu", "[hnsf'U]", "B-HU", 1, "Vertebral body HU (B-HU)"),
    _shared("st_hu", "ST-HU", "Screw trajectory HU of the 2D rectangles (ST-HU)"),
    _shared("hu_ratio", "HU ratio", "Screw trajectory to body HU ratio"),
    Quantity("st_hu_3d", "[hnsf'U]", "ST-HU 3D", 1, "Screw trajectory HU of the 3D cylinders"),
    *_regions(),
    Quantity("trajectories.left.hu_mean", "[hnsf'U]", "trajectory L", 1, "Left virtual screw cylinder mean attenuation"),
    Quantity("trajectories.right.hu_mean", "[hnsf'U]", "trajectory R", 1,
             "Right virtual screw cylinder mean attenuation"),
    Quantity("heights_mm.anterior", "mm", "height ant.", 1, "Anterior vertebral body height", "height_anterior_mm"),
    Quantity("heights_mm.middle", "mm", "height mid.", 1, "Middle vertebral body height", "height_middle_mm"),
    Quantity("heights_mm.posterior", "mm", "height post.", 1, "Posterior vertebral body height", "height_posterior_mm"),
    _shared("genant_grade", "Genant", "Genant semiquantitative fracture grade"),
    Quantity("deformity_type", "", "deformity", None, "Genant deformity type (wedge, biconcave, crush)"),
    Quantity("body_volume_ml", "ml", "body volume", 1, "Vertebral body volume"),
    _shared("qc", "QC", "QC flags of the level"),
    Quantity("excluded_reason", "", "left out", None, "Why the level is left out of the summary"),
    Quantity("level_confidence", "1", "level confidence", 2, "Confidence of the level's name (0-1)"),
    *_contrast_corrected(),
)
BY_KEY = {q.key: q for q in LEVEL_QUANTITIES}

#: The report's CT level columns, in order (a column is shown when any level has a value, see ALWAYS_SHOWN).
REPORT_CT_KEYS = ("hu_3d", "hu_3d_median", "hu_2d", "hu_contrast_corrected.hu_3d", "hu_contrast_corrected.hu_2d",
                  "vbmd_mg_cm3", "acr_category", "b_hu", "st_hu", "hu_ratio",
                  *(q.key for q in _regions()), "trajectories.left.hu_mean", "trajectories.right.hu_mean",
                  "heights_mm.anterior", "heights_mm.middle", "heights_mm.posterior", "genant_grade", "body_volume_ml")
#: The key of the level blocks' row of pedicle isthmus widths (read from ``pedicles.<side>.isthmus_width_mm``).
PEDICLE_WIDTHS = "pedicles.isthmus_width_mm"
#: The method of every number of the report's level blocks, by quantity key (and :data:`PEDICLE_WIDTHS`): the
#: short label shown beside the number. The report's Methods and caveats describe each
#: label once, in the words of measurements.json ``method`` (:func:`spinebq.report.patient.method_notes`).
METHOD_LABELS = {"hu_3d": "3D ROI", "hu_3d_median": "3D ROI", "hu_2d": "three-slice", "b_hu": "three-slice",
                 "hu_contrast_corrected.hu_3d": "contrast-corrected", "hu_contrast_corrected.hu_2d": "contrast-corrected",
                 "vbmd_mg_cm3": "3D ROI + calibration", "acr_category": "ACR", "st_hu": "2D rectangles",
                 "hu_ratio": "ST-HU / B-HU", **{q.key: "regions A-C" for q in _regions()},
                 **{f"trajectories.{side}.hu_mean": "screw cylinder" for side in Side.values()},
                 **{f"heights_mm.{h}": "body heights" for h in ("anterior", "middle", "posterior")},
                 "genant_grade": "Genant", "body_volume_ml": "body label", PEDICLE_WIDTHS: "pedicle isthmus"}
#: The method label of the vBMD and ACR rows of a scan without calibration (they show only why they are empty).
NOT_CALIBRATED = "no calibration"
#: The columns of measurements.csv after ``level``, in order (a column per quantity, ``csv_column`` its name).
CSV_CT_KEYS = ("hu", "hu_3d", "hu_3d_median", "hu_3d_sd", "hu_3d_voxels", "hu_3d_volume_ml", "hu_2d", "hu_2d_slices",
               "vbmd_mg_cm3", "acr_category", "body_volume_ml", "qc", "excluded_reason", "st_hu", "b_hu", "hu_ratio",
               "st_hu_3d", "genant_grade", "deformity_type", "level_confidence", "heights_mm.anterior",
               "heights_mm.middle", "heights_mm.posterior", *(q.key for q in _contrast_corrected()))
#: Columns the report shows even when no level has a value (n/a says it was not measured).
ALWAYS_SHOWN = ("hu_3d", "hu_2d", "vbmd_mg_cm3")
#: The SR's numeric measurements per vertebra, in order.
SR_CT_KEYS = ("hu_3d", "hu_3d_median", "hu_3d_sd", "hu_3d_voxels", "hu_2d", "vbmd_mg_cm3", "body_volume_ml", "b_hu",
              "st_hu", "hu_ratio", "trajectories.left.hu_mean", "trajectories.right.hu_mean", "heights_mm.anterior",
              "heights_mm.middle", "heights_mm.posterior", "genant_grade")

#: The MRI scores (the cohort table's entries) and the CSF reference they are divided by.
MRI_SCORES: tuple[Quantity, ...] = tuple(q for key in ("vbq", "s1_vbq", "pbq") for q in STUDY_QUANTITIES if q.key == key)
CSF_SIGNAL = Quantity("csf.signal", "[arb'U]", "CSF signal", 1, "CSF ROI signal intensity")
#: MRI level columns; each key is the field of :class:`~spinebq.records.mri.MriLevel` (and its document key).
MRI_LEVEL_QUANTITIES: tuple[Quantity, ...] = (
    Quantity("body_signal", "[arb'U]", "body SI", 1, "Vertebral body signal intensity (T1)"),
    Quantity("pedicle_signal_left", "[arb'U]", "pedicle SI L", 1, "Left pedicle signal intensity (T1)"),
    Quantity("pedicle_signal_right", "[arb'U]", "pedicle SI R", 1, "Right pedicle signal intensity (T1)"),
)


def unit_text(quantity: Quantity) -> str:
    """The unit as a table header shows it (``HU``, ``mg/cm3``; empty for a ratio)."""
    return UNITS[quantity.unit][0]


def unit_meaning(quantity: Quantity) -> str:
    """The meaning of the UCUM unit code in the SR (``Hounsfield unit``)."""
    return UNITS[quantity.unit][1]


def present(value: Any) -> Any:
    """``value``, or None when it is missing (None or a non-finite float).

    >>> present(1.5), present(float("nan")), present("low bone mass")
    (1.5, None, 'low bone mass')
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def get_path(document: Mapping | None, path: str) -> Any:
    """Value at a dotted path of a JSON document (``"trajectories.left.hu_mean"``) or None.

    >>> get_path({"regions": {"A": {"hu_mean": 98.5}}}, "regions.A.hu_mean")
    98.5
    >>> get_path({"regions": {}}, "regions.B.left.hu_mean") is None
    True
    """
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _height(attribute: str) -> Callable[[VertebraRecord], Any]:
    return lambda v: None if v.heights is None else getattr(v.heights, attribute)


def _trajectory(side: str) -> Callable[[VertebraRecord], Any]:
    return lambda v: v.trajectories[side].hu_mean if side in v.trajectories else None


def _corrected(key: str) -> Callable[[VertebraRecord], Any]:
    return lambda v: None if v.regional is None or v.regional.hu_contrast_corrected is None else \
        v.regional.hu_contrast_corrected.get(key)


def _region(region: str, side: str) -> Callable[[VertebraRecord], Any]:
    def value(v: VertebraRecord) -> Any:
        found = None if v.regions is None else getattr(v.regions, region).get(side)
        return None if found is None else found.hu_mean
    return value


#: How each key is read from a vertebra record.
_FIELDS: dict[str, Callable[[VertebraRecord], Any]] = {
    "hu": lambda v: v.hu,
    "hu_3d": lambda v: v.trabecular.mean,
    "hu_3d_volume_ml": lambda v: v.trabecular.volume_ml,
    "hu_2d_slices": lambda v: list(v.hu_2d_slices),
    "st_hu_3d": lambda v: None if v.regional is None else v.regional.st_hu_3d,
    "deformity_type": lambda v: v.deformity_type,
    "qc": lambda v: list(v.qc),
    "excluded_reason": lambda v: v.excluded_reason,
    "level_confidence": lambda v: v.details.get("level_confidence"),
    "hu_3d_median": lambda v: v.trabecular.median,
    "hu_3d_sd": lambda v: v.trabecular.sd,
    "hu_3d_voxels": lambda v: v.trabecular.voxels,
    "hu_2d": lambda v: v.hu_2d,
    "vbmd_mg_cm3": lambda v: v.vbmd_mg_cm3,
    "acr_category": lambda v: v.acr_category,
    "b_hu": lambda v: v.b_hu,
    "st_hu": lambda v: v.st_hu,
    "hu_ratio": lambda v: v.hu_ratio,
    "heights_mm.anterior": _height("anterior_mm"),
    "heights_mm.middle": _height("middle_mm"),
    "heights_mm.posterior": _height("posterior_mm"),
    "genant_grade": lambda v: v.genant_grade,
    "body_volume_ml": lambda v: v.body_volume_ml,
    **{f"trajectories.{side}.hu_mean": _trajectory(side) for side in Side.values()},
    "regions.A.hu_mean": lambda v: None if v.regions is None else v.regions.A.hu_mean,
    **{q.key: _corrected(q.key.split(".")[1]) for q in _contrast_corrected()},
    **{f"regions.{region}.{side}.hu_mean": _region(region, side) for region in ("B", "C") for side in Side.values()},
}


def level_value(vertebra: VertebraRecord, key: str) -> Any:
    """The value of quantity ``key`` (a key of :data:`LEVEL_QUANTITIES`) on one vertebra; None when missing.

    Raises
    ------
    KeyError
        When ``key`` is not a quantity of the table.
    """
    if key not in BY_KEY:
        raise KeyError(f"{key!r} is not a quantity of spinebq.report.quantities.LEVEL_QUANTITIES")
    return present(_FIELDS[key](vertebra))


def mri_level_value(level: MriLevel, key: str) -> Any:
    """The value of MRI level quantity ``key`` (a field of the level record); None when missing."""
    if key not in {q.key for q in MRI_LEVEL_QUANTITIES}:
        raise KeyError(f"{key!r} is not a quantity of spinebq.report.quantities.MRI_LEVEL_QUANTITIES")
    return present(getattr(level, key))
