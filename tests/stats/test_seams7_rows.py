"""Seam sweep 7: ``spinebq stats`` on a table shaped as the batch's ``cohort.csv``: the rows it leaves out are said,
and rows are named as the file shows them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spinebq.cli import main
from spinebq.errors import SpinebqError
from spinebq.stats.data import read_table, validate_cohort

DATA_DIR = Path(__file__).parent / "data"


def _birthwt_as_cohort_csv(path: Path) -> None:
    """birthwt (189 real births) shaped as ``cohort.csv``: ``study``/``status`` first, 10 rows ``failed`` and 5
    ``skipped`` (their measured ``lwt`` empty, as the batch leaves it), 4 ``done`` rows without the outcome and 3
    without ``lwt`` (an MRI-only study has no CT value), written with the byte-order mark the batch writes."""
    df = pd.read_csv(DATA_DIR / "birthwt.csv")
    df.insert(0, "status", ["failed"] * 10 + ["skipped"] * 5 + ["done"] * (len(df) - 15))
    df.insert(0, "study", [f"s{i:03d}" for i in range(len(df))])
    df.loc[:14, "lwt"] = np.nan
    df.loc[15:18, "low"] = np.nan
    df.loc[19:21, "lwt"] = np.nan
    path.write_text(df.to_csv(index=False), encoding="utf-8-sig")


def test_stats_on_cohort_csv_says_which_rows_were_left_out_and_why(tmp_path, capsys):
    """``stats`` on cohort.csv said "n = 185" and the model's n (167), never that the 22 other rows were the batch's
    failed and skipped studies, rows without the outcome or without the predictor. The screen, stats.json and
    tables.md now say so, each row counted once."""
    data = tmp_path / "cohort.csv"
    _birthwt_as_cohort_csv(data)
    out = tmp_path / "o"
    code = main(["stats", str(data), "--outcome", "low", "--predictors", "lwt:lower,age", "--bootstrap", "0",
                 "--no-figures", "--out", str(out)])
    screen = capsys.readouterr()
    assert code == 0, screen.err
    said = ("189 rows: 167 in the model; left out 22: 10 with status failed, 5 with status skipped, "
            "4 without the outcome, 3 without lwt")
    assert said in screen.out.splitlines(), screen.out
    stats = json.loads((out / "stats.json").read_text())
    assert stats["logistic"]["multivariable_fit"]["n"] == stats["rows"]["in_model"] == 167
    assert stats["rows"]["left_out"] == {"with status failed": 10, "with status skipped": 5,
                                         "without the outcome": 4, "without lwt": 3}
    assert said in (out / "tables.md").read_text()


def test_a_clinical_status_column_is_not_read_as_the_batch_s(tmp_path):
    """A spreadsheet's own ``status`` (vital status) says nothing about why a row is left out: the rows are then
    counted by the outcome and the model's columns only."""
    from spinebq.stats.analysis import run_analysis

    df = pd.read_csv(DATA_DIR / "birthwt.csv")
    df["status"] = np.where(np.arange(len(df)) % 2, "alive", "dead")
    df.loc[:5, "lwt"] = np.nan
    result = run_analysis(df, "low", {"lwt": "lower"}, bootstrap=0, source="birthwt.csv")
    assert result.rows.left_out == (("without lwt", 6),)
    assert result.rows.n_used == result.multivariable.n == len(df) - 6


def test_rows_are_named_as_the_file_shows_them_with_blank_lines(tmp_path):
    """A CSV with blank lines (a hand-edited export): pandas skips them, so "a text value in row 38" pointed three
    lines above the cell. The row is now the line a text editor or Excel shows."""
    lines = (DATA_DIR / "birthwt.csv").read_text().splitlines()
    cells = lines[40].split(",")
    cells[2] = "18 2"  # lwt, typed with a space
    lines[40] = ",".join(cells)
    text = "\n".join(lines[:5] + ["", ""] + lines[5:20] + [""] + lines[20:]) + "\n"
    path = tmp_path / "births.csv"
    path.write_text(text)
    wanted = text.splitlines().index(lines[40]) + 1
    assert wanted == 44
    df = read_table(path)
    with pytest.raises(SpinebqError, match=rf"has a text value '18 2' in row {wanted} "):
        validate_cohort(df, "low", ["lwt"], source=path.name)
