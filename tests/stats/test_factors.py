"""Categorical variables as R treats factors, on real cohorts shipped with R (tests/stats/data/README.md).

Every expected number is in r_reference.py beside the R call that produced it.
"""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from spinebq.errors import OptionError, SpinebqError
from spinebq.stats.data import read_table, validate_cohort
from spinebq.stats.logistic import fit_logistic
from tests.stats import r_reference as R

DATA = Path(__file__).parent / "data"
TOL = dict(rtol=1e-6, atol=1e-12)
BW_MODEL = ["age", "lwt", "race", "smoke", "ht", "ui"]


def _fit(df, model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = validate_cohort(df, "low", model, source="birthwt", **kw)
        return c, fit_logistic(c.data, "low", c.design_terms(model))


def _assert_glm(fit, ref, terms):
    assert list(fit.table.index) == terms
    t = fit.table
    for col, key in (("coef", "coef"), ("se", "se"), ("p", "p"), ("or", "or"), ("or_ci_low", "or_low"),
                     ("or_ci_high", "or_high")):
        assert_allclose(t[col].to_numpy(), ref[key], **TOL, err_msg=col)
    assert fit.n == ref["nobs"]


@pytest.fixture(scope="module")
def birthwt():
    return read_table(DATA / "birthwt.csv")


def test_text_factors_equal_glm_with_r_default_reference(birthwt):
    # R: levels sorted, so black is race's reference; No/Yes give smokeYes, htYes; low Yes/No is the outcome
    c, f = _fit(birthwt, BW_MODEL)
    _assert_glm(f, R.BW_MULTI, R.BW_MULTI_TERMS)
    assert c.factors["race"].levels == ("black", "other", "white")
    assert c.event == "Yes"
    assert any("event = 'Yes'" in n for n in c.notes)


def test_reference_level_equals_relevel(birthwt):
    c, f = _fit(birthwt, BW_MODEL, reference={"race": "white"})
    _assert_glm(f, R.BW_MULTI_WHITE, R.BW_MULTI_WHITE_TERMS)
    with pytest.raises(OptionError, match="'purple' is not a level of 'race'"):
        _fit(birthwt, BW_MODEL, reference={"race": "purple"})


def test_csv_xlsx_and_numeric_codes_give_the_same_numbers(birthwt, tmp_path):
    xlsx = tmp_path / "birthwt.xlsx"
    birthwt.to_excel(xlsx, index=False)
    from_xlsx = read_table(xlsx)
    assert not pd.api.types.is_numeric_dtype(from_xlsx["race"])  # text categories in the workbook
    _, fx = _fit(from_xlsx, BW_MODEL, reference={"race": "white"})
    _assert_glm(fx, R.BW_MULTI_WHITE, R.BW_MULTI_WHITE_TERMS)
    coded = read_table(DATA / "birthwt_coded.csv")
    c, fc = _fit(coded, BW_MODEL, categorical=["race"])
    _assert_glm(fc, R.BW_MULTI_CODED, ["(Intercept)", "age", "lwt", "race2", "race3", "smoke", "ht", "ui"])
    assert_allclose(fc.table["coef"].to_numpy(), fx.table["coef"].to_numpy(), rtol=1e-9)
    assert c.event == "1" and not any(n.startswith("outcome") for n in c.notes)


def test_univariable_three_level_factor(birthwt):
    _, f = _fit(birthwt, ["race"])
    _assert_glm(f, R.BW_UNI_RACE, R.BW_UNI_RACE_TERMS)


def test_event_option_flips_the_outcome(birthwt):
    c, f = _fit(birthwt, BW_MODEL, event="no")
    assert c.event == "No"
    assert_allclose(f.table["coef"].to_numpy(), -np.asarray(R.BW_MULTI["coef"]), **TOL)
    with pytest.raises(OptionError, match="'maybe' is not a value of the outcome column 'low'"):
        _fit(birthwt, BW_MODEL, event="maybe")


def test_three_level_factor_of_infert():
    i = read_table(DATA / "infert.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = validate_cohort(i, "case", ["education", "age", "parity", "induced", "spontaneous"])
        f = fit_logistic(c.data, "case", c.design_terms(["education", "age", "parity", "induced", "spontaneous"]))
    _assert_glm(f, R.INF_MULTI, R.INF_MULTI_TERMS)


def test_missing_value_codes(tmp_path):
    raw = pd.read_csv(DATA / "birthwt.csv")
    text = (DATA / "birthwt.csv").read_text().splitlines()
    # three cells made missing in the ways exports do: -99 (SPSS), "." (SAS/Stata) and empty
    header, rows = text[0], text[1:]
    cells = [r.split(",") for r in rows]
    cells[0][2] = "-99"
    cells[1][3] = "."
    cells[2][2] = ""
    p = tmp_path / "coded_na.csv"
    p.write_text("\n".join([header] + [",".join(c) for c in cells]) + "\n")
    df = read_table(p, na_values=["-99"])
    assert df["lwt"].isna().sum() == 2 and df["race"].isna().sum() == 1
    _, f = _fit(df, BW_MODEL)
    _, ref = _fit(raw.iloc[3:], BW_MODEL)  # the same rows left out by hand
    assert f.n == 186 and f.n_dropped == 3
    assert_allclose(f.table["coef"].to_numpy(), ref.table["coef"].to_numpy(), rtol=1e-10)
    with pytest.raises(SpinebqError, match="text value '.99x' in row 2"):
        cells[0][2] = "-99x"
        p.write_text("\n".join([header] + [",".join(c) for c in cells]) + "\n")
        validate_cohort(read_table(p, na_values=["-99"]), "low", BW_MODEL)


def test_dates_and_identifiers_are_left_out_and_said(birthwt):
    df = birthwt.copy()
    df["patient"] = [f"BW-{i:03d}" for i in range(len(df))]
    df["visit"] = pd.date_range("2020-01-01", periods=len(df), freq="D").strftime("%Y-%m-%d")
    df["comment"] = [f"note {i // 2}" for i in range(len(df))]  # free text, a few repeated
    c = validate_cohort(df, "low", ["lwt", "patient", "visit", "comment"])
    assert set(c.left_out) == {"patient", "visit", "comment"}
    assert "free text" in c.left_out["comment"]
    assert "identifier" in c.left_out["patient"] and "dates" in c.left_out["visit"]
    assert any("column 'patient' was left out" in n for n in c.notes)
    from spinebq.stats.analysis import run_analysis

    with pytest.raises(OptionError, match="column 'patient' in the data cannot be analysed"):
        run_analysis(df, "low", {"patient": "auto"}, bootstrap=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_analysis(df, "low", {"lwt": "lower"}, covariates=["visit", "race"], bootstrap=0)
    assert "visit" not in set(res.baseline.table["variable"]) and "race" in set(res.baseline.table["variable"])
    assert any("column 'visit' was left out of the analysis: it holds dates" in n for n in res.notes)


def test_single_level_and_level_without_events(birthwt):
    df = birthwt.copy()
    df["site"] = "A"
    with pytest.raises(SpinebqError, match="column 'site' in the data has a single level 'A'"):
        validate_cohort(df, "low", ["site"])
    df["grade"] = np.where(np.arange(len(df)) % 2 == 0, "I", "II")
    df.loc[(df["low"] == "No") & (np.arange(len(df)) < 20), "grade"] = "III"
    c = validate_cohort(df, "low", ["grade"])
    assert "level 'III' of 'grade' has no events: its odds ratio cannot be estimated (separation)" in " ".join(c.notes)


def test_numeric_grade_as_number_or_factor(birthwt):
    # ftv (0-6 visits) enters as one slope by default and as one OR per level with --categorical
    c, f = _fit(birthwt, ["ftv"])
    assert list(f.table.index) == ["(Intercept)", "ftv"]
    c, f = _fit(birthwt, ["ftv"], categorical=["ftv"])
    assert list(f.table.index) == ["(Intercept)", "ftv1", "ftv2", "ftv3", "ftv4", "ftv6"]


def test_text_grade_as_number_on_request():
    i = read_table(DATA / "infert.csv")
    model = ["education", "age", "parity", "induced", "spontaneous"]
    c = validate_cohort(i, "case", model, ordinal={"education": ["0-5yrs", "6-11yrs", "12+ yrs"]})
    f = fit_logistic(c.data, "case", c.design_terms(model))
    _assert_glm(f, R.INF_ORDINAL, R.INF_ORDINAL_TERMS)
    assert "'education' is used as a number: 0-5yrs = 1, 6-11yrs = 2, 12+ yrs = 3" in c.notes
    with pytest.raises(OptionError, match="'education' in the data holds '12\\+ yrs'"):
        validate_cohort(i, "case", model, ordinal={"education": ["0-5yrs", "6-11yrs"]})


# ---------------------------------------------------------------------------- spreadsheets as exports write them
def _coded():
    return pd.read_csv(DATA / "birthwt_coded.csv")


@pytest.mark.parametrize("true,false", [("TRUE", "FALSE"), ("true", "false"), ("True", "False"), ("xlsx", "")])
def test_true_false_outcome_is_coded_1_0(tmp_path, true, false):
    df = _coded()
    if true == "xlsx":  # Excel booleans
        p, true = tmp_path / "tf.xlsx", "TRUE"
        df.assign(low=df["low"] == 1).to_excel(p, index=False)
    else:
        p = tmp_path / "tf.csv"
        df.assign(low=np.where(df["low"] == 1, true, false)).to_csv(p, index=False)
    c, f = _fit(read_table(p), BW_MODEL, categorical=["race"])
    _assert_glm(f, R.BW_LOGICAL, R.BW_LOGICAL_TERMS)
    assert c.event == "TRUE"
    c, f = _fit(read_table(p), BW_MODEL, categorical=["race"], event=true)
    assert c.event == "TRUE"
    _assert_glm(f, R.BW_LOGICAL, R.BW_LOGICAL_TERMS)


def test_outcome_coded_1_2_has_event_2_as_r():
    c, f = _fit(_coded().assign(low=lambda d: d["low"] + 1), BW_MODEL, categorical=["race"])
    _assert_glm(f, R.BW_12, R.BW_12_TERMS)
    assert c.event == "2" and any("event = '2' (R's rule: the second level in sorted order)" in n for n in c.notes)


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_none_null_and_nan_words_are_texts_not_missing(tmp_path, suffix):
    b = pd.read_csv(DATA / "birthwt.csv", keep_default_na=False)
    b["smoke"] = np.where(b["smoke"] == "Yes", "Current", "None")
    words = ["NULL", "n/a", "nan", "#N/A"]
    b["comment"] = [words[i % 4] for i in range(len(b))]
    p = tmp_path / f"none.{suffix}"
    b.to_csv(p, index=False) if suffix == "csv" else b.to_excel(p, index=False)
    df = read_table(p)
    # openpyxl writes '#N/A' as Excel's error value #N/A, an empty cell to readers (readxl's NA)
    kept = b["comment"].where((b["comment"] != "#N/A") | (suffix == "csv"))
    pd.testing.assert_series_equal(df["comment"].astype(object), kept.astype(object), check_dtype=False)
    c, f = _fit(df, ["lwt", "smoke"])
    assert c.factors["smoke"].levels == tuple(R.BW_NONE_LEVELS)
    _assert_glm(f, R.BW_NONE, R.BW_NONE_TERMS)
    # among numbers such a word is a stray text (refused with its row) unless it is given as a missing-value code
    b["lwt"] = b["lwt"].astype(object)
    b.loc[4, "lwt"] = "NULL"
    b.to_csv(p, index=False) if suffix == "csv" else b.to_excel(p, index=False)
    with pytest.raises(SpinebqError, match="column 'lwt' in the data has a text value 'NULL' in row 6"):
        validate_cohort(read_table(p), "low", ["lwt"])
    assert read_table(p, na_values=["NULL"])["lwt"].isna().sum() == 1


def test_constant_column_is_refused_naming_its_value():
    df = _coded().assign(const=5)
    assert R.BW_ALIASED_CONST == ["const"]  # R's glm gives it NA
    with pytest.raises(SpinebqError, match="column 'const' in birthwt has the single value 5 in the rows analysed "
                                           r"\(189 with a value\)"):
        _fit(df, ["lwt", "const"])
    with pytest.raises(SpinebqError, match="low ~ lwt \\+ const: 'const' has the single value 5 in the 189 complete"):
        fit_logistic(df, "low", ["lwt", "const"])


def test_collinear_and_repeated_columns_are_refused_naming_them(tmp_path):
    p = tmp_path / "kg.csv"
    _coded().assign(lwt_kg=lambda d: d["lwt"] * 0.45359237).to_csv(p, index=False, float_format="%.17g")
    (aliased,) = R.BW_ALIASED_KG
    with pytest.raises(SpinebqError, match=f"low ~ age \\+ lwt \\+ lwt_kg: '{aliased}' is a linear combination of "
                                           "'lwt' \\(perfectly collinear\\) in the 189 complete rows"):
        _fit(read_table(p), ["age", "lwt", "lwt_kg"])
    header, *rows = (DATA / "birthwt_coded.csv").read_text().splitlines()
    p.write_text("\n".join([header.replace('"bwt"', '"lwt"')] + rows) + "\n")
    with pytest.raises(SpinebqError, match="kg.csv names the column 'lwt' twice in its header \\(columns 3, 10\\)"):
        read_table(p)
    x = tmp_path / "dup.xlsx"
    pd.read_csv(p, header=None).to_excel(x, index=False, header=False)
    with pytest.raises(SpinebqError, match="dup.xlsx names the column 'lwt' twice"):
        read_table(x)


def test_a_collinear_factor_is_refused_naming_its_column_and_level(birthwt):
    """smoke again as a text column smk (current/never): R drops the dummy smknever (R.BW_ALIASED_FACTOR); the
    refusal names the spreadsheet column and level the user knows, not the model term."""
    from spinebq.stats.analysis import run_analysis

    df = birthwt.assign(smk=np.where(birthwt["smoke"] == "Yes", "current", "never"))
    assert R.BW_ALIASED_FACTOR == ["smknever"]  # the level 'never' of smk
    with warnings.catch_warnings(), pytest.raises(SpinebqError) as err:
        warnings.simplefilter("ignore")
        run_analysis(df, "low", {"lwt": "lower"}, model=["lwt", "smoke", "smk"], bootstrap=0, source="birthwt")
    assert str(err.value) == (
        "logistic model low ~ lwt + smoke + smk: 'smk' (level 'never') is a linear combination of 'smoke' (level "
        "'Yes') and a constant (perfectly collinear) in the 189 complete rows, so its odds ratio cannot be estimated "
        "(R's glm gives it NA); leave 'smk' or the columns it repeats out.")


def test_letter_case_variants_stay_apart_with_a_warning(birthwt):
    from spinebq.stats import StatsWarning
    from spinebq.stats.analysis import run_analysis

    df = birthwt.copy()
    df["smoke"] = [(str.upper, str.lower, str)[i % 3](v) for i, v in enumerate(df["smoke"])]
    with pytest.warns(StatsWarning, match="column 'smoke' in the data has levels that differ only in letter case "
                                          r"\('NO', 'No', 'no'; 'YES', 'Yes', 'yes'\); they are kept as separate"):
        c = validate_cohort(df, "low", ["smoke"])
    assert len(c.factors["smoke"].levels) == 6  # as R's factor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_analysis(df, "low", {"lwt": "lower"}, model=["lwt", "smoke"], bootstrap=0)
    assert any("'smoke' in the data has levels that differ only in letter case" in w for w in res.warnings)
    df["low"] = [(str.upper, str.lower, str)[i % 3](v) for i, v in enumerate(df["low"])]
    with pytest.raises(SpinebqError, match=r"some differ only in letter case \('NO', 'No', 'no'; 'YES', 'Yes', "
                                           r"'yes'\): correct the spelling\.$"):
        validate_cohort(df, "low", ["lwt"])
