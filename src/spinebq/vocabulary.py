"""Coded values shared across spinebq: sides, contrast phases, label schemes and contents, segmenters, one enum each.

Every enum is also a ``str`` whose value is the string written in JSON outputs and accepted on the
command line, so a member compares equal to its string form, hashes like it and serialises as it:

>>> Side.LEFT == "left"
True
>>> ContrastPhase("portal_venous") is ContrastPhase.PORTAL_VENOUS
True
>>> import json
>>> json.dumps({"phase": ContrastPhase.ARTERIAL})
'{"phase": "arterial"}'
>>> LabelScheme.values()
('auto', 'verse', 'total', 'total_v1', 'vertebrae_pp', 'folder', 'json', 'dicom_seg')
"""
from __future__ import annotations

from enum import Enum


class CodedValue(str, Enum):
    """Base of spinebq's enums: a member is its string value (``str(member) == member.value``)."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The string values of all members, in definition order (for CLI choices and messages).

        Returns
        -------
        tuple of str
        """
        return tuple(member.value for member in cls)


class Side(CodedValue):
    """Side of a pedicle, screw or muscle, from the patient's point of view.

    >>> Side.values()
    ('left', 'right')
    """

    LEFT = "left"
    RIGHT = "right"


class ContrastPhase(CodedValue):
    """Contrast phase of a CT (docs/methods.md section 3): the four named phases and the two undecided outcomes.

    ``contrast_unknown_phase`` means the header names a contrast agent but no phase; ``unknown`` that
    neither the header nor the vessels could tell.

    >>> ContrastPhase.named()
    ('unenhanced', 'arterial', 'portal_venous', 'delayed')
    """

    UNENHANCED = "unenhanced"
    ARTERIAL = "arterial"
    PORTAL_VENOUS = "portal_venous"
    DELAYED = "delayed"
    CONTRAST_UNKNOWN_PHASE = "contrast_unknown_phase"
    UNKNOWN = "unknown"

    @classmethod
    def named(cls) -> tuple[str, ...]:
        """The four phases a user can name (the ``contrast_phase`` option), without the undecided outcomes.

        Returns
        -------
        tuple of str
        """
        return tuple(p.value for p in cls if p not in (cls.CONTRAST_UNKNOWN_PHASE, cls.UNKNOWN))

    @classmethod
    def enhanced(cls) -> tuple[str, ...]:
        """The phases of a contrast-enhanced CT (a named enhanced phase, or contrast of unknown phase).

        >>> ContrastPhase.enhanced()
        ('arterial', 'portal_venous', 'delayed', 'contrast_unknown_phase')

        Returns
        -------
        tuple of str
        """
        return tuple(p.value for p in cls if p not in (cls.UNENHANCED, cls.UNKNOWN))


class LabelScheme(CodedValue):
    """Id convention of a CT vertebra label map (:func:`spinebq.io.labels.load_labels`)."""

    AUTO = "auto"
    VERSE = "verse"
    TOTAL = "total"
    TOTAL_V1 = "total_v1"
    VERTEBRAE_PP = "vertebrae_pp"
    FOLDER = "folder"
    JSON = "json"
    DICOM_SEG = "dicom_seg"


class MrLabelScheme(CodedValue):
    """Id convention of an MR vertebra label map (:func:`spinebq.io.mr_labels.load_mr_labels`).

    >>> MrLabelScheme.values()
    ('auto', 'verse', 'vertebrae_mr', 'totalspineseg', 'total_mr')
    """

    AUTO = "auto"
    VERSE = "verse"
    VERTEBRAE_MR = "vertebrae_mr"
    TOTALSPINESEG = "totalspineseg"
    TOTAL_MR = "total_mr"


class LabelContent(CodedValue):
    """What each label of a vertebra label map covers (:class:`spinebq.image.labelmap.LabelMap`).

    ``whole``: the whole vertebra (body and posterior elements), cut to its body before the body is measured;
    ``body``: the vertebral body only (TotalSegmentator ``vertebrae_pp``, a ``vertebrae_body`` cut, the built-in
    segmentation's bodies), measured as it is.

    >>> LabelContent.values()
    ('whole', 'body')
    >>> LabelContent("body") is LabelContent.BODY
    True
    """

    WHOLE = "whole"
    BODY = "body"


