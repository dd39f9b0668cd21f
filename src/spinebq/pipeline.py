"""One function per analysis: what the commands, the batch and any server call.

:func:`analyse_ct` measures one CT, :func:`analyse_mri` one sagittal T1 MRI and :func:`analyse_study` the CT
and/or MRI of one patient with the assessment against the published models. Each takes its inputs (a
:class:`~spinebq.image.volume.Volume` or a path) and one frozen, picklable options record, and returns a typed
record (:mod:`spinebq.records`). Nothing here prints or writes; progress goes through one callback that takes a
short message. A bad option raises :class:`~spinebq.errors.OptionError` naming the option's field, which the
command line maps to its flag.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spinebq import __version__
from spinebq.anatomy import SUMMARY_LEVELS, VERSE_IDS, VERSE_NAMES
from spinebq.errors import OptionError, SpinebqError, SpinebqWarning, option
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.io.volume import load_volume
from spinebq.vocabulary import LabelContent, LabelScheme
from spinebq.measure.ct.presets import DEFAULT_PRESET
from spinebq.measure.ct.regional import TRAJECTORY_MODES
from spinebq.constants import METAL_HU
from spinebq.records.assessment import Assessment
from spinebq.records.ct import Acquisition, CtRecord, CtSummary, VertebraRecord
from spinebq.records.mri import MriRecord
from spinebq.records.regional import RegionalRecord
from spinebq.records.study import LABEL_MAP_FOUND, StudyInputs
from spinebq.constants import RESEARCH_NOTICE

#: The progress callback: called with one short message per step.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class CtOptions:
    """How :func:`analyse_ct` measures a CT (defaults: the ``spinebq ct`` defaults).

    Attributes
    ----------
    preset : str
        3D ROI definition (:mod:`spinebq.measure.ct.presets`).
    summary_levels : tuple of str
        Levels averaged in the summary.
    metal_hu : float
        Voxels above this HU are metal and never enter a bone ROI.
    series_uid : str, optional
        SeriesInstanceUID to load from a DICOM folder holding several series.
    label_scheme, label_map, bodies : str, optional
        Id convention of the labels, a JSON map for ``label_scheme="json"``, a TotalSegmentator
        ``vertebrae_body`` map giving the bodies of the labels (which still give the pedicles and screws; it needs
        labels).
    calibration : str, optional
        ``"phantom"`` (with ``phantom``) or a file of scanner equations; None keeps values in HU.
    phantom : str, optional
        Phantom inserts file for ``calibration="phantom"``.
    trajectory : str
        ``"auto"``, ``"from-screws"``, ``"none"`` or a trajectory file.
    trajectory_voxels : bool
        The trajectory file's points are voxel indices.
    postop : str, optional
        Post-operative CT holding the screws (``trajectory="from-screws"``).
    screw_diameter_mm, screw_length_mm : float, optional
        Size of planned screws (default: sized to the anatomy).
    shell_mm, bloom_mm : float
        Bone-screw interface shell; margin around real metal.
    contrast_phase, contrast_correction : str
        Contrast phase (``"auto"``: header, else the vessels) and the enhancement correction.
    include_phi : bool
        Copy patient name/ID/birth date into the record.
    threads : int, optional
        Vertebrae measured side by side (default: one per available core; the batch uses one).
    modality : str, optional
        ``"CT"``: the image is a CT whatever its header or values say (the value check is skipped).
    """

    preset: str = DEFAULT_PRESET
    summary_levels: tuple[str, ...] = SUMMARY_LEVELS
    metal_hu: float = METAL_HU
    series_uid: str | None = None
    label_scheme: str = "auto"
    label_map: str | None = None
    bodies: str | None = None
    calibration: str | None = None
    phantom: str | None = None
    trajectory: str = "auto"
    trajectory_voxels: bool = False
    postop: str | None = None
    screw_diameter_mm: float | None = None
    screw_length_mm: float | None = None
    shell_mm: float = 1.5
    bloom_mm: float = 2.0
    contrast_phase: str = "auto"
    contrast_correction: str = "none"
    include_phi: bool = False
    threads: int | None = None
    modality: str | None = None

    def __post_init__(self) -> None:
        if self.modality not in (None, "CT"):
            raise OptionError("modality", f"{self.modality!r}: only CT can be forced here")
        if self.threads is not None and not (isinstance(self.threads, int) and 1 <= self.threads <= 256):
            raise OptionError("threads", f"{self.threads}: give a number of threads from 1 to 256")
        unknown = [level for level in self.summary_levels if level not in VERSE_IDS]
        if unknown:
            raise OptionError("summary_levels", f"{', '.join(unknown)} is not a vertebra name (use e.g. L1,L2,L3,L4)")
        if not np.isfinite(self.metal_hu):
            raise OptionError("metal_hu", f"{self.metal_hu} is not a number of HU")
        if self.calibration == "phantom" and not self.phantom:
            raise OptionError("phantom", "calibration by phantom needs the file describing the inserts or rods")
        if self.postop and self.trajectory != "from-screws":
            raise OptionError("postop", "a post-operative CT is used with the trajectory mode from-screws only")
        if self.trajectory not in TRAJECTORY_MODES and not Path(self.trajectory).is_file():
            raise OptionError("trajectory", f"{self.trajectory}: not auto, from-screws or none, and no such file")
        for name in ("screw_diameter_mm", "screw_length_mm"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise OptionError(name, f"{value} mm: a screw size must be a positive number")
        for name in ("shell_mm", "bloom_mm"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise OptionError(name, f"{value} mm: must be zero or a positive number")


@dataclass(frozen=True)
class MriOptions:
    """How :func:`analyse_mri` measures a sagittal T1 MRI.

    Attributes
    ----------
    series_uid : str, optional
        SeriesInstanceUID to load from a DICOM folder holding several series.
    label_scheme : str
        Scheme of a label map (``auto`` decides from the file name and ids).
    muscle : bool
        Also estimate paraspinal muscle fat.
    """

    series_uid: str | None = None
    label_scheme: str = "auto"
    muscle: bool = True


@dataclass(frozen=True)
class StudyOptions:
    """How :func:`analyse_study` measures one patient's study."""

    ct: CtOptions = field(default_factory=CtOptions)
    mri: MriOptions = field(default_factory=MriOptions)


