"""DICOM Structured Report (TID 1500 Measurement Report, highdicom) of the per-level CT measurements.

One measurement group per vertebra (finding site: the SNOMED code of the vertebra), one numeric
measurement per quantity with its UCUM unit: the quantities :data:`spinebq.report.quantities.SR_CT_KEYS` of
the table the report's columns come from, read from a :class:`~spinebq.records.ct.CtRecord`. The concepts are
spinebq's own codes (coding scheme ``99SPINEBQ``, the meaning names the method), because no standard code names
e.g. "3D trabecular mean HU, preset 3dhu". The SR references the source CT series as its evidence. Without ``include_phi`` the patient's
name, ID and birth date are replaced by the chosen identifier (empty birth date).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from spinebq import __version__
from spinebq.constants import DEFAULT_PATIENT_ID
from spinebq.errors import SpinebqError
from spinebq.io.dicom import pseudonymise, reference_datasets
from spinebq.records.ct import CtRecord
from spinebq.report.quantities import BY_KEY, SR_CT_KEYS, level_value, unit_meaning
from spinebq.risk.assess import ct_record

SCHEME = "99SPINEBQ"
#: Tracking identifier of the summary group: the calibrated vBMD of the summary levels and its ACR category.
SUMMARY_GROUP = "summary"
#: Meaning of the ACR category concept (at most 64 characters in DICOM; the thresholds: ``ACR_REFERENCE``) and of
#: each category (the values of ``acr_category``).
ACR_CONCEPT_MEANING = "ACR QCT category of the mean trabecular vBMD [acr2018qct]"
ACR_CATEGORY_MEANINGS = {"osteoporosis": "osteoporosis", "low_bone_mass": "low bone mass", "normal": "normal"}
#: The SR's quantities (key: the JSON path in a vertebra and the concept code; method: the concept meaning).
QUANTITIES = tuple(BY_KEY[key] for key in SR_CT_KEYS)


def vertebra_code(level: str):
    """SNOMED CT code of a vertebra (S1 -> sacrum); None for names without a code (L6, T13)."""
    from pydicom.sr.codedict import codes

    if level == "S1":
        return codes.SCT.Sacrum
    return getattr(codes.SCT, f"{level}Vertebra", None)


def _refuse_another_grid(ct: CtRecord, datasets: list, source: Path) -> None:
    """Refuse a DICOM series whose grid is not the measured image's.

    A CT measured from a NIfTI carries no series UID to find its slices by; the SR would reference whatever series
    ``source`` holds. Its slices count, rows, columns and pixel spacing must then be the measured image's shape and
    spacing (in any axis order: the measured array is reoriented).
    """
    first = datasets[0]
    slices = len({tuple(round(float(v), 2) for v in ds.ImagePositionPatient) for ds in datasets})
    grid = sorted((int(first.Rows), int(first.Columns), slices))
    pixel_mm = [float(v) for v in first.get("PixelSpacing", [math.nan, math.nan])]
    measured_mm = ct.acquisition.spacing_mm
    same_pixels = all(any(abs(v - s) <= 0.01 * s for s in measured_mm) for v in pixel_mm)
    if grid != sorted(ct.acquisition.shape) or not same_pixels:
        raise SpinebqError(
            f"{source}: its series ({first.Rows} x {first.Columns} pixels of {' x '.join(f'{v:.3g}' for v in pixel_mm)} "
            f"mm, {slices} slices) is not the CT that was measured ({' x '.join(map(str, ct.acquisition.shape))} voxels "
            f"of {' x '.join(f'{v:.3g}' for v in measured_mm)} mm), and the measured NIfTI names no series to check it "
            "by: the SR would reference images that were not measured; give the DICOM series the CT was read from")


def measurement_groups(ct: CtRecord | Mapping) -> dict:
    """``{level: {json_path: value}}`` of the finite quantities the SR carries (what a reader gets back).

    ``ct`` is a :class:`CtRecord` or its ``measurements.json`` document (converted here).
    """
    ct = ct_record(ct)
    out = {}
    for vertebra in ct.vertebrae:
        values = {}
        for q in QUANTITIES:
            v = level_value(vertebra, q.key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                values[q.key] = float(v)
        if values:
            out[vertebra.level] = values
    return out


def write_measurement_sr(ct: CtRecord | Mapping, source: str | Path, path: str | Path, *,
                         patient_id: str = DEFAULT_PATIENT_ID, include_phi: bool = False) -> Path:
    """Write the CT measurements of ``ct`` as a TID 1500 SR referencing ``source``.

    Parameters
    ----------
    ct : CtRecord or dict
        The results of ``spinebq ct`` (or :func:`spinebq.pipeline.analyse_ct`) run on the DICOM series ``source``;
        a ``measurements.json`` document is converted here once.
    source : path
        The DICOM folder (or file) of the source CT series.
    path : path
        Output ``.dcm`` file.
    patient_id : str
        Identifier written as Patient's Name and Patient ID unless ``include_phi``.
    include_phi : bool
        Keep the source's patient name, ID and birth date.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    ct = ct_record(ct)
    source = Path(source)
    series_uid = ct.acquisition.get("series_uid")
    datasets, note = reference_datasets(source, series_uid=series_uid)
    if not datasets:
        if series_uid and reference_datasets(source)[0]:
            raise SpinebqError(f"{source}: holds no slice of the measured series {series_uid}, only of another "
                               "series; give the DICOM folder the CT was measured from")
        raise SpinebqError(f"{source}: no DICOM image slices to reference in the SR")
    if not series_uid:
        _refuse_another_grid(ct, datasets, source)
    if not include_phi:
        pseudonymise(datasets, patient_id)
    algorithm = hd.sr.AlgorithmIdentification(name=f"spinebq ct preset {ct.method.get('preset')}", version=__version__)
    groups = []
    for level, values in measurement_groups(ct).items():
        site = vertebra_code(level)
        measurements = []
        for q in QUANTITIES:
            if q.key not in values:
                continue
            measurements.append(hd.sr.Measurement(
                name=hd.sr.CodedConcept(q.key, SCHEME, q.method), value=values[q.key],
                unit=hd.sr.CodedConcept(q.unit, "UCUM", unit_meaning(q)), algorithm_id=algorithm))
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(identifier=f"vertebra {level}", uid=hd.UID()),
            finding_type=codes.SCT.Bone if hasattr(codes.SCT, "Bone") else None,
            finding_sites=[hd.sr.FindingSite(site)] if site is not None else None,
            algorithm_id=algorithm, measurements=measurements))
    summary = ct.summary
    if summary is not None and summary.acr_category in ACR_CATEGORY_MEANINGS:
        # the ACR category belongs to the mean vBMD of the summary levels, not to one vertebra
        vbmd = BY_KEY["vbmd_mg_cm3"]
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                identifier=f"{SUMMARY_GROUP} {', '.join(summary.levels_used)}", uid=hd.UID()),
            finding_type=codes.SCT.Bone if hasattr(codes.SCT, "Bone") else None,
            finding_sites=[hd.sr.FindingSite(codes.SCT.LumbarSpine)], algorithm_id=algorithm,
            measurements=[hd.sr.Measurement(
                name=hd.sr.CodedConcept(vbmd.key, SCHEME, vbmd.method),
                value=float(summary.vbmd_mg_cm3), unit=hd.sr.CodedConcept(vbmd.unit, "UCUM", unit_meaning(vbmd)),
                algorithm_id=algorithm)],
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                name=hd.sr.CodedConcept("acr_category", SCHEME, ACR_CONCEPT_MEANING),
                value=hd.sr.CodedConcept(summary.acr_category, SCHEME, ACR_CATEGORY_MEANINGS[summary.acr_category]))]))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="spinebq", manufacturer_name="spinebq", model_name=f"spinebq {__version__}"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion if hasattr(codes.LN, "CTUnspecifiedBodyRegion") else codes.DCM.Imaging,
        imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=datasets, content=report[0], series_instance_uid=hd.UID(), series_number=902,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="spinebq",
        series_description="spinebq vertebral measurements (research use only)")
    if note:
        sr.ContentDescription = note
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(str(path))
    return path


def read_measurement_sr(path: str | Path) -> dict:
    """Read an SR written by :func:`write_measurement_sr`: ``{level: {json_path: value}}``, and for a calibrated CT
    ``{"summary": {"levels": ..., "vbmd_mg_cm3": ..., "acr_category": ...}}``."""
    import highdicom as hd
    import pydicom

    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(str(path)))
    out: dict = {}
    for group in sr.content.get_image_measurement_groups():
        identifier = str(group.tracking_identifier)
        values = {m.name.value: float(m.value) for m in group.get_measurements()}
        values.update({e.name.value: e.value.value for e in group.get_qualitative_evaluations()})
        if identifier.startswith(SUMMARY_GROUP + " "):
            out[SUMMARY_GROUP] = {"levels": identifier[len(SUMMARY_GROUP) + 1:], **values}
        else:
            out[identifier.replace("vertebra ", "")] = values
    return out
