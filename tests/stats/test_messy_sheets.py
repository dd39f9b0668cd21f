"""Cohort spreadsheets as researchers export them from Excel and SPSS (the seam sweep in benchmarks/stats.md).

Each file is MASS::birthwt (tests/stats/data/birthwt.csv) written the way an export writes it; read back, it must
give R's numbers (r_reference.py, the R call beside each) or one sentence naming what is wrong and where.
"""
import codecs
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
