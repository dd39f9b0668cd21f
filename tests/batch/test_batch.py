"""``spinebq batch`` end to end on the PACS-export tree: every row of the cohort table, values, privacy, QC page."""
from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from spinebq.batch.discover import discover
from spinebq.cli import main
from tests.batch.test_qc_page import probe
from tests.report.browser import chromium, network_hosts


@pytest.fixture(scope="module")
def batch(dicom_tree, tmp_path_factory):
    """The tree measured once by ``spinebq batch`` with a clinical file joined by PatientID."""
    root, expected = dicom_tree
    studies = {s.key: s for s in discover([root])}
    work = tmp_path_factory.mktemp("batch")
    patients = sorted({dict(s.identifiers)["PatientID"] for s in studies.values() if "PatientID" in dict(s.identifiers)})
    clinical = pd.DataFrame([{"PatientID": pid, "outcome_loosening": i % 2, "age": 60 + i} for i, pid in enumerate(patients)])
    clinical.to_csv(work / "clinical.csv", index=False)
    out = work / "out"
    assert main(["batch", str(root), "--out", str(out), "--quiet", "--workers", "2",
                 "--clinical", str(work / "clinical.csv"), "--clinical-key", "PatientID"]) == 0
    table = pd.read_csv(out / "cohort.csv").set_index("study")
    return out, root, expected, studies, table


def _expected_studies(expected: dict):
    for label, patient in expected.items():
        for key, study in patient["studies"].items():
            yield label, key, study


def test_every_study_has_its_row_with_the_right_series_and_status(batch):
    out, _, expected, studies, table = batch
    assert sorted(table.index) == sorted(studies)
    for label, key, study in _expected_studies(expected):
        row = table.loc[key]
        if study["problem"]:
            assert row.status == "skipped" and study["problem"] in row.reason, (label, row.reason)
            assert not (out / "studies" / key).exists()
            continue
        chosen = studies[key].ct
        if study["ct"]:
            assert chosen.series_uid == study["ct"], label
            assert row.ct_series == chosen.description, label
        if study.get("ct_is_phantom"):
            assert row.status == "done", (label, row.reason)
            assert all(math.isfinite(row[f"{level}_hu_3d"]) for level in ("L1", "L2", "L3", "L4")), label
            assert row.summary_levels == "L1-L2-L3-L4"
        elif study["ct"]:  # the real 20-slice series (T11/T12 cut) and the water cylinders: nothing measurable
            assert row.status == "failed" and "no vertebra of the CT could be measured" in row.reason, (label, row.reason)
        if study["mri"]:
            assert row.status == "done" and 2.0 < row.vbq < 5.0, (label, row.vbq)
            assert not math.isnan(row.L4_L5_goutallier)


def test_values_equal_spinebq_ct_on_the_same_series(batch, tmp_path):
    out, _, expected, studies, table = batch
    key = next(k for label, k, s in _expected_studies(expected) if label == "kern")
    series = studies[key].ct
    assert main(["ct", series.path, "--series", series.series_uid, "--trajectory", "none", "--no-pictures",
                 "--out", str(tmp_path)]) == 0
    alone = json.loads((tmp_path / "measurements.json").read_text())
    batched = json.loads((out / "studies" / key / "ct" / "measurements.json").read_text())
    assert batched["vertebrae"] == alone["vertebrae"]
    assert batched["summary"] == alone["summary"]
    row = table.loc[key]
    for level in ("L1", "L2", "L3", "L4"):
        assert row[f"{level}_hu_3d"] == pytest.approx(alone["vertebrae"][level]["hu_3d"], abs=1e-9)
        assert row[f"{level}_hu_2d"] == pytest.approx(alone["vertebrae"][level]["hu_2d"], abs=1e-9)
        assert row[f"{level}_genant_grade"] == alone["vertebrae"][level]["genant_grade"]
    assert row.summary_hu == pytest.approx(alone["summary"]["hu"], abs=1e-9)


