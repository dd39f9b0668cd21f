"""A realistic PACS-export tree for discovery and batch tests, with what the series choice must find.

:func:`build_dicom_tree` writes nine patients (about 700 small files, a few seconds):

=====  =========================================================================================================
label  content
=====  =========================================================================================================
real   the real 20-slice CT of ../shared/data/totalsegmentator_example/ct_dicom (identifiers and UIDs rewritten),
       nested four folders deep, beside a radiation dose SR and a secondary-capture "Patient Protocol" page
kern   phantom CT, one study: topogram, 1 mm bone kernel, 3 mm soft (chosen), 3 mm bone, 5 mm soft
cont   phantom CT, one study: 3 mm unenhanced (chosen) and 3 mm venous phase (ContrastBolusAgent set)
ctmr   two studies: a 5 mm phantom CT (chosen although thick: nothing thinner exists); an MR study with a
       3-plane localizer, sagittal T1 (chosen as ``mri``), sagittal T2, axial T1 (chosen as ``axial``)
loc    a CT study holding only a topogram (problem: only a localizer)
bad    a study whose files have truncated pixel data, plus garbage bytes in files named ``*.dcm``
       (problem: no readable image series)
cyl    a water-cylinder CT without a spine (chosen: discovery cannot know; the pipeline will fail later)
nopid  no PatientID (one patient per study): a cylinder CT (chosen) and a derived coronal reformat
mr2    an MR study with only a sagittal T2 and a 3-slice sagittal T1 (problem: no usable series)
=====  =========================================================================================================

plus ``README.txt`` and a ``DICOMDIR`` at the top. Every series carries PatientName, PatientID (except
``nopid``), AccessionNumber and StudyDate, so tests can check that no identifier leaks into keys.
UIDs are derived from fixed strings, so two builds give the same UIDs.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from spinebq.batch.discover import study_key, patient_key
from tests.dicom_writer import cylinder_ct

#: Real 20-slice DICOM CT (shared data).
REAL_CT_DICOM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "totalsegmentator_example" / "ct_dicom"
#: X-Ray Radiation Dose SR Storage.
DOSE_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.67"
#: Media Storage Directory Storage (DICOMDIR).
DICOMDIR_STORAGE = "1.2.840.10008.1.3.10"
#: Phantom grid: 2 mm in-plane, 1 mm slices, 200 mm head-foot (T12 top to S1 top; L1-L4 whole).
PHANTOM_SPACING_MM = (2.0, 2.0, 1.0)
PHANTOM_FOV_MM = (240.0, 200.0, 200.0)
#: Sagittal MR grid (the automatic MRI mode does not find the phantom's discs on 3 mm slices).
MR_SPACING_MM = (2.0, 1.0, 1.0)
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def uid(*parts: object) -> str:
    """A UID derived from ``parts`` (the same every build)."""
    return generate_uid(entropy_srcs=["spinebq-test-tree", *map(str, parts)])


def _patient(label: str, *, pid: str | None = None) -> dict:
    """Identifiers of one test patient (all fake, all distinctive so leaks are easy to find)."""
    return {
        "PatientName": f"Testpatient^{label.capitalize()}",
        "PatientID": f"PID-{label.upper()}-4711" if pid is None else pid,
        "PatientBirthDate": "19480101",
    }


def _study(label: str, patient: dict, n: int = 1) -> dict:
    return {
        **patient,
        "StudyInstanceUID": uid(label, "study", n),
        "AccessionNumber": f"ACC{label.upper()}{n:03d}",
        "StudyDate": f"2023010{n}",
    }


def _dataset(sop_class: str, instance_uid: str, attributes: dict) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, instance_uid
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def write_slices(
    folder: Path,
    slices: list[np.ndarray],
    positions_mm: list[np.ndarray],
    *,
    study: dict,
    series_uid: str,
    orientation: tuple[float, ...] = AXIAL,
    pixel_mm: tuple[float, float] = (1.0, 1.0),
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    rescale: bool = True,
    prefix: str = "IM",
    **attributes: object,
) -> str:
    """Write 2D ``slices`` (rows, columns) as one single-frame series; return its SeriesInstanceUID.

    Parameters
    ----------
    positions_mm : list of array
        ImagePositionPatient of each slice (LPS, mm).
    pixel_mm : tuple of float
        PixelSpacing (row spacing, column spacing), mm.
    rescale : bool
        Store ``value + 1024`` with RescaleIntercept -1024 (CT); otherwise raw unsigned values (MR).
    attributes
        Further DICOM keywords (SeriesDescription, ConvolutionKernel, SliceThickness, ImageType ...).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for k, (pixels, position) in enumerate(zip(slices, positions_mm)):
        ds = _dataset(sop_class, uid(series_uid, k), {
            **study, "SeriesInstanceUID": series_uid, "Modality": modality, "InstanceNumber": k + 1,
            "Manufacturer": "TestVendor", "ManufacturerModelName": "TestModel",
            "ImagePositionPatient": [float(v) for v in position], "ImageOrientationPatient": list(orientation),
            "PixelSpacing": list(pixel_mm), "Rows": pixels.shape[0], "Columns": pixels.shape[1],
            "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2",
            "BitsAllocated": 16, "BitsStored": 16, "HighBit": 15, "PixelRepresentation": 0,
            **attributes,
        })
        if modality == "CT":
            ds.KVP = 120
        if rescale:
            ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
            stored = np.clip(np.round(pixels) + 1024, 0, 65535)
        else:
            stored = np.clip(np.round(pixels), 0, 65535)
        ds.PixelData = stored.astype(np.uint16).tobytes()
        ds.save_as(folder / f"{prefix}{k:04d}.dcm", enforce_file_format=True)
    return series_uid


