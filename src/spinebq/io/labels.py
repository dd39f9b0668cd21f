"""Vertebra label maps from other tools, translated at the edge into VerSe ids on the CT's grid.

Supported schemes (``scheme=``):

``verse``         VerSe ids (1-7 C, 8-19 T, 20-24 L1-L5, 25 L6, 26 sacrum/S1, 28 T13); also
                  TotalSegmentator ``vertebrae_pp`` (same ids, bodies only).
``total``         TotalSegmentator v2 ``total`` task (26=S1, 27=L5 ... 31=L1, 32=T12 ..., 25 sacrum).
``total_v1``      TotalSegmentator v1 ``total`` task (18=L5 ... 22=L1, 23=T12 ..., 92 sacrum).
``vertebrae_pp``  TotalSegmentator per-vertebra bodies (VerSe ids, posterior elements removed).
``folder``        a folder of per-structure masks ``vertebrae_L1.nii.gz`` ... ``sacrum.nii.gz``.
``json``          a user map ``{"label id": "L1", ...}`` given with ``mapping=``.
``dicom_seg``     a DICOM SEG file whose segment labels name the vertebrae (:mod:`spinebq.io.dicom_seg`; what
                  ``spinebq segment`` writes for a DICOM series).

The returned :class:`~spinebq.image.labelmap.LabelMap` holds int16 VerSe ids and says what it holds: ``scheme``
(a :class:`~spinebq.vocabulary.LabelScheme`) and ``content`` (:class:`~spinebq.vocabulary.LabelContent`: whole
vertebrae or bodies only); ``metadata`` repeats them as ``label_scheme`` and ``content``.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS, VERSE_NAMES, sort_levels
from spinebq.constants import MAX_LABEL_IDS
from spinebq.errors import OptionError, SpinebqError, SpinebqWarning
from spinebq.image.labelmap import LabelMap
from spinebq.io.dicom_seg import is_dicom_file, read_dicom_seg
from spinebq.io.nifti import load_nifti
from spinebq.image.volume import Volume
from spinebq.vocabulary import LabelContent, LabelScheme

TOTAL_V2 = {25: "S1", 26: "S1", **{27 + i: n for i, n in enumerate(["L5", "L4", "L3", "L2", "L1"])},
            **{32 + i: f"T{12 - i}" for i in range(12)}, **{44 + i: f"C{7 - i}" for i in range(7)}}
TOTAL_V1 = {92: "S1", **{18 + i: n for i, n in enumerate(["L5", "L4", "L3", "L2", "L1"])},
            **{23 + i: f"T{12 - i}" for i in range(12)}, **{35 + i: f"C{7 - i}" for i in range(7)}}
#: Schemes whose labels hold only the vertebral body.
BODY_SCHEMES = frozenset({LabelScheme.VERTEBRAE_PP})
#: The scheme names accepted by :func:`load_labels` (the values of :class:`~spinebq.vocabulary.LabelScheme`).
SCHEMES = LabelScheme.values()


def load_labels(
    path: str | Path,
    reference: Volume,
    *,
    scheme: str | LabelScheme = LabelScheme.AUTO,
    mapping: dict | str | Path | None = None,
    bodies: str | Path | None = None,
) -> LabelMap:
    """Load a vertebra label map and translate it to VerSe ids on ``reference``'s grid.

    Parameters
    ----------
    path : str or Path
        A multilabel NIfTI file, a DICOM SEG file, or a folder of per-structure NIfTI masks.
    reference : Volume
        The CT the labels belong to; a label map on another grid covering the same space is
        resampled (nearest neighbour), anything else is refused.
    scheme : str or LabelScheme
        One of :data:`SCHEMES`; ``"auto"`` decides from the file name and the ids present and
        records its decision in ``metadata["label_scheme_note"]``.
    mapping : dict or path, optional
        User map from label id to vertebra name (``{"5": "L1"}``); implies ``scheme="json"``.
    bodies : str or Path, optional
        A TotalSegmentator ``vertebrae_body`` map (1 = bodies, 2 = discs): each level keeps only
        its voxels inside label 1, so the measured region is the body without posterior elements.

    Returns
    -------
    LabelMap
        int16 VerSe ids on ``reference``'s grid; ``content`` is ``body`` for body-only schemes and with
        ``bodies``, ``whole`` otherwise; ``source`` is ``path``; ``scheme_note`` says how the scheme was chosen.
    """
    path = Path(path)
    if not path.exists():
        raise SpinebqError(f"{path}: no such label file or folder")
    if scheme not in SCHEMES:
        raise OptionError("scheme", f"unknown label scheme {str(scheme)!r}; choose one of {', '.join(SCHEMES)}")
    scheme = LabelScheme(scheme)
    if mapping is not None:
        scheme = LabelScheme.JSON
    structure = _STRUCTURE.match(path.name) if scheme is LabelScheme.AUTO and path.is_file() else None
    if path.is_dir():
        ids, note = _load_structures(sorted(path.iterdir()), reference, path), "per-structure files"
        scheme = LabelScheme.FOLDER
    elif structure and not is_dicom_file(path) and _is_mask(path):
        ids, note = _load_structures([path], reference, path), "one per-structure file, the vertebra named by its file name"
        scheme = LabelScheme.FOLDER
    elif is_dicom_file(path):
        if scheme not in (LabelScheme.AUTO, LabelScheme.DICOM_SEG):
            raise OptionError("scheme", f"{path} is a DICOM SEG, which names its vertebrae in its segment labels: "
                                        f"no label scheme ({scheme}) applies to it")
        ids, note = read_dicom_seg(path, reference), "DICOM SEG segment labels"
        scheme = LabelScheme.DICOM_SEG
    else:
        raw = on_reference_grid(load_nifti(path, dtype=None), reference, path)
        check_label_values(raw, path)
        if not np.issubdtype(raw.dtype, np.integer):
            if not np.allclose(raw, np.round(raw)):
                raise SpinebqError(f"{path}: label values are not whole numbers; is this an image rather than a label map?")
            raw = np.round(raw).astype(np.int32)
        boxes = _boxes_by_id(raw)
        guessed, guessed_note = _guess_scheme(path, set(boxes))
        if scheme is LabelScheme.AUTO:
            scheme, note = guessed, guessed_note
        else:
            note = f"{scheme} as requested"
        table = _table(scheme, mapping, path)
        unnamed = sorted(set(boxes) - set(table))
        if unnamed and guessed is not scheme and scheme is not LabelScheme.JSON:
            note += (f"; ids {', '.join(map(str, unnamed))} name no vertebra in the {scheme} scheme and are left out "
                     f"(the file looks like {guessed_note.split(' (')[0]}: --label-scheme auto reads it so)")
            warnings.warn(f"{path}: {note}", SpinebqWarning, stacklevel=2)
        ids = _translate(raw, boxes, table)
    if not np.any(ids):
        raise SpinebqError(f"{path}: no vertebra label found (scheme {scheme}); check the label scheme")
    content = LabelContent.BODY if scheme in BODY_SCHEMES else LabelContent.WHOLE
    if bodies is not None:
        ids = keep_bodies(ids, bodies, reference)
        content = LabelContent.BODY
    return LabelMap(ids, reference.affine.copy(), content=content, scheme=scheme, source=str(path), scheme_note=note)


def keep_bodies(ids: np.ndarray, bodies: str | Path, reference: Volume) -> np.ndarray:
    """The VerSe ``ids`` kept on the bodies of a TotalSegmentator ``vertebrae_body`` map (1 = bodies, 2 = discs).

    Parameters
    ----------
    ids : numpy.ndarray
        VerSe ids of whole vertebrae on ``reference``'s grid.
    bodies : str or Path
        The ``vertebrae_body`` map; on another grid covering the same space it is resampled (nearest).
    reference : Volume
        The CT the labels belong to.

    Returns
    -------
    numpy.ndarray
        int16 ids inside label 1 of the map, 0 elsewhere.

    Raises
    ------
    SpinebqError
        When the map holds no body (label 1), naming the file.
    """
    body_mask = on_reference_grid(load_nifti(Path(bodies), dtype=None), reference, Path(bodies)) == 1
    if not body_mask.any():
        raise SpinebqError(f"{bodies}: no vertebral body (label 1) in this vertebrae_body map")
    return np.where(body_mask, ids, 0).astype(np.int16)


def present_levels(labels: Volume) -> list[str]:
    """Names of the vertebrae present in a VerSe label map, cranial to caudal."""
    return list(level_boxes(labels))


def level_boxes(labels: Volume) -> dict[str, tuple[slice, ...]]:
    """Bounding box (array slices) of every vertebra in a VerSe label map, cranial to caudal."""
    boxes = {VERSE_NAMES[i]: box for i, box in _boxes_by_id(labels.array).items() if i in VERSE_NAMES}
    return {name: boxes[name] for name in sort_levels(boxes)}


def _table(scheme: LabelScheme, mapping, path: Path) -> dict[int, str]:
    if scheme in (LabelScheme.VERSE, LabelScheme.VERTEBRAE_PP):
        return dict(VERSE_NAMES)
    if scheme is LabelScheme.TOTAL:
        return TOTAL_V2
    if scheme is LabelScheme.TOTAL_V1:
        return TOTAL_V1
    if scheme is LabelScheme.JSON:
        return _user_mapping(mapping, path)
    if scheme is LabelScheme.DICOM_SEG:
        raise SpinebqError(f"{path}: scheme 'dicom_seg' needs a DICOM SEG file")
    raise SpinebqError(f"{path}: scheme {str(scheme)!r} needs a folder of per-structure files")


def _user_mapping(mapping, path: Path) -> dict[int, str]:
    if mapping is None:
        raise OptionError("mapping", f"{path}: the json label scheme needs a JSON map from label id to vertebra name")
    if not isinstance(mapping, dict):
        try:
            mapping = json.loads(Path(mapping).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SpinebqError(f"{mapping}: cannot be read as a JSON label map ({exc})") from None
    table = {}
    for key, value in mapping.items():
        # accept {"5": "L1"} and {"L1": 5}
        label_id, name = (value, key) if str(key).upper() in VERSE_IDS else (key, value)
        name = str(name).upper().replace("VERTEBRAE_", "")
        if name == "SACRUM":
            name = "S1"
        if name not in VERSE_IDS:
            raise SpinebqError(f"{path}: label map entry {key!r}: {value!r} names no vertebra (use T11, L1, S1 ...)")
        try:
            table[int(label_id)] = name
        except (TypeError, ValueError):
            raise SpinebqError(f"{path}: label map entry {key!r}: {value!r} has no integer label id") from None
    return table


def check_label_values(raw: np.ndarray, path: Path) -> None:
    """Refuse a label array with negative, fractional or too many distinct ids (an image given as labels).

    Raises
    ------
    SpinebqError
        Naming ``path`` and the problem.
    """
    if raw.size == 0:
        raise SpinebqError(f"{path}: the label map is empty")
    if not np.issubdtype(raw.dtype, np.integer) and not np.issubdtype(raw.dtype, np.floating):
        raise SpinebqError(f"{path}: label values of type {raw.dtype} are not ids")
    low = raw.min()
    if low < 0:
        raise SpinebqError(f"{path}: the label map holds negative ids (down to {low:g}); label ids are 0 or positive")
    ids = np.unique(raw[::7]) if raw.size > 10_000_000 else np.unique(raw)
    if len(ids) > MAX_LABEL_IDS:
        raise SpinebqError(f"{path}: {len(ids)} distinct values; this is an image rather than a label map "
                           f"(a label map has at most {MAX_LABEL_IDS} ids)")
    if not np.issubdtype(raw.dtype, np.integer) and not np.allclose(ids, np.round(ids)):
        raise SpinebqError(f"{path}: label values are not whole numbers; is this an image rather than a label map?")


def _boxes_by_id(raw: np.ndarray) -> dict[int, tuple[slice, ...]]:
    """Bounding box of every non-zero id of an integer label array, in one pass for usual ids."""
    if raw.size and raw.min() < 0:
        raise SpinebqError("label maps cannot hold negative ids")
    if raw.size == 0 or raw.max() > 10_000:
        return {int(i): ndimage.find_objects((raw == i).view(np.uint8))[0] for i in np.unique(raw) if i != 0}
    return {n + 1: box for n, box in enumerate(label_boxes(raw)) if box is not None}


def label_boxes(labels: np.ndarray) -> list[tuple[slice, ...] | None]:
    """Bounding box of every id (index id - 1), as ``scipy.ndimage.find_objects``, in memory order.

    find_objects walks every voxel in C order, slowly; it is run only on the box around all non-zero
    voxels (found with fast reductions), and on a Fortran-ordered array (as NIfTI data is) transposed.
    """
    outer = _nonzero_box(labels)
    if outer is None:
        return []
    crop = labels[outer]
    if crop.strides[0] < crop.strides[-1]:  # Fortran-ordered memory
        boxes = [None if box is None else box[::-1] for box in ndimage.find_objects(crop.T)]
    else:
        boxes = ndimage.find_objects(crop)
    return [None if box is None else tuple(slice(b.start + o.start, b.stop + o.start) for b, o in zip(box, outer))
            for box in boxes]


def _nonzero_box(array: np.ndarray) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding every non-zero voxel of a 3D array, or None when all are zero."""
    in_plane = array.any(axis=2)
    if not in_plane.any():
        return None
    rows, cols = (np.flatnonzero(in_plane.any(axis=axis)) for axis in (1, 0))
    first_two = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    planes = np.flatnonzero(array[first_two].any(axis=(0, 1)))
    return (*first_two, slice(planes[0], planes[-1] + 1))


