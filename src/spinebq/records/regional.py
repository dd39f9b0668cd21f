"""Typed records of the regional stage: screws, pedicles, regions A/B/C, ratios, heights and Genant grades.

:func:`spinebq.measure.ct.regional.measure_regional` returns a :class:`RegionalRecord`; the pipeline puts each
level's :class:`LevelRegional` into its :class:`~spinebq.records.ct.VertebraRecord` and the
:class:`RegionalSummary` into the :class:`~spinebq.records.ct.CtSummary`. Each record's ``to_json()`` writes the
sub-documents of ``measurements.json`` (schema ``spinebq.ct/1``) with the keys, values and order they had before
the records existed; ``from_json()`` reads them back. A key a record does not know (a helper that grew a new
key) is kept in its ``extra`` mapping and written back after the known ones, so nothing is lost.

A missing value is NaN or None with a reason, never 0: a screw, pedicle region or corridor that could not be
measured is written ``{"hu_mean": null, "voxels": 0, "reason": ...}`` (``voxels`` counts what was measured).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spinebq.records.roi import RoiStats, number


def _missing_json(reason: str | None) -> dict[str, Any]:
    """The document of an ROI that was not measured."""
    return {"hu_mean": None, "voxels": 0, "reason": reason or "not measured"}


def _extra(document: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in known}


def _point(value: Any) -> tuple[float, ...] | None:
    return None if value is None else tuple(float(v) for v in value)


def _stats(document: Mapping[str, Any], count: str = "voxels") -> RoiStats:
    """``hu_mean``/``hu_median``/``hu_sd`` and a count as :class:`RoiStats` (absent -> NaN)."""
    return RoiStats(number(document.get("hu_mean")), number(document.get("hu_median")),
                    number(document.get("hu_sd")), int(document.get(count) or 0))


@dataclass(frozen=True)
class Heights:
    """Anterior, middle and posterior body heights (mm); NaN where not measured."""

    anterior_mm: float
    middle_mm: float
    posterior_mm: float

    def to_json(self) -> dict[str, float]:
        return {"anterior": self.anterior_mm, "middle": self.middle_mm, "posterior": self.posterior_mm}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "Heights":
        return cls(number(document.get("anterior")), number(document.get("middle")), number(document.get("posterior")))


@dataclass(frozen=True)
class RegionRecord:
    """One region of [xu2025] (A the body, B a pedicle, C a screw corridor) and its HU.

    Attributes
    ----------
    stats : RoiStats or None
        Mean, median, SD (HU) and voxels of the region; None where it was not measured.
    points : int or None
        Sample points the statistics come from. None for region C, which repeats the mean, median, voxels and
        vBMD of the screw's cylinder (its SD and points are in the :class:`TrajectoryRecord`).
    vbmd_mg_cm3 : float or None
        Calibrated density of the mean; None without calibration.
    method : str or None
        How the region is drawn (region A).
    reason : str or None
        Why the region was not measured (then ``stats`` is None).
    """

    stats: RoiStats | None = None
    points: int | None = None
    vbmd_mg_cm3: float | None = None
    method: str | None = None
    reason: str | None = None

    @classmethod
    def missing(cls, reason: str | None) -> "RegionRecord":
        """A region that was not measured, and why."""
        return cls(reason=reason or "not measured")

    @property
    def hu_mean(self) -> float:
        """Mean HU, NaN where not measured."""
        return math.nan if self.stats is None else self.stats.mean

    def to_json(self) -> dict[str, Any]:
        if self.stats is None:
            return _missing_json(self.reason)
        document: dict[str, Any] = {"hu_mean": self.stats.mean, "hu_median": self.stats.median}
        if self.points is None:
            document.update({"voxels": self.stats.voxels, "vbmd_mg_cm3": self.vbmd_mg_cm3})
        else:
            document.update({"hu_sd": self.stats.sd, "voxels": self.stats.voxels, "points": self.points,
                             "vbmd_mg_cm3": self.vbmd_mg_cm3})
        if self.method is not None:
            document["method"] = self.method
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "RegionRecord":
        if "reason" in document and "hu_median" not in document:
            return cls.missing(document.get("reason"))
        return cls(stats=_stats(document), points=None if "points" not in document else int(document["points"]),
                   vbmd_mg_cm3=document.get("vbmd_mg_cm3"), method=document.get("method"))


@dataclass(frozen=True)
class RegionsRecord:
    """The regions of [xu2025] of one level: ``A`` (body, once), ``B`` and ``C`` per side (``left``, ``right``)."""

    A: RegionRecord
    B: dict[str, RegionRecord] = field(default_factory=dict)
    C: dict[str, RegionRecord] = field(default_factory=dict)

    def region(self, name: str) -> list[RegionRecord]:
        """The records of region ``name`` (``"A"``: one; ``"B"``/``"C"``: one per side found).

        Raises
        ------
        KeyError
            When ``name`` is not A, B or C.
        """
        if name not in ("A", "B", "C"):
            raise KeyError(f"{name!r} is not a region of [xu2025] (A, B or C)")
        return [self.A] if name == "A" else list(getattr(self, name).values())

    def to_json(self) -> dict[str, Any]:
        return {"A": self.A.to_json(), "B": {s: r.to_json() for s, r in self.B.items()},
                "C": {s: r.to_json() for s, r in self.C.items()}}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "RegionsRecord":
        return cls(A=RegionRecord.from_json(document.get("A") or {}),
                   B={s: RegionRecord.from_json(r) for s, r in (document.get("B") or {}).items()},
                   C={s: RegionRecord.from_json(r) for s, r in (document.get("C") or {}).items()})


@dataclass(frozen=True)
class PedicleRecord:
    """One pedicle: its isthmus (centre, width, height) and measured axis angles.

    Attributes
    ----------
    found : bool
    reason : str or None
        Why it was not found.
    isthmus_mm : tuple of float or None
        Centre of the isthmus, LPS mm.
    isthmus_width_mm, isthmus_height_mm : float
    medial_angle_deg, sagittal_angle_deg : float
        The pedicle's axis in the vertebra's own frame.
    extra : dict
        Keys of the document this record does not know.
    """

    found: bool
    reason: str | None = None
    isthmus_mm: tuple[float, ...] | None = None
    isthmus_width_mm: float = math.nan
    isthmus_height_mm: float = math.nan
    medial_angle_deg: float = math.nan
    sagittal_angle_deg: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("found", "reason", "isthmus_mm", "isthmus_width_mm", "isthmus_height_mm", "medial_angle_deg",
             "sagittal_angle_deg")

    def to_json(self) -> dict[str, Any]:
        return {"found": self.found, "reason": self.reason,
                "isthmus_mm": None if self.isthmus_mm is None else list(self.isthmus_mm),
                "isthmus_width_mm": self.isthmus_width_mm, "isthmus_height_mm": self.isthmus_height_mm,
                "medial_angle_deg": self.medial_angle_deg, "sagittal_angle_deg": self.sagittal_angle_deg, **self.extra}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "PedicleRecord":
        return cls(found=bool(document.get("found")), reason=document.get("reason"),
                   isthmus_mm=_point(document.get("isthmus_mm")),
                   isthmus_width_mm=number(document.get("isthmus_width_mm")),
                   isthmus_height_mm=number(document.get("isthmus_height_mm")),
                   medial_angle_deg=number(document.get("medial_angle_deg")),
                   sagittal_angle_deg=number(document.get("sagittal_angle_deg")),
                   extra=_extra(document, cls._KEYS))


@dataclass(frozen=True)
class ScrewShell:
    """The bone-screw interface: a shell around the cylinder and its HU (mean, median, voxels)."""

    inner_radius_mm: float
    outer_radius_mm: float
    stats: RoiStats

    def to_json(self) -> dict[str, Any]:
        return {"inner_radius_mm": self.inner_radius_mm, "outer_radius_mm": self.outer_radius_mm,
                "hu_mean": self.stats.mean, "hu_median": self.stats.median, "voxels": self.stats.voxels}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "ScrewShell":
        return cls(number(document.get("inner_radius_mm")), number(document.get("outer_radius_mm")), _stats(document))


@dataclass(frozen=True)
class ScrewRectangle:
    """Paper 001's 2D ROI: a rectangle along the screw in the axial plane through its axis.

    Attributes
    ----------
    stats : RoiStats
        Mean and median HU and the pixels inside (``voxels``).
    width_mm, length_mm, pixel_mm : float
    method : str
    extra : dict
        Keys of the document this record does not know.
    """

    stats: RoiStats
    width_mm: float
    length_mm: float
    pixel_mm: float
    method: str
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("hu_mean", "hu_median", "width_mm", "length_mm", "pixels", "pixel_mm", "method")

    def to_json(self) -> dict[str, Any]:
        return {"hu_mean": self.stats.mean, "hu_median": self.stats.median, "width_mm": self.width_mm,
                "length_mm": self.length_mm, "pixels": self.stats.voxels, "pixel_mm": self.pixel_mm,
                "method": self.method, **self.extra}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "ScrewRectangle":
        return cls(_stats(document, "pixels"), number(document.get("width_mm")), number(document.get("length_mm")),
                   number(document.get("pixel_mm")), document.get("method", ""), _extra(document, cls._KEYS))


def _part_json(stats: RoiStats) -> dict[str, Any]:
    return {"hu_mean": stats.mean, "voxels": stats.voxels}


@dataclass(frozen=True)
class TrajectoryRecord:
    """One side's screw (planned, from a file or found in the image) and the bone it holds in.

    A screw that was not measured has only ``reason`` (every other field None).

    Attributes
    ----------
    source : str or None
        ``auto_traditional``, ``auto_cortical``, ``auto_sacral``, ``file``, ``from_screws``.
    entry_mm, target_mm : tuple of float or None
        Entry and tip, LPS mm.
    diameter_mm, length_mm : float or None
    medial_angle_deg, sagittal_angle_deg : float or None
        In the vertebra's own frame.
    stats : RoiStats or None
        HU of the cylinder (mean, median, SD) and its voxels.
    points : int or None
        Sample points inside the cylinder that are bone (metal left out).
    metal_points_excluded : int or None
    vbmd_mg_cm3 : float or None
        Calibrated density of the mean; None without calibration.
    shell : ScrewShell or None
    pedicle_part, body_part : RoiStats or None
        Mean HU and voxels of the cylinder behind the body and inside it.
    rectangle_2d : ScrewRectangle or None
    inside_vertebra_fraction, inside_body_fraction : float or None
        Fractions of the cylinder inside the vertebra's label and its body label.
    inside_bone_fraction : float or None
        Fraction of the cylinder inside the bone the image shows near the label
        (:func:`spinebq.measure.ct.trajectory.bone_in_image`); None in documents written before it existed.
    adjacent_vertebra_fraction : float or None
        Fraction of the cylinder inside another vertebra's label (``touches_adjacent_vertebra`` when that holds more
        than one voxel of the labels); None without whole-vertebra labels and in documents written before it existed.
    notes, warnings : tuple of str
        How the screw was planned; checks it failed (``pedicle_wall_breach``, ...).
    isthmus_width_mm, isthmus_offset_mm : float or None
        The pedicle's isthmus width and the screw axis' distance from its centre (pedicle found only).
    passes_isthmus : bool or None
    reason : str or None
        Why the screw was not measured, or why its cylinder holds no bone.
    found : dict or None
        With ``from-screws``: how the metal screw was found (voxels, axis fit, level votes, method).
    extra : dict
        Keys of the document this record does not know.
    """

    source: str | None = None
    entry_mm: tuple[float, ...] | None = None
    target_mm: tuple[float, ...] | None = None
    diameter_mm: float | None = None
    length_mm: float | None = None
    medial_angle_deg: float | None = None
    sagittal_angle_deg: float | None = None
    stats: RoiStats | None = None
    points: int | None = None
    metal_points_excluded: int | None = None
    vbmd_mg_cm3: float | None = None
    shell: ScrewShell | None = None
    pedicle_part: RoiStats | None = None
    body_part: RoiStats | None = None
    rectangle_2d: ScrewRectangle | None = None
    inside_vertebra_fraction: float | None = None
    inside_body_fraction: float | None = None
    inside_bone_fraction: float | None = None
    adjacent_vertebra_fraction: float | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    isthmus_width_mm: float | None = None
    isthmus_offset_mm: float | None = None
    passes_isthmus: bool | None = None
    reason: str | None = None
    found: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("source", "entry_mm", "target_mm", "diameter_mm", "length_mm", "medial_angle_deg", "sagittal_angle_deg",
             "hu_mean", "hu_median", "hu_sd", "voxels", "points", "metal_points_excluded", "vbmd_mg_cm3", "shell",
             "pedicle_part", "body_part", "rectangle_2d", "inside_vertebra_fraction", "inside_body_fraction",
             "inside_bone_fraction", "adjacent_vertebra_fraction", "notes", "warnings", "isthmus_width_mm",
             "isthmus_offset_mm", "passes_isthmus", "reason", "found")

    @classmethod
    def missing(cls, reason: str | None) -> "TrajectoryRecord":
        """A screw that was not measured, and why."""
        return cls(reason=reason or "not measured")

    @property
    def measured(self) -> bool:
        """The screw has a position (its cylinder may still hold no bone: see ``reason``)."""
        return self.entry_mm is not None

    @property
    def hu_mean(self) -> float:
        """Mean HU of the cylinder, NaN where not measured."""
        return math.nan if self.stats is None else self.stats.mean

    @property
    def rectangle_hu(self) -> float:
        """Mean HU of [yang2026]'s 2D rectangle, NaN where not measured."""
        return math.nan if self.rectangle_2d is None else self.rectangle_2d.stats.mean

    def corridor(self) -> RegionRecord:
        """Region C of [xu2025] (the screw corridor): this cylinder's mean, median, voxels and vBMD."""
        if not self.measured:
            return RegionRecord.missing(self.reason)
        return RegionRecord(stats=self.stats, vbmd_mg_cm3=self.vbmd_mg_cm3)

    def to_json(self) -> dict[str, Any]:
        if not self.measured:
            return {**_missing_json(self.reason), **self.extra}
        stats = self.stats or RoiStats(math.nan, math.nan, math.nan, 0)
        document = {
            "source": self.source, "entry_mm": list(self.entry_mm),
            "target_mm": None if self.target_mm is None else list(self.target_mm),
            "diameter_mm": self.diameter_mm, "length_mm": self.length_mm, "medial_angle_deg": self.medial_angle_deg,
            "sagittal_angle_deg": self.sagittal_angle_deg, "hu_mean": stats.mean, "hu_median": stats.median,
            "hu_sd": stats.sd, "voxels": stats.voxels, "points": self.points,
            "metal_points_excluded": self.metal_points_excluded, "vbmd_mg_cm3": self.vbmd_mg_cm3,
            "shell": None if self.shell is None else self.shell.to_json(),
            "pedicle_part": None if self.pedicle_part is None else _part_json(self.pedicle_part),
            "body_part": None if self.body_part is None else _part_json(self.body_part),
            "rectangle_2d": None if self.rectangle_2d is None else self.rectangle_2d.to_json(),
            "inside_vertebra_fraction": self.inside_vertebra_fraction,
            "inside_body_fraction": self.inside_body_fraction}
        if self.inside_bone_fraction is not None:
            document["inside_bone_fraction"] = self.inside_bone_fraction
        if self.adjacent_vertebra_fraction is not None:
            document["adjacent_vertebra_fraction"] = self.adjacent_vertebra_fraction
        document.update({"notes": list(self.notes), "warnings": list(self.warnings)})
        if self.isthmus_width_mm is not None:
            document.update({"isthmus_width_mm": self.isthmus_width_mm, "isthmus_offset_mm": self.isthmus_offset_mm,
                             "passes_isthmus": self.passes_isthmus})
        if self.reason is not None:
            document["reason"] = self.reason
        if self.found is not None:
            document["found"] = dict(self.found)
        document.update(self.extra)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "TrajectoryRecord":
        """Read a screw's document (as :func:`spinebq.measure.ct.trajectory.measure_screw` returns it)."""
        extra = _extra(document, cls._KEYS)
        if document.get("entry_mm") is None:
            return cls(reason=document.get("reason") or "not measured", extra=extra)

        def part(key: str) -> RoiStats | None:
            value = document.get(key)
            return None if value is None else _stats(value)

        shell, rectangle = document.get("shell"), document.get("rectangle_2d")
        return cls(
            source=document.get("source"), entry_mm=_point(document["entry_mm"]),
            target_mm=_point(document.get("target_mm")), diameter_mm=document.get("diameter_mm"),
            length_mm=document.get("length_mm"), medial_angle_deg=document.get("medial_angle_deg"),
            sagittal_angle_deg=document.get("sagittal_angle_deg"), stats=_stats(document),
            points=document.get("points"), metal_points_excluded=document.get("metal_points_excluded"),
            vbmd_mg_cm3=document.get("vbmd_mg_cm3"), shell=None if shell is None else ScrewShell.from_json(shell),
            pedicle_part=part("pedicle_part"), body_part=part("body_part"),
            rectangle_2d=None if rectangle is None else ScrewRectangle.from_json(rectangle),
            inside_vertebra_fraction=document.get("inside_vertebra_fraction"),
            inside_body_fraction=document.get("inside_body_fraction"),
            inside_bone_fraction=document.get("inside_bone_fraction"),
            adjacent_vertebra_fraction=document.get("adjacent_vertebra_fraction"), notes=tuple(document.get("notes") or ()),
            warnings=tuple(document.get("warnings") or ()), isthmus_width_mm=document.get("isthmus_width_mm"),
            isthmus_offset_mm=document.get("isthmus_offset_mm"), passes_isthmus=document.get("passes_isthmus"),
            reason=document.get("reason"), found=None if document.get("found") is None else dict(document["found"]),
            extra=extra)


