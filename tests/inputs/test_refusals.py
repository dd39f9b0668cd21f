"""Each class of bad input, as a real malformed file made from ../shared/data: exit code 2, one sentence that
names the file, and ``--out`` exactly as before (a representative sample of tests/inputs/malformed.py; the whole
corpus is run by hand with tests/malformed_corpus.py)."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinebq.cli import main
from tests.conftest import need
from tests.inputs import malformed as m

TS = m.TS


@pytest.fixture(scope="module")
def ct_image():
    return nib.load(str(need(TS / "ct.nii.gz")))


def _nii(ct, tmp: Path, name: str, edit) -> Path:
    return m._raw_nii(ct, tmp / f"{name}.nii", edit)


def _image(ct, tmp: Path, name: str, array=None, affine=None, qform=None) -> Path:
    data = np.asarray(ct.dataobj).astype(np.int16) if array is None else array
    img = nib.Nifti1Image(data, ct.affine if affine is None else affine)
    if qform is not None:
        img.set_qform(qform, code=1)
        img.set_sform(ct.affine, code=1)
    return m._save(img, tmp / f"{name}.nii.gz")


def _truncated(tmp: Path, name: str, source: Path, fraction: float) -> Path:
    payload = source.read_bytes()
    path = tmp / f"{name}.nii.gz"
    path.write_bytes(payload[: int(len(payload) * fraction)])
    return path


#: (name, class, maker(ct, tmp) -> bad CT file)
CT_FILES = [
    ("truncated_gz", "truncated", lambda ct, t: _truncated(t, "truncated_gz", TS / "ct.nii.gz", 0.5)),
    ("truncated_nii", "truncated", lambda ct, t: _nii(ct, t, "truncated_nii", lambda b: b[: len(b) // 3])),
    ("sizeof_hdr", "sizeof_hdr", lambda ct, t: _nii(ct, t, "sizeof_hdr", m._put(0, "i", 1))),
    ("magic", "magic", lambda ct, t: _nii(ct, t, "magic", lambda b: b[:344] + bytearray(b"xxxx") + b[348:])),
    ("dim0", "dim", lambda ct, t: _nii(ct, t, "dim0", m._put(40, "h", 9))),
    ("four_d", "4D", lambda ct, t: _image(ct, t, "four_d", np.stack([np.asarray(ct.dataobj)] * 2, 3).astype(np.int16))),
    ("pixdim_zero", "pixdim", lambda ct, t: _nii(ct, t, "pixdim_zero", m._put(80, "f", 0.0))),
    ("pixdim_nan", "pixdim", lambda ct, t: _nii(ct, t, "pixdim_nan", m._put(84, "f", float("nan")))),
    ("pixdim_absurd", "pixdim", lambda ct, t: _nii(ct, t, "pixdim_absurd", m._put(88, "f", 1e6))),
    ("singular", "affine", lambda ct, t: _nii(ct, t, "singular", lambda b: m._put(252, "hh", 0, 1)(
        m._put(280, "12f", 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0)(b)))),
    ("qform_sform", "qform/sform", lambda ct, t: _image(ct, t, "qform_sform",
                                                        qform=ct.affine + np.pad(np.eye(3, 1) * 50, ((0, 1), (3, 0))))),
    ("slope_inf", "scaling", lambda ct, t: _nii(ct, t, "slope_inf", m._put(112, "ff", np.inf, 0.0))),
    ("complex", "data type", lambda ct, t: _image(ct, t, "complex", np.asarray(ct.dataobj).astype(np.complex64))),
    ("rgb", "data type", lambda ct, t: _nii(ct, t, "rgb", m._put(70, "h", 128))),
    ("huge", "resource guard", lambda ct, t: _nii(ct, t, "huge", m._put(40, "8h", 3, 30000, 30000, 30000, 1, 1, 1, 1))),
    ("mr_as_ct", "CT value check", lambda ct, t: TS / "mr_small.nii.gz"),
    ("labels_as_ct", "CT value check", lambda ct, t: TS / "seg_v2" / "total.nii.gz"),
]


def _refused(argv: list[str], out: Path, name: str, capsys) -> str:
    """Run ``argv`` and check exit code 2, one line naming ``name``, ``out`` unchanged; return the line."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "earlier.txt").write_text("a file the user had here\n")
    before = m.snapshot(out)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert name in err, err
    assert m.snapshot(out) == before
    assert not list(out.parent.glob(".spinebq-staging-*"))
    return err