@dataclass
class CtImages:
    """The image-side results of :func:`analyse_ct` the pictures are drawn from (not part of the document)."""

    ct: Volume
    labels: LabelMap
    result: Any  # spinebq.measure.ct.levels.CtResult: body and ROI label arrays, ellipses, frames
    regional: Any = None  # spinebq.measure.ct.regional.RegionalImages: screws, pedicles and frames
    #: The built-in segmentation the labels came from (or spinebq segment's files beside them); None for other labels.
    segmentation: OwnSegmentation | None = None


@dataclass
class MriImages:
    """The image-side results of :func:`analyse_mri` the pictures are drawn from."""

    image: Volume
    labels: LabelMap | None
    rois: dict[str, np.ndarray]
    axial: Volume | None = None
    axial_rois: dict[str, np.ndarray] = field(default_factory=dict)
    #: First line of the pictures' titles: the series' kind, never its file or folder name (which may name the patient).
    title: str = "sagittal T1"
    axial_title: str = "axial T1"


@dataclass(frozen=True)
class StudyRecord:
    """What :func:`analyse_study` found for one study: its inputs, the CT and MRI records and the assessment.

    Attributes
    ----------
    inputs : StudyInputs
    ct : CtRecord or None
        None when the study has no CT, or it failed (reason in ``ct_reason``).
    mri : MriRecord or None
    assessment : Assessment or None
        The result of :func:`spinebq.risk.assess.assess_patient` (``to_json()``: ``assessment.json``).
    ct_reason, mri_reason : str or None
        Why a modality present in the inputs was not measured.
    """

    inputs: StudyInputs
    ct: CtRecord | None = None
    mri: MriRecord | None = None
    assessment: Assessment | None = None
    ct_reason: str | None = None
    mri_reason: str | None = None


