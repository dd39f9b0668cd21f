"""Reading a cohort spreadsheet (CSV or XLSX) and validating it for the analysis.

Every problem with the spreadsheet ends in one :class:`~spinebq.errors.SpinebqError` whose message is a
single sentence naming the file, the column and what is wrong.
"""
from __future__ import annotations

import codecs
import csv
import importlib.util
import io
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from spinebq.errors import OptionError, SpinebqError, option
from spinebq.stats._result import StatsWarning
from spinebq.vocabulary import StudyState

__all__ = ["read_table", "csv_text", "parse_predictors", "parse_assignments", "validate_cohort", "Cohort", "Factor",
           "MIN_EVENTS", "NA_CODES"]

MIN_EVENTS = 10
#: outcome levels that mean "no event": the other level of a two-level outcome is the event
_FALSE = {"0", "0.0", "no", "n", "false", "f", "none", "negative", "absent", "unchecked"}  # REDCap: Checked/Unchecked
#: the spellings of a yes and of a no answer (letter case aside) that one column should not mix
_YES = frozenset({"y", "yes", "true", "1"})
_NO = frozenset({"n", "no", "false", "0"})
#: cell texts read as missing in every table (the only ones, as R's ``read.csv`` plus SPSS/SAS's ``.``)
NA_CODES = (".", "NA", "")
#: the note of the rows left out for their missing outcome, after their number
MISSING_OUTCOME_DROPPED = "dropped (missing outcome)"
#: numbers exports use as missing-value codes (SPSS, SAS and Stata habits): 99, 999, 9999, 99999 and negatives
CODE_LIKE = frozenset(sign * float(10**digits - 1) for digits in range(2, 6) for sign in (1, -1))
#: Tukey's far-out fence, in interquartile ranges beyond the quartiles: a code-like number further out is named
FAR_OUT_IQR = 3.0
#: a text column with more different values than this, all distinct, is taken for an identifier
ID_MIN_LEVELS = 20
#: why a named column that is empty in every row analysed is left out (refused when it is a predictor or model term)
NO_VALUE_REASON = "it has no value in the rows analysed (every cell is empty or a missing code)"
#: ``DataFrame.attrs`` key set by :func:`read_table`: the CSV was separated by semicolons or tabs, as European
#: Excel writes it, so a comma in a number is its decimal comma
DECIMAL_COMMA = "decimal_comma"
#: ``DataFrame.attrs`` key set by :func:`read_table`: the numeric missing-value codes given (``--na``), blanked again
#: where a text column becomes numbers (``999,0`` of a semicolon-separated file is a number only then)
NA_NUMBERS = "na_numbers"
#: key of ``DataFrame.attrs`` holding the row of the file of each row read from a CSV (:func:`file_rows`)
FILE_ROWS = "file_rows"
#: a number written with a percent sign, as Excel exports a cell formatted as percent (``26.2%``, ``-3,5 %``)
_PERCENT = re.compile(r"^[+-]?\d+([.,]\d+)?\s*%$")
#: a number written with thousands separators as US Excel exports it (``2,523``, ``-1,234,567``)
_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+$")


#: the first bytes of a workbook: an .xlsx is a ZIP archive, an .xls (Excel 97-2003) an OLE2 compound file
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"
#: the code page Excel on Windows writes a "CSV (Comma delimited)" file in; read when a CSV is not UTF-8
LEGACY_ENCODING = "cp1252"
#: files of statistics programs that spinebq does not read, by suffix: the program that writes them
_PROGRAM_FILES = {".sav": "SPSS", ".zsav": "SPSS", ".por": "SPSS", ".dta": "Stata", ".sas7bdat": "SAS",
                  ".rds": "R", ".rdata": "R", ".rda": "R"}
#: the separators of CSV files read, the first preferred when two split the lines equally well
DELIMITERS = (",", ";", "\t", "|")
#: how many rows below the first one are searched for the column names when the outcome is not among them
HEADER_SEARCH_ROWS = 20


