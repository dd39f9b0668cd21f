"""The study pipeline: records equal the CLI's documents, survive pickling and JSON, and numbers are unchanged."""
from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest

from spinebq.cli import main
from spinebq.errors import OptionError
from spinebq.pipeline import CtOptions, MriOptions, analyse_ct, analyse_mri
from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.report.files import to_jsonable

from .conftest import DATA, TS, need

#: Numbers spinebq wrote before the pipeline existed (commit 22d25b2); the file names the commands.
RECORDED = json.loads((Path(__file__).parent / "data" / "recorded_before_pipeline.json").read_text())
MRI = DATA / "lumbar_mri_t1"
CASES = ("case02", "case06", "case08", "case10")


def _same(a, b, path=""):
    """Assert two JSON values are equal, NaN/None alike, naming the first differing key."""
    if isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for key in a:
            _same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)), (path, a, b)


def _ct_numbers(document: dict) -> dict:
    keys = ("hu_3d", "hu_3d_voxels", "hu_2d", "vbmd_mg_cm3", "st_hu", "b_hu", "hu_ratio", "genant_grade", "body_volume_ml")
    return {"vertebrae": {n: {k: v.get(k) for k in keys} | {"region_A": (v.get("regions") or {}).get("A", {}).get("hu_mean")}
                          for n, v in document["vertebrae"].items()},
            "summary": {k: document["summary"].get(k) for k in ("hu", "hu_2d", "vbmd_mg_cm3", "acr_category", "fractured_levels")}}


def _mri_numbers(document: dict) -> dict:
    return {"vbq": document["vbq"], "s1_vbq": document["s1_vbq"], "pbq": document["pbq"],
            "csf_signal": document["csf"]["signal"],
            "body_signal": {n: v["body_signal"] for n, v in document["levels"].items()},
            "goutallier": {n: v["goutallier"] for n, v in document["muscle"].items()}}


@pytest.fixture(scope="module")
def real_ct_record() -> CtRecord:
    return analyse_ct(need(TS / "ct.nii.gz"), need(TS / "seg_v2" / "total.nii.gz"))


def test_analyse_ct_equals_the_cli_document(real_ct_record, tmp_path, capsys):
    """From Python, analyse_ct on the real CT gives the document `spinebq ct` writes for the same input."""
    assert main(["ct", str(TS / "ct.nii.gz"), "--labels", str(TS / "seg_v2" / "total.nii.gz"), "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "measurements.json").read_text())
    ours = to_jsonable(real_ct_record.to_json())
    assert "outputs" not in ours  # nothing written yet
    written.pop("outputs")
    _same(ours, written)


def test_real_ct_numbers_unchanged_by_the_pipeline(real_ct_record):
    _same(to_jsonable(_ct_numbers(real_ct_record.to_json())), RECORDED["ct_real_total"])


def test_builtin_segmentation_numbers_unchanged_by_the_pipeline():
    record = analyse_ct(need(TS / "ct.nii.gz"))
    assert record.acquisition.labels["source"] == "spinebq segment (built-in)"
    _same(to_jsonable(_ct_numbers(record.to_json())), RECORDED["ct_real_builtin"])


def test_phantom_numbers_unchanged_by_the_pipeline(tmp_path):
    assert main(["phantom", "--out", str(tmp_path), "--rods"]) == 0
    record = analyse_ct(tmp_path / "ct.nii.gz", tmp_path / "labels.nii.gz",
                        CtOptions(calibration="phantom", phantom=str(tmp_path / "phantom_rods.json")))
    assert record.calibrated
    _same(to_jsonable(_ct_numbers(record.to_json())), RECORDED["ct_phantom_rods"])


def test_ct_record_survives_pickle_and_json(real_ct_record):
    document = to_jsonable(real_ct_record.to_json())
    shipped = pickle.loads(pickle.dumps(real_ct_record.without_images()))
    _same(to_jsonable(shipped.to_json()), document)
    again = CtRecord.from_json(json.loads(json.dumps(document)))
    _same(to_jsonable(again.to_json()), document)
    l1 = again.level("L1")
    assert l1.trabecular.voxels > 100 and l1.hu == l1.trabecular.mean
    assert again.summary.levels_used == ("L1", "L2", "L3", "L4")


@pytest.mark.parametrize("case", CASES)
def test_analyse_mri_equals_the_cli_document_and_numbers_unchanged(case, tmp_path):
    image, labels = need(MRI / f"{case}_t1.nii.gz"), need(MRI / f"{case}_bodies_verse.nii.gz")
    assert main(["mri", str(image), "--labels", str(labels), "--out", str(tmp_path), "--no-figures"]) == 0
    written = json.loads((tmp_path / "mri.json").read_text())
    record = analyse_mri(image, labels=labels)
    document = to_jsonable(record.to_json())
    written.pop("outputs")
    _same(document, written)
    _same(_mri_numbers(document), RECORDED[f"mri_{case}_labels"])
    shipped = pickle.loads(pickle.dumps(record.without_images()))
    _same(to_jsonable(shipped.to_json()), document)
    _same(to_jsonable(MriRecord.from_json(json.loads(json.dumps(document))).to_json()), document)


def test_automatic_mri_numbers_unchanged_by_the_pipeline():
    record = analyse_mri(need(MRI / "case06_t1.nii.gz"), options=MriOptions())
    assert record.roi_method == "automatic"
    _same(to_jsonable(_mri_numbers(record.to_json())), RECORDED["mri_case06_auto"])


@pytest.mark.parametrize("changes, parameter", [
    ({"metal_hu": float("nan")}, "metal_hu"),
    ({"screw_diameter_mm": 0.0}, "screw_diameter_mm"),
    ({"shell_mm": -5.0}, "shell_mm"),
    ({"summary_levels": ("L1", "X9")}, "summary_levels"),
    ({"calibration": "phantom"}, "phantom"),
    ({"trajectory": "sideways"}, "trajectory"),
])
def test_bad_options_name_their_parameter(changes, parameter):
    with pytest.raises(OptionError) as caught:
        CtOptions(**changes)
    assert caught.value.parameter == parameter


def test_options_are_frozen_and_picklable():
    options = CtOptions(metal_hu=1200.0)
    assert pickle.loads(pickle.dumps(options)) == options
    with pytest.raises(AttributeError):
        options.metal_hu = 3.0  # type: ignore[misc]
