"""Numbers and words for people: every value a report shows goes through :func:`human`, every sentence taken
from a record through :func:`cite_text`.

A missing value is written ``not measured: <reason>``, never ``None`` or ``nan``; a list is written as words;
the seed papers named by their number in older texts (``paper 003``) are cited by their bibliography key
(``[chang2025]``), and pointers to the old specification go to ``docs/methods.md``.
"""
from __future__ import annotations

import math
import re

from spinebq.anatomy import ORDER

#: The stored seed papers by their number in ../shared/papers, and their bibliography keys.
PAPER_KEYS = {"000": "xu2025", "001": "yang2026", "002": "loeffler2021", "003": "chang2025", "004": "wu2025"}
#: Transitional vertebrae: a run T12-L1 or L5-S1 is adjacent unless the spine has one.
TRANSITIONAL = ("T13", "L6")
#: Sources that record texts name by author and journal, and their bibliography keys: the key is added after the
#: mention so the reference list gives the full reference.
MENTIONS = {
    r"Schreiber et al\.?,? JBJS Am 2011": "schreiber2011",
    r"Ehresman(?: et al\.?)?,? (?:2020|Spine J 2020)": "ehresman2020",
    r"Pickhardt et al\.?,? Osteoporos Int 2016(?:;27:147-52)?": "pickhardt2016",
    r"Wasserth et al\.?,? Radiol AI 2023": "wasserth2023",
    r"Löffler et al\.?,? Front Endocrinol 2021": "loeffler2021",
    r"Sakai(?: et al\.?)? 2018": "sakai2018",
    r"Genant(?: et al\.?)?,?(?: J Bone Miner Res)? 1993(?:;8:1137-48)?": "genant1993",
}
_MENTION = re.compile("|".join(f"(?P<k{n}>{pattern})" for n, pattern in enumerate(MENTIONS)))
_PAPER = re.compile(r"\bpapers? (00[0-4])\b")
_METHODS = re.compile(r"\bMETHODS(?:\.md)?(?: section| §|§)? ?(\d+(?:\.\d+)*)")


def missing(value) -> bool:
    """True for None and non-finite floats."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and its noun, singular for one.

    >>> counted(1, "study", "studies"), counted(27, "row")
    ('1 study', '27 rows')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def human(value, unit: str = "", decimals: int | None = 1, *, reason: str | None = None) -> str:
    """The text of one value.

    Parameters
    ----------
    value : number, str, bool, list or None
    unit : str
        Appended after a number (``HU``, ``mg/cm3``); not for ratios.
    decimals : int or None
        Decimals of a float (None: as it is).
    reason : str, optional
        Why a missing value is missing.

    >>> human(140.91, "HU", 0), human(None, reason="scan not calibrated"), human(71.0, decimals=0), human(["L4", "L5"])
    ('141 HU', 'not measured: scan not calibrated', '71', 'L4, L5')
    """
    if missing(value):
        return "not measured" + (f": {reason}" if reason else "")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and decimals is not None:
            text = f"{value:.{decimals}f}"
        elif isinstance(value, float) and value.is_integer():
            text = f"{value:.0f}"
        else:
            text = f"{value:g}" if isinstance(value, float) else str(value)
        return f"{text} {unit}" if unit else text
    if isinstance(value, (list, tuple)):
        return ", ".join(human(v, unit, decimals) for v in value) or "none"
    return cite_text(str(value).replace("_", " "))


def levels_text(levels) -> str:
    """``['L1', 'L2', 'L3', 'L4']`` -> ``L1-L4`` (a run of adjacent levels); otherwise ``L1, L3``; ``none``.

    >>> levels_text(["L4", "L5"]), levels_text(["L1", "L3"]), levels_text([]), levels_text(["T12", "L1", "L2"])
    ('L4-L5', 'L1, L3', 'none', 'T12-L2')
    """
    levels = [str(lv) for lv in levels or []]
    if not levels:
        return "none"
    usual = [lv for lv in ORDER if lv not in TRANSITIONAL or lv in levels]
    index = [usual.index(lv) if lv in usual else -1 for lv in levels]
    if len(levels) > 1 and -1 not in index and index == list(range(index[0], index[0] + len(levels))):
        return f"{levels[0]}-{levels[-1]}"
    return ", ".join(levels)


def cite_text(text: str) -> str:
    """``paper 003`` -> ``[chang2025]``; a known author mention gets its key (``Schreiber et al., JBJS Am 2011
    [schreiber2011]``); ``METHODS.md section 5.1`` -> ``docs/methods.md section 5.1``.

    >>> cite_text("three ellipses (Schreiber et al., JBJS Am 2011); 3D-HU (paper 003), METHODS.md section 5.1")
    'three ellipses (Schreiber et al., JBJS Am 2011 [schreiber2011]); 3D-HU ([chang2025]), docs/methods.md section 5.1'
    """
    text = _PAPER.sub(lambda m: f"[{PAPER_KEYS[m.group(1)]}]", text)
    keys = list(MENTIONS.values())

    def add_key(m: re.Match) -> str:
        key = keys[int(m.lastgroup[1:])]
        following = text[m.end():m.end() + len(key) + 3]
        return m.group(0) if f"[{key}]" in following else f"{m.group(0)} [{key}]"

    text = _MENTION.sub(add_key, text)
    return _METHODS.sub(lambda m: f"docs/methods.md section {m.group(1)}", text)
