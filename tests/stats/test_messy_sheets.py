"""Cohort spreadsheets as researchers export them from Excel and SPSS (the seam sweep in benchmarks/stats.md).

Each file is MASS::birthwt (tests/stats/data/birthwt.csv) written the way an export writes it; read back, it must
give R's numbers (r_reference.py, the R call beside each) or one sentence naming what is wrong and where.
"""
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from spinebq.errors import SpinebqError
from spinebq.stats.data import read_table, validate_cohort
from tests.stats import r_reference as R
from tests.stats.test_factors import BW_MODEL, _assert_glm, _fit

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def birthwt():
    return pd.read_csv(DATA / "birthwt.csv")


@pytest.mark.parametrize("encoding, sep", [("utf-8-sig", ";"), ("utf-8-sig", ","), ("cp1252", ";"), ("utf-16", "\t")])
def test_excel_csv_encodings_give_r_numbers(birthwt, tmp_path, encoding, sep):
    # Excel's "CSV UTF-8" starts with a byte-order mark, its "CSV" on Windows is cp1252, its "Unicode Text" is
    # UTF-16 with tabs; before, the mark stuck to the first column's name ('\ufefflow': "no outcome column 'low'")
    # and a cp1252 'Größe' became 'Gr\ufffd\ufffde'
    p = tmp_path / "export.csv"
    birthwt.rename(columns={"age": "Größe"}).to_csv(p, sep=sep, index=False, encoding=encoding)
    df = read_table(p)
    assert list(df.columns[:2]) == ["low", "Größe"]
    # R: read.csv("birthwt.csv", stringsAsFactors=TRUE); glm(low ~ age + lwt + race + smoke + ht + ui, binomial)
    _, f = _fit(df, ["Größe"] + BW_MODEL[1:])
    _assert_glm(f, R.BW_MULTI, [t.replace("age", "Größe") for t in R.BW_MULTI_TERMS])