@pytest.mark.parametrize("name, klass, make", CT_FILES, ids=[c[0] for c in CT_FILES])
def test_bad_nifti_is_one_sentence(name, klass, make, ct_image, tmp_path, capsys):
    bad = make(ct_image, tmp_path)
    before = m.snapshot(bad)
    _refused(["ct", str(bad), "--labels", str(TS / "seg_v2" / "total.nii.gz"), "--out", str(tmp_path / "out"),
              "--no-pictures", "--trajectory", "none"], tmp_path / "out", bad.name, capsys)
    assert m.snapshot(bad) == before


def test_messages_say_what_is_wrong(ct_image, tmp_path, capsys):
    say = {}
    for name, _, make in CT_FILES:
        bad = make(ct_image, tmp_path)
        main(["ct", str(bad), "--out", str(tmp_path / "o")])
        say[name] = capsys.readouterr().err
    assert "4D image" in say["four_d"] and "pixdim" in say["pixdim_zero"] and "singular" in say["singular"]
    assert "qform and the sform" in say["qform_sform"] and "complex" in say["complex"]
    assert "refused before reading" in say["huge"] and "scl_slope" in say["slope_inf"]
    assert "does not look like a CT" in say["mr_as_ct"]
    # a label map was "an MR image?" too; it is now said to be a label map, and where one goes
    assert "a label map, not a CT image" in say["labels_as_ct"] and "--labels" in say["labels_as_ct"]
    assert "label map" not in say["mr_as_ct"]


@pytest.mark.parametrize("label_map", ["lumbar_mri_t1/case02_bodies_verse.nii.gz",
                                       "totalsegmentator_example/seg_v1/vertebrae_T11.nii.gz"])
def test_a_label_map_given_as_the_mr_image_is_said_to_be_one(label_map, tmp_path, capsys):
    """The real MR body masks and a 76-voxel TotalSegmentator v1 mask (a sliver of T11) given as the MR image: refused
    as a label map, naming --labels (the rule now shared with spinebq ct and the batch, image.labelmap.label_map_reason;
    the sliver is a mask whatever its shape)."""
    from tests.conftest import DATA

    path = need(DATA / label_map)
    err = _refused(["mri", str(path), "--out", str(tmp_path / "out")], tmp_path / "out", path.name, capsys)
    assert "a label map, not an MR image" in err and "--labels" in err, err


LABELS = [
    ("ct_as_labels", lambda ids, lab, t: TS / "ct.nii.gz"),
    ("negative", lambda ids, lab, t: m._save(nib.Nifti1Image(np.where(ids > 0, -ids, 0).astype(np.int16), lab.affine),
                                             t / "negative.nii.gz")),
    ("fractional", lambda ids, lab, t: m._save(nib.Nifti1Image((ids + 0.37 * (ids > 0)).astype(np.float32), lab.affine),
                                               t / "fractional.nii.gz")),
    ("thousands", lambda ids, lab, t: m._save(nib.Nifti1Image(
        np.random.default_rng(1).integers(0, 5000, ids.shape).astype(np.int16), lab.affine), t / "thousands.nii.gz")),
    ("truncated", lambda ids, lab, t: _truncated(t, "truncated_labels", TS / "seg_v2" / "total.nii.gz", 0.5)),
]


@pytest.mark.parametrize("name, make", LABELS, ids=[c[0] for c in LABELS])
def test_bad_label_map_is_one_sentence(name, make, tmp_path, capsys):
    lab = nib.load(str(need(TS / "seg_v2" / "total.nii.gz")))
    bad = make(np.asarray(lab.dataobj).astype(np.int32), lab, tmp_path)
    _refused(["ct", str(TS / "ct.nii.gz"), "--labels", str(bad), "--out", str(tmp_path / "out"), "--no-pictures",
              "--trajectory", "none"], tmp_path / "out", bad.name, capsys)


