"""DICOM SR (TID 1500) round trip and the absence of patient-identifying data in every report output."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from spinebq.cli import main
from tests.conftest import TS, need

PLANTED = {"PatientName": "Testperson^Erika", "PatientID": "PID-778899", "PatientBirthDate": "19471103"}


@pytest.fixture(scope="module")
def phi_series(tmp_path_factory):
    """The real DICOM series with a name, ID and birth date written into its headers (its own are blank)."""
    source = need(TS / "ct_dicom")
    real = pydicom.dcmread(sorted(source.iterdir())[0], stop_before_pixels=True)
    print("real header:", {k: str(real.get(k, "")) for k in PLANTED})
    out = tmp_path_factory.mktemp("phi_dicom")
    for path in sorted(source.iterdir()):
        ds = pydicom.dcmread(path)
        for keyword, value in PLANTED.items():
            setattr(ds, keyword, value)
        ds.save_as(out / path.name)
    return out


@pytest.fixture(scope="module")
def phi_outputs(phi_series, tmp_path_factory):
    labels = str(need(TS / "ct_dicom_seg.nii.gz"))
    base = tmp_path_factory.mktemp("phi_out")
    assert main(["ct", str(phi_series), "--labels", labels, "--out", str(base / "ct")]) == 0
    assert main(["report", "--ct", str(base / "ct"), "--dicom", str(phi_series), "--id", "study-17",
                 "--out", str(base / "report")]) == 0
    assert main(["ct", str(phi_series), "--labels", labels, "--include-phi", "--out", str(base / "ct_phi")]) == 0
    assert main(["report", "--ct", str(base / "ct_phi"), "--dicom", str(phi_series), "--include-phi",
                 "--out", str(base / "report_phi")]) == 0
    return base


def _texts(folder):
    """Every output file as text (PDF through pdftotext when present, DICOM as its element values)."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".json", ".csv", ".html"):
            texts[path.name] = path.read_text(errors="replace")
        elif path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            texts[path.name] = str(ds) + path.read_bytes().decode("latin-1")
        elif path.suffix == ".pdf":
            raw = path.read_bytes().decode("latin-1")
            exe = shutil.which("pdftotext")
            texts[path.name] = raw + (subprocess.run([exe, str(path), "-"], capture_output=True, text=True).stdout if exe else "")
    return texts


def test_no_name_id_or_birth_date_without_include_phi(phi_outputs):
    texts = {**_texts(phi_outputs / "ct"), **_texts(phi_outputs / "report")}
    assert {"report.html", "report.pdf", "assessment.json", "measurements_sr.dcm", "measurements.json"} <= set(texts)
    for name, text in texts.items():
        for value in PLANTED.values():
            for form in {value, value.replace("^", " "), value.split("^")[0]}:
                assert form not in text, f"{form} found in {name}"
    sr = pydicom.dcmread(phi_outputs / "report" / "measurements_sr.dcm")
    assert str(sr.PatientID) == "study-17" and str(sr.PatientBirthDate) == ""
    assert "study-17" in texts["report.html"]


def test_include_phi_shows_them(phi_outputs):
    texts = _texts(phi_outputs / "report_phi")
    assert PLANTED["PatientID"] in texts["report.html"] and "Testperson" in texts["report.html"]
    sr = pydicom.dcmread(phi_outputs / "report_phi" / "measurements_sr.dcm")
    assert str(sr.PatientID) == PLANTED["PatientID"] and str(sr.PatientBirthDate) == PLANTED["PatientBirthDate"]


def test_sr_of_the_real_series_references_it_and_reloads(phi_outputs, phi_series):
    from spinebq.report.sr import measurement_groups, read_measurement_sr

    doc = json.loads((phi_outputs / "ct" / "measurements.json").read_text())
    path = phi_outputs / "report" / "measurements_sr.dcm"
    assert read_measurement_sr(path) == measurement_groups(doc)
    sr = pydicom.dcmread(path)
    referenced = {str(item.ReferencedSOPInstanceUID) for s in sr.CurrentRequestedProcedureEvidenceSequence
                  for series in s.ReferencedSeriesSequence for item in series.ReferencedSOPSequence}
    source = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.MediaStorageSOPInstanceUID) for p in phi_series.iterdir()}
    assert referenced == source


@pytest.fixture(scope="module")
def phantom_dicom(tmp_path_factory):
    """The synthetic phantom (known truth) written as a DICOM series, measured through the Python API."""
    from spinebq.io.volume import load_volume
    from spinebq.synthetic.ct import make_ct_phantom
    from spinebq.pipeline import CtOptions, analyse_ct
    from spinebq.report.files import to_jsonable
    from tests.dicom_writer import write_ct_series

    ph = make_ct_phantom()
    folder = tmp_path_factory.mktemp("phantom_dicom")
    sp = ph.ct.spacing_mm
    nz = ph.ct.shape[2]
    # the writer stores HU + 1024 as unsigned 16 bit: clip the noisy air at -1024 HU
    write_ct_series(folder, np.clip(np.round(ph.ct.array), -1024, 3000).astype(np.int16).transpose(1, 0, 2), spacing_mm=(sp[1], sp[0]),
                    z_positions_mm=list(np.arange(nz) * sp[2]))
    ct = load_volume(folder)
    assert ct.shape == ph.ct.shape
    labels = ct.with_array(ph.labels.array.astype(np.int16))
    labels.metadata = dict(ph.labels.metadata)
    record = analyse_ct(ct, labels, CtOptions(trajectory="none"))
    doc = json.loads(json.dumps(to_jsonable(record.to_json())))
    return folder, doc, ph


