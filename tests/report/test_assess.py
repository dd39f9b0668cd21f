"""spinebq assess on real results (CT, MRI) and on the calibrated phantom (known vBMD); nomogram scoring
checked against the logistic formula; issue-4 keys used and shown when present; cohort report."""
from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from spinebq.cli import main
from spinebq.records.assessment import Assessment
from spinebq.report.html import render_patient_html
from spinebq.report.patient import patient_report
from spinebq.risk.assess import assess_patient
from tests.conftest import DATA, TS, need


def load(path):
    return json.loads(path.read_text())


def rows(result, key):
    return [r for r in result.models if r.key == key]


@pytest.fixture(scope="module")
def docs(real_ct_dir, real_mri_dir):
    return (json.loads((real_ct_dir / "measurements.json").read_text()),
            json.loads((real_mri_dir / "mri.json").read_text()))


def test_real_ct_and_mri_against_the_published_cutoffs(docs):
    ct, mri = docs
    result = assess_patient(ct, mri, {"age": 71, "sex": "F", "procedure": "PLIF", "name": "Should Not Appear"},
                            patient_id="case-A")
    assert "Should Not Appear" not in json.dumps(result.to_json())
    (hu3d,) = rows(result, "S003_3DHU")
    assert hu3d.status == "applied" and hu3d.value == ct["summary"]["hu"]
    assert hu3d.at_risk_side == (ct["summary"]["hu"] < 56.3)
    assert hu3d.auc == 0.877 and any("kVp" in c for c in hu3d.caveats)
    (vbq,) = rows(result, "S004_VBQ")
    assert vbq.value == mri["vbq"] and vbq.at_risk_side == (mri["vbq"] >= 3.3)
    assert any("field strength" in c for c in vbq.caveats)
    (pbq,) = rows(result, "S001_PBQ")
    assert pbq.status == "no_cutoff" and pbq.value == mri["pbq"]
    # not calibrated: vBMD cutoffs are not applied, and the reason says so
    for key in ("S000_A", "S002_vBMD"):
        (r,) = rows(result, key)
        assert r.status == "not_applicable" and "calibrated" in r.reason
    (nomo,) = rows(result, "S001_nomogram")
    assert nomo.status == "not_applicable" and "coefficients" in nomo.reason
    assert "risk score" in result.no_pooled_score


def test_models_for_women_only_are_not_applied_to_a_man(docs):
    ct, mri = docs
    result = assess_patient(ct, mri, {"sex": "M"})
    (r,) = rows(result, "S003_3DHU")
    assert r.status == "not_applicable" and "women" in r.reason


def test_user_nomogram_gives_the_logistic_probability_and_points(docs):
    ct, mri = docs
    coefficients = {"intercept": -9.0, "coefficients": {"age": 0.1, "pbq": 1.5, "goutallier": 0.8},
                    "ranges": {"age": [30, 90], "pbq": [1, 6], "goutallier": [0, 4]}, "source": "test cohort"}
    result = assess_patient(ct, mri, {"age": 66}, nomogram=coefficients)
    (r,) = rows(result, "S001_nomogram")
    worst = max(x["goutallier"] for x in mri["muscle"].values())
    lp = -9.0 + 0.1 * 66 + 1.5 * mri["pbq"] + 0.8 * worst
    assert r.status == "applied"
    assert r.value == pytest.approx(1 / (1 + math.exp(-lp)), rel=1e-12)
    # rms scaling: the widest contribution (PBQ: 1.5 x 5 = 7.5 log-odds) spans 100 points
    assert r.nomogram.points["age"] == pytest.approx(0.1 * (66 - 30) / 0.075)
    assert r.nomogram.points["pbq"] == pytest.approx(1.5 * (mri["pbq"] - 1) / 0.075)
    assert any("cutoff 0.212" in c for c in r.caveats)
    missing = assess_patient(ct, mri, {}, nomogram=coefficients)
    (m,) = rows(missing, "S001_nomogram")
    assert m.status == "not_applicable" and "age" in m.reason