class Segmenter(CodedValue):
    """Who segments a CT without a label map (:func:`spinebq.segment.ct.core.run_segmenter`).

    >>> Segmenter.values()
    ('builtin', 'totalsegmentator')
    """

    BUILTIN = "builtin"
    TOTALSEGMENTATOR = "totalsegmentator"


class QcFlag(CodedValue):
    """QC flag codes of the CT and MRI outputs: the code is written in ``qc`` lists, :attr:`sentence` says what it means.

    The MRI output writes the codes in ``qc`` / ``flags`` and, beside them, ``qc_notes`` / ``flag_notes``: code ->
    the sentence with this case's numbers. A fracture is graded by one rule on both modalities (Genant,
    :func:`spinebq.measure.ct.heights.genant_grade`): ``fracture_genant_grade_1`` .. ``_3``.

    >>> QcFlag("cut_by_field_of_view").sentence
    'the vertebra is cut by the edge of the field of view'
    >>> QcFlag.FRACTURE_GENANT_GRADE_2 == "fracture_genant_grade_2"
    True
    """

    # both modalities
    CUT_BY_FIELD_OF_VIEW = "cut_by_field_of_view"
    ROI_TOO_SMALL = "roi_too_small"
    FRACTURE_GENANT_GRADE_1 = "fracture_genant_grade_1"
    FRACTURE_GENANT_GRADE_2 = "fracture_genant_grade_2"
    FRACTURE_GENANT_GRADE_3 = "fracture_genant_grade_3"
    # CT levels
    POSTERIOR_ELEMENTS_NOT_REMOVED = "posterior_elements_not_removed"
    MISSING_SLICES = "missing_slices"
    METAL_IN_BODY = "metal_in_body"
    DENSE_ROI = "dense_roi"
    HETEROGENEOUS_ROI = "heterogeneous_roi"
    # MRI levels
    BRIGHT_FOCUS_EXCLUDED = "bright_focus_excluded"
    ENDPLATE_SIGNAL_CHANGE = "endplate_signal_change"
    PEDICLE_LEFT_MISSING = "pedicle_left_missing"
    PEDICLE_RIGHT_MISSING = "pedicle_right_missing"
    PEDICLE_ESTIMATED_FROM_BODY_GEOMETRY = "pedicle_estimated_from_body_geometry"
    # MRI muscle
    SAGITTAL_APPROXIMATION = "sagittal_approximation"
    NO_FAT_REFERENCE = "no_fat_reference"
    FAT_REFERENCE_CLIPPED = "fat_reference_clipped"
    GOUTALLIER_NEAR_CUTOFF = "goutallier_near_cutoff"
    # MRI input
    WEIGHTING_NOT_IN_HEADER = "weighting_not_in_header"
    TR_OUTSIDE_RECOMMENDED_RANGE = "tr_outside_recommended_range"
    TE_OUTSIDE_RECOMMENDED_RANGE = "te_outside_recommended_range"
    FAT_SUPPRESSED = "fat_suppressed"
    CONTRAST_ENHANCED = "contrast_enhanced"
    FIELD_STRENGTH_UNKNOWN = "field_strength_unknown"
    FIELD_STRENGTH_OTHER = "field_strength_other"
    NOT_SAGITTAL = "not_sagittal"
    LABELS_OFF_THE_IMAGE = "labels_off_the_image"

    @property
    def sentence(self) -> str:
        """What the flag means, in one sentence without this case's numbers."""
        return QC_SENTENCES[self]