def _translate(raw: np.ndarray, boxes: dict[int, tuple[slice, ...]], table: dict[int, str]) -> np.ndarray:
    """VerSe ids for the ids of ``raw`` that ``table`` names; each id is copied within its bounding box only."""
    fallback = _sacrum_fallback_ids(table)
    names_present = {table[i] for i in boxes if i in table and i not in fallback}
    out = np.zeros(raw.shape, dtype=np.int16, order="F" if raw.flags["F_CONTIGUOUS"] else "C")
    for label_id, box in sorted(boxes.items()):
        name = table.get(label_id)
        if name is None or (label_id in fallback and name in names_present):
            continue  # a whole-sacrum label only stands in for S1 when S1 itself is absent
        out[box][raw[box] == label_id] = VERSE_IDS[name]
    return out


def _sacrum_fallback_ids(table: dict[int, str]) -> set[int]:
    if table is TOTAL_V2:
        return {25}
    if table is TOTAL_V1:
        return {92}
    return set()


#: Said after an automatic label scheme decision (in ``label_scheme_note``), so the reader knows it can be changed.
GUESSED_NOTE = "the label scheme was chosen from the file name and ids; choose another scheme to override"


def named_vertebrae_pp(path: str | Path) -> bool:
    """Whether the file name says TotalSegmentator ``vertebrae_pp`` (``vertebrae_pp_refined.nii.gz``): a per-level
    body map whose ids name the levels (VerSe ids), so it can be given as the labels.

    >>> named_vertebrae_pp("seg/vertebrae_pp_refined.nii.gz"), named_vertebrae_pp("vertebrae_body.nii.gz")
    (True, False)
    """
    return "vertebrae_pp" in Path(path).name.lower()


