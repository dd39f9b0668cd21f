"""Nomogram points against rms::nomogram; scoring a patient."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from spinebq.stats.logistic import expit
from spinebq.stats.nomogram import Nomogram, nomogram_from_fit
from tests.stats import cohorts
from tests.stats import r_reference as R

RANGES = {"age": (30, 90), "pbq": (2, 5), "hu_ratio": (0.6, 2), "goutallier": (1, 4)}


def test_points_equal_rms(model_fit):
    f, cc = model_fit
    nom = nomogram_from_fit(f, cc, ranges=RANGES)
    for k, (lo, hi) in RANGES.items():
        assert_allclose(nom.points(k, [lo, hi]), R.NOMOGRAM_POINTS[k], rtol=1e-6, atol=1e-6, err_msg=k)


def test_score_is_the_model_probability(model_fit):
    f, cc = model_fit
    nom = nomogram_from_fit(f, cc, ranges=RANGES)
    patient = {"age": 70, "pbq": 3.8, "hu_ratio": 1.5, "goutallier": 3}
    s = nom.score(patient)
    assert_allclose(s["probability"], f.predict({k: np.array([v]) for k, v in patient.items()})[0], rtol=1e-12)
    assert_allclose(nom.total_to_probability(s["total_points"])[0], s["probability"], rtol=1e-10)
    assert_allclose(s["total_points"], sum(s["points"].values()))
    assert_allclose(nom.probability_to_total(s["probability"]), s["total_points"], rtol=1e-9)


def test_user_coefficients_tables_and_figure(tmp_path):
    nom = Nomogram(intercept=-5.0, coefs={"hu": -0.02, "vbq": 1.2}, ranges={"hu": (50, 250), "vbq": (2, 4)})
    pts = nom.points_table()
    assert pts.groupby("predictor")["points"].max().max() == pytest.approx(100)
    assert nom.score({"hu": 300, "vbq": 3})["outside_range"] == ["hu"]
    from spinebq.stats.figures import nomogram_figure, save_figure

    for ext in ("png", "svg", "pdf"):
        p = save_figure(nomogram_figure(nom), tmp_path / f"n.{ext}")
        assert p.stat().st_size > 1000


def test_integer_grades_and_factors_have_only_real_values_as_ticks(model_fit):
    # Goutallier grades are whole numbers: no ticks at 1.5 / 2.5 / 3.5 (the issue-21 report)
    f, cc = model_fit
    nom = nomogram_from_fit(f, cc)
    assert nom.ticks("goutallier") == sorted(cc["goutallier"].unique().tolist())
    assert all(float(v).is_integer() for v in nom.ticks("age"))
    from pathlib import Path
    from spinebq.stats.data import read_table, validate_cohort
    from spinebq.stats.logistic import fit_logistic

    b = read_table(Path(__file__).parent / "data" / "birthwt.csv")
    c = validate_cohort(b, "low", ["lwt", "race", "ftv"], reference={"race": "white"})
    fit = fit_logistic(c.data, "low", c.design_terms(["lwt", "race", "ftv"]))
    nom = nomogram_from_fit(fit, c.data, factors=c.factors)
    assert nom.ticks("race") == ["white", "black", "other"]
    assert nom.ticks("ftv") == [0, 1, 2, 3, 4, 6]  # the visits that occur (none had 5)
    pts = nom.points_table()
    race = pts[pts["predictor"] == "race"].set_index("value")["points"]
    assert race["white"] == 0 or race.min() == 0
    # the score of a patient is the model's probability, categorical levels included
    s = nom.score({"lwt": 120, "race": "black", "ftv": 2})
    lp = fit.table["coef"] @ np.array([1, 120, 1, 0, 2])
    assert_allclose(s["probability"], expit(lp), rtol=1e-12)
    with pytest.raises(ValueError, match="'purple' is not a level of 'race'"):
        nom.points("race", "purple")
