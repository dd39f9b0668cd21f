"""Typed schemas of every JSON/CSV file a user gives spinebq, and of the documents ``assess``/``report`` read back.

Each file is read by :func:`read_json` (size limit, text, no NaN/Infinity literals, no runaway nesting) and
parsed by :func:`validated` into a pydantic model; any problem becomes one :class:`~spinebq.errors.SpinebqError`
sentence naming the file, the field (``screws[2].entry``) and what is wrong. Readers keep working on plain
values: :func:`validated` returns the model, ``model.model_dump(exclude_none=True)`` the checked dictionary.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from spinebq.anatomy import parse_levels
from spinebq.constants import KVP_RANGE_KV
from spinebq.errors import SpinebqError
from spinebq.records.assessment import PREDICTOR_NAMES

#: Largest JSON/CSV input read (bytes): every real inserts, equations, trajectory or points file is far smaller.
MAX_INPUT_BYTES = 20 * 2**20
#: Deepest nesting of lists/objects accepted in a user JSON file.
MAX_JSON_DEPTH = 32


def _not_a_flag(value: Any) -> Any:
    """``value`` unless it is a JSON ``true``/``false``, which pydantic would otherwise read as the number 1 or 0."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a yes/no value, not a number")
    return value


def number(**limits: float) -> Any:
    """A finite number field with ``limits`` (``gt``, ``ge``, ``lt``, ``le``): no NaN, no infinity, and no JSON
    ``true``/``false`` read as 1/0 (no number field of a user file reads them); used as pydantic's ``confloat``."""
    return Annotated[float, BeforeValidator(_not_a_flag), Field(allow_inf_nan=False, **limits)]


#: A finite number.
Finite = number()
#: A nomogram's intercept or log-odds per unit: a finite number of sensible size.
LogOdds = number(ge=-1e4, le=1e4)
#: A point in millimetres or voxels, three finite numbers of patient size.
_Coordinate = number(ge=-1e5, le=1e5)
Point3 = tuple[_Coordinate, _Coordinate, _Coordinate]
Density = number(ge=-200.0, le=3000.0)
HU = number(ge=-1100.0, le=4000.0)


