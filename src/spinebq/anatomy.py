"""Vertebra names and the VerSe label ids that spinebq uses inside (DESIGN.md)."""
from __future__ import annotations

import re

#: VerSe label id -> vertebra name. 26 is the sacrum, reported as S1.
VERSE_NAMES: dict[int, str] = {
    **{i: f"C{i}" for i in range(1, 8)},
    **{i + 7: f"T{i}" for i in range(1, 13)},
    **{i + 19: f"L{i}" for i in range(1, 6)},
    25: "L6",
    26: "S1",
    28: "T13",
}
VERSE_IDS: dict[str, int] = {name: i for i, name in VERSE_NAMES.items()}

#: Cranial-to-caudal order of every name spinebq knows.
ORDER: tuple[str, ...] = tuple(
    [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + ["T13"] + [f"L{i}" for i in range(1, 7)] + ["S1"]
)

#: Levels measured by the CT engine (issue 2): T11-L5 (L6 when present) and S1.
MEASURED_LEVELS: tuple[str, ...] = ("T11", "T12", "T13", "L1", "L2", "L3", "L4", "L5", "L6", "S1")

#: Default levels of the summary (the ACR/ISCD convention is L1-L4 or L1-L3).
SUMMARY_LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4")


def sort_levels(names) -> list[str]:
    """Sort vertebra names from cranial to caudal.

    Parameters
    ----------
    names : iterable of str
        Vertebra names (``"C1"`` ... ``"S1"``, with ``"T13"`` and ``"L6"``); a dict sorts its keys.

    Returns
    -------
    list of str

    Examples
    --------
    >>> sort_levels(["L2", "S1", "T12", "L1"])
    ['T12', 'L1', 'L2', 'S1']
    >>> sort_levels({"L5": 1, "L6": 2, "L4": 3})
    ['L4', 'L5', 'L6']
    """
    return sorted(names, key=ORDER.index)


#: The marks between the two ends of a range of levels: hyphen, slash (``L5/S1``), en and em dashes.
RANGE_MARK = re.compile(r"\s*[-/\u2010-\u2015]\s*")


def parse_levels(value) -> list[str]:
    """``"L4-L5"``, ``"L4,L5"``, ``"L5/S1"``, ``["L5", "L4"]`` -> the levels, cranial to caudal (ranges expanded).

    Parameters
    ----------
    value : str or sequence of str
        Levels separated by commas, semicolons or spaces; a range joins its two ends with a hyphen, a slash (the
        segment notation ``L5/S1``) or a dash, and its second end may give the number only (``L4-5``, ``L4/5``);
        any case and order.

    Returns
    -------
    list of str
        The distinct levels, cranial to caudal; a range skips the transitional ``T13`` and ``L6``.

    Raises
    ------
    ValueError
        When an item is not a vertebra name.

    Examples
    --------
    >>> parse_levels("L4-L5")
    ['L4', 'L5']
    >>> parse_levels("l5; T12-L1")
    ['T12', 'L1', 'L5']
    >>> parse_levels(["L5", "L4", "L5"])
    ['L4', 'L5']
    >>> parse_levels("L5/S1"), parse_levels("L3-5"), parse_levels("L4 \u2013 L5"), parse_levels("L4 L5")
    (['L5', 'S1'], ['L3', 'L4', 'L5'], ['L4', 'L5'], ['L4', 'L5'])
    >>> parse_levels("L4,X1")
    Traceback (most recent call last):
    ...
    ValueError: 'X1' is not a vertebra name (use e.g. L4,L5 or L4-L5)
    """
    items = value if isinstance(value, (list, tuple)) else [value]
    words = [w for item in items for w in re.split(r"[,;\s]+", RANGE_MARK.sub("-", str(item).strip().upper())) if w]
    levels: list[str] = []
    for item in words:
        if "-" in item:
            a, b = item.split("-", 1)
            if b.isdigit() and a[:1].isalpha():  # L4-5: the second end in the first's region
                b = a.rstrip("0123456789") + b
            if a in ORDER and b in ORDER:
                i, j = sorted((ORDER.index(a), ORDER.index(b)))
                levels += [x for x in ORDER[i: j + 1] if x not in ("T13", "L6")]
                continue
        if item not in ORDER:
            raise ValueError(f"{item!r} is not a vertebra name (use e.g. L4,L5 or L4-L5)")
        levels.append(item)
    return sorted(set(levels), key=ORDER.index)
