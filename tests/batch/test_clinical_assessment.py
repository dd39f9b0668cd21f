"""``spinebq batch --clinical``: the spreadsheet's age, sex, planned levels ... reach each study's assessment, as a
manifest's clinical columns do, checked before anything is measured (the real CT with TotalSegmentator's labels)."""
from __future__ import annotations

import contextlib
import io
import json

import pandas as pd
import pytest

from spinebq.batch.discover import discover
from spinebq.batch.ledger import Ledger, fingerprint
from spinebq.cli import main
from spinebq.errors import SpinebqError
from tests.conftest import TS, need

SPREADSHEET = "id,Age,sex,planned_levels,outcome\nC1,{age},F,{levels},1\n"


def _manifest(folder, clinical: str = "") -> str:
    """A manifest of one study, the real CT with its labels, and ``clinical`` columns (``,age`` and ``,71``)."""
    names, values = (clinical.split("|") + [""])[:2] if clinical else ("", "")
    manifest = folder / "manifest.csv"
    manifest.write_text(f"id,ct,labels{names}\nC1,{need(TS / 'ct.nii.gz')},{TS / 'seg_v2' / 'total.nii.gz'}{values}\n")
    return str(manifest)


def _batch(manifest: str, out, clinical) -> tuple[int, str]:
    """``spinebq batch`` of ``manifest`` with ``clinical`` keyed by the manifest id: exit code and standard output."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["batch", manifest, "--out", str(out), "--workers", "1", "--quiet", "--clinical", str(clinical),
                     "--clinical-key", "id"])
    return code, printed.getvalue()


def _assessment(out) -> dict:
    (path,) = (out / "studies").glob("*/assessment.json")
    return json.loads(path.read_text())


def _levels(assessment: dict, key: str) -> list[str]:
    return [row["level"] for row in assessment["models"] if row["key"] == key]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One study measured with a spreadsheet giving age 71, sex F and planned levels L4-L5, run again with the
    planned levels changed to L3-L4, and a third time with L4-L5 again: what each run left."""
    work = tmp_path_factory.mktemp("clinical_batch")
    manifest, out, clinical = _manifest(work), work / "out", work / "clinical.csv"
    clinical.write_text(SPREADSHEET.format(age=71, levels="L4-L5"))
    assert _batch(manifest, out, clinical)[0] == 0
    (measurements,) = (out / "studies").glob("*/ct/measurements.json")
    first = {"assessment": _assessment(out), "table": pd.read_csv(out / "cohort.csv"),
             "dictionary": pd.read_csv(out / "cohort_dictionary.csv"), "measurements": measurements.read_bytes()}
    with Ledger(out) as ledger:
        first["fingerprint"] = ledger.rows()[0]["fingerprint"]
    runs = [first]
    for levels in ("L3-L4", "L4-L5"):
        clinical.write_text(SPREADSHEET.format(age=71, levels=levels))
        code, printed = _batch(manifest, out, clinical)
        assert code == 0
        (measurements,) = (out / "studies").glob("*/ct/measurements.json")
        runs.append({"printed": printed, "assessment": _assessment(out), "table": pd.read_csv(out / "cohort.csv"),
                     "measurements": measurements.read_bytes()})
    return work, *runs


def test_the_spreadsheets_age_sex_and_planned_levels_reach_the_assessment(batch):
    """``--clinical`` with ``Age``, ``sex``, ``planned_levels``: it was joined to cohort.csv only after measuring, so
    the study was assessed without age, sex or planned levels (no model evaluated at the planned levels, the
    age- and sex-bound ones "not applicable") while the same columns in a manifest reached it. They now do, and
    the age appears once in cohort.csv and its dictionary."""
    first = batch[1]
    assessment, table = first["assessment"], first["table"]
    assert {k: assessment["patient"].get(k) for k in ("age", "sex", "planned_levels")} == {
        "age": 71.0, "sex": "F", "planned_levels": ["L4", "L5"]}
    assert _levels(assessment, "Sakai2018_STHU") == ["L4", "L5"]  # the model of the planned levels, at each
    row = table.iloc[0]
    assert row.status == "done", row.reason
    assert row.model_S003_3DHU in ("risk side", "not risk side")  # women over 50: applied now that age and sex are given
    assert [c for c in table.columns if c.lower() == "age"] == ["Age"] and row.Age == 71
    assert row.outcome == 1 and "id" not in table.columns and "clinical_Age" not in table.columns
    assert list(first["dictionary"].column) == list(table.columns)


