"""The report and the SR read records through one table of quantities; a record and its documents give the same
report."""
from __future__ import annotations

import json
import math
import re

from spinebq.records.ct import CtRecord
from spinebq.records.mri import MriRecord
from spinebq.records.quantities import LEVEL_QUANTITIES as COHORT_LEVEL_QUANTITIES
from spinebq.report import quantities as rq
from spinebq.report.html import render_patient_html
from spinebq.report.patient import patient_report
from spinebq.report.sr import QUANTITIES as SR_QUANTITIES
from spinebq.report.sr import measurement_groups


def test_the_table_names_every_column_and_measurement_once():
    keys = [q.key for q in rq.LEVEL_QUANTITIES]
    assert len(keys) == len(set(keys))
    assert set(rq.REPORT_CT_KEYS) <= set(keys) and set(rq.SR_CT_KEYS) <= set(keys)
    assert set(rq.ALWAYS_SHOWN) <= set(rq.REPORT_CT_KEYS)
    assert [q.key for q in SR_QUANTITIES] == list(rq.SR_CT_KEYS)
    for q in (*rq.LEVEL_QUANTITIES, *rq.MRI_LEVEL_QUANTITIES, *rq.MRI_SCORES, rq.CSF_SIGNAL):
        assert q.unit in rq.UNITS, q.key
    for q in SR_QUANTITIES:
        assert len(q.method) <= 64, q.key  # the SR concept meaning is a DICOM LO
    assert [q.key for q in rq.MRI_SCORES] == ["vbq", "s1_vbq", "pbq"]


def test_shared_keys_take_unit_and_decimals_from_the_cohort_table():
    cohort = {q.key: q for q in COHORT_LEVEL_QUANTITIES}
    differ = {q.key for q in rq.LEVEL_QUANTITIES
              if q.key in cohort and (q.unit, q.decimals) != (cohort[q.key].unit, cohort[q.key].decimals)}
    assert not differ  # one table: the report and the SR take unit and decimals from the cohort table


def test_every_quantity_is_read_from_the_record(real_ct_dir):
    record = CtRecord.from_json(json.loads((real_ct_dir / "measurements.json").read_text()))
    l3 = record.level("L3")
    document = l3.to_json()
    for q in rq.LEVEL_QUANTITIES:
        expected = rq.get_path(document, q.key)
        if isinstance(expected, float) and not math.isfinite(expected):
            expected = None
        assert rq.level_value(l3, q.key) == expected, q.key


def test_a_record_and_its_documents_give_the_same_report_and_sr(real_ct_dir, real_mri_dir):
    ct = json.loads((real_ct_dir / "measurements.json").read_text())
    mri = json.loads((real_mri_dir / "mri.json").read_text())
    ct_rec, mri_rec = CtRecord.from_json(ct), MriRecord.from_json(mri)
    from_documents = patient_report(ct, mri, None, patient_id="p")
    assert patient_report(ct_rec, mri_rec, None, patient_id="p") == from_documents
    # in memory (the batch hands over to_json(): NaN where the file has null)
    in_memory = patient_report(ct_rec.to_json(), mri_rec.to_json(), None, patient_id="p")
    assert in_memory == from_documents
    assert not re.search(r"\bnan\b", render_patient_html(in_memory), re.IGNORECASE)  # missing reads "not measured"
    assert measurement_groups(ct_rec) == measurement_groups(ct)