def test_issue4_keys_are_used_and_shown(docs):
    """Trajectory, regions, HU ratio and heights of spinebq ct (issue 4) reach the assessment and the report."""
    ct, _ = docs
    l3 = ct["vertebrae"]["L3"]
    if "hu_ratio" not in l3:
        pytest.skip("this spinebq ct does not write trajectories yet (issue 4)")
    result = assess_patient(ct, None, {"sex": "F", "planned_levels": "L4-L5"})
    (ratio,) = rows(result, "S001_HU_ratio")
    assert ratio.value == l3["hu_ratio"] and ratio.status == "no_cutoff"
    assert l3["hu_ratio"] == pytest.approx(l3["st_hu"] / l3["b_hu"], abs=1e-3)  # ST-HU / B-HU, as paper 001
    sakai = rows(result, "Sakai2018_STHU")
    assert [r.level for r in sakai] == ["L4", "L5"]
    # Sakai's HU along the screw in 3D: the two cylinders' mean (st_hu_3d), not the HU ratio's axial rectangles; on the
    # real CT they sit on either side of 153.5 HU at L4 and L5, so the verdict depended on the wrong one
    cylinders = [(ct["vertebrae"][lv]["trajectories"]["left"]["hu_mean"]
                  + ct["vertebrae"][lv]["trajectories"]["right"]["hu_mean"]) / 2 for lv in ("L4", "L5")]
    assert [r.value for r in sakai] == pytest.approx(cylinders)
    assert [r.value for r in sakai] == pytest.approx([ct["vertebrae"][lv]["st_hu_3d"] for lv in ("L4", "L5")], abs=1e-3)
    assert [r.at_risk_side for r in sakai] == [c < 153.5 for c in cylinders]
    html = render_patient_html(patient_report(ct, None, result))
    for key in ("st_hu", "hu_ratio", "trajectories.left.hu_mean", "regions.A.hu_mean", "heights_mm.anterior", "genant_grade"):
        value = l3
        for part in key.split("."):
            value = value[part]
        assert f'data-key="{key}" data-value="{value!r}" data-level="L3"' in html, key


def test_calibrated_phantom_vbmd_models_match_the_truth(tmp_path):
    """spinebq ct with the phantom's rods: vBMD models applied, on the side the phantom's true vBMD gives."""
    assert main(["phantom", "--out", str(tmp_path / "ph"), "--rods"]) == 0
    truth = json.loads((tmp_path / "ph" / "truth.json").read_text())
    assert main(["ct", str(tmp_path / "ph" / "ct.nii.gz"), "--labels", str(tmp_path / "ph" / "labels.nii.gz"),
                 "--calibration", "phantom", "--phantom", str(tmp_path / "ph" / "phantom_rods.json"),
                 "--no-pictures", "--out", str(tmp_path / "ct")]) == 0
    assert main(["assess", "--ct", str(tmp_path / "ct"), "--sex", "F", "--out", str(tmp_path / "as")]) == 0
    result = Assessment.from_json(json.loads((tmp_path / "as" / "assessment.json").read_text()))
    ct = json.loads((tmp_path / "ct" / "measurements.json").read_text())
    (l5,) = rows(result, "S000_A")
    region_a = (ct["vertebrae"]["L5"].get("regions") or {}).get("A", {}).get("vbmd_mg_cm3")
    expected = region_a if region_a is not None else ct["vertebrae"]["L5"]["vbmd_mg_cm3"]  # paper 000's region A first
    assert l5.status == "applied" and l5.value == expected
    true_l5 = truth["levels"]["L5"]["vbmd_mg_cm3"]
    assert l5.value == pytest.approx(true_l5, abs=5)
    assert l5.at_risk_side == (true_l5 < 90.05)
    (s2,) = rows(result, "S002_vBMD")
    assert s2.status == "applied" and s2.value == ct["summary"]["vbmd_mg_cm3"]
    assert any("bonescreen" in c for c in s2.caveats)