def test_no_identifier_and_no_input_path_in_any_output(batch):
    out, root, expected, _, _ = batch
    secrets = {str(value) for patient in expected.values() for value in patient["phi"] if value}
    secrets.add(str(root))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 30
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, (path.relative_to(out), secret)
    assert not (out / "key_map.csv").exists()


def test_a_failed_study_keeps_what_was_measured_and_the_header_never_changes(batch):
    """A study that failed (nothing measurable) keeps its row's kVp, contrast phase and QC; a batch whose studies all
    failed has the same columns as any other of its profile."""
    from spinebq.batch.cohort import cohort_columns, cohort_frame, read_row
    from spinebq.batch.ledger import Ledger

    out, _, _, studies, table = batch
    failed = [key for key in table.index if table.loc[key, "status"] == "failed" and read_row(out, key)]
    assert failed, "the tree has studies that fail with their folder kept"
    for key in failed:
        row = read_row(out, key)
        assert row["kvp"] is not None, key
        assert table.loc[key, "kvp"] == row["kvp"] and table.loc[key, "contrast_phase"] == row["contrast_phase"]
        for level in ("T12", "L1"):
            if row.get(f"{level}_qc"):
                assert table.loc[key, f"{level}_qc"] == row[f"{level}_qc"], (key, level)
        assert "no vertebra of the CT could be measured" in table.loc[key, "reason"]
    with Ledger(out) as ledger:
        rows = ledger.rows()
    only_failed = [studies[key] for key in failed]
    frame = cohort_frame(only_failed, rows, {key: read_row(out, key) for key in failed})
    assert list(frame.columns) == cohort_columns("screening")
    joined = ["age", "outcome_loosening"]  # the clinical file's columns, after the profile's
    assert list(table.reset_index().columns) == cohort_columns("screening") + sorted(joined, key=list(table.columns).index)


def test_clinical_file_is_joined_without_its_key(batch):
    _, _, _, studies, table = batch
    assert "PatientID" not in table.columns
    for key, study in studies.items():
        if "PatientID" in dict(study.identifiers):
            assert not math.isnan(table.loc[key, "age"]), key
        else:
            assert math.isnan(table.loc[key, "age"]), key


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-16"])
def test_a_clinical_file_saved_by_excel_keeps_its_key_column_and_leading_zeros(tmp_path, encoding):
    """Excel saves a CSV with a byte-order mark ("CSV UTF-8"), in cp1252 ("CSV") or UTF-16 ("Unicode Text"): the
    key column was read as '\ufeffPatientID' (refused: "has no column 'PatientID'") or the file not at all. Read as
    ``spinebq stats`` reads it, the key keeps its leading zeros and the names their letters."""
    from spinebq.cli.batch import _read_clinical

    path = tmp_path / "clinical.csv"
    path.write_bytes("PatientID;Größe;age\n00012;170;71\n00345;165;64\n".encode(encoding))
    clinical = _read_clinical(str(path), "PatientID")
    assert list(clinical.columns) == ["PatientID", "Größe", "age"]
    assert list(clinical.PatientID) == ["00012", "00345"]


def test_data_dictionary_names_every_column(batch):
    out, _, _, _, table = batch
    dictionary = pd.read_csv(out / "cohort_dictionary.csv")
    assert list(dictionary.column) == ["study"] + list(table.columns)
    l1 = dictionary.set_index("column").loc["L1_hu_3d"]
    assert l1.unit == "[hnsf'U]" and "3D trabecular" in l1.label
    assert pd.read_parquet(out / "cohort.parquet").shape[0] == len(table)


def test_nothing_half_written(batch):
    out = batch[0]
    assert not list((out / "studies").glob(".tmp-*"))
    for folder in (out / "studies").iterdir():
        assert (folder / "row.json").is_file() and (folder / "study.json").is_file(), folder


