"""Module-scoped report fixtures: spinebq ct on the real CT with TotalSegmentator labels, spinebq mri on a real
T1 exam with its body masks, and the report built from both."""
from __future__ import annotations

import json

import pytest

from spinebq.cli import main
from tests.conftest import DATA, need


@pytest.fixture(scope="session")
def real_ct_dir(real_ct_run):
    """The folder of ``spinebq ct`` on the real CT with TotalSegmentator labels (tests/conftest.py)."""
    return real_ct_run[0]


@pytest.fixture(scope="session")
def real_mri_dir(tmp_path_factory):
    t1 = DATA / "lumbar_mri_t1"
    out = tmp_path_factory.mktemp("mri")
    code = main(["mri", str(need(t1 / "case02_t1.nii.gz")), "--labels", str(need(t1 / "case02_bodies_verse.nii.gz")),
                 "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def real_report_dir(tmp_path_factory, real_ct_dir, real_mri_dir):
    out = tmp_path_factory.mktemp("report")
    code = main(["report", "--ct", str(real_ct_dir), "--mri", str(real_mri_dir), "--age", "71", "--sex", "F",
                 "--planned-levels", "L4-L5", "--procedure", "fusion", "--id", "case-A", "--out", str(out)])
    assert code == 0
    return out


def load(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def phantom_files(tmp_path_factory):
    """``spinebq phantom --rods --mri``: the synthetic CT (a NIfTI without scanner keys), its labels and the MR."""
    folder = tmp_path_factory.mktemp("phantom") / "ph"
    assert main(["phantom", "--out", str(folder), "--rods", "--mri"]) == 0
    return folder


@pytest.fixture(scope="session")
def phantom_variant_dir(tmp_path_factory, phantom_files):
    """``spinebq ct`` on the phantom with the options whose traces the assessment and report must carry: portal
    venous phase with Pickhardt's correction, summary over L3-L5 (not the papers' L1-L4), a scanner equation
    applied unchecked (the NIfTI names no scanner) and no screw trajectories (trajectory mode none)."""
    root = tmp_path_factory.mktemp("variant")
    equation = {"schema": "spinebq.equations/1", "equations": [
        {"manufacturer": "GE MEDICAL SYSTEMS", "model": "BrightSpeed", "kvp": 120, "kernel": "STANDARD",
         "slope_hu_per_mg_cm3": 1.2456, "intercept_hu": 64.75, "r2": 1.0, "reference": "hand written"}]}
    (root / "eq.json").write_text(json.dumps(equation))
    out = root / "ct"
    assert main(["ct", str(phantom_files / "ct.nii.gz"), "--labels", str(phantom_files / "labels.nii.gz"),
                 "--contrast-phase", "portal_venous", "--contrast-correction", "pickhardt", "--levels", "L3-L5",
                 "--calibration", str(root / "eq.json"), "--trajectory", "none", "--no-pictures", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def demo_report_dir(tmp_path_factory, phantom_files):
    """The demo patient: the synthetic CT with calibration rods (calibrated to vBMD) and the synthetic T1 MRI."""
    root = tmp_path_factory.mktemp("demo")
    # the README's demo commands
    (root / "ph").symlink_to(phantom_files, target_is_directory=True)
    assert main(["ct", str(root / "ph" / "ct.nii.gz"), "--labels", str(root / "ph" / "labels.nii.gz"), "--calibration",
                 "phantom", "--phantom", str(root / "ph" / "phantom_rods.json"), "--out", str(root / "ct")]) == 0
    assert main(["mri", str(root / "ph" / "mr.nii.gz"), "--labels", str(root / "ph" / "mr_labels.nii.gz"),
                 "--out", str(root / "mri")]) == 0
    assert main(["report", "--ct", str(root / "ct"), "--mri", str(root / "mri"), "--age", "68", "--sex", "F",
                 "--planned-levels", "L4-L5", "--procedure", "fusion", "--id", "demo", "--out", str(root / "report")]) == 0
    return root / "report"