def read_table(path: str | Path, *, na_values: Sequence[str] = ()) -> pd.DataFrame:
    """Read a ``.csv`` (comma, semicolon or tab separated) or ``.xlsx``/``.xls`` file into a DataFrame.

    Only empty cells and the texts of :data:`NA_CODES` (``NA`` and ``.``, as SPSS/SAS write them) are missing,
    as in R's ``read.csv``: other words (``None``, ``NULL``, ``n/a``, ``nan``, ``#N/A``) stay texts. Excel error
    cells (``#N/A``, ``#DIV/0!``) hold no value and are missing. ``na_values`` adds codes such as ``-99``
    (matched as text, so ``-99`` also matches ``-99.0`` cells of a numeric column, which are compared as
    numbers). ``TRUE``/``FALSE`` cells (any letter case, or Excel booleans) are read as booleans. A CSV is read as
    UTF-8 (with or without the byte-order mark Excel's "CSV UTF-8" writes), as UTF-16 when it starts with its
    byte-order mark (Excel's "Unicode Text"), else in :data:`LEGACY_ENCODING` (Excel's "CSV" on Windows).

    Raises
    ------
    SpinebqError
        When the file is missing, of another type (an SPSS, Stata, SAS or R file is named as such), not what its
        suffix says, unreadable or empty, or when its header names a column twice.
    """
    path = Path(path)
    if not path.exists():
        raise SpinebqError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    na = dict(keep_default_na=False, na_values=list(NA_CODES) + list(na_values))
    if suffix in _PROGRAM_FILES:
        program = _PROGRAM_FILES[suffix]
        raise SpinebqError(f"{path.name} is a file of {program} ({suffix}), which spinebq does not read: export the "
                           f"table from {program} as .csv or .xlsx and give that file.")
    if suffix not in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls"):
        raise SpinebqError(f"{path.name}: unsupported file type '{suffix}'; give a .csv or .xlsx file.")
    raw = path.read_bytes()
    if not raw.strip():
        raise SpinebqError(f"{path.name} is empty.")
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            text = csv_text(path.name, raw)
            delimiter = csv_delimiter(text)
            read = partial(_read_csv_text, text, sep=delimiter, engine="python")
        else:
            _check_workbook(path.name, raw, suffix)
            read = partial(pd.read_excel, path)
        header = read(header=None, nrows=1, dtype=str, keep_default_na=False)
        df = read(**na)
    except SpinebqError:
        raise
    except Exception as exc:  # pandas raises many types for malformed files
        ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if ragged:
            n_header, line, n_row = ragged.groups()
            raise SpinebqError(f"{path.name}: row {line} has {n_row} cells where the rows above have {n_header} (a "
                               "separator too many, or a text with a comma not in quotes?): correct that row and run "
                               "again.") from None
        raise SpinebqError(f"{path.name} could not be read as a table ({type(exc).__name__}: {exc}).") from exc
    if not df.index.equals(pd.RangeIndex(len(df))):  # pandas took the cells beyond the header's for row names
        n_names = len(header.columns)
        raise SpinebqError(f"{path.name}: row 1 has {n_names} cell{'s' * (n_names > 1)} but the rows below have "
                           f"{n_names + df.index.nlevels}: if row 1 is a title, delete it so that the "
                           "column names are on row 1; else give every column a name in row 1 (or remove the "
                           "separator at the end of each row).")
    names = [str(c).strip() for c in header.iloc[0]] if len(header) else []
    twice = [c for c in dict.fromkeys(names) if c and names.count(c) > 1]
    if twice:
        where = ", ".join(str(i + 1) for i, c in enumerate(names) if c == twice[0])
        raise SpinebqError(f"{path.name} names the column '{twice[0]}' twice in its header (columns {where}); "
                           f"give each column its own name.")
    df.columns = [str(c).strip() for c in df.columns]
    df = _apply_na_codes(df, na_values)
    df.attrs[NA_NUMBERS] = _numeric_codes(na_values)
    if df.empty:
        raise SpinebqError(f"{path.name} has no data rows.")
    if read.func is _read_csv_text:
        df.attrs[DECIMAL_COMMA] = delimiter in (";", "\t")
        df.attrs[FILE_ROWS] = _csv_file_rows(text, delimiter)
    if read.func is pd.read_excel:
        with pd.ExcelFile(path) as book:
            if len(book.sheet_names) > 1:  # said when a column is not found: the table may be on another sheet
                df.attrs["sheets"] = list(book.sheet_names)
    return df


def csv_text(name: str, raw: bytes) -> str:
    """The text of a CSV file's bytes: UTF-8 (a byte-order mark dropped), UTF-16 with its mark, else cp1252.

    Raises
    ------
    SpinebqError
        When the bytes are no text (a NUL byte outside UTF-16: an image, a workbook or another binary file).
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if b"\x00" in raw[:4096]:
        kind = " (an Excel workbook: give it the suffix .xlsx)" if raw.startswith(_XLSX_MAGIC) else ""
        raise SpinebqError(f"{name} is not a text table: it holds binary data{kind}; give a .csv or .xlsx file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode(LEGACY_ENCODING, errors="replace")


def csv_records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Each record of a CSV text with the line it starts on, as a text editor or Excel numbers it (the first is 1).

    A blank line is a record of no cells; a quoted cell holding line breaks makes its record span several lines.

    >>> csv_records('id,note\\n\\na,"two\\nlines"\\nb,x\\n', ",")
    [(1, ['id', 'note']), (2, []), (3, ['a', 'two\\nlines']), (5, ['b', 'x'])]
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records, line = [], 1
    for row in reader:
        records.append((line, row))
        line = reader.line_num + 1
    return records


def file_rows(df: pd.DataFrame) -> np.ndarray:
    """The row of the file (the header is row 1) of each row of a table read by :func:`read_table`: blank lines of
    a CSV, which pandas skips, are counted, so a message names the row the user sees; else the position + 2."""
    rows = df.attrs.get(FILE_ROWS)
    return np.asarray(rows) if rows is not None and len(rows) == len(df) else np.arange(len(df)) + 2


def _csv_file_rows(text: str, delimiter: str) -> tuple[int, ...]:
    """The lines of the data rows of a CSV text that pandas reads (blank lines, which it skips, left out)."""
    kept = [line for line, row in csv_records(text, delimiter) if len(row) > 1 or row and row[0].strip()]
    return tuple(kept[1:])


def _read_csv_text(text: str, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` of a text already decoded."""
    return pd.read_csv(io.StringIO(text), **kwargs)


