"""``spinebq stats`` through spinebq.cli.main: outputs, stats.json shape, and one sentence per bad spreadsheet."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spinebq.cli import main
from tests.stats import r_reference as R

PRED = "age:higher,pbq:higher,hu_ratio:lower,goutallier:higher,vbq"
MODEL = "age,pbq,hu_ratio,goutallier"


def _run(capsys, *argv):
    code = main(["stats", *map(str, argv)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_full_run_writes_everything(csv_dir, tmp_path, capsys):
    out = tmp_path / "o"
    code, so, se = _run(capsys, csv_dir / "c001.csv", "--outcome", "loosening", "--predictors", PRED + ",st_hu:lower",
                        "--model", MODEL, "--out", out, "--bootstrap", "40", "--excel", "--icc", "pbq,pbq_reader2",
                        "--per", "st_hu:10,age:10", "--jobs", "1")
    assert code == 0, se
    # --per reaches the univariable OR of a predictor outside the model (it used to be dropped) and the model's
    uni = pd.read_csv(out / "tables" / "logistic_univariable.csv", index_col=0)
    np.testing.assert_allclose(uni.loc["st_hu", ["or_per", "or_per_ci_low", "or_per_ci_high"]].to_numpy(float),
                               R.UNI_ST_HU_PER10, rtol=1e-6)
    multi = pd.read_csv(out / "tables" / "logistic_multivariable.csv", index_col=0)
    np.testing.assert_allclose(multi.loc["age", "or_per"], np.exp(10 * R.MULTI["coef"][1]), rtol=1e-6)
    assert "st_hu per 10" in so and "age per 10" in so
    assert "p = 0.0000" not in so and "< 0.001" in so
    assert "research use only" in so.lower()
    assert "warning: direction of 'vbq' was not given" in so
    d = json.loads((out / "stats.json").read_text())
    for k in ("age", "pbq", "hu_ratio", "goutallier", "vbq", "model"):
        assert set(d["roc"][k]) >= {"auc", "auc_ci", "direction", "youden"}
        assert set(d["roc"][k]["youden"]) >= {"threshold", "sensitivity", "specificity", "ppv", "npv"}
    assert d["roc"]["hu_ratio"]["direction"] == ">" and d["roc"]["vbq"]["direction_inferred"] is True
    np.testing.assert_allclose(d["roc"]["pbq"]["auc_ci"], [R.ROC_PBQ_AUC_CI[0], R.ROC_PBQ_AUC_CI[2]], rtol=1e-9)
    for k in ("age", "pbq", "hu_ratio", "goutallier", "vbq"):
        assert set(d["logistic"]["univariable"][k]) >= {"or", "or_ci", "p"}
    for k in MODEL.split(","):
        assert set(d["logistic"]["multivariable"][k]) >= {"or", "or_ci", "p"}
    np.testing.assert_allclose(d["logistic"]["multivariable"]["pbq"]["or"], R.MULTI["or"][2], rtol=1e-6)
    assert set(d["hosmer_lemeshow"]) >= {"chi2", "df", "p"}
    np.testing.assert_allclose([d["hosmer_lemeshow"][k] for k in ("chi2", "df", "p")], R.HOSMER_LEMESHOW, rtol=1e-6)
    assert set(d["calibration"]) >= {"intercept", "slope", "brier"}
    assert set(d["validation"]) >= {"B", "auc_apparent", "auc_optimism", "auc_corrected"} and d["validation"]["B"] == 40
    assert set(d["dca"]) >= {"thresholds", "model", "treat_all"}
    np.testing.assert_allclose(d["dca"]["model"], R.DCA_MODEL, rtol=1e-6, atol=1e-12)
    assert "ICC2" in d["icc"]["pbq+pbq_reader2"]
    for f in ("tables/roc.csv", "tables/logistic_multivariable.csv", "tables/baseline.csv", "tables.md",
              "tables.xlsx", "figures/roc.png", "figures/calibration.png", "figures/decision_curve.png",
              "figures/clinical_impact.png", "figures/nomogram.png"):
        assert (out / f).exists(), f
    assert "NaN" not in (out / "stats.json").read_text()


def test_xlsx_input_and_impute(c001, tmp_path, capsys):
    x = tmp_path / "cohort.xlsx"
    c001.to_excel(x, index=False)
    code, so, se = _run(capsys, x, "--outcome", "loosening", "--predictors", "pbq:higher,st_hu:lower",
                        "--out", tmp_path / "o", "--bootstrap", "0", "--impute", "--no-figures")
    assert code == 0, se
    d = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert d["imputation"]["m"] == 5 and "pbq" in d["imputation"]
    assert 0.5 < d["imputation"]["auc"]["auc"] < 1 and len(d["imputation"]["auc"]["aucs"]) == 5
    assert "Model AUC pooled over 5 imputations" in so
    assert d["validation"] == {"B": 0}


def test_example_001(tmp_path, capsys):
    code, so, se = _run(capsys, "--example", "001", "--out", tmp_path / "o", "--bootstrap", "20", "--no-figures",
                        "--jobs", "1")
    assert code == 0, se
    assert "example 001 (simulated)" in so


def _bad(tmp_path, df, name="bad.csv"):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("case,expected", [
    ("missing_outcome", "bad.csv has no outcome column 'loosening'"),
    ("non_binary", "outcome column 'loosening' in bad.csv must be binary (0/1 or two levels such as Yes/No) but holds 3"),
    ("text_value", "column 'pbq' in bad.csv has a text value 'n/a?' in row 7"),
    ("one_class", "outcome column 'loosening' in bad.csv has only one class: all rows are non-events."),
    ("few_events", "outcome column 'loosening' in bad.csv has only 7 events ('1'); at least 10 are needed"),
    ("text_outcome", "outcome column 'loosening' in bad.csv must be binary (0/1 or two levels such as Yes/No) but "
                     "holds 3 different values ('loose', 'no', 'tight')"),
    ("missing_predictor", "bad.csv has no column 'pbq' named in the predictors or model"),
])
def test_bad_spreadsheets_end_in_one_sentence(c001, tmp_path, capsys, case, expected):
    df = c001[["loosening", "pbq", "age"]].copy()
    if case == "missing_outcome":
        df = df.drop(columns="loosening")
    elif case == "non_binary":
        df.loc[0, "loosening"] = 2
    elif case == "text_value":
        df["pbq"] = df["pbq"].astype(object)
        df.loc[5, "pbq"] = "n/a?"
    elif case == "one_class":
        df["loosening"] = 0
    elif case == "few_events":
        ev = np.flatnonzero(df["loosening"].to_numpy() == 1)
        df.loc[ev[7:], "loosening"] = 0
    elif case == "text_outcome":
        df["loosening"] = df["loosening"].map({0: "no", 1: "loose"})
        df.loc[3, "loosening"] = "tight"
    elif case == "missing_predictor":
        df = df.drop(columns="pbq")
    p = _bad(tmp_path, df)
    code, so, se = _run(capsys, p, "--outcome", "loosening", "--predictors", "pbq:higher,age:higher",
                        "--out", tmp_path / "o", "--bootstrap", "0", "--no-figures")
    assert code == 2
    assert expected in se
    lines = se.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spinebq stats: error: ") and lines[0].endswith(".")
    assert not (tmp_path / "o" / "stats.json").exists()


def test_usage_errors(tmp_path, capsys):
    code, _, se = _run(capsys, tmp_path / "nope.csv", "--outcome", "y", "--predictors", "x")
    assert code == 2 and "no such file" in se
    (tmp_path / "a.txt").write_text("")
    code, _, se = _run(capsys, tmp_path / "a.json", "--outcome", "y", "--predictors", "x")
    assert code == 2
    p = tmp_path / "ok.csv"
    pd.DataFrame({"y": [0, 1] * 20, "x": range(40)}).to_csv(p, index=False)
    code, _, se = _run(capsys, p, "--outcome", "y", "--predictors", "x:sideways")
    assert code == 2 and "must be 'lower' or 'higher'" in se
    code, _, se = _run(capsys, p, "--predictors", "x")
    assert code == 2 and "--outcome is required" in se
    # the library names the parameter; the command line turns it into the flag
    code, _, se = _run(capsys, p, "--outcome", "y", "--predictors", ",")
    assert code == 2 and "error: --predictors: no predictor given" in se
    code, _, se = _run(capsys, p, "--outcome", "y", "--predictors", "x:lower", "--icc", "x")
    assert code == 2 and "error: --icc: group 'x' needs at least two columns" in se


# ---------------------------------------------------------------------------- real cohorts shipped with R
DATA = Path(__file__).parent / "data"


def test_real_spreadsheet_with_text_categories(tmp_path, capsys):
    # birthwt as a clinician's export: Yes/No outcome, text race, smoke and ht
    out = tmp_path / "o"
    code, so, se = _run(capsys, DATA / "birthwt.csv", "--outcome", "low", "--predictors", "lwt:lower,age:higher,race",
                        "--model", "age,lwt,race,smoke,ht,ui", "--reference", "race=white", "--covariates", "ptl,ftv",
                        "--categorical", "ftv", "--per", "lwt:10", "--out", out, "--bootstrap", "0", "--no-figures",
                        "--excel")
    assert code == 0, se
    assert "event = 'Yes'" in so and "give --event to change it" in so  # the library names the option, the CLI its flag
    notes = json.loads((out / "stats.json").read_text())["notes"]
    assert any("give option `event` to change it" in n for n in notes)
    assert any("'race' is categorical with 3 levels, so it has no ROC curve" in n for n in notes)
    assert "warning: age: AUC 0.447 < 0.5 in the direction given" in so
    d = json.loads((out / "stats.json").read_text())
    m = d["logistic"]["multivariable"]
    for term, or_ in zip(R.BW_MULTI_WHITE_TERMS[1:], R.BW_MULTI_WHITE["or"][1:]):
        np.testing.assert_allclose(m[term]["or"], or_, rtol=1e-6, err_msg=term)
    np.testing.assert_allclose(d["logistic"]["univariable"]["raceblack"]["p"], 0.068301314813696917, rtol=1e-6)
    assert d["logistic"]["univariable"]["raceblack"]["variable"] == "race"
    assert d["factors"]["race"] == {"levels": ["white", "black", "other"], "reference": "white",
                                    "terms": ["raceblack", "raceother"]} and d["event"] == "Yes"
    assert "Categorical race: reference 'white'; other levels 'black', 'other'" in so
    # the decision curve's gap (0.70-0.77) is shown, not hidden in one range
    assert "the model beats treat-all and treat-none at thresholds 0.03-0.69, 0.78-0.83" in so
    np.testing.assert_allclose(d["dca"]["model_better_intervals"], np.reshape(R.BW_DCA_BETTER_INTERVALS, (-1, 2)))
    np.testing.assert_allclose(d["baseline"]["ftv"]["p"], R.BW_FISHER_FTV, rtol=1e-6)
    assert d["baseline"]["race"]["levels"]["black"] == [15, 11]
    md = (out / "tables.md").read_text()
    assert "| race | black | 15 (11.5%) | 11 (18.6%) |" in md
    sheets = pd.read_excel(out / "tables.xlsx", sheet_name=None)
    assert "baseline" in sheets and "logistic_univariable" in sheets


def test_numeric_codes_need_categorical_and_unknown_names_are_refused(tmp_path, capsys):
    args = ["--outcome", "low", "--predictors", "lwt:lower", "--model", "age,lwt,race,smoke,ht,ui", "--bootstrap", "0",
            "--no-figures"]
    code, so, se = _run(capsys, DATA / "birthwt_coded.csv", *args, "--categorical", "race", "--out", tmp_path / "a")
    assert code == 0, se
    d = json.loads((tmp_path / "a" / "stats.json").read_text())
    np.testing.assert_allclose([d["logistic"]["multivariable"][t]["or"] for t in ("race2", "race3")],
                               R.BW_MULTI_CODED["or"][3:5], rtol=1e-6)
    code, so, se = _run(capsys, DATA / "birthwt_coded.csv", *args, "--categorical", "sex", "--out", tmp_path / "b")
    assert code == 2 and "--categorical: 'sex' is not among the predictors" in se


def test_matched_case_control(tmp_path, capsys):
    code, so, se = _run(capsys, DATA / "infert.csv", "--outcome", "case", "--predictors", "spontaneous:higher",
                        "--model", "spontaneous,induced", "--matched", "stratum", "--out", tmp_path / "o",
                        "--bootstrap", "0", "--no-figures")
    assert code == 0, se
    assert "Conditional logistic model (matched on stratum: 83 sets, n = 248)" in so
    c = json.loads((tmp_path / "o" / "stats.json").read_text())["logistic"]["conditional"]
    np.testing.assert_allclose([c["multivariable"][t]["or"] for t in ("spontaneous", "induced")], R.INF_CLOGIT["or"],
                               rtol=1e-6)
    assert "note: matched design on 'stratum' (83 sets)" in so
    # imputed: the pooled model is the unconditional one, and the notes say so (before, nothing did)
    import pandas as pd

    infert = pd.read_csv(DATA / "infert.csv")
    infert.loc[::10, "induced"] = np.nan  # every tenth row's 'induced' missing
    infert.to_csv(tmp_path / "infert_missing.csv", index=False)
    code, so, se = _run(capsys, tmp_path / "infert_missing.csv", "--outcome", "case", "--predictors",
                        "spontaneous:higher", "--model", "spontaneous,induced", "--matched", "stratum", "--impute",
                        "--out", tmp_path / "i", "--bootstrap", "0", "--no-figures")
    assert code == 0, se
    assert "the model pooled over the imputations is the unconditional one: it ignores the matching on 'stratum'" in so


def test_clustered_rows(tmp_path, capsys):
    code, so, se = _run(capsys, DATA / "retinopathy.csv", "--outcome", "status", "--predictors", "risk:higher",
                        "--model", "trt,risk,type", "--cluster", "id", "--roc-bootstrap", "200", "--out",
                        tmp_path / "o", "--bootstrap", "0", "--no-figures")
    assert code == 0, se
    d = json.loads((tmp_path / "o" / "stats.json").read_text())
    np.testing.assert_allclose([d["logistic"]["multivariable"][t]["p"] for t in ("trt", "risk", "typejuvenile")],
                               R.RET_ROBCOV["p"][1:], rtol=1e-6)
    np.testing.assert_allclose(d["roc"]["risk"]["auc"], R.RET_ROC_RISK[1], rtol=1e-9)
    assert len(d["roc"]["risk"]["auc_ci_bootstrap"]) == 2
    assert "cluster bootstrap" in so and "are not independent" in so


def test_cohort_report_shows_table1(tmp_path, capsys):
    out = tmp_path / "o"
    code, so, se = _run(capsys, DATA / "birthwt.csv", "--outcome", "low", "--predictors", "lwt:lower",
                        "--model", "lwt,race,smoke", "--covariates", "ptl", "--out", out, "--bootstrap", "0",
                        "--no-figures")
    assert code == 0, se
    from spinebq.report.cohort import cohort_report, render_cohort_html

    rep = cohort_report(out)
    t1 = rep["tables"][0]
    assert t1["title"].startswith("Table 1")
    assert ["", "black", "15 (11.5%)", "11 (18.6%)", "", "", ""] in t1["rows"]
    assert ["race", "", "", "", "chi-square", "0.082", "0"] in t1["rows"]
    ptl = next(r for r in t1["rows"] if r[0] == "ptl")
    assert ptl[5] == "< 0.001"
    assert "Table 1" in render_cohort_html(rep)
    roc = next(t for t in rep["tables"] if t["title"].startswith("ROC"))
    assert roc["rows"][0][:4] == ["lwt", "0.613", "0.524-0.702", "< 111"]  # the terminal's rule, not "111.0000"


DATA_DIR = Path(__file__).parent / "data"


def _birthwt_with_a_second_lwt(path: Path) -> None:
    """birthwt with ``lwt_r2``, a second reading of lwt (lwt + 20 on every tenth row), for the ICC."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv")
    df["lwt_r2"] = df["lwt"] + np.where(np.arange(len(df)) % 10 == 0, 20, 0)
    df.to_csv(path, index=False)


