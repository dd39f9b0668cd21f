"""MR vertebra label maps translated at the edge into VerSe ids on the MR's grid.

Schemes (``scheme=``):

``verse``          VerSe ids (20-24 L1-L5, 26 S1 ...): manual masks, SPINEPS ``vert`` instance masks
                   (SPINEPS uses VerSe ids for vertebrae; its 100+id discs and 200+id endplates are dropped).
``vertebrae_mr``   TotalSegmentator ``vertebrae_mr`` (1 sacrum, 2 L5 ... 6 L1, 7 T12 ... 25 C1).
``totalspineseg``  TotalSpineSeg (README at commit 0284d94: 18 L5 ... 22 L1, 23 T12 ..., 92 sacrum,
                   201 spinal canal, 202.. discs), i.e. the TotalSegmentator v1 vertebra ids.
``total_mr``       TotalSegmentator ``total_mr`` (18 sacrum, 19 all vertebrae in ONE label): the vertebrae are
                   split into connected components and numbered upwards from the sacrum (L5 is the first
                   above it); ``metadata["label_scheme_note"]`` says so and the level QC carries it.

Ids are checked against the class map stored with the TotalSegmentator example
(``totalseg_class_map.json``, tasks ``total_mr`` and ``vertebrae_mr``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS, VERSE_NAMES
from spinebq.errors import OptionError, SpinebqError
from spinebq.image.labelmap import LabelMap
from spinebq.io.labels import GUESSED_NOTE, on_reference_grid
from spinebq.io.nifti import load_nifti
from spinebq.image.volume import Volume
from spinebq.vocabulary import LabelContent, MrLabelScheme

VERTEBRAE_MR = {1: "S1", **{2 + i: n for i, n in enumerate(["L5", "L4", "L3", "L2", "L1"])},
                **{7 + i: f"T{12 - i}" for i in range(12)}, **{19 + i: f"C{7 - i}" for i in range(7)}}
TOTALSPINESEG = {92: "S1", **{18 + i: n for i, n in enumerate(["L5", "L4", "L3", "L2", "L1"])},
                 **{23 + i: f"T{12 - i}" for i in range(12)}, **{35 + i: f"C{7 - i}" for i in range(7)}}
TOTAL_MR_SACRUM, TOTAL_MR_VERTEBRAE = 18, 19
#: More distinct values than this in an MR label file mean an image was given as labels (an 8-bit MR has up to
#: 256; TotalSpineSeg, the largest MR scheme, uses ids up to about 100). spinebq's choice [M].
MAX_MR_LABEL_IDS = 128
#: The scheme names accepted by :func:`load_mr_labels` (the values of :class:`~spinebq.vocabulary.MrLabelScheme`).
MR_SCHEMES = MrLabelScheme.values()


def load_mr_labels(path: str | Path, reference: Volume, *, scheme: str | MrLabelScheme = MrLabelScheme.AUTO) -> LabelMap:
    """Load a vertebra label map made on (or covering) the MR image and return VerSe ids on its grid.

    Parameters
    ----------
    path : str or Path
        A NIfTI label map.
    reference : Volume
        The MR image the labels belong to.
    scheme : str or MrLabelScheme
        One of :data:`MR_SCHEMES`; ``"auto"`` decides from the file name and the ids present.

    Returns
    -------
    LabelMap
        int16 VerSe ids; ``content`` whole for the TotalSegmentator and TotalSpineSeg schemes, None (not said)
        for ``verse``; ``scheme`` (an :class:`~spinebq.vocabulary.MrLabelScheme`), ``source``
        (``path``) and ``scheme_note``, repeated in ``metadata`` as ``label_scheme`` and ``label_scheme_note``.
    """
    path = Path(path)
    if not path.exists():
        raise SpinebqError(f"{path}: no such label file")
    if scheme not in MR_SCHEMES:
        raise OptionError("scheme", f"unknown MR label scheme {str(scheme)!r}; choose one of {', '.join(MR_SCHEMES)}")
    scheme = MrLabelScheme(scheme)
    raw = on_reference_grid(load_nifti(path, dtype=None), reference, path)
    if not np.issubdtype(raw.dtype, np.integer):
        if not np.allclose(raw, np.round(raw)):
            raise SpinebqError(f"{path}: label values are not whole numbers; is this an image rather than a label map?")
        raw = np.round(raw).astype(np.int32)
    values = np.unique(raw)
    if len(values) > MAX_MR_LABEL_IDS:
        raise SpinebqError(f"{path}: {len(values)} distinct values; this is an image rather than a label map (an MR "
                           f"label map holds at most {MAX_MR_LABEL_IDS})")
    ids = set(int(i) for i in values) - {0}
    note = f"{scheme} as requested"
    if scheme is MrLabelScheme.AUTO:
        scheme, note = guess_mr_scheme(path, ids)
    if scheme is MrLabelScheme.TOTAL_MR:
        out = _split_total_mr(raw, reference.spacing_mm)
        note += "; total_mr holds all vertebrae in one label: levels numbered upwards from the sacrum by connected component"
    else:
        table = {MrLabelScheme.VERSE: VERSE_NAMES, MrLabelScheme.VERTEBRAE_MR: VERTEBRAE_MR,
                 MrLabelScheme.TOTALSPINESEG: TOTALSPINESEG}[scheme]
        out = np.zeros(raw.shape, np.int16)
        for label_id in sorted(ids):
            name = table.get(label_id)
            if name is not None:
                out[raw == label_id] = VERSE_IDS[name]
    if not out.any():
        raise SpinebqError(f"{path}: no vertebra label found with scheme {scheme}; choose another label scheme")
    # TotalSegmentator and TotalSpineSeg label whole vertebrae; a VerSe map made elsewhere may hold either
    content = None if scheme is MrLabelScheme.VERSE else LabelContent.WHOLE
    return LabelMap(out, reference.affine.copy(), content=content, scheme=scheme, source=str(path), scheme_note=note)


def guess_mr_scheme(path: Path, ids: set[int]) -> tuple[MrLabelScheme, str]:
    """Pick the label scheme from the file name, else from the ids present."""
    name = path.name.lower()
    for scheme in (MrLabelScheme.VERTEBRAE_MR, MrLabelScheme.TOTALSPINESEG, MrLabelScheme.TOTAL_MR):
        if scheme.value in name:
            return scheme, f"{scheme} (from the file name {path.name})"
    if ids and ids <= {TOTAL_MR_SACRUM, TOTAL_MR_VERTEBRAE} | set(range(1, 18)) | set(range(20, 51)) and TOTAL_MR_VERTEBRAE in ids \
            and not ids & {20, 21, 22, 23, 24} and TOTAL_MR_SACRUM in ids:
        return MrLabelScheme.TOTAL_MR, "total_mr (labels 18 sacrum and 19 vertebrae present, no VerSe lumbar ids)"
    if ids & {92} or ids & set(range(200, 225)):
        return MrLabelScheme.TOTALSPINESEG, "TotalSpineSeg (ids 92 or 200+ present); " + GUESSED_NOTE
    if ids and max(ids) <= 28 and ids & {20, 21, 22, 23, 24}:
        return MrLabelScheme.VERSE, "VerSe ids (lumbar ids 20-24 present); " + GUESSED_NOTE
    if ids and max(ids) <= 25:
        return MrLabelScheme.VERTEBRAE_MR, "TotalSegmentator vertebrae_mr (ids 1-25 without VerSe lumbar ids); " + GUESSED_NOTE
    return MrLabelScheme.VERSE, "VerSe ids (default); " + GUESSED_NOTE


def _split_total_mr(raw: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    out = np.zeros(raw.shape, np.int16)
    sacrum = raw == TOTAL_MR_SACRUM
    vert = raw == TOTAL_MR_VERTEBRAE
    if not sacrum.any() or not vert.any():
        return out
    out[sacrum] = VERSE_IDS["S1"]
    lab, n = ndimage.label(vert)
    sizes = ndimage.sum(vert, lab, range(1, n + 1))
    keep = [i + 1 for i in range(n) if sizes[i] >= 0.2 * sizes.max()]
    centres = {i: float(np.nonzero(lab == i)[2].mean()) for i in keep}
    order = sorted(keep, key=lambda i: centres[i])  # inferior first
    names = ["L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10", "T9", "T8"]
    for name, comp in zip(names, order):
        out[lab == comp] = VERSE_IDS[name]
    return out