def _depth(value: Any, limit: int) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: str | Path, what: str) -> Any:
    """The JSON value of a user file, or SpinebqError naming the file and why it cannot be read.

    Refused: a missing or unreadable file, one larger than :data:`MAX_INPUT_BYTES`, bytes that are not UTF-8
    text, invalid JSON, ``NaN``/``Infinity`` literals, nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise SpinebqError(f"{path}: {size / 2**20:.0f} MiB is far too large for a {what}")
        text = path.read_bytes().decode("utf-8-sig")
    except SpinebqError:
        raise
    except FileNotFoundError:
        raise SpinebqError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise SpinebqError(f"{path}: a folder, not a {what}") from None
    except UnicodeDecodeError:
        raise SpinebqError(f"{path}: not text (binary data); a {what} is a JSON text file") from None
    except OSError as exc:
        raise SpinebqError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise SpinebqError(f"{path}: nested too deeply to be a {what}") from None
    except ValueError as exc:
        raise SpinebqError(f"{path}: not valid JSON for a {what} ({' '.join(str(exc).split())[:120]})") from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise SpinebqError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep; not a {what}")
    return value


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after", "function-before", "tagged-union") and not str(part).startswith(("list[", "tuple[", "dict[")):
            out += ("." if out else "") + str(part)
    return out


def validated(model: type[BaseModel], data: Any, path: str | Path, what: str) -> BaseModel:
    """``data`` parsed into ``model``; SpinebqError "FILE: FIELD: problem" on the first error.

    Parameters
    ----------
    model : pydantic model class
    data : object
        The JSON value (or CSV rows) of the file.
    path : path
        The file, for the message.
    what : str
        What the file is ("trajectory file"), for the message.
    """
    written = data.get("schema") if isinstance(data, dict) else None
    if isinstance(written, str) and written.startswith("spinebq.") and model.model_config.get("extra") == "forbid":
        # a result of spinebq given back as a user file that takes no "schema" key (mri.json as --points)
        raise SpinebqError(f"{path}: this is a result file written by spinebq (schema {written!r}), not a {what}; "
                           f"give the {what} instead")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        extra = f" ({len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        given = first.get("input")
        shown = "" if isinstance(given, (dict, list)) or given is None else f", given {str(given)[:40]!r}"
        where = _where(first["loc"])
        where = f", field {where}" if where else ""
        raise SpinebqError(f"{path}: {what}{where}: {message}{shown}{extra}") from None


def read_validated(model: type[BaseModel], path: str | Path, what: str) -> BaseModel:
    """:func:`read_json` then :func:`validated`."""
    return validated(model, read_json(path, what), path, what)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", str_max_length=10_000)


# --- phantom inserts -------------------------------------------------------------------------------------


class PhantomInsert(_Open):
    """One insert of a calibration phantom: its density and its HU or position."""

    density_mg_cm3: Density
    hu: HU | None = None
    center_mm: Point3 | None = None
    center_voxel: Point3 | None = None
    radius_mm: number(gt=0, le=100) = 3.0
    half_height_mm: number(gt=0, le=200) = 3.0
    water_density_mg_cm3: Density | None = None

    @model_validator(mode="after")
    def _placed(self) -> "PhantomInsert":
        if self.hu is None and self.center_mm is None and self.center_voxel is None:
            raise ValueError("an insert needs 'hu', 'center_mm' or 'center_voxel'")
        return self


class PhantomSpec(_Open):
    """A phantom description: inserts with positions or HU, or the densities of rods found in the image."""

    material: Literal["hydroxyapatite", "k2hpo4"] = "hydroxyapatite"
    rois: list[PhantomInsert] | None = Field(default=None, min_length=2, max_length=64)
    rods_mg_cm3: list[Density] | None = Field(default=None, min_length=2, max_length=64)
    water_density_mg_cm3: Density | list[Density | None] | None = None

    @model_validator(mode="after")
    def _some(self) -> "PhantomSpec":
        if self.rois is None and self.rods_mg_cm3 is None:
            raise ValueError("needs 'rois' (inserts with density and position or HU) or 'rods_mg_cm3'")
        return self


# --- calibration equations -------------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip()):
        return None
    return value


class CalibrationEquation(_Open):
    """HU = slope * vBMD + intercept for a scanner (blank key fields match every scan)."""

    slope_hu_per_mg_cm3: number(gt=0, le=20)
    intercept_hu: number(ge=-1000, le=1000)
    manufacturer: str | None = None
    model: str | None = None
    kvp: number(ge=KVP_RANGE_KV[0], le=KVP_RANGE_KV[1]) | None = None
    kernel: str | None = None

    @field_validator("manufacturer", "model", "kvp", "kernel", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        return str(value) if value is not None and not isinstance(value, (int, float, str)) else value

    @field_validator("manufacturer", "model", "kernel", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return None if value is None else str(value)


class CalibrationEquations(BaseModel):
    """A file of equations: a list, or ``{"equations": [...]}``."""

    equations: list[CalibrationEquation] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        return {"equations": data} if isinstance(data, list) else data


# --- screw trajectories ----------------------------------------------------------------------------------


class Screw(_Open):
    """One planned screw: level, side, entry and target (mm or voxels)."""

    level: str = Field(min_length=1, max_length=8)
    side: str
    entry: Point3 | None = None
    target: Point3 | None = None
    entry_mm: Point3 | None = None
    target_mm: Point3 | None = None
    diameter_mm: number(gt=0, le=15) | None = None
    length_mm: number(gt=0, le=150) | None = None

    @field_validator("side")
    @classmethod
    def _side(cls, value: str) -> str:
        if value.strip().lower() not in ("left", "right"):
            raise ValueError("side must be 'left' or 'right'")
        return value

    @model_validator(mode="after")
    def _points(self) -> "Screw":
        if (self.entry or self.entry_mm) is None or (self.target or self.target_mm) is None:
            raise ValueError("a screw needs 'entry' and 'target' (three numbers each)")
        return self


class TrajectoryFile(_Open):
    """``{"screws": [...], "units": "mm"|"voxel", "coordinates": "LPS"|"RAS"}`` (or the bare list)."""

    screws: list[Screw] = Field(min_length=1, max_length=200)
    units: Literal["mm", "voxel", "MM", "VOXEL"] = "mm"
    coordinates: Literal["LPS", "RAS", "lps", "ras"] = "LPS"

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        return {"screws": data} if isinstance(data, list) else data


# --- reader points (MRI) ---------------------------------------------------------------------------------


class ReaderPoints(BaseModel):
    """``{"L1": [x, y, z], ..., "CSF": [x, y, z], "space": "mm"|"voxel"}``."""

    model_config = ConfigDict(extra="forbid")
    space: Literal["mm", "voxel", "MM", "VOXEL"] = "mm"
    points: dict[Annotated[str, Field(min_length=1, max_length=32)], Point3] = Field(min_length=1, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        rest = {k: v for k, v in data.items() if k != "space"}
        return {"space": data.get("space", "mm"), "points": rest}


# --- clinical data and nomogram --------------------------------------------------------------------------


def _optional_number(low: float, high: float):
    def check(value: Any) -> Any:
        value = _not_a_flag(_blank_to_none(value))
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{str(value)[:30]!r} is not a number") from None
        if not math.isfinite(number) or not (low <= number <= high):
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return number
    return check


#: The words a clinical ``sex`` is read from (any case), and the sex each names.
SEXES = {"F": "F", "FEMALE": "F", "WOMAN": "F", "M": "M", "MALE": "M", "MAN": "M"}
#: The answers a clinical yes/no field is read from (any case, surrounding spaces ignored).
YES_NO = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}


def yes_no(value: Any) -> bool | None:
    """A clinical yes/no answer as True/False; None when blank.

    Parameters
    ----------
    value : bool, int, str or None
        JSON ``true``/``false``, ``1``/``0`` or one of the words of :data:`YES_NO` ("Yes", "no", "TRUE").

    Raises
    ------
    ValueError
        For any other value (``"maybe"``, ``2``), so an answer is never guessed.

    Examples
    --------
    >>> yes_no("Yes"), yes_no(" no "), yes_no(False), yes_no(""), yes_no(1)
    (True, False, False, None, True)
    """
    value = _blank_to_none(value)
    if value is None or isinstance(value, bool):
        return value
    answer = YES_NO.get(str(value).strip().lower()) if isinstance(value, (str, int, float)) else None
    if answer is None:
        raise ValueError(f"must be yes or no ({', '.join(YES_NO)})")
    return answer


#: Fields a clinical file may hold that spinebq does not use: dropped on reading, so no name or date travels on.
IGNORED_CLINICAL_FIELDS = ("id", "patient_id", "name", "date", "study_date", "birth_date", "notes")


class Clinical(_Strict):
    """One patient's clinical data: the fields the published models read, each checked.

    A field that is neither one of these nor in :data:`IGNORED_CLINICAL_FIELDS` is refused, naming the fields
    spinebq knows, so a misspelt ``Sex`` or ``hip_tscore`` is never silently left out of the assessment.
    """

    age: Annotated[Any, AfterValidator(_optional_number(0, 120))] = None
    sex: Any = None
    bmi_kg_m2: Annotated[Any, AfterValidator(_optional_number(8, 100))] = None
    planned_levels: Any = None
    procedure: Any = None
    hip_t_score: Annotated[Any, AfterValidator(_optional_number(-10, 10))] = None
    goutallier: Annotated[Any, AfterValidator(_optional_number(0, 4))] = None
    postmenopausal: Any = None
    previous_augmentation: Any = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        import difflib

        known = list(cls.model_fields)
        unknown = []
        for key in data:
            if key not in known and key not in IGNORED_CLINICAL_FIELDS:
                close = difflib.get_close_matches(str(key).lower(), known, n=1, cutoff=0.6)
                unknown.append(f"{str(key)[:40]!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if unknown:
            raise ValueError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the fields spinebq "
                             f"reads are {', '.join(known)} (and {', '.join(IGNORED_CLINICAL_FIELDS)}, which it ignores)")
        return {k: v for k, v in data.items() if k in known}

    @field_validator("planned_levels")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is not None:
            parse_levels(value)  # a name that is no vertebra is refused here, naming the file and the field
        return value

    @field_validator("postmenopausal", "previous_augmentation")
    @classmethod
    def _yes_no(cls, value: Any) -> bool | None:
        return yes_no(value)

    @field_validator("sex")
    @classmethod
    def _sex(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is not None and str(value).strip().upper() not in SEXES:
            raise ValueError("sex must be F or M")
        return value


def clinical_fields(columns: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The columns of a spreadsheet row that :class:`Clinical` reads, by field name: a column is named in any case,
    with spaces around (``Age``, ``Sex ``, ``Planned_Levels``), as a researcher's export names it.

    >>> clinical_fields([("Age", "71"), ("Sex ", "F"), ("failure", "1")])
    {'age': '71', 'sex': 'F'}
    """
    known = {name.lower(): name for name in Clinical.model_fields}
    return {known[name.strip().lower()]: value for name, value in columns if name.strip().lower() in known}