def test_the_terminal_shows_icc_roc_gaps_and_each_warning_once(tmp_path, capsys):
    """birthwt with a second reading of lwt (lwt + 20 on every tenth row): the ICC is printed (it was only in
    stats.json), so is the note that race has no ROC curve; with perfect separation (bwt < 2500 g is the outcome)
    the warning shows once (the one-predictor model repeated it) and Hosmer-Lemeshow says it was not computed."""
    _birthwt_with_a_second_lwt(tmp_path / "bw.csv")
    code, so, se = _run(capsys, tmp_path / "bw.csv", "--outcome", "low", "--predictors", "lwt:lower,race",
                        "--model", "lwt,race", "--icc", "lwt,lwt_r2", "--bootstrap", "0", "--no-figures",
                        "--out", tmp_path / "icc")
    assert code == 0, se
    icc = json.loads((tmp_path / "icc" / "stats.json").read_text())["icc"]["lwt+lwt_r2"]
    line = next(s for s in so.splitlines() if s.startswith("ICC of lwt, lwt_r2"))
    for form in ("ICC2", "ICC3"):
        assert f"{form} {icc[form]['icc']:.3f} ({icc[form]['ci'][0]:.3f}-{icc[form]['ci'][1]:.3f})" in line, line
    assert "'race' is categorical with 3 levels, so it has no ROC curve" in so
    code, so, se = _run(capsys, DATA_DIR / "birthwt.csv", "--outcome", "low", "--predictors", "bwt:lower",
                        "--bootstrap", "0", "--no-figures", "--out", tmp_path / "sep")
    assert code == 0, se
    assert so.count("perfect separation") == 1, so
    assert "Hosmer-Lemeshow not computed" in so and "nan" not in so.split("Hosmer-Lemeshow")[1].split("\n")[0]


