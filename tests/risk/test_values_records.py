"""risk/ reads typed records: assessing a record and assessing its ``to_json()`` document give the same assessment
(real CT with TotalSegmentator labels through ``spinebq.pipeline.analyse_ct``, a real T1 MRI through
``analyse_mri``); the values come from the record's typed fields and known sub-documents; library messages name
what is missing, not a command-line option."""
from __future__ import annotations

import json

import pytest

from spinebq.errors import SpinebqError
from spinebq.records.assessment import PatientValues
from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.risk.assess import assess_patient, ct_record, mri_record
from spinebq.risk.values import UNCALIBRATED, ct_level_values, patient_values, region_values, trajectory_hu
from tests.conftest import DATA, need

CLINICAL = {"age": 71, "sex": "F", "planned_levels": "L3-L5", "procedure": "PLIF"}
#: Coefficients over clinical, per-level (L3 with its substitutes) and MRI variables, with axis ranges.
NOMOGRAM = {"intercept": -3.0, "coefficients": {"age": 0.02, "st_hu": -0.01, "hu_ratio": 0.5, "pbq": 0.3, "goutallier": 0.4},
            "ranges": {"age": [30, 90], "st_hu": [50, 300], "hu_ratio": [0.5, 2], "pbq": [1, 5], "goutallier": [0, 4]},
            "source": "test coefficients"}


@pytest.fixture(scope="module")
def ct(real_ct_record):
    return real_ct_record.without_images()


@pytest.fixture(scope="module")
def mri():
    from spinebq.pipeline import analyse_mri

    return analyse_mri(need(DATA / "lumbar_mri_t1" / "case06_t1.nii.gz")).without_images()


def test_a_record_and_its_document_give_the_same_assessment(ct, mri):
    from_records = assess_patient(ct, mri, CLINICAL, nomogram=NOMOGRAM, patient_id="r")
    from_documents = assess_patient(ct.to_json(), mri.to_json(), CLINICAL, nomogram=NOMOGRAM, patient_id="r")
    assert from_records == from_documents
    assert json.dumps(from_records.to_json(), sort_keys=True) == json.dumps(from_documents.to_json(), sort_keys=True)
    assert from_records.has_ct is True and from_records.has_mri is True
    (nomo,) = [r for r in from_records.models if r.key == "S001_nomogram"]
    assert nomo.status == "applied" and {i.name for i in nomo.nomogram.inputs} == set(NOMOGRAM["coefficients"])
    # the CT-only and MRI-only halves too
    assert assess_patient(ct, None, CLINICAL) == assess_patient(ct.to_json(), None, CLINICAL)
    assert assess_patient(None, mri, CLINICAL) == assess_patient(None, mri.to_json(), CLINICAL)


def test_values_come_from_the_typed_fields(ct, mri):
    values = patient_values(ct, mri, CLINICAL)
    assert values.get("summary_hu_3d").value == ct.summary.hu and ct.summary.hu_key == "hu_3d"
    assert values.get("summary_hu_3d").preset == ct.method["preset"]
    assert values.get("summary_hu_2d").value == ct.summary.hu_2d
    assert values.get("pbq").value == mri.pbq and values.get("vbq").value == mri.vbq
    assert values.get("goutallier").value == max(m.goutallier for m in mri.muscle if m.goutallier is not None)
    assert list(values.levels) == [v.level for v in ct.vertebrae]
    l3 = ct.level("L3")
    level = values.levels["L3"]
    assert level["st_hu"].value == l3.st_hu and level["b_hu"].value == l3.b_hu
    assert level["hu_ratio"].value == l3.hu_ratio
    assert trajectory_hu(l3) == (pytest.approx((l3.trajectories["left"].hu_mean + l3.trajectories["right"].hu_mean) / 2), [])
    assert level["st_hu_3d"].value == trajectory_hu(l3)[0] != level["st_hu"].value
    regions = l3.to_json()["regions"]  # the document's values: the record reads them by field
    assert region_values(l3, "A") == (regions["A"]["hu_mean"], None)
    assert region_values(l3, "B")[0] == pytest.approx((regions["B"]["left"]["hu_mean"] + regions["B"]["right"]["hu_mean"]) / 2)
    # not calibrated: no vBMD, and the reason names what is missing, not a command-line option
    assert not ct.calibrated
    for key in ("body_vbmd_mg_cm3", "pedicle_vbmd_mg_cm3", "trajectory_vbmd_mg_cm3"):
        assert level[key].value is None and level[key].reason == UNCALIBRATED
    assert values.get("summary_vbmd_mg_cm3").reason == UNCALIBRATED
    # the values section survives its document, keys in the same order
    document = values.to_json()
    assert json.dumps(PatientValues.from_json(json.loads(json.dumps(document))).to_json()) == json.dumps(document)
    assert list(document)[:4] == ["age", "bmi_kg_m2", "hip_t_score", "sex_female"]
    with pytest.raises(ValueError, match="not one of A, B, C"):
        region_values(l3, "pedicle")


def test_a_level_not_measured_has_a_reason(ct):
    values = ct_level_values(ct, "T1")
    assert all(v.value is None and v.reason == "T1 is not in measurements.json" for v in values.values())


def test_library_messages_name_no_command_line_option(ct, mri):
    result = assess_patient(ct, mri, CLINICAL)
    text = json.dumps(result.to_json())
    assert "--" not in text.replace("---", "")
    (nomo,) = [r for r in result.models if r.key == "S001_nomogram"]
    assert nomo.reason.startswith("the nomogram's paper [yang2026] did not publish its coefficients; a nomogram coefficients file is needed")


def test_documents_are_converted_once_at_the_entry():
    with pytest.raises(SpinebqError, match="CT results: not a spinebq.ct/1 document"):
        assess_patient({"schema": "other"}, None, CLINICAL)
    with pytest.raises(SpinebqError, match="measurements.json: not a complete spinebq.ct/1 document \\(no 'input' key\\)"):
        ct_record({"schema": "spinebq.ct/1"}, where="measurements.json")
    with pytest.raises(TypeError, match="CtRecord"):
        assess_patient([1, 2], None, CLINICAL)
    # an empty document is no CT, as before
    result = assess_patient({}, None, CLINICAL)
    assert result.has_ct is False and result.values.levels is None and "levels" not in result.to_json()["values"]
    assert ct_record(None) is None


def test_records_pass_through_unchanged(ct, mri):
    assert ct_record(ct) is ct and mri_record(mri) is mri
    assert isinstance(ct, CtRecord) and isinstance(mri, MriRecord)