def test_a_changed_spreadsheet_value_assesses_the_study_again_without_measuring_it(batch):
    """The spreadsheet's planned levels changed from L4-L5 to L3-L4: the next run once kept the old assessment, then
    measured the whole study again for it (a radiologist adding an age column to 1000 done CTs waited for all of
    them to be measured again). The study is now assessed again from its documents, its measurements kept byte for
    byte; set back to L4-L5, the assessment and the cohort row are the ones of the first, measured, run."""
    from spinebq.batch.cohort import with_clinical

    work, first, second, third = batch
    for run in (second, third):
        assert "measured 0 studies; assessed 1 done studies again" in run["printed"], run["printed"]
        assert run["measurements"] == first["measurements"]
    assert _levels(second["assessment"], "Sakai2018_STHU") == ["L3", "L4"]
    assert third["assessment"] == first["assessment"]
    pd.testing.assert_frame_equal(third["table"], first["table"])
    # the clinical values are hashed apart from the images: the fingerprint stays
    spreadsheet = pd.read_csv(io.StringIO(SPREADSHEET.format(age=71, levels="L3-L4")), dtype=str)
    (study,) = with_clinical(discover([work / "manifest.csv"]), spreadsheet, "id")
    assert fingerprint(study) == first["fingerprint"]


@pytest.mark.parametrize(("age", "levels", "said"), [("seventy", "L4-L5", "field age: 'seventy' is not a number"),
                                                     ("71", "L9-L10", "'L9-L10' is not a vertebra name")])
def test_a_value_the_assessment_cannot_read_is_refused_before_measuring(tmp_path, capsys, age, levels, said):
    """``Age`` "seventy" or ``planned_levels`` "L9-L10" in the spreadsheet: the batch measured every study and
    exited 0, the value never read. It is now refused in one sentence naming the spreadsheet's row and the column,
    before anything is measured."""
    clinical = tmp_path / "clinical.csv"
    clinical.write_text(SPREADSHEET.format(age=age, levels=levels))
    out = tmp_path / "out"
    assert main(["batch", _manifest(tmp_path), "--out", str(out), "--workers", "1", "--quiet", "--clinical",
                 str(clinical), "--clinical-key", "id"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"row 2 of {clinical}: " in err and said in err, err
    assert not (out / "studies").exists()


def test_a_manifest_value_is_kept_and_a_different_one_refused(tmp_path):
    """A field both the manifest and the spreadsheet give: the same value (in any case) is kept once, a blank
    manifest cell takes the spreadsheet's value, a different value is refused naming the row and column."""
    from spinebq.batch.cohort import with_clinical

    (study,) = discover([_manifest(tmp_path, ",age,sex|,71,")])
    spreadsheet = pd.read_csv(io.StringIO(SPREADSHEET.format(age=71, levels="l4-l5")), dtype=str)
    (given,) = with_clinical([study], spreadsheet, "id")
    assert given.clinical == (("age", "71"), ("sex", "F"), ("planned_levels", "l4-l5"))
    assert with_clinical([given], spreadsheet, "id") == [given]  # once given, giving again changes nothing
    spreadsheet.loc[0, "Age"] = "70"
    with pytest.raises(SpinebqError, match="row 2 of the clinical file: its Age '70' differs from the manifest's '71'"):
        with_clinical([study], spreadsheet, "id")


def test_a_study_whose_documents_are_not_whole_is_not_assessed_from_them(batch, tmp_path):
    """A done study whose ``ct/measurements.json`` was removed or cut short is not assessed again from what is left
    (it would lose its CT models silently): re-assessment refuses it, and the batch measures the study instead."""
    import shutil

    from spinebq.batch.cohort import with_clinical
    from spinebq.batch.study import reassess_study

    work = batch[0]
    out = tmp_path / "out"
    shutil.copytree(work / "out", out)
    spreadsheet = pd.read_csv(io.StringIO(SPREADSHEET.format(age=71, levels="L3-L4")), dtype=str)
    (study,) = with_clinical(discover([work / "manifest.csv"]), spreadsheet, "id")
    assert _levels(reassess_study(out, study).assessment.to_json(), "Sakai2018_STHU") == ["L3", "L4"]
    (measurements,) = out.glob("studies/*/ct/measurements.json")
    measurements.write_text(measurements.read_text()[:100])
    with pytest.raises(SpinebqError, match="measurements.json"):
        reassess_study(out, study)
    measurements.unlink()
    with pytest.raises(SpinebqError, match="missing, though the study's row holds what it measured"):
        reassess_study(out, study)
