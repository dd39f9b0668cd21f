"""Naming the segments: landmarks, transitional anatomy, partial fields of view and confidence.

Two landmarks name the levels, as a radiologist would count them:

* the sacrum (S1): the most cranial segment whose sides are solid bone (the sacral alae), where a
  lumbar vertebra has only thin transverse processes and soft tissue;
* the last rib-bearing vertebra (T12): what leaves each vertebra sideways is read as a rib (long,
  thin, descending, possibly a separate bone) or a transverse process (short, straight lateral) by
  :mod:`spinebq.segment.ct.ribs`; :func:`last_rib` says when counting from it is sure.

With both, they must agree: five lumbar-type vertebrae between them. Six (an L6: lumbarised S1 or an
extra lumbar), four (a sacralised L5, a rib on L1 or 11 rib pairs) or any other count leaves every
level ``level_unconfirmed`` with the reason. With one sure landmark the levels are counted from it,
with lower confidence; with none, every level is ``level_unconfirmed``. A user can pin one level
(``level_at``) and the others follow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spinebq.anatomy import ORDER, VERSE_IDS
from spinebq.segment.ct.bone import BONE_EDGE_HU, fill_holes
from spinebq.segment.ct.ribs import TP_MAX_PATH_MM, LateralBone
from spinebq.vocabulary import LateralProcess, Side

#: Names above and below, used when counting from an anchor.
_SEQUENCE = tuple(n for n in ORDER if n not in ("T13", "L6"))
#: Fraction of dense bone beside a segment's body above which it is sacral (the alae).
SACRAL_SIDE_FRACTION = 0.2
#: HU of the sacral alae (cancellous bone, often osteoporotic).
SACRAL_BONE_HU = 120.0


@dataclass
class Landmarks:
    """What the naming stands on (segment ids count up from the caudal end, 1-based).

    ``rib_bearing`` holds the segments with a rib on at least one side, ``rib_count`` the number of such sides,
    ``lateral`` what leaves each side of each segment (:func:`spinebq.segment.ct.ribs.lateral_bones`).
    """

    sacral: list[int] = field(default_factory=list)
    rib_bearing: list[int] = field(default_factory=list)
    sacral_fraction: dict[int, float] = field(default_factory=dict)
    rib_count: dict[int, int] = field(default_factory=dict)
    lateral: dict[int, dict[Side, LateralBone]] = field(default_factory=dict)


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


#: Per-level flag: the level's name is a guess (neither the sacrum nor a sure last rib in view, or the two disagree);
#: kept out of every level-dependent cutoff.
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


def last_rib(present: list[int], landmarks: Landmarks, s1: int | None) -> tuple[int | None, str | None]:
    """The last rib-bearing segment above the sacrum, and why counting from it is not sure (None when it is).

    The rule: the most caudal segment with a rib on at least one side is T12 when (1) neither of its sides is a
    clear transverse process (a rib on one side only is a lumbar rib or a hypoplastic 12th rib), (2) the segment
    below it is in view with a transverse process on both sides, and (3) the segment above it, when in view, does not
    have transverse processes on both sides. A 13th rib pair or 11 pairs (numerical variants) still shift the count
    by one: only the sacrum can tell, which is why the two must agree where both are seen.
    """
    pos = {s: i for i, s in enumerate(present)}
    above_sacrum = [s for s in present if s1 is None or pos[s] > pos[s1]]
    ribbed = [s for s in above_sacrum if s in landmarks.rib_bearing]
    if not ribbed:
        return None, None
    t12 = ribbed[0]
    sides = landmarks.lateral.get(t12, {})

    def kinds(seg: int) -> list[LateralProcess]:
        return [landmarks.lateral.get(seg, {}).get(side, LateralBone(LateralProcess.NOT_SEEN)).kind
                for side in (Side.LEFT, Side.RIGHT)]

    if any(b.kind is LateralProcess.TRANSVERSE_PROCESS for b in sides.values()):
        return t12, "a rib on one side and a transverse process on the other at the last rib-bearing vertebra"
    i = pos[t12]
    below = present[i - 1] if i > 0 else None
    if below is None or (s1 is not None and below == s1):
        return t12, "no vertebra in view below the last rib-bearing one"
    if any(k is not LateralProcess.TRANSVERSE_PROCESS for k in kinds(below)):
        found = ", ".join(f"{side.value} {k.value}" for side, k in zip((Side.LEFT, Side.RIGHT), kinds(below)))
        return t12, (f"the vertebra below the last rib-bearing one does not show transverse processes on both sides "
                     f"({found})")
    above = present[i + 1] if i + 1 < len(present) else None
    if above is not None and all(k is LateralProcess.TRANSVERSE_PROCESS for k in kinds(above)):
        return t12, "the vertebra above the last rib-bearing one has transverse processes on both sides"
    return t12, None


def name_segments(present: list[int], landmarks: Landmarks, cut: dict[int, str]) -> Naming:
    """Name segments ``present`` (ids caudal to cranial) from the landmarks.

    The sacrum (S1) and the last rib-bearing vertebra (T12, see :func:`last_rib`) each name the levels. Where both
    are seen they must agree (five lumbar-type vertebrae between them); otherwise, and where neither is sure, every
    level is flagged :data:`LEVEL_UNCONFIRMED` with the reason, and kept out of every level-dependent cutoff.

    Parameters
    ----------
    present : list of int
        Segment ids with a body, caudal to cranial.
    landmarks : Landmarks
        Sacral segments and what leaves each side of each segment (ribs).
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
    t12, rib_doubt = last_rib(present, landmarks, s1)
    unconfirmed = None
    if s1 is not None and t12 is not None:
        n_lumbar = pos[t12] - pos[s1] - 1
        anchor, anchor_name = s1, "S1"
        if n_lumbar == 5:
            method = "sacrum and last rib agree (5 lumbar vertebrae)"
            conf0 = 0.97 if rib_doubt is None else 0.9
        else:
            kind = {6: "six lumbar-type vertebrae (an L6: lumbarised S1 or an extra lumbar vertebra)",
                    4: "four lumbar-type vertebrae (sacralised L5, a rib on L1, or 11 rib pairs)"}.get(
                n_lumbar, f"{n_lumbar} segments between them")
            method = f"sacrum and last rib disagree: {kind}; levels counted from the sacrum"
            global_flags.append(f"transitional or miscounted: {kind}")
            unconfirmed = f"the sacrum and the last rib disagree ({n_lumbar} lumbar-type vertebrae between them, not 5)"
            conf0 = 0.5
    elif s1 is not None:
        method = "counted up from the sacrum (no rib-bearing vertebra seen)"
        global_flags.append("no rib-bearing vertebra in the field of view: T12/L1 not confirmed")
        anchor, anchor_name, conf0 = s1, "S1", 0.85
    elif t12 is not None:
        anchor, anchor_name = t12, "T12"
        if rib_doubt is None:
            method = "counted down from the last rib-bearing vertebra (no sacrum seen)"
            global_flags.append("no sacrum in the field of view: counted from the last rib (T12); a 13th rib pair or "
                                "11 rib pairs would shift every name by one")
            conf0 = 0.8
        else:
            method = "the last rib-bearing vertebra is assumed to be T12 (no sacrum seen; the rib is not sure)"
            unconfirmed = f"no sacrum found and the last rib is not sure: {rib_doubt}"
            conf0 = 0.4
    else:
        # a guess only, every level unconfirmed: long bone beside a vertebra (a rib cut by the field of view, or too
        # bulky to be sure) makes it the lowest thoracic one; else the lowest segment is taken for L5
        ribbish = [s for s in present if any(b.kind is LateralProcess.AMBIGUOUS and b.path_mm >= TP_MAX_PATH_MM
                                             for b in landmarks.lateral.get(s, {}).values())]
        if ribbish:
            method = "no sure landmark: the lowest segment with long bone beside it is assumed to be T12"
            anchor, anchor_name = ribbish[0], "T12"
        else:
            method = "no landmark: the lowest segment is assumed to be L5"
            anchor, anchor_name = present[0], "L5"
        global_flags.append("no landmark (sacrum or ribs) found: levels are a guess")
        conf0 = 0.3
        unconfirmed = "no sacrum and no sure rib found"
    names: dict[int, str] = {}
    base: dict[int, float] = {}
    for s in present:
        offset = pos[s] - pos[anchor]
        name = _count(anchor_name, offset)
        if name is None:
            continue
        names[s] = name
        base[s] = conf0 * (0.98 ** abs(offset))
    if s1 is not None and t12 is not None and pos[t12] - pos[s1] - 1 == 6:
        flags[present[pos[s1] + 1]].append("transitional: L6")
    if s1 is not None and t12 is not None and pos[t12] - pos[s1] - 1 == 4:
        flags[present[pos[s1] + 1]].append("transitional: possibly sacralised L5")
    if t12 is not None and names.get(t12) not in ("T12", None):
        flags[t12].append(f"rib-bearing but named {names.get(t12)}")
    if unconfirmed is not None:
        global_flags.append(f"{unconfirmed}: every level is {LEVEL_UNCONFIRMED} (pin one with a level point: spinebq "
                            "segment --level-at X,Y,Z=L3, then spinebq ct --labels with its vertebrae.nii.gz)")
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
