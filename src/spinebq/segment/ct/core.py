"""``segment_ct``: the built-in vertebra segmentation and labelling, from CT to named label maps.

Steps (each in its own module): working grid and thresholds (:mod:`.bone`), the spine's axis and
spinal canal (:mod:`.canal`), discs (:mod:`.discs`), bodies and whole vertebrae (:mod:`.vertebrae`),
sub-regions (:mod:`.subregions`), naming and confidence (:mod:`.labelling`). Nothing is downloaded;
no model weights are used.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spinebq.anatomy import VERSE_IDS, sort_levels
from spinebq.constants import METAL_HU
from spinebq.errors import OptionError, SpinebqError
from spinebq.image.labelmap import LabelMap
from spinebq.image.volume import Volume
from spinebq.segment.ct import labelling
from spinebq.segment.ct.bone import WorkGrid, patient_mask, to_native, to_working_grid
from spinebq.segment.ct.canal import SpineAxis, find_axis
from spinebq.segment.ct.discs import DiscPlane, build_curve, find_discs
from spinebq.segment.ct.refine import refine_bodies
from spinebq.segment.ct.result import SegmentationResult, result_from_labels
from spinebq.segment.ct.ribs import lateral_bones
from spinebq.segment.ct.subregions import ARCH, CANAL, PEDICLE_LEFT, PEDICLE_RIGHT, SUBREGION_NAMES, split_subregions
from spinebq.segment.ct.vertebrae import Segments, fill_marrow, segment_vertebrae, trim_thoracic
from spinebq.vocabulary import LabelContent, LabelScheme, LateralProcess, Segmenter

#: Smallest body volume (ml) of a segment that is reported as a vertebra.
MIN_BODY_ML = 2.0
#: An image whose every segment holds more than this (ml) has no spine: adult lumbar bodies hold about 25-60 ml (the
#: real CT's L1-L5: 38-43 ml); such a "body" is a phantom insert, a rod or another bone [M].
MAX_BODY_ML = 90.0


def _progress(progress: Callable | None, step: str, fraction: float) -> None:
    if progress is not None:
        progress(step, fraction)


@dataclass
class CountedVertebrae:
    """The vertebrae found and named on the working grid (:func:`count_vertebrae`), before their surfaces are refined
    on the CT's grid (:func:`segment_ct`).

    Attributes
    ----------
    grid : WorkGrid
        The working grid and its HU.
    axis : SpineAxis
    planes : list of DiscPlane
    segments : Segments
        Bodies and whole vertebrae on the working grid, numbered 1..n from the top.
    present : list of int
        The segments kept as vertebrae.
    landmarks : Landmarks
        Sacrum, ribs and lateral processes the names were counted from.
    naming : Naming
        The name, confidence and QC flags of each segment.
    timings : dict
        Seconds from the start at the end of each step.
    """

    grid: WorkGrid
    axis: SpineAxis
    planes: list[DiscPlane]
    segments: Segments
    present: list[int]
    landmarks: labelling.Landmarks
    naming: labelling.Naming
    timings: dict[str, float]

    def level_ids(self) -> np.ndarray:
        """Segment number -> VerSe id of its name (0 where unnamed)."""
        lut = np.zeros(self.segments.n + 1, np.int16)
        for s, name in self.naming.names.items():
            lut[s] = VERSE_IDS[name]
        return lut

    def confirmed_ids(self) -> set[int]:
        """The VerSe ids of the levels whose names were counted from the sacrum or a sure last rib and whose vertebra
        lies whole in the field of view (one cut by it may hold a neighbour's few voxels)."""
        return {VERSE_IDS[name] for s, name in self.naming.names.items()
                if not any(flag == labelling.LEVEL_UNCONFIRMED or "cut by the field" in flag
                           for flag in self.naming.flags.get(s, []))}

    def vertebra_at(self, index: tuple[np.ndarray, ...]) -> np.ndarray:
        """The VerSe id of the named whole vertebra (unrefined, 0 outside) at CT-grid voxels ``index`` (as
        :func:`numpy.nonzero` gives them): each lies in the working voxel whose block holds it (:func:`to_native`)."""
        work = tuple(np.asarray(i) // f for i, f in zip(index, self.grid.factors))
        return self.level_ids()[self.segments.whole[work]]


def count_vertebrae(ct: Volume, *, level_at: dict | None = None, progress: Callable | None = None) -> CountedVertebrae:
    """Find the vertebrae of a CT on the working grid and name them, counting from the sacrum or the last rib.

    The first steps of :func:`segment_ct`, without refining the surfaces on the CT's grid: enough to check the names
    of labels made elsewhere (:func:`spinebq.measure.ct.plausibility.check_level_names`; 4 s instead of 10 s on the
    real CT resampled to 0.7 mm).

    Parameters
    ----------
    ct, level_at, progress
        As for :func:`segment_ct`, which also says what it raises.

    Returns
    -------
    CountedVertebrae
    """
    for name in (level_at or {}).values():
        if str(name).upper() not in VERSE_IDS:
            raise OptionError("level_at", f"{str(name)!r} names no vertebra (use T11, L1 ... L5, S1)")
    t0 = time.perf_counter()
    timings = {}
    hu = ct.array
    if min(hu.shape) < 8:
        raise SpinebqError(f"{ct.metadata.get('source', 'the CT')}: the image ({hu.shape}) is too small to hold a spine")
    _progress(progress, "working grid", 0.0)
    grid = to_working_grid(hu, ct.spacing_mm)
    work = grid.hu
    np.minimum(work, METAL_HU, out=work)  # metal: keep it as very dense, never brighter
    sp = grid.spacing_mm
    timings["grid_s"] = time.perf_counter() - t0
    _progress(progress, "spine axis", 0.15)
    body_mask = patient_mask(work)
    axis = find_axis(work, body_mask, sp)
    del body_mask
    timings["axis_s"] = time.perf_counter() - t0
    _progress(progress, "discs", 0.4)
    nz = work.shape[2]
    curve = build_curve(axis.body, sp, (0, nz - 1))
    planes, prof, (lo, hi) = find_discs(work, sp, curve)
    z_lo = int(np.clip(np.floor(curve.points_mm[lo, 2] / sp[2]), 0, nz - 1))
    z_hi = int(np.clip(np.ceil(curve.points_mm[hi, 2] / sp[2]), 0, nz - 1))
    timings["discs_s"] = time.perf_counter() - t0
    _progress(progress, "vertebrae", 0.55)
    seg = segment_vertebrae(work, sp, axis, planes, (z_lo, z_hi))
    voxel_ml = float(np.prod(sp)) / 1000.0
    body_ml = {s: float((seg.bodies == s).sum()) * voxel_ml for s in range(1, seg.n + 1)}
    present = [s for s in range(1, seg.n + 1) if body_ml[s] >= MIN_BODY_ML]
    if present and all(body_ml[s] > MAX_BODY_ML for s in present):  # (a large sacrum beside vertebrae is kept)
        present = []
    if not present:
        largest = max(body_ml.values(), default=0.0)
        why = (f" (the bone column found holds {largest:.0f} ml, more than any vertebral body)"
               if largest > MAX_BODY_ML else "")
        raise SpinebqError(f"{ct.metadata.get('source', 'the CT')}: no spine found{why}; is the spine in the field of view?")
    for s in range(1, seg.n + 1):
        if s not in present:
            seg.bodies[seg.bodies == s] = 0
            seg.whole[seg.whole == s] = 0
    timings["vertebrae_s"] = time.perf_counter() - t0
    _progress(progress, "naming", 0.75)
    cut = {}
    for s in present:
        ks = np.flatnonzero((seg.whole == s).any(axis=(0, 1)))
        if ks[0] == 0 or ks[-1] == nz - 1:
            cut[s] = "cut by the field of view (touches the first or last slice)"
        elif (s == present[-1] and s == seg.n) or (s == present[0] and s == 1):
            cut[s] = "no disc found on one side: may be incomplete"
    landmarks = labelling.Landmarks()
    for s in present:
        frac = labelling.sacral_side_fraction(work, sp, seg.bodies, s, axis.canal_front)
        landmarks.sacral_fraction[s] = round(frac, 3)
        if frac >= labelling.SACRAL_SIDE_FRACTION:
            landmarks.sacral.append(s)
    canal_x = np.where(np.isfinite(axis.canal_centre[:, 0]), axis.canal_centre[:, 0], axis.body[:, 0])
    fov_cut = {s for s, reason in cut.items() if reason.startswith("cut by the field")}
    landmarks.lateral = lateral_bones(work, sp, seg.whole, canal_x, present, fov_cut)
    landmarks.rib_count = {s: sum(b.kind is LateralProcess.RIB for b in sides.values())
                           for s, sides in landmarks.lateral.items()}
    landmarks.rib_bearing = sorted(s for s, c in landmarks.rib_count.items() if c > 0)
    # the sacrum below the lowest lumbar vertebra is one segment; the sacral "cut" is expected
    naming = labelling.name_segments(present, landmarks, {s: r for s, r in cut.items()})
    if level_at:
        for point_mm, name in level_at.items():
            seg_id = _segment_at(seg.whole, grid, ct, point_mm)
            name = str(name).upper()
            if seg_id is None:
                raise OptionError("level_at", f"{name}: no vertebra within 15 mm of the point {tuple(point_mm)} mm")
            naming = labelling.relabel_at(naming, present, seg_id, name)
            break
    timings["naming_s"] = time.perf_counter() - t0
    return CountedVertebrae(grid, axis, planes, seg, present, landmarks, naming, timings)


def segment_ct(ct: Volume, *, level_at: dict | None = None, progress: Callable | None = None) -> SegmentationResult:
    """Segment and name the vertebrae of a CT with image analysis only (no model, no download).

    Parameters
    ----------
    ct : Volume
        CT in HU, canonical orientation (as :func:`spinebq.io.volume.load_volume` returns it).
    level_at : dict, optional
        ``{(x_mm, y_mm, z_mm): "L3"}`` in patient LPS mm: the vertebra at that point is named so and
        the others follow in order.
    progress : callable, optional
        Called as ``progress(step: str, fraction: float)``.

    Returns
    -------
    SegmentationResult

    Raises
    ------
    SpinebqError
        When no spine can be found in the image.
    OptionError
        When ``level_at`` names no vertebra, or its point lies in none.
    """
    t0 = time.perf_counter()
    counted = count_vertebrae(ct, level_at=level_at, progress=progress)
    grid, axis, planes, seg, present = counted.grid, counted.axis, counted.planes, counted.segments, counted.present
    landmarks, naming, timings = counted.landmarks, counted.naming, counted.timings
    work, sp = grid.hu, grid.spacing_mm
    _progress(progress, "sub-regions", 0.85)
    thoracic = [s for s, name in naming.names.items() if name.startswith("T")]
    if thoracic:
        trim_thoracic(seg.whole, thoracic, axis, sp)
    sub = split_subregions(work, sp, seg.bodies, seg.whole, axis)
    lut = counted.level_ids()
    ids_work = lut[seg.whole]
    sub[(ids_work == 0) & (sub != 5)] = 0
    vertebrae_native = to_native(ids_work, grid)
    sub_native = to_native(sub, grid)
    del ids_work, sub
    _progress(progress, "body surfaces", 0.9)
    named = np.zeros(seg.n + 1, bool)
    named[[s for s in naming.names]] = True
    refined = refine_bodies(ct.array, ct.spacing_mm, grid, np.where(named[seg.bodies], seg.bodies, 0),
                            lambda s, box: seg.body_zone[box] & (seg.index[box] == s - 1) & np.isin(seg.bodies[box], (0, s)))
    for s, (box, mask, _threshold) in refined.items():
        vid = lut[s]
        v_box, s_box = vertebrae_native[box], sub_native[box]
        old = (v_box == vid) & (s_box == 1)
        v_box[old & ~mask] = 0
        s_box[old & ~mask] = 0
        v_box[mask] = vid
        s_box[mask] = 1
    filled = fill_marrow(vertebrae_native, ct.spacing_mm, keep_out=sub_native == CANAL)
    # the marrow filled in joins the nearest pedicle or arch sub-region of its vertebra, never the body
    for box in ndimage.find_objects(np.where(filled, vertebrae_native, 0)):
        if box is None:
            continue
        box = tuple(slice(max(0, b.start - 8), min(n, b.stop + 8)) for b, n in zip(box, filled.shape))
        s_box = sub_native[box]
        posterior = np.isin(s_box, (PEDICLE_LEFT, PEDICLE_RIGHT, ARCH))
        if not posterior.any():
            continue
        _, nearest = ndimage.distance_transform_edt(~posterior, return_indices=True)
        s_box[filled[box]] = s_box[tuple(index[filled[box]] for index in nearest)]
    timings["surfaces_s"] = time.perf_counter() - t0
    vertebrae = LabelMap(vertebrae_native, ct.affine.copy(), {"segmenter": "builtin"}, content=LabelContent.WHOLE,
                         scheme=LabelScheme.VERSE, source=ct.metadata.get("source"))
    subregions = ct.with_array(sub_native)
    subregions.metadata = {"source": ct.metadata.get("source"), "content": "subregions", "names": SUBREGION_NAMES}
    timings["total_s"] = time.perf_counter() - t0
    native_ml = ct.voxel_volume_ml
    native_counts = _label_counts(vertebrae_native, seg.whole, grid, lut)
    levels = {}
    for s in present:
        name = naming.names.get(s)
        if name is None:
            continue
        box, mask, threshold = refined[s]
        centre_native = np.argwhere(mask).mean(axis=0) + [b.start for b in box]
        levels[name] = {
            "verse_id": VERSE_IDS[name],
            "confidence": naming.confidence.get(s, 0.0),
            "qc": naming.flags.get(s, []),
            "centroid_mm": [round(float(v), 1) for v in ct.index_to_mm(centre_native)],
            "body_volume_ml": round(float(mask.sum()) * native_ml, 2),
            "vertebra_volume_ml": round(float(native_counts.get(VERSE_IDS[name], 0)) * native_ml, 2),
            "body_surface_hu": round(threshold, 1),
            "sacral_side_fraction": landmarks.sacral_fraction.get(s),
            "ribs": landmarks.rib_count.get(s, 0),
            "lateral_processes": {side.value: bone.to_dict() for side, bone in landmarks.lateral.get(s, {}).items()},
        }
    levels = {n: levels[n] for n in sort_levels(levels)}
    info = {
        "segmenter": "builtin",
        "method": naming.method,
        "qc": naming.global_flags,
        "landmarks": {"sacrum": [naming.names.get(s) for s in landmarks.sacral if s in naming.names],
                      "rib_bearing": [naming.names.get(s) for s in landmarks.rib_bearing if s in naming.names]},
        "discs": len(planes),
        "working_spacing_mm": [round(s, 3) for s in sp],
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    _progress(progress, "done", 1.0)
    return SegmentationResult(vertebrae=vertebrae, subregions=subregions, levels=levels, info=info)


def _label_counts(native: np.ndarray, whole: np.ndarray, grid, lut: np.ndarray) -> dict[int, int]:
    """Voxel count of every label of the native map, counted within each segment's box only."""
    counts = {}
    for s, box in enumerate(ndimage.find_objects(whole), start=1):
        if box is None or lut[s] == 0:
            continue
        native_box = tuple(slice(max(0, (b.start - 2) * f), min(n, (b.stop + 2) * f))
                           for b, f, n in zip(box, grid.factors, native.shape))
        counts[int(lut[s])] = int(np.count_nonzero(native[native_box] == lut[s]))
    return counts


def _segment_at(whole: np.ndarray, grid, ct: Volume, point_mm) -> int | None:
    native = ct.mm_to_index(np.asarray(point_mm, float))
    work = (native + 0.5) / np.array(grid.factors) - 0.5
    ijk = np.round(work).astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.array(whole.shape)):
        return None
    r = [int(np.ceil(15.0 / s)) for s in grid.spacing_mm]
    sl = tuple(slice(max(0, c - n), c + n + 1) for c, n in zip(ijk, r))
    box = whole[sl]
    if not box.any():
        return None
    pts = np.argwhere(box > 0)
    offs = np.array([s.start for s in sl])
    d = np.linalg.norm((pts + offs - ijk) * np.array(grid.spacing_mm), axis=1)
    i = int(np.argmin(d))
    if d[i] > 15.0:
        return None
    return int(box[tuple(pts[i])])


#: The segmenters :func:`run_segmenter` knows: the built-in image analysis and the optional TotalSegmentator adapter.
SEGMENTERS = Segmenter.values()


def run_segmenter(ct: Volume, *, segmenter: str | Segmenter = Segmenter.BUILTIN, level_at: dict | None = None,
                  progress: Callable | None = None) -> SegmentationResult:
    """Segment and name the vertebrae of ``ct`` with the chosen segmenter.

    Parameters
    ----------
    ct : Volume
        CT in HU, canonical orientation.
    segmenter : str
        ``"builtin"`` (:func:`segment_ct`) or ``"totalsegmentator"`` (only when installed with its weights;
        nothing is downloaded).
    level_at : dict, optional
        Level points for the built-in segmenter (see :func:`segment_ct`); TotalSegmentator names the levels itself.
    progress : callable, optional
        Called as ``progress(step: str, fraction: float)`` by the built-in segmenter.

    Raises
    ------
    OptionError
        ``segmenter`` is unknown or TotalSegmentator cannot run here; ``level_at`` names no vertebra.
    """
    if segmenter not in SEGMENTERS:
        raise OptionError("segmenter", f"{segmenter!r} is not one of {', '.join(SEGMENTERS)}")
    if segmenter == Segmenter.TOTALSEGMENTATOR:
        from spinebq.segment.totalsegmentator import segment_with_totalsegmentator

        return result_from_labels(ct, segment_with_totalsegmentator(ct), segmenter="totalsegmentator")
    return segment_ct(ct, level_at=level_at or None, progress=progress)
