"""How the built-in disc planes tilt on the real CT's lumbar crop at 3 mm and at 0.7 mm, against TotalSegmentator v2.

The crop of tests/test_resampled_ct.py (T12 to S1), no labels; the CT resampled by cubic B-spline to 0.7 mm (working
grid 2.1 mm). For every disc: the tilt of the plane (degrees between its normal and the image's superior axis, and
the part of it in the sagittal plane, positive when the plane's posterior edge is higher) and its height, for

* TotalSegmentator v2's bodies (``vertebrae_pp_refined``, S1 from ``total``): the mid-plane between the facing
  surfaces of the two bodies, fitted by least squares through the mid-points of the lower body's top voxel and the
  upper body's bottom voxel in every image column that holds both (at most 24 mm apart);
* the built-in fit (``segment.ct.discs.refine_plane``: the darkest plane on a 14 mm disc of samples);
* with ``--endplate-fit`` also a candidate fit tried for issue 19m and not kept: the mid-plane between the two
  endplates, fitted through the mid-points of the disc's two half-way HU crossings on rays along the body curve
  (:func:`endplate_plane`); ``--plans`` prints the no-labels screw plans with it at 3 mm and at 0.7 mm and L5's
  isthmuses (``--l4l5-tilt-deg``: with the L4-L5 plane put in at that tilt), ``--facets`` how the L4-L5 facet
  columns are split with either fit; ``--rounded`` the no-labels plans with the built-in fit on the 0.7 mm CT
  as it is and rounded to whole HU (int16, as a file stores it).

    python benchmarks/disc_tilts.py [--endplate-fit] [--plans [--l4l5-tilt-deg DEG]] [--facets] [--rounded]

Heights are mm in the 3 mm crop's voxel frame (index x 3 mm); the 0.7 mm and 2.1 mm grids are put into it.
About 15 s (2 min with --plans, 1 min with --facets).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from spinebq.constants import METAL_HU  # noqa: E402
from spinebq.image.resample import resample_volume  # noqa: E402
from spinebq.io.labels import load_labels  # noqa: E402
from spinebq.io.volume import load_volume  # noqa: E402
from spinebq.segment.ct import discs  # noqa: E402
from spinebq.segment.ct.bone import patient_mask, to_working_grid  # noqa: E402
from spinebq.segment.ct.canal import find_axis  # noqa: E402
from tests.test_resampled_ct import BOX  # noqa: E402

#: vertebrae_pp ids (T12 = 19 ... L5 = 24) and S1 (given 25 here), top to bottom.
BODY_NAMES = {19: "T12", 20: "L1", 21: "L2", 22: "L3", 23: "L4", 24: "L5", 25: "S1"}
#: Largest gap (mm) between the two bodies' facing voxels in one column that is read as the disc between them.
MAX_GAP_MM = 24.0


def tilts_deg(normal: np.ndarray) -> tuple[float, float]:
    """(total tilt, sagittal part) of a plane with unit ``normal``, degrees; the sagittal part is positive when the
    plane rises towards the back (axis 1 of the canonical grid points posterior)."""
    n = normal / np.linalg.norm(normal)
    n = -n if n[2] < 0 else n
    return float(np.degrees(np.arccos(n[2]))), float(np.degrees(np.arctan2(-n[1], n[2])))


def reference_planes(bodies: np.ndarray, spacing_mm: float) -> dict[str, tuple[float, np.ndarray]]:
    """``{"L4-L5": (height_mm, normal)}``: the mid-plane between each two neighbouring bodies' facing surfaces."""
    out = {}
    ids = sorted(BODY_NAMES)
    for upper_id, lower_id in zip(ids[:-1], ids[1:]):
        upper, lower = bodies == upper_id, bodies == lower_id
        if not upper.any() or not lower.any():
            continue
        bottom = np.where(upper.any(axis=2), np.argmax(upper, axis=2), -1).astype(float)
        top = np.where(lower.any(axis=2), lower.shape[2] - 1 - np.argmax(lower[:, :, ::-1], axis=2), -1).astype(float)
        both = (bottom >= 0) & (top >= 0) & (bottom > top) & ((bottom - top) * spacing_mm <= MAX_GAP_MM)
        x, y = np.nonzero(both)
        design = np.column_stack([x * spacing_mm, y * spacing_mm, np.ones(len(x))])
        coef = np.linalg.lstsq(design, 0.5 * (bottom[both] + top[both]) * spacing_mm, rcond=None)[0]
        normal = np.array([-coef[0], -coef[1], 1.0])
        out[f"{BODY_NAMES[upper_id]}-{BODY_NAMES[lower_id]}"] = (float(design.mean(axis=0) @ coef),
                                                                  normal / np.linalg.norm(normal))
    return out


