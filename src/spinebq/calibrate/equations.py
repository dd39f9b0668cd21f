"""Asynchronous calibration: scanner-specific equations keyed by manufacturer, model, kVp and kernel.

A scan whose header matches no key stays in HU and says so; a generic equation is never applied
silently (METHODS.md §2.2).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from spinebq.calibrate.core import Calibration, no_calibration
from spinebq.errors import SpinebqError

KEY_FIELDS = ("manufacturer", "model", "kvp", "kernel")


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


def _matches(row: dict, metadata: dict) -> bool:
    for key in KEY_FIELDS:
        wanted = row.get(key)
        if wanted is None or (isinstance(wanted, float) and pd.isna(wanted)) or wanted == "":
            continue
        have = metadata.get(key)
        if have is None:
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
    if not matching:
        scan = ", ".join(f"{k}={metadata.get(k)}" for k in KEY_FIELDS)
        return no_calibration(f"no equation in {source or 'the calibration file'} matches this scan ({scan}): values stay in HU")
    best = max(matching, key=lambda row: sum(row.get(k) not in (None, "") and not pd.isna(row.get(k)) for k in KEY_FIELDS))
    key = {k: best.get(k) for k in KEY_FIELDS if best.get(k) not in (None, "") and not pd.isna(best.get(k))}
    return Calibration(
        "equation",
        float(best["slope_hu_per_mg_cm3"]),
        float(best["intercept_hu"]),
        {"key": key, "source": source, "reference": best.get("reference", "asynchronous calibration equation (METHODS.md §2.2)")},
    )