class Nomogram(_Open):
    """Nomogram coefficients: intercept and log-odds per unit of each variable."""

    intercept: LogOdds
    coefficients: dict[Annotated[str, Field(min_length=1, max_length=100)], LogOdds] = Field(min_length=1, max_length=200)
    ranges: dict[str, tuple[Finite, Finite]] | None = None
    cutoff: number(gt=0, lt=1) | None = None
    source: str | None = None

    @field_validator("coefficients")
    @classmethod
    def _known_variables(cls, coefficients: dict[str, float]) -> dict[str, float]:
        import difflib

        unknown = []
        for name in coefficients:
            if name not in PREDICTOR_NAMES:
                close = difflib.get_close_matches(name.lower(), PREDICTOR_NAMES, n=1, cutoff=0.6)
                unknown.append(f"{name[:40]!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not among the variables "
                             f"spinebq knows: {', '.join(PREDICTOR_NAMES)}")
        return coefficients

    @model_validator(mode="after")
    def _ranges(self) -> "Nomogram":
        ranges = self.ranges or {}
        for name, (low, high) in ranges.items():
            if name not in self.coefficients:
                raise ValueError(f"range of {name!r}, a variable without a coefficient (misspelt?)")
            if not low < high:
                raise ValueError(f"range of {name!r} must be [low, high] with low < high")
        missing = [name for name in self.coefficients if name not in ranges]
        if ranges and missing:
            raise ValueError(f"no range for {', '.join(map(repr, missing))}: the points need one for every variable "
                             "(or give no ranges for the probability alone)")
        return self


# --- documents read back by assess / report --------------------------------------------------------------


class CtDocument(_Open):
    """``measurements.json`` (``spinebq.ct/1``) as far as assess and report rely on it."""

    schema_: Literal["spinebq.ct/1"] = Field(alias="schema")
    input: dict[str, Any]
    calibration: dict[str, Any]
    vertebrae: dict[str, dict[str, Any]]
    summary: dict[str, Any]


class MriDocument(_Open):
    """``mri.json`` (``spinebq.mri/1``) as far as assess and report rely on it."""

    schema_: Literal["spinebq.mri/1"] = Field(alias="schema")
    input: dict[str, Any]
    levels: dict[str, dict[str, Any]]


class StatsDocument(_Open):
    """``stats.json`` of ``spinebq stats`` as far as the cohort report and the nomogram reader rely on it."""

    schema_: str = Field(alias="schema", pattern=r"^spinebq\.stats/\d+$")