DICOM = [
    ("ipp_text", m._set_raw("ImagePositionPatient", b"abc\\def\\ghi"), slice(3, 4)),
    ("slope_nan", m._set_raw("RescaleSlope", b"nan"), slice(5, 6)),
    ("slope_negative", m._set_raw("RescaleSlope", b"-1"), slice(5, 6)),
    ("rows_wrong", lambda ds: setattr(ds, "Rows", 256), slice(4, 5)),
    ("mislabelled_jpegls", lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", "1.2.840.10008.1.2.4.80"), slice(6, 7)),
    ("mislabelled_uncompressed", lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", "1.2.840.10008.1.2.1"),
     slice(6, 7)),
    ("spacing_zero", m._set_raw("PixelSpacing", b"0\\0"), slice(None)),
]


@pytest.mark.parametrize("name, edit, which", DICOM, ids=[c[0] for c in DICOM])
def test_bad_dicom_is_one_sentence(name, edit, which, tmp_path, capsys):
    need(TS / "ct_dicom")
    folder, files = m._dicom_copy(tmp_path, name)
    m._edit_slices(files, edit, which)
    err = _refused(["ct", str(folder), "--labels", str(TS / "ct_dicom_seg.nii.gz"), "--out", str(tmp_path / "out"),
                    "--no-pictures", "--trajectory", "none"], tmp_path / "out", str(folder), capsys)
    assert ".dcm" in err or name in ("spacing_zero",) or "CT." in err


def test_minimal_dicom_header_is_accepted(tmp_path):
    """No PatientID, no equipment, no UIDs: still a CT series that loads."""
    from spinebq.io.volume import load_volume

    need(TS / "ct_dicom")
    folder, files = m._dicom_copy(tmp_path, "minimal")

    def strip(ds):
        for keyword in ("PatientID", "PatientName", "Manufacturer", "ManufacturerModelName", "KVP",
                        "ConvolutionKernel", "StudyInstanceUID", "SeriesInstanceUID"):
            if keyword in ds:
                delattr(ds, keyword)
    m._edit_slices(files, strip)
    volume = load_volume(folder, expect_modality="CT")
    assert volume.shape[2] == 20 and volume.metadata["manufacturer"] is None


def test_two_patients_in_one_dicom_folder_are_listed(tmp_path, capsys):
    """Never resolved by "most slices": the series are listed (pseudonymously) and --series is asked for."""
    need(TS / "ct_dicom")
    folder = m.two_patient_folder(tmp_path / "two")
    err = _refused(["ct", str(folder), "--out", str(tmp_path / "out")], tmp_path / "out", str(folder), capsys)
    assert "--series" in err and "2 patient(s)" in err and "patient 1" in err and "patient 2" in err
    assert "PAT-A" not in err and "Test^" not in err  # pseudonymous
    import pydicom

    uid = str(pydicom.dcmread(next((folder / "B").iterdir())).SeriesInstanceUID)
    assert uid in err
    from spinebq.io.volume import load_volume

    chosen = load_volume(folder, series_uid=uid, expect_modality="CT")
    assert chosen.metadata["series_uid"] == uid and chosen.metadata["series_description"] == "series of B"



def test_two_patients_in_one_dicom_series_are_named_as_such(tmp_path, capsys):
    """Patient B's files carry patient A's series UID (one series, two PatientIDs): refused as two patients, not as
    "two slices share one position", without naming either patient."""
    need(TS / "ct_dicom")
    import pydicom

    folder = m.two_patient_folder(tmp_path / "two")
    series = str(pydicom.dcmread(next((folder / "A").iterdir())).SeriesInstanceUID)
    m._edit_slices(sorted((folder / "B").iterdir()), lambda ds: setattr(ds, "SeriesInstanceUID", series))
    err = _refused(["ct", str(folder), "--out", str(tmp_path / "out")], tmp_path / "out", series, capsys)
    assert "holds the images of 2 patients" in err and "share one position" not in err, err
    assert "PAT-A" not in err and "PAT-B" not in err and "Test^" not in err



def test_a_series_without_uid_is_listed_so_that_it_can_be_chosen(tmp_path, capsys):
    """The real DICOM CT (anonymised: blank SeriesInstanceUID) beside the real QRM phantom series, two patients: the
    listing shows the blank UID as "" with a word (it was an empty place), and --series "" loads that series."""
    import shutil

    need(TS / "ct_dicom")
    qrm = need(TS.parent / "qrm_phantom_ct" / "dicom")
    folder = tmp_path / "two"
    shutil.copytree(TS / "ct_dicom", folder / "ct")
    shutil.copytree(qrm, folder / "qrm")
    err = _refused(["ct", str(folder), "--out", str(tmp_path / "out")], tmp_path / "out", str(folder), capsys)
    assert 'give one series UID: "" (the series has no SeriesInstanceUID) (patient' in err, err
    from spinebq.io.volume import load_volume

    assert load_volume(folder, series_uid="", expect_modality="CT").shape[2] == 20


JSONS = [
    ("trajectory", "top_string", b'"hello"'), ("trajectory", "nan", b'{"screws": [{"level": "L4", "side": "left", '
                                                                      b'"entry": [NaN, 0, 0], "target": [1, 2, 3]}]}'),
    ("trajectory", "deep", b"[" * 5000 + b"]" * 5000), ("trajectory", "binary", bytes(range(256))),
    ("phantom", "negative", b'{"rods_mg_cm3": [0, 50, -1000, 200]}'), ("phantom", "missing", b'{"material": "hydroxyapatite"}'),
    ("equations", "zero_slope", b'[{"slope_hu_per_mg_cm3": 0, "intercept_hu": 1}]'),
    ("equations", "null", b'[{"slope_hu_per_mg_cm3": null, "intercept_hu": 1}]'),
]


@pytest.mark.parametrize("kind, label, payload", JSONS, ids=[f"{k}_{v}" for k, v, _ in JSONS])
def test_bad_json_is_one_sentence_naming_the_field(kind, label, payload, tmp_path, capsys):
    need(TS / "seg_v2" / "total.nii.gz")
    bad = tmp_path / f"{kind}_{label}.json"
    bad.write_bytes(payload)
    option = {"trajectory": ["--trajectory", str(bad)], "phantom": ["--calibration", "phantom", "--phantom", str(bad)],
              "equations": ["--calibration", str(bad)]}[kind]
    err = _refused(["ct", str(TS / "ct.nii.gz"), "--labels", str(TS / "seg_v2" / "total.nii.gz"), *option, "--out",
                    str(tmp_path / "out"), "--no-pictures"], tmp_path / "out", bad.name, capsys)
    if label in ("negative", "zero_slope", "null"):
        assert "field" in err  # the field is named: rods_mg_cm3[2], equations[0].slope_hu_per_mg_cm3
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, flag", [
    (["ct", "CT", "--metal-hu", "nan"], "--metal-hu"), (["ct", "CT", "--screw-diameter", "0"], "--screw-diameter"),
    (["ct", "CT", "--shell-mm", "-5"], "--shell-mm"), (["phantom", "--spacing", "0.01,1,1"], "--spacing"),
    (["phantom", "--seed", "-1"], "--seed"), (["stats", "--example", "001", "--roc-bootstrap", "-5"], "--roc-bootstrap"),
])
def test_cli_numbers_are_checked_before_any_file_is_read(argv, flag, tmp_path, capsys):
    """The CT named here does not exist: the number is refused first."""
    argv = [str(tmp_path / "missing.nii.gz") if a == "CT" else a for a in argv]
    _refused([*argv, "--out", str(tmp_path / "out")], tmp_path / "out", flag, capsys)