def write_axial_volume(folder: Path, array: np.ndarray, affine: np.ndarray, *, slab: int = 1, **kwargs) -> str:
    """Write a canonical (L, P, S) volume as axial slices; ``slab`` > 1 averages that many slices (a thick recon)."""
    n = array.shape[2] // slab
    slices, positions = [], []
    for k in range(n):
        block = array[:, :, k * slab:(k + 1) * slab].mean(axis=2)
        slices.append(block.T)  # rows run posterior (y), columns left (x)
        positions.append(affine[:3, :3] @ np.array([0.0, 0.0, k * slab + (slab - 1) / 2]) + affine[:3, 3])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    return write_slices(folder, slices, positions, pixel_mm=(float(spacing[1]), float(spacing[0])), **kwargs)


def _topogram(folder: Path, study: dict, series_uid: str, *, planes: int = 1, number: int = 1) -> str:
    """A CT localizer: one (or two) projection images, ImageType LOCALIZER."""
    image = np.full((64, 48), -200.0)
    orientations = [CORONAL, SAGITTAL][:planes]
    for k, orientation in enumerate(orientations):
        write_slices(folder, [image], [np.array([-120.0, 0.0, 150.0])], study=study, series_uid=series_uid,
                     orientation=orientation, pixel_mm=(4.0, 4.0), prefix=f"TOPO{k}_",
                     SeriesDescription="Topogram 0.6 T20f", SeriesNumber=number, InstanceNumber=k + 1,
                     ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER", "CT_SOM5 TOP"], SliceThickness=0.6)
    return series_uid


def _dose_report(folder: Path, study: dict, label: str) -> str:
    """A radiation dose structured report: no pixels, modality SR."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = uid(label, "dose")
    ds = _dataset(DOSE_SR_STORAGE, uid(label, "dose", 0), {
        **study, "SeriesInstanceUID": series_uid, "Modality": "SR", "SeriesNumber": 99,
        "SeriesDescription": "Dose Report", "InstanceNumber": 1,
    })
    ds.save_as(folder / "SR000001.dcm", enforce_file_format=True)
    return series_uid


def _secondary_capture(folder: Path, study: dict, label: str) -> str:
    """A Siemens-style "Patient Protocol" page: a secondary capture image with modality CT."""
    series_uid = uid(label, "protocol")
    write_slices(folder, [np.zeros((32, 32))], [np.zeros(3)], study=study, series_uid=series_uid,
                 sop_class=SecondaryCaptureImageStorage, prefix="SC", SeriesDescription="Patient Protocol",
                 SeriesNumber=501, ImageType=["DERIVED", "SECONDARY", "OTHER", "CT_SOM5 PROT"])
    return series_uid


def _copy_real_ct(src: Path, folder: Path, study: dict, series_uid: str) -> str:
    """Copy the real series with new identifiers and UIDs (pixel data stays JPEG 2000 encoded)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, path in enumerate(sorted(src.iterdir())):
        ds = pydicom.dcmread(path)
        instance = uid(series_uid, k)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, instance
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = CTImageStorage, instance
        for keyword, value in study.items():
            setattr(ds, keyword, value)
        ds.SeriesInstanceUID, ds.SeriesNumber = series_uid, 2
        ds.save_as(folder / f"IM{k:04d}", enforce_file_format=True)  # no extension, as many PACS exports
    return series_uid


def _write_dicomdir(path: Path) -> None:
    """A DICOMDIR-like file: a Media Storage Directory object without a study (discovery must skip it)."""
    ds = _dataset(DICOMDIR_STORAGE, uid("dicomdir"), {"FileSetID": "SPINEBQTEST"})
    del ds.SOPClassUID, ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)


