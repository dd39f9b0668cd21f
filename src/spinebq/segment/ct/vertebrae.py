"""Vertebral bodies between the disc planes, grown into their posterior elements.

* Bone-edge material (HU above :data:`~spinebq.segment.ct.bone.BONE_EDGE_HU`, filled per axial slice
  because an osteoporotic body's core can be as dark as soft tissue) in front of the spinal canal
  and near the body curve is the body column.
* The disc planes cut the column into bodies; each keeps its largest piece after a light opening.
* A watershed on the HU image, seeded with the bodies and confined to bone near the canal, gives
  every pedicle, lamina and process to the body it is attached to; the joint gaps between facets
  and the discs are where the floods meet. Beside and behind the canal, where the facet columns are and
  coarse voxels hide the joint, each bone voxel goes to the vertebra nearest through the bone instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.measure import label as label_regions
from skimage.segmentation import watershed

from spinebq.segment.ct.bone import BONE_EDGE_HU, ball, fill_holes_2d, fill_holes_axial
from spinebq.segment.ct.canal import SpineAxis
from spinebq.segment.ct.discs import DiscPlane

#: Largest distance (mm) from the body curve, left-right, of a vertebral body voxel.
BODY_HALF_WIDTH_MM = 34.0
#: Largest distance (mm) in front of the body curve of a vertebral body voxel.
BODY_FRONT_MM = 34.0
#: Half-width (mm) of the box around the canal that holds a vertebra's posterior elements.
ARCH_HALF_WIDTH_MM = 48.0
#: How far (mm) behind the canal front posterior elements reach (spinous process tips).
ARCH_DEPTH_MM = 75.0
#: Half-width (mm) of a thoracic vertebra around its canal: beyond it lie the ribs (short transverse processes).
THORACIC_HALF_WIDTH_MM = 35.0
#: Bone this far (mm) below the lowest disc plane seeds the lowest segment.
LOWEST_SEED_DEPTH_MM = 15.0
#: Fractions of a body's height (from its lower end) between which its ring around the canal seeds its arch.
ARCH_SEED_HEIGHTS = (0.45, 0.75)
#: Radius (mm) around the canal centre of the arch seeds (pedicles and laminae, not the processes).
ARCH_SEED_RADIUS_MM = 22.0
#: Distances (mm) beside the canal centre between which a facet column lies, behind the canal centre: beyond the laminae
#: and the spinous process, within the pedicles' reach (the transverse processes run on beyond it).
FACET_ZONE_MM = (10.0, 26.0)
#: Largest axial hole (mm^2) of a vertebra's label filled as bone: a pedicle's or process's marrow core darker than
#: BONE_EDGE_HU (its cross-section is 0.5-1 cm^2), never the spinal canal (1.5-2.5 cm^2; stenotic below 1 cm^2) [M].
MAX_AXIAL_HOLE_MM2 = 60.0


@dataclass
class Segments:
    """Working-grid segmentation before naming.

    Attributes
    ----------
    bodies : numpy.ndarray
        int16, 1..n per segment caudal to cranial (0 background).
    whole : numpy.ndarray
        int16, same ids, whole vertebrae (body and posterior elements).
    n : int
        Number of segments.
    body_zone : numpy.ndarray
        bool, where a vertebral body may lie (in front of the canal, near the body curve).
    index : numpy.ndarray
        int16, number of disc planes below each voxel (segment id - 1 between two discs).
    """

    bodies: np.ndarray
    whole: np.ndarray
    n: int
    body_zone: np.ndarray | None = None
    index: np.ndarray | None = None


def _grid_mm(shape, spacing_mm):
    return [np.arange(n, dtype=np.float32)[tuple(slice(None) if a == i else None for a in range(3))] * s
            for i, (n, s) in enumerate(zip(shape, spacing_mm))]


def _largest_piece_per_label(labels: np.ndarray, n: int) -> np.ndarray:
    """Mask of the largest connected piece of each label 1..n of ``labels`` (one labelling pass)."""
    pieces = label_regions(labels, background=0, connectivity=1)
    sizes = np.bincount(pieces.ravel())
    owner = np.zeros(len(sizes), np.int64)
    owner[pieces.ravel()[np.flatnonzero(pieces.ravel())]] = labels.ravel()[np.flatnonzero(pieces.ravel())]
    best = np.zeros(n + 2, np.int64)
    best_size = np.zeros(n + 2, np.int64)
    for piece in range(1, len(sizes)):
        label = owner[piece]
        if sizes[piece] > best_size[label]:
            best[label], best_size[label] = piece, sizes[piece]
    keep = np.zeros(len(sizes), bool)
    keep[best[best > 0]] = True
    return keep[pieces]


def segment_index(shape, spacing_mm, planes: list[DiscPlane]) -> np.ndarray:
    """For every voxel, the number of disc planes it lies above (0 = below the lowest disc)."""
    x, y, z = _grid_mm(shape, spacing_mm)
    index = np.zeros(shape, dtype=np.int16)
    for p in planes:
        d = (x - p.centre_mm[0]) * p.normal[0] + (y - p.centre_mm[1]) * p.normal[1] + (z - p.centre_mm[2]) * p.normal[2]
        index += (d > 0).astype(np.int16)
    return index


def arch_seeds(region: np.ndarray, bodies: np.ndarray, axis: SpineAxis, spacing_mm) -> np.ndarray:
    """Seeds of each vertebra's bony ring: bone around the canal at the height of its pedicles.

    The pedicles leave the body in its upper half, and there the ring around the canal (pedicles,
    laminae) belongs to that vertebra alone; lower down the laminae and processes of the vertebra
    above overlap it (the spinous process of T12 hangs over L1). Seeding the ring as well as the
    body lets the watershed split the posterior elements at the joints between them instead of
    giving them to whichever body reaches them first.
    """
    sx, sy, sz = spacing_mm
    nx, ny, nz = region.shape
    xs = np.arange(nx)[:, None]
    ys = np.arange(ny)[None, :]
    seeds = np.zeros(bodies.shape, np.int16)
    for label, box in enumerate(ndimage.find_objects(bodies), start=1):
        if box is None or box[2].stop - box[2].start < 3:
            continue
        k_first, k_last = box[2].start, box[2].stop - 1
        lo = int(np.ceil(k_first + ARCH_SEED_HEIGHTS[0] * (k_last - k_first)))
        hi = int(np.floor(k_first + ARCH_SEED_HEIGHTS[1] * (k_last - k_first)))
        for k in range(lo, hi + 1):
            if not np.isfinite(axis.canal_front[k]):
                continue
            cx, cy = axis.canal_centre[k]
            near = ((xs - cx) * sx) ** 2 + ((ys - cy) * sy) ** 2 <= ARCH_SEED_RADIUS_MM**2
            seed = region[:, :, k] & near & (ys >= axis.canal_front[k]) & (bodies[:, :, k] == 0)
            seeds[:, :, k][seed] = label
    return seeds


def segment_vertebrae(hu: np.ndarray, spacing_mm, axis: SpineAxis, planes: list[DiscPlane],
                      z_range: tuple[int, int]) -> Segments:
    """Bodies and whole vertebrae on the working grid; segment ids count up from the caudal end.

    Parameters
    ----------
    hu : numpy.ndarray
        Working-grid HU.
    spacing_mm : sequence of float
        Working voxel size, mm.
    axis : SpineAxis
        Output of :func:`spinebq.segment.ct.canal.find_axis`.
    planes : list of DiscPlane
        Discs, caudal to cranial.
    z_range : tuple of int
        First and last axial slice holding the spine.
    """
    sx, sy, sz = spacing_mm
    nx, ny, nz = hu.shape
    k0, k1 = z_range
    xs = np.arange(nx)[:, None]
    ys = np.arange(ny)[None, :]
    bone = hu > BONE_EDGE_HU
    filled = fill_holes_axial(bone)
    zone = np.zeros(hu.shape, bool)
    arch_zone = np.zeros(hu.shape, bool)
    for k in range(k0, k1 + 1):
        bx, by = axis.body[k]
        front = axis.canal_front[k] if np.isfinite(axis.canal_front[k]) else by + 15.0 / sy
        cx = axis.canal_centre[k, 0] if np.isfinite(axis.canal_centre[k, 0]) else bx
        zone[:, :, k] = (np.abs(xs - bx) * sx <= BODY_HALF_WIDTH_MM) & (ys >= by - BODY_FRONT_MM / sy) & (ys < front)
        arch_zone[:, :, k] = (np.abs(xs - cx) * sx <= ARCH_HALF_WIDTH_MM) & (ys >= by - BODY_FRONT_MM / sy) & (
            ys <= front + ARCH_DEPTH_MM / sy)
    column = filled & zone
    column = ndimage.binary_opening(column, structure=ball(2.0, spacing_mm))
    index = segment_index(hu.shape, spacing_mm, planes)
    n = len(planes) + 1
    # each segment keeps the largest connected piece of the column between its two discs
    split = np.where(column, index + 1, 0).astype(np.int16)
    bodies = np.where(_largest_piece_per_label(split, n), split, 0).astype(np.int16)
    del split
    # whole vertebrae: grow the bodies through bone near the canal
    region = bone & arch_zone
    region |= bodies > 0
    smooth = ndimage.gaussian_filter(hu, 0.6)
    markers = arch_seeds(region, bodies, axis, spacing_mm)
    if planes:
        # well below the lowest disc everything is the lowest segment (the sacrum when it is in view):
        # the alae must not be flooded from L5's transverse processes along their cortex
        x, y, z = _grid_mm(hu.shape, spacing_mm)
        p = planes[0]
        below = ((x - p.centre_mm[0]) * p.normal[0] + (y - p.centre_mm[1]) * p.normal[1]
                 + (z - p.centre_mm[2]) * p.normal[2]) < -LOWEST_SEED_DEPTH_MM
        markers[region & below & (markers == 0)] = 1
        del below
    markers[bodies > 0] = bodies[bodies > 0]
    whole = watershed(-smooth, markers=markers, mask=region).astype(np.int16)
    split_facet_columns(whole, markers, region, axis, spacing_mm)
    # keep only the part of each label connected to its body
    pieces = label_regions(whole, background=0, connectivity=1)
    keep = np.zeros(int(pieces.max()) + 1, bool)
    keep[np.unique(pieces[(bodies > 0) & (whole == bodies)])] = True
    keep[0] = True
    whole[~keep[pieces]] = 0
    del pieces
    return Segments(bodies=bodies, whole=whole, n=n, body_zone=zone, index=index)


def split_facet_columns(whole: np.ndarray, markers: np.ndarray, region: np.ndarray, axis: SpineAxis, spacing_mm) -> None:
    """Give, in place, each facet column's bone to the vertebra it grows from: split where the two processes meet.

    A facet column holds the lower vertebra's superior articular process and the upper one's inferior articular
    process, touching at the joint, which voxels of 2-3 mm rarely show as a gap. The watershed on the HU image then
    gives the column to whichever flood reaches it first: on the real CT the whole L4-L5 right column (L4's inferior
    articular process included) went to L5, and L5's pedicle was found in it. In the facet zone (between
    :data:`FACET_ZONE_MM` beside the canal centre, behind it) each bone voxel goes instead to the vertebra whose seeds
    (body and arch ring) are nearest through the bone, in voxel steps (a flood on a flat image): the upper vertebra's
    lamina reaches its inferior process before the lower vertebra's pedicle does, and the other way round.

    Parameters
    ----------
    whole : numpy.ndarray
        int16 watershed labels (changed in place).
    markers, region : numpy.ndarray
        The watershed's seeds and the bone it flooded.
    axis : SpineAxis
        Canal centre per axial slice.
    spacing_mm : sequence of float
        Working voxel size, mm.
    """
    sx, sy = float(spacing_mm[0]), float(spacing_mm[1])
    nx, ny, _ = whole.shape
    cx, cy = axis.canal_centre[:, 0], axis.canal_centre[:, 1]  # NaN where the canal is unknown: no zone there
    with np.errstate(invalid="ignore"):
        beside = np.abs(np.arange(nx, dtype=np.float32)[:, None, None] - cx[None, None, :]) * sx
        zone = (beside > FACET_ZONE_MM[0]) & (beside <= FACET_ZONE_MM[1]) & (
            np.arange(ny, dtype=np.float32)[None, :, None] >= cy[None, None, :])
    zone &= region
    if not zone.any():
        return
    nearest = watershed(np.zeros(whole.shape, np.float32), markers=markers, mask=region)
    whole[zone] = nearest[zone]


def trim_thoracic(whole: np.ndarray, segments: list[int], axis: SpineAxis, spacing_mm) -> None:
    """Clear, in place, the voxels of thoracic ``segments`` farther than :data:`THORACIC_HALF_WIDTH_MM` from the canal.

    A thoracic vertebra's transverse processes are short and its ribs articulate with them and with
    the body; at CT resolution the flood from the body runs on into the rib necks. Lumbar transverse
    processes reach 50 mm and are left alone.
    """
    sx = spacing_mm[0]
    xs = np.arange(whole.shape[0])[:, None]
    for label in segments:
        box = ndimage.find_objects((whole == label).astype(np.uint8))
        if not box or box[0] is None:
            continue
        for k in range(box[0][2].start, box[0][2].stop):
            cx = axis.canal_centre[k, 0] if np.isfinite(axis.canal_centre[k, 0]) else axis.body[k, 0]
            far = np.abs(xs - cx) * sx > THORACIC_HALF_WIDTH_MM
            plane = whole[:, :, k]
            plane[far & (plane == label)] = 0



def fill_marrow(labels: np.ndarray, spacing_mm, keep_out: np.ndarray | None = None) -> np.ndarray:
    """Give each vertebra of a label map, in place, the dark marrow its cortex encloses; the voxels filled.

    The posterior elements are grown through bone above :data:`~spinebq.segment.ct.bone.BONE_EDGE_HU` and the
    body's surface is moved to its cortex; a pedicle's marrow, and the pedicle's root where it joins the body,
    can be darker (on a 3 mm CT a pedicle is a ring of cortex about three voxels wide around a core of -50 to
    100 HU), which leaves holes in the label where the bone is. Holes of a label are filled on its sagittal and
    coronal planes (the canal is open there: the discs and the interlaminar gaps lie above and below it) and on
    axial planes up to :data:`MAX_AXIAL_HOLE_MM2` (the canal is a larger axial hole). Only unlabelled voxels
    outside ``keep_out`` are filled.
    """
    axial_cells = MAX_AXIAL_HOLE_MM2 / (float(spacing_mm[0]) * float(spacing_mm[1]))
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    added = np.zeros(labels.shape, bool)
    for label, box in enumerate(ndimage.find_objects(np.clip(labels, 0, None)), start=1):
        if box is None:
            continue
        box = tuple(slice(max(0, b.start - 1), min(n, b.stop + 1)) for b, n in zip(box, labels.shape))
        own = labels[box] == label
        filled = fill_holes_2d(fill_holes_2d(own, 0), 1)
        pieces, n = ndimage.label(fill_holes_2d(filled, 2) & ~filled, structure=in_plane)
        if n:
            small = np.bincount(pieces.ravel()) <= axial_cells
            small[0] = False
            filled |= small[pieces]
        new = filled & (labels[box] == 0)
        if keep_out is not None:
            new &= ~keep_out[box]
        labels[box][new] = label
        added[box] |= new
    return added