def _guess_scheme(path: Path, ids: set[int]) -> tuple[LabelScheme, str]:
    name = path.name.lower()
    if "total_v1" in name or "v1" in path.parent.name.lower() and "total" in name:
        return LabelScheme.TOTAL_V1, f"TotalSegmentator v1 'total' (from the file name {path.name})"
    if named_vertebrae_pp(path):
        return LabelScheme.VERTEBRAE_PP, f"TotalSegmentator vertebrae_pp bodies (from the file name {path.name})"
    if "total" in name:
        return LabelScheme.TOTAL, f"TotalSegmentator v2 'total' (from the file name {path.name})"
    if ids and max(ids) > 28:
        return LabelScheme.TOTAL, "TotalSegmentator v2 'total' (ids above 28 present); " + GUESSED_NOTE
    return LabelScheme.VERSE, "VerSe ids (ids 1-28); " + GUESSED_NOTE


_STRUCTURE = re.compile(r"^vertebrae_([CTLS]\d+)\.nii(\.gz)?$|^(sacrum)\.nii(\.gz)?$", re.IGNORECASE)


def _is_mask(path: Path) -> bool:
    """Whether a NIfTI file holds one structure (values 0 and 1 only), as TotalSegmentator's per-structure files do."""
    return set(np.unique(load_nifti(path, dtype=None).array).tolist()) <= {0, 1}


