"""Discovery of studies and choice of series (spinebq.batch.discover) on a PACS-export tree, NIfTI folders and manifests."""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinebq.batch.discover import discover, kernel_class, patient_key, study_key, t1_weighting
from spinebq.errors import SpinebqError
from spinebq.io.volume import load_volume
from tests.batch.dicom_tree import REAL_CT_DICOM, write_axial_volume
from tests.conftest import TS, need
from tests.dicom_writer import cylinder_ct


@pytest.fixture(scope="module")
def found(dicom_tree):
    root, _ = dicom_tree
    return {study.key: study for study in discover([root])}


def _studies(expected: dict):
    for label, patient in expected.items():
        for key, study in patient["studies"].items():
            yield label, key, patient, study


def test_one_study_per_expected_study_and_nothing_else(dicom_tree, found):
    _, expected = dicom_tree
    assert sorted(found) == sorted(key for _, key, _, _ in _studies(expected))
    assert len(expected) >= 8


@pytest.mark.parametrize("label", ["real", "kern", "cont", "ctmr", "loc", "bad", "cyl", "nopid", "mr2"])
def test_choice_problem_and_reasons_of_each_patient(dicom_tree, found, label):
    _, expected = dicom_tree
    if label == "real":
        need(REAL_CT_DICOM)
    patient = expected[label]
    for key, want in patient["studies"].items():
        study = found[key]
        assert study.patient_key == patient["patient_key"]
        for role in ("ct", "mri", "axial"):
            got = getattr(study, role)
            assert (got.series_uid if got else None) == want[role], f"{label} {role}"
        if want["problem"] is None:
            assert study.problem is None, study.problem
        else:
            assert want["problem"] in study.problem
        reasons = {p.series.series_uid: p.reason for p in study.passed_over}
        assert set(reasons) == set(want["passed_over"]), reasons
        for series_uid, words in want["passed_over"].items():
            assert words in reasons[series_uid], (words, reasons[series_uid])
        assert all(r.endswith(".") and r.count(". ") == 0 for r in reasons.values())
        roles = sum(getattr(study, r) is not None for r in ("ct", "mri", "axial"))
        assert len(study.choice) == roles
        for words in want["choice"]:
            assert any(words in sentence for sentence in study.choice), (words, study.choice)


def test_patient_with_ct_and_mr_studies_shares_one_patient_key(dicom_tree, found):
    _, expected = dicom_tree
    keys = list(expected["ctmr"]["studies"])
    assert len(keys) == 2 and found[keys[0]].patient_key == found[keys[1]].patient_key
    assert {found[k].ct is not None for k in keys} == {True, False}


def test_series_records_describe_the_chosen_series(dicom_tree, found):
    root, expected = dicom_tree
    kern = found[next(iter(expected["kern"]["studies"]))].ct
    assert kern.modality == "CT" and kern.orientation == "axial" and kern.kernel == "Br40"
    assert kern.slice_thickness_mm == 3.0 and kern.n_images == 66 and kern.extent_mm == pytest.approx(195.0)
    assert kern.path == str(root / "PAT_KERN" / "STUDY1" / "SER3")
    mri = next(s.mri for s in found.values() if s.mri is not None)
    assert mri.orientation == "sagittal" and mri.modality == "MR"


def test_keys_stable_and_identifiers_only_in_identifiers(dicom_tree, found):
    root, expected = dicom_tree
    again = discover([root], threads=1)
    assert [asdict(s) for s in again] == [asdict(found[k]) for k in sorted(found)]
    assert [s.key for s in again] == sorted(s.key for s in again)
    for label, key, patient, want in _studies(expected):
        study = found[key]
        assert key == study_key(want["study_uid"])
        public = " ".join([study.key, study.patient_key, *study.choice, *(p.reason for p in study.passed_over)])
        for phi in patient["phi"]:
            assert phi not in public, (label, phi)
        names = dict(study.identifiers)
        assert names["StudyInstanceUID"] == want["study_uid"]
        assert set(names) <= {"PatientID", "AccessionNumber", "StudyInstanceUID", "StudyDate"}
        if label != "nopid":
            assert names["PatientID"] in patient["phi"]
        else:
            assert "PatientID" not in names


def test_progress_reports_every_file(dicom_tree):
    root, _ = dicom_tree
    calls = []
    discover([root], threads=2, progress=lambda done, total: calls.append((done, total)))
    n_files = sum(len(files) for _, _, files in os.walk(root))
    assert calls[-1] == (n_files, n_files) and len(calls) == n_files
    assert [d for d, _ in calls] == list(range(1, n_files + 1))