def test_assess_refuses_bad_nomogram_and_clinical(tmp_path, capsys, real_ct_dir):
    bad = tmp_path / "nomogram.json"
    bad.write_text(json.dumps({"intercept": 1.0, "coefficients": {"age": "a lot"}}))
    err = _refused(["assess", "--ct", str(real_ct_dir), "--nomogram", str(bad), "--out", str(tmp_path / "out")],
                   tmp_path / "out", bad.name, capsys)
    assert "coefficients.age" in err
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("field,value\nage,-4\n")
    err = _refused(["assess", "--ct", str(real_ct_dir), "--clinical", str(clinical), "--out", str(tmp_path / "out")],
                   tmp_path / "out", clinical.name, capsys)
    assert "age" in err


@pytest.mark.parametrize("name, text, said", [
    ("misspelt.json", json.dumps({"age": 71, "Sex": "F", "hip_tscore": -2.0}),
     ["'Sex' (did you mean 'sex'?)", "'hip_tscore' (did you mean 'hip_t_score'?)", "age, sex, bmi_kg_m2"]),
    ("misspelt.csv", "field,value\nage,71\nSex,F\n", ["'Sex' (did you mean 'sex'?)", "hip_t_score"]),
    ("two_patients.csv", "age,sex\n71,F\n64,M\n", ["3 row(s) of 2 cell(s)", "one header row", "field,value rows"]),
    ("repeated.csv", "field,value\nage,71\nage,64\n", ["'age' twice"]),
])
def test_assess_refuses_unknown_clinical_fields_and_layouts(name, text, said, tmp_path, capsys, real_ct_dir):
    """A misspelt field is refused naming it and the known ones, never left out silently; a CSV in neither layout
    is refused naming the layouts read."""
    clinical = tmp_path / name
    clinical.write_text(text)
    err = _refused(["assess", "--ct", str(real_ct_dir), "--clinical", str(clinical), "--out", str(tmp_path / "out")],
                   tmp_path / "out", clinical.name, capsys)
    for words in said:
        assert words in err, (words, err)


