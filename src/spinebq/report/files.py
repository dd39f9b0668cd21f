"""JSON and CSV writers shared by every command: deterministic, NaN as null, written atomically."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinebq.io.output import write_atomic



def to_jsonable(value: Any, *, digits: int = 4) -> Any:
    """Plain JSON types: NaN/inf -> None, numpy scalars/arrays -> Python, floats rounded to ``digits``.

    Parameters
    ----------
    value : object
        Nested dicts, lists and tuples of numbers, numpy scalars and arrays, strings and None.
    digits : int
        Decimals kept of every float.

    Returns
    -------
    object
        The same structure with dict keys as strings, tuples and arrays as lists, and Python scalars.

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"hu": np.float32(123.456789), "voxels": np.int64(3), "sd": float("nan")})
    {'hu': 123.4568, 'voxels': 3, 'sd': None}
    >>> to_jsonable({"centre_mm": np.array([1.26, 2.0]), 4: (True, None)}, digits=1)
    {'centre_mm': [1.3, 2.0], '4': [True, None]}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, digits=digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, digits=digits) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), digits=digits)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return round(value, digits) if math.isfinite(value) else None
    return value


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as indented, deterministic JSON (NaN -> null)."""
    return write_atomic(path, json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n")


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    """Write one row per dict; lists become ';'-joined text, missing values stay empty."""
    flat = [{k: (";".join("" if x is None else str(x) for x in to_jsonable(v)) if isinstance(v, (list, tuple)) else to_jsonable(v))
             for k, v in row.items()} for row in rows]
    return write_atomic(path, pd.DataFrame(flat).to_csv(index=False, lineterminator="\n"))
