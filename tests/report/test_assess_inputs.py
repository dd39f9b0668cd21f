"""``spinebq assess`` with clinical data and nomogram coefficients as users type them, on the real CT (TotalSegmentator
labels): what is read is the value meant, and what cannot be read is refused in one sentence with exit code 2."""
from __future__ import annotations

import json

import pytest

from spinebq.cli import main


def assess(real_ct_dir, tmp_path, *options) -> dict:
    """``spinebq assess --ct`` the real CT with ``options``; the assessment.json written."""
    out = tmp_path / "assessment"
    assert main(["assess", "--ct", str(real_ct_dir), *options, "--out", str(out), "--overwrite"]) == 0
    return json.loads((out / "assessment.json").read_text())


def refused(capsys, *argv) -> str:
    """The one-sentence refusal of ``spinebq argv`` (exit code 2, no traceback)."""
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("field", ["age", "hip_t_score", "goutallier", "bmi_kg_m2"])
@pytest.mark.parametrize("flag", [True, False])
def test_a_json_true_or_false_is_not_read_as_a_number(field, flag, real_ct_dir, tmp_path, capsys):
    """``"hip_t_score": false`` was read as a T-score of 0.0 (and ``"age": true`` as age 1) and placed against the
    published cutoffs; a yes/no where a number belongs is refused, naming the file and the field."""
    clinical = tmp_path / "clinical.json"
    clinical.write_text(json.dumps({"sex": "F", field: flag}))
    err = refused(capsys, "assess", "--ct", str(real_ct_dir), "--clinical", str(clinical))
    assert "clinical.json" in err and f"field {field}" in err and "not a number" in err


@pytest.mark.parametrize("coefficients", [{"intercept": True, "coefficients": {"age": 0.03}},
                                          {"intercept": -3.0, "coefficients": {"age": True}},
                                          {"intercept": -3.0, "coefficients": {"age": 0.03}, "cutoff": True}])
def test_a_nomogram_true_or_false_is_not_a_coefficient(coefficients, real_ct_dir, tmp_path, capsys):
    """A coefficient file with ``true`` for the intercept or a log-odds gave a probability from coefficients of 1;
    it is refused, naming the file."""
    nomogram = tmp_path / "coefficients.json"
    nomogram.write_text(json.dumps(coefficients))
    err = refused(capsys, "assess", "--ct", str(real_ct_dir), "--age", "71", "--nomogram", str(nomogram))
    assert "coefficients.json" in err and "not a number" in err


def test_numbers_as_text_are_still_read(real_ct_dir, tmp_path):
    """Numbers given as JSON numbers or as text keep being read as before (the refusal is of yes/no only)."""
    clinical = tmp_path / "clinical.json"
    clinical.write_text(json.dumps({"age": "71", "sex": "F", "hip_t_score": -2.5}))
    patient = assess(real_ct_dir, tmp_path, "--clinical", str(clinical))["patient"]
    assert patient["age"] == 71.0 and patient["hip_t_score"] == -2.5


WOMEN_ONLY_POSTMENOPAUSAL = ("S003_3DHU", "S003_HU")  # [chang2025]: postmenopausal women only


@pytest.mark.parametrize("answer, applied", [("No", False), ("no", False), ("Yes", True), ("y", True)])
def test_postmenopausal_no_keeps_the_postmenopausal_cohorts_cutoffs_away(answer, applied, real_ct_dir, tmp_path):
    """[chang2025]'s cohort was postmenopausal women only; a woman whose clinical CSV says postmenopausal "No" was
    still placed against its 3D-HU and three-slice HU cutoffs (the field was read and ignored). Now those rows
    are not applicable and say why; "Yes" keeps them applied."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text(f"\ufeffage,sex,postmenopausal,procedure\n48,Female,{answer},vertebral augmentation\n",
                        encoding="utf-8")
    result = assess(real_ct_dir, tmp_path, "--clinical", str(clinical))
    assert result["patient"]["postmenopausal"] is applied
    rows = {r["key"]: r for r in result["models"] if r["key"] in WOMEN_ONLY_POSTMENOPAUSAL}
    assert set(rows) == set(WOMEN_ONLY_POSTMENOPAUSAL)
    for row in rows.values():
        if applied:
            assert row["status"] == "applied" and row["value"] is not None
        else:
            assert row["status"] == "not_applicable" and row["value"] is None
            assert "postmenopausal" in row["reason"]


@pytest.mark.parametrize("field", ["postmenopausal", "previous_augmentation"])
def test_a_yes_no_field_that_is_neither_is_refused(field, real_ct_dir, tmp_path, capsys):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text(f"age,sex,{field}\n71,F,maybe\n")
    err = refused(capsys, "assess", "--ct", str(real_ct_dir), "--clinical", str(clinical))
    assert "clinical.csv" in err and f"field {field}" in err and "yes or no" in err


def test_the_report_says_what_the_yes_no_fields_were(real_ct_dir, tmp_path):
    """The report's Clinical line names the answers that decide whether a model applies."""
    clinical = tmp_path / "clinical.json"
    clinical.write_text(json.dumps({"age": 66, "sex": "F", "postmenopausal": False, "previous_augmentation": "yes"}))
    out = tmp_path / "report"
    assert main(["report", "--ct", str(real_ct_dir), "--clinical", str(clinical), "--no-pdf", "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "not postmenopausal" in html and "previous vertebral augmentation" in html