def _check_workbook(name: str, raw: bytes, suffix: str) -> None:
    """Refuse a file named as a workbook that is none, or an .xls when its reader (xlrd) is not installed.

    Raises
    ------
    SpinebqError
    """
    if raw.startswith(_XLS_MAGIC):
        if importlib.util.find_spec("xlrd") is None:
            raise SpinebqError(f"{name} is in the old Excel format (.xls, Excel 97-2003), which spinebq reads only "
                               "with the package xlrd installed: save it in Excel as .xlsx (File > Save As).")
        return
    if not raw.startswith(_XLSX_MAGIC):
        fix = ("it holds text: if it is a CSV, rename it to .csv" if b"\x00" not in raw[:4096] else
               "save the table from Excel as .xlsx")
        raise SpinebqError(f"{name} is named {suffix} but is not an Excel workbook; {fix}.")


def csv_delimiter(text: str) -> str:
    """The delimiter of a CSV text: of :data:`DELIMITERS`, the one that splits most of the first
    :data:`HEADER_SEARCH_ROWS` lines into the same number (two or more) of cells, the most cells on a tie; ``,`` when
    none does.

    A title line above the column names (one cell) does not decide it, as it would if the first line alone did; nor
    does a comma inside the cells of a ``;``-separated file.
    """
    lines = [line for line in text.splitlines()[:2 * HEADER_SEARCH_ROWS] if line.strip()][:HEADER_SEARCH_ROWS]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS if lines else ():
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        width = max(set(widths), key=lambda w: (widths.count(w), w))
        if width > 1 and (widths.count(width), width) > best_score:
            best, best_score = delimiter, (widths.count(width), width)
    return best


def _numbers_of_text(text: pd.Series, name: str, source: str, *, decimal_comma: bool) -> pd.Series:
    """The numbers of a text column (NaN where a cell is no number), reading a decimal comma (``2,5``).

    In a comma-separated file a number shaped like thousands separators (``2,523``) could be 2523 or 2.523; R
    reads such a column as text. It is refused rather than read 1000 times too small. In a semicolon- or
    tab-separated file (``decimal_comma``) the comma is the decimal comma.

    Raises
    ------
    SpinebqError
        When the column holds a thousands-shaped number in a comma-separated file.
    """
    thousands = text.str.match(_THOUSANDS).fillna(False).astype(bool)
    if not decimal_comma and thousands.any():
        first = str(text[thousands].iloc[0])
        raise SpinebqError(f"column '{name}' in {source} writes numbers with a comma such as {first!r}: a thousands "
                           f"separator ({first.replace(',', '')}) or a decimal comma ({first.replace(',', '.')})? "
                           "Save the column as plain numbers (no thousands separators) and run again.")
    return pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")


def _numeric_codes(na_values: Sequence[str]) -> tuple[float, ...]:
    """The missing-value codes that are numbers (``-99`` also stands for ``-99.0``)."""
    codes = []
    for v in na_values:
        try:
            codes.append(float(str(v).replace(",", ".")))
        except ValueError:
            continue
    return tuple(codes)


def _apply_na_codes(df: pd.DataFrame, na_values: Sequence[str]) -> pd.DataFrame:
    """Blank the numeric cells equal to a numeric missing-value code (``-99`` also hits ``-99.0``)."""
    codes = _numeric_codes(na_values)
    if not codes:
        return df
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].where(~out[c].isin(codes))
    return out


def parse_assignments(text: str | Sequence[str] | None, option: str) -> dict[str, str]:
    """Parse ``"race=white,ftv=0"`` (or a list of such items) into ``{"race": "white", "ftv": "0"}``."""
    items = (text.split(",") if isinstance(text, str) else list(text)) if text else []
    out: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise OptionError(option, f"'{item}': give COLUMN=LEVEL, e.g. race=white.")
        out[name.strip()] = value.strip()
    return out


def parse_predictors(predictors: str | Sequence[str]) -> dict[str, str]:
    """Parse ``"A:lower,B:higher,C"`` into ``{"A": ">", "B": "<", "C": "auto"}``.

    ``:lower`` means lower values go with the event (pROC ``direction=">"``); ``:higher`` the opposite.
    """
    from spinebq.stats.roc import normalize_direction

    items = predictors.split(",") if isinstance(predictors, str) else list(predictors)
    out: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, _, d = item.rpartition(":") if ":" in item else (item, "", "auto")
        name = name.strip()
        try:
            out[name] = normalize_direction(d or "auto")
        except ValueError:
            raise OptionError("predictors", f"'{item}': the direction after ':' must be 'lower' or 'higher', "
                                            f"not '{d}'.") from None
    if not out:
        raise OptionError("predictors", "no predictor given; give e.g. HU:lower,VBQ:higher.")
    return out


@dataclass(frozen=True)
class Factor:
    """A categorical variable coded as R codes a factor with treatment contrasts.

    Attributes
    ----------
    name : str
        The column.
    levels : tuple of str
        Level labels, the reference first, then the others in R's order (sorted).
    terms : tuple of str
        The dummy columns, named as R prints the terms: column name + level label (``raceblack``).
    """

    name: str
    levels: tuple[str, ...]
    terms: tuple[str, ...]

    @property
    def reference(self) -> str:
        """The reference level (every odds ratio is against it)."""
        return self.levels[0]