def builtin_planes(ct, offset_mm: float) -> list[discs.DiscPlane]:
    """The built-in disc planes of ``ct``, caudal to cranial, centres moved by ``offset_mm`` into the 3 mm frame."""
    grid = to_working_grid(ct.array, ct.spacing_mm)
    work = np.minimum(grid.hu, METAL_HU)
    axis = find_axis(work, patient_mask(work), grid.spacing_mm)
    curve = discs.build_curve(axis.body, grid.spacing_mm, (0, work.shape[2] - 1))
    planes = discs.find_discs(work, grid.spacing_mm, curve)[0]
    for plane in planes:
        plane.centre_mm = plane.centre_mm + offset_mm
    return planes


def endplate_plane(hu, spacing_mm, curve, index, offsets, reach_mm=16.0, step_mm=0.5, search_mm=10.0,
                   endplate_mm=12.0, min_rise_hu=30.0) -> discs.DiscPlane:
    """Candidate disc fit (not kept): on rays along the curve, the mid-point of the disc's two faces (where the
    profile climbs half-way from its darkest point to the endplate above and below); a weighted plane through them,
    outlying rays dropped. Same signature as ``discs.refine_plane``."""
    t = curve.tangents[index]
    u, v = discs._basis(t)
    centre = curve.points_mm[index]
    s = np.arange(-reach_mm, reach_mm + 1e-9, step_mm)
    points = centre + offsets[:, None, :1] * u + offsets[:, None, 1:] * v + s[None, :, None] * t
    rays = ndimage.map_coordinates(hu, (points / np.asarray(spacing_mm)).reshape(-1, 3).T, order=1, mode="nearest")
    rays = ndimage.gaussian_filter1d(rays.reshape(len(offsets), len(s)), 1.0 / step_mm, axis=1, mode="nearest")
    reach = int(round(endplate_mm / step_mm))
    rows, mids, weights = [], [], []
    for r, ray in enumerate(rays):
        bottom = int(np.argmin(np.where(np.abs(s) <= search_mm, ray, np.inf)))
        crossings, rises = [], []
        for side in (ray[bottom:bottom + reach + 1], ray[max(0, bottom - reach):bottom + 1][::-1]):
            top = int(np.argmax(side))
            rise = float(side[top] - side[0])
            if top == 0 or rise < min_rise_hu:
                break
            half = side[0] + 0.5 * rise
            j = int(np.argmax(side[:top + 1] >= half))
            crossings.append((j - 1 + (half - side[j - 1]) / (side[j] - side[j - 1])) * step_mm)
            rises.append(rise)
        if len(crossings) == 2:
            rows.append(r)
            mids.append(s[bottom] + 0.5 * (crossings[0] - crossings[1]))
            weights.append(np.sqrt(min(rises)))
    normal, shift = t, 0.0
    if len(rows) >= 8:
        mids, weights = np.array(mids), np.array(weights)
        design = np.column_stack([np.ones(len(rows)), offsets[rows]])
        keep = np.ones(len(rows), bool)
        for _ in range(4):
            coef = np.linalg.lstsq(design[keep] * weights[keep, None], mids[keep] * weights[keep], rcond=None)[0]
            residual = np.abs(mids - design @ coef)
            keep = residual <= max(1.0, 2.5 * float(np.median(residual[keep])))
        if (np.degrees(np.arctan(np.abs(coef[1:]))) <= 35.0).all():
            shift, normal = float(coef[0]), t - coef[1] * u - coef[2] * v
            normal = normal / np.linalg.norm(normal)
    return discs.DiscPlane(centre_mm=centre + shift * t, normal=normal, s_mm=index * curve.step_mm + shift,
                           depth_hu=float("nan"), prominence_hu=0.0)