#: The sentence of every :class:`QcFlag` (the README's table of QC flags repeats them).
QC_SENTENCES = {
    QcFlag.CUT_BY_FIELD_OF_VIEW: "the vertebra is cut by the edge of the field of view",
    QcFlag.ROI_TOO_SMALL: "the ROI is too small to trust; its value is missing",
    QcFlag.FRACTURE_GENANT_GRADE_1: "mild deformity (Genant grade 1: height reduced 20-25 %), possible fracture",
    QcFlag.FRACTURE_GENANT_GRADE_2: "moderate deformity (Genant grade 2: height reduced 25-40 %), probable fracture",
    QcFlag.FRACTURE_GENANT_GRADE_3: "severe deformity (Genant grade 3: height reduced more than 40 %), fracture",
    QcFlag.POSTERIOR_ELEMENTS_NOT_REMOVED: "no spinal canal found: the whole vertebra label was measured",
    QcFlag.MISSING_SLICES: "slices are missing across the body",
    QcFlag.METAL_IN_BODY: "metal lies in the body; metal voxels are left out of the ROI",
    QcFlag.DENSE_ROI: "the ROI is unusually dense (sclerosis, cement or contrast)",
    QcFlag.HETEROGENEOUS_ROI: "the ROI is unusually heterogeneous",
    QcFlag.BRIGHT_FOCUS_EXCLUDED: "a bright focus (haemangioma-like, fat) was left out of the ROI mean",
    QcFlag.ENDPLATE_SIGNAL_CHANGE: "marrow next to the endplates differs from the centre (Modic-like); the ROI stays central",
    QcFlag.PEDICLE_LEFT_MISSING: "no left pedicle ROI",
    QcFlag.PEDICLE_RIGHT_MISSING: "no right pedicle ROI",
    QcFlag.PEDICLE_ESTIMATED_FROM_BODY_GEOMETRY: "the vertebra's outline holds the body only (body-only labels or the "
                                                 "automatic segmentation): the pedicle ROI was found on the image next "
                                                 "to the body",
    QcFlag.SAGITTAL_APPROXIMATION: "Goutallier is defined on axial images; this grade was read on parasagittal slices",
    QcFlag.NO_FAT_REFERENCE: "no fat was found in the image to compare the muscle with: fat fraction and grade are missing",
    QcFlag.FAT_REFERENCE_CLIPPED: "the fat found is clipped at the image's maximum signal, so its true signal and the fat "
                                  "threshold are unknown: fat fraction and grade are missing",
    QcFlag.GOUTALLIER_NEAR_CUTOFF: "the fat fraction lies near a Goutallier cutoff, closer than it varies between "
                                   "two ROIs of the same muscle: another ROI may give the other grade",
    QcFlag.WEIGHTING_NOT_IN_HEADER: "the weighting is not in the header: T1 assumed, checked on the image (CSF darker "
                                    "than marrow)",
    QcFlag.TR_OUTSIDE_RECOMMENDED_RANGE: "repetition time outside the 400-850 ms recommended for marrow signal (docs/methods.md section 5.1)",
    QcFlag.TE_OUTSIDE_RECOMMENDED_RANGE: "echo time outside the 8-20 ms recommended for marrow signal (docs/methods.md section 5.1)",
    QcFlag.FAT_SUPPRESSED: "VBQ is defined without fat suppression; marrow signal is not comparable",
    QcFlag.CONTRAST_ENHANCED: "VBQ is defined on non-contrast T1; gadolinium raises marrow signal",
    QcFlag.FIELD_STRENGTH_UNKNOWN: "field strength unknown: VBQ at 1.5 T reads higher than at 3.0 T in some studies "
                                   "(docs/methods.md section 5.1)",
    QcFlag.FIELD_STRENGTH_OTHER: "published VBQ cutoffs come from another field strength; 1.5 T VBQ reads higher than "
                                 "3.0 T in some studies (docs/methods.md section 5.1)",
    QcFlag.NOT_SAGITTAL: "the thickest voxel axis is not left-right; ROIs are placed on reformatted sagittal slices",
    QcFlag.LABELS_OFF_THE_IMAGE: "the vertebra labels lie off the bodies this image shows (labels of another scan?): "
                                 "VBQ, S1-VBQ and PBQ are left out",
}


class LateralProcess(CodedValue):
    """What leaves a vertebra sideways, as the built-in segmentation reads it (:mod:`spinebq.segment.ct.ribs`).

    >>> LateralProcess.values()
    ('rib', 'transverse_process', 'ambiguous', 'not_seen')
    """

    RIB = "rib"
    TRANSVERSE_PROCESS = "transverse_process"
    AMBIGUOUS = "ambiguous"
    NOT_SEEN = "not_seen"


class StudyState(CodedValue):
    """State of a study in a batch's ledger, and in the ``status`` column of ``cohort.csv``.

    >>> StudyState.values()
    ('pending', 'running', 'done', 'failed', 'skipped')
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