@dataclass
class Cohort:
    """A validated cohort: numeric columns, factors as 0/1 dummies, outcome coded 0/1 (NaN where missing).

    Attributes
    ----------
    data : DataFrame
        The outcome, numeric columns and the dummy columns of every factor.
    labels : DataFrame
        The factor columns as ordered pandas categoricals (reference first), for tables.
    factors : dict
        ``{column: Factor}``.
    left_out : dict
        ``{column: reason}`` for columns that were named but cannot be analysed (dates, identifiers).
    event : str
        The outcome value counted as the event, as it appears in the file.
    """

    data: pd.DataFrame
    outcome: str
    columns: list[str]
    source: str
    n_outcome_missing: int
    notes: list[str] = field(default_factory=list)
    labels: pd.DataFrame = field(default_factory=pd.DataFrame)
    ids: pd.DataFrame = field(default_factory=pd.DataFrame)
    factors: dict[str, Factor] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    event: str = "1"
    #: the position in the table read of each row of ``data`` (the rows with an outcome)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def y(self) -> np.ndarray:
        """The outcome as a float array (1 = event)."""
        return self.data[self.outcome].to_numpy(float)

    def terms(self, column: str) -> list[str]:
        """Design columns of ``column``: its dummies when it is a factor, else the column itself."""
        f = self.factors.get(column)
        return list(f.terms) if f is not None else [column]

    def design_terms(self, columns: Sequence[str]) -> list[str]:
        """Design columns of several variables, in order."""
        return [t for c in columns for t in self.terms(c)]

    def dummies(self) -> dict[str, tuple[str, str]]:
        """``{dummy term: (column, level)}`` of every factor, e.g. ``{"raceother": ("race", "other")}``."""
        return {t: (f.name, lv) for f in self.factors.values() for t, lv in zip(f.terms, f.levels[1:])}


def _label(value) -> str:
    """A level label as R prints it (``1`` not ``1.0``)."""
    if isinstance(value, (float, np.floating)):
        return format(float(value), ".15g")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value).strip()


def _match_level(given: str, labels: Sequence[str]) -> str | None:
    """The label equal to ``given`` (exactly, else case-insensitively; ``1`` matches ``1.0``), or None."""
    for same in (str.__eq__, lambda lab, g: lab.lower() == g.lower()):
        for lab in labels:
            if same(lab, given):
                return lab
    try:
        g = float(given)
        for lab in labels:
            try:
                if float(lab) == g:
                    return lab
            except ValueError:
                continue
    except ValueError:
        pass
    return None


def _is_number(col: pd.Series) -> bool:
    """Whether a column holds numbers (pandas counts booleans as numbers; here they are TRUE/FALSE labels)."""
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _sorted_levels(values: pd.Series) -> list[str]:
    """Level labels in R's order: numbers numerically, text alphabetically (case-insensitive, as R's locale)."""
    uniq = pd.unique(values.dropna())
    if _is_number(values):
        return [_label(v) for v in sorted(float(u) for u in uniq)]
    labels = sorted({_label(u) for u in uniq} - {""}, key=lambda s: (s.lower(), s))
    return labels


def _text_labels(col: pd.Series) -> pd.Series:
    """The cells of a column as stripped label strings (missing stays missing; booleans as R prints them, TRUE)."""
    if _is_number(col):
        return col.map(lambda v: _label(v) if pd.notna(v) else pd.NA).astype("string")
    out = col.map(lambda v: str(bool(v)).upper() if isinstance(v, (bool, np.bool_)) else v).astype("string")
    out = out.str.strip()
    return out.mask(out == "")


def _case_variants(levels: Sequence[str]) -> str | None:
    """The levels that differ only in letter case, as ``'yes', 'YES'; 'no', 'No'`` (None when there are none)."""
    groups: dict[str, list[str]] = {}
    for lv in levels:
        groups.setdefault(lv.casefold(), []).append(lv)
    return "; ".join(", ".join(repr(v) for v in g) for g in groups.values() if len(g) > 1) or None


def _yes_no_variants(levels: Sequence[str]) -> str | None:
    """The levels that spell one yes or no answer in more than one way (not only letter case), as ``'N', 'No'``."""
    groups: dict[str, list[str]] = {}
    for lv in levels:
        answer = "yes" if lv.casefold() in _YES else "no" if lv.casefold() in _NO else None
        if answer:
            groups.setdefault(answer, []).append(lv)
    spelled = [g for g in groups.values() if len({lv.casefold() for lv in g}) > 1]
    return "; ".join(", ".join(repr(v) for v in g) for g in spelled) or None


def _warn_case_variants(name: str, source: str, levels: Sequence[str]) -> None:
    """Warn (:class:`StatsWarning`) when levels of ``name`` differ only in letter case, or spell one yes/no answer
    in several ways (``Y``, ``Yes``); they stay apart, as in R."""
    variants = _case_variants(levels)
    if variants:
        warnings.warn(f"column '{name}' in {source} has levels that differ only in letter case ({variants}); they are "
                      f"kept as separate levels, as R keeps them: correct the spelling if they mean the same",
                      StatsWarning, stacklevel=3)
    spelled = _yes_no_variants(levels)
    if spelled:
        warnings.warn(f"column '{name}' in {source} writes the same answer in several ways ({spelled}); they are kept "
                      f"as separate levels, as R keeps them: write each answer one way", StatsWarning, stacklevel=3)


