"""The vertebra label map: a :class:`~spinebq.image.volume.Volume` of VerSe ids that says what it holds.

Loaders (:func:`spinebq.io.labels.load_labels`, :func:`spinebq.io.mr_labels.load_mr_labels`) and segmenters
(:mod:`spinebq.segment`, :func:`spinebq.pipeline.builtin_labels`) return a :class:`LabelMap`; measurers read its
typed attributes (``labels.content is LabelContent.BODY``), never strings of ``metadata``.

The same facts are also kept in ``metadata`` under the keys written before the type existed (``source``,
``label_scheme``, ``label_scheme_note``, ``content``), so code and documents that read them see the same values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinebq.constants import MAX_LABEL_IDS
from spinebq.image.volume import Volume
from spinebq.vocabulary import CodedValue, LabelContent, LabelScheme, MrLabelScheme

#: An array is a label map, not an image, when it holds at most MAX_LABEL_IDS distinct values, all whole numbers,
#: at least LABEL_MAP_MIN_ZEROS of its voxels are 0 and (beyond 0 and one other value: a mask, however thin) at least
#: LABEL_MAP_MIN_CONSTANT of its non-zero voxels equal the next voxel along each axis (regions of one value). On the
#: shared data: label and mask files 86-99.8 % zeros and 0.83-0.97 constant; CT and MR images 0.5-30 % zeros and
#: 0.02-0.47 constant (an 8-bit MR holds 230-250 whole values; the phantom's noise-free MR no exact zeros).
#: spinebq's choice [M].
LABEL_MAP_MIN_ZEROS = 0.5
LABEL_MAP_MIN_CONSTANT = 0.7


def label_map_reason(array: np.ndarray) -> str | None:
    """Why ``array`` is a label map rather than an image (a few words), or None when it is not one.

    Examples
    --------
    >>> labels = np.zeros((20, 20, 20), dtype=np.uint8)
    >>> labels[5:15, 5:15, 2:8], labels[5:15, 5:15, 10:16] = 20, 21
    >>> label_map_reason(labels)
    '3 distinct whole values in regions of one value, 85 % of it 0'
    >>> label_map_reason(np.random.default_rng(0).normal(size=(20, 20, 20))) is None
    True
    """
    sample = array[::7] if array.size > 10_000_000 else array
    zeros = float(np.mean(sample == 0))
    if zeros < LABEL_MAP_MIN_ZEROS:
        return None
    values = np.unique(sample)
    if len(values) > MAX_LABEL_IDS or not np.allclose(values, np.round(values)):
        return None
    non_zero = sample != 0
    for axis in range(sample.ndim if len(values) > 2 else 0):  # 0 and one value: a mask, however thin
        ahead, behind = [slice(None)] * sample.ndim, [slice(None)] * sample.ndim
        ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
        counted = non_zero[tuple(ahead)]
        same = sample[tuple(ahead)] == sample[tuple(behind)]
        if counted.any() and float(np.mean(same[counted])) < LABEL_MAP_MIN_CONSTANT:
            return None
    return f"{len(values)} distinct whole values in regions of one value, {100 * zeros:.0f} % of it 0"


#: A label scheme: a CT or MR scheme of :mod:`spinebq.vocabulary`, or a free description of another convention.
Scheme = LabelScheme | MrLabelScheme | str


@dataclass(repr=False, eq=False)
class LabelMap(Volume):
    """Vertebra labels (VerSe ids, 0 background) on an image's grid, with what they cover and where they come from.

    Parameters
    ----------
    array, affine, metadata
        As :class:`~spinebq.image.volume.Volume`; ``array`` holds integer VerSe ids.
    content : LabelContent, str or None
        ``whole`` vertebrae (cut to their bodies before the CT body is measured) or ``body`` only; None when the
        source does not say (a VerSe map made elsewhere may hold either; the CT measurement then treats the
        labels as whole vertebrae and cuts them, as a body is left whole by the cut).
    scheme : LabelScheme, MrLabelScheme, str or None
        The id convention the labels were translated from (they are VerSe ids now); a string that names a
        member of either enum becomes that member. None when nobody said (a hand-made map).
    source : str or None
        Where the labels come from (a file, ``"automatic"``, the built-in segmentation); None when unknown.
    scheme_note : str or None
        How the scheme was decided (e.g. guessed from the file name), said in the outputs.

    Examples
    --------
    >>> labels = LabelMap(np.zeros((4, 4, 4), np.int16), np.eye(4), content="body", scheme="vertebrae_pp")
    >>> labels.content is LabelContent.BODY, labels.scheme is LabelScheme.VERTEBRAE_PP
    (True, True)
    >>> labels.metadata["content"], labels.with_array(np.ones((4, 4, 4), np.int16)).content
    ('body', <LabelContent.BODY: 'body'>)
    """

    content: LabelContent | str | None = None
    scheme: Scheme | None = LabelScheme.VERSE
    source: str | None = None
    scheme_note: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.content is not None:
            if self.content not in LabelContent.values():
                raise ValueError(f"content must be one of {', '.join(LabelContent.values())} or None, not {self.content!r}")
            self.content = LabelContent(self.content)
        self.scheme = _scheme(self.scheme)
        self.metadata = {**self.metadata, **self.provenance()}

    def provenance(self) -> dict[str, str]:
        """The label facts as the ``metadata`` entries and the documents' ``input.labels`` spell them.

        Only the facts that are known: ``source``, ``label_scheme``, ``label_scheme_note``, ``content``.
        """
        facts = {"source": self.source, "label_scheme": None if self.scheme is None else str(self.scheme),
                 "label_scheme_note": self.scheme_note, "content": None if self.content is None else str(self.content)}
        return {key: value for key, value in facts.items() if value is not None}

    @classmethod
    def of(cls, labels: Volume, *, content: LabelContent | str | None = None) -> "LabelMap":
        """``labels`` as a :class:`LabelMap` (returned as it is when it is one).

        A plain :class:`~spinebq.image.volume.Volume` of VerSe ids (made by hand, or by code written before the
        type existed) is read once here: its ``metadata`` entries ``content``, ``label_scheme``, ``source``
        and ``label_scheme_note`` give the attributes; without them content and scheme are None (not said).

        Parameters
        ----------
        labels : Volume
        content : LabelContent or str, optional
            Overrides what the metadata says (or the type says, for a LabelMap).

        Examples
        --------
        >>> plain = Volume(np.zeros((2, 2, 2), np.int16), np.eye(4), {"content": "body"})
        >>> LabelMap.of(plain).content
        <LabelContent.BODY: 'body'>
        >>> hand_made = LabelMap.of(Volume(np.zeros((2, 2, 2), np.int16), np.eye(4)))
        >>> hand_made.content is None, hand_made.scheme is None
        (True, True)
        """
        if isinstance(labels, LabelMap):
            return labels if content is None else _replace(labels, content=content)
        meta = labels.metadata
        return cls(labels.array, labels.affine, dict(meta), content=content or meta.get("content"),
                   scheme=meta.get("label_scheme"), source=meta.get("source"), scheme_note=meta.get("label_scheme_note"))

    def __repr__(self) -> str:
        spacing = ", ".join(f"{s:.3g}" for s in self.spacing_mm)
        return (f"LabelMap(shape={self.shape}, spacing_mm=({spacing}), orientation={self.orientation}, "
                f"dtype={self.array.dtype}, content={self.content}, scheme={self.scheme}, source={self.source})")


def _replace(labels: LabelMap, **changes) -> LabelMap:
    from dataclasses import replace

    return replace(labels, metadata=dict(labels.metadata), **changes)


def _scheme(value: Scheme | None) -> Scheme | None:
    """A scheme string as its enum member (CT schemes first: ``verse`` is the same string in both)."""
    if value is None or isinstance(value, CodedValue):
        return value
    for enum in (LabelScheme, MrLabelScheme):
        if value in enum.values():
            return enum(value)
    return str(value)