@pytest.mark.parametrize("name, content, message", [
    ("cohort.sav", b"$FL2@(#) IBM SPSS STATISTICS", "cohort.sav is a file of SPSS (.sav), which spinebq does not read: "
                                                    "export the table from SPSS as .csv or .xlsx and give that file."),
    ("cohort.dta", b"<stata_dta>", "cohort.dta is a file of Stata (.dta), which spinebq does not read: export the "
                                   "table from Stata as .csv or .xlsx and give that file."),
    ("cohort.csv", b"", "cohort.csv is empty."),
    ("cohort.xlsx", b"\n", "cohort.xlsx is empty."),
    ("cohort.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "cohort.csv is not a text table: it holds binary data; "
                                                          "give a .csv or .xlsx file."),
    ("cohort.xlsx", b"low,age\n1,20\n", "cohort.xlsx is named .xlsx but is not an Excel workbook; it holds text: if "
                                        "it is a CSV, rename it to .csv."),
    ("cohort.xlsx", b"\x89PNG\r\n\x1a\n\x00\x00", "cohort.xlsx is named .xlsx but is not an Excel workbook; save the "
                                                  "table from Excel as .xlsx."),
])
def test_files_that_hold_no_table_are_named(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(SpinebqError) as err:
        read_table(p)
    assert str(err.value) == message


def test_old_excel_format_without_its_reader(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xlrd" else real(name, *a))
    p = tmp_path / "cohort.xls"
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    with pytest.raises(SpinebqError, match=r"^cohort.xls is in the old Excel format \(.xls, Excel 97-2003\), which "
                                           r"spinebq reads only with the package xlrd installed: save it in Excel as "
                                           r"\.xlsx \(File > Save As\)\.$"):
        read_table(p)


def _workbook(path: Path, df: pd.DataFrame, above: list[list[str]], merge: str | None = None) -> None:
    """``df`` written below the rows ``above`` (a title, group headers), cells ``merge`` merged, as Excel users do."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in above + [list(df.columns)] + df.astype(object).values.tolist():
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    book.save(path)


@pytest.mark.parametrize("above, merge, row", [
    ([["Cohort export 2024-05-01 (SPSS)"], []], None, 3),  # a title and an empty row
    ([["Outcome", "Mother", None, "Clinical"]], "B1:C1", 2),  # group headers over merged cells
])
def test_column_names_below_a_title_are_found(birthwt, tmp_path, above, merge, row):
    # before: "has no outcome column 'low' (columns are: Cohort export 2024-05-01 (SPSS), Unnamed: 1, ...)"
    p = tmp_path / "cohort.xlsx"
    _workbook(p, birthwt, above, merge)
    with pytest.raises(SpinebqError) as err:
        validate_cohort(read_table(p), "low", BW_MODEL, source=p.name)
    assert str(err.value) == (f"cohort.xlsx has its column names on row {row}, not on row 1 (the rows above look like "
                              "a title or a group header over merged cells): delete the rows above the column names "
                              "and run again.")


@pytest.mark.parametrize("lines, message", [
    # a title line, as typed above the table (before: "could not be read as a table (ParserError: ' ' expected...")
    (["Cohort export 2024-05-01", ""], "cohort.csv: row 1 has 1 cell but the rows below have 10: if row 1 is a title, delete it"),
    # a title line as Excel exports it, padded with separators to the table's width (before: "no outcome column")
    (["Cohort export 2024-05-01" + "," * 9, "," * 9], "cohort.csv has its column names on row 3, not on row 1"),
])
def test_csv_title_lines_are_named(tmp_path, lines, message):
    p = tmp_path / "cohort.csv"
    p.write_text("\n".join(lines) + "\n" + (DATA / "birthwt.csv").read_text())
    with pytest.raises(SpinebqError, match="^" + re.escape(message)):
        validate_cohort(read_table(p), "low", BW_MODEL, source=p.name)


def test_rows_wider_than_the_header_are_refused_not_shifted(tmp_path):
    # a separator at the end of every data row: pandas (and R's read.csv) take the first column for row names and
    # shift every other column one to the left; before, 'low' silently held the ages
    text = (DATA / "birthwt.csv").read_text().splitlines()
    p = tmp_path / "cohort.csv"
    p.write_text("\n".join([text[0]] + [line + "," for line in text[1:]]) + "\n")
    with pytest.raises(SpinebqError, match=r"^cohort.csv: row 1 has 10 cells but the rows below have 11: "):
        read_table(p)
    # one row with a cell too many names its row
    p.write_text("\n".join(text[:5] + [text[5] + ",1"] + text[6:]) + "\n")
    with pytest.raises(SpinebqError, match=r"^cohort.csv: row 6 has 11 cells where the rows above have 10 \(a "
                                           r"separator too many, or a text with a comma not in quotes\?\)"):
        read_table(p)


def test_a_999_code_is_named_and_na_reads_it_as_missing(birthwt, tmp_path):
    from spinebq.stats import StatsWarning

    df = birthwt.copy()
    df.loc[[9, 20, 30], "age"] = 999  # SPSS's user-missing code, exported as a value
    p = tmp_path / "cohort.csv"
    df.to_csv(p, index=False)
    # before: averaged in without a word (age 999 in three mothers)
    with pytest.warns(StatsWarning) as seen:
        validate_cohort(read_table(p), "low", BW_MODEL, source=p.name)
    assert [str(w.message) for w in seen] == [
        "column 'age' in cohort.csv holds 999 in 3 rows (11, 22, 32), far outside its other values (14 to 45): it "
        "was analysed as a number; if 999 is a missing-value code, give option `na` 999"]
    # R: b$age[c(10, 21, 31)] <- NA; glm(low ~ age + lwt + race + smoke + ht + ui, binomial, b)
    _, f = _fit(read_table(p, na_values=["999"]), BW_MODEL)
    _assert_glm(f, R.BW_MULTI_AGE999_NA, R.BW_MULTI_AGE999_NA_TERMS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)  # 99 among weights of 80 to 250 lb is a weight
        validate_cohort(birthwt.assign(lwt=birthwt["lwt"].replace(100, 99)), "low", BW_MODEL)


def test_na_reads_a_999_code_written_with_a_decimal_comma(birthwt, tmp_path):
    """European Excel (semicolons, decimal comma) writes SPSS's 999 as '999,0', a number only once the comma is read:
    before, ``--na 999`` missed it and the three mothers of age 999 were analysed, with a warning to give ``--na 999``."""
    from spinebq.stats import StatsWarning

    df = birthwt.astype({"age": float, "lwt": float})
    df.loc[[9, 20, 30], "age"] = 999.0
    p = tmp_path / "cohort.csv"
    df.to_csv(p, index=False, sep=";", decimal=",", encoding="utf-8-sig")
    assert ";999,0;" in p.read_text(encoding="utf-8-sig")
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        # R: b$age[c(10, 21, 31)] <- NA; glm(low ~ age + lwt + race + smoke + ht + ui, binomial, b)
        _, f = _fit(read_table(p, na_values=["999"]), BW_MODEL)
    _assert_glm(f, R.BW_MULTI_AGE999_NA, R.BW_MULTI_AGE999_NA_TERMS)


def test_the_terminal_says_rows_without_outcome_and_names_the_na_flag(birthwt, tmp_path, capsys):
    from spinebq.cli import main

    df = birthwt.copy()
    df.loc[[4, 8, 15], "low"] = None  # outcome not recorded
    df.loc[[9, 20, 30], "age"] = 999
    p = tmp_path / "cohort.csv"
    df.to_csv(p, index=False)
    code = main(["stats", str(p), "--outcome", "low", "--predictors", "age:lower,lwt:lower", "--out",
                 str(tmp_path / "o"), "--bootstrap", "0", "--no-figures"])
    out = capsys.readouterr().out
    assert code == 0
    # before: n = 186 with no word on the three rows left out, and the flag shown as "option `na`"
    assert "note: 3 rows dropped (missing outcome)\n" in out
    assert "if 999 is a missing-value code, give --na 999\n" in out


def test_yes_and_y_in_one_column_are_named(birthwt):
    from spinebq.stats import StatsWarning

    df = birthwt.copy()
    df.loc[::5, "smoke"] = df.loc[::5, "smoke"].str[0]  # every fifth row typed 'Y'/'N'
    # before: four levels (R's factor(): N, No, Y, Yes) without a word
    with pytest.warns(StatsWarning) as seen:
        c = validate_cohort(df, "low", BW_MODEL, source="cohort.csv")
    assert c.factors["smoke"].levels == ("N", "No", "Y", "Yes")
    assert [str(w.message) for w in seen] == [
        "column 'smoke' in cohort.csv writes the same answer in several ways ('N', 'No'; 'Y', 'Yes'); they are kept "
        "as separate levels, as R keeps them: write each answer one way"]


def test_a_patient_entered_twice_is_named(birthwt):
    from spinebq.stats import StatsWarning

    df = birthwt.copy()
    df.insert(0, "patient_id", [f"{i:05d}" for i in range(1, len(df) + 1)])  # leading zeros, as hospitals write them
    df = pd.concat([df, df.iloc[[0, 7]]], ignore_index=True)  # two patients pasted twice at the bottom
    # before: n = 191 without a word
    with pytest.warns(StatsWarning) as seen:
        c = validate_cohort(df, "low", BW_MODEL, source="cohort.csv")
    assert len(c.data) == 191  # analysed as given, as R would
    assert [str(w.message) for w in seen] == [
        "cohort.csv has 2 rows repeating another in every column, 'patient_id' included (row 191 repeats row 2, row "
        "192 repeats row 9): each copy counts as another patient; delete the copies"]
    with warnings.catch_warnings():  # birthwt's own equal rows have no identifier to tell them apart: no warning
        warnings.simplefilter("error", StatsWarning)
        assert birthwt.duplicated().any()
        validate_cohort(birthwt, "low", BW_MODEL)
