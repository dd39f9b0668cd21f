"""Seam sweep 6: a pseudonym the source series' character set cannot write (``--id 王伟`` on a Latin-1 series)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pydicom

from spinebq.cli import main
from spinebq.io.dicom import load_dicom
from spinebq.segment.ct.dicom_seg import write_dicom_seg
from tests.conftest import TS, need

#: A pseudonym in Chinese, and one Latin-1 writes as it is.
PSEUDONYMS = ("王伟", "José Ñúñez")


def _patient(path) -> tuple[str, str, str]:
    ds = pydicom.dcmread(path)
    return str(ds.PatientName), str(ds.PatientID), str(ds.SpecificCharacterSet)


def test_the_sr_carries_the_pseudonym_given(tmp_path, capsys):
    """``spinebq report --dicom --id 王伟`` on the real series (Specific Character Set ISO_IR 100, Latin-1): the SR's
    Patient's Name and Patient ID were written as "??" without a word, so a PACS would file it with any other
    report whose pseudonym Latin-1 cannot write. The SR is now UTF-8 (ISO_IR 192) where needed."""
    series = need(TS / "ct_dicom")
    assert str(pydicom.dcmread(next(series.iterdir()), stop_before_pixels=True).SpecificCharacterSet) == "ISO_IR 100"
    ct = tmp_path / "ct"
    assert main(["ct", str(series), "--labels", str(need(TS / "ct_dicom_seg.nii.gz")), "--trajectory", "none",
                 "--no-pictures", "--out", str(ct)]) == 0
    for i, pseudonym in enumerate(PSEUDONYMS):
        out = tmp_path / f"report{i}"
        assert main(["report", "--ct", str(ct), "--dicom", str(series), "--id", pseudonym, "--no-pdf",
                     "--out", str(out)]) == 0, capsys.readouterr().err
        name, patient_id, charset = _patient(out / "measurements_sr.dcm")
        assert (name, patient_id) == (f"{pseudonym}^", pseudonym)
        assert charset == ("ISO_IR 100" if i else "ISO_IR 192")  # Latin-1 kept where it writes the pseudonym


def test_the_seg_carries_the_pseudonym_given(tmp_path):
    """The same for the DICOM SEG of ``spinebq segment --id``."""
    series = need(TS / "ct_dicom")
    ct = load_dicom(series)
    labels = np.zeros(ct.shape, np.int16)
    labels[200:300, 200:300, 5:15] = 20  # L1 (VerSe)
    path = write_dicom_seg(replace(ct, array=labels), series, tmp_path / "seg.dcm", patient_id=PSEUDONYMS[0])
    assert _patient(path) == (f"{PSEUDONYMS[0]}^", PSEUDONYMS[0], "ISO_IR 192")