@dataclass(frozen=True)
class OwnSegmentation:
    """Labels made by spinebq's own segmentation, with what it knows beyond the label ids.

    Attributes
    ----------
    labels : LabelMap
        Whole vertebrae (body and posterior elements): pedicles, screws and regions B/C are found in them.
    bodies : numpy.ndarray
        The same ids kept on the segmentation's own body sub-region (label 1 of ``subregions.nii.gz``): the body
        every body measurement uses.
    confidence : dict
        Level name -> confidence of its name (0-1).
    unconfirmed : tuple of str
        Levels whose name is a guess (``level_unconfirmed``: no sacrum in view).
    levels : dict
        Level name -> what the segmentation says of it (``labels.json``'s ``levels``: confidence, QC, volumes).
    info : dict
        The segmentation's method, QC flags, landmarks and timings (empty when read back from spinebq segment's
        files).
    """

    labels: LabelMap
    bodies: np.ndarray
    confidence: dict[str, float] = field(default_factory=dict)
    unconfirmed: tuple[str, ...] = ()
    levels: dict[str, dict] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def builtin_labels(ct: Volume) -> OwnSegmentation:
    """Run the built-in segmentation for measuring ``ct`` without labels.

    ``spinebq ct CT`` and ``spinebq ct CT --labels S/vertebrae.nii.gz`` (the output of ``spinebq segment``, read
    back by :func:`segmentation_beside`) measure the same bodies, pedicles and levels.
    """
    from spinebq.segment.ct.core import segment_ct

    result = segment_ct(ct)
    labels = LabelMap(result.vertebrae.array.astype(np.int16), ct.affine.copy(), content=LabelContent.WHOLE,
                      scheme=LabelScheme.VERSE, source="spinebq segment (built-in)",
                      scheme_note="built-in segmentation: whole vertebrae in VerSe ids, bodies from its sub-region 1")
    return _own(labels, result.subregions.array, result.levels, result.info)


def _own(labels: LabelMap, subregions: np.ndarray, levels: dict, info: dict | None = None) -> OwnSegmentation:
    from spinebq.segment.ct.labelling import LEVEL_UNCONFIRMED
    from spinebq.segment.ct.subregions import BODY

    bodies = np.where(subregions == BODY, labels.array, 0).astype(np.int16)
    confidence = {name: level.get("confidence") for name, level in levels.items() if level.get("confidence") is not None}
    unconfirmed = tuple(name for name, level in levels.items() if LEVEL_UNCONFIRMED in (level.get("qc") or []))
    return OwnSegmentation(labels, bodies, confidence, unconfirmed, levels, info or {})


#: The label files ``spinebq segment`` writes (the NIfTI map, and the DICOM SEG for a DICOM series).
SEGMENT_LABEL_FILES = ("vertebrae.nii.gz", "vertebrae_seg.dcm")
#: The sub-region map ``spinebq segment`` writes beside its labels (body, pedicles, posterior elements).
SUBREGIONS_FILE = "subregions.nii.gz"


def segmentation_beside(labels_path: str | Path, ct: Volume, labels: LabelMap) -> OwnSegmentation | None:
    """What ``spinebq segment`` wrote beside ``labels_path`` (``subregions.nii.gz``, ``labels.json``), or None.

    Only a file named ``vertebrae.nii.gz`` (or ``vertebrae_seg.dcm``, its DICOM SEG) with a ``subregions.nii.gz``
    beside it counts.
    """
    import json

    from spinebq.io.labels import on_reference_grid
    from spinebq.io.nifti import load_nifti

    path = Path(labels_path)
    sub_path, json_path = path.parent / SUBREGIONS_FILE, path.parent / "labels.json"
    if path.is_dir() or path.name not in SEGMENT_LABEL_FILES or not sub_path.is_file():
        return None
    sub = np.rint(on_reference_grid(load_nifti(sub_path, dtype=None), ct, sub_path)).astype(np.int16)
    levels = {}
    if json_path.is_file():
        try:
            levels = json.loads(json_path.read_text()).get("levels") or {}
        except (ValueError, AttributeError):
            raise SpinebqError(f"{json_path}: not the labels.json that spinebq segment writes") from None
    own = _own(labels, sub, levels)
    return own if own.bodies.any() else None


