"""What one study of a cohort is made of: the series chosen to measure, and why.

Discovery (:mod:`spinebq.batch.discover`) returns these records; the pipeline
(:func:`spinebq.pipeline.analyse_study`) and the batch engine take them. They are frozen and
picklable, so they can be shipped to a Dask worker.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


#: Why a study of a NIfTI file found in a folder is skipped when the file holds a label map (measuring finds it out).
LABEL_MAP_FOUND = ("the NIfTI file is a label map, not an image (whole values in regions of one value, mostly 0); to "
                   "measure an image with it, name it <image>_seg.nii.gz beside its image, or give it in a manifest's "
                   "labels column")


@dataclass(frozen=True)
class SeriesInfo:
    """One image series as read from its headers (no pixels).

    Attributes
    ----------
    path : str
        A NIfTI file, or the deepest folder holding every file of the DICOM series.
    series_uid : str or None
        SeriesInstanceUID (None for NIfTI).
    modality : str or None
        ``CT``, ``MR``, ... (None when a NIfTI file does not say).
    description : str
        SeriesDescription (may be empty).
    n_images : int
        Number of image files (slices) of the series.
    slice_thickness_mm : float or None
    kernel : str or None
        ConvolutionKernel, for CT.
    orientation : str
        ``axial``, ``sagittal``, ``coronal`` or ``oblique`` from ImageOrientationPatient; ``unknown`` otherwise.
    image_type : tuple of str
        ImageType values (``LOCALIZER``, ``DERIVED`` ...).
    contrast_agent : str or None
        ContrastBolusAgent, when the header names one.
    extent_mm : float
        Length covered along the slice normal (mm).
    """

    path: str
    series_uid: str | None = None
    modality: str | None = None
    description: str = ""
    n_images: int = 0
    slice_thickness_mm: float | None = None
    kernel: str | None = None
    orientation: str = "unknown"
    image_type: tuple[str, ...] = ()
    contrast_agent: str | None = None
    extent_mm: float = 0.0


@dataclass(frozen=True)
class PassedOver:
    """A series discovery did not choose, with the reason."""

    series: SeriesInfo
    reason: str


@dataclass(frozen=True)
class StudyInputs:
    """One study to measure: its pseudonymous key and the series chosen for each role.

    Attributes
    ----------
    key : str
        Pseudonymous study key (never a PatientID or accession number); names ``DIR/studies/<key>/``.
    patient_key : str
        Pseudonymous patient key, shared by the studies of one patient (``--by patient`` joins on it).
    ct : SeriesInfo or None
        The CT series to measure.
    mri : SeriesInfo or None
        The sagittal T1 MR series to measure.
    axial : SeriesInfo or None
        An axial T1 MR series of the same exam (muscle fat).
    labels : str or None
        A vertebra label map for the CT (manifest input only).
    mri_labels : str or None
        A vertebra label map for the sagittal MRI (manifest input only; without it the MRI's bodies are found
        automatically).
    clinical : tuple of (str, str) pairs
        Clinical columns of a manifest row, in their order.
    identifiers : tuple of (str, str) pairs
        PatientID, AccessionNumber, StudyInstanceUID, StudyDate where known: used to join a clinical file and,
        only with ``--include-phi``, written to the key map. Never written to any other output.
    choice : tuple of str
        Why each role's series was chosen (one sentence each).
    passed_over : tuple of PassedOver
        Every other series of the study, with the reason it was not chosen.
    problem : str or None
        Why this study cannot be measured at all (no CT and no MR, only localizers, unreadable files ...);
        the batch records it as ``skipped`` with this reason.
    role_from_values : bool
        The image in ``ct`` is a NIfTI file found in a folder, which says nothing of what it holds: it is measured
        as the CT when its values are Hounsfield units, as the sagittal MRI otherwise, and a label map is skipped
        (:func:`spinebq.pipeline.analyse_study`).
    """

    key: str
    patient_key: str
    ct: SeriesInfo | None = None
    mri: SeriesInfo | None = None
    axial: SeriesInfo | None = None
    labels: str | None = None
    mri_labels: str | None = None
    clinical: tuple[tuple[str, str], ...] = ()
    identifiers: tuple[tuple[str, str], ...] = ()
    choice: tuple[str, ...] = ()
    passed_over: tuple[PassedOver, ...] = field(default=())
    problem: str | None = None
    role_from_values: bool = False

    def public_json(self, *, include_paths: bool = False) -> dict[str, Any]:
        """What was chosen and why, without identifiers (paths and UIDs only with ``include_paths``).

        Folder names of a PACS export often carry the patient's name, so paths stay out by default.
        """

        def series(info: SeriesInfo | None) -> dict[str, Any] | None:
            if info is None:
                return None
            public = {"modality": info.modality, "description": info.description, "images": info.n_images,
                      "slice_thickness_mm": info.slice_thickness_mm, "kernel": info.kernel,
                      "orientation": info.orientation, "contrast_agent": info.contrast_agent,
                      "extent_mm": info.extent_mm}
            if include_paths:
                public.update(path=info.path, series_uid=info.series_uid)
            return public

        return {"study": self.key, "patient": self.patient_key, "ct": series(self.ct), "mri": series(self.mri),
                "axial": series(self.axial), "choice": list(self.choice),
                "passed_over": [{"series": series(p.series), "reason": p.reason} for p in self.passed_over],
                "problem": self.problem}
