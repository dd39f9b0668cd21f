"""Ribs told from transverse processes: what leaves each vertebra sideways, how far and which way.

A radiologist counting the levels without the sacrum looks for the last rib. At the thoracolumbar junction a rib
and a lumbar transverse process both leave the vertebra laterally and posteriorly, and both are bone; they
differ in length and direction:

* a **rib** is a separate bone (the costovertebral joint lies between it and the vertebra) that runs on
  far from the spine, thin, descending as it goes laterally and then forward;
* a lumbar **transverse process** is part of the vertebra, short and straight lateral; its tip lies at most
  about 50 mm from the canal (longest at L3).

Each side of each segment is followed on the working grid: the bone (HU above :data:`RIB_BONE_HU`) that starts
:data:`ROOT_MM` lateral of the canal centre, inside the segment's own mask, and is reached through bone without
entering another vertebra's mask. Where two segments reach the same bone, the nearer one (geodesic distance
through bone) owns it, and a side keeps only what is joined to its root through its own share (a path through
bone another segment owns, such as L5's process through the sacrum's ilium to the iliac crest, gives it nothing
beyond). The path length of what a side owns (geodesic, from the root to its farthest voxel), its
lateral reach, its mean cross-section (volume / path, beyond :data:`SECTION_FROM_MM`) and how far its far end
lies below its root decide:

* ``rib``: path at least :data:`RIB_MIN_PATH_MM`, cross-section at most :data:`RIB_MAX_SECTION_MM2`, and
  reaching at least :data:`RIB_MIN_REACH_MM` from the canal (long thin bone that does not run outward, such as a
  calcified vessel wall beside the body, is no rib);
* ``transverse_process``: path below :data:`TP_MAX_PATH_MM`, not descending by :data:`TP_MAX_DROP_MM` or more,
  and wholly in the field of view;
* ``ambiguous``: anything between (a short or hypoplastic rib, a long transverse process, the pelvis);
* ``not_seen``: nothing to follow on that side.

Bone that no vertebra reaches (the joint gap is visible at this resolution) is a separate rib when it is long,
thin and runs out as far as a rib, and belongs to the segment whose mask lies within :data:`SEPARATE_RIB_GAP_MM`
of its medial end. Where its medial end lies on the first or last slice, whose rib it is cannot be told: that
segment's side is ``ambiguous``. On a segment cut by the field of view, a short process may be a rib's cut
stump: it is ``not_seen``.

The thresholds come from the real TotalSegmentator example CT (3 mm): its T12 ribs follow 84 and 107 mm
(cross-section 28-34 mm2, reach 87-94 mm, far end 43-54 mm below the root); its lumbar transverse processes
3-34 mm (far end within 8 mm of the root's height); the pelvis reached from the sacrum is over 1000 mm2 thick
(``benchmarks/level_naming.py``). A 12th rib shorter than :data:`RIB_MIN_PATH_MM` reads ``ambiguous``, and the
naming (:mod:`spinebq.segment.ct.labelling`) then confirms no level; when it is also shorter than
:data:`TP_MAX_PATH_MM` and straight it reads as a transverse process, and counting from the 11th rib names every
level one too high: only the sacrum can catch that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.graph import MCP_Geometric

from spinebq.segment.ct.vertebrae import ARCH_HALF_WIDTH_MM
from spinebq.vocabulary import LateralProcess, Side

#: HU above which a voxel on the working grid counts as rib bone (a rib is thin: partial volume lowers it).
RIB_BONE_HU = 150.0
#: Distance (mm) lateral of the canal centre where the followed process starts (beside the pedicle).
ROOT_MM = 20.0
#: Shortest path (mm, from the root) of a rib.
RIB_MIN_PATH_MM = 50.0
#: A rib runs at least this far (mm) lateral of the canal centre (a lumbar transverse process tip: about 50 mm).
RIB_MIN_REACH_MM = 60.0
#: Longest path (mm, from the root) of a transverse process.
TP_MAX_PATH_MM = 40.0
#: Largest mean cross-section (mm2) of a rib: the pelvis or a kidney is thicker.
RIB_MAX_SECTION_MM2 = 150.0
#: The cross-section is measured on what lies this far (mm) or more from the root (the shaft, not the rib head).
SECTION_FROM_MM = 15.0
#: A process whose far end lies this far (mm) or more below its root descends like a rib.
TP_MAX_DROP_MM = 15.0
#: Largest gap (mm) between a separate rib's medial end and its vertebra's mask.
SEPARATE_RIB_GAP_MM = 10.0
#: Bone is followed at most this far (mm) from the root.
MAX_PATH_MM = 250.0
#: How far (mm) below and above a segment its rib is followed (a rib descends as it runs laterally).
BELOW_MM, ABOVE_MM = 90.0, 20.0
#: How far (mm) lateral of the canal bone is followed.
LATERAL_MM = 180.0
#: Voxels touching by a face, an edge or a corner are connected (a thin oblique rib is a chain of corners).
_CONNECTED = np.ones((3, 3, 3), bool)


@dataclass(frozen=True)
class LateralBone:
    """What leaves one side of one segment.

    Attributes
    ----------
    kind : LateralProcess
        Rib, transverse process, ambiguous or not seen.
    path_mm : float
        Geodesic length through bone from the root (:data:`ROOT_MM` lateral of the canal) to the farthest
        voxel the side owns; NaN when nothing was followed.
    reach_mm : float
        Largest distance lateral of the canal centre, mm.
    section_mm2 : float
        Volume owned over path length beyond :data:`SECTION_FROM_MM` from the root: the mean cross-section.
    drop_mm : float
        How far the far end lies below the root (positive: lower).
    separate : bool
        Found as a separate bone (joint gap visible), not reached through the vertebra's own bone.
    why : str
        The reading in words.
    """

    kind: LateralProcess
    path_mm: float = float("nan")
    reach_mm: float = float("nan")
    section_mm2: float = float("nan")
    drop_mm: float = float("nan")
    separate: bool = False
    why: str = ""

    def to_dict(self) -> dict:
        def r(v: float):
            return None if not np.isfinite(v) else round(float(v), 1)

        return {"kind": self.kind.value, "path_mm": r(self.path_mm), "reach_mm": r(self.reach_mm),
                "section_mm2": r(self.section_mm2), "drop_mm": r(self.drop_mm), "separate": self.separate,
                "why": self.why}


def classify(path_mm: float, section_mm2: float, drop_mm: float, reach_mm: float,
             in_view: bool) -> tuple[LateralProcess, str]:
    """Rib, transverse process or ambiguous from the figures of one side (see the module's rules).

    >>> classify(84.0, 28.0, 43.0, 87.0, True)[0].value
    'rib'
    >>> classify(24.0, 141.0, 0.0, 42.0, True)[0].value
    'transverse_process'
    >>> classify(45.0, 80.0, 5.0, 62.0, True)[0].value
    'ambiguous'
    >>> classify(70.0, 30.0, 60.0, 40.0, True)[0].value  # long and thin, but not running outward (a vessel wall)
    'ambiguous'
    """
    if path_mm >= RIB_MIN_PATH_MM:
        if section_mm2 > RIB_MAX_SECTION_MM2:
            return LateralProcess.AMBIGUOUS, (f"bone followed {path_mm:.0f} mm but {section_mm2:.0f} mm2 thick (a rib "
                                              f"is at most {RIB_MAX_SECTION_MM2:g} mm2): another bone")
        if reach_mm < RIB_MIN_REACH_MM:
            return LateralProcess.AMBIGUOUS, (f"thin bone followed {path_mm:.0f} mm but only {reach_mm:.0f} mm from "
                                              f"the canal (a rib runs at least {RIB_MIN_REACH_MM:g} mm out)")
        return LateralProcess.RIB, f"thin bone followed {path_mm:.0f} mm (at least {RIB_MIN_PATH_MM:g} mm: a rib)"
    if path_mm < TP_MAX_PATH_MM and drop_mm < TP_MAX_DROP_MM:
        if not in_view:
            return LateralProcess.NOT_SEEN, "a short process that reaches the edge of the field of view (may be cut)"
        return LateralProcess.TRANSVERSE_PROCESS, (f"short ({path_mm:.0f} mm, below {TP_MAX_PATH_MM:g} mm) and "
                                                   "straight lateral: a transverse process")
    return LateralProcess.AMBIGUOUS, (f"followed {path_mm:.0f} mm, far end {drop_mm:.0f} mm below its root: "
                                      "neither a clear rib nor a transverse process")


def lateral_bones(hu: np.ndarray, spacing_mm, whole: np.ndarray, canal_x: np.ndarray, segments: list[int],
                  cut: set[int] | frozenset[int] = frozenset()) -> dict[int, dict[Side, LateralBone]]:
    """Follow what leaves each side of each segment and read it as a rib or a transverse process.

    Parameters
    ----------
    hu : numpy.ndarray
        HU on the working grid (canonical: +x is the patient's left, +z superior).
    spacing_mm : sequence of float
        Working-grid spacing.
    whole : numpy.ndarray
        Segment ids of the whole vertebrae (0 background).
    canal_x : numpy.ndarray
        x index of the canal centre per slice.
    segments : list of int
        Segment ids to read.
    cut : set of int
        Segments cut by the field of view: a short process there may be a cut rib (``not_seen``).

    Returns
    -------
    dict
        Segment id -> {Side: LateralBone}.
    """
    sp = np.asarray(spacing_mm, float)
    nx, ny, nz = hu.shape
    bone = hu > RIB_BONE_HU
    lateral = (np.arange(nx)[:, None] - canal_x[None, :]) * sp[0]  # (x, z), + toward the patient's left
    zs = {s: np.flatnonzero((whole == s).any(axis=(0, 1))) for s in segments}
    out: dict[int, dict[Side, LateralBone]] = {s: {} for s in segments}
    for side, sign in ((Side.LEFT, 1.0), (Side.RIGHT, -1.0)):
        outward = sign * lateral
        best = np.full(hu.shape, np.inf, np.float32)
        owner = np.zeros(hu.shape, np.int16)
        root_z, roots = {}, {}  # roots: (box, root voxels within the box) per segment
        for s in segments:
            if len(zs[s]) == 0:
                continue
            k0 = max(0, int(zs[s][0] - BELOW_MM / sp[2]))
            k1 = min(nz, int(zs[s][-1] + ABOVE_MM / sp[2]) + 1)
            out_box = outward[:, k0:k1]
            cols = np.flatnonzero(((out_box >= ROOT_MM) & (out_box <= LATERAL_MM)).any(axis=1))
            if len(cols) == 0:
                continue
            box = (slice(cols[0], cols[-1] + 1), slice(0, ny), slice(k0, k1))
            w = whole[box]
            o = outward[box[0], k0:k1][:, None, :]
            domain = bone[box] & ((w == 0) | (w == s)) & (o >= ROOT_MM) & (o <= LATERAL_MM)
            at_root = domain & (w == s) & (o < ROOT_MM + sp[0])
            if not at_root.any():
                continue
            # follow only the bone connected to the root, in its own (small) box
            pieces, _ = ndimage.label(domain, structure=_CONNECTED)
            followed = np.isin(pieces, np.unique(pieces[at_root]))
            inner = ndimage.find_objects(followed.astype(np.uint8))[0]
            box = tuple(slice(b.start + i.start, b.start + i.stop) for b, i in zip(box, inner))
            seeds = np.argwhere(at_root[inner])
            roots[s] = (box, seeds)
            root_z[s] = float(seeds[:, 2].mean() + box[2].start) * sp[2]
            cost = np.where(followed[inner], 1.0, np.inf)
            dist, _ = MCP_Geometric(cost, sampling=tuple(sp)).find_costs(seeds)
            dist = np.where(dist <= MAX_PATH_MM, dist, np.inf).astype(np.float32)
            b = best[box]
            nearer = dist < b
            b[nearer] = dist[nearer]
            owner[box][nearer] = s
        reached = np.isfinite(best)
        for s in segments:
            mine = reached & (owner == s)
            if s in roots:  # what a side owns lies in its own box
                box, seeds = roots[s]
                mine[box] = _joined_to_root(mine[box], seeds)
            if s not in root_z or not mine.any():
                out[s][side] = LateralBone(LateralProcess.NOT_SEEN, why="no bone beside the pedicle on this side")
                continue
            pts = np.argwhere(mine)
            d = best[mine]
            far = int(np.argmax(d))
            path = float(d[far])
            distal = d >= SECTION_FROM_MM  # the root (pedicle, rib head and neck) is bulkier than the shaft
            section = float(distal.sum() * sp.prod()) / max(path - SECTION_FROM_MM, sp.min()) if distal.any() else \
                float(mine.sum() * sp.prod()) / max(path, sp.min())
            drop = root_z[s] - float(pts[far, 2]) * sp[2]
            in_view = s not in cut and not (pts[:, 2].min() == 0 or pts[:, 2].max() == nz - 1) and \
                not (pts[:, :2].min() == 0 or pts[:, 0].max() == nx - 1 or pts[:, 1].max() == ny - 1)
            reach = float(outward[pts[:, 0], pts[:, 2]].max())
            kind, why = classify(path, section, drop, reach, in_view)
            out[s][side] = LateralBone(kind, path, reach, section, drop, False, why)
        _separate_ribs(out, side, bone & ~reached & (whole == 0) & (outward[:, None, :] >= ROOT_MM),
                       whole, outward, sp, segments)
    return out


def _joined_to_root(owned: np.ndarray, root: np.ndarray) -> np.ndarray:
    """The part of ``owned`` joined to the ``root`` voxels ((n, 3) indices) through ``owned`` itself.

    A side owns the bone it reaches before any other segment does, but its path may run through another segment's
    bone (L5's transverse process through the ilium, which the sacrum owns, to the iliac crest): what lies beyond
    that is no part of this side's process.
    """
    pieces, _ = ndimage.label(owned, structure=_CONNECTED)
    kept = np.unique(pieces[tuple(root.T)])
    return np.isin(pieces, kept[kept > 0])


def _separate_ribs(out: dict, side: Side, free: np.ndarray, whole: np.ndarray, outward: np.ndarray, sp: np.ndarray,
                   segments: list[int]) -> None:
    """Long thin bone that no vertebra reaches: a rib whose joint gap shows, given to the vertebra at its medial end."""
    nz = free.shape[2]
    labelled, n = ndimage.label(free, structure=_CONNECTED)
    if n == 0:
        return
    min_voxels = RIB_MIN_PATH_MM / sp.max()
    sizes = np.bincount(labelled.ravel())
    reach_voxels = np.ceil(SEPARATE_RIB_GAP_MM / sp).astype(int) + 1
    for i, box in enumerate(ndimage.find_objects(labelled), start=1):
        if box is None or sizes[i] < min_voxels:
            continue
        comp = labelled[box] == i
        pts = np.argwhere(comp) + [b.start for b in box]
        out_mm = outward[pts[:, 0], pts[:, 2]]
        # a vertebra's mask ends at most ARCH_HALF_WIDTH_MM from the canal: a rib's medial end lies within the gap of it
        if out_mm.min() > ARCH_HALF_WIDTH_MM + SEPARATE_RIB_GAP_MM or out_mm.max() < RIB_MIN_REACH_MM:
            continue
        medial = pts[out_mm <= out_mm.min() + 2 * sp[0]]
        near = tuple(slice(max(0, lo - r), hi + r + 1) for lo, hi, r in zip(medial.min(0), medial.max(0), reach_voxels))
        vertebra = whole[near]
        if not vertebra.any():
            continue
        edt, idx = ndimage.distance_transform_edt(vertebra == 0, sampling=sp, return_indices=True)
        local = medial - [b.start for b in near]
        gaps = edt[tuple(local.T)]
        j = int(np.argmin(gaps))
        if gaps[j] > SEPARATE_RIB_GAP_MM:
            continue
        s = int(vertebra[tuple(idx[:, local[j, 0], local[j, 1], local[j, 2]])])
        if s not in out or (out[s].get(side) is not None and out[s][side].kind is LateralProcess.RIB):
            continue
        start = medial - [b.start for b in box]
        dist, _ = MCP_Geometric(np.where(comp, 1.0, np.inf), sampling=tuple(sp)).find_costs(start)
        d = dist[comp]
        path = float(d.max())
        distal = d >= SECTION_FROM_MM
        section = float(distal.sum() * sp.prod()) / max(path - SECTION_FROM_MM, sp.min())
        if path < RIB_MIN_PATH_MM or section > RIB_MAX_SECTION_MM2:
            continue
        drop = float(medial[:, 2].mean() - pts[np.argmax(d), 2]) * sp[2]
        reach = float(out_mm.max())
        if medial[:, 2].min() == 0 or medial[:, 2].max() == nz - 1:
            out[s][side] = LateralBone(LateralProcess.AMBIGUOUS, path, reach, section, drop, True,
                                       f"a separate rib ({path:.0f} mm) whose medial end lies on the edge of the field "
                                       "of view: whose rib it is cannot be told")
        else:
            out[s][side] = LateralBone(LateralProcess.RIB, path, reach, section, drop, True,
                                       f"a separate thin bone ({path:.0f} mm) starting {gaps[j]:.0f} mm from the "
                                       "vertebra (joint gap): a rib")