def _code_outcome(col: pd.Series, name: str, source: str, event: str | None) -> tuple[pd.Series, str, str | None]:
    """Code the outcome 0/1. Returns the coded column, the event label and a note (None for a plain 0/1 column)."""
    labels = _text_labels(col)
    levels = _sorted_levels(col if _is_number(col) else labels)
    if len(levels) > 2:
        shown = ", ".join(repr(u) for u in levels[:6]) + (", ..." if len(levels) > 6 else "")
        variants = _case_variants(levels)
        spelling = f"; some differ only in letter case ({variants}): correct the spelling" if variants else ""
        raise SpinebqError(f"outcome column '{name}' in {source} must be binary (0/1 or two levels such as "
                           f"Yes/No) but holds {len(levels)} different values ({shown}){spelling}.")
    _warn_case_variants(name, source, levels)
    if len(levels) == 1 and event is None and levels[0] not in ("0", "1"):  # neither event nor non-event is known
        raise SpinebqError(f"outcome column '{name}' in {source} has only one class: every row with a value holds "
                           f"'{levels[0]}'.")
    if event is not None:
        ev = _match_level(event, levels)
        if ev is None:
            raise OptionError("event", f"'{event}' is not a value of the outcome column '{name}' in {source} "
                                       f"(its values are {', '.join(repr(v) for v in levels)}).")
        how = f"as given with {option('event')}"
    elif set(levels) <= {"0", "1"}:
        ev, how = "1", None
    else:
        no = [lv for lv in levels if lv.lower() in _FALSE]
        if len(levels) == 2 and len(no) == 1:
            ev, how = next(lv for lv in levels if lv != no[0]), f"the level that is not '{no[0]}'"
        else:  # a yes-like level alone (1 of 1/2) does not decide it
            ev, how = levels[-1], "R's rule: the second level in sorted order"
    coded = pd.Series(np.where(labels.isna(), np.nan, (labels == ev).astype(float)), index=col.index)
    note = None
    if how is not None:
        others = [lv for lv in levels if lv != ev]
        note = (f"outcome '{name}': event = '{ev}' ({how}); non-event = "
                f"{', '.join(repr(o) for o in others) or 'none'}; give {option('event')} to change it")
    return coded, ev, note


def _warn_code_like(values: pd.Series, name: str, source: str, *, file_rows: np.ndarray) -> None:
    """Warn (:class:`StatsWarning`) when a numeric column holds a number that exports use as a missing-value code
    (:data:`CODE_LIKE`: 99, 999, -99, ...) lying beyond Tukey's far-out fences of its other values (more than
    :data:`FAR_OUT_IQR` interquartile ranges outside the quartiles): analysed as a number, as R does, but named.

    ``file_rows`` are the rows of the file (the header is row 1) of the cells of ``values``.
    """
    present = values.dropna()
    for code in sorted(set(present.tolist()) & CODE_LIKE):
        rest = present[present != code]
        if rest.empty:
            continue
        q1, q3 = np.percentile(rest, [25, 75])
        if q1 - FAR_OUT_IQR * (q3 - q1) <= code <= q3 + FAR_OUT_IQR * (q3 - q1):
            continue
        rows = file_rows[np.flatnonzero((values == code).to_numpy())]
        shown = ", ".join(map(str, rows[:5])) + (", ..." if rows.size > 5 else "")
        warnings.warn(f"column '{name}' in {source} holds {_label(code)} in {rows.size} row{'s' * (rows.size > 1)} "
                      f"({shown}), far outside its other values ({_label(rest.min())} to {_label(rest.max())}): it "
                      f"was analysed as a number; if {_label(code)} is a missing-value code, give {option('na')} "
                      f"{_label(code)}", StatsWarning, stacklevel=3)


def _warn_repeated_patients(df: pd.DataFrame, source: str) -> None:
    """Warn (:class:`StatsWarning`) when rows repeat other rows in every column, an identifier column included (a
    column whose values all differ once the repeats are removed): a patient entered twice counts twice."""
    repeat = df.duplicated(keep="first").to_numpy()
    if not repeat.any():
        return
    distinct = df[~repeat]
    ids = [c for c in df.columns if distinct[c].notna().all() and distinct[c].nunique() == len(distinct) > ID_MIN_LEVELS]
    if not ids:  # without an identifier, equal rows may be different patients with the same values
        return
    first = df.groupby(list(df.columns), dropna=False, sort=False).ngroup().to_numpy()
    rows = file_rows(df)
    pairs = [(int(rows[np.flatnonzero(first == first[i])[0]]), int(rows[i])) for i in np.flatnonzero(repeat)]
    shown = ", ".join(f"row {copy} repeats row {row}" for row, copy in pairs[:3]) + (", ..." if len(pairs) > 3 else "")
    warnings.warn(f"{source} has {len(pairs)} row{'s' * (len(pairs) > 1)} repeating another in every column, "
                  f"'{ids[0]}' included ({shown}): each copy counts as another patient; delete the copies",
                  StatsWarning, stacklevel=3)


