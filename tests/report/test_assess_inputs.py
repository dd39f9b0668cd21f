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


@pytest.mark.parametrize("form", ["L5/S1", "l5-s1", "L5\u2013S1", "L5 S1", "S1-L5", "L5,S1"])
@pytest.mark.parametrize("given", ["option", "csv"])
def test_planned_levels_as_surgeons_write_them(form, given, real_ct_dir, tmp_path):
    """``L5/S1`` (the segment notation), an en dash pasted from a letter or levels separated by a space were refused
    as "not a vertebra name"; each now plans L5 and S1, and the screw-trajectory cutoff of [sakai2018] is placed at
    exactly those levels with the st_hu_3d of measurements.json."""
    if given == "option":
        options = ["--sex", "F", "--planned-levels", form]
    else:
        clinical = tmp_path / "clinical.csv"
        clinical.write_text(f'field,value\nsex,F\nplanned_levels,"{form}"\n', encoding="utf-8")
        options = ["--clinical", str(clinical)]
    result = assess(real_ct_dir, tmp_path, *options)
    measured = json.loads((real_ct_dir / "measurements.json").read_text())["vertebrae"]
    assert result["patient"]["planned_levels"] == ["L5", "S1"]
    sakai = [r for r in result["models"] if r["key"] == "Sakai2018_STHU"]
    assert [r["level"] for r in sakai] == ["L5", "S1"]
    assert [r["value"] for r in sakai] == [measured[r["level"]]["st_hu_3d"] for r in sakai]


def test_the_short_segment_notation_keeps_its_region():
    from spinebq.anatomy import parse_levels

    assert parse_levels("L4/5") == parse_levels("L4-5") == ["L4", "L5"]
    assert parse_levels("T11/12") == ["T11", "T12"]


@pytest.mark.parametrize("typed, sex", [("Female", "F"), ("f", "F"), ("MALE", "M"), ("m", "M")])
def test_sex_as_people_type_it(typed, sex, real_ct_dir, tmp_path):
    """``--sex Female`` and ``--sex f`` were refused by the option while a clinical file read the same words; the
    option now reads them too, and a man is kept out of the women-only cutoffs."""
    result = assess(real_ct_dir, tmp_path, "--sex", typed, "--planned-levels", "L4-L5")
    assert result["patient"]["sex"] == sex
    (sakai, *_) = [r for r in result["models"] if r["key"] == "Sakai2018_STHU"]
    assert (sakai["status"] == "not_applicable") == (sex == "M")


@pytest.mark.parametrize("option, value", [("--sex", "x"), ("--planned-levels", "L4-X")])
def test_an_option_that_cannot_be_read_is_refused_naming_it(option, value, real_ct_dir, capsys):
    err = refused(capsys, "assess", "--ct", str(real_ct_dir), option, value)
    assert option in err


def test_planned_levels_in_a_file_that_are_no_vertebrae_name_the_file(real_ct_dir, tmp_path, capsys):
    """The refusal named neither the file nor the field ("'45' is not a vertebra name")."""
    clinical = tmp_path / "clinical.json"
    clinical.write_text(json.dumps({"sex": "F", "planned_levels": 45}))
    err = refused(capsys, "assess", "--ct", str(real_ct_dir), "--clinical", str(clinical))
    assert "clinical.json" in err and "field planned_levels" in err


def test_a_lumbar_cutoff_at_a_thoracic_screw_says_so(demo_report_dir, tmp_path):
    """[sakai2018]'s screw-trajectory cutoff comes from lumbar interbody fusions; planned at T12 (measured on the
    phantom CT) it was placed with no word that the level lies outside the paper's. The T12 row now says so; the
    lumbar row does not, and the value is still measurements.json's st_hu_3d."""
    ct_dir = demo_report_dir.parent / "ct"
    result = assess(ct_dir, tmp_path, "--sex", "F", "--planned-levels", "T12-L1", "--procedure", "fusion")
    measured = json.loads((ct_dir / "measurements.json").read_text())["vertebrae"]
    rows = {r["level"]: r for r in result["models"] if r["key"] == "Sakai2018_STHU"}
    assert set(rows) == {"T12", "L1"}
    assert rows["T12"]["status"] == "applied" and rows["T12"]["value"] == measured["T12"]["st_hu_3d"]
    assert any("T12 lies outside" in c and "[sakai2018]" in c for c in rows["T12"]["caveats"])
    assert not any("lies outside" in c for c in rows["L1"]["caveats"])


