"""Seam sweep 7: a manifest as people keep one (blank lines, a DICOM folder copied or named twice): its rows are
named as the file shows them, and copies are said for DICOM folders too, naming the rows."""
from __future__ import annotations

import logging
import shutil

from spinebq.batch.discover import discover
from tests.batch.dicom_tree import REAL_CT_DICOM
from tests.conftest import TS, need


def _copy_notes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "hold the same image files" in r.getMessage()]


def test_a_dicom_folder_named_twice_or_copied_is_said_with_its_manifest_rows(tmp_path, caplog):
    """Manifest rows naming one DICOM series (through its folder and a copy of it, or through the folder and its
    parent) were measured as different patients without a word: only NIfTI and MRI copies were compared. They are
    now said, naming the rows as the file shows them (blank lines counted), not only the study keys."""
    shutil.copytree(need(REAL_CT_DICOM), tmp_path / "export" / "ct_copy")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,ct\n\nA1,{REAL_CT_DICOM}\nA2,export/ct_copy\n\nA3,export\nA4,{need(TS / 'ct.nii.gz')}\n")
    with caplog.at_level(logging.INFO, logger="spinebq"):
        studies = {dict(s.identifiers)["id"]: s for s in discover([manifest])}
    assert all(s.problem is None for s in studies.values())
    (note,) = _copy_notes(caplog)
    keys = sorted(studies[i].key for i in ("A1", "A2", "A3"))
    assert note.startswith(f"studies {' and '.join(keys)} hold the same image files (rows 3, 4 and 6 of "
                           "manifest.csv; "), note
    assert studies["A4"].key not in note


def test_manifest_rows_are_numbered_as_the_file_shows_them(tmp_path, caplog):
    """Blank lines in a manifest (kept between groups of patients) were dropped before counting, so "the ct path on
    row 4 ... does not exist" named a row three lines above the one meant; the copy note named no row."""
    ct = need(TS / "ct.nii.gz")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"\nid;ct;age\nB1;{ct};70\n\n\nB2;missing.nii.gz;71\n;;\nB3;{ct};seventy\nB4;{ct};72\n")
    with caplog.at_level(logging.INFO, logger="spinebq"):
        studies = {dict(s.identifiers)["id"]: s for s in discover([manifest])}
    assert studies["B2"].problem == "the ct path on row 6 of the manifest does not exist"
    assert studies["B3"].problem.startswith("row 8 of the manifest: "), studies["B3"].problem
    (note,) = _copy_notes(caplog)
    assert "(rows 3 and 9 of manifest.csv; one study copied?)" in note, note


def test_a_column_of_paths_that_is_no_image_role_is_refused(tmp_path):
    """A manifest column of image paths under a name that is none of the roles ('mri_mask', where the role is
    'mri_labels') was taken for a clinical column: the MRI was measured without its labels, silently, and every path was
    copied into cohort.csv, where a folder's name may name the patient. It is now refused before any header is
    read, naming the column and the roles; a clinical column of words or numbers is still read."""
    import pytest

    from spinebq.errors import SpinebqError

    t1 = need(TS.parent / "lumbar_mri_t1" / "case06_t1.nii.gz")
    labels = t1.parent / "case06_bodies_verse.nii.gz"
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,mri,mri_mask,side\nA1,{t1},{labels},left\nA2,{t1},,right\n")
    with pytest.raises(SpinebqError, match=r"the column\(s\) mri_mask hold file or folder paths but are none of the "
                                           r"image columns \(ct, mri, axial, labels, mri_labels\)"):
        discover([manifest])
    manifest.write_text(f"id,mri,side\nA1,{t1},left\n")
    (study,) = discover([manifest])
    assert study.problem is None and dict(study.clinical)["side"] == "left"