def test_second_run_measures_nothing_and_gives_the_same_table(batch, capsys):
    out, root, *_ = batch
    before = (out / "cohort.csv").read_bytes()
    capsys.readouterr()
    assert main(["batch", str(root), "--out", str(out), "--quiet", "--clinical", str(out.parent / "clinical.csv"),
                 "--clinical-key", "PatientID"]) == 0
    assert "measured 0 studies" in capsys.readouterr().out
    assert (out / "cohort.csv").read_bytes() == before


def test_one_row_per_patient_joins_ct_and_mri(batch, tmp_path):
    from spinebq.batch.cohort import write_cohort
    from spinebq.batch.ledger import Ledger

    out, _, expected, studies, _ = batch
    with Ledger(out) as ledger:
        rows = ledger.rows()
    files = write_cohort(out, list(studies.values()), rows, by="patient")
    table = pd.read_csv(files.table).set_index("patient")
    assert len(table) == len({s.patient_key for s in studies.values()})
    both = table.loc[expected["ctmr"]["patient_key"]]
    assert math.isfinite(both.summary_hu) and math.isfinite(both.vbq) and both.mri_series == "t1_tse_sag"
    assert both.model_S004_VBQ in ("risk side", "not risk side")  # the MRI study's model sides come along
    assert len(both.studies.split(";")) == 2


def test_qc_page_in_chromium(batch, tmp_path):
    out, _, _, studies, table = batch
    results, urls = probe(out / "qc.html", tmp_path)
    with_picture = {key for key in studies if (out / "studies" / key / "thumbnail.png").is_file()}
    loaded = {key for key, complete, width, height in results["images"] if complete and width > 0 and height > 0}
    assert loaded == with_picture and len(loaded) >= 6
    assert {key for key, _ in results["placeholders"]} == set(studies) - with_picture
    hu = table.summary_hu.dropna().sort_values()
    assert results["hu_up"][: len(hu)] == list(hu.index)
    assert set(results["filter_failed"]) == set(table.index[table.status == "failed"])
    _, blank = chromium("about:blank", tmp_path)
    assert network_hosts(urls) - network_hosts(blank) == set()  # Chromium's own background calls aside