def test_a_workbook_whose_table_is_not_on_the_first_sheet_says_so(tmp_path, capsys):
    """birthwt on the second sheet of an .xlsx, a README sheet first: the refusal names the sheets (it listed the
    README's columns only)."""
    with pd.ExcelWriter(tmp_path / "bw.xlsx") as book:
        pd.DataFrame({"info": ["birthwt, exported from R"]}).to_excel(book, sheet_name="README", index=False)
        pd.read_csv(DATA_DIR / "birthwt.csv").to_excel(book, sheet_name="data", index=False)
    code, so, se = _run(capsys, tmp_path / "bw.xlsx", "--outcome", "low", "--predictors", "lwt:lower",
                        "--out", tmp_path / "o")
    assert code == 2
    assert "reads the first of the workbook's sheets ('README', 'data')" in se, se


def test_icc_columns_are_checked_and_an_internal_error_says_where_debug_goes(tmp_path, capsys, monkeypatch):
    """birthwt: a text column in --icc ended in an internal error (KeyError), a missing one blamed "the
    predictors or model"; both are --icc refusals in one sentence. The internal-error hint names the place where
    --debug is accepted (before the command)."""
    common = ("--outcome", "low", "--predictors", "lwt:lower", "--bootstrap", "0", "--no-figures")
    code, so, se = _run(capsys, DATA_DIR / "birthwt.csv", *common, "--icc", "lwt,race", "--out", tmp_path / "a")
    assert code == 2 and se.count("\n") == 1, se
    assert se == ("spinebq stats: error: --icc: ICC columns must hold numbers (one measurement per reader), but "
                  "column 'race' in birthwt.csv holds the texts 'black', 'other', 'white'.\n")
    code, so, se = _run(capsys, DATA_DIR / "birthwt.csv", *common, "--icc", "lwt,nosuch", "--out", tmp_path / "b")
    assert code == 2 and se.startswith("spinebq stats: error: --icc: birthwt.csv has no column 'nosuch' (columns"), se
    assert "predictors or model" not in se

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("spinebq.stats.analysis.run_analysis", broken)
    code, so, se = _run(capsys, DATA_DIR / "birthwt.csv", *common, "--out", tmp_path / "c")
    assert code == 1
    assert "internal error: RuntimeError: boom (run again as 'spinebq --debug stats ...' for the traceback" in se, se


