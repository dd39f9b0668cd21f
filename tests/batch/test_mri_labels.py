"""A manifest's ``mri_labels`` column: the sagittal MRI of each row measured with its own vertebra labels, as
``spinebq mri --labels`` measures it. Before, the batch read labels for the CT only; a researcher with hand-drawn MRI
masks had to run ``spinebq mri`` study by study (a column of them was refused as no image role)."""
from __future__ import annotations

import math

import pandas as pd

from spinebq.batch.discover import discover
from spinebq.cli import main
from spinebq.pipeline import analyse_mri
from tests.conftest import DATA, need

T1 = DATA / "lumbar_mri_t1"


def test_a_manifest_gives_each_mri_its_labels_and_they_are_checked_against_the_image(tmp_path):
    """Row A: case08 with its labels gives the VBQ of ``spinebq mri --labels``. Row B: case08 with case06's labels
    (same grid, another spine) is flagged as ``spinebq mri`` flags it, VBQ missing. No label path reaches an output."""
    image, own, other = (need(T1 / name) for name in ("case08_t1.nii.gz", "case08_bodies_verse.nii.gz",
                                                      "case06_bodies_verse.nii.gz"))
    inputs = tmp_path / "Doe_Jane"
    inputs.mkdir()
    (inputs / "t1_doe.nii.gz").symlink_to(image)
    (inputs / "doe_bodies.nii.gz").symlink_to(own)
    (inputs / "roe_bodies.nii.gz").symlink_to(other)
    manifest = inputs / "manifest.csv"
    manifest.write_text("id,mri,mri_labels\nA,t1_doe.nii.gz,doe_bodies.nii.gz\nB,t1_doe.nii.gz,roe_bodies.nii.gz\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    table = pd.read_csv(out / "cohort.csv")
    assert list(table.status) == ["done", "done"], list(table.reason)
    alone = analyse_mri(image, labels=own)
    assert alone.vbq is not None and math.isclose(table.vbq[0], alone.vbq, abs_tol=1e-6), (table.vbq[0], alone.vbq)
    assert math.isnan(table.vbq[1])
    flagged = (out / "studies" / table.study[1] / "mri" / "mri.json").read_text()
    assert "labels_off_the_image" in flagged
    for path in (p for p in out.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for secret in ("Doe_Jane", "doe_bodies", "roe_bodies", "t1_doe"):
            assert secret.encode() not in content, (path.relative_to(out), secret)


def test_mri_labels_without_an_mri_are_said(tmp_path):
    """A row naming MRI labels but no MRI has nothing for them to label: the study says so instead of measuring the
    CT and leaving the labels unread."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"id,ct,mri,mri_labels\nA,{need(DATA / 'totalsegmentator_example' / 'ct.nii.gz')},,"
                        f"{need(T1 / 'case08_bodies_verse.nii.gz')}\n")
    (study,) = discover([manifest])
    assert study.problem == "the manifest row names mri_labels but no mri path for them to label"