def _load_structures(files: list[Path], reference: Volume, where: Path) -> np.ndarray:
    """VerSe ids from TotalSegmentator's per-structure files (``vertebrae_L1.nii.gz``, ``sacrum.nii.gz``), each vertebra
    named by its file name; ``where`` (the folder or the one file) names the input in messages."""
    out = np.zeros(reference.shape, dtype=np.int16)
    found = []
    names = {m.group(1).upper() if m.group(1) else "SACRUM": f for f in files if (m := _STRUCTURE.match(f.name))}
    for name, file in names.items():
        level = "S1" if name == "SACRUM" else name
        if name == "SACRUM" and "S1" in names:
            continue
        if level not in VERSE_IDS:
            continue
        mask = on_reference_grid(load_nifti(file, dtype=None), reference, file) > 0
        out[mask & (out == 0)] = VERSE_IDS[level]
        found.append(level)
    if not found:
        raise SpinebqError(f"{where}: no per-structure vertebra files (vertebrae_L1.nii.gz ...) in this folder")
    return out


def on_reference_grid(labels: Volume, reference: Volume, path: Path) -> np.ndarray:
    """Return the label array on the reference grid, resampling (nearest) when the grids differ."""
    same_shape = labels.shape == reference.shape
    tol = 1e-3 * max(reference.spacing_mm)
    if same_shape and np.allclose(labels.affine, reference.affine, atol=tol):
        return labels.array
    lab_lo, lab_hi = _extent_mm(labels)
    ref_lo, ref_hi = _extent_mm(reference)
    slack = max(max(labels.spacing_mm), max(reference.spacing_mm))
    if np.any(np.abs(lab_lo - ref_lo) > slack) or np.any(np.abs(lab_hi - ref_hi) > slack):
        raise SpinebqError(
            f"{path}: the label map (shape {labels.shape}, spacing {_fmt(labels.spacing_mm)} mm) does not cover the "
            f"same space as the image {Path(str(reference.metadata.get('source') or '')).name or ''} (shape {reference.shape}, spacing {_fmt(reference.spacing_mm)} mm); "
            "was it made from another scan?"
        )
    matrix = np.linalg.inv(labels.affine) @ reference.affine
    return ndimage.affine_transform(
        labels.array, matrix[:3, :3], offset=matrix[:3, 3], output_shape=reference.shape, order=0, mode="constant"
    )


def _extent_mm(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """World bounding box of the voxel-edge corners of ``volume``."""
    n = np.array(volume.shape)
    corners = np.array([[a, b, c] for a in (-0.5, n[0] - 0.5) for b in (-0.5, n[1] - 0.5) for c in (-0.5, n[2] - 0.5)])
    world = volume.index_to_mm(corners)
    return world.min(axis=0), world.max(axis=0)


def _fmt(values) -> str:
    return " x ".join(f"{v:.3g}" for v in values)
