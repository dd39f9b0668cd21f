"""The whole study in Python: stats.json shape, warnings kept, renderers."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from spinebq.stats import DirectionWarning, run_analysis
from spinebq.stats.analysis import SCHEMA
from tests.stats import cohorts
from tests.stats import r_reference as R


@pytest.fixture(scope="module")
def study(c001):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(c001, "loosening", {"age": "higher", "pbq": "higher", "hu_ratio": "lower",
                                                "goutallier": "higher", "st_hu": "lower", "vbq": "auto"},
                            model=cohorts.MODEL, bootstrap=30, n_jobs=1, icc_pairs=[("pbq", "pbq_reader2")],
                            source="c001.csv")


def test_direction_warning_is_raised_and_recorded(c001):
    with pytest.warns(DirectionWarning):
        r = run_analysis(c001, "loosening", {"vbq": "auto", "pbq": "<"}, bootstrap=0)
    assert any("vbq" in w for w in r.warnings)


def test_to_dict_is_json_and_has_the_contract_keys(study):
    d = study.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["schema"] == SCHEMA and d["research_use_only"] is True
    assert d["n"] == 313 and d["n_events"] == 45
    np.testing.assert_allclose(d["roc"]["model"]["auc"], R.APPARENT_AUC, rtol=1e-9)
    np.testing.assert_allclose(d["logistic"]["collinearity"]["max_condition_index"], max(R.CONDITION_INDEX), rtol=1e-6)
    np.testing.assert_allclose(d["delong_tests"]["model_vs_pbq"]["auc2"], R.ROC_PBQ_AUC_CI[1], rtol=1e-9)
    assert d["correlations"]["pbq~hu_ratio"]["spearman"]["rho"] == pytest.approx(R.SPEARMAN_PBQ_HU_RATIO[0])
    assert len(text) > 1000


def test_tables_render(study):
    tabs = study.tables()
    for name in ("baseline", "roc", "logistic_univariable", "logistic_multivariable", "collinearity", "validation",
                 "decision_curve", "clinical_impact", "nomogram_points", "icc", "correlations"):
        assert name in tabs and not tabs[name].empty, name
        # every index level has a name: tables.md and the CSVs head each column (no 'level_0', no blank header)
        assert all(tabs[name].index.names) or isinstance(tabs[name].index, pd.RangeIndex), (name, tabs[name].index.names)
    assert study.calibration.to_latex().startswith(r"\begin{tabular}")
    assert "<table" in study.hosmer_lemeshow.to_html()
    assert study.multivariable.to_markdown().startswith("| term")