def _looks_like_dates(text: pd.Series) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=False)
    has_sep = text.str.contains(r"\d[-/.]\d", regex=True)
    return bool(parsed.notna().all() and has_sep.all())


def _make_factor(name: str, col: pd.Series, labels: pd.Series, reference: str | None,
                 source: str) -> tuple[Factor, pd.Categorical]:
    levels = _sorted_levels(col if _is_number(col) else labels)
    _warn_case_variants(name, source, levels)
    if len(levels) < 2:
        only = f"a single level {levels[0]!r}" if levels else "no values"
        raise SpinebqError(f"column '{name}' in {source} has {only} among the rows analysed; a categorical "
                           f"variable needs two or more levels to enter a model.")
    if reference is not None:
        ref = _match_level(reference, levels)
        if ref is None:
            raise OptionError("reference", f"'{name}={reference}': '{reference}' is not a level of '{name}' in "
                                           f"{source} (levels: {', '.join(repr(v) for v in levels)}).")
        levels = [ref] + [lv for lv in levels if lv != ref]
    fac = Factor(name=name, levels=tuple(levels), terms=tuple(f"{name}{lv}" for lv in levels[1:]))
    return fac, pd.Categorical(labels.astype(object).where(labels.notna(), None), categories=levels, ordered=False)


def _header_row(df: pd.DataFrame, name: str) -> int | None:
    """The row of the file (the first is 1) among its first :data:`HEADER_SEARCH_ROWS` rows below the first that
    holds the column name ``name``, as when a title or merged group headers sit above the column names; None if
    none does."""
    for i in range(min(HEADER_SEARCH_ROWS, len(df))):
        if name in {str(v).strip() for v in df.iloc[i].tolist()}:
            return int(file_rows(df)[i])
    return None


