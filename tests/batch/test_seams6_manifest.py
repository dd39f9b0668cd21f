"""Seam sweep 6: manifest rows as people write them: paths relative to where they stand, files fixed between runs."""
from __future__ import annotations

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
        assert ledger.plan(before, options="o", version="v") == []
        (tmp_path / "case08_t1.nii.gz").write_text("PatientID,age\nB1,71\n")
        after = discover([manifest])
        assert after[0].problem and after[0].problem != before[0].problem
        assert ledger.plan(after, options="o", version="v") == []
        assert [row["reason"] for row in ledger.rows()] == [after[0].problem]