def test_chosen_series_load_with_the_loader(dicom_tree, found):
    from spinebq.synthetic.ct import make_ct_phantom
    from tests.batch.dicom_tree import PHANTOM_FOV_MM, PHANTOM_SPACING_MM

    _, expected = dicom_tree
    truth = make_ct_phantom(spacing_mm=PHANTOM_SPACING_MM, fov_mm=PHANTOM_FOV_MM, noise_hu=8.0).truth["levels"]
    loaded = 0
    for _, key, _, want in _studies(expected):
        study = found[key]
        if study.ct is not None:
            volume = load_volume(study.ct.path, series_uid=study.ct.series_uid, expect_modality="CT")
            assert volume.metadata["series_uid"] == study.ct.series_uid
            assert volume.shape[2] == study.ct.n_images
            if want["ct_is_phantom"]:  # the phantom series hold L1-L4 whole
                z = volume.index_to_mm(np.array([[0, 0, 0], [0, 0, volume.shape[2] - 1]]))[:, 2]
                for level in ("L1", "L2", "L3", "L4"):
                    centre, half = truth[level]["centre_mm"][2], truth[level]["height_mm"] / 2
                    assert z.min() <= centre - half and centre + half <= z.max(), level
            loaded += 1
        for role in ("mri", "axial"):
            series = getattr(study, role)
            if series is not None:
                volume = load_volume(series.path, series_uid=series.series_uid, expect_modality="MR")
                assert volume.metadata["series_uid"] == series.series_uid
                loaded += 1
    assert loaded >= 7


def test_uid_less_export_is_grouped_by_folder_and_still_loads(tmp_path):
    study = {"PatientName": "Anon^Ymous", "PatientID": "", "AccessionNumber": "", "StudyDate": "20230101",
             "StudyInstanceUID": ""}
    root = tmp_path / "export"
    write_axial_volume(root / "a" / "CT", cylinder_ct(32, 32, 12).astype(float), np.diag([1.5, 1.5, 2.0, 1.0]),
                       study=study, series_uid="", SeriesDescription="Body", ConvolutionKernel="B30f",
                       SliceThickness=2.0)
    (studies,) = discover([root])
    assert studies.problem is None and studies.ct.series_uid is None
    assert studies.identifiers == (("StudyDate", "20230101"),)
    assert studies == discover([root])[0]
    volume = load_volume(studies.ct.path, series_uid=studies.ct.series_uid, expect_modality="CT")
    assert volume.shape[2] == 12


def test_a_copied_study_is_said(tmp_path, caplog):
    """A radiologist's folder holding one CT twice (a NIfTI file and its copy; the real anonymised DICOM series and
    a copy of its folder, which without UIDs are two studies): each copy was measured as a study of its own and
    counted twice in the cohort without a word. Discovery now names the studies that hold the same files."""
    import logging
    import shutil

    nifti = tmp_path / "in" / "nifti"
    nifti.mkdir(parents=True)
    for name in ("case.nii.gz", "case_copy.nii.gz"):
        shutil.copy(need(TS / "ct.nii.gz"), nifti / name)
    for name in ("a", "b"):
        shutil.copytree(need(REAL_CT_DICOM), tmp_path / "in" / "dicom" / name)
    with caplog.at_level(logging.INFO, logger="spinebq"):
        studies = discover([tmp_path / "in"])
    assert len(studies) == 4
    said = [r.getMessage() for r in caplog.records if "hold the same image files" in r.getMessage()]
    by_file = {Path(s.ct.path).name: s.key for s in studies}
    assert f"studies {' and '.join(sorted([by_file['case.nii.gz'], by_file['case_copy.nii.gz']]))} hold" in " ".join(said)
    dicom = sorted(s.key for s in studies if not s.ct.path.endswith(".nii.gz"))
    assert f"studies {' and '.join(dicom)} hold" in " ".join(said), said


def test_a_skipped_studys_reason_names_the_series_passed_over(dicom_tree, found):
    """mr2 (a sagittal T2 and a 3-slice T1): the reason said "each is listed with its reason under passed over", but
    a skipped study gets no folder, so no file the user opens listed them (only the ledger's SQLite). The reason
    now carries them."""
    (study,) = [s for s in found.values() if s.problem and s.problem.startswith("no usable")]
    assert study.passed_over and "under passed over" not in study.problem
    for passed in study.passed_over:
        assert passed.reason.rstrip(".") in study.problem, (passed.reason, study.problem)


