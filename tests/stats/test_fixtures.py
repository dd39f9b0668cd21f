"""The simulated data must be the data the R reference values were computed on."""
import numpy as np

from tests.stats import cohorts


def test_cohort_fingerprint(c001):
    for col, expected in cohorts.FINGERPRINT["c001"].items():
        assert np.isclose(c001[col].sum(), expected, rtol=0, atol=1e-6), (
            f"simulated column {col} changed; regenerate tests/stats/r_reference.py (see cohorts.py)")
    assert len(c001) == 313 and int(c001["loosening"].sum()) == 45
    assert c001[["bmi_kg_m2", "st_hu", "pbq"]].isna().sum().tolist() == [12, 9, 6]
