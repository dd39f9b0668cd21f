"""Vertebra names and the VerSe label ids that spinebq uses inside (DESIGN.md)."""
from __future__ import annotations

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
