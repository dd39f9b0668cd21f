"""What ``spinebq ct`` did to the numbers reaches the assessment and the report (sweep D of the report/assess
issue): a contrast correction, a summary over other levels than the papers', an equation applied unchecked, the
stored reason a screw is missing; plus the wording of uncalibrated vBMD rows, body cuts, the default pseudonym,
the print layout of long tables, a per-level body map given as --bodies and the automatic MRI's level note.

Each test failed before its fix. The CT cases run once on the phantom (``phantom_variant_dir``: portal venous with
Pickhardt's correction, ``--levels L3-L5``, a scanner equation on a NIfTI without scanner keys, trajectory mode
none); the wording cases read the real CT of ``real_ct_dir``.
"""
from __future__ import annotations

import contextlib
import io
import json

import pytest

from spinebq.cli import main
from spinebq.report.html import REPORT_CSS, render_patient_html
from spinebq.report.patient import patient_report
from spinebq.risk.assess import assess_patient
from spinebq.risk.contrast_caveats import CORRECTION_CAVEAT
from spinebq.risk.registry import load_models
from tests.conftest import TS, need


@pytest.fixture(scope="module")
def variant(phantom_variant_dir):
    """(measurements.json, its assessment with planned levels L4-L5, the report's data)."""
    document = json.loads((phantom_variant_dir / "measurements.json").read_text())
    assessment = assess_patient(document, None, {"planned_levels": "L4-L5"})
    return document, assessment, patient_report(document, None, assessment)


def _rows(assessment, key):
    return [r for r in assessment.models if r.key == key]


def test_the_contrast_corrected_hu_is_beside_the_raw_one_and_the_assessment_says_raw_is_compared(variant):
    """Before: the Methods said the Pickhardt correction "is given beside it" but no corrected value was in the
    report, and the HU models' caveats did not say a correction was applied nor which value they compare."""
    document, assessment, report = variant
    corrected = document["summary"]["hu_contrast_corrected"]
    row = next(r for r in report["page_one"]["bone"] if r["key"] == "summary.hu_contrast_corrected")
    assert row["value"] == corrected and row["scale"] is None and "pickhardt" in row["label"], row
    block = next(b for b in report["levels"] if b["level"] == "L3")
    assert any(r["key"] == "hu_contrast_corrected.hu_3d" and r["value"] == document["vertebrae"]["L3"]
               ["hu_contrast_corrected"]["hu_3d"] for r in block["rows"]), block["rows"]
    assert any("given beside it" in c for c in report["caveats"])
    caveat = CORRECTION_CAVEAT.format(correction="pickhardt", delta=-11.2)
    for key in ("S003_3DHU", "S003_HU"):
        (row,) = _rows(assessment, key)
        assert row.value == document["summary"]["hu" if key == "S003_3DHU" else "hu_2d"] and caveat in row.caveats
    # the screening reading compares L1's raw three-slice HU too, and says so (before, it named no correction)
    assert assessment.screening and all(caveat in reading.caveats for reading in assessment.screening)


def test_a_summary_over_other_levels_than_the_papers_is_said(variant):
    """--levels L3-L5: S002/S003 compare the L3-L5 mean with L1-L4 cutoffs; before, no caveat said so (only a
    skipped requested level gave one)."""
    _, assessment, report = variant
    for key in ("S002_vBMD", "S003_3DHU", "S003_HU"):
        (row,) = _rows(assessment, key)
        assert any(c.startswith("the mean of L3, L4, L5 is placed against") for c in row.caveats), row.caveats
    bone = {r["key"]: r["reading"] for r in report["page_one"]["bone"]}
    assert "cutoff for the mean of L1-L4" in bone["summary.hu"] and "cutoff for the mean of L1-L4" in bone["summary.hu_2d"]


def test_every_vbmd_model_carries_the_warning_of_an_unchecked_equation(variant):
    document, assessment, _ = variant
    warning = document["calibration"]["warning"]
    assert "unchecked" in warning
    vbmd = {m["key"] for m in load_models() if m["unit"] == "mg/cm3"}
    rows = [r for r in assessment.models if r.key in vbmd]
    assert rows and all(f"calibration: {warning}" in r.caveats for r in rows), [(r.key, r.caveats) for r in rows]


