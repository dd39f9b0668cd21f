"""``spinebq segment`` on a DICOM series: the DICOM SEG carries no patient name, ID or birth date unless
``--include-phi``, and a series without the type 2 Patient's Sex still gets its SEG."""
from __future__ import annotations

import pydicom
import pytest

from spinebq.cli import main

from .conftest import DATA, need

PLANTED = {"PatientName": "Testperson^Erika", "PatientID": "PID-778899", "PatientBirthDate": "19471103"}


@pytest.fixture(scope="module")
def named_series(tmp_path_factory):
    """The real DICOM series with a name, ID and birth date written into its headers (its own are blank) and
    Patient's Sex (0010,0040) left out, as some anonymisers do."""
    source = need(DATA / "ct_dicom")
    out = tmp_path_factory.mktemp("named_dicom")
    for path in sorted(source.iterdir()):
        ds = pydicom.dcmread(path)
        for keyword, value in PLANTED.items():
            setattr(ds, keyword, value)
        del ds.PatientSex
        ds.save_as(out / path.name)
    return out


def _patient(seg_path) -> dict:
    seg = pydicom.dcmread(seg_path)
    return {keyword: str(seg.get(keyword, "")) for keyword in PLANTED}


def test_seg_without_include_phi_carries_the_pseudonym_only(named_series, tmp_path, capsys):
    code = main(["segment", str(named_series), "--id", "study-17", "--no-preview", "--out", str(tmp_path / "seg")])
    assert code == 0, capsys.readouterr().err
    seg_path = tmp_path / "seg" / "vertebrae_seg.dcm"
    assert _patient(seg_path) == {"PatientName": "study-17^", "PatientID": "study-17", "PatientBirthDate": ""}
    raw = seg_path.read_bytes().decode("latin-1")
    for value in PLANTED.values():
        assert value.split("^")[0] not in raw
    assert str(pydicom.dcmread(seg_path).PatientSex) == ""


def test_seg_with_include_phi_keeps_the_source_patient(named_series, tmp_path, capsys):
    code = main(["segment", str(named_series), "--include-phi", "--no-preview", "--out", str(tmp_path / "seg")])
    assert code == 0, capsys.readouterr().err
    assert _patient(tmp_path / "seg" / "vertebrae_seg.dcm") == PLANTED
