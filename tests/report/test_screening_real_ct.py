"""spinebq assess on the real (uncalibrated) CT gives the L1 opportunistic-screening reading with its source."""
from __future__ import annotations

import json

from spinebq.cli import main
from spinebq.risk.registry import load_screening
from spinebq.risk.screening import band_of


def test_assess_on_the_real_ct_reads_l1_against_pickhardt(real_ct_dir, tmp_path, capsys):
    doc = json.loads((real_ct_dir / "measurements.json").read_text())
    assert doc["calibration"]["method"] == "none"  # the routine case: HU only
    assert main(["assess", "--ct", str(real_ct_dir), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    result = json.loads((tmp_path / "assessment.json").read_text())
    (reading,) = result["screening"]
    l1 = doc["vertebrae"]["L1"]
    (entry,) = load_screening()
    assert reading["value_hu"] == l1["hu_2d"] and reading["mid_slice_hu"] == l1["hu_2d_slices"][1]
    assert reading["reading"] == band_of(l1["hu_2d"], entry["thresholds"], entry["above_reading"])[0]
    assert reading["reference"] == "pickhardt2013"
    # the real CT is a NIfTI (no kVp) and its L1 has a Genant grade 1 deformity: both said with the reading
    assert any("tube voltage not recorded" in c for c in reading["caveats"])
    assert any("Genant grade 1" in c for c in reading["caveats"]) == bool(l1.get("genant_grade"))
    assert f"L1 three-slice HU {l1['hu_2d']:.0f}" in text and reading["reading"] in text
    assert "Pickhardt PJ" in text and "doi:10.7326/0003-4819-158-8-201304160-00003" in text