def test_cohort_report_has_icc_univariable_and_delong_tables_flags_and_prints_figures_full_width(tmp_path, capsys):
    """birthwt with a second reading of lwt (as above). The ICC, univariable logistic and DeLong results were in
    stats.json only; the notes showed "give option `event`" (the terminal says --event); figures printed two to a
    row (legends ~4 pt); long tables did not repeat their header on the next page."""
    _birthwt_with_a_second_lwt(tmp_path / "bw.csv")
    code, so, se = _run(capsys, tmp_path / "bw.csv", "--outcome", "low", "--predictors", "lwt:lower",
                        "--model", "lwt,race", "--icc", "lwt,lwt_r2", "--bootstrap", "0", "--no-figures",
                        "--out", tmp_path / "s")
    assert code == 0, se
    assert main(["report", "--stats", str(tmp_path / "s"), "--out", str(tmp_path / "r")]) == 0
    html = (tmp_path / "r" / "cohort_report.html").read_text()
    from spinebq.report.cohort import cohort_report, render_cohort_html

    rep = cohort_report(tmp_path / "s")
    tables = {t["title"]: t["rows"] for t in rep["tables"]}
    f3 = "{:.3f}".format
    # R.BW_ICC_LWT_R2: psych::ICC rows ICC1 ... ICC3k
    icc = tables["Intraclass correlation (psych::ICC, 95% CI)"]
    assert [r[1] for r in icc] == ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"] and icc[0][0] == "lwt, lwt_r2 (n = 189)"
    assert [r[3:5] for r in icc] == [[f3(v), f"{f3(lo)}-{f3(hi)}"] for v, lo, hi in
                                     zip(R.BW_ICC_LWT_R2["ICC"], R.BW_ICC_LWT_R2["lower"], R.BW_ICC_LWT_R2["upper"])]
    # R.BW_DELONG_MODEL_VS_LWT: pROC::roc.test(model, lwt, method="delong", paired=TRUE): AUCs, z, p
    auc1, auc2, z, p = R.BW_DELONG_MODEL_VS_LWT
    (delong,) = tables["Comparison of AUCs (paired DeLong test)"]
    assert delong[:4] == ["model vs lwt", f3(auc1), f3(auc2), f3(auc1 - auc2)] and delong[5:7] == [f3(z), f3(p)]
    # R.BW_UNI_RACE: glm(low ~ race, binomial, b)
    uni = {r[1]: r for r in tables["Univariable logistic regression"]}
    for i, term in enumerate(R.BW_UNI_RACE_TERMS[1:], 1):
        ref = R.BW_UNI_RACE
        assert uni[term] == ["race", term, f3(ref["or"][i]), f"{f3(ref['or_low'][i])}-{f3(ref['or_high'][i])}",
                             f3(ref["p"][i]), "189 (59)"]
    assert "give --event to change it" in html and "option `" not in html
    assert html.count("<thead>") == len(rep["tables"]) and "tr{break-inside:avoid}" in html
    # printed, each figure takes a row of its own, the text's full width
    weasyprint = pytest.importorskip("weasyprint")
    from PIL import Image

    rep["figures"] = []
    for name in ("roc", "calibration"):
        Image.new("RGB", (300, 200), "white").save(tmp_path / f"{name}.png")
        rep["figures"].append({"path": tmp_path / f"{name}.png", "title": name})
    pages = weasyprint.HTML(string=render_cohort_html(rep)).render().pages
    images = [(b.position_x, b.position_y, b.width, page._page_box.width) for page in pages
              for b in page._page_box.descendants() if type(b).__name__.endswith("ReplacedBox")]
    assert len(images) == 2 and images[0][1] != images[1][1], images
    for x, y, width, text_width in images:
        assert width == pytest.approx(text_width), images