def test_a_study_exported_twice_is_read_once(tmp_path):
    """One study (with its UIDs) exported twice into one tree, as a radiologist's PACS folder often holds it: each
    image came twice, so the series held "two slices at one position", the study was skipped (no usable series)
    and `spinebq ct` on the tree refused it. Each image (SOPInstanceUID) is now read once, from the first folder."""
    import shutil

    study = {"PatientName": "Twice^Exported", "PatientID": "PID-TWICE", "AccessionNumber": "ACC2",
             "StudyDate": "20230101", "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1"}
    root = tmp_path / "pacs"
    write_axial_volume(root / "export1" / "CT", cylinder_ct(32, 32, 12).astype(float), np.diag([1.5, 1.5, 2.0, 1.0]),
                       study=study, series_uid="1.2.826.0.1.3680043.8.498.2", SeriesDescription="Body",
                       ConvolutionKernel="B30f", SliceThickness=2.0)
    shutil.copytree(root / "export1", root / "export2")
    (found,) = discover([root])
    assert found.problem is None and found.ct.n_images == 12, found
    assert Path(found.ct.path) == root / "export1" / "CT"
    for folder in (found.ct.path, root):  # the batch's series folder, and the whole tree given to spinebq ct
        assert load_volume(folder, series_uid=found.ct.series_uid, expect_modality="CT").shape[2] == 12


def test_two_inputs_holding_parts_of_one_study_give_one_study(dicom_tree, tmp_path):
    root, expected = dicom_tree
    key = next(iter(expected["kern"]["studies"]))
    studies = discover([root / "PAT_KERN" / "STUDY1" / "SER3", root / "PAT_KERN" / "STUDY1" / "SER5"])
    assert [s.key for s in studies] == [key]
    assert studies[0].ct.series_uid == expected["kern"]["studies"][key]["ct"]
    assert len(studies[0].passed_over) == 1


# ------------------------------------------------------------------------------------------ NIfTI folders


@pytest.fixture
def nifti_folder(tmp_path) -> Path:
    need(TS / "ct.nii.gz")
    folder = tmp_path / "nifti"
    (folder / "site2").mkdir(parents=True)
    (folder / "case_a.nii.gz").symlink_to(TS / "ct.nii.gz")
    (folder / "case_a_seg.nii.gz").symlink_to(TS / "seg_v2" / "total.nii.gz")
    (folder / "site2" / "case_b.nii.gz").symlink_to(TS / "ct.nii.gz")
    (folder / "site2" / "orphan_labels.nii.gz").symlink_to(TS / "seg_v2" / "total.nii.gz")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_nifti_folder_one_study_per_image_with_its_label_map(nifti_folder):
    studies = discover([nifti_folder])
    by_key = {s.key: s for s in studies}
    assert sorted(by_key) == sorted([study_key("case_a.nii.gz"), study_key("site2/case_b.nii.gz")])
    a = by_key[study_key("case_a.nii.gz")]
    assert a.ct.path == str(nifti_folder / "case_a.nii.gz") and a.ct.modality is None
    assert a.labels == str(nifti_folder / "case_a_seg.nii.gz")
    assert a.patient_key == patient_key("case_a.nii.gz") and a.problem is None and a.mri is None
    b = by_key[study_key("site2/case_b.nii.gz")]
    assert b.labels is None
    assert load_volume(a.ct.path, expect_modality="CT").shape == (122, 101, 112)
    header = nib.load(TS / "ct.nii.gz")  # images, extent and plane from the NIfTI header, as DICOM headers give them
    assert a.ct.n_images == header.shape[2] and a.ct.orientation == "axial"
    assert a.ct.extent_mm == pytest.approx((header.shape[2] - 1) * header.header.get_zooms()[2], abs=0.01)
    assert "case_a" not in a.choice[0] and "label map" in a.choice[0]
    assert discover([nifti_folder]) == studies


def test_unreadable_nifti_is_a_skipped_study_with_a_reason_naming_no_path(nifti_folder):
    (nifti_folder / "broken.nii.gz").write_bytes(b"not a NIfTI image")
    broken = {s.key: s for s in discover([nifti_folder])}[study_key("broken.nii.gz")]
    assert broken.problem.startswith("the NIfTI file cannot be read as NIfTI") and "broken" not in broken.problem


