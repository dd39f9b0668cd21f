"""Write small synthetic DICOM CT series for loader tests (tilt, gaps, compression, localizers)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_ct_series(
    folder: Path,
    hu: np.ndarray,
    *,
    spacing_mm: tuple[float, float] = (1.0, 1.0),
    z_positions_mm: list[float] | None = None,
    tilt_deg: float = 0.0,
    modality: str = "CT",
    series_uid: str | None = None,
    transfer_syntax: str | None = None,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    prefix: str = "slice",
    study_uid: str | None = None,
    patient_id: str = "PID-12345",
) -> str:
    """Write ``hu`` (rows, columns, slices) as one series; return its SeriesInstanceUID.

    With ``tilt_deg`` each slice is shifted along the column direction (y) by z * tan(tilt), as a
    tilted gantry does, while the slice orientation stays axial.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    n = hu.shape[2]
    z_positions_mm = list(z_positions_mm if z_positions_mm is not None else np.arange(n) * 2.0)
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = modality, "TestVendor", "TestModel"
        ds.KVP, ds.ConvolutionKernel, ds.SliceThickness = 120, "B30f", 2.0
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", patient_id, "19500101"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.InstanceNumber = k + 1
        ds.ImageType = list(image_type)
        z = float(z_positions_mm[k])
        ds.ImagePositionPatient = [-50.0, -50.0 + z * np.tan(np.radians(tilt_deg)), z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing_mm[0], spacing_mm[1]]
        ds.Rows, ds.Columns = hu.shape[0], hu.shape[1]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (hu[:, :, k] + 1024).astype(np.uint16).tobytes()
        if transfer_syntax is not None:
            ds.compress(transfer_syntax)
        ds.save_as(folder / f"{prefix}{k:03d}.dcm", enforce_file_format=True)
    return series_uid


def cylinder_ct(rows: int = 64, cols: int = 64, slices: int = 12) -> np.ndarray:
    """A 300 HU cylinder (axis along the slices) in a 0 HU box, air corners: a loader phantom."""
    r, c = np.mgrid[:rows, :cols]
    box = np.where((r - rows / 2) ** 2 + (c - cols / 2) ** 2 <= (rows / 2.2) ** 2, 0, -1000)
    image = np.where((r - rows / 2 - 5) ** 2 + (c - cols / 2) ** 2 <= 8**2, 300, box)
    return np.repeat(image[:, :, None], slices, axis=2).astype(np.int16)


def read_back(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)