def test_thousands_separators_are_refused_and_a_semicolon_files_decimal_comma_is_read(tmp_path, capsys):
    """birthwt's bwt as US Excel exports a number formatted with thousands separators ("2,523", quoted): it was
    read as the decimal comma, 2.523 (1000 times too small, silently); R reads it as text. It is refused naming
    both readings. A semicolon-separated file (European Excel) still reads "2,523" as 2.523."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv")
    df["bwt"] = [f"{v:,}" for v in df["bwt"]]
    df.to_csv(tmp_path / "us.csv", index=False)
    code, so, se = _run(capsys, tmp_path / "us.csv", "--outcome", "low", "--predictors", "lwt:lower,bwt:lower",
                        "--bootstrap", "0", "--no-figures", "--out", tmp_path / "us")
    assert code == 2 and not (tmp_path / "us").exists()
    assert ("column 'bwt' in us.csv writes numbers with a comma such as '2,523': a thousands separator (2523) or a "
            "decimal comma (2.523)?") in se, se
    eu = pd.read_csv(DATA_DIR / "birthwt.csv")
    eu["kg"] = [f"{v / 1000:.3f}".replace(".", ",") for v in eu["bwt"]]
    eu[["low", "lwt", "kg"]].to_csv(tmp_path / "eu.csv", sep=";", index=False)
    code, so, se = _run(capsys, tmp_path / "eu.csv", "--outcome", "low", "--predictors", "lwt:lower,kg:lower",
                        "--bootstrap", "0", "--no-figures", "--out", tmp_path / "eu")
    assert code == 0, se
    youden = json.loads((tmp_path / "eu" / "stats.json").read_text())["roc"]["kg"]["youden"]
    assert 2.0 < youden["threshold"] < 3.0, youden  # kilograms, as written


def test_an_empty_column_and_a_one_level_outcome_are_said_not_internal_errors(tmp_path, capsys):
    """An all-missing column (as SPSS exports an unused variable) ended in an internal error as a model term and
    gave an ICC with df -1 and a Table 1 row "one level"; an outcome whose rows all hold 'No' was called "all
    events"."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv").assign(unused=np.nan)
    df.to_csv(tmp_path / "bw.csv", index=False)
    common = ("--outcome", "low", "--predictors", "lwt:lower", "--bootstrap", "0", "--no-figures")
    code, so, se = _run(capsys, tmp_path / "bw.csv", *common, "--model", "lwt,unused", "--out", tmp_path / "m")
    assert code == 2 and "spinebq stats: error: --model: column 'unused' in bw.csv cannot be analysed: it has no " \
                          "value in the rows analysed" in se, se
    code, so, se = _run(capsys, tmp_path / "bw.csv", *common, "--icc", "lwt,unused", "--out", tmp_path / "i")
    assert code == 2 and "column 'unused' in bw.csv cannot be used: it has no value" in se, se
    code, so, se = _run(capsys, tmp_path / "bw.csv", *common, "--covariates", "unused", "--out", tmp_path / "c")
    assert code == 0 and "note: column 'unused' was left out of the analysis: it has no value" in so, se
    df.head(5).to_csv(tmp_path / "no.csv", index=False)  # the first five rows: all 'No'
    code, so, se = _run(capsys, tmp_path / "no.csv", *common, "--out", tmp_path / "n")
    assert code == 2 and "outcome column 'low' in no.csv has only one class: every row with a value holds 'No'." \
        in se, se