def load_ct(ct: Volume | str | Path, options: CtOptions = CtOptions()) -> Volume:
    """The CT of ``ct`` (a Volume is returned as it is)."""
    if isinstance(ct, Volume):
        return ct
    if options.modality == "CT":  # the user says it is a CT: no check of header or values but the intercept
        from spinebq.io.volume import intercept_lost, lost_intercept_message

        volume = load_volume(ct, series_uid=options.series_uid)
        if intercept_lost(volume.array):
            raise SpinebqError(lost_intercept_message(ct))
        volume.metadata["modality"] = "CT"
        return volume
    return load_volume(ct, series_uid=options.series_uid, expect_modality="CT")


def analyse_ct(ct: Volume | str | Path, labels: Volume | str | Path | None = None, options: CtOptions = CtOptions(),
               *, progress: Progress | None = None) -> CtRecord:
    """Measure every vertebra of a CT: body and trabecular ROIs, three-slice HU, vBMD, screw trajectories,
    regions, heights and Genant grades, contrast phase.

    Parameters
    ----------
    ct : Volume, str or Path
        The CT (NIfTI file or DICOM folder when a path).
    labels : Volume, str or Path, optional
        Vertebra labels: a LabelMap (or Volume) of VerSe ids on the CT's grid, or a label map / folder to load with
        ``options.label_scheme``; without labels the built-in segmentation runs first.
    options : CtOptions
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    CtRecord
        With ``images`` set (the arrays the pictures are drawn from).

    Raises
    ------
    SpinebqError
        When an input cannot be used or no vertebra between T11 and S1 is labelled.
    OptionError
        When ``options.bodies`` is given without ``labels`` (it has no level names of its own).
    """
    from spinebq.calibrate.core import no_calibration
    from spinebq.io.labels import keep_bodies, load_labels, named_vertebrae_pp
    from spinebq.measure.ct.levels import BODY_MAP_METHOD, OWN_BODY_METHOD, measure_ct
    from spinebq.measure.ct.regional import RegionalOptions, measure_regional
    from spinebq.measure.ct.plans import PlanOptions

    say = progress or (lambda message: None)
    if options.bodies is not None and labels is None:
        if named_vertebrae_pp(options.bodies):
            raise OptionError("bodies", f"{Path(options.bodies).name} is TotalSegmentator's vertebrae_pp, a per-level "
                                        "body map whose ids name the levels: give it as the labels "
                                        f"({option('labels')}) instead, or with the labels whose levels it splits")
        raise OptionError("bodies", "a vertebrae_body map has bodies without level names: give it with the labels "
                                    f"whose levels it splits ({option('labels')}), or leave it out")
    ct = load_ct(ct, options)
    own = None
    if labels is None:
        say("no labels given: running the built-in segmentation first")
        own = builtin_labels(ct)
        labels = own.labels
    elif not isinstance(labels, Volume):
        path = labels
        labels = load_labels(path, ct, scheme=options.label_scheme, mapping=options.label_map)
        if options.bodies is None:
            own = segmentation_beside(path, ct, labels)
            if own is not None:
                say(f"bodies and level checks from spinebq segment's files beside {path}")
            elif Path(path).name in SEGMENT_LABEL_FILES and not (Path(path).parent / SUBREGIONS_FILE).is_file():
                say(f"no {SUBREGIONS_FILE} beside {path}: the bodies are cut from the labels as for any other label "
                    "source, so the numbers can differ from spinebq segment's own (keep its output folder together)")
    labels = LabelMap.of(labels)
    bodies, bodies_method = (None if own is None else own.bodies), OWN_BODY_METHOD
    if options.bodies is not None:  # the labels keep their pedicles for the screws; the map gives the bodies
        bodies, bodies_method = keep_bodies(labels.array, options.bodies, ct), BODY_MAP_METHOD
    name_check = None
    if own is None:
        from spinebq.measure.ct.plausibility import check_level_names

        say("checking the label names against the vertebrae counted in the image")
        name_check = check_level_names(ct, labels)
        for level, reason in name_check.implausible.items():
            say(f"{level}: labels_implausible: {reason}")
    if own is not None and own.unconfirmed:
        say(f"level names not confirmed (no sacrum in view): {', '.join(own.unconfirmed)}; they are kept out of the summary")
    calibration = _calibration(ct, options) if options.calibration else no_calibration()
    result = measure_ct(ct, labels, preset=options.preset, calibration=calibration,
                        summary_levels=options.summary_levels, metal_hu=options.metal_hu, progress=say,
                        threads=options.threads, bodies=bodies, bodies_method=bodies_method,
                        level_confidence=None if own is None else own.confidence,
                        unconfirmed_levels=() if own is None else own.unconfirmed, name_check=name_check)
    if not result.vertebrae:
        raise SpinebqError(_nothing_labelled(labels))
    postop = None
    if options.postop:
        postop = load_volume(options.postop, expect_modality="CT")
        say(f"post-operative CT {options.postop}: {postop!r}")
    regional_options = RegionalOptions(
        trajectory=options.trajectory, trajectory_voxels=options.trajectory_voxels,
        plan=PlanOptions(diameter_mm=options.screw_diameter_mm, length_mm=options.screw_length_mm),
        shell_mm=options.shell_mm, bloom_mm=options.bloom_mm, contrast_phase=options.contrast_phase,
        contrast_correction=options.contrast_correction, postop=postop)
    regional = measure_regional(ct, labels, result, regional_options, calibration=calibration,
                                metal_hu=options.metal_hu, progress=say)
    vertebrae, summary = combine_ct(result, regional)
    return CtRecord(
        acquisition=_acquisition(ct, labels, include_phi=options.include_phi),
        method={**result.method, "regional": regional.method}, calibration=calibration.to_dict(),
        vertebrae=vertebrae, summary=summary, version=__version__, notice=RESEARCH_NOTICE,
        images=CtImages(ct, labels, result, regional.images, own))


