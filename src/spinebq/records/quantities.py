"""The table of quantities spinebq reports: key, unit (UCUM), label, decimals and method.

One table names every number of the cohort table and its data dictionary; a per-level quantity appears once
per level as ``<level>_<key>`` (``L1_hu_3d``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantity:
    """One reported quantity.

    Attributes
    ----------
    key : str
        Column / JSON key.
    unit : str
        UCUM unit (``[hnsf'U]`` Hounsfield unit, ``mg/cm3``, ``ml``, ``1`` for a ratio, ``{grade}`` for a grade, ``""`` for text).
    label : str
        What a person reads.
    decimals : int or None
        Decimals shown to people (None for text).
    method : str
        How it is measured and where the method or cutoff comes from.
    csv_column : str, optional
        Its column in a per-vertebra CSV (``measurements.csv``) when that is not ``key`` (a dotted path).
    """

    key: str
    unit: str
    label: str
    decimals: int | None
    method: str
    csv_column: str | None = None

    @property
    def column(self) -> str:
        """The quantity's CSV column (``csv_column``, else ``key``)."""
        return self.csv_column or self.key


#: Quantities measured per vertebra on CT.
LEVEL_QUANTITIES = (
    Quantity("hu_3d", "[hnsf'U]", "3D trabecular HU", 1,
             "mean HU of the 3D trabecular ROI of the preset, metal excluded (spinebq ct; presets in the README)"),
    Quantity("hu_2d", "[hnsf'U]", "three-slice HU", 1,
             "mean of three elliptical ROIs at 80/50/20 % of body height (Schreiber et al., JBJS Am 2011)"),
    Quantity("vbmd_mg_cm3", "mg/cm3", "vBMD", 1, "hu_3d through the scan's calibration (phantom or equation); "
             "empty without calibration"),
    Quantity("genant_grade", "{grade}", "Genant grade", 0,
             "semiquantitative fracture grade 0-3 from body heights (Genant et al., J Bone Miner Res 1993)"),
    Quantity("st_hu", "[hnsf'U]", "screw-trajectory HU", 1,
             "mean HU of the left and right 2D rectangles along the virtual screws ([yang2026]; full profile)"),
    Quantity("hu_ratio", "1", "HU ratio", 3, "st_hu / b_hu ([yang2026]; full profile)"),
    Quantity("qc", "", "QC flags", None, "QC flags of the level; a flagged level is left out of the summary"),
)

#: Quantities of a whole study.
STUDY_QUANTITIES = (
    Quantity("study", "", "study key", None, "pseudonymous study key (sha256 of the StudyInstanceUID or manifest id)"),
    Quantity("patient", "", "patient key", None, "pseudonymous patient key (sha256 of the PatientID)"),
    Quantity("studies", "", "studies of the patient", None, "the patient's study keys, ';'-separated (one row per patient)"),
    Quantity("status", "", "status", None, "done, failed or skipped (the run ledger's state)"),
    Quantity("reason", "", "reason", None, "why the study failed or was skipped, or which modality was not measured"),
    Quantity("ct_series", "", "CT series", None, "SeriesDescription of the CT measured (choice rule in the README)"),
    Quantity("mri_series", "", "MR series", None, "SeriesDescription of the sagittal T1 MR measured"),
    Quantity("kvp", "kV", "tube voltage", 0, "KVP of the CT header"),
    Quantity("kernel", "", "kernel", None, "ConvolutionKernel of the CT header"),
    Quantity("slice_thickness_mm", "mm", "slice thickness", 2, "SliceThickness of the CT header"),
    Quantity("contrast_phase", "", "contrast phase", None,
             "from the header, else estimated from the aorta and IVC (spinebq heuristic, full profile) or 'not assessed'"),
    Quantity("summary_levels", "", "summary levels", None, "levels averaged (L1-L4 that passed QC)"),
    Quantity("summary_hu", "[hnsf'U]", "L1-L4 HU", 1, "mean hu_3d of the summary levels"),
    Quantity("summary_hu_2d", "[hnsf'U]", "L1-L4 three-slice HU", 1, "mean hu_2d of the summary levels"),
    Quantity("summary_vbmd_mg_cm3", "mg/cm3", "L1-L4 vBMD", 1, "calibrated scans only"),
    Quantity("acr_category", "", "ACR category", None,
             "ACR-SPR-SSR Practice Parameter for QCT: < 80 osteoporosis, 80-120 low bone mass, > 120 mg/cm3 normal"),
    Quantity("fractured_levels", "", "fractured levels", None,
             "levels with Genant grade >= 1 (none: none found; empty: not assessed, no CT)"),
    Quantity("vbq", "1", "VBQ", 2, "median L1-L4 body SI / CSF SI on sagittal T1 (Ehresman 2020; cutoff 3.3 [wu2025])"),
    Quantity("s1_vbq", "1", "S1-VBQ", 2, "S1 body SI / CSF SI (Spine J 2024;24:1443-50)"),
    Quantity("pbq", "1", "PBQ", 2, "mean L1-L4 pedicle SI / CSF SI ([yang2026])"),
)


def decimals(key: str, default: int = 1) -> int:
    """Decimals a quantity is shown with (its table entry), ``default`` for a key not in the tables.

    Every display of a number reads its decimals here, so the terminal, ``assess`` and the report round a stored
    value once, to the same digits.

    >>> decimals("hu_ratio"), decimals("vbq"), decimals("age", 0)
    (3, 2, 0)
    """
    for quantity in (*LEVEL_QUANTITIES, *STUDY_QUANTITIES):
        if quantity.key == key and quantity.decimals is not None:
            return quantity.decimals
    return default


def data_dictionary(columns: list[str], levels: tuple[str, ...], model_columns: dict[str, str]) -> list[dict[str, str]]:
    """One row per cohort column: column, unit, label, method (per-level and model columns included)."""
    by_key = {q.key: q for q in STUDY_QUANTITIES}
    per_level = {f"{level}_{q.key}": (level, q) for level in levels for q in LEVEL_QUANTITIES}
    rows = []
    for column in columns:
        if column in by_key:
            q = by_key[column]
            rows.append({"column": column, "unit": q.unit, "label": q.label, "method": q.method})
        elif column in per_level:
            level, q = per_level[column]
            rows.append({"column": column, "unit": q.unit, "label": f"{level} {q.label}", "method": q.method})
        elif column in model_columns:
            rows.append({"column": column, "unit": "", "label": column, "method": model_columns[column]})
        elif column.endswith("_goutallier"):
            rows.append({"column": column, "unit": "1", "label": f"{column[:-11].replace('_', '/')} Goutallier grade",
                         "method": "paraspinal muscle fat grade 0-4 from T1 fat fraction, worse side ([yang2026])"})
        else:
            rows.append({"column": column, "unit": "", "label": column, "method": "clinical column as given"})
    return rows
