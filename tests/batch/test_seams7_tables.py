"""Seam sweep 7: the batch's tables as Excel opens them (a byte-order mark), read back by every reader of spinebq;
``--clinical`` spreadsheets as people keep them (blank rows, a title row, ``age`` beside ``Age``)."""
from __future__ import annotations

import codecs

import pandas as pd
import pytest
from openpyxl import Workbook

from spinebq.batch.cohort import read_clinical, with_clinical, write_cohort
from spinebq.batch.discover import discover
from spinebq.errors import SpinebqError
from spinebq.stats.data import read_table
from tests.conftest import TS, need


def _studies(tmp_path):
    """Two manifest studies of the real CT, ids ``é1`` and ``E2``, the first with a clinical note in French."""
    manifest = tmp_path / "manifest.csv"
    ct = need(TS / "ct.nii.gz")
    manifest.write_text(f"id,ct,note\né1,{ct},fracture à L1\nE2,{ct},\n", encoding="utf-8")
    return discover([manifest])


def test_the_batch_tables_carry_a_byte_order_mark_and_spinebq_reads_them_back(tmp_path):
    """cohort.csv was UTF-8 without a byte-order mark: Excel on Windows showed "fracture Ã  L1". It, its dictionary
    and the key map now start with the mark, and ``stats``, ``--clinical`` and a manifest read them with the first
    column named ``study`` (never "\\ufeffstudy")."""
    studies = _studies(tmp_path)
    rows = [{"key": s.key, "state": "skipped", "reason": "not measured in this test"} for s in studies]
    files = write_cohort(tmp_path / "out", studies, rows, include_phi=True)
    for path in (files.table, files.dictionary, files.key_map):
        assert path.read_bytes().startswith(codecs.BOM_UTF8), path.name
    assert "fracture à L1" in files.table.read_text(encoding="utf-8-sig")
    table = read_table(files.table)
    assert table.columns[0] == "study" and "fracture à L1" in set(table["note"])
    assert read_table(files.key_map).columns[0] == "study"
    clinical = read_clinical(files.table, "study")
    assert list(clinical["study"]) == sorted(s.key for s in studies)


def _write_xlsx(path, rows) -> None:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


@pytest.mark.parametrize("name, write", [
    ("clinical.csv", lambda p: p.write_text("Cohort 2024, exported 5 May\n\nPatientID,age,sex\né1,70,F\n\n\nE2,seventy,M\n")),
    ("clinical.xlsx", lambda p: _write_xlsx(p, [["Cohort 2024"], [], ["PatientID", "age", "sex"], ["é1", "70", "F"],
                                                [], [], ["E2", "seventy", "M"]])),
])
def test_clinical_rows_are_named_as_excel_shows_them(tmp_path, name, write):
    """Blank rows and a title row in ``--clinical``: a CSV's blank lines were dropped before counting ("row 3" for
    the cell on line 7); an XLSX with a blank row was refused ("holds nan more than once"), one with a title "has no
    column 'PatientID'". The title is passed over and the row named is the one Excel and a text editor show."""
    path = tmp_path / name
    write(path)
    clinical = read_clinical(path, "PatientID")
    assert list(clinical.columns) == ["PatientID", "age", "sex"] and list(clinical.PatientID) == ["é1", "E2"]
    with pytest.raises(SpinebqError, match=rf"^row 7 of {path}: .*age.*'seventy'"):
        with_clinical(_studies(tmp_path), clinical, "PatientID", source=str(path))


@pytest.mark.parametrize("header", ["PatientID,age,Age", "PatientID,age,age"])
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_clinical_column_given_twice_in_any_case_is_refused(tmp_path, header, suffix):
    """``--clinical`` with ``age`` and ``Age`` was read with both: the second was refused as differing "from the
    manifest's" (there was no manifest value), or, equal, accepted, either one chance's; ``age`` twice became
    ``age`` and ``age.1``, joined to cohort.csv silently. Both are refused in one sentence naming the columns."""
    path = tmp_path / f"clinical{suffix}"
    names = header.split(",")
    if suffix == ".csv":
        path.write_text(f"{header}\né1,70,71\n")
    else:
        _write_xlsx(path, [names, ["é1", "70", "71"]])
    twice = ("the columns 'age' and 'Age', whose names differ only in letter case" if names[2] == "Age"
             else "names the column 'age' 2 times")
    with pytest.raises(SpinebqError, match=rf"^{path} (has )?{twice}: give each column its own name"):
        read_clinical(path, "PatientID")
    frame = pd.DataFrame([["é1", "70", "71"]], columns=names)
    with pytest.raises(SpinebqError, match=twice):  # the library's callers, who pass a frame, too
        with_clinical(_studies(tmp_path), frame, "PatientID")


@pytest.mark.parametrize("text", ["", "\n\n", ";;\n"])
def test_an_empty_clinical_csv_is_said_to_be_empty(tmp_path, text):
    """An empty file read as a clinical spreadsheet was refused with Python's words ("max() arg is an empty
    sequence"), from the delimiter search."""
    path = tmp_path / "clinical.csv"
    path.write_text(text)
    with pytest.raises(SpinebqError, match="the clinical spreadsheet is empty"):
        read_clinical(path, "id")


def test_a_manifest_is_read_as_a_clinical_spreadsheet_is(tmp_path):
    """A manifest saved by Excel in its legacy encoding (cp1252), ``;``-separated, its paths holding commas, with a
    title row above the column names: every row becomes its study, as ``--clinical`` reads such a file. Before, the
    first line alone chose the delimiter (the title's comma) and a cp1252 byte refused the file."""
    ct = need(TS / "ct.nii.gz")
    folder = tmp_path / "Müller, J"
    folder.mkdir()
    (folder / "ct.nii.gz").symlink_to(ct)
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes("Lumbar cohort, 2026\n\nid;ct;age\nA;Müller, J/ct.nii.gz;71\n".encode("cp1252"))
    studies = discover([manifest])
    assert [(dict(s.identifiers).get("id"), s.problem) for s in studies] == [("A", None)], studies
    assert studies[0].ct.path == str(folder / "ct.nii.gz") and dict(studies[0].clinical) == {"age": "71"}