def combine_ct(result, regional: RegionalRecord | None) -> tuple[tuple[VertebraRecord, ...], CtSummary]:
    """The vertebra records and the summary of a CT from its two stages (neither is changed).

    Parameters
    ----------
    result : CtResult
        What :func:`spinebq.measure.ct.levels.measure_ct` found: per-level trabecular and three-slice HU, QC.
    regional : RegionalRecord or None
        What :func:`spinebq.measure.ct.regional.measure_regional` found on it.

    Returns
    -------
    (tuple of VertebraRecord, CtSummary)
        Each level with its :class:`~spinebq.records.regional.LevelRegional` (and its QC flags added to the
        level's), the summary with the :class:`~spinebq.records.regional.RegionalSummary`.
    """
    vertebrae = []
    for name, entry in result.vertebrae.items():
        vertebra = VertebraRecord.from_json(name, entry)
        level = regional.levels.get(name) if regional is not None else None
        if level is not None:
            vertebra = replace(vertebra, regional=level, qc=vertebra.qc + level.qc_flags)
        vertebrae.append(vertebra)
    summary = CtSummary.from_json(result.summary)
    if regional is not None:
        summary = replace(summary, regional=regional.summary)
    return tuple(vertebrae), summary


def _nothing_labelled(labels: LabelMap) -> str:
    """Why a label map gave no vertebra to measure: the names its ids were read as, and what to give instead."""
    ids = [int(i) for i in np.unique(labels.array) if i > 0]  # load_labels refuses a map without any
    read = ", ".join(f"{i} = {VERSE_NAMES.get(i, 'no vertebra')}" for i in ids[:8]) + (", ..." if len(ids) > 8 else "")
    message = (f"{labels.source or 'the labels'}: no vertebra between T11 and S1 is labelled; nothing to measure "
               f"(its ids read as {read}; {labels.scheme_note})")
    if len(ids) <= 2:
        message += (". A mask holding every vertebral body under one id (TotalSegmentator's vertebrae_body task) "
                    "names no level: give a map with one id per vertebra (TotalSegmentator's total task), or no "
                    f"{option('labels')} to let spinebq find and name the vertebrae")
    return message