def test_assess_cli_json_and_bad_input(real_ct_dir, tmp_path, capsys):
    assert main(["assess", "--ct", str(real_ct_dir), "--json", "--id", "x1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schema"] == "spinebq.assess/1" and out["patient"]["id"] == "x1"
    bad = tmp_path / "clinical.json"
    bad.write_text("[1, 2]")
    assert main(["assess", "--ct", str(real_ct_dir), "--clinical", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "clinical.json" in err and err.count("\n") == 1
    assert main(["assess", "--ct", str(real_ct_dir), "--planned-levels", "L9"]) == 2


def test_cohort_report_from_stats_output(tmp_path):
    stats = tmp_path / "stats"
    assert main(["stats", "--example", "001", "--bootstrap", "20", "--jobs", "1", "--out", str(stats)]) == 0
    assert main(["report", "--stats", str(stats), "--out", str(tmp_path / "cohort")]) == 0
    html = (tmp_path / "cohort" / "cohort_report.html").read_text()
    doc = json.loads((stats / "stats.json").read_text())
    assert f"{doc['roc']['hu_ratio']['auc']:.3f}" in html and "Research use only" in html
    assert "http://" not in html and "https://" not in html and html.count("data:image/png;base64,") >= 4
    # the PDF is that page printed: every ROC row whole, its Youden rule as the terminal states it (the matplotlib
    # tables cut "lower values go with th" and showed a factor's cut-off as 0.5000)
    import subprocess

    from spinebq.stats.roc import event_rule
    from tests.report.browser import need_tool

    pdf = tmp_path / "cohort" / "cohort_report.pdf"
    lines = [" ".join(line.split()) for line in subprocess.run(
        [need_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.splitlines()]
    text = " ".join(lines)
    assert "event if (Youden cutoff)" in text and "research use only" in text.lower()
    for name, roc in doc["roc"].items():
        rule = event_rule(roc["direction"], roc["youden"]["threshold"],
                          doc["factors"][name]["levels"] if name in doc.get("factors", {}) else None)
        assert any(line.startswith(f"{name} {roc['auc']:.3f}") and rule in line for line in lines), (name, rule)
    for title in ("ROC (DeLong 95 % CI, Youden cutoff)", "Model performance", "Figures"):
        assert title in text, title
    # --no-pdf writes only the page, as it does for a patient's report
    assert main(["report", "--stats", str(stats), "--no-pdf", "--out", str(tmp_path / "html_only")]) == 0
    written = {p.name for p in (tmp_path / "html_only").iterdir()}
    assert "cohort_report.html" in written and not any(name.endswith(".pdf") for name in written), written


def test_mri_sagittal_overview_comes_first(tmp_path):
    from spinebq.report.patient import pictures

    names = ("mri_levels.png", "mri_muscle.png", "mri_pedicles.png", "mri_sagittal.png")
    for name in names + ("mri_stale_other_patient.png",):  # a file the run did not write is never shown
        (tmp_path / name).write_bytes(b"")
    titles = [p["title"] for p in pictures(None, tmp_path, mri_names=names)]
    assert titles == ["MRI: sagittal", "MRI: levels", "MRI: muscle", "MRI: pedicles"]


CLINICAL_LAYOUTS = {  # the same patient as European Excel, as a wide table, and as a wide table with semicolons
    "semicolon_decimal_comma.csv": "\ufefffield;value\nage;71\nsex;F\nhip_t_score;-2,5\nplanned_levels;L4,L5\n",
    "wide.csv": "age,sex,hip_t_score,planned_levels\n71,F,-2.5,L4-L5\n",
    # saved by Excel in its legacy encoding (cp1252), with a comment line: was refused as not UTF-8
    "wide_semicolon_cp1252.csv": "# Müller, exportiert\nage;sex;hip_t_score\n71;F;-2,5\n",
    "clinical.json": json.dumps({"age": 71, "sex": "F", "hip_t_score": -2.5, "planned_levels": "L4-L5", "name": "X Y"}),
}


@pytest.mark.parametrize("name", sorted(CLINICAL_LAYOUTS))
def test_clinical_csv_layouts_are_read_like_field_value_rows(name, real_ct_dir, tmp_path):
    """A semicolon CSV with decimal commas (European Excel, also in its legacy encoding) and the wide layout give the
    assessment of the plain field,value CSV; an ignored field (a name) never reaches it."""
    plain = tmp_path / "plain.csv"
    plain.write_text("field,value\nage,71\nsex,F\nhip_t_score,-2.5\nplanned_levels,\"L4,L5\"\n")
    given = tmp_path / name
    given.write_text(CLINICAL_LAYOUTS[name], encoding="cp1252" if "cp1252" in name else "utf-8")
    for clinical, out in ((plain, "a"), (given, "b")):
        assert main(["assess", "--ct", str(real_ct_dir), "--clinical", str(clinical), "--out", str(tmp_path / out)]) == 0
    expected, got = (load(tmp_path / out / "assessment.json") for out in ("a", "b"))
    assert expected["patient"]["hip_t_score"] == -2.5 and expected["patient"]["sex"] == "F"
    if name.startswith("wide_semicolon"):  # no planned levels in that file
        expected["patient"].pop("planned_levels")
        assert got["patient"] == expected["patient"]
    else:
        assert got == expected
    assert "X Y" not in json.dumps(got)


@pytest.fixture(scope="module")
def fractured_mri_dir(tmp_path_factory):
    """spinebq mri on the real T1 exam whose labels show a deformed body (case10)."""
    t1 = DATA / "lumbar_mri_t1"
    out = tmp_path_factory.mktemp("mri_fractured")
    assert main(["mri", str(need(t1 / "case10_t1.nii.gz")), "--labels", str(need(t1 / "case10_bodies_verse.nii.gz")),
                 "--out", str(out), "--no-figures", "--no-muscle"]) == 0
    return out


def test_vbq_caveat_and_page_one_name_the_mri_fractures(fractured_mri_dir, real_ct_dir):
    ct, mri = (load(real_ct_dir / "measurements.json"), load(fractured_mri_dir / "mri.json"))
    fractured = mri["vbq_fractured_levels"]
    assert fractured, "case10 should have a deformed level in its VBQ median"
    result = assess_patient(ct, mri, {"sex": "F"})
    (vbq,) = rows(result, "S004_VBQ")
    (caveat,) = [c for c in vbq.caveats if "fractured" in c]
    for level in fractured:
        assert f"{level} (Genant grade {mri['levels'][level]['genant_grade']}" in caveat
    assert "VBQ median" in caveat and "mri.json" in caveat
    html = render_patient_html(patient_report(ct, mri, result))
    line = html.split("<p id='fractures'>")[1].split("</p>")[0]
    assert "CT (measurements.json)" in line and "MRI (mri.json" in line
    mri_part = line.split("MRI (")[1]
    for level in fractured:
        assert f"{level} Genant grade {mri['levels'][level]['genant_grade']}" in mri_part
    ct_fractured = [lv for lv, v in ct["vertebrae"].items() if v.get("genant_grade")]
    assert all(f"{lv} Genant grade" in line.split("MRI (")[0] for lv in ct_fractured)


def test_a_screw_level_the_mri_grades_fractured_carries_the_caveat(fractured_mri_dir, real_ct_dir):
    """case10's MRI grades a level deformed; planned at that level, the CT's screw-trajectory HU (Sakai's cutoff) was
    read without a word of it, though VBQ named it and the screening reading names a CT fracture. Each CT model at
    a level the MRI grades >= 1 now says so; the other planned level does not."""
    ct, mri = (load(real_ct_dir / "measurements.json"), load(fractured_mri_dir / "mri.json"))
    graded = [lv for lv, v in mri["levels"].items() if v.get("genant_grade") and lv in ("L1", "L2", "L3", "L4", "L5")]
    assert graded, "case10 should grade a lumbar level deformed"
    level = graded[0]
    other = next(lv for lv in ("L1", "L2", "L3", "L4", "L5") if lv not in graded)
    result = assess_patient(ct, mri, {"planned_levels": f"{level},{other}"})
    sakai = {r.level: r for r in rows(result, "Sakai2018_STHU")}
    grade = mri["levels"][level]["genant_grade"]
    assert any(c.startswith(f"the MRI grades {level} Genant {grade}") for c in sakai[level].caveats), sakai[level]
    assert not any(c.startswith("the MRI grades") for c in sakai[other].caveats), sakai[other]


@pytest.fixture(scope="module")
def phantom_ct_printed(tmp_path_factory):
    """spinebq ct on the calibrated phantom: its folder and the table it printed from the values in memory."""
    root = tmp_path_factory.mktemp("phantom_ratio")
    assert main(["phantom", "--out", str(root / "ph"), "--rods"]) == 0
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["ct", str(root / "ph" / "ct.nii.gz"), "--labels", str(root / "ph" / "labels.nii.gz"),
                     "--calibration", "phantom", "--phantom", str(root / "ph" / "phantom_rods.json"), "--no-pictures",
                     "--out", str(root / "ct")]) == 0
    return root / "ct", printed.getvalue()


def test_hu_ratio_shows_the_same_digits_in_ct_assess_and_report(phantom_ct_printed, capsys):
    """The ratio is rounded once, to its quantity's decimals, wherever it is shown: the table of spinebq ct (from
    memory), spinebq assess and the report (from measurements.json)."""
    folder, printed = phantom_ct_printed
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:4] == ["level", "st_hu", "b_hu", "ratio"])
    ct_table = {}
    for line in lines[start + 1:]:
        cells = line.split()
        if not cells or not cells[0][:1] in "TLS" or len(cells) < 4:
            break
        ct_table[cells[0]] = cells[3]
    capsys.readouterr()
    assert main(["assess", "--ct", str(folder), "--planned-levels", "L3"]) == 0
    (assess_line,) = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("S001_HU_ratio")]
    level, assess_text = assess_line.split()[1:3]
    assert ct_table[level] == assess_text, (ct_table[level], assess_text)
    ct = load(folder / "measurements.json")
    html = render_patient_html(patient_report(ct, None, assess_patient(ct, None, {"planned_levels": "L3"})))
    assert f'data-key="hu_ratio" data-value="{ct["vertebrae"][level]["hu_ratio"]!r}" data-level="{level}">{assess_text}<' in html
    assert f'data-model="S001_HU_ratio">{assess_text}<' in html


def test_page_one_mri_warnings_carry_their_sentences(real_mri_dir):
    """The real T1's header names neither weighting nor field strength: mri.json keeps the codes in ``flags`` and the
    sentences in ``flag_notes``; page one's warnings give each sentence (they read "MRI weighting not in header: ."),
    once (they read "MRI field strength unknown: field strength unknown: VBQ at 1.5 T ...")."""
    from spinebq.report.summary import warnings
    from spinebq.risk.assess import mri_record

    doc = json.loads((real_mri_dir / "mri.json").read_text())
    shown = [w for w in warnings(None, mri_record(doc)) if w.startswith("MRI")]
    assert len(shown) == len(doc["input"]["flags"]) >= 1
    for flag, line in zip(doc["input"]["flags"], shown):
        assert ": ." not in line and doc["input"]["flag_notes"][flag].rstrip(".")[:40] in line, line
        words = line.lower().split()
        assert not any(words[i:i + 2] == words[j:j + 2] for i in range(len(words) - 1)
                       for j in range(i + 2, min(i + 6, len(words) - 1))), f"words said twice: {line}"


def test_report_prints_each_model_line_as_assess_does_with_its_level(real_ct_dir, tmp_path, capsys):
    """The real CT planned at L4-L5: `spinebq report` printed Sakai's cutoff twice as "Sakai2018_STHU 163 vs <
    153.5 HU" (no level, three significant digits: L4's 162.5 and L5's 163.3 HU looked like one row said twice).
    Now each applied model's line is `spinebq assess`'s: key, level, value in its quantity's decimals and unit."""
    argv = ["--ct", str(real_ct_dir), "--planned-levels", "L4-L5", "--age", "71"]
    assert main(["report", *argv, "--no-pdf", "--out", str(tmp_path / "rep")]) == 0
    report_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert main(["assess", *argv]) == 0
    assess_lines = capsys.readouterr().out.splitlines()
    sakai = [line for line in report_lines if "Sakai2018_STHU" in line]
    assert [line.split()[1] for line in sakai] == ["L4", "L5"], sakai
    assert len(set(line.split()[2] for line in sakai)) == 2 and all(" HU vs < 153.5 HU" in line for line in sakai)
    for line in report_lines:
        assert any(a.startswith(line) for a in assess_lines), line


def test_a_ct_with_no_graded_level_does_not_say_grade_0(real_ct_dir, tmp_path, capsys):
    """The real DICOM series (T11 and T12 both cut by the field of view, no height measured): `spinebq ct` printed
    "fractured levels (Genant >= 1): none" and page one "none, Genant grade 0 at every graded level (no level)", a
    grade never given. Both now say no level was graded; the real NIfTI CT says which levels were."""
    from spinebq.report.summary import NOT_GRADED, fractures
    from spinebq.risk.assess import ct_record

    out = tmp_path / "ct"
    assert main(["ct", str(need(TS / "ct_dicom")), "--labels", str(need(TS / "ct_dicom_seg.nii.gz")), "--out", str(out),
                 "--no-pictures", "--trajectory", "none"]) == 0
    assert f"fractured levels (Genant >= 1): {NOT_GRADED};" in capsys.readouterr().out
    (line,) = fractures(ct_record(load(out / "measurements.json")), None)
    assert line == f"CT (measurements.json): {NOT_GRADED}" and "grade 0" not in line
    (line,) = fractures(ct_record(load(real_ct_dir / "measurements.json")), None)
    assert line == "CT (measurements.json): none, Genant grade 0 at every graded level (L1-L5)", line


def test_a_ct_with_no_summary_level_names_the_levels_asked_for(tmp_path):
    """The real DICOM series (only T11 and T12, both cut): page one read "summary over none", "CT 3D HU, none mean",
    "vBMD, none mean", and the screening detail "mid-body ellipse not measured: not measured"."""
    from spinebq.report.html import render_patient_html

    out = tmp_path / "ct"
    assert main(["ct", str(need(TS / "ct_dicom")), "--labels", str(need(TS / "ct_dicom_seg.nii.gz")), "--out", str(out),
                 "--no-pictures", "--trajectory", "none"]) == 0
    ct = load(out / "measurements.json")
    page = render_patient_html(patient_report(ct, None, assess_patient(ct, None, {})))
    assert "none mean" not in page and "summary over none" not in page
    assert "summary over no level of L1-L4 measurable" in page and "CT 3D HU, L1-L4 mean" in page
    assert "not measured: not measured" not in page
