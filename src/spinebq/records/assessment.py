"""Typed records of one patient's assessment against the published models and their ``spinebq.assess/1``
document (``assessment.json``).

:func:`spinebq.risk.assess.assess_patient` returns an :class:`Assessment`; ``Assessment.to_json()`` is the
document the CLI writes and ``Assessment.from_json()`` reads it back. The report, the cohort table and the
commands read the typed fields.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spinebq.records.screening import ScreeningReading

SCHEMA = "spinebq.assess/1"
#: The three groups of model rows (``ModelResult.status``), in the order every count names them, and their words.
STATUS_WORDS = {"applied": "applied", "no_cutoff": "no published cutoff", "not_applicable": "not applicable"}


@dataclass(frozen=True)
class NomogramInput:
    """One variable of a nomogram: the patient's value (None when missing) and where it came from."""

    name: str
    value: float | None
    source: str | None


@dataclass(frozen=True)
class NomogramScore:
    """What a nomogram row adds: the coefficients' source, the inputs and, when scored, points and probability.

    Attributes
    ----------
    source : str or None
        Where the coefficients come from.
    inputs : tuple of NomogramInput
        One per coefficient, in the coefficients' order.
    scored : bool
        True when every input was available and the nomogram was evaluated.
    linear_predictor : float or None
        Log-odds (when scored).
    points : dict or None
        Points per variable; None without axis ranges.
    total_points : float or None
    """

    source: str | None
    inputs: tuple[NomogramInput, ...]
    scored: bool = False
    linear_predictor: float | None = None
    points: dict[str, float] | None = None
    total_points: float | None = None


#: Keys of a model row, in the order they are written (the nomogram keys follow when present).
ROW_KEYS = ("key", "paper", "citation", "kind", "predictor", "endpoint", "population", "method", "unit", "cutoff",
            "direction", "auc", "auc_ci", "sensitivity", "specificity", "corrections", "cutoff_text", "secondary",
            "level", "value", "status", "at_risk_side", "side_text", "value_source", "caveats", "reason")


def _tuple(value: Any) -> tuple | None:
    return None if value is None else tuple(value)


def _list(value: tuple | None) -> list | None:
    return None if value is None else list(value)


@dataclass(frozen=True)
class ModelResult:
    """One published model at one level: applied (value against the cutoff), without cutoff, or not applicable.

    Attributes
    ----------
    key, paper, citation, kind, predictor, endpoint, population, method, unit : str or None
        The registry entry (``models.json``): its key, bibliography key, citation, ``cutoff``/``nomogram`` ...
    cutoff : float or None
        The published cutoff (for a nomogram, the user-supplied probability cutoff).
    direction : str or None
        ``<`` or ``>``: the side of the cutoff that went with the endpoint.
    auc : float or None
        Discrimination reported in the paper; ``auc_ci`` its 95 % interval.
    auc_ci : tuple of float or None
    sensitivity, specificity : float or None
    corrections : tuple of str or None
        Corrections to the printed figures, from the registry.
    cutoff_text : str
        The cutoff in words (``< 110 HU``).
    secondary : bool
        Taken from a secondary source.
    level : str or None
        The level evaluated (a substitute level when the paper allows one), or the model's level range.
    value : float or None
        The patient's value; None when not applicable (``reason``).
    status : str
        ``applied``, ``no_cutoff`` or ``not_applicable``.
    at_risk_side : bool or None
        True when the value is on the side of the cutoff that went with the endpoint.
    side_text : str or None
    value_source : str or None
        Where the value came from.
    caveats : tuple of str
        Conditions that make applying the model questionable.
    reason : str or None
        Why the model was not applied.
    nomogram : NomogramScore or None
        Nomogram rows with user-supplied coefficients only.
    """

    key: str
    paper: str | None
    citation: str | None
    kind: str | None
    predictor: str | None
    endpoint: str | None
    population: str | None
    method: str | None
    unit: str | None
    cutoff: float | None
    direction: str | None
    auc: float | None
    auc_ci: tuple[float, ...] | None
    sensitivity: float | None
    specificity: float | None
    corrections: tuple[str, ...] | None
    cutoff_text: str | None
    secondary: bool
    level: str | None
    value: float | None
    status: str
    at_risk_side: bool | None
    side_text: str | None
    value_source: str | None
    caveats: tuple[str, ...] = ()
    reason: str | None = None
    nomogram: NomogramScore | None = None

    def to_json(self) -> dict[str, Any]:
        document = {key: getattr(self, key) for key in ROW_KEYS}
        document.update(auc_ci=_list(self.auc_ci), corrections=_list(self.corrections), caveats=list(self.caveats))
        nomo = self.nomogram
        if nomo is not None:
            document["nomogram_source"] = nomo.source
            document["inputs"] = {i.name: {"value": i.value, "source": i.source} for i in nomo.inputs}
            if nomo.scored:
                document.update(linear_predictor=nomo.linear_predictor,
                                points=None if nomo.points is None else dict(nomo.points), total_points=nomo.total_points)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "ModelResult":
        fields = {key: document.get(key) for key in ROW_KEYS}
        fields.update(auc_ci=_tuple(fields["auc_ci"]), corrections=_tuple(fields["corrections"]),
                      caveats=tuple(fields["caveats"] or ()), secondary=bool(fields["secondary"]))
        nomogram = None
        if "inputs" in document:
            nomogram = NomogramScore(
                source=document.get("nomogram_source"),
                inputs=tuple(NomogramInput(name, i.get("value"), i.get("source")) for name, i in document["inputs"].items()),
                scored="linear_predictor" in document, linear_predictor=document.get("linear_predictor"),
                points=None if document.get("points") is None else dict(document["points"]),
                total_points=document.get("total_points"))
        return cls(**fields, nomogram=nomogram)


