"""Asynchronous calibration: scanner-specific equations keyed by manufacturer, model, kVp and kernel.

A scan whose header matches no key stays in HU and says so; a generic equation is never applied
silently (docs/methods.md section 2.2). A scan whose header does not record a key field (a NIfTI file) gets an
equation only when exactly one equation fits the fields it does record, and then with a warning. Equations are
measured on a phantom scan by :func:`equation_from_phantom` (``spinebq calibrate``) and added to an
equations document by :func:`append_equation`.
"""
from __future__ import annotations

import datetime
import math
from pathlib import Path

import pandas as pd

from spinebq.calibrate.core import Calibration, no_calibration
from spinebq.errors import SpinebqError
from spinebq.records.calibration import ScannerEquation

KEY_FIELDS = ("manufacturer", "model", "kvp", "kernel")
#: The schema of an equations file written by ``spinebq calibrate``.
EQUATIONS_SCHEMA = "spinebq.equations/1"
EQUATION_REFERENCE = ("asynchronous phantom calibration: OLS of insert HU on known density, on the scanner, tube "
                      "voltage and kernel of the key [skornitzke2022] (docs/methods.md section 2.2)")


def read_equations(path: str | Path) -> list[dict]:
    """Read equations from JSON (a list of objects) or CSV (one row each).

    Each needs ``slope_hu_per_mg_cm3`` and ``intercept_hu`` (HU = slope * vBMD + intercept) and any
    of the key fields; a key field left out matches every scan.
    """
    from spinebq.io.schemas import CalibrationEquations, read_json, validated

    path = Path(path)
    if path.suffix.lower() == ".csv":
        try:
            rows = pd.read_csv(path).to_dict(orient="records")
        except (OSError, ValueError) as exc:  # pandas: ParserError, UnicodeDecodeError, EmptyDataError
            raise SpinebqError(f"{path}: cannot be read as a CSV of calibration equations "
                               f"({' '.join(str(exc).split())[:120]})") from None
    else:
        rows = read_json(path, "calibration equation file")
    equations = validated(CalibrationEquations, rows, path, "calibration equation file").equations
    return [e.model_dump() for e in equations]


def _given(value) -> bool:
    return value is not None and value != "" and not (isinstance(value, float) and pd.isna(value))


def _matches(row: dict, metadata: dict, *, unknown_matches: bool = False) -> bool:
    for key in KEY_FIELDS:
        wanted = row.get(key)
        if not _given(wanted):
            continue
        have = metadata.get(key)
        if have is None:
            if unknown_matches:
                continue
            return False
        if key == "kvp":
            if abs(float(have) - float(wanted)) > 0.5:
                return False
        elif key == "kernel":
            if str(have).split("\\")[0].strip().casefold() != str(wanted).strip().casefold():
                return False
        elif str(have).strip().casefold() != str(wanted).strip().casefold():
            return False
    return True


def calibration_for_scan(equations: list[dict], metadata: dict, source: str = "") -> Calibration:
    """Pick the most specific equation whose key matches the scan's header; HU only when none does."""
    matching = [row for row in equations if _matches(row, metadata)]
    unknown = [k for k in KEY_FIELDS if metadata.get(k) is None]
    warning = None
    if not matching and unknown:
        candidates = [row for row in equations if _matches(row, metadata, unknown_matches=True)]
        if len(candidates) == 1:
            matching = candidates
            warning = (f"the scan does not record its {', '.join(unknown)} (e.g. a NIfTI file): the only equation of "
                       f"{source or 'the calibration file'} that fits the rest is applied unchecked; it holds only for "
                       "its own scanner, tube voltage and kernel")
    if not matching:
        scan = ", ".join(f"{k}={metadata.get(k) if metadata.get(k) is not None else 'not recorded'}" for k in KEY_FIELDS)
        return no_calibration(f"no equation in {source or 'the calibration file'} matches this scan ({scan}): values stay in HU")
    best = max(matching, key=lambda row: sum(_given(row.get(k)) for k in KEY_FIELDS))
    key = {k: best.get(k) for k in KEY_FIELDS if _given(best.get(k))}
    details = {"key": key, "source": source,
               "reference": best.get("reference", "asynchronous calibration equation (docs/methods.md section 2.2)")}
    if warning:
        details["warning"] = warning
    return Calibration("equation", float(best["slope_hu_per_mg_cm3"]), float(best["intercept_hu"]), details)


def scanner_key(metadata: dict, **given) -> dict:
    """Manufacturer, model, kVp and kernel of a scan: the header's, or the ``given`` values where it has none.

    Raises
    ------
    SpinebqError
        When a field is neither in the header nor given: an equation without its full key would be applied to
        every scanner.
    """
    key = {}
    for name in KEY_FIELDS:
        value = given.get(name) if given.get(name) is not None else metadata.get(name)
        if name == "kernel" and value is not None:
            value = str(value).split("\\")[0].strip()
        if value is None or value == "":
            option = "--kvp" if name == "kvp" else f"--{name}"
            raise SpinebqError(f"the phantom scan does not record its {name} (give {option}): an equation is kept only "
                               "with its full scanner key")
        key[name] = float(value) if name == "kvp" else str(value).strip()
    return key


def equation_from_phantom(calibration: Calibration, key: dict, *, written: str | None = None) -> ScannerEquation:
    """The equation of a phantom calibration (:func:`spinebq.calibrate.phantom.calibrate_from_file`) for ``key``."""
    r2 = calibration.details.get("r2")
    return ScannerEquation(manufacturer=key["manufacturer"], model=key["model"], kvp=float(key["kvp"]), kernel=key["kernel"],
                           slope_hu_per_mg_cm3=float(calibration.slope_hu_per_mg_cm3),
                           intercept_hu=float(calibration.intercept_hu),
                           r2=float(r2) if isinstance(r2, (int, float)) and math.isfinite(r2) else float("nan"),
                           material=calibration.details.get("material", "hydroxyapatite"),
                           inserts=tuple(calibration.details.get("inserts") or ()),
                           written=written or datetime.date.today().isoformat(), reference=EQUATION_REFERENCE)


def _row_key(row: dict) -> tuple | None:
    try:
        return (str(row["manufacturer"]).casefold(), str(row["model"]).casefold(), float(row["kvp"]),
                str(row["kernel"]).casefold())
    except (KeyError, TypeError, ValueError):
        return None


def append_equation(path: str | Path, equation: ScannerEquation) -> tuple[dict, bool]:
    """The equations document of ``path`` (empty when the file is absent) with ``equation`` added; an equation of
    the same scanner key is replaced. Returns the document to write and whether an equation was replaced.

    Raises
    ------
    SpinebqError
        When the existing file is not an equations file (JSON list or ``{"equations": [...]}``).
    """
    path = Path(path)
    rows: list[dict] = []
    if path.exists():
        if path.suffix.lower() == ".csv":
            raise SpinebqError(f"{path}: spinebq calibrate writes JSON equations files; give a .json path")
        rows = read_equations(path)
    kept = [row for row in rows if _row_key(row) != equation.key()]
    return {"schema": EQUATIONS_SCHEMA, "equations": [*kept, equation.to_json()]}, len(kept) != len(rows)