def build_dicom_tree(root: Path) -> dict:
    """Write the test tree under ``root``; return what discovery must find.

    Returns
    -------
    dict
        ``patient label -> {"patient_key", "phi": identifier strings that must never appear in a key or a path
        chosen by discovery, "studies": {study key -> {"study_uid", "ct", "mri", "axial" (SeriesInstanceUIDs or
        None), "problem" (a substring of the expected problem, or None), "passed_over" {SeriesInstanceUID ->
        substring of the reason}, "choice" (substrings the choice sentences must hold), "ct_is_phantom"}}}``.
    """
    from spinebq.synthetic.ct import make_ct_phantom
    from spinebq.synthetic.mri import axial_series, make_mri_phantom, write_dicom_series

    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict] = {}

    def add(label: str, patient: dict, study: dict, *, ct=None, mri=None, axial=None, problem=None,
            passed_over=None, choice=(), ct_is_phantom=False, pkey_source=None) -> None:
        entry = expected.setdefault(label, {
            "patient_key": patient_key(pkey_source or patient["PatientID"] or study["StudyInstanceUID"]),
            "phi": sorted({v for v in (patient["PatientName"], patient["PatientID"]) if v}),
            "studies": {},
        })
        entry["phi"] = sorted(set(entry["phi"]) | {study["AccessionNumber"], study["StudyInstanceUID"]})
        entry["studies"][study_key(study["StudyInstanceUID"])] = {
            "study_uid": study["StudyInstanceUID"], "ct": ct, "mri": mri, "axial": axial, "problem": problem,
            "passed_over": dict(passed_over or {}), "choice": tuple(choice), "ct_is_phantom": ct_is_phantom,
        }

    (root / "README.txt").write_text("Export from PACS. Burn to CD.\n")
    _write_dicomdir(root / "DICOMDIR")

    # real: the real CT, four folders deep, beside a dose report and a protocol page
    if REAL_CT_DICOM.exists():
        patient = _patient("real")
        study = _study("real", patient)
        base = root / "PAT_REAL" / "20230101" / "CT_ABDOMEN"
        ct = _copy_real_ct(REAL_CT_DICOM, base / "S0002" / "IMAGES", study, uid("real", "ct"))
        dose = _dose_report(base / "S0099", study, "real")
        protocol = _secondary_capture(base / "S0501", study, "real")
        add("real", patient, study, ct=ct, choice=("contrast-enhanced",),
            passed_over={dose: "dose report", protocol: "secondary capture"})

    phantom = make_ct_phantom(spacing_mm=PHANTOM_SPACING_MM, fov_mm=PHANTOM_FOV_MM, noise_hu=8.0)
    hu, affine = phantom.ct.array, phantom.ct.affine

    # kern: slice thickness and kernel
    patient = _patient("kern")
    study = _study("kern", patient)
    base = root / "PAT_KERN" / "STUDY1"
    series = {}
    topo = _topogram(base / "SER1", study, uid("kern", "topo"))
    for number, (name, slab, kernel) in enumerate(
        [("thin_bone", 1, "Br64"), ("soft3", 3, "Br40"), ("bone3", 3, "Br64"), ("soft5", 5, "Br40")], start=2
    ):
        series[name] = write_axial_volume(
            base / f"SER{number}", hu, affine, slab=slab, study=study, series_uid=uid("kern", name),
            SeriesDescription=f"Abdomen {slab}.0 {kernel}", SeriesNumber=number, ConvolutionKernel=kernel,
            SliceThickness=float(slab), ImageType=["ORIGINAL", "PRIMARY", "AXIAL"],
        )
    add("kern", patient, study, ct=series["soft3"], ct_is_phantom=True, choice=("best of 4",), passed_over={
        topo: "localizer", series["thin_bone"]: "bone kernel Br64", series["bone3"]: "bone kernel Br64",
        series["soft5"]: "thicker than 3 mm",
    })

    # cont: unenhanced and venous phase
    patient = _patient("cont")
    study = _study("cont", patient)
    base = root / "PAT_CONT" / "STUDY1"
    native = write_axial_volume(base / "native", hu, affine, slab=3, study=study, series_uid=uid("cont", "native"),
                                SeriesDescription="Abdomen nativ 3.0 B30f", SeriesNumber=2, ConvolutionKernel="B30f",
                                SliceThickness=3.0)
    venous = write_axial_volume(base / "venous", hu + 30.0 * (hu > 0), affine, slab=3, study=study,
                                series_uid=uid("cont", "venous"), SeriesDescription="Abdomen venous 3.0 B30f",
                                SeriesNumber=3, ConvolutionKernel="B30f", SliceThickness=3.0,
                                ContrastBolusAgent="Iomeprol 350")
    add("cont", patient, study, ct=native, ct_is_phantom=True, passed_over={venous: "contrast-enhanced"})

    # ctmr: a thick CT study and an MR study of the same patient
    patient = _patient("ctmr")
    study = _study("ctmr", patient, 1)
    thick = write_axial_volume(root / "PAT_CTMR" / "CT" / "s5", hu, affine, slab=5, study=study,
                               series_uid=uid("ctmr", "ct5"), SeriesDescription="Abdomen 5.0 I30f", SeriesNumber=2,
                               ConvolutionKernel="I30f\\3", SliceThickness=5.0)
    add("ctmr", patient, study, ct=thick, ct_is_phantom=True, choice=("no thinner reconstruction exists",))
    study = _study("ctmr", patient, 2)
    mr_base = root / "PAT_CTMR" / "MR"
    t1, _, _ = make_mri_phantom(spacing_mm=MR_SPACING_MM)
    t2, _, _ = make_mri_phantom(weighting="T2", spacing_mm=MR_SPACING_MM, seed=1)
    mr_common = {k: v for k, v in study.items()}
    write_dicom_series(t1, mr_base / "t1_sag", series_description="t1_tse_sag", SeriesNumber=3, **mr_common)
    write_dicom_series(t2, mr_base / "t2_sag", series_description="t2_tse_sag", tr_ms=3500.0, te_ms=98.0,
                       SeriesNumber=4, **mr_common)
    sag_t1 = pydicom.dcmread(next((mr_base / "t1_sag").iterdir()), stop_before_pixels=True).SeriesInstanceUID
    sag_t2 = pydicom.dcmread(next((mr_base / "t2_sag").iterdir()), stop_before_pixels=True).SeriesInstanceUID
    ax = axial_series(t1, pixel_mm=1.5, slice_mm=4.0, z_range_mm=(-60.0, 60.0))
    ax_t1 = write_axial_volume(mr_base / "t1_tra", ax.array, ax.affine, study=study, series_uid=uid("ctmr", "ax"),
                               modality="MR", sop_class=MRImageStorage, rescale=False,
                               SeriesDescription="t1_tse_tra", SeriesNumber=5, EchoTime=12.0, RepetitionTime=600.0,
                               SliceThickness=4.0)
    loc = uid("ctmr", "mrloc")
    for k, orientation in enumerate((AXIAL, SAGITTAL, CORONAL)):
        write_slices(mr_base / "loc", [np.full((32, 32), 100.0)], [np.zeros(3)], study=study, series_uid=loc,
                     orientation=orientation, modality="MR", sop_class=MRImageStorage, rescale=False,
                     prefix=f"LOC{k}_", SeriesDescription="localizer", SeriesNumber=1, InstanceNumber=k + 1)
    add("ctmr", patient, study, mri=sag_t1, axial=ax_t1, passed_over={sag_t2: "T2", loc: "localizer"})

    # loc: only a topogram
    patient = _patient("loc")
    study = _study("loc", patient)
    topo = _topogram(root / "PAT_LOC" / "CT" / "1", study, uid("loc", "topo"), planes=2)
    add("loc", patient, study, problem="only a localizer", passed_over={topo: "localizer"})

    # bad: truncated pixel data and garbage with .dcm names
    patient = _patient("bad")
    study = _study("bad", patient)
    folder = root / "PAT_BAD" / "CT"
    broken = write_slices(folder, [cylinder_ct(32, 32, 1)[:, :, 0].astype(float)] * 12,
                          [np.array([0.0, 0.0, 2.0 * k]) for k in range(12)], study=study,
                          series_uid=uid("bad", "ct"), SeriesDescription="Abdomen 2.0", SeriesNumber=2,
                          SliceThickness=2.0, ConvolutionKernel="B30f")
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 900])
    rng = np.random.default_rng(7)
    for k in range(3):
        (folder / f"GARBAGE{k}.dcm").write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    add("bad", patient, study, problem="no readable image series", passed_over={broken: "truncated"})

    # cyl: a CT without a spine
    patient = _patient("cyl")
    study = _study("cyl", patient)
    cylinder = cylinder_ct(64, 64, 40).astype(float)
    cyl = write_axial_volume(root / "PAT_CYL" / "1" / "2" / "3", cylinder, np.diag([1.5, 1.5, 2.5, 1.0]), study=study,
                             series_uid=uid("cyl", "ct"), SeriesDescription="Water phantom 2.5", SeriesNumber=1,
                             ConvolutionKernel="STANDARD", SliceThickness=2.5)
    add("cyl", patient, study, ct=cyl)

    # nopid: no PatientID; an axial CT and a derived coronal reformat
    patient = _patient("nopid", pid="")
    study = _study("nopid", patient)
    base = root / "UNKNOWN" / "study"
    axial_uid = write_axial_volume(base / "ax", cylinder, np.diag([1.5, 1.5, 2.5, 1.0]), study=study,
                                   series_uid=uid("nopid", "ax"), SeriesDescription="Body 2.5", SeriesNumber=2,
                                   ConvolutionKernel="FC08", SliceThickness=2.5)
    coronal = [cylinder[:, j, ::-1].T for j in range(0, 64, 4)]
    coronal_uid = write_slices(base / "cor", coronal, [np.array([0.0, 1.5 * j, 97.5]) for j in range(0, 64, 4)],
                               study=study, series_uid=uid("nopid", "cor"), orientation=CORONAL, pixel_mm=(2.5, 1.5),
                               SeriesDescription="Body cor MPR", SeriesNumber=3, ConvolutionKernel="FC08",
                               ImageType=["DERIVED", "SECONDARY", "MPR"])
    cor_uid2 = write_slices(base / "cor_orig", coronal, [np.array([0.0, 1.5 * j, 97.5]) for j in range(0, 64, 4)],
                            study=study, series_uid=uid("nopid", "cor2"), orientation=CORONAL, pixel_mm=(2.5, 1.5),
                            SeriesDescription="Body cor 3.0", SeriesNumber=4, ConvolutionKernel="FC08",
                            ImageType=["DERIVED", "PRIMARY", "MPR"])
    add("nopid", patient, study, ct=axial_uid, passed_over={coronal_uid: "ImageType", cor_uid2: "coronal series"})

    # mr2: an MR study with nothing usable
    patient = _patient("mr2")
    study = _study("mr2", patient)
    write_dicom_series(t2, root / "PAT_MR2" / "t2", series_description="T2 FRFSE SAG", tr_ms=4000.0, te_ms=110.0,
                       SeriesNumber=2, **study)
    short = make_mri_phantom(spacing_mm=(30.0, 2.0, 2.0))[0]
    write_dicom_series(short, root / "PAT_MR2" / "t1", series_description="SAG T1 FSE", SeriesNumber=3, **study)
    t2_uid = pydicom.dcmread(next((root / "PAT_MR2" / "t2").iterdir()), stop_before_pixels=True).SeriesInstanceUID
    t1_uid = pydicom.dcmread(next((root / "PAT_MR2" / "t1").iterdir()), stop_before_pixels=True).SeriesInstanceUID
    add("mr2", patient, study, problem="no usable CT or sagittal T1 MR",
        passed_over={t2_uid: "T2", t1_uid: "only 3 images"})
    return expected


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy a built tree (tests that modify it work on a copy)."""
    shutil.copytree(src, dst)
    return dst