#: Keys of a predictor value, in the order they are written (``preset`` follows when present).
VALUE_KEYS = ("value", "unit", "source", "level", "caveats", "reason")
#: Values of the ``values`` section that come from the clinical data, in the order they are written.
CLINICAL_VALUE_KEYS = ("age", "bmi_kg_m2", "hip_t_score", "sex_female")
#: The CT summary values (``PatientValues.ct_summary``), over the summary levels.
CT_SUMMARY_VALUE_KEYS = ("summary_hu_3d", "summary_hu_2d", "summary_vbmd_mg_cm3")
#: The CT values of one level (``PatientValues.at(level, name)``).
LEVEL_VALUE_KEYS = ("body_vbmd_mg_cm3", "pedicle_vbmd_mg_cm3", "trajectory_vbmd_mg_cm3", "st_hu", "st_hu_3d", "b_hu",
                    "hu_ratio")
#: The MRI scores and the Goutallier grade (``PatientValues.others``; the grade may also come from the clinical data).
MRI_VALUE_KEYS = ("vbq", "pbq", "s1_vbq", "goutallier")
#: Every variable spinebq measures or reads for a patient: the names a nomogram's coefficients may use.
PREDICTOR_NAMES = CLINICAL_VALUE_KEYS + CT_SUMMARY_VALUE_KEYS + LEVEL_VALUE_KEYS + MRI_VALUE_KEYS


@dataclass(frozen=True)
class PredictorValue:
    """One predictor value of the patient, with where it came from (a missing value is None with a reason).

    Attributes
    ----------
    value : float or None
    unit : str
    source : str
        The document and key it was read from (``measurements.json vertebrae.L3.st_hu``) or ``clinical data``.
    level : str or None
        The level(s) it describes (``L3``, ``L1-L2-L3-L4``).
    caveats : tuple of str
        How it was obtained, where that matters for a published cutoff.
    reason : str or None
        Why the value is missing.
    preset : str or None
        The CT preset of a summary HU or vBMD.
    """

    value: float | None
    unit: str
    source: str
    level: str | None = None
    caveats: tuple[str, ...] = ()
    reason: str | None = None
    preset: str | None = None

    def to_json(self) -> dict[str, Any]:
        document = {"value": self.value, "unit": self.unit, "source": self.source, "level": self.level,
                    "caveats": list(self.caveats), "reason": self.reason}
        if self.preset is not None:
            document["preset"] = self.preset
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "PredictorValue":
        return cls(value=document.get("value"), unit=document.get("unit", ""), source=document.get("source", ""),
                   level=document.get("level"), caveats=tuple(document.get("caveats") or ()),
                   reason=document.get("reason"), preset=document.get("preset"))


