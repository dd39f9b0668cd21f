"""The typed assessment (:class:`spinebq.records.assessment.Assessment`): ``assessment.json`` is byte for byte the
document the code wrote before the record existed (recorded with ``spinebq report`` at commit f294320 on the demo
phantom and on the real CT + T1 MRI, the inputs of the fixtures in ``tests/report/conftest.py``; re-recorded once
after issue 19 gave S1 a screw plan, which changed only S1's ``st_hu``, ``hu_ratio`` and ``trajectory_vbmd_mg_cm3``; again
after issue 19a fitted the planned screws in the bone the image shows instead of the label (other medial angles and lengths:
every level's ``st_hu``, ``hu_ratio``, ``trajectory_vbmd_mg_cm3`` and the model values computed from them; nothing else);
and once after issue 19b weighed the voxels of the 3 mm CT by their share inside the 3D-HU ROI, which changed only the real
CT's summary ``hu_3d``, 121.1076 -> 119.4546, in ``values`` and in the S003_3DHU model; and once when method texts
cited the seed papers by bibliography key, which changed only the VBQ and PBQ ``source`` texts: ``paper 004 Wu 2025``
-> ``Wu 2025 [wu2025]``, ``paper 001 Yang`` -> ``Yang 2026 [yang2026]``; and once when S1 lost the lumbar pedicle
model's region B, which changed only the demo's S1 ``pedicle_vbmd_mg_cm3`` (331.3603 -> null) and the reasons of
missing pedicle values, which now say why: S1's own reason, or "the vertebra is cut by the field of view"; and once when
Sakai 2018's screw-trajectory HU was read from the screw cylinders (``st_hu_3d``, HU along the screw in 3D as the paper
measured it) instead of the HU ratio's axial rectangles: each level's values gained ``st_hu_3d``, ``st_hu`` lost its
fall-back to the cylinders (its ``source`` text names the rectangles), and the Sakai rows' values and sides changed (real
CT L4 147.8 -> 162.5 HU, L5 150.4 -> 163.3 HU: no longer on the risk side); nothing else); and once when a missing
screw's value gave measurements.json's stored per-side reason instead of the generic "no screw trajectory in
measurements.json": only the real CT's T11 and T12 ``st_hu``, ``st_hu_3d``, ``hu_ratio`` and ``trajectory_vbmd_mg_cm3``
``reason`` changed, to "the vertebra is cut by the field of view"), and the record
survives ``from_json(to_json())`` and pickle, also with a scored and an unscored nomogram row."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from spinebq.records.assessment import Assessment, ModelResult
from spinebq.risk.assess import assess_patient

RECORDED = Path(__file__).resolve().parents[1] / "data"
NOMOGRAM = {"intercept": -3.0, "coefficients": {"age": 0.02, "st_hu": -0.01, "hu_ratio": 0.5, "pbq": 0.3, "goutallier": 0.4},
            "ranges": {"age": [30, 90], "st_hu": [50, 300], "hu_ratio": [0.5, 2], "pbq": [1, 5], "goutallier": [0, 4]},
            "cutoff": 0.2, "source": "test coefficients"}


@pytest.mark.parametrize(("folder", "recorded"), [("demo_report_dir", "assessment_demo_before_records.json"),
                                                  ("real_report_dir", "assessment_real_before_records.json")])
def test_assessment_json_is_unchanged_byte_for_byte(folder, recorded, request):
    written = (request.getfixturevalue(folder) / "assessment.json").read_bytes()
    assert written == (RECORDED / recorded).read_bytes()


@pytest.mark.parametrize("recorded", ["assessment_demo_before_records.json", "assessment_real_before_records.json"])
def test_recorded_documents_round_trip(recorded):
    document = json.loads((RECORDED / recorded).read_text())
    record = Assessment.from_json(document)
    assert record.to_json() == document
    assert pickle.loads(pickle.dumps(record)) == record
    assert record.patient_id in ("demo", "case-A") and all(isinstance(r, ModelResult) for r in record.models)
    assert [r.key for r in record.applied()] == [r["key"] for r in document["models"] if r["status"] == "applied"]


@pytest.fixture(scope="module")
def docs(real_ct_dir, real_mri_dir):
    return (json.loads((real_ct_dir / "measurements.json").read_text()),
            json.loads((real_mri_dir / "mri.json").read_text()))


@pytest.mark.parametrize("clinical", [{"age": 71, "sex": "F", "planned_levels": "L3-L5"}, {}])
def test_nomogram_rows_round_trip(docs, clinical):
    """Scored (all inputs, with points) and not scored (age missing): the row's keys come back as written."""
    result = assess_patient(*docs, clinical, nomogram=NOMOGRAM, patient_id="n")
    (nomo,) = [r for r in result.models if r.key == "S001_nomogram"]
    assert nomo.nomogram is not None and nomo.nomogram.scored == ("age" in clinical)
    assert (nomo.status == "applied") == ("age" in clinical)
    document = result.to_json()
    assert Assessment.from_json(document) == result
    assert Assessment.from_json(json.loads(json.dumps(document))).to_json() == json.loads(json.dumps(document))
    copy = pickle.loads(pickle.dumps(result))
    assert json.dumps(copy.to_json()) == json.dumps(document)
    row = nomo.to_json()
    assert ("linear_predictor" in row) == ("age" in clinical) and set(row["inputs"]) == set(NOMOGRAM["coefficients"])
    assert ModelResult.from_json(row) == nomo
