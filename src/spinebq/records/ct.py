"""Typed records of a CT analysis and their ``spinebq.ct/1`` document (``measurements.json``).

:func:`spinebq.pipeline.analyse_ct` returns a :class:`CtRecord`. ``CtRecord.to_json()`` is the document the
CLI writes; ``CtRecord.from_json()`` reads it back, so a record survives the round trip and a later stage
(assessment, report, cohort table) reads typed fields instead of guessing at keys. The keys promised in
DESIGN.md and the README are the typed fields; the detailed sub-documents of a level (trajectories, pedicles,
regions, Genant details) travel unchanged in ``details``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from spinebq.records.roi import RoiStats, number

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
class Heights:
    """Anterior, middle and posterior body heights (mm); NaN where not measured."""

    anterior_mm: float
    middle_mm: float
    posterior_mm: float

    def to_json(self) -> dict[str, float]:
        return {"anterior": self.anterior_mm, "middle": self.middle_mm, "posterior": self.posterior_mm}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "Heights":
        return cls(number(document.get("anterior")), number(document.get("middle")), number(document.get("posterior")))


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
        QC flags of the level.
    excluded_reason : str or None
        Why the level is left out of the summary.
    heights : Heights or None
    genant_grade : int or None
        Semiquantitative fracture grade 0-3, None where not graded.
    deformity_type : str or None
    st_hu, b_hu, hu_ratio : float or None
        Screw-trajectory HU, body HU and their ratio (paper 000); NaN where not measurable, None where the
        analysis did not include screw trajectories.
    details : dict
        Every other key of the level's document (trajectories, pedicles, regions, Genant details ...).
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
    heights: Heights | None = None
    genant_grade: int | None = None
    deformity_type: str | None = None
    st_hu: float | None = None
    b_hu: float | None = None
    hu_ratio: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    _TYPED = ("hu_3d", "hu_3d_median", "hu_3d_sd", "hu_3d_voxels", "hu_3d_volume_ml", "hu", "hu_2d", "hu_2d_slices",
              "vbmd_mg_cm3", "acr_category", "body_volume_ml", "qc", "excluded_reason", "heights_mm", "genant_grade",
              "deformity_type", "st_hu", "b_hu", "hu_ratio")

    def to_json(self) -> dict[str, Any]:
        document = self.trabecular.to_json("hu_3d")
        document.update({"body_volume_ml": self.body_volume_ml, "qc": list(self.qc), "excluded_reason": self.excluded_reason,
                         "hu_2d": self.hu_2d, "hu_2d_slices": list(self.hu_2d_slices), "hu": self.hu,
                         "vbmd_mg_cm3": self.vbmd_mg_cm3, "acr_category": self.acr_category})
        if self.heights is not None:
            document.update({"heights_mm": self.heights.to_json(), "genant_grade": self.genant_grade,
                             "deformity_type": self.deformity_type})
        document.update(self.details)
        document.update({k: getattr(self, k) for k in ("st_hu", "b_hu", "hu_ratio") if getattr(self, k) is not None})
        return document

    @classmethod
    def from_json(cls, level: str, document: dict[str, Any]) -> "VertebraRecord":
        heights = document.get("heights_mm")
        grade = document.get("genant_grade")
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
            heights=Heights.from_json(heights) if isinstance(heights, dict) else None,
            genant_grade=None if grade is None else int(grade),
            deformity_type=document.get("deformity_type"),
            st_hu=number(document["st_hu"]) if "st_hu" in document else None,
            b_hu=number(document["b_hu"]) if "b_hu" in document else None,
            hu_ratio=number(document["hu_ratio"]) if "hu_ratio" in document else None,
            details={k: v for k, v in document.items() if k not in cls._TYPED},
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
    fractured_levels : tuple of str or None
        Levels with Genant grade >= 1; None where heights were not part of the analysis.
    contrast_phase : str or None
        The contrast phase used (header, estimate or user), None where not assessed.
    details : dict
        Every other key of the summary (references, screw-trajectory summary, contrast details ...).
    """

    levels_requested: tuple[str, ...]
    levels_used: tuple[str, ...]
    levels_skipped: dict[str, str]
    hu: float
    hu_key: str
    hu_2d: float
    vbmd_mg_cm3: float
    acr_category: str | None
    fractured_levels: tuple[str, ...] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    _TYPED = ("levels_requested", "levels_used", "levels_skipped", "hu", "hu_key", "hu_2d", "vbmd_mg_cm3",
              "acr_category", "fractured_levels")

    @property
    def contrast_phase(self) -> str | None:
        return (self.details.get("contrast") or {}).get("phase")

    def to_json(self) -> dict[str, Any]:
        document = {"levels_requested": list(self.levels_requested), "levels_used": list(self.levels_used),
                    "levels_skipped": dict(self.levels_skipped), "hu": self.hu, "hu_key": self.hu_key,
                    "hu_2d": self.hu_2d, "vbmd_mg_cm3": self.vbmd_mg_cm3, "acr_category": self.acr_category}
        if self.fractured_levels is not None:
            document["fractured_levels"] = list(self.fractured_levels)
        document.update(self.details)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "CtSummary":
        fractured = document.get("fractured_levels")
        return cls(levels_requested=tuple(document.get("levels_requested") or ()),
                   levels_used=tuple(document.get("levels_used") or ()),
                   levels_skipped=dict(document.get("levels_skipped") or {}),
                   hu=number(document.get("hu")), hu_key=document.get("hu_key", "hu_3d"),
                   hu_2d=number(document.get("hu_2d")), vbmd_mg_cm3=number(document.get("vbmd_mg_cm3")),
                   acr_category=document.get("acr_category"),
                   fractured_levels=None if fractured is None else tuple(fractured),
                   details={k: v for k, v in document.items() if k not in cls._TYPED})


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