@dataclass(frozen=True)
class PatientValues:
    """The ``values`` section of an assessment: every predictor value of one patient.

    Attributes
    ----------
    clinical : dict
        ``age``, ``bmi_kg_m2``, ``hip_t_score``, ``sex_female`` -> :class:`PredictorValue`.
    ct_summary : dict
        The CT summary values (``summary_hu_3d``, ``summary_hu_2d``, ``summary_vbmd_mg_cm3``); empty without CT.
    levels : dict or None
        Level -> variable -> :class:`PredictorValue` (body, pedicle and trajectory vBMD, ST-HU, B-HU, HU ratio);
        None without CT.
    others : dict
        The MRI scores (``vbq``, ``pbq``, ``s1_vbq``) and the Goutallier grade (MRI, or the clinical data's).
    """

    clinical: dict[str, PredictorValue]
    ct_summary: dict[str, PredictorValue] = field(default_factory=dict)
    levels: dict[str, dict[str, PredictorValue]] | None = None
    others: dict[str, PredictorValue] = field(default_factory=dict)

    def get(self, name: str) -> PredictorValue | None:
        """The patient-level value ``name`` (``age``, ``summary_hu_3d``, ``vbq`` ...), None when it is not there."""
        for group in (self.clinical, self.ct_summary, self.others):
            if name in group:
                return group[name]
        return None

    def at(self, level: str, name: str) -> PredictorValue | None:
        """The value ``name`` (``st_hu``, ``hu_ratio`` ...) of one level, None when it is not there."""
        return ((self.levels or {}).get(level) or {}).get(name)

    def to_json(self) -> dict[str, Any]:
        document = {k: v.to_json() for k, v in {**self.clinical, **self.ct_summary}.items()}
        if self.levels is not None:
            document["levels"] = {level: {k: v.to_json() for k, v in values.items()} for level, values in self.levels.items()}
        document.update({k: v.to_json() for k, v in self.others.items()})
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "PatientValues":
        groups: dict[str, dict[str, PredictorValue]] = {"clinical": {}, "ct_summary": {}, "others": {}}
        for key, value in document.items():
            if key == "levels":
                continue
            group = "clinical" if key in CLINICAL_VALUE_KEYS else "ct_summary" if key.startswith("summary_") else "others"
            groups[group][key] = PredictorValue.from_json(value)
        levels = document.get("levels")
        return cls(**groups, levels=None if levels is None else {
            level: {k: PredictorValue.from_json(v) for k, v in values.items()} for level, values in levels.items()})


@dataclass(frozen=True)
class Assessment:
    """One patient against every model of the registry (document ``spinebq.assess/1``).

    Attributes
    ----------
    patient_id : str
        The identifier the user chose; the only identifier in the result.
    clinical : dict
        The clinical fields used, normalised (:func:`spinebq.risk.values.normalise_clinical`).
    has_ct, has_mri : bool
        Which results were given.
    nomogram_source : str or None
        Where user-supplied nomogram coefficients come from (None without coefficients).
    values : PatientValues
        Every predictor value with its source (:func:`spinebq.risk.values.patient_values`).
    models : tuple of ModelResult
        One row per model and level.
    screening : tuple of ScreeningReading
        The CT's L1 HU against the published screening thresholds; empty without CT.
    notice : str
        The research-use notice.
    no_pooled_score : str
        Why the models are not combined.
    spinebq_version : str
    """

    patient_id: str
    clinical: dict[str, Any]
    has_ct: bool
    has_mri: bool
    nomogram_source: str | None
    values: PatientValues
    models: tuple[ModelResult, ...]
    screening: tuple[ScreeningReading, ...]
    notice: str
    no_pooled_score: str
    spinebq_version: str
    schema: str = field(default=SCHEMA)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "spinebq_version": self.spinebq_version,
            "notice": self.notice,
            "no_pooled_score": self.no_pooled_score,
            "patient": {"id": self.patient_id, **self.clinical},
            "inputs": {"ct": self.has_ct, "mri": self.has_mri, "nomogram": self.nomogram_source},
            "values": self.values.to_json(),
            "models": [row.to_json() for row in self.models],
            "screening": [reading.to_json() for reading in self.screening],
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "Assessment":
        patient = dict(document["patient"])
        inputs = document["inputs"]
        return cls(patient_id=patient.pop("id"), clinical=patient, has_ct=bool(inputs["ct"]), has_mri=bool(inputs["mri"]),
                   nomogram_source=inputs.get("nomogram"),
                   values=PatientValues.from_json(document["values"]),
                   models=tuple(ModelResult.from_json(row) for row in document["models"]),
                   screening=tuple(ScreeningReading.from_json(r) for r in document.get("screening") or ()),
                   notice=document["notice"], no_pooled_score=document["no_pooled_score"],
                   spinebq_version=document["spinebq_version"], schema=document["schema"])

    def applied(self) -> list[ModelResult]:
        """The rows whose value was placed against a published cutoff."""
        return [row for row in self.models if row.status == "applied"]

    def status_counts(self) -> dict[str, int]:
        """Rows per status, every status of :data:`STATUS_WORDS` named (0 when it has none), in that order."""
        return {status: sum(row.status == status for row in self.models) for status in STATUS_WORDS}

    def counts_text(self) -> str:
        """The rows of every group and the models they come from, the one wording of the commands and the report.

        Returns
        -------
        str
            ``2 applied, 1 no published cutoff, 9 not applicable (12 models)``; a model evaluated at several
            levels has a row per level, and the parenthesis then gives rows and models: ``(14 rows of 12 models)``.
        """
        counts = ", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in self.status_counts().items())
        models = len({row.key for row in self.models})
        rows = "" if len(self.models) == models else f"{len(self.models)} rows of "
        return f"{counts} ({rows}{models} models)"