def _with_l4l5_tilt(tilt_deg: float):
    """The candidate fit, with the L4-L5 disc's normal set to ``tilt_deg`` in the sagittal plane (posterior edge
    higher), its left-right part kept."""
    def fit(hu, spacing_mm, curve, index, offsets):
        plane = endplate_plane(hu, spacing_mm, curve, index, offsets)
        height = plane.centre_mm[2] + (0.7 - 1.15 if spacing_mm[2] < 2.5 else 0.0)
        if 155.0 < height < 180.0:
            normal = np.array([plane.normal[0], -np.sin(np.radians(tilt_deg)), np.cos(np.radians(tilt_deg))])
            plane.normal = normal / np.linalg.norm(normal)
        return plane
    return fit


def _plans(images: dict) -> None:
    """No-labels plans on each of ``images`` (``{"3 mm": ct, ...}``), and L5's isthmuses."""
    from spinebq.pipeline import CtOptions, analyse_ct

    def plan(screw) -> str:
        if not screw.measured:
            return "no plan"
        return f"{screw.diameter_mm:g}x{screw.length_mm:.0f} at {screw.medial_angle_deg:.0f}"
    records = {name: analyse_ct(image, None, CtOptions(threads=1)) for name, image in images.items()}
    print("| level | " + " | ".join(f"no labels {name} left / right" for name in records) + " |")
    print("|---|" + "---|" * len(records))
    for level in ("L1", "L2", "L3", "L4", "L5", "S1"):
        screws = [r.level(level).trajectories for r in records.values()]
        cells = [" / ".join(plan(sides[side]) for side in ("left", "right")) for sides in screws]
        print(f"| {level} | " + " | ".join(cells) + " |")
    for grid_name, record in records.items():
        for side in ("left", "right"):
            pedicle = record.level("L5").to_json()["pedicles"][side]
            centre = ", ".join(f"{v:.1f}" for v in pedicle["isthmus_mm"])
            print(f"L5 {side}, {grid_name}: isthmus at ({centre}) LPS mm, {pedicle['isthmus_width_mm']:.1f} x "
                  f"{pedicle['isthmus_height_mm']:.0f} mm")


