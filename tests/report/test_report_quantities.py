"""The report and the SR read records through one table of quantities; a record and its documents give the same
report."""
from __future__ import annotations

import json
import math
import re

import pytest

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


#: The columns of measurements.csv before its columns came from the table (commit 0e0a7c4): the table keeps them, in
#: this order, before the columns added since (the contrast-corrected HU).
CSV_HEADER = ("level,hu,hu_3d,hu_3d_median,hu_3d_sd,hu_3d_voxels,hu_3d_volume_ml,hu_2d,hu_2d_slices,vbmd_mg_cm3,"
              "acr_category,body_volume_ml,qc,excluded_reason,st_hu,b_hu,hu_ratio,st_hu_3d,genant_grade,deformity_type,"
              "level_confidence,height_anterior_mm,height_middle_mm,height_posterior_mm")


def test_measurements_csv_has_the_columns_of_the_table(real_ct_dir):
    """Each column of measurements.csv is a quantity of the table, read from the record as the report reads it."""
    import pandas as pd

    csv = pd.read_csv(real_ct_dir / "measurements.csv", keep_default_na=False)
    assert ",".join(csv.columns) == ",".join(["level", *(rq.BY_KEY[k].column for k in rq.CSV_CT_KEYS)])
    assert ",".join(csv.columns).startswith(CSV_HEADER + ",")
    record = CtRecord.from_json(json.loads((real_ct_dir / "measurements.json").read_text()))
    assert list(csv["level"]) == [v.level for v in record.vertebrae]
    l3 = csv.set_index("level").loc["L3"]
    for key in ("hu_3d", "st_hu", "hu_ratio", "heights_mm.anterior", "genant_grade"):
        assert float(l3[rq.BY_KEY[key].column]) == pytest.approx(rq.level_value(record.level("L3"), key)), key
    assert l3["qc"] == ";".join(record.level("L3").qc) and l3["hu_2d_slices"].count(";") == 2