def analyse_mri(mr: Volume | str | Path, *, labels: Volume | str | Path | None = None, points: str | Path | None = None,
                axial: Volume | str | Path | None = None, options: MriOptions = MriOptions(),
                progress: Progress | None = None) -> MriRecord:
    """Measure VBQ, S1-VBQ, PBQ and paraspinal muscle fat on a sagittal T1-weighted lumbar MRI.

    Parameters
    ----------
    mr : Volume, str or Path
        The sagittal T1 series (NIfTI file or DICOM folder when a path; its header is read from that path).
    labels : Volume, str or Path, optional
        Vertebra labels on (or covering) the MR; without labels or points the vertebrae are found automatically.
    points : str or Path, optional
        JSON file of reader clicks (LPS mm).
    axial : Volume, str or Path, optional
        An axial T1 series of the same exam: muscle fat is measured on it where it reaches.
    options : MriOptions
    progress : callable, optional

    Returns
    -------
    MriRecord
        With ``images`` set; the warnings raised while measuring are in ``warnings``.
    """
    from spinebq.io.mr_header import read_mr_header
    from spinebq.io.mr_labels import load_mr_labels
    from spinebq.measure.mri.measure import load_points, measure_mri

    say = progress or (lambda message: None)
    path = Path(mr) if not isinstance(mr, Volume) else Path(str(mr.metadata.get("source") or "image"))
    image = mr if isinstance(mr, Volume) else load_volume(path, series_uid=options.series_uid)
    header = None if isinstance(mr, Volume) else read_mr_header(path, image.metadata.get("series_uid"))
    if labels is not None and not isinstance(labels, Volume):
        labels = load_mr_labels(labels, image, scheme=options.label_scheme)
    elif labels is not None:
        labels = LabelMap.of(labels)
    clicked = load_points(points, image) if points is not None else None
    axial_path = None
    if axial is not None and not isinstance(axial, Volume):
        axial_path = Path(axial)
        axial = load_volume(axial_path)
    say("measuring the MRI")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpinebqWarning)
        result = measure_mri(image, labels=labels, points=clicked, header=header, path=path,
                             measure_muscle=options.muscle, axial=axial,
                             axial_header=read_mr_header(axial_path, axial.metadata.get("series_uid")) if axial_path
                             else None,
                             axial_path=axial_path or "axial")
    document = dict(result.data)
    document["warnings"] = [*image.metadata.get("warnings", ()),
                            *(str(w.message) for w in caught if issubclass(w.category, SpinebqWarning))]
    record = MriRecord.from_json(document)
    images = MriImages(image, result.labels, result.rois, axial, result.axial_rois)
    return replace(record, images=images)