def test_full_profile_on_a_manifest_joins_ct_mri_and_clinical_columns(tmp_path):
    """A manifest row with the real CT (TotalSegmentator labels) and a real T1 MRI, measured in the full profile."""
    from spinebq.batch.cohort import cohort_columns
    from tests.conftest import DATA, TS, need

    manifest = tmp_path / "manifest.csv"
    manifest.write_text("id,ct,labels,mri,age,sex,planned_levels\n"
                        f"patient-7,{need(TS / 'ct.nii.gz')},{TS / 'seg_v2' / 'total.nii.gz'},"
                        f"{need(DATA / 'lumbar_mri_t1' / 'case06_t1.nii.gz')},71,F,L4-L5\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "--out", str(out), "--profile", "full", "--workers", "1", "--quiet"]) == 0
    row = pd.read_csv(out / "cohort.csv").iloc[0]
    assert row.status == "done", row.reason
    assert 100 < row.summary_hu < 150 and 1.5 < row.vbq < 5.0
    assert math.isfinite(row.L4_st_hu) and math.isfinite(row.L4_hu_ratio)
    assert row.age == 71 and row.sex == "F"
    assert any(c.startswith("model_S004_VBQ") for c in row.index)  # VBQ against paper 004's cutoff
    # the uncalibrated CT gets the opportunistic-screening reading of its L1 three-slice HU (Pickhardt 2013)
    from spinebq.risk.registry import load_screening
    from spinebq.risk.screening import band_of

    (entry,) = load_screening()
    assert row.screening_pickhardt2013_L1 == band_of(row.L1_hu_2d, entry["thresholds"], entry["above_reading"])[0]
    dictionary = pd.read_csv(out / "cohort_dictionary.csv").set_index("column")
    assert "Pickhardt PJ" in dictionary.loc["screening_pickhardt2013_L1", "method"]
    folder = out / "studies" / row.study
    for name in ("report.html", "report.pdf", "ct/trajectories.json", "ct/overlay_sagittal.png", "mri/mri_sagittal.png",
                 "assessment.json", "thumbnail.png"):
        assert (folder / name).is_file(), name
    assert "patient-7" not in (out / "cohort.csv").read_text()
    columns, fixed = list(pd.read_csv(out / "cohort.csv").columns), cohort_columns("full")
    assert [c for c in columns if c in fixed] == fixed  # the profile's columns, then those the inputs bring:
    assert set(columns) - set(fixed) == {"model_Sakai2018_STHU_L4", "model_Sakai2018_STHU_L5", "age", "sex", "planned_levels"}
    # the study's folders are what spinebq ct and mri write: report and assess read them through their manifests
    assert main(["report", "--ct", str(folder / "ct"), "--mri", str(folder / "mri"), "--no-pdf",
                 "--out", str(tmp_path / "report")]) == 0
    assert main(["assess", "--ct", str(folder / "ct"), "--mri", str(folder / "mri"), "--out", str(tmp_path / "assess")]) == 0
    # the batch's report shows the pictures of the study, as the report of the same folders does
    pictures = (folder / "report.html").read_text().count("<img")
    assert pictures == (tmp_path / "report" / "report.html").read_text().count("<img") > 0


def test_a_screening_study_says_in_plain_words_why_it_has_no_screw_trajectory(tmp_path):
    """The screening profile plans no screws: the study's measurements.json and assessment.json said "no trajectory
    requested (trajectory mode none)", a library option the user never typed. They now say what is missing and the
    flags that give it (``spinebq batch --profile full``, ``spinebq ct --trajectory auto``)."""
    from tests.conftest import TS, need

    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,ct,labels,age,sex,planned_levels\npatient-7,{need(TS / 'ct.nii.gz')},"
                        f"{TS / 'seg_v2' / 'total.nii.gz'},71,F,L4-L5\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    (folder,) = (out / "studies").iterdir()
    trajectories = json.loads((folder / "ct" / "measurements.json").read_text())["vertebrae"]["L4"]["trajectories"]
    assessment = json.loads((folder / "assessment.json").read_text())
    reasons = {r["key"]: r["reason"] for r in assessment["models"] if r["key"] in ("S001_HU_ratio", "Sakai2018_STHU")}
    (reason,) = {trajectories["left"]["reason"], trajectories["right"]["reason"], *reasons.values()}
    assert reason.startswith("no screw trajectory was asked for"), reason
    assert "spinebq batch only with --profile full" in reason and "--trajectory auto" in reason, reason
    assert "trajectory mode" not in (folder / "assessment.json").read_text()


def test_no_input_path_reaches_any_file_of_a_manifest_and_nifti_batch(tmp_path):
    """Folder and file names of the inputs (often patients' names) appear in no file the batch writes: a manifest
    row with a missing file, a manifest row with the real CT, and a folder of NIfTI files."""
    from tests.conftest import TS, need

    inputs = tmp_path / "Doe^John_1950"
    (inputs / "Roe_Jane").mkdir(parents=True)
    (inputs / "Roe_Jane" / "roe_jane_ct.nii.gz").symlink_to(need(TS / "ct.nii.gz"))
    nifti = inputs / "folder_Smith_Anna"
    nifti.mkdir()
    (nifti / "smith_anna.nii.gz").symlink_to(TS / "ct.nii.gz")
    manifest = inputs / "manifest_Doe.csv"
    manifest.write_text("id,ct,age\nA,Roe_Jane/roe_jane_ct.nii.gz,70\nB,Roe_Jane/missing_Mills_Mary.nii.gz,60\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), str(nifti), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    table = pd.read_csv(out / "cohort.csv").set_index("study")
    assert sorted(table.status) == ["done", "done", "skipped"]
    assert "row 3 of the manifest" in table.reason.dropna().iloc[0]
    secrets = [str(inputs), str(TS), "Doe", "Roe", "roe_jane", "Smith", "smith_anna", "Mills", "manifest_Doe"]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"ledger.sqlite", "qc.html", "study.json", "spinebq-manifest-ct.json", "measurements.json"} <= {p.name for p in files}
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, (path.relative_to(out), secret)


def test_a_reason_names_the_flag_of_spinebq_ct_not_a_library_option(tmp_path):
    """The real abdominal MR saved as NIfTI and given as a manifest's CT (NIfTI carries no modality): the failed
    study's reason advised "give option `modality` CT", a library parameter the batch has no flag for; it now names
    the command that measures the study alone, `spinebq ct --modality CT`, in the ledger, cohort.csv and qc.html."""
    from tests.conftest import TS, need

    (tmp_path / "abdomen.nii.gz").symlink_to(need(TS / "mr_small.nii.gz"))
    (tmp_path / "manifest.csv").write_text("id,ct\nA,abdomen.nii.gz\n")
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "manifest.csv"), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    (reason,) = pd.read_csv(out / "cohort.csv").reason
    assert "give spinebq ct --modality CT if it is a CT" in reason and "option `" not in reason, reason
    assert "option `" not in (out / "qc.html").read_text()