def test_a_missing_screw_gives_its_stored_reason_once(variant):
    """``--trajectory none``: both sides store the same reason (no screw trajectory was asked for); the planned-levels
    table said "trajectory not measurable" and the assessment a generic reason."""
    document, assessment, report = variant
    stored = document["vertebrae"]["L4"]["trajectories"]["left"]["reason"]
    assert stored == document["vertebrae"]["L4"]["trajectories"]["right"]["reason"]
    row = next(r for r in report["page_one"]["planned"]["rows"] if r["level"] == "L4")
    assert row["st_hu_3d"]["text"] == f"not measured: {stored}", row
    sakai = next(r for r in _rows(assessment, "Sakai2018_STHU") if r.level == "L4")
    assert sakai.reason == stored


def test_long_tables_repeat_their_header_and_keep_rows_whole_in_print(variant):
    _, _, report = variant
    page = render_patient_html(report)
    assert "<table class='wide' id='assessment'><thead>" in page and "<tbody class='model'>" in page
    assert "thead{display:table-header-group}" in REPORT_CSS and "tr,tbody.model{break-inside:avoid" in REPORT_CSS


def test_uncalibrated_vbmd_body_cuts_and_the_default_pseudonym_are_worded_plainly(real_ct_dir):
    """The real CT is uncalibrated: its vBMD rows were labelled "3D ROI, calibrated"; the body-label method line
    repeated "posterior elements cut at the spinal canal"; the SR's default Patient ID was "patient"."""
    import inspect

    from spinebq.constants import DEFAULT_PATIENT_ID
    from spinebq.report.quantities import NOT_CALIBRATED
    from spinebq.report.sr import write_measurement_sr

    report = patient_report(json.loads((real_ct_dir / "measurements.json").read_text()), None, None)
    methods = {r["method"] for b in report["levels"] for r in b["rows"] if r["key"] == "vbmd_mg_cm3"}
    assert methods == {NOT_CALIBRATED}
    body = next(c for c in report["caveats"] if c.startswith("body label"))
    assert body.count("posterior elements cut at the spinal canal") == 1, body
    assert inspect.signature(write_measurement_sr).parameters["patient_id"].default == DEFAULT_PATIENT_ID == "anonymous"


def test_a_per_level_body_map_given_as_bodies_is_pointed_to_labels(tmp_path, capsys):
    code = main(["ct", str(need(TS / "ct.nii.gz")), "--bodies", str(need(TS / "seg_v2" / "vertebrae_pp_refined.nii.gz")),
                 "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and "vertebrae_pp" in error and "give it as the labels (--labels)" in error, error


def test_automatic_mri_prints_its_check_the_levels_note(phantom_files, tmp_path):
    screen = io.StringIO()
    with contextlib.redirect_stdout(screen):
        assert main(["mri", str(phantom_files / "mr.nii.gz"), "--no-figures", "--no-muscle", "--out", str(tmp_path / "m")]) == 0
    assert "check the level labels on the picture" in screen.getvalue(), screen.getvalue()



def test_a_correction_that_changed_no_hu_carries_no_caveat(phantom_variant_dir):
    """An unenhanced CT run with --contrast-correction pickhardt subtracts 0 HU (the real CT: "the pickhardt contrast
    correction (-0 HU) ... the value compared here is the raw HU" on every HU model and the screening reading);
    no caveat names a correction that changed nothing."""
    document = json.loads((phantom_variant_dir / "measurements.json").read_text())
    document["summary"]["contrast"]["correction_delta_hu"] = 0.0
    assessment = assess_patient(document, None, {"planned_levels": "L4-L5"})
    caveats = [c for r in assessment.models for c in r.caveats] + [c for s in assessment.screening for c in s.caveats]
    assert caveats and not any("contrast correction" in c for c in caveats), caveats


@pytest.mark.parametrize("delta_hu, words", [(0.0, "(0 HU: none for an unenhanced CT)"),
                                             (float("nan"), "(none published for this contrast phase)"),
                                             (11.2, "(-11.2 HU)")])
def test_the_report_names_the_correction_without_minus_zero_or_nan(phantom_variant_dir, delta_hu, words):
    """The report's contrast-corrected rows read "the raw HU minus the pickhardt contrast correction (-0 HU)" for an
    unenhanced CT (0 HU subtracted) and "(+nan HU)" for a phase without a published value."""
    from spinebq.records.ct import CtRecord
    from spinebq.report.summary import contrast_note

    document = json.loads((phantom_variant_dir / "measurements.json").read_text())
    document["summary"]["contrast"]["correction_delta_hu"] = delta_hu
    note = contrast_note(CtRecord.from_json(document))
    assert note == f"the pickhardt contrast correction {words}", note