def test_single_nifti_file_is_one_study(nifti_folder):
    (study,) = discover([nifti_folder / "site2" / "case_b.nii.gz"])
    assert study.key == study_key("case_b.nii.gz") and study.ct.path.endswith("case_b.nii.gz")


# ------------------------------------------------------------------------------------------ manifests


def _write_manifest(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_manifest_rows_relative_paths_clinical_columns_and_missing_paths(dicom_tree, tmp_path):
    need(TS / "ct.nii.gz")
    root, expected = dicom_tree
    folder = tmp_path / "cohort"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.nii.gz").symlink_to(TS / "ct.nii.gz")
    (folder / "images" / "a_seg.nii.gz").symlink_to(TS / "seg_v2" / "total.nii.gz")
    (folder / "dicom").symlink_to(root)
    manifest = _write_manifest(folder / "cohort.csv", [
        "id,patient,age_years,ct,labels,mri,axial,screw_loosening",
        "A-01,P1,71,images/a.nii.gz,images/a_seg.nii.gz,,,1",
        "B-02,P2,64,dicom/PAT_KERN,,,,0",
        "C-03,P2,64,images/missing.nii.gz,,,,0",
        "D-04,P4,58,,,dicom/PAT_CTMR/MR,dicom/PAT_CTMR/MR,1",
        "E-05,P5,80,dicom/PAT_LOC,,,,",
    ])
    studies = {s.identifiers[0][1]: s for s in discover([manifest])}
    assert sorted(studies) == ["A-01", "B-02", "C-03", "D-04", "E-05"]
    a = studies["A-01"]
    assert a.key == study_key("A-01") and a.patient_key == patient_key("P1")
    assert a.ct.path == str(folder / "images" / "a.nii.gz") and a.labels == str(folder / "images" / "a_seg.nii.gz")
    assert a.clinical == (("age_years", "71"), ("screw_loosening", "1")) and a.problem is None
    assert a.identifiers == (("id", "A-01"), ("patient", "P1"))
    header = nib.load(TS / "ct.nii.gz")  # the NIfTI header fills what a DICOM header would
    assert a.ct.n_images == header.shape[2] and a.ct.orientation == "axial"
    assert a.ct.extent_mm == pytest.approx((header.shape[2] - 1) * header.header.get_zooms()[2], abs=0.01)
    assert "a.nii.gz" not in " ".join(a.choice) and "row 2 of the manifest" in a.choice[0]
    b = studies["B-02"]
    assert b.ct.series_uid == expected["kern"]["studies"][next(iter(expected["kern"]["studies"]))]["ct"]
    assert b.patient_key == studies["C-03"].patient_key and len(b.passed_over) == 4
    # the reason names the manifest row, never the path (folder names may name the patient)
    assert studies["C-03"].problem == "the ct path on row 4 of the manifest does not exist"
    d = studies["D-04"]
    ctmr = expected["ctmr"]["studies"]
    assert d.mri.series_uid == next(s["mri"] for s in ctmr.values() if s["mri"])
    assert d.axial.series_uid == next(s["axial"] for s in ctmr.values() if s["axial"])
    assert d.ct is None and d.problem is None and len(d.choice) == 2
    assert "only a localizer" in studies["E-05"].problem
    assert studies["E-05"].clinical == (("age_years", "80"), ("screw_loosening", ""))


def test_manifest_patient_defaults_to_id_and_semicolons_are_read(tmp_path):
    need(TS / "ct.nii.gz")
    (tmp_path / "x.nii.gz").symlink_to(TS / "ct.nii.gz")
    manifest = _write_manifest(tmp_path / "m.csv", ["id;ct;bmi", "X;x.nii.gz;27.1"])
    (study,) = discover([manifest])
    assert study.patient_key == patient_key("X") and study.clinical == (("bmi", "27.1"),)


@pytest.mark.parametrize("rows, words", [
    (["study,ct", "A,a.nii.gz"], "no 'id' column"),
    (["id,ct", "A,a.nii.gz", "A,b.nii.gz"], "appears on rows 2 and 3"),
    (["id,age", "A,3"], "neither a 'ct' nor an 'mri' column"),
    ([], "empty"),
])
def test_malformed_manifest_raises_naming_the_file(tmp_path, rows, words):
    manifest = _write_manifest(tmp_path / "bad.csv", rows)
    with pytest.raises(SpinebqError, match=words) as error:
        discover([manifest])
    assert str(manifest) in str(error.value)


def test_unusable_inputs_raise_naming_the_path(tmp_path):
    with pytest.raises(SpinebqError, match="no such file"):
        discover([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpinebqError, match="empty"):
        discover([tmp_path / "empty"])
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.txt").write_text("hello")
    (tmp_path / "docs" / "junk.dcm").write_bytes(b"\0" * 300)
    with pytest.raises(SpinebqError, match="no readable DICOM or NIfTI file among its 2 files") as error:
        discover([tmp_path / "docs"])
    assert str(tmp_path / "docs") in str(error.value)
    with pytest.raises(SpinebqError, match="no input"):
        discover([])


def test_a_zipped_series_is_found_as_its_folder_is(tmp_path):
    """`spinebq ct` reads a zip of a DICOM series; the batch said "no readable DICOM or NIfTI file among its 1 files"
    for a folder of zipped series. Discovery now reads the headers inside a zip: the real series zipped gives the
    study and series it gives unzipped, the series loaded from the zip (``SeriesInfo.path``, as the worker loads it);
    so does a manifest row naming the zip."""
    import shutil
    from dataclasses import replace

    from tests.conftest import DATA

    series = need(DATA / "totalsegmentator_example" / "ct_dicom")
    (tmp_path / "zips").mkdir()
    archive = shutil.make_archive(str(tmp_path / "zips" / "patient"), "zip", root_dir=series.parent,
                                  base_dir=series.name)
    (zipped,), (plain,) = discover([tmp_path / "zips"]), discover([series])
    assert zipped.ct.path == archive and zipped.problem is None  # its key: its folder's (the series has no UIDs)
    assert replace(zipped.ct, path=plain.ct.path) == plain.ct
    from_zip = load_volume(zipped.ct.path, series_uid=zipped.ct.series_uid)
    assert np.array_equal(from_zip.array, load_volume(series).array)
    (tmp_path / "manifest.csv").write_text("id,ct\nA,zips/patient.zip\n")  # a manifest row naming the zip
    (row,) = discover([tmp_path / "manifest.csv"])
    assert row.ct.path == archive and replace(row.ct, path=plain.ct.path) == plain.ct


def test_same_nifti_path_under_two_inputs_is_refused(nifti_folder, tmp_path):
    other = tmp_path / "copy"
    other.mkdir()
    (other / "case_a.nii.gz").symlink_to(TS / "ct.nii.gz")
    with pytest.raises(SpinebqError, match="the same manifest id, NIfTI path"):
        discover([nifti_folder, other])


# ------------------------------------------------------------------------------------------ rule pieces


@pytest.mark.parametrize("kernel, cls", [
    ("B30f", "soft"), ("B31s", "soft"), ("Br40d", "soft"), ("I26f\\3", "soft"), ("B70f", "bone"), ("Br64", "bone"),
    ("Bl57", "lung"), ("Hr68", "bone"), ("STANDARD", "soft"), ("SOFT", "soft"), ("BONEPLUS", "bone"), ("LUNG", "lung"),
    ("B", "soft"), ("YA", "soft"), ("C", "soft"), ("D", "bone"), ("E", "bone"), ("L", "lung"), ("FC08", "soft"),
    ("FC18", "soft"), ("FC30", "bone"), ("FC52", "lung"), ("", "unknown"), (None, "unknown"), ("XYZ", "unknown"),
])
def test_kernel_classes(kernel, cls):
    assert kernel_class(kernel) == cls


@pytest.mark.parametrize("words, te, tr, is_t1", [
    ("T1_TSE_SAG", None, None, True), ("SAG T1 FSE", 10, 500, True), ("t1_tse_sag_fs", 10, 500, False),
    ("T1 DIXON W", 10, 500, False), ("T2 TSE SAG", 100, 3000, False), ("STIR SAG", 40, 4000, False),
    ("SAG SE", 12, 550, True), ("SAG SE", 90, 3000, False), ("SAG", None, None, False), ("T1 FLAIR SAG", 9, 2000, True),
])
def test_t1_weighting(words, te, tr, is_t1):
    assert t1_weighting(words, te, tr)[0] is is_t1


def test_an_input_given_twice_is_read_once(dicom_tree):
    root, expected = dicom_tree
    folder = root / "PAT_CONT"
    (study,) = discover([folder, folder / "STUDY1"])
    assert study.ct.series_uid == expected["cont"]["studies"][study.key]["ct"] and study.ct.n_images == 66