def test_a_clinical_file_that_matches_no_study_is_said(tmp_path, capsys):
    """--clinical keyed by PatientID on a NIfTI folder (which has no PatientID): every clinical cell of the cohort
    table stayed empty without a word, and `spinebq stats` then found an outcome of missing values only. The batch
    now says how many studies found their row; a manifest's id matches."""
    from tests.conftest import TS, need

    folder = tmp_path / "nifti"
    folder.mkdir()
    (folder / "abdomen.nii.gz").symlink_to(need(TS / "mr_small.nii.gz"))
    (tmp_path / "clinical.csv").write_text("PatientID,loosening\nP-1,1\n")
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(out), "--workers", "1", "--quiet",
                 "--clinical", str(tmp_path / "clinical.csv")]) == 0
    err = capsys.readouterr().err
    assert "spinebq batch: warning: clinical: 1 of 1 studies found no row of" in err, err
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,ct\nP-1,{folder / 'abdomen.nii.gz'}\n")
    assert main(["batch", str(manifest), "--out", str(tmp_path / "out2"), "--workers", "1", "--quiet",
                 "--clinical", str(tmp_path / "clinical.csv")]) == 0
    captured = capsys.readouterr()
    assert "clinical: every study (1) found its row" in captured.out and "warning" not in captured.err, captured
    assert pd.read_csv(tmp_path / "out2" / "cohort.csv").loosening.tolist() == [1]