def test_perfect_separation_with_the_bootstrap_gives_no_validation_and_no_nomogram(tmp_path, capsys):
    """birthwt, bwt predicting low (bwt < 2500 g): with --bootstrap the validation ended in an internal error, and
    the nomogram (figure and stats.json, which `spinebq assess --nomogram` reads) drew the coefficients of a fit
    whose odds ratios the tables report as NaN. Both are left out with a note; assess refuses that stats.json."""
    code, so, se = _run(capsys, DATA_DIR / "birthwt.csv", "--outcome", "low", "--predictors", "bwt:lower,lwt:lower",
                        "--bootstrap", "20", "--jobs", "1", "--out", tmp_path / "sep")
    assert code == 0, se
    assert "note: bootstrap validation not computed: the multivariable model has no maximum-likelihood" in so
    assert "note: no nomogram: the multivariable model has no maximum-likelihood estimate" in so
    d = json.loads((tmp_path / "sep" / "stats.json").read_text())
    assert d["nomogram"] is None and d["validation"] == {"B": 0}
    assert not (tmp_path / "sep" / "figures" / "nomogram.png").exists()
    assert not (tmp_path / "sep" / "tables" / "nomogram_points.csv").exists()
    code = main(["assess", "--age", "70", "--nomogram", str(tmp_path / "sep" / "stats.json")])
    err = capsys.readouterr().err
    assert code == 2 and "this spinebq stats run has no nomogram" in err, err


