"""Contrast phase from the header or from the aorta and IVC, and the named corrections with raw HU beside."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from spinebq.anatomy import VERSE_IDS
from spinebq.io.labels import load_labels
from spinebq.io.volume import load_volume
from spinebq.calibrate.contrast import contrast_phase, correction_delta_hu, phase_from_header
from spinebq.measure.ct.levels import measure_ct
from spinebq.measure.ct.regional import RegionalOptions, measure_regional

from .conftest import measured_documents

UPPER_LUMBAR = {name: VERSE_IDS[name] for name in ("L1", "L2", "L3")}


@pytest.fixture(scope="module")
def measured_phantom(phantom):
    return measure_ct(phantom.ct, phantom.labels)


def _with_vessels(ct, aorta_hu: float, ivc_hu: float):
    """The phantom with a 20 mm aorta left-anterior and a 22 mm IVC right-anterior of the spine (blood HU given)."""
    x = ct.index_to_mm(np.stack(np.meshgrid(np.arange(ct.shape[0]), np.arange(ct.shape[1]), [0], indexing="ij"), -1))[..., 0, :]
    array = ct.array.copy()
    aorta = (x[..., 0] - 15.0) ** 2 + (x[..., 1] + 58.0) ** 2 <= 10.0**2
    ivc = (x[..., 0] + 17.0) ** 2 + (x[..., 1] + 56.0) ** 2 <= 11.0**2
    array[aorta] = aorta_hu
    array[ivc] = ivc_hu
    return ct.with_array(array)


@pytest.mark.parametrize("aorta, ivc, phase", [(40.0, 38.0, "unenhanced"), (320.0, 70.0, "arterial"),
                                               (170.0, 150.0, "portal_venous"), (110.0, 105.0, "delayed")])
def test_phase_estimated_from_the_vessels_of_a_phantom(phantom, measured_phantom, aorta, ivc, phase):
    ct = _with_vessels(phantom.ct, aorta, ivc)
    result = contrast_phase({}, ct.array, ct.affine, measured_phantom.bodies, UPPER_LUMBAR)
    assert result["phase"] == phase and result["source"] == "vessels"
    if phase == "unenhanced":  # blood and muscle look alike without contrast: the brightest disc is 50-70 HU
        assert result["aorta_hu"] < 90
    else:
        assert result["aorta_hu"] == pytest.approx(aorta, abs=15) and result["ivc_hu"] == pytest.approx(ivc, abs=15)


def test_phase_from_the_header_wins_and_an_agent_without_phase_is_said():
    assert phase_from_header({"series_description": "Abd PV 3.0 B30f"})[0] == "portal_venous"
    assert phase_from_header({"series_description": "CTA arterial"})[0] == "arterial"
    assert phase_from_header({"series_description": "Abdomen nativ"})[0] == "unenhanced"
    phase, reason = phase_from_header({"series_description": "CT Body 3.0", "contrast_agent": "APPLIED"})
    assert phase == "contrast_unknown_phase" and "APPLIED" in reason
    assert phase_from_header({"series_description": "CT Body"})[0] is None


def test_real_dicom_header_names_contrast_and_the_real_ct_reads_unenhanced(ts_dir):
    dicom = load_volume(ts_dir / "ct_dicom", expect_modality="CT")
    assert phase_from_header(dicom.metadata)[0] == "contrast_unknown_phase"
    # the header says contrast was applied without a phase; the vessels in front of T11-T12 say portal venous
    bodies = measure_ct(dicom, load_labels(ts_dir / "ct_dicom_seg.nii.gz", dicom)).bodies
    enhanced = contrast_phase(dicom.metadata, dicom.array, dicom.affine, bodies, {"T11": VERSE_IDS["T11"], "T12": VERSE_IDS["T12"]})
    assert enhanced["phase"] == "portal_venous" and enhanced["source"] == "vessels" and "APPLIED" in enhanced["reason"]
    assert enhanced["aorta_hu"] > 130 and enhanced["ivc_hu"] > 100
    ct = load_volume(ts_dir / "ct.nii.gz", expect_modality="CT")
    result = measure_ct(ct, load_labels(ts_dir / "seg_v2" / "total.nii.gz", ct))
    phase = contrast_phase(ct.metadata, ct.array, ct.affine, result.bodies, UPPER_LUMBAR)
    # no header; aorta and IVC read as blood without contrast (30-70 HU)
    assert phase["phase"] == "unenhanced" and phase["source"] == "vessels"
    assert 20 < phase["aorta_hu"] < 80 and 20 < phase["ivc_hu"] < 80


def test_named_corrections_keep_raw_hu_beside(phantom):
    assert correction_delta_hu("portal_venous", "totalsegmentator")[0] == 14.75
    assert correction_delta_hu("arterial", "totalsegmentator")[0] == 20.0
    assert correction_delta_hu("portal_venous", "pickhardt")[0] == 11.2
    assert math.isnan(correction_delta_hu("arterial", "pickhardt")[0])  # no published value: missing, not zero
    assert correction_delta_hu("unenhanced", "pickhardt")[0] == 0.0
    result = measure_ct(phantom.ct, phantom.labels)
    raw = {name: entry["hu_3d"] for name, entry in result.vertebrae.items()}
    regional = measure_regional(phantom.ct, phantom.labels, result, RegionalOptions(
        trajectory="none", contrast_phase="portal_venous", contrast_correction="totalsegmentator"))
    assert regional.summary.contrast["phase"] == "portal_venous" and regional.summary.contrast["source"] == "option"
    assert "hu_contrast_corrected" not in result.summary  # the measure_ct result is not changed
    vertebrae, summary = measured_documents(result, regional)
    for name, entry in vertebrae.items():
        assert entry["hu_3d"] == raw[name]  # raw values untouched
        if math.isfinite(raw[name]):
            assert entry["hu_contrast_corrected"]["hu_3d"] == pytest.approx(raw[name] - 14.75)
    assert summary["hu_contrast_corrected"] == pytest.approx(summary["hu"] - 14.75)


def test_a_bad_phase_or_correction_is_an_option_error_naming_the_option(phantom):
    from spinebq.errors import OptionError

    with pytest.raises(OptionError) as bad_phase:
        contrast_phase({}, phantom.ct.array, phantom.ct.affine, phantom.labels.array, UPPER_LUMBAR, override="venous")
    assert bad_phase.value.parameter == "contrast_phase" and "--" not in str(bad_phase.value)
    result = measure_ct(phantom.ct, phantom.labels)
    with pytest.raises(OptionError) as bad_correction:
        measure_regional(phantom.ct, phantom.labels, result, RegionalOptions(trajectory="none", contrast_correction="x"))
    assert bad_correction.value.parameter == "contrast_correction" and "--" not in str(bad_correction.value)


@pytest.fixture(scope="module")
def portal_venous_run(ts_dir, tmp_path_factory):
    """``spinebq ct`` on the real CT told it is portal venous, with Pickhardt's correction: its folder and screen."""
    import contextlib
    import io

    from spinebq.cli import main

    out = tmp_path_factory.mktemp("portal_venous")
    screen = io.StringIO()
    with contextlib.redirect_stdout(screen):
        assert main(["ct", str(ts_dir / "ct.nii.gz"), "--labels", str(ts_dir / "seg_v2" / "total.nii.gz"), "--out",
                     str(out), "--no-pictures", "--contrast-phase", "portal_venous",
                     "--contrast-correction", "pickhardt"]) == 0
    return out, screen.getvalue()


