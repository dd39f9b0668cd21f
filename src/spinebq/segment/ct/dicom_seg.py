"""DICOM SEG output (highdicom) for a DICOM input: one segment per vertebra, on the source series.

The label map is on the canonical grid of the loaded series; it is mapped back onto the source
slices by their ImagePositionPatient, so the SEG references and overlays the original images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_NAMES
from spinebq.constants import DEFAULT_PATIENT_ID
from spinebq.errors import SpinebqError
from spinebq.image.volume import Volume
from spinebq.io.dicom import pseudonymise, reference_datasets


def write_dicom_seg(labels: Volume, source: str | Path, path: str | Path, *, series_uid: str | None = None,
                    patient_id: str = DEFAULT_PATIENT_ID, include_phi: bool = False) -> Path:
    """Write ``labels`` as a DICOM SEG referencing the slices of ``source``.

    Parameters
    ----------
    labels : Volume
        VerSe ids on the grid of the series loaded from ``source``.
    source : str or Path
        The DICOM folder (or file) the labels were made on. Blank UIDs of an anonymised series are filled as
        :func:`spinebq.io.dicom.reference_datasets` says; the SEG's Content Description (0070,0081) notes it.
    path : str or Path
        The ``.dcm`` file to write.
    series_uid : str, optional
        The source series; by default the one ``labels`` were loaded from.
    patient_id : str
        Identifier written as Patient's Name and Patient ID unless ``include_phi``
        (:func:`spinebq.io.dicom.pseudonymise`).
    include_phi : bool
        Keep the source's patient name, ID and birth date.

    Raises
    ------
    SpinebqError
        When ``source`` holds no image slice to reference, a slice has no SOP Instance UID, or nothing is labelled.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    source = Path(source)
    datasets, note = reference_datasets(source, series_uid=series_uid or labels.metadata.get("series_uid"))
    if not datasets:
        raise SpinebqError(f"{source}: no DICOM image slices to reference in the SEG")
    if not include_phi:
        pseudonymise(datasets, patient_id)
    # one frame per source slice, each sampled from the label map at that slice's pixels
    inv = np.linalg.inv(labels.affine)
    ids = [int(i) for i in np.unique(labels.array) if i > 0]
    if not ids:
        raise SpinebqError("no vertebra labelled: nothing to write as DICOM SEG")
    frames = np.zeros((len(datasets), int(datasets[0].Rows), int(datasets[0].Columns), len(ids)), dtype=bool)
    for f, ds in enumerate(datasets):
        ipp = np.array(ds.ImagePositionPatient, float)
        iop = np.array(ds.ImageOrientationPatient, float)
        dr, dc = (float(v) for v in ds.PixelSpacing)
        r, c = np.mgrid[0:int(ds.Rows), 0:int(ds.Columns)]
        world = ipp[None, None, :] + c[..., None] * dc * iop[None, None, :3] + r[..., None] * dr * iop[None, None, 3:]
        ijk = np.rint(world @ inv[:3, :3].T + inv[:3, 3]).astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape)), axis=-1)
        vals = np.zeros(inside.shape, np.int16)
        vals[inside] = labels.array[ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]]
        for j, v in enumerate(ids):
            frames[f, :, :, j] = vals == v
    descriptions = []
    for j, v in enumerate(ids):
        name = VERSE_NAMES.get(v, str(v))
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=j + 1,
            segment_label=f"vertebra {name}",
            segmented_property_category=codes.SCT.Tissue if hasattr(codes.SCT, "Tissue") else codes.cid7150.Tissue,
            segmented_property_type=codes.SCT.Vertebra if hasattr(codes.SCT, "Vertebra") else codes.SCT.Bone,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name="spinebq builtin", version="0.1", family=codes.cid7162.ArtificialIntelligence),
        ))
    seg = hd.seg.Segmentation(
        source_images=datasets, pixel_array=frames, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="spinebq",
        manufacturer_model_name="spinebq segment", software_versions="0.1", device_serial_number="none",
        series_description="spinebq vertebrae (research use only)",
        content_description=note,
    )
    path = Path(path)
    seg.save_as(str(path))
    return path