def test_a_redcap_checkbox_outcome_has_checked_as_its_event(tmp_path, capsys):
    """REDCap's label export writes a checkbox as Checked/Unchecked: R's rule (the second level in sorted order)
    made 'Unchecked' the event (130 "events" of 189 in birthwt, every AUC below 0.5). 'Unchecked' is a no."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv")
    df["low___1"] = df["low"].map({"Yes": "Checked", "No": "Unchecked"})
    df.to_csv(tmp_path / "redcap.csv", index=False)
    code, so, se = _run(capsys, tmp_path / "redcap.csv", "--outcome", "low___1", "--predictors", "lwt:lower",
                        "--bootstrap", "0", "--no-figures", "--out", tmp_path / "o")
    assert code == 0, se
    assert "event = 'Checked' (the level that is not 'Unchecked')" in so and "events = 59" in so, so


def test_a_percent_column_is_refused_saying_why(tmp_path, capsys):
    """A column Excel formatted as percent exports as "26.2%": it was refused as "153 different texts in 189 rows
    (free text, not categories)", which hides why; the sentence now says they are numbers with a percent sign."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv")
    df["bwt_share"] = [f"{100 * v / 5000:.1f}%" for v in df["bwt"]]
    df.to_csv(tmp_path / "pct.csv", index=False)
    code, so, se = _run(capsys, tmp_path / "pct.csv", "--outcome", "low", "--predictors", "lwt:lower,bwt_share",
                        "--bootstrap", "0", "--no-figures", "--out", tmp_path / "o")
    assert code == 2 and "column 'bwt_share' in pct.csv cannot be analysed: its values are numbers with a percent " \
                          "sign (such as '50.5%')" in se, se