def _sides_json(sides: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if sides is None else {side: record.to_json() for side, record in sides.items()}


@dataclass(frozen=True)
class LevelRegional:
    """What the regional stage measured on one vertebra.

    Attributes
    ----------
    heights : Heights
        Anterior, middle and posterior body heights (NaN where the vertebra is cut by the field of view).
    genant_grade : int or None
        Semiquantitative fracture grade 0-3 (Genant et al., J Bone Miner Res 1993), None where not graded.
    deformity_type : str or None
        ``wedge``, ``biconcave`` or ``crush`` for a grade >= 1.
    height_ratios : dict or None
        ``anterior_posterior``, ``middle_posterior``, ``middle_anterior``.
    fracture : bool or None
        Genant grade >= 1; None where not graded.
    genant : dict
        The grade's details (reductions, planes, neighbours compared, reference, caveat) or the ``reason`` it
        was not given, as :func:`spinebq.measure.ct.heights.genant_grade` returns them.
    trajectories : dict
        Side -> :class:`TrajectoryRecord` of the primary screw (traditional, sacral, file or found).
    pedicles : dict or None
        Side -> :class:`PedicleRecord`; None where the labels hold only bodies or the vertebra is cut.
    trajectories_cortical : dict or None
        Side -> :class:`TrajectoryRecord` of the cortical bone trajectory (trajectory mode ``auto`` only).
    regions : RegionsRecord
    st_hu, st_hu_3d : float
        Paper 001's ST-HU: mean of both sides' 2D rectangles, and of their cylinders; NaN without a screw.
    st_hu_sides : int
        Sides in ``st_hu``.
    b_hu : float
        Three-slice body HU (``hu_2d``).
    hu_ratio, hu_ratio_3d : float
        ``st_hu / b_hu`` and ``st_hu_3d / b_hu``; NaN where not measurable.
    hu_contrast_corrected : dict or None
        With a contrast correction: the corrected ``hu``, ``hu_3d``, ``hu_3d_median``, ``hu_2d`` and the
        correction's name.
    """

    heights: Heights
    genant_grade: int | None
    deformity_type: str | None
    height_ratios: dict[str, float] | None
    fracture: bool | None
    genant: dict[str, Any]
    trajectories: dict[str, TrajectoryRecord]
    pedicles: dict[str, PedicleRecord] | None
    regions: RegionsRecord
    st_hu: float
    st_hu_sides: int
    st_hu_3d: float
    b_hu: float
    hu_ratio: float
    hu_ratio_3d: float
    trajectories_cortical: dict[str, TrajectoryRecord] | None = None
    hu_contrast_corrected: dict[str, Any] | None = None

    #: The document's keys of this record, in the order they are written.
    KEYS = ("heights_mm", "genant_grade", "deformity_type", "height_ratios", "fracture", "genant", "trajectories",
            "pedicles", "trajectories_cortical", "regions", "st_hu", "st_hu_sides", "st_hu_3d", "b_hu", "hu_ratio",
            "hu_ratio_3d", "hu_contrast_corrected")

    @property
    def qc_flags(self) -> tuple[str, ...]:
        """The QC flags this stage adds to the level (``fracture_genant_grade_<n>``)."""
        return (f"fracture_genant_grade_{self.genant_grade}",) if self.fracture else ()

    def to_json(self) -> dict[str, Any]:
        """This record's keys of the level's document (the vertebra record places them among its own)."""
        document = {"heights_mm": self.heights.to_json(), "genant_grade": self.genant_grade,
                    "deformity_type": self.deformity_type, "height_ratios": self.height_ratios,
                    "fracture": self.fracture, "genant": dict(self.genant),
                    "trajectories": _sides_json(self.trajectories),
                    "pedicles": _sides_json(self.pedicles)}
        if self.trajectories_cortical is not None:
            document["trajectories_cortical"] = _sides_json(self.trajectories_cortical)
        document.update({"regions": self.regions.to_json(), "st_hu": self.st_hu, "st_hu_sides": self.st_hu_sides,
                         "st_hu_3d": self.st_hu_3d, "b_hu": self.b_hu, "hu_ratio": self.hu_ratio,
                         "hu_ratio_3d": self.hu_ratio_3d})
        if self.hu_contrast_corrected is not None:
            document["hu_contrast_corrected"] = dict(self.hu_contrast_corrected)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "LevelRegional | None":
        """Read this record's keys of a level's document; None when the document has none (no regional stage)."""
        if "trajectories" not in document:
            return None
        grade, pedicles, cortical = document.get("genant_grade"), document.get("pedicles"), document.get(
            "trajectories_cortical")
        return cls(
            heights=Heights.from_json(document.get("heights_mm") or {}),
            genant_grade=None if grade is None else int(grade), deformity_type=document.get("deformity_type"),
            height_ratios=document.get("height_ratios"), fracture=document.get("fracture"),
            genant=dict(document.get("genant") or {}),
            trajectories={s: TrajectoryRecord.from_json(t) for s, t in (document.get("trajectories") or {}).items()},
            pedicles=None if pedicles is None else {s: PedicleRecord.from_json(p) for s, p in pedicles.items()},
            regions=RegionsRecord.from_json(document.get("regions") or {}),
            st_hu=number(document.get("st_hu")), st_hu_sides=int(document.get("st_hu_sides") or 0),
            st_hu_3d=number(document.get("st_hu_3d")), b_hu=number(document.get("b_hu")),
            hu_ratio=number(document.get("hu_ratio")), hu_ratio_3d=number(document.get("hu_ratio_3d")),
            trajectories_cortical=None if cortical is None else {s: TrajectoryRecord.from_json(t)
                                                                  for s, t in cortical.items()},
            hu_contrast_corrected=document.get("hu_contrast_corrected"))


@dataclass(frozen=True)
class RegionalSummary:
    """The regional stage's part of the CT summary.

    Attributes
    ----------
    fractured_levels : tuple of str
        Levels with Genant grade >= 1.
    fractured_levels_in_summary : tuple of str
        Those among the summary levels.
    fracture_note : str or None
        Why a fractured level in the summary average needs a look.
    st_hu, hu_ratio : float
        Mean ST-HU and HU ratio of the summary levels with a screw ([yang2026]); NaN without one.
    st_hu_levels : tuple of str
    contrast : dict
        The contrast phase (header, vessels or user), its evidence and the correction applied.
    hu_contrast_corrected : float or None
        The summary HU with the contrast correction subtracted (with a correction only).
    implants : dict or None
        With ``from-screws``: screws, rods, cross-links and other metal found in the image.
    trajectory_file : dict or None
        With a trajectory file: its name, how many screws it holds and how many were used, and each screw not used
        (``not_used``: its number in the file, level, side and the reason).
    """

    fractured_levels: tuple[str, ...]
    fractured_levels_in_summary: tuple[str, ...]
    st_hu: float
    hu_ratio: float
    st_hu_levels: tuple[str, ...]
    contrast: dict[str, Any]
    fracture_note: str | None = None
    hu_contrast_corrected: float | None = None
    implants: dict[str, Any] | None = None
    trajectory_file: dict[str, Any] | None = None

    #: The summary's keys of this record, in the order they are written.
    KEYS = ("implants", "fractured_levels", "fractured_levels_count", "fractured_levels_in_summary", "fracture_note",
            "st_hu", "hu_ratio", "st_hu_levels", "contrast", "hu_contrast_corrected", "trajectory_file")

    @property
    def contrast_phase(self) -> str | None:
        return self.contrast.get("phase")

    def to_json(self) -> dict[str, Any]:
        """This record's keys of the summary (the summary record places them among its own)."""
        document: dict[str, Any] = {} if self.implants is None else {"implants": self.implants}
        document.update({"fractured_levels": list(self.fractured_levels),
                         "fractured_levels_count": len(self.fractured_levels),
                         "fractured_levels_in_summary": list(self.fractured_levels_in_summary)})
        if self.fracture_note is not None:
            document["fracture_note"] = self.fracture_note
        document.update({"st_hu": self.st_hu, "hu_ratio": self.hu_ratio, "st_hu_levels": list(self.st_hu_levels),
                         "contrast": dict(self.contrast)})
        if self.hu_contrast_corrected is not None:
            document["hu_contrast_corrected"] = self.hu_contrast_corrected
        if self.trajectory_file is not None:
            document["trajectory_file"] = self.trajectory_file
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "RegionalSummary | None":
        """Read this record's keys of a summary; None when it has none (no regional stage)."""
        if "contrast" not in document or "st_hu_levels" not in document:
            return None
        corrected = document.get("hu_contrast_corrected")
        return cls(fractured_levels=tuple(document.get("fractured_levels") or ()),
                   fractured_levels_in_summary=tuple(document.get("fractured_levels_in_summary") or ()),
                   st_hu=number(document.get("st_hu")), hu_ratio=number(document.get("hu_ratio")),
                   st_hu_levels=tuple(document.get("st_hu_levels") or ()), contrast=dict(document["contrast"]),
                   fracture_note=document.get("fracture_note"),
                   hu_contrast_corrected=None if "hu_contrast_corrected" not in document else number(corrected),
                   implants=document.get("implants"), trajectory_file=document.get("trajectory_file"))


@dataclass(frozen=True)
class RegionalRecord:
    """What :func:`~spinebq.measure.ct.regional.measure_regional` found on one CT.

    Attributes
    ----------
    levels : dict
        Level name -> :class:`LevelRegional` (the levels with a frame, cranial to caudal).
    summary : RegionalSummary
    method : dict
        How regions, screws, ratios and heights were measured (``method.regional`` of the document), and the
        registration of a post-operative CT.
    images : object, optional
        The objects the pictures and plan files are drawn from
        (:class:`spinebq.measure.ct.regional.RegionalImages`); not part of the document, not compared.
    """

    levels: dict[str, LevelRegional]
    summary: RegionalSummary
    method: dict[str, Any]
    images: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The regional stage's own document: ``levels``, ``summary`` and ``method``."""
        return {"levels": {name: level.to_json() for name, level in self.levels.items()},
                "summary": self.summary.to_json(), "method": dict(self.method)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "RegionalRecord":
        return cls(levels={name: LevelRegional.from_json(level) for name, level in document["levels"].items()},
                   summary=RegionalSummary.from_json(document["summary"]), method=dict(document.get("method") or {}))