def test_a_phase_given_by_the_user_gives_every_ct_model_the_contrast_caveat(portal_venous_run):
    """The assessment, the screening reading and the report's warnings read one rule (CtRecord.contrast_enhanced):
    before, the published CT models got no contrast caveat when only the phase (not the header) said contrast."""
    from spinebq.records.ct import CtRecord
    from spinebq.report.summary import warnings
    from spinebq.risk.assess import assess_patient, read_document
    from spinebq.risk.contrast_caveats import CONTRAST_CAVEAT
    from spinebq.risk.registry import load_models

    out, _ = portal_venous_run
    document = read_document(out, "measurements.json")
    record = CtRecord.from_json(document)
    assert record.contrast_enhanced and not record.acquisition.get("contrast_agent")
    ct_models = {m["key"] for m in load_models() if m.get("modality") == "CT"}
    assessment = assess_patient(document)
    rows = [r for r in assessment.models if r.key in ct_models]
    assert rows and all(CONTRAST_CAVEAT in r.caveats for r in rows), [(r.key, r.caveats) for r in rows]
    assert all(any(c.startswith("contrast-enhanced CT") for c in s.caveats) for s in assessment.screening)
    assert any(w.startswith("Contrast-enhanced CT") for w in warnings(record, None))


def test_contrast_corrected_hu_are_shown_beside_the_raw_and_labelled(portal_venous_run):
    """The screen table, the summary line and measurements.csv show the raw HU in their own columns and the corrected
    HU beside them, labelled (before, the corrected values were only in the JSON)."""
    import csv

    out, screen = portal_venous_run
    document = json.loads((out / "measurements.json").read_text())
    delta = document["summary"]["contrast"]["correction_delta_hu"]
    assert delta > 0
    rows = {row["level"]: row for row in csv.DictReader((out / "measurements.csv").open())}
    lines = screen.splitlines()
    header = next(line for line in lines if line.startswith("level") and "corrected" in line)
    assert header.split()[:3] == ["level", "hu_3d", "hu_2d"]
    for level in ("L1", "L2", "L3", "L4"):
        entry, row = document["vertebrae"][level], rows[level]
        corrected = entry["hu_contrast_corrected"]
        assert float(row["hu_3d"]) == pytest.approx(entry["hu_3d"])  # raw, as before
        assert float(row["hu_3d_contrast_corrected"]) == pytest.approx(corrected["hu_3d"]) == pytest.approx(entry["hu_3d"] - delta)
        assert float(row["hu_2d_contrast_corrected"]) == pytest.approx(corrected["hu_2d"])
        assert row["contrast_correction"] == "pickhardt"
        line = next(line for line in lines if line.startswith(f"{level} ") and line.split()[1] == f"{entry['hu_3d']:.1f}")
        assert line.split()[1:5] == [f"{v:.1f}" for v in (entry["hu_3d"], entry["hu_2d"], corrected["hu_3d"], corrected["hu_2d"])]
    summary = document["summary"]
    assert f"{summary['hu']:.1f} HU raw, {summary['hu_contrast_corrected']:.1f} HU contrast-corrected (pickhardt)" in screen