def validate_cohort(
    df: pd.DataFrame,
    outcome: str,
    columns: Sequence[str],
    *,
    source: str = "the data",
    min_events: int = MIN_EVENTS,
    categorical: Sequence[str] = (),
    reference: Mapping[str, str] | None = None,
    event: str | None = None,
    ids: Sequence[str] = (),
    describe_only: Sequence[str] = (),
    ordinal: Mapping[str, Sequence[str]] | None = None,
) -> Cohort:
    """Check a cohort table and return its numeric, 0/1-coded form with factors as R codes them.

    Checks, in order, each failing with one sentence: the outcome column exists; every named column
    exists; the outcome is binary (``event`` is the event; else 1 of 0/1, TRUE of TRUE/FALSE, the level that
    is not no-like (``No``, ``0``, ``FALSE``, ``negative``, ``none``), else R's rule: the second level in sorted
    order, so 2 of 1/2); both classes occur; at least ``min_events`` events and non-events; no model column is
    constant among the rows analysed (R's ``glm`` would give it ``NA``). Levels that differ only in letter
    case (``yes``, ``Yes``) stay apart, as in R, with a :class:`StatsWarning` naming them.
    Then every named column becomes a number or a factor: text columns (and the ``categorical`` ones)
    are factors with the reference level ``reference[column]`` (default R's: the first in sorted order)
    and one 0/1 dummy per other level, named as R names the terms (``raceblack``). Text columns holding
    dates or a different text in every row (identifiers) are left out and listed in ``left_out``. A
    column holding numbers and some text is refused (the first text value is quoted with its row).

    Parameters
    ----------
    df : DataFrame
        As read by :func:`read_table`.
    outcome : str
        The binary outcome column.
    columns : sequence of str
        Predictor and model columns.
    source : str
        File name used in messages.
    min_events : int
        Smallest number of events (and of non-events) accepted.
    categorical : sequence of str
        Numeric columns to treat as factors (text columns always are).
    reference : mapping, optional
        ``{column: reference level}``.
    event : str, optional
        The outcome value that is the event.
    ids : sequence of str
        Columns of labels carried along unchanged (cluster or matched-set identifiers); none may be empty.
    describe_only : sequence of str
        Columns that enter no model (Table 1 covariates): no note about levels without events.
    ordinal : mapping, optional
        ``{column: levels in order}``: a text grade used as a number, the first level scoring 1, the next 2, ...
        (one odds ratio per step, as ``as.numeric(factor(x, levels=...))`` in R).

    Returns
    -------
    Cohort
        Rows with a missing outcome are dropped (counted in ``n_outcome_missing``).

    Raises
    ------
    SpinebqError
    """
    cols = list(dict.fromkeys(columns))
    reference = dict(reference or {})
    if outcome not in df.columns:
        row = _header_row(df, outcome)
        if row is not None:
            raise SpinebqError(f"{source} has its column names on row {row}, not on row 1 (the rows above look like a "
                               "title or a group header over merged cells): delete the rows above the column names "
                               "and run again.")
        sheets = df.attrs.get("sheets")
        where = (f"; spinebq reads the first of the workbook's sheets ({', '.join(repr(s) for s in sheets)}): put the "
                 "table on the first sheet" if sheets else "")
        raise SpinebqError(f"{source} has no outcome column '{outcome}' (columns are: "
                           f"{', '.join(map(str, df.columns[:12]))}{', ...' if df.shape[1] > 12 else ''}){where}.")
    missing_ids = [c for c in ids if c not in df.columns]
    if missing_ids:
        raise SpinebqError(f"{source} has no column {', '.join(repr(m) for m in missing_ids)} (given as the cluster "
                           f"or matched-set column; columns are: {', '.join(map(str, df.columns[:12]))}).")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise SpinebqError(f"{source} has no column {', '.join(repr(m) for m in missing)} named in the "
                           f"predictors or model (columns are: {', '.join(map(str, df.columns[:12]))}).")
    ordinal = {k: list(v) for k, v in (ordinal or {}).items()}
    for opt, names in (("categorical", categorical), ("reference", reference), ("ordinal", ordinal)):
        unknown = [c for c in names if c not in cols]
        if unknown:
            raise OptionError(opt, f"{', '.join(repr(u) for u in unknown)} is not among the predictors, model "
                                   f"terms or covariates ({', '.join(cols)}).")
    for c in ids:
        empty = df[c].isna() | (df[c].astype("string").str.strip() == "")
        if empty.any():
            raise SpinebqError(f"column '{c}' in {source} is empty in row {file_rows(df)[empty.to_numpy()][0]}"
                               f" (counting the header as row 1); every row needs its cluster or set label.")
    if not ids:
        _warn_repeated_patients(df, source)
    y, event_label, event_note = _code_outcome(df[outcome], outcome, source, event)
    n_missing_y = int(y.isna().sum())
    classes = set(y.dropna().unique().tolist())
    if len(classes) < 2:
        only = "events" if classes == {1.0} else "non-events" if classes == {0.0} else "missing values"
        raise SpinebqError(f"outcome column '{outcome}' in {source} has only one class: all rows are {only}.")
    n_events = int((y == 1).sum())
    n_non = int((y == 0).sum())
    if n_events < min_events:
        raise SpinebqError(f"outcome column '{outcome}' in {source} has only {n_events} events "
                           f"('{event_label}'); at least {min_events} are needed for logistic regression and "
                           f"ROC analysis.")
    if n_non < min_events:
        raise SpinebqError(f"outcome column '{outcome}' in {source} has only {n_non} non-events; at least "
                           f"{min_events} are needed for logistic regression and ROC analysis.")
    keep = ~y.isna().to_numpy()
    rows = df[keep].reset_index(drop=True)
    yk = y[keep].reset_index(drop=True)
    out = pd.DataFrame({outcome: yk})
    labels = pd.DataFrame(index=out.index)
    factors: dict[str, Factor] = {}
    left_out: dict[str, str] = {}
    notes = [event_note] if event_note else []
    for c in cols:
        col = rows[c]
        if pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        text = _text_labels(col)
        if text.isna().all():  # nothing to analyse; never read as a constant or as one level
            left_out[c] = NO_VALUE_REASON
            continue
        if c in ordinal:
            order = ordinal[c]
            unknown = sorted(set(text.dropna()) - set(order))
            if unknown:
                raise OptionError("ordinal", f"'{c}' in {source} holds {', '.join(repr(u) for u in unknown[:5])}, "
                                             f"which is not among the levels given ({', '.join(order)}).")
            out[c] = text.map(lambda v: float(order.index(v) + 1) if pd.notna(v) else np.nan).astype(float)
            notes.append(f"'{c}' is used as a number: " + ", ".join(f"{lv} = {i + 1}" for i, lv in enumerate(order)))
            continue
        is_factor = c in categorical or c in reference
        if not is_factor and not pd.api.types.is_numeric_dtype(col):
            if pd.api.types.is_datetime64_any_dtype(col):
                left_out[c] = "it holds dates"
                continue
            num = _numbers_of_text(text, c, source, decimal_comma=bool(df.attrs.get(DECIMAL_COMMA)))
            bad = text.notna() & num.isna()
            if not bad.any():
                out[c] = num.where(~num.isin(df.attrs.get(NA_NUMBERS, ()))).astype(float)
                continue
            if bad.sum() < text.notna().sum():  # numbers and some text: most likely a typo or a missing code
                i = int(np.flatnonzero(bad.to_numpy())[0])
                row = int(file_rows(df)[keep][i])
                raise SpinebqError(f"column '{c}' in {source} has a text value {str(col.iloc[i])!r} in row {row} "
                                   f"(counting the header as row 1) among numbers; it must hold numbers or empty "
                                   f"cells (give {option('na')} for a missing-value code, {option('categorical')} for categories).")
            present = text.dropna()
            if _looks_like_dates(present):
                left_out[c] = "it holds dates"
                continue
            many = present.nunique() > max(ID_MIN_LEVELS, present.size / 2)
            if many and present.str.match(_PERCENT).all():  # not free text: numbers Excel formatted as percent
                left_out[c] = (f"its values are numbers with a percent sign (such as {present.iloc[0]!r}), which R "
                               "reads as text: save the column as plain numbers")
                continue
            if present.nunique() == present.size and present.size > ID_MIN_LEVELS:
                left_out[c] = f"it holds a different text in each of its {present.size} rows (an identifier)"
                continue
            if many:
                left_out[c] = (f"it holds {present.nunique()} different texts in {present.size} rows (free text, "
                               f"not categories)")
                continue
            is_factor = True
        if not is_factor:
            out[c] = col.astype(float)
            continue
        fac, cat = _make_factor(c, col, text, reference.get(c), source)
        factors[c] = fac
        labels[c] = cat
        for lv, term in zip(fac.levels[1:], fac.terms):
            out[term] = np.where(pd.isna(cat), np.nan, (np.asarray(cat.astype(object)) == lv).astype(float))
        counts = pd.crosstab(pd.Series(cat, name=c), yk)
        empty = [str(lv) for lv in fac.levels if lv in counts.index and counts.loc[lv].get(1.0, 0) == 0]
        full = [str(lv) for lv in fac.levels if lv in counts.index and counts.loc[lv].get(0.0, 0) == 0]
        if (empty or full) and c not in describe_only:
            what = ("no events" if empty else "only events")
            lv = (empty or full)[0]
            notes.append(f"level '{lv}' of '{c}' has {what}: its odds ratio cannot be estimated (separation); "
                         f"merge it with another level or leave '{c}' out")
    for c in cols:
        if c in out.columns and c not in factors:
            _warn_code_like(out[c], c, source, file_rows=file_rows(df)[keep])
    for c in cols:
        values = out[c].dropna().unique() if c in out.columns and c not in describe_only else ()
        if len(values) == 1:
            raise SpinebqError(f"column '{c}' in {source} has the single value {_label(values[0])} in the rows "
                               f"analysed ({int(out[c].notna().sum())} with a value); a constant cannot enter a model "
                               f"(R's glm gives it no estimate, NA): leave '{c}' out.")
    for c, why in left_out.items():
        notes.append(f"column '{c}' was left out of the analysis: {why}")
    if n_missing_y:
        notes.append(f"{n_missing_y} row{'s' * (n_missing_y != 1)} {MISSING_OUTCOME_DROPPED}")
    return Cohort(data=out, outcome=outcome, columns=[c for c in cols if c not in left_out], source=source,
                  n_outcome_missing=n_missing_y, notes=notes, labels=labels, ids=rows[list(ids)], factors=factors, left_out=left_out,
                  event=event_label, rows=np.flatnonzero(keep))