def test_the_pooled_model_of_a_clustered_cohort_has_cluster_robust_errors(tmp_path, capsys):
    """birthwt as two rows per patient (--cluster) with --impute: the complete-case model had cluster-robust
    standard errors (rms::robcov) but the model pooled over the imputations had the naive ones, without a word.
    With no value missing every imputation is the data, so the pooled SE must equal the robust SE."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv").assign(patient=lambda d: [f"P{i // 2}" for i in range(len(d))])
    df.to_csv(tmp_path / "clu.csv", index=False)
    code, so, se = _run(capsys, tmp_path / "clu.csv", "--outcome", "low", "--predictors", "lwt:lower,age:lower",
                        "--cluster", "patient", "--impute", "--bootstrap", "0", "--no-figures", "--out", tmp_path / "o")
    assert code == 0, se
    d = json.loads((tmp_path / "o" / "stats.json").read_text())
    multi = pd.read_csv(tmp_path / "o" / "tables" / "logistic_multivariable.csv", index_col=0)
    pooled = pd.DataFrame(d["imputation"]).T.loc[["lwt", "age"]]
    np.testing.assert_allclose(pooled["se"].astype(float), multi.loc[["lwt", "age"], "se"], rtol=1e-6)
    assert any("pooled model's standard errors are cluster-robust" in n for n in d["notes"])
    assert "pooled AUC's interval (DeLong within each imputation) is too narrow" in so


def test_the_cohort_report_shows_the_cluster_bootstrap_ci_its_notes_ask_for(tmp_path, capsys):
    """birthwt as two rows per patient (--cluster): the cohort report's notes said "use the cluster bootstrap CI ...
    the DeLong CI is too narrow", but its ROC table showed only the DeLong CI. It now has the bootstrap column."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv").assign(patient=lambda d: [f"P{i // 2}" for i in range(len(d))])
    df.to_csv(tmp_path / "clu.csv", index=False)
    code, so, se = _run(capsys, tmp_path / "clu.csv", "--outcome", "low", "--predictors", "lwt:lower,age:lower",
                        "--cluster", "patient", "--roc-bootstrap", "200", "--bootstrap", "0", "--no-figures",
                        "--out", tmp_path / "o")
    assert code == 0, se
    assert main(["report", "--stats", str(tmp_path / "o"), "--out", str(tmp_path / "rep"), "--no-pdf"]) == 0
    page = (tmp_path / "rep" / "cohort_report.html").read_text()
    roc = json.loads((tmp_path / "o" / "stats.json").read_text())["roc"]
    assert "cluster bootstrap 95% CI" in page and "use the cluster bootstrap CI" in page
    for r in roc.values():
        low, high = r["auc_ci_bootstrap"]
        assert f"{low:.3f}-{high:.3f}" in page, (low, high)
