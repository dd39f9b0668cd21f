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
('auto', 'verse', 'total', 'total_v1', 'vertebrae_pp', 'folder', 'json')
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


class LabelScheme(CodedValue):
    """Id convention of a CT vertebra label map (:func:`spinebq.io.labels.load_labels`)."""

    AUTO = "auto"
    VERSE = "verse"
    TOTAL = "total"
    TOTAL_V1 = "total_v1"
    VERTEBRAE_PP = "vertebrae_pp"
    FOLDER = "folder"
    JSON = "json"


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
    """What each label of a vertebra label map covers (:class:`spinebq.io.labelmap.LabelMap`).

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