def test_a_nifti_folder_measures_each_file_as_what_it_holds(tmp_path, capsys):
    """A research group's folder of NIfTI files (NIfTI says nothing of what a file holds): the real CT, a real sagittal
    T1 MRI, its body masks and TotalSegmentator's label map, under names other than ``<image>_seg``. Every file was a
    CT study, so the MRI and both label maps failed as "is it an MR image?". Now the CT is measured as a CT, the MRI
    as the study's MRI (VBQ as ``spinebq mri`` gives it in automatic mode), and each label map is skipped with the
    reason and listed in the summary. The MRI study has a QC picture as a CT study has."""
    from spinebq.batch.qc_page import COLUMNS
    from spinebq.pipeline import analyse_mri
    from tests.conftest import DATA, TS, need

    folder = tmp_path / "nifti"
    folder.mkdir()
    files = {"ct": TS / "ct.nii.gz", "t1": DATA / "lumbar_mri_t1" / "case02_t1.nii.gz",
             "bodies": DATA / "lumbar_mri_t1" / "case02_bodies_verse.nii.gz", "total": TS / "seg_v2" / "total.nii.gz"}
    for name, source in files.items():
        (folder / f"{name}.nii.gz").symlink_to(need(source))
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    summary = capsys.readouterr().out
    table = pd.read_csv(out / "cohort.csv")
    rows = {json.loads((out / "studies" / key / "study.json").read_text())["choice"][0][:3]: row
            for key, row in zip(table.study, table.itertuples()) if (out / "studies" / key).is_dir()}
    assert sorted(table.status) == ["done", "done", "skipped", "skipped"], table[["status", "reason"]]
    assert rows["CT:"].summary_hu == rows["CT:"].summary_hu and rows["CT:"].vbq != rows["CT:"].vbq
    expected_vbq = analyse_mri(files["t1"]).vbq
    assert rows["MRI"].vbq == pytest.approx(expected_vbq, abs=1e-4) and rows["MRI"].summary_hu != rows["MRI"].summary_hu
    # the QC page's picture of an MRI-only study: its mid-sagittal slice with the vertebrae found (there was none)
    assert all((out / "studies" / row.study / "thumbnail.png").is_file() for row in rows.values())
    # fractures: "none" found on the CT, not assessed (empty) without one; the QC page said "none" for the MRI
    assert rows["CT:"].fractured_levels == "none" and rows["MRI"].fractured_levels != rows["MRI"].fractured_levels
    # and its VBQ and PBQ on the QC page, its key a link to its measurements (the page had the CT's columns only)
    page = (out / "qc.html").read_text()
    mri_row = page[page.index(f'data-key="{rows["MRI"].study}"'):]
    mri_row = mri_row[:mri_row.index("</tr>")]
    assert f'data-v="{rows["MRI"].vbq!r}">{rows["MRI"].vbq:.2f}</td>' in mri_row, mri_row[-800:]
    assert f'href="studies/{rows["MRI"].study}/mri/mri.json"' in mri_row
    # the studies that were measured come before the skipped label maps (the page listed them by key)
    statuses = re.findall(r'<tr class="s-\w+" data-key="[^"]+" data-status="(\w+)"', page)
    assert statuses == ["done", "done", "skipped", "skipped"], statuses
    cells = dict(zip((column[1] for column in COLUMNS), mri_row.split("<td")[1:]))
    assert cells["fractured_levels"].startswith(' class="na"') and "none" not in cells["fractured_levels"]
    skipped = table[table.status == "skipped"].reason
    assert all(reason.startswith("the NIfTI file is a label map, not an image") for reason in skipped), skipped
    assert "skipped (2): the NIfTI file is a label map" in summary, summary
    assert "is it an MR image" not in (out / "cohort.csv").read_text()
    # run again: nothing to measure (the label maps are not read again while they are unchanged)
    assert main(["batch", str(folder), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert "measured 0 studies" in capsys.readouterr().out


def test_a_ct_without_its_rescale_intercept_fails_with_the_reason(tmp_path, capsys):
    """A NIfTI folder holding the real CT converted without its rescale intercept (HU + 1024, uint16): its values are
    no Hounsfield units, so it was measured as an MRI and failed on the MRI's checks. It fails saying what happened."""
    import nibabel as nib
    import numpy as np

    from tests.conftest import TS, need

    real = nib.load(str(need(TS / "ct.nii.gz")))
    folder = tmp_path / "nifti"
    folder.mkdir()
    shifted = np.clip(np.asanyarray(real.dataobj).astype(np.int32) + 1024, 0, None).astype(np.uint16)
    nib.save(nib.Nifti1Image(shifted, real.affine), str(folder / "ct.nii.gz"))
    assert main(["batch", str(folder), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "out" / "cohort.csv")
    assert table.status.tolist() == ["failed"]
    assert "Hounsfield units plus 1024" in table.reason[0] and "rescale intercept" in table.reason[0], table.reason[0]
    assert "measured 1 study " in capsys.readouterr().out