def analyse_study(inputs: StudyInputs, options: StudyOptions = StudyOptions(), *,
                  clinical: dict[str, Any] | None = None, progress: Progress | None = None) -> StudyRecord:
    """Measure the CT and/or sagittal T1 MRI of one study and assess them against the published models.

    A modality that cannot be measured (unreadable series, no vertebra) is left out with its reason; the
    study fails as a whole (:class:`SpinebqError`) only when nothing at all could be measured.

    Parameters
    ----------
    inputs : StudyInputs
        The series chosen for the study (:func:`spinebq.batch.discover.discover`).
    options : StudyOptions
    clinical : dict, optional
        Clinical values for the assessment (age, sex, planned levels ...).
    progress : callable, optional
    """
    from spinebq.risk.assess import assess_patient

    if inputs.problem:
        raise SpinebqError(inputs.problem)
    ct_image, mri_labels = None, inputs.mri_labels
    if inputs.role_from_values and inputs.ct is not None:
        inputs, ct_image = _role_from_values(inputs)
        mri_labels = inputs.labels if inputs.ct is None else None  # the label map named after the image goes with it
    ct = mri = None
    ct_reason = mri_reason = None
    if inputs.ct is not None:
        ct_options = options.ct
        if inputs.ct.series_uid:
            ct_options = replace(ct_options, series_uid=inputs.ct.series_uid)
        try:
            ct = analyse_ct(inputs.ct.path if ct_image is None else ct_image, inputs.labels, ct_options,
                            progress=progress)
        except SpinebqError as exc:
            ct_reason = str(exc)
    if inputs.mri is not None:
        mri_options = replace(options.mri, series_uid=inputs.mri.series_uid) if inputs.mri.series_uid else options.mri
        try:
            mri = analyse_mri(inputs.mri.path, labels=mri_labels, axial=inputs.axial.path if inputs.axial else None,
                              options=mri_options, progress=progress)
        except SpinebqError as exc:
            mri_reason = str(exc)
    if ct is None and mri is None:
        raise SpinebqError(ct_reason or mri_reason or "the study has neither a CT nor a sagittal T1 MRI to measure")
    try:
        assessment = assess_patient(ct, mri, clinical or {}, patient_id=inputs.key)
    except ValueError as exc:  # a clinical value that cannot be read (e.g. planned levels "L9")
        raise SpinebqError(f"clinical values of the study: {exc}") from None
    return StudyRecord(inputs, ct, mri, assessment, ct_reason, mri_reason)


def _role_from_values(inputs: StudyInputs) -> tuple[StudyInputs, Volume | None]:
    """A NIfTI image found in a folder, read for what it holds: the study, and the loaded CT (None for an MRI).

    Hounsfield units (:func:`~spinebq.io.volume.ct_like_values`): the loaded CT. A label map
    (:func:`~spinebq.image.labelmap.label_map_reason`): :class:`NotAnImageError`. Anything else is measured as the
    study's sagittal MRI, whose checks then say whether it is one: the study with the image moved to ``mri``.
    """
    from spinebq.errors import NotAnImageError
    from spinebq.image.labelmap import label_map_reason
    from spinebq.io.volume import ct_like_values, intercept_lost, lost_intercept_message

    image = load_volume(inputs.ct.path)
    not_ct = ct_like_values(image.array)
    if not_ct is None:
        image.metadata["modality"] = "CT"
        return inputs, image
    if intercept_lost(image.array):
        raise SpinebqError(lost_intercept_message(Path(inputs.ct.path).name))
    if label_map_reason(image.array):
        raise NotAnImageError(LABEL_MAP_FOUND)
    choice = f"MRI: the NIfTI file's values are no Hounsfield units ({not_ct}), so it is measured as a sagittal T1 MRI."
    return replace(inputs, ct=None, mri=inputs.ct, choice=(choice,)), None


def _calibration(ct: Volume, options: CtOptions):
    from spinebq.calibrate.equations import calibration_for_scan, read_equations
    from spinebq.calibrate.phantom import calibrate_from_file

    if options.calibration == "phantom":
        return calibrate_from_file(options.phantom, ct)
    return calibration_for_scan(read_equations(options.calibration), ct.metadata, source=str(options.calibration))


def _acquisition(ct: Volume, labels: LabelMap, *, include_phi: bool) -> Acquisition:
    from spinebq.records.ct import ACQUISITION_KEYS

    meta = ct.metadata
    extra: dict[str, Any] = {}
    if include_phi and meta.get("phi"):
        extra["patient"] = meta["phi"]
    if meta.get("contrast_agent"):
        extra["contrast_note"] = ("the header names a contrast agent: trabecular HU is raised by enhancement "
                                  "(docs/methods.md section 3); published HU cutoffs assume unenhanced scans")
    return Acquisition(header={k: meta.get(k) for k in ACQUISITION_KEYS if k in meta},
                       spacing_mm=tuple(float(v) for v in ct.spacing_mm), shape=tuple(int(v) for v in ct.shape),
                       orientation_of_array=ct.orientation,
                       labels={k: labels.provenance().get(k) for k in ("source", "label_scheme", "label_scheme_note", "content")},
                       warnings=tuple(meta.get("warnings") or ()), extra=extra)