@pytest.mark.parametrize("age, model, cohort", [(16, "S001_HU_ratio", "age >= 18"), (18, "S001_HU_ratio", None),
                                                (45, "S000_T2", "age > 50"), (50, "S000_T2", "age > 50"),
                                                (51, "S000_T2", None), (71, "S000_T2", None)])
def test_an_age_outside_the_papers_cohort_is_a_caveat(age, model, cohort, real_ct_dir, tmp_path):
    """[yang2026] studied adults (age >= 18) and [xu2025] patients "aged over 50 years"; a 16- or 45-year-old was
    placed against their cutoffs with no caveat (only [chang2025] carried its minimum age). A 50-year-old still passed
    [xu2025]'s check silently (it read "age < 50"); the bound is now the paper's: over 50."""
    clinical = tmp_path / "clinical.json"
    clinical.write_text(json.dumps({"hip_t_score": -2.0}))
    result = assess(real_ct_dir, tmp_path, "--age", str(age), "--sex", "F", "--procedure", "fusion",
                    "--clinical", str(clinical))
    (row,) = [r for r in result["models"] if r["key"] == model]
    assert row["value"] is not None
    outside = [c for c in row["caveats"] if c.startswith("age ")]
    assert outside == ([f"age {age} lies outside the paper's cohort ({cohort})"] if cohort else [])


@pytest.mark.parametrize("ranges, words", [({"age": [30, 90], "pqb": [1, 6]}, "range of 'pqb', a variable without a coefficient"),
                                           ({"age": [30, 90]}, "no range for 'pbq'")])
def test_nomogram_ranges_that_do_not_match_the_coefficients_are_refused(ranges, words, real_ct_dir, tmp_path, capsys):
    """A range for a misspelt variable (``pqb``) was dropped without a word, and a range missing for one variable
    dropped every variable's points ("no axis ranges given"); both are refused, naming the variable."""
    nomogram = tmp_path / "coefficients.json"
    nomogram.write_text(json.dumps({"intercept": -9.0, "coefficients": {"age": 0.1, "pbq": 1.5}, "ranges": ranges}))
    err = refused(capsys, "assess", "--ct", str(real_ct_dir), "--age", "71", "--nomogram", str(nomogram))
    assert "coefficients.json" in err and words in err, err


@pytest.mark.parametrize("stats", [False, True])
def test_a_nomogram_variable_spinebq_does_not_know_is_refused(stats, real_ct_dir, tmp_path, capsys):
    """A coefficient for a variable spinebq does not measure (``pqb``, misspelt) made the nomogram row "not
    applicable: missing nomogram inputs: pqb (not a variable spinebq knows)"; the file (a user's coefficients or a
    stats.json of spinebq stats) is refused when read, in one sentence naming the variable and those spinebq knows."""
    spec = {"intercept": -9.0, "coefficients": {"age": 0.1, "pqb": 1.5}}
    nomogram = tmp_path / ("stats.json" if stats else "coefficients.json")
    nomogram.write_text(json.dumps({"nomogram": spec} if stats else spec))
    err = refused(capsys, "assess", "--ct", str(real_ct_dir), "--age", "71", "--nomogram", str(nomogram))
    assert nomogram.name in err and "'pqb' (did you mean 'pbq'?) is not among the variables spinebq knows: " in err, err
    assert "age, bmi_kg_m2" in err and "hu_ratio" in err and "goutallier" in err


def test_a_known_nomogram_variable_without_a_value_says_what_is_missing(real_ct_dir, tmp_path):
    """A variable spinebq knows but cannot read for this patient keeps the row "not applicable" with its reason:
    ``pbq`` of a CT without MRI results read "not a variable spinebq knows"; it now says the MRI results are missing,
    while the CT's values still come with their own reason (no ``hip_t_score`` in the clinical data)."""
    nomogram = tmp_path / "coefficients.json"
    nomogram.write_text(json.dumps({"intercept": -9.0, "coefficients": {"age": 0.1, "pbq": 1.5, "hu_ratio": -2.0,
                                                                        "hip_t_score": -0.5}}))
    result = assess(real_ct_dir, tmp_path, "--age", "71", "--nomogram", str(nomogram))
    (row,) = [r for r in result["models"] if r["key"] == "S001_nomogram"]
    assert row["status"] == "not_applicable"
    assert row["reason"] == ("missing nomogram inputs: pbq (no MRI results given); "
                             "hip_t_score (hip_t_score not given in the clinical data)")
