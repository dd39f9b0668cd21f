"""Seam sweep 6: manifests as people write them: paths relative to where they stand, files fixed between runs,
clinical columns named as measured ones."""
from __future__ import annotations

import pandas as pd

from spinebq.batch.discover import discover
from spinebq.batch.ledger import Ledger
from tests.conftest import DATA, need

T1 = DATA / "lumbar_mri_t1" / "case08_t1.nii.gz"


def test_a_path_relative_to_the_current_folder_is_told_apart_from_a_missing_file(tmp_path, monkeypatch):
    """A manifest in ``lists/`` naming ``images/case08_t1.nii.gz`` as seen from where the user stands: skipped as
    "the mri path on row 2 of the manifest does not exist", though it does (relative paths are read from the
    manifest's folder, which neither ``--help`` nor the reason said). Both now say it; the row still names no path."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "case08_t1.nii.gz").symlink_to(need(T1))
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "manifest.csv"
    manifest.write_text("id,mri\nB1,images/case08_t1.nii.gz\nB2,images/case09_t1.nii.gz\n")
    monkeypatch.chdir(tmp_path)
    here, missing = discover([manifest])
    assert "read from" in here.problem and "exists from the current folder" in here.problem, here.problem
    assert "images" not in here.problem and "case08" not in here.problem
    assert missing.problem == "the mri path on row 3 of the manifest does not exist"
    manifest.write_text("id,mri\nB1,../images/case08_t1.nii.gz\n")
    assert discover([manifest])[0].problem is None


def test_a_skipped_rows_reason_follows_its_file(tmp_path):
    """A manifest row whose file was missing, then saved under its name from another program (not NIfTI): the ledger
    and cohort.csv kept "does not exist" (a skipped row's inputs are none, so its fingerprint never changed) while
    the file was there. The reason is discovery's of this run."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("id,mri\nB1,case08_t1.nii.gz\n")
    out = tmp_path / "out"
    with Ledger(out) as ledger:
        before = discover([manifest])
        assert ledger.plan(before, options="o", version="v").measure == []
        (tmp_path / "case08_t1.nii.gz").write_text("PatientID,age\nB1,71\n")
        after = discover([manifest])
        assert after[0].problem and after[0].problem != before[0].problem
        assert ledger.plan(after, options="o", version="v").measure == []
        assert [row["reason"] for row in ledger.rows()] == [after[0].problem]


def test_a_manifest_column_named_as_a_measured_one_never_takes_its_place(tmp_path):
    """A researcher's manifest carrying VBQ and HU measured by hand (``vbq``, ``summary_hu``) and a vital ``status``:
    a study without an MRI showed the hand-measured VBQ in spinebq's ``vbq`` column, the data dictionary calling it
    spinebq's VBQ (median L1-L4 body SI / CSF SI), and ``status`` was dropped without a word. The manifest's columns
    now keep their values under ``clinical_<name>`` in every row, as ``--clinical``'s do."""
    from spinebq.batch.cohort import cohort_frame

    manifest = tmp_path / "manifest.csv"
    ct = need(DATA / "totalsegmentator_example" / "ct.nii.gz")
    manifest.write_text(f"id,ct,mri,summary_hu,vbq,status,age\nC1,{ct},,101,2.9,alive,71\n"
                        f"C2,,{need(T1)},88,3.1,deceased,64\n")
    ct_study, mri_study = sorted(discover([manifest]), key=lambda s: dict(s.identifiers)["id"])
    # what each worker left in row.json (the CT study has no MRI, the MRI study no CT)
    rows = {ct_study.key: {"summary_hu": 119.45}, mri_study.key: {"vbq": 3.27}}
    ledger = [{"key": key, "state": "done", "reason": None} for key in rows]
    table = cohort_frame([ct_study, mri_study], ledger, rows).set_index("study")
    ct_row, mri_row = table.loc[ct_study.key], table.loc[mri_study.key]
    assert ct_row.summary_hu == 119.45 and pd.isna(ct_row.vbq) and ct_row.clinical_vbq == "2.9"
    assert mri_row.vbq == 3.27 and pd.isna(mri_row.summary_hu) and mri_row.clinical_summary_hu == "88"
    assert (ct_row.status, ct_row.clinical_status, mri_row.clinical_status) == ("done", "alive", "deceased")
    assert ct_row.age == "71"  # a column no measurement has keeps its name


def test_a_clinical_value_the_assessment_cannot_read_is_said_before_measuring(tmp_path):
    """``age`` "seventy" or ``planned_levels`` "L9-L10" in a manifest row: the study's images were measured (18 s
    each here), then the study failed as "clinical values of the study: could not convert string to float:
    'seventy'" and its measurements were dropped. The row is now skipped at once, naming its row, column and value;
    columns the assessment does not read (``bmi`` here) stay free text."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,mri,age,planned_levels,bmi\nD1,{need(T1)},seventy,L4-L5,\nD2,{need(T1)},71,L9-L10,abc\n"
                        f"D3,{need(T1)},71,L4-L5,abc\n")
    words, levels, fine = sorted(discover([manifest]), key=lambda s: dict(s.identifiers)["id"])
    assert words.problem.startswith("row 2 of the manifest: ") and "age: 'seventy' is not a number" in words.problem
    assert levels.problem.startswith("row 3 of the manifest: ") and "planned_levels" in levels.problem
    assert "'L9-L10' is not a vertebra name" in levels.problem and str(tmp_path) not in levels.problem + words.problem
    assert fine.problem is None


def test_clinical_columns_named_as_an_export_names_them_reach_the_assessment(tmp_path, monkeypatch):
    """An SPSS/Excel export's ``Age``, ``Sex `` and ``Planned_Levels`` columns: the batch's assessment read only the
    lower-case names, so every study was assessed as if no age, sex or planned level were given (the age-bound
    models "not applicable: age not given") while ``spinebq report --clinical`` refuses ``Age`` with "did you mean
    'age'?". The batch now reads them in any case, and checks them before measuring."""
    import spinebq.pipeline
    from spinebq.batch.study import BatchOptions, measure_study

    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,mri,Age,Sex ,Planned_Levels,failure\nE1,{need(T1)},71,Female,L4-L5,1\n"
                        f"E2,{need(T1)},seventy,F,L4-L5,0\n")
    given, words = sorted(discover([manifest]), key=lambda s: dict(s.identifiers)["id"])
    assert given.problem is None
    assert "age: 'seventy' is not a number" in words.problem, words.problem
    handed = {}
    monkeypatch.setattr(spinebq.pipeline, "analyse_study", lambda inputs, options, clinical: handed.update(clinical))
    measure_study(given, BatchOptions())  # what the batch hands the pipeline, which assesses with it
    assert handed == {"age": "71", "sex": "Female", "planned_levels": "L4-L5"}


def test_two_manifest_rows_naming_one_mri_are_said(tmp_path, caplog):
    """Two manifest rows naming the same T1 (a row copied and its path not changed): both were measured and the
    second patient given the first one's VBQ without a word; a copied CT was named, an MRI not. Both are now."""
    import logging

    manifest = tmp_path / "manifest.csv"
    other = need(DATA / "lumbar_mri_t1" / "case02_t1.nii.gz")
    manifest.write_text(f"id,mri\nF1,{need(T1)}\nF2,{need(T1)}\nF3,{other}\n")
    with caplog.at_level(logging.INFO, logger="spinebq"):
        studies = {dict(s.identifiers)["id"]: s.key for s in discover([manifest])}
    (note,) = [r.getMessage() for r in caplog.records if "same image files" in r.getMessage()]
    assert note.startswith(f"studies {' and '.join(sorted([studies['F1'], studies['F2']]))} hold"), note
    assert studies["F3"] not in note