def test_sr_round_trip_numbers_equal_the_json(phantom_dicom, tmp_path):
    from spinebq.report.sr import measurement_groups, read_measurement_sr, write_measurement_sr

    folder, doc, ph = phantom_dicom
    path = write_measurement_sr(doc, folder, tmp_path / "sr.dcm", patient_id="phantom")
    back = read_measurement_sr(path)
    expected = measurement_groups(doc)
    assert set(back) == set(expected) and len(back) >= 5
    measured = [lv for lv, v in doc["vertebrae"].items() if v.get("hu_3d") is not None]
    print("measured phantom levels:", measured)
    assert len(measured) >= 5
    for level, values in expected.items():
        assert back[level] == values, level
        if level not in measured:
            continue
        assert "hu_3d" in values and "hu_2d" in values
        truth = ph.truth["levels"][level]["trabecular_hu"] if level in ph.truth["levels"] else None
        if truth is not None and level != "S1":
            assert abs(values["hu_3d"] - truth) < 5  # the SR carries the phantom's true density
    # a valid SR: highdicom reads it as TID 1500 with units and vertebra finding sites
    import highdicom as hd

    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(path))
    group = sr.content.get_image_measurement_groups()[0]
    m = group.get_measurements()[0]
    assert m.unit.scheme_designator == "UCUM"
    assert group.finding_sites[0].value.scheme_designator == "SCT"
    ref = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].SeriesInstanceUID
    assert ref == pydicom.dcmread(sorted(folder.iterdir())[0], stop_before_pixels=True).SeriesInstanceUID


def test_sr_on_a_folder_of_another_series_says_so(phantom_dicom, tmp_path):
    """--dicom pointing at the real series while the phantom series was measured: the refusal names the measured
    series instead of claiming the folder holds no image slices, and no SR is written."""
    from spinebq.errors import SpinebqError
    from spinebq.report.sr import write_measurement_sr

    _, doc, _ = phantom_dicom
    measured = doc["input"]["series_uid"]
    with pytest.raises(SpinebqError, match=re.escape(f"no slice of the measured series {measured}")):
        write_measurement_sr(doc, need(TS / "ct_dicom"), tmp_path / "sr.dcm")
    assert not (tmp_path / "sr.dcm").exists()


def test_sr_carries_the_acr_category_when_calibrated(tmp_path):
    """The phantom with its four hydroxyapatite rods, written as a DICOM series and calibrated: page one and
    measurements.json give the ACR category of the summary levels' mean vBMD; the SR carried only each level's vBMD.
    It now carries a summary group (the lumbar spine, the levels used): the mean vBMD and the ACR category as a
    qualitative evaluation, read back equal to the JSON; uncalibrated, no such group."""
    import highdicom as hd

    from spinebq.io.volume import load_volume
    from spinebq.pipeline import CtOptions, analyse_ct
    from spinebq.report.files import to_jsonable
    from spinebq.report.sr import read_measurement_sr, write_measurement_sr
    from tests.dicom_writer import write_ct_series

    assert main(["phantom", "--out", str(tmp_path / "ph"), "--rods"]) == 0
    phantom = load_volume(tmp_path / "ph" / "ct.nii.gz")
    folder = tmp_path / "dicom"
    sp = phantom.spacing_mm
    write_ct_series(folder, np.clip(np.round(phantom.array), -1024, 3000).astype(np.int16).transpose(1, 0, 2),
                    spacing_mm=(sp[1], sp[0]), z_positions_mm=list(np.arange(phantom.shape[2]) * sp[2]))
    ct = load_volume(folder)
    labels = ct.with_array(load_volume(tmp_path / "ph" / "labels.nii.gz").array.astype(np.int16))
    options = CtOptions(trajectory="none", calibration="phantom", phantom=str(tmp_path / "ph" / "phantom_rods.json"))
    doc = json.loads(json.dumps(to_jsonable(analyse_ct(ct, labels, options).to_json())))
    summary = doc["summary"]
    assert summary["acr_category"] in ("osteoporosis", "low_bone_mass", "normal")
    back = read_measurement_sr(write_measurement_sr(doc, folder, tmp_path / "sr.dcm"))
    assert back["summary"]["acr_category"] == summary["acr_category"]
    assert back["summary"]["vbmd_mg_cm3"] == pytest.approx(summary["vbmd_mg_cm3"])
    assert back["summary"]["levels"] == ", ".join(summary["levels_used"])
    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(tmp_path / "sr.dcm"))
    group = sr.content.get_image_measurement_groups()[-1]
    assert "[acr2018qct]" in group.get_qualitative_evaluations()[0].name.meaning
    assert group.finding_sites[0].value.scheme_designator == "SCT"
    uncalibrated = json.loads(json.dumps(to_jsonable(analyse_ct(ct, labels, CtOptions(trajectory="none")).to_json())))
    assert "summary" not in read_measurement_sr(write_measurement_sr(uncalibrated, folder, tmp_path / "plain.dcm"))