def _facet_columns(full, ct, fine) -> None:
    """TotalSegmentator v2's L4 bone in the L4-L5 facet columns (8-30 mm beside the L4 body's midline, more than
    8 mm behind its back) that the built-in segmentation labels L4 / L5, mm^3 per 3 mm band of LPS height."""
    from spinebq.image.labelmap import LabelMap
    from spinebq.image.resample import resample_labels
    from spinebq.segment.ct.core import segment_ct

    labels = load_labels(TS / "seg_v2" / "total.nii.gz", full)
    labels = LabelMap.of(labels.crop(BOX), content=labels.content)
    l4, l5 = 23, 24  # VERSE ids

    def lps(index, affine):
        return index @ affine[:3, :3].T + affine[:3, 3]
    l4_body = lps(np.argwhere(load_labels(TS / "seg_v2" / "vertebrae_pp_refined.nii.gz", full).crop(BOX).array == l4)
                  .astype(float), ct.affine)
    midline, back = l4_body[:, 0].mean(), l4_body[:, 1].max() + 8.0
    for grid_name, image, truth in (("3 mm", ct, labels), ("0.7 mm", fine, resample_labels(labels, 0.7))):
        builtin = segment_ct(image).vertebrae.array
        index = np.argwhere(truth.array == l4)
        points = lps(index.astype(float), image.affine)
        voxel_mm3 = float(np.prod(image.spacing_mm))
        for side, sign in (("right", -1.0), ("left", 1.0)):
            beside = sign * (points[:, 0] - midline)
            chosen = (beside > 8.0) & (beside < 30.0) & (points[:, 1] > back)
            z, given = points[chosen, 2], builtin[tuple(index[chosen].T)]
            bands = []
            for z0 in np.arange(np.floor(z.min() / 3.0) * 3.0, z.max(), 3.0)[:5]:
                band = (z >= z0) & (z < z0 + 3.0)
                mine, next_one = ((given[band] == vid).sum() * voxel_mm3 for vid in (l4, l5))
                bands.append(f"{z0:.0f}: {mine:.0f}/{next_one:.0f}")
            print(f"facet column {side}, {grid_name}, L4/L5 mm^3 by z band: " + ", ".join(bands))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endplate-fit", action="store_true", help="also the candidate endplate mid-plane fit")
    parser.add_argument("--plans", action="store_true", help="no-labels plans with the candidate fit")
    parser.add_argument("--l4l5-tilt-deg", type=float, default=None,
                        help="with --plans: the L4-L5 plane (155-180 mm high) set to this sagittal tilt on both grids")
    parser.add_argument("--rounded", action="store_true",
                        help="no-labels plans with the built-in fit on the 0.7 mm CT as float and rounded to int16")
    parser.add_argument("--facets", action="store_true",
                        help="the L4-L5 facet columns' split with the built-in fit and with the candidate fit")
    args = parser.parse_args()
    full = load_volume(TS / "ct.nii.gz")
    ct = full.crop(BOX)
    bodies = load_labels(TS / "seg_v2" / "vertebrae_pp_refined.nii.gz", full).crop(BOX).array.copy()
    bodies[(bodies == 0) & (load_labels(TS / "seg_v2" / "total.nii.gz", full).crop(BOX).array == 26)] = 25
    fine = resample_volume(ct, 0.7, order=3)
    # the 0.7 mm grid's first voxel centre lies 1.15 mm below the 3 mm one's; a 2.1 mm working voxel's centre is the
    # middle one of its three 0.7 mm voxels
    fits = {"darkest plane": discs.refine_plane}
    if args.endplate_fit or args.plans or args.facets:
        fits["endplate mid-plane"] = endplate_plane
    columns = {"TotalSegmentator v2": reference_planes(bodies, 3.0)}
    for fit_name, fit in fits.items():
        discs.refine_plane = fit
        for grid_name, image, offset in (("3 mm", ct, 0.0), ("0.7 mm", fine, 0.7 - 1.15)):
            planes = builtin_planes(image, offset)
            named = {}
            for name, (height, _) in columns["TotalSegmentator v2"].items():
                nearest = min(planes, key=lambda p: abs(p.centre_mm[2] - height))
                if abs(nearest.centre_mm[2] - height) <= 10.0:
                    named[name] = (float(nearest.centre_mm[2]), nearest.normal)
            columns[f"{fit_name}, {grid_name}"] = named
    if args.facets:
        for fit_name, fit in fits.items():
            print(fit_name)
            discs.refine_plane = fit
            _facet_columns(full, ct, fine)
        print()
    if args.plans:
        discs.refine_plane = endplate_plane if args.l4l5_tilt_deg is None else _with_l4l5_tilt(args.l4l5_tilt_deg)
        _plans({"3 mm": ct, "0.7 mm": fine})
        print()
    if args.rounded:
        discs.refine_plane = fits["darkest plane"]
        _plans({"0.7 mm": fine, "0.7 mm int16": fine.with_array(np.round(fine.array).astype(np.int16))})
        print()
    names = list(columns)
    print("| disc | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for disc in columns["TotalSegmentator v2"]:
        cells = []
        for name in names:
            if disc in columns[name]:
                height, normal = columns[name][disc]
                total, sagittal = tilts_deg(normal)
                cells.append(f"{total:.1f} ({sagittal:+.1f}) at {height:.0f}")
            else:
                cells.append("-")
        print(f"| {disc} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