@pytest.mark.parametrize("schema, document, field", [
    ("CalibrationEquations", [{"slope_hu_per_mg_cm3": True, "intercept_hu": 64.75}], "slope_hu_per_mg_cm3"),
    ("CalibrationEquations", [{"slope_hu_per_mg_cm3": 1.2456, "intercept_hu": 64.75, "kvp": True}], "kvp"),
    ("TrajectoryFile", {"screws": [{"level": "L4", "side": "left", "entry_mm": [0, 0, 0], "target_mm": [0, 40, 0],
                                    "diameter_mm": True}]}, "diameter_mm"),
    ("PhantomSpec", {"rois": [{"density_mg_cm3": 100, "hu": True}, {"density_mg_cm3": 200, "hu": 300}]}, "hu"),
])
def test_a_json_true_is_no_number_in_any_user_file(schema, document, field, tmp_path):
    """An equations file with ``"slope_hu_per_mg_cm3": true`` was read as a slope of 1 HU per mg/cm3 (and a kVp of
    ``true`` as 1 kV); a screw of ``"diameter_mm": true`` as 1 mm; an insert's ``"hu": true`` as 1 HU. Every number
    field of a user file refuses a yes/no value, as the clinical and nomogram files do."""
    from spinebq.errors import SpinebqError
    from spinebq.io import schemas

    path = tmp_path / "file.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SpinebqError, match=f"{field}.*yes/no value, not a number"):
        schemas.read_validated(getattr(schemas, schema), path, "file")


def test_a_damaged_dicom_seg_given_as_labels_is_one_sentence(tmp_path, capsys):
    """The SEG `spinebq segment` writes for the real DICOM series, cut short (in its header, in its pixel data): an
    internal error ("no attribute 'SegmentSequence'", "bytes of pixel data is less than expected") before; now one
    sentence naming the file, and no output folder."""
    from tests.conftest import TS

    series = need(TS / "ct_dicom")
    assert main(["segment", str(series), "--out", str(tmp_path / "S")]) == 0
    whole = (tmp_path / "S" / "vertebrae_seg.dcm").read_bytes()
    for name, length in (("header_cut", 3000), ("pixels_cut", len(whole) // 4)):
        bad = tmp_path / f"{name}.dcm"
        bad.write_bytes(whole[:length])
        err = _refused(["ct", str(series), "--labels", str(bad), "--out", str(tmp_path / "out"), "--no-pictures"],
                       tmp_path / "out", bad.name, capsys)
        assert "the DICOM SEG is damaged or incomplete" in err, err
