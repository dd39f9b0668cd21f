"""Naming the segments: landmarks, transitional anatomy, partial fields of view and confidence.

Two landmarks name the levels, as a radiologist would count them:

* the sacrum (S1): the most cranial segment whose sides are solid bone (the sacral alae), where a
  lumbar vertebra has only thin transverse processes and soft tissue;
* the last rib-bearing vertebra (T12): bone outside the vertebrae that starts next to a vertebra
  and runs far laterally is a rib, and the rib head's level names its vertebra.

With both, the count of lumbar-type vertebrae between them checks the labelling: five is normal, six
is an L6 (lumbarised S1 or an extra lumbar), four a sacralised L5 or 11 rib pairs. Each is flagged.
With one landmark the levels are counted from it, with lower confidence. A user can pin one level
(``level_at``) and the others follow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spinebq.anatomy import ORDER, VERSE_IDS
from spinebq.segment.ct.bone import BONE_EDGE_HU, fill_holes

#: Names above and below, used when counting from an anchor.
_SEQUENCE = tuple(n for n in ORDER if n not in ("T13", "L6"))
#: Fraction of dense bone beside a segment's body above which it is sacral (the alae).
SACRAL_SIDE_FRACTION = 0.2
#: HU of the sacral alae (cancellous bone, often osteoporotic).
SACRAL_BONE_HU = 120.0
#: A rib runs at least this far (mm) from the canal centre, left or right.
RIB_LATERAL_MM = 65.0
#: ... and starts within this distance (mm) of the canal centre.
RIB_MEDIAL_MM = 52.0


@dataclass
class Landmarks:
    """What the naming stands on (segment ids count up from the caudal end, 1-based)."""

    sacral: list[int] = field(default_factory=list)
    rib_bearing: list[int] = field(default_factory=list)
    sacral_fraction: dict[int, float] = field(default_factory=dict)
    rib_count: dict[int, int] = field(default_factory=dict)


def sacral_side_fraction(hu: np.ndarray, spacing_mm, bodies: np.ndarray, seg: int, canal_front: np.ndarray) -> float:
    """Fraction of bone 38-65 mm left and right of a segment's body, at its height.

    Bone is HU above :data:`SACRAL_BONE_HU`, or marrow enclosed by bone in the axial section.
    """
    idx = np.argwhere(bodies == seg)
    if len(idx) == 0:
        return 0.0
    sx, sy, sz = spacing_mm
    cx = idx[:, 0].mean()
    ks = np.unique(idx[:, 2])
    total, dense = 0, 0
    xs = np.arange(hu.shape[0])
    side = (np.abs(xs - cx) * sx >= 38.0) & (np.abs(xs - cx) * sx <= 65.0)
    for k in ks:
        rows = idx[idx[:, 2] == k, 1]
        y0 = int(rows.min())
        y1 = int(min(hu.shape[1] - 1, rows.max() + 20.0 / sy))
        # bone, or marrow enclosed by a cortical shell (an osteoporotic ala can be as dark as muscle)
        section = fill_holes(hu[:, y0:y1 + 1, k] > BONE_EDGE_HU) | (hu[:, y0:y1 + 1, k] > SACRAL_BONE_HU)
        block = section[side]
        total += block.size
        dense += int(block.sum())
    return dense / total if total else 0.0


def find_ribs(hu: np.ndarray, spacing_mm, whole: np.ndarray, bodies: np.ndarray, canal_x: np.ndarray, z_range) -> dict[int, int]:
    """Count ribs per segment: dense bone outside the vertebrae that starts beside one and runs laterally.

    Returns ``{segment id: number of ribs whose medial end lies at that segment}``.
    """
    sx, sy, sz = spacing_mm
    nx, ny, nz = hu.shape
    k0, k1 = z_range
    bone = hu > 180.0
    grown = ndimage.binary_dilation(whole > 0, iterations=1)
    candidate = bone & ~grown
    candidate[:, :, :k0] = False
    candidate[:, :, k1 + 1:] = False
    labelled, n = ndimage.label(candidate)
    if n == 0:
        return {}
    objects = ndimage.find_objects(labelled)
    counts: dict[int, int] = {}
    body_z = {int(v): np.flatnonzero((bodies == v).any(axis=(0, 1))) * sz for v in np.unique(bodies) if v > 0}
    for i, sl in enumerate(objects):
        if sl is None:
            continue
        comp = labelled[sl] == i + 1
        pts = np.argwhere(comp) + np.array([s.start for s in sl])
        if len(pts) < 6:
            continue
        lateral = np.abs(pts[:, 0] - canal_x[pts[:, 2]]) * sx
        if lateral.max() < RIB_LATERAL_MM or lateral.min() > RIB_MEDIAL_MM:
            continue
        # a rib is long and thin: its extent is several times its thickness
        extent_mm = np.ptp(pts * np.array(spacing_mm), axis=0).max()
        if extent_mm < 35.0 or len(pts) * sx * sy * sz > 60000.0:
            continue
        # follow the rib's medial end back to the costovertebral joint (about 25 mm from the midline)
        near = lateral <= lateral.min() + 20.0
        z_mm = pts[near, 2] * sz
        if near.sum() >= 3 and np.ptp(lateral[near]) > 3.0:
            slope, intercept = np.polyfit(lateral[near], z_mm, 1)
            z_head = float(np.clip(slope * 25.0 + intercept, z_mm.min() - 30.0, z_mm.max() + 30.0))
        else:
            z_head = float(z_mm.mean())
        seg = _segment_at_height(body_z, z_head)
        if seg > 0:
            counts[seg] = counts.get(seg, 0) + 1
    return counts


def _segment_at_height(body_z: dict, z_mm: float) -> int:
    """Segment whose body spans height ``z_mm`` (else the nearest body by its mid-height)."""
    best, best_d = 0, np.inf
    for seg, zs in body_z.items():
        if len(zs) == 0:
            continue
        if zs.min() <= z_mm <= zs.max():
            return seg
        d = abs(z_mm - 0.5 * (zs.min() + zs.max()))
        if d < best_d:
            best, best_d = seg, d
    return best


def _nearest_label_index(labels: np.ndarray) -> np.ndarray:
    """Label of the nearest labelled voxel, everywhere (distance transform)."""
    if not labels.any():
        return labels
    _, inds = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return labels[tuple(inds)]


#: Per-level flag: the level's name is a guess (no sacrum in view); kept out of every level-dependent cutoff.
LEVEL_UNCONFIRMED = "level_unconfirmed"


@dataclass
class Naming:
    names: dict[int, str]
    confidence: dict[int, float]
    flags: dict[int, list[str]]
    global_flags: list[str]
    method: str


def _count(anchor_name: str, offset: int) -> str | None:
    i = _SEQUENCE.index(anchor_name) - offset
    return _SEQUENCE[i] if 0 <= i < len(_SEQUENCE) else None


def name_segments(present: list[int], landmarks: Landmarks, cut: dict[int, str]) -> Naming:
    """Name segments ``present`` (ids caudal to cranial) from the landmarks.

    Parameters
    ----------
    present : list of int
        Segment ids with a body, caudal to cranial.
    landmarks : Landmarks
        Sacral segments and rib-bearing segments.
    cut : dict
        Segment id -> reason for segments cut by the field of view or the spine's extent.
    """
    flags: dict[int, list[str]] = {s: [] for s in present}
    global_flags: list[str] = []
    pos = {s: i for i, s in enumerate(present)}
    sacral = [s for s in present if s in landmarks.sacral]
    s1 = None
    if sacral:
        # the most cranial segment of the lowest run of sacral segments is S1
        s1 = sacral[0]
        while pos[s1] + 1 < len(present) and present[pos[s1] + 1] in sacral:
            s1 = present[pos[s1] + 1]
    ribbed = [s for s in present if s in landmarks.rib_bearing and (s1 is None or pos[s] > pos[s1])]
    t12 = ribbed[0] if ribbed else None
    names: dict[int, str] = {}
    base: dict[int, float] = {}
    if s1 is not None and t12 is not None:
        n_lumbar = pos[t12] - pos[s1] - 1
        if n_lumbar == 5:
            method = "sacrum and last rib agree (5 lumbar vertebrae)"
            anchor, anchor_name, conf0 = s1, "S1", 0.97
        elif n_lumbar == 6:
            method = "six lumbar-type vertebrae between the last rib and the sacrum: the lowest is named L6"
            global_flags.append("transitional: L6 (six lumbar-type vertebrae)")
            anchor, anchor_name, conf0 = t12, "T12", 0.8
        elif n_lumbar == 4:
            method = "four lumbar-type vertebrae between the last rib and the sacrum; levels counted from the sacrum"
            global_flags.append("transitional: four lumbar-type vertebrae (sacralised L5, or a rib on L1 / 11 rib pairs)")
            anchor, anchor_name, conf0 = s1, "S1", 0.7
        else:
            method = f"{n_lumbar} vertebrae between the last rib and the sacrum; levels counted from the sacrum"
            global_flags.append(f"landmarks disagree: {n_lumbar} segments between the last rib and the sacrum")
            anchor, anchor_name, conf0 = s1, "S1", 0.5
    elif s1 is not None:
        method = "counted up from the sacrum (no rib-bearing vertebra seen)"
        global_flags.append("no rib-bearing vertebra in the field of view: T12/L1 not confirmed")
        anchor, anchor_name, conf0 = s1, "S1", 0.85
    elif t12 is not None:
        method = "counted down from the last rib-bearing vertebra (no sacrum seen)"
        global_flags.append("no sacrum in the field of view: L5/S1 not confirmed")
        anchor, anchor_name, conf0 = t12, "T12", 0.8
    else:
        method = "no landmark: the lowest segment is assumed to be L5"
        global_flags.append("no landmark (sacrum or ribs) found: levels are a guess")
        anchor, anchor_name, conf0 = present[0], "L5", 0.3
    for s in present:
        offset = pos[s] - pos[anchor]
        name = _count(anchor_name, offset)
        if name is None:
            continue
        names[s] = name
        base[s] = conf0 * (0.98 ** abs(offset))
    if s1 is not None and t12 is not None and pos[t12] - pos[s1] - 1 == 6:
        # L6 between L5 and S1: shift the segment just above S1
        for s in present:
            offset = pos[s] - pos[t12]
            if pos[s] > pos[s1]:
                names[s] = _count("T12", offset) if offset >= -5 else "L6"
                base[s] = 0.8 * (0.98 ** abs(offset))
        flags[present[pos[s1] + 1]].append("transitional: L6")
    if s1 is not None and t12 is not None and pos[t12] - pos[s1] - 1 == 4:
        flags[present[pos[s1] + 1]].append("transitional: possibly sacralised L5")
    if t12 is not None and names.get(t12) not in ("T12", None):
        flags[t12].append(f"rib-bearing but named {names.get(t12)}")
    if s1 is None:
        # ribs alone are not trusted (a lumbar transverse process passes for a rib): without the sacrum no name is sure
        global_flags.append(f"no sacrum found: every level is {LEVEL_UNCONFIRMED} (pin one with a level point)")
        for s in names:
            flags[s].append(LEVEL_UNCONFIRMED)
    for s, reason in cut.items():
        if s in flags:
            flags[s].append(reason)
            base[s] = base.get(s, 0.3) * 0.9
    confidence = {s: round(float(base.get(s, 0.0)), 3) for s in names}
    return Naming(names=names, confidence=confidence, flags=flags, global_flags=global_flags, method=method)


def relabel_at(naming: Naming, present: list[int], pinned_segment: int, pinned_name: str) -> Naming:
    """Rename every segment so that ``pinned_segment`` is ``pinned_name``; the others follow in order."""
    pos = {s: i for i, s in enumerate(present)}
    names = {}
    for s in present:
        name = _count(pinned_name if pinned_name not in ("L6", "T13") else ("L5" if pinned_name == "L6" else "T12"),
                      pos[s] - pos[pinned_segment])
        if name is not None:
            names[s] = name
    names[pinned_segment] = pinned_name
    flags = {s: [f for f in naming.flags.get(s, []) if f != LEVEL_UNCONFIRMED] for s in present}
    changed = any(naming.names.get(s) != names.get(s) for s in present)
    if changed:
        for s in present:
            flags[s].append("named from the user's level point")
    confidence = {s: round(0.99 * (0.99 ** abs(pos[s] - pos[pinned_segment])), 3) for s in names}
    return Naming(names=names, confidence=confidence, flags=flags,
                  global_flags=list(naming.global_flags) + ([f"user pinned {pinned_name}; automatic naming was "
                                                             f"{naming.names.get(pinned_segment)}"] if changed else []),
                  method=f"user pinned {pinned_name} at a point")


def verse_id(name: str) -> int:
    return VERSE_IDS[name]
