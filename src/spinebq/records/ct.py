"""Typed records of a CT analysis and their ``spinebq.ct/1`` document (``measurements.json``).

:func:`spinebq.pipeline.analyse_ct` returns a :class:`CtRecord`. ``CtRecord.to_json()`` is the document the
CLI writes; ``CtRecord.from_json()`` reads it back, so a record survives the round trip and a later stage
(assessment, report, cohort table) reads typed fields instead of guessing at keys. The keys promised in
DESIGN.md and the README are the typed fields; what the regional stage measured (screws, pedicles, regions,
ratios, heights, Genant grades) is a :class:`~spinebq.records.regional.LevelRegional` per vertebra and a
:class:`~spinebq.records.regional.RegionalSummary` in the summary. Keys of the document no record names travel
unchanged in ``details``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from spinebq.records.regional import Heights, LevelRegional, PedicleRecord, RegionalSummary, RegionsRecord, TrajectoryRecord
from spinebq.records.roi import RoiStats, number
from spinebq.vocabulary import ContrastPhase, Side

SCHEMA = "spinebq.ct/1"

#: Acquisition keys of the document's ``input`` section, in the order they are written.
ACQUISITION_KEYS = ("modality", "manufacturer", "model", "kvp", "kernel", "contrast_agent", "contrast_route",
                    "slice_thickness_mm", "series_uid", "series_description", "format", "transfer_syntax",
                    "gantry_tilt_deg", "slice_spacing_mm", "series_choice")


@dataclass(frozen=True)
class Acquisition:
    """What was measured: the image's header facts and grid (no patient identifiers unless asked for).

    Attributes
    ----------
    header : dict
        The acquisition keys of :data:`ACQUISITION_KEYS` found in the image header (modality, kVp, kernel, ...).
    spacing_mm : tuple of float
    shape : tuple of int
    orientation_of_array : str
    labels : dict
        Where the vertebra labels came from (``source``, ``label_scheme``, ``label_scheme_note``, ``content``).
    warnings : tuple of str
        Loader warnings (irregular spacing, gaps, ...).
    extra : dict
        Any other key of the ``input`` section (``patient`` with ``--include-phi``, ``contrast_note``).
    """

    header: dict[str, Any]
    spacing_mm: tuple[float, float, float]
    shape: tuple[int, int, int]
    orientation_of_array: str = "LPS"
    labels: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        """A header value (``kvp``, ``kernel``, ``series_description`` ...) or None."""
        return self.header.get(key)

    def to_json(self) -> dict[str, Any]:
        document = {k: self.header[k] for k in ACQUISITION_KEYS if k in self.header}
        if self.warnings:
            document["warnings"] = list(self.warnings)
        document.update({"spacing_mm": list(self.spacing_mm), "shape": list(self.shape),
                         "orientation_of_array": self.orientation_of_array, "labels": dict(self.labels)})
        document.update(self.extra)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "Acquisition":
        known = set(ACQUISITION_KEYS) | {"warnings", "spacing_mm", "shape", "orientation_of_array", "labels"}
        return cls(header={k: document[k] for k in ACQUISITION_KEYS if k in document},
                   spacing_mm=tuple(float(v) for v in document["spacing_mm"]),
                   shape=tuple(int(v) for v in document["shape"]),
                   orientation_of_array=document.get("orientation_of_array", "LPS"),
                   labels=dict(document.get("labels") or {}), warnings=tuple(document.get("warnings") or ()),
                   extra={k: v for k, v in document.items() if k not in known})


@dataclass(frozen=True)
class VertebraRecord:
    """The measurements of one vertebra.

    Attributes
    ----------
    level : str
        ``T11`` ... ``L5``, ``L6``, ``S1``.
    trabecular : RoiStats
        The 3D trabecular ROI of the preset (document keys ``hu_3d``, ``hu_3d_median``, ``hu_3d_sd``,
        ``hu_3d_voxels``, ``hu_3d_volume_ml``).
    hu : float
        The preset's headline statistic (``hu_3d`` or ``hu_3d_median``), HU.
    hu_2d : float
        Mean of the three-slice elliptical ROIs, HU.
    hu_2d_slices : tuple of float
        The three slices' means (cranial, middle, caudal), HU.
    vbmd_mg_cm3 : float
        Calibrated density of ``hu``; NaN without calibration.
    acr_category : str or None
    body_volume_ml : float
    qc : tuple of str
        QC flags of the level (the regional stage's fracture flag included).
    excluded_reason : str or None
        Why the level is left out of the summary.
    details : dict
        Every other key of the level's document (body method, level confidence, plausibility ...).
    regional : LevelRegional or None
        Screws, pedicles, regions, ratios, heights and Genant grade; None where the regional stage did not run
        on the level (no frame). Its fields are read through the properties below.
    """

    level: str
    trabecular: RoiStats
    hu: float
    hu_2d: float
    hu_2d_slices: tuple[float, ...]
    vbmd_mg_cm3: float
    acr_category: str | None
    body_volume_ml: float
    qc: tuple[str, ...]
    excluded_reason: str | None
    details: dict[str, Any] = field(default_factory=dict)
    regional: LevelRegional | None = None

    _TYPED = ("hu_3d", "hu_3d_median", "hu_3d_sd", "hu_3d_voxels", "hu_3d_volume_ml", "hu", "hu_2d", "hu_2d_slices",
              "vbmd_mg_cm3", "acr_category", "body_volume_ml", "qc", "excluded_reason")
    #: Keys of the regional stage written before ``details`` and last (the document's order before the records).
    _REGIONAL_FIRST = ("heights_mm", "genant_grade", "deformity_type")
    _REGIONAL_LAST = ("st_hu", "b_hu", "hu_ratio")

    @property
    def heights(self) -> Heights | None:
        return None if self.regional is None else self.regional.heights

    @property
    def genant_grade(self) -> int | None:
        """Semiquantitative fracture grade 0-3, None where not graded."""
        return None if self.regional is None else self.regional.genant_grade

    @property
    def deformity_type(self) -> str | None:
        return None if self.regional is None else self.regional.deformity_type

    @property
    def st_hu(self) -> float | None:
        """Screw-trajectory HU ([yang2026]); NaN where not measurable, None without the regional stage."""
        return None if self.regional is None else self.regional.st_hu

    @property
    def st_hu_3d(self) -> float | None:
        """HU along the screws: the mean of the left and right screw cylinders; NaN where not measurable, None
        without the regional stage."""
        return None if self.regional is None else self.regional.st_hu_3d

    @property
    def b_hu(self) -> float | None:
        return None if self.regional is None else self.regional.b_hu

    @property
    def hu_ratio(self) -> float | None:
        return None if self.regional is None else self.regional.hu_ratio

    @property
    def trajectories(self) -> dict[str, TrajectoryRecord]:
        """Side -> the primary screw; empty without the regional stage."""
        return {} if self.regional is None else self.regional.trajectories

    @property
    def pedicles(self) -> dict[str, PedicleRecord]:
        """Side -> pedicle; empty where not found or without the regional stage."""
        return (self.regional.pedicles if self.regional is not None else None) or {}

    @property
    def isthmus_widths_mm(self) -> dict[str, float | None]:
        """``left``/``right`` -> the pedicle's isthmus width, mm; None where not measured."""
        widths = {side: self.pedicles[side].isthmus_width_mm if side in self.pedicles else None
                  for side in Side.values()}
        return {side: w if w is not None and math.isfinite(w) else None for side, w in widths.items()}

    @property
    def regions(self) -> RegionsRecord | None:
        """The regions A/B/C of [xu2025], None without the regional stage."""
        return None if self.regional is None else self.regional.regions

    def to_json(self) -> dict[str, Any]:
        document = self.trabecular.to_json("hu_3d")
        document.update({"body_volume_ml": self.body_volume_ml, "qc": list(self.qc), "excluded_reason": self.excluded_reason,
                         "hu_2d": self.hu_2d, "hu_2d_slices": list(self.hu_2d_slices), "hu": self.hu,
                         "vbmd_mg_cm3": self.vbmd_mg_cm3, "acr_category": self.acr_category})
        regional = self.regional.to_json() if self.regional is not None else {}
        document.update({k: regional[k] for k in self._REGIONAL_FIRST if k in regional})
        document.update(self.details)
        document.update({k: v for k, v in regional.items() if k not in self._REGIONAL_FIRST + self._REGIONAL_LAST})
        document.update({k: regional[k] for k in self._REGIONAL_LAST if k in regional})
        return document

    @classmethod
    def from_json(cls, level: str, document: dict[str, Any]) -> "VertebraRecord":
        regional = LevelRegional.from_json(document)
        typed = cls._TYPED + (LevelRegional.KEYS if regional is not None else ())
        return cls(
            level=level,
            trabecular=RoiStats.from_json(document, "hu_3d"),
            hu=number(document.get("hu")),
            hu_2d=number(document.get("hu_2d")),
            hu_2d_slices=tuple(number(v) for v in document.get("hu_2d_slices") or ()),
            vbmd_mg_cm3=number(document.get("vbmd_mg_cm3")),
            acr_category=document.get("acr_category"),
            body_volume_ml=number(document.get("body_volume_ml")),
            qc=tuple(document.get("qc") or ()),
            excluded_reason=document.get("excluded_reason"),
            details={k: v for k, v in document.items() if k not in typed},
            regional=regional,
        )


@dataclass(frozen=True)
class CtSummary:
    """The mean over the summary levels that passed QC (L1-L4 by default).

    Attributes
    ----------
    levels_requested, levels_used : tuple of str
    levels_skipped : dict
        Level -> why it was left out.
    hu, hu_2d : float
        Mean headline HU and mean three-slice HU of the levels used; NaN when none was usable.
    hu_key : str
        Which per-level key ``hu`` averages (``hu_3d`` or ``hu_3d_median``).
    vbmd_mg_cm3 : float
        NaN without calibration.
    acr_category : str or None
        ACR category of ``vbmd_mg_cm3`` (calibrated scans only).
    details : dict
        Every other key of the summary (references ...).
    regional : RegionalSummary or None
        Fractured levels, screw-trajectory summary, contrast phase and implants; None without the regional stage.
    fractured_levels : tuple of str or None
        Levels with Genant grade >= 1; None where heights were not part of the analysis.
    contrast_phase : str or None
        The contrast phase used (header, estimate or user), None where not assessed.
    """

    levels_requested: tuple[str, ...]
    levels_used: tuple[str, ...]
    levels_skipped: dict[str, str]
    hu: float
    hu_key: str
    hu_2d: float
    vbmd_mg_cm3: float
    acr_category: str | None
    details: dict[str, Any] = field(default_factory=dict)
    regional: RegionalSummary | None = None

    _TYPED = ("levels_requested", "levels_used", "levels_skipped", "hu", "hu_key", "hu_2d", "vbmd_mg_cm3",
              "acr_category")

    @property
    def fractured_levels(self) -> tuple[str, ...] | None:
        return None if self.regional is None else self.regional.fractured_levels

    @property
    def contrast_phase(self) -> str | None:
        return None if self.regional is None else self.regional.contrast_phase

    def to_json(self) -> dict[str, Any]:
        document = {"levels_requested": list(self.levels_requested), "levels_used": list(self.levels_used),
                    "levels_skipped": dict(self.levels_skipped), "hu": self.hu, "hu_key": self.hu_key,
                    "hu_2d": self.hu_2d, "vbmd_mg_cm3": self.vbmd_mg_cm3, "acr_category": self.acr_category}
        regional = self.regional.to_json() if self.regional is not None else {}
        if "fractured_levels" in regional:  # written after the typed keys (the document's order before the records)
            document["fractured_levels"] = regional.pop("fractured_levels")
        document.update(self.details)
        document.update(regional)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "CtSummary":
        regional = RegionalSummary.from_json(document)
        typed = cls._TYPED + (RegionalSummary.KEYS if regional is not None else ())
        return cls(levels_requested=tuple(document.get("levels_requested") or ()),
                   levels_used=tuple(document.get("levels_used") or ()),
                   levels_skipped=dict(document.get("levels_skipped") or {}),
                   hu=number(document.get("hu")), hu_key=document.get("hu_key", "hu_3d"),
                   hu_2d=number(document.get("hu_2d")), vbmd_mg_cm3=number(document.get("vbmd_mg_cm3")),
                   acr_category=document.get("acr_category"),
                   details={k: v for k, v in document.items() if k not in typed}, regional=regional)


@dataclass(frozen=True)
class CtRecord:
    """Everything :func:`spinebq.pipeline.analyse_ct` found on one CT.

    Attributes
    ----------
    acquisition : Acquisition
    method : dict
        Preset, erosion, statistic, metal threshold and the references of every method used (text).
    calibration : dict
        The HU -> vBMD calibration (``method`` none/phantom/equation, slope, intercept, equation, reason).
    vertebrae : tuple of VertebraRecord
        Cranial to caudal.
    summary : CtSummary
    outputs : tuple of str
        Names of the files written beside ``measurements.json`` (empty until written).
    version : str
        spinebq version that produced the record.
    notice : str
        The research-use notice.
    images : object, optional
        The image-side results the pictures are drawn from (:class:`spinebq.pipeline.CtImages`); not part of the
        document, not compared, dropped by :meth:`without_images` before a record travels.
    """

    acquisition: Acquisition
    method: dict[str, Any]
    calibration: dict[str, Any]
    vertebrae: tuple[VertebraRecord, ...]
    summary: CtSummary
    version: str
    notice: str
    outputs: tuple[str, ...] = ()
    images: Any = field(default=None, compare=False, repr=False)

    def level(self, name: str) -> VertebraRecord | None:
        """The record of vertebra ``name``, None if it was not measured."""
        return next((v for v in self.vertebrae if v.level == name), None)

    @property
    def calibrated(self) -> bool:
        return self.calibration.get("slope_hu_per_mg_cm3") is not None

    @property
    def contrast_enhanced(self) -> bool:
        """Whether the CT is contrast-enhanced: the header names a contrast agent, or its contrast phase (given by the
        user, read from the header or estimated from the vessels) is an enhanced one (:meth:`ContrastPhase.enhanced`).

        The one rule the assessment's caveats, the screening reading and the report's warnings read.
        """
        return bool(self.acquisition.get("contrast_agent")) or self.summary.contrast_phase in ContrastPhase.enhanced()

    def without_images(self) -> "CtRecord":
        """The same record without its image arrays (small enough to send between processes)."""
        return replace(self, images=None)

    def with_outputs(self, names) -> "CtRecord":
        """A copy naming the files written with it."""
        return replace(self, outputs=tuple(sorted(names)))

    def to_json(self) -> dict[str, Any]:
        """The ``spinebq.ct/1`` document (``measurements.json``); NaN stays NaN until written."""
        document = {"schema": SCHEMA, "spinebq_version": self.version, "notice": self.notice,
                    "input": self.acquisition.to_json(), "method": dict(self.method),
                    "calibration": dict(self.calibration),
                    "vertebrae": {v.level: v.to_json() for v in self.vertebrae}, "summary": self.summary.to_json()}
        if self.outputs:
            document["outputs"] = list(self.outputs)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "CtRecord":
        """Read a ``spinebq.ct/1`` document (as written by :meth:`to_json` and ``spinebq ct``)."""
        if document.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema {document.get('schema')!r})")
        return cls(acquisition=Acquisition.from_json(document["input"]), method=dict(document.get("method") or {}),
                   calibration=dict(document.get("calibration") or {}),
                   vertebrae=tuple(VertebraRecord.from_json(k, v) for k, v in document["vertebrae"].items()),
                   summary=CtSummary.from_json(document["summary"]), version=document.get("spinebq_version", ""),
                   notice=document.get("notice", ""), outputs=tuple(document.get("outputs") or ()))
