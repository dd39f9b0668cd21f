"""Vertebra labels from a DICOM SEG (Segmentation Storage) file, onto a CT's grid as VerSe ids.

Each segment names its vertebra in its Segment Label (``vertebra L1`` as :mod:`spinebq.segment.ct.dicom_seg`
writes it, ``vertebrae_L1`` or ``L1`` as other tools do); segments naming no vertebra (organs, muscles) are
left out. Each frame is placed by its Image Position (Patient) and the shared orientation and pixel spacing, so
the SEG need not share the CT's slices, only its space.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.errors import SpinebqError
from spinebq.image.volume import Volume

#: SOP Class UID of Segmentation Storage.
SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
#: A vertebra's name inside a Segment Label: C1-C7, T1-T13, L1-L6, S1 (case ignored).
LEVEL_IN_LABEL = re.compile(r"(?:^|[^A-Za-z0-9])([CTLS]\d{1,2})(?:$|[^A-Za-z0-9])", re.IGNORECASE)


def is_dicom_file(path: str | Path) -> bool:
    """Whether ``path`` is a file with the DICOM preamble and ``DICM`` prefix."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(132)[128:] == b"DICM"


def segment_levels(labels: dict[int, str]) -> dict[int, str]:
    """The vertebra named by each segment's label, for the segments that name one.

    >>> segment_levels({1: "vertebra L1", 2: "vertebrae_T12", 3: "liver", 4: "S1"})
    {1: 'L1', 2: 'T12', 4: 'S1'}
    """
    levels = {}
    for number, label in labels.items():
        match = LEVEL_IN_LABEL.search(label)
        if match and match.group(1).upper() in VERSE_IDS:
            levels[number] = match.group(1).upper()
    return levels


def read_dicom_seg(path: str | Path, reference: Volume) -> np.ndarray:
    """The vertebrae of a DICOM SEG on ``reference``'s grid, as int16 VerSe ids (0 elsewhere).

    Raises
    ------
    SpinebqError
        When the file is no DICOM SEG, is damaged, or none of its segments names a vertebra (the labels found are
        listed).
    """
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:  # pydicom raises many types for damaged files
        raise SpinebqError(f"{path}: cannot be read as DICOM ({type(exc).__name__})") from None
    if str(ds.get("SOPClassUID", "")) != SEGMENTATION_SOP_CLASS:
        raise SpinebqError(f"{path}: a DICOM file but not a segmentation (DICOM SEG); give the label map as a DICOM "
                           "SEG or a NIfTI file")
    try:
        return _vertebrae(ds, path, reference)
    except SpinebqError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:  # a missing element, short pixels
        raise SpinebqError(f"{path}: the DICOM SEG is damaged or incomplete ({type(exc).__name__}: {exc})") from None


def _vertebrae(ds, path: str | Path, reference: Volume) -> np.ndarray:
    """The voxels of :func:`read_dicom_seg` from the read SEG ``ds``."""
    labels = {int(s.SegmentNumber): str(s.get("SegmentLabel", "")) for s in ds.SegmentSequence}
    levels = segment_levels(labels)
    if not levels:
        raise SpinebqError(f"{path}: no segment of this DICOM SEG names a vertebra (segment labels: "
                           f"{', '.join(sorted(set(labels.values()))[:8]) or 'none'})")
    out = np.zeros(reference.shape, np.int16)
    pixels = ds.pixel_array.reshape(-1, int(ds.Rows), int(ds.Columns))
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    dr, dc = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    inv = np.linalg.inv(reference.affine)
    for f, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        level = levels.get(int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber))
        if level is None:
            continue
        ipp = np.array(frame.PlanePositionSequence[0].ImagePositionPatient, float)
        r, c = np.nonzero(pixels[f])
        world = ipp[None, :] + c[:, None] * dc * iop[None, :3] + r[:, None] * dr * iop[None, 3:]
        ijk = np.rint(world @ inv[:3, :3].T + inv[:3, 3]).astype(int)
        ok = np.all((ijk >= 0) & (ijk < np.array(reference.shape)), axis=1)
        out[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]] = VERSE_IDS[level]
    return out
