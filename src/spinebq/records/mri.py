"""Typed records of an MRI analysis and their ``spinebq.mri/1`` document (``mri.json``).

:func:`spinebq.pipeline.analyse_mri` returns an :class:`MriRecord`; ``to_json()`` is the document the CLI
writes and ``from_json()`` reads it back. The scores, the CSF reference, the levels and the muscle grades are
typed fields; method texts, cutoffs and per-ROI details travel unchanged in ``details``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

SCHEMA = "spinebq.mri/1"

#: Top-level keys of the document, in the order they are written.
DOCUMENT_ORDER = ("schema", "research_use_only", "software", "input", "roi_source", "vbq", "vbq_method", "vbq_reason",
                  "vbq_levels_used", "vbq_fractured_levels", "vbq_fracture_note", "vbq_cutoffs", "s1_vbq",
                  "s1_vbq_method", "s1_vbq_reason", "pbq", "pbq_method", "pbq_reason", "pbq_levels_used", "pbq_cutoffs",
                  "pbq_cutoff_note", "csf", "levels", "muscle", "muscle_method", "warnings", "outputs")


def _split(document: dict[str, Any], typed: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in typed}


@dataclass(frozen=True)
class MriLevel:
    """Signal of one vertebra on the sagittal T1 image (None where not measured, with the reason in ``details``)."""

    level: str
    body_signal: float | None
    body_voxels: int
    pedicle_signal_left: float | None
    pedicle_signal_right: float | None
    qc: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)

    _TYPED = ("body_signal", "body_voxels", "pedicle_signal_left", "pedicle_signal_right", "qc")

    @property
    def genant_grade(self) -> int | None:
        """Genant grade 0-3 from the mid-sagittal heights; None where not graded (S1, no heights)."""
        grade = self.details.get("genant_grade")
        return None if grade is None else int(grade)

    @property
    def deformity_type(self) -> str | None:
        """``wedge``, ``biconcave`` or ``crush`` for a graded deformity, else None."""
        return self.details.get("deformity_type")

    def to_json(self) -> dict[str, Any]:
        return {"body_signal": self.body_signal, "body_voxels": self.body_voxels,
                "pedicle_signal_left": self.pedicle_signal_left, "pedicle_signal_right": self.pedicle_signal_right,
                "qc": list(self.qc), **self.details}

    @classmethod
    def from_json(cls, level: str, document: dict[str, Any]) -> "MriLevel":
        return cls(level, document.get("body_signal"), int(document.get("body_voxels") or 0),
                   document.get("pedicle_signal_left"), document.get("pedicle_signal_right"),
                   tuple(document.get("qc") or ()), _split(document, cls._TYPED))


@dataclass(frozen=True)
class CsfReference:
    """The CSF ROI every signal is divided by."""

    signal: float | None
    level: str | None
    voxels: int
    details: dict[str, Any] = field(default_factory=dict)

    _TYPED = ("signal", "level", "voxels")

    def to_json(self) -> dict[str, Any]:
        return {"signal": self.signal, "level": self.level, "voxels": self.voxels, **self.details}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "CsfReference":
        return cls(document.get("signal"), document.get("level"), int(document.get("voxels") or 0),
                   _split(document, cls._TYPED))


@dataclass(frozen=True)
class MuscleLevel:
    """Paraspinal muscle fat at one disc level (``L4/L5``)."""

    disc: str
    fat_fraction_left: float | None
    fat_fraction_right: float | None
    goutallier: int | None
    plane: str
    qc: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)

    _TYPED = ("fat_fraction_left", "fat_fraction_right", "goutallier", "plane", "qc")

    def to_json(self) -> dict[str, Any]:
        return {"fat_fraction_left": self.fat_fraction_left, "fat_fraction_right": self.fat_fraction_right,
                "goutallier": self.goutallier, **self.details, "plane": self.plane, "qc": list(self.qc)}

    @classmethod
    def from_json(cls, disc: str, document: dict[str, Any]) -> "MuscleLevel":
        grade = document.get("goutallier")
        return cls(disc, document.get("fat_fraction_left"), document.get("fat_fraction_right"),
                   None if grade is None else int(grade), document.get("plane", ""), tuple(document.get("qc") or ()),
                   _split(document, cls._TYPED))


@dataclass(frozen=True)
class MriRecord:
    """Everything :func:`spinebq.pipeline.analyse_mri` found on one sagittal T1 MRI.

    Attributes
    ----------
    vbq, s1_vbq, pbq : float or None
        The scores; None with the reason in ``vbq_reason`` / ``s1_vbq_reason`` / ``pbq_reason``.
    csf : CsfReference
    levels : tuple of MriLevel
        Cranial to caudal.
    muscle : tuple of MuscleLevel
        Per disc level, where muscle fat was measured.
    warnings : tuple of str
    outputs : tuple of str
        Names of the files written beside ``mri.json`` (empty until written).
    details : dict
        The other keys of the document: ``input`` (header facts), ``roi_source``, method texts, cutoffs.
    images : object, optional
        The image-side results the pictures are drawn from (:class:`spinebq.pipeline.MriImages`); not part of
        the document, not compared, dropped by :meth:`without_images`.
    """

    vbq: float | None
    vbq_reason: str | None
    s1_vbq: float | None
    s1_vbq_reason: str | None
    pbq: float | None
    pbq_reason: str | None
    csf: CsfReference
    levels: tuple[MriLevel, ...]
    muscle: tuple[MuscleLevel, ...]
    warnings: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    images: Any = field(default=None, compare=False, repr=False)

    _TYPED = ("vbq", "vbq_reason", "s1_vbq", "s1_vbq_reason", "pbq", "pbq_reason", "csf", "levels", "muscle",
              "warnings", "outputs")

    @property
    def roi_method(self) -> str:
        """``labels``, ``points`` or ``automatic``."""
        return (self.details.get("roi_source") or {}).get("method", "")

    @property
    def input(self) -> dict[str, Any]:
        """The header facts of the series measured."""
        return self.details.get("input") or {}

    def level(self, name: str) -> MriLevel | None:
        return next((v for v in self.levels if v.level == name), None)

    def muscle_missing(self) -> dict[str, str]:
        """Why a disc level's Goutallier grade is missing -> the levels (``"L1/L2, L2/L3"``); empty when none is."""
        out: dict[str, list[str]] = {}
        for m in self.muscle:
            if m.goutallier is None:
                out.setdefault(m.details.get("goutallier_reason") or "not measured", []).append(m.disc)
        return {reason: ", ".join(discs) for reason, discs in out.items()}

    def without_images(self) -> "MriRecord":
        return replace(self, images=None)

    def with_outputs(self, names) -> "MriRecord":
        return replace(self, outputs=tuple(sorted(names)))

    def to_json(self) -> dict[str, Any]:
        """The ``spinebq.mri/1`` document (``mri.json``)."""
        document = {**self.details, "vbq": self.vbq, "vbq_reason": self.vbq_reason, "s1_vbq": self.s1_vbq,
                    "s1_vbq_reason": self.s1_vbq_reason, "pbq": self.pbq, "pbq_reason": self.pbq_reason,
                    "csf": self.csf.to_json(), "levels": {v.level: v.to_json() for v in self.levels},
                    "muscle": {m.disc: m.to_json() for m in self.muscle}, "warnings": list(self.warnings)}
        if self.outputs:
            document["outputs"] = list(self.outputs)
        ordered = {k: document[k] for k in DOCUMENT_ORDER if k in document}
        return {**ordered, **{k: v for k, v in document.items() if k not in ordered}}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "MriRecord":
        """Read a ``spinebq.mri/1`` document."""
        if document.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema {document.get('schema')!r})")
        return cls(vbq=document.get("vbq"), vbq_reason=document.get("vbq_reason"), s1_vbq=document.get("s1_vbq"),
                   s1_vbq_reason=document.get("s1_vbq_reason"), pbq=document.get("pbq"),
                   pbq_reason=document.get("pbq_reason"), csf=CsfReference.from_json(document.get("csf") or {}),
                   levels=tuple(MriLevel.from_json(k, v) for k, v in (document.get("levels") or {}).items()),
                   muscle=tuple(MuscleLevel.from_json(k, v) for k, v in (document.get("muscle") or {}).items()),
                   warnings=tuple(document.get("warnings") or ()), outputs=tuple(document.get("outputs") or ()),
                   details=_split(document, cls._TYPED))