@dataclass(frozen=True)
class RowAccount:
    """How many rows of the table the multivariable model used (its complete cases), and why the others were left
    out: each row once, by the first of its batch status (a ``status`` column holding ``spinebq batch``'s states, as
    ``cohort.csv`` does: ``failed``, ``skipped`` ...), a missing outcome, or the first model column it lacks."""

    n_rows: int
    n_used: int
    #: (why, how many rows), in the order above
    left_out: tuple[tuple[str, int], ...] = ()

    def sentence(self) -> str:
        """``120 rows: 96 in the model; left out 24: 14 with status failed, 6 with status skipped, 4 without ...``"""
        if not self.left_out:
            return f"{self.n_rows} rows: all in the model"
        return (f"{self.n_rows} rows: {self.n_used} in the model; left out {self.n_rows - self.n_used}: "
                + ", ".join(f"{n} {why}" for why, n in self.left_out))

    def to_dict(self) -> dict:
        """The ``rows`` entry of ``stats.json``."""
        return {"rows": self.n_rows, "in_model": self.n_used, "left_out": dict(self.left_out),
                "sentence": self.sentence()}


#: the column of ``cohort.csv`` holding each study's state in the batch
BATCH_STATUS_COLUMN = "status"


def account_rows(df: pd.DataFrame, cohort: Cohort, columns: Sequence[str]) -> RowAccount:
    """Say how many rows of ``df`` (as read) the model of ``columns`` used, and why the others were left out.

    Parameters
    ----------
    df : DataFrame
        The table as read (:func:`read_table`).
    cohort : Cohort
        Its validated form (:func:`validate_cohort`).
    columns : sequence of str
        The model's columns.

    Returns
    -------
    RowAccount
    """
    states = StudyState.values()
    status = None
    if BATCH_STATUS_COLUMN in df.columns:
        text = df[BATCH_STATUS_COLUMN].astype("string").str.strip()
        if text.notna().all() and set(text) <= set(states):  # the batch's, not a clinical status ("alive")
            status = text.to_numpy(dtype=object)
    lacking: list[str | None] = [None] * len(cohort.data)
    for c in reversed(list(dict.fromkeys(columns))):  # the first column lacking wins
        for i in np.flatnonzero(cohort.data[cohort.terms(c)].isna().any(axis=1).to_numpy()):
            lacking[i] = f"without {c}"
    why: list[str | None] = ["without the outcome"] * len(df)
    for i, reason in zip(cohort.rows, lacking):
        why[i] = reason
    if status is not None:
        why = [w if w is None or s == StudyState.DONE.value else f"with status {s}" for w, s in zip(why, status)]
    order = [f"with status {s}" for s in states] + ["without the outcome"] + [f"without {c}" for c in columns]
    counts = Counter(w for w in why if w is not None)
    left = tuple((w, counts[w]) for w in dict.fromkeys(order) if counts[w])
    used = why.count(None)
    return RowAccount(n_rows=len(df), n_used=used, left_out=left)
