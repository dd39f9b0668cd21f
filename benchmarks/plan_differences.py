"""Why the plans made without labels differ from TotalSegmentator v2's at L5 and S1 on the real CT (issue 19).

Prints, for no labels (the built-in segmentation) and TotalSegmentator v2: each level's own-frame turn about the
spine's axis (the posterior axis's angle towards the patient's left, degrees), and the centroid of its posterior
elements left of the body centroid; the L5 pedicles' isthmus (centre, width x height) and the traditional plans; then,
along TotalSegmentator's two S1 screws, how many mm lie in the built-in L5 label, in the built-in S1 label and in the
bone the image shows next to the built-in S1 label (:func:`~spinebq.measure.ct.trajectory.bone_in_image`); last, each
source's S1 plans read by S1's breach test (:func:`~spinebq.measure.ct.trajectory.sacral_outside_fractions`: the
medial wall, the lateral wall and the whole screw past the head's seat outside the bone near each source's S1 label,
the tip in it) and, for comparison, by the lumbar test (the part behind the built-in S1 body outside that bone, and
how much of that lies in the screw's last 10 mm, and the median distance of those points from the entry).

    python benchmarks/plan_differences.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.measure.ct.sampling import sample_mask
from spinebq.measure.ct.sampling import cylinder_points
from spinebq.measure.ct.trajectory import HEAD_SEAT_MM, bone_in_image, sacral_outside_fractions
from spinebq.pipeline import CtOptions, analyse_ct

TS = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_example"
LUMBAR = ("L1", "L2", "L3", "L4", "L5")


def main() -> None:
    ct_path = str(TS / "ct.nii.gz")
    records = {"no labels": analyse_ct(ct_path, None, CtOptions(threads=1)),
               "TotalSegmentator v2": analyse_ct(ct_path, str(TS / "seg_v2" / "total.nii.gz"), CtOptions(threads=1))}
    print("| level | source | own frame turned to the left, deg | posterior elements left of the body centre, mm |")
    print("|---|---|---|---|")
    for level in LUMBAR:
        for name, record in records.items():
            images = record.images
            frame = images.regional.frames[level]
            yaw = np.degrees(np.arctan2(frame.posterior[0], frame.posterior[1]))
            vid = VERSE_IDS[level]
            rest = (images.labels.array == vid) & (images.result.bodies != vid)
            offset = (np.argwhere(rest).mean(axis=0) @ images.ct.affine[:3, :3].T + images.ct.affine[:3, 3]
                      - frame.centre_mm)[0]
            print(f"| {level} | {name} | {yaw:.1f} | {offset:.1f} |")
    print()
    print("| side | source | L5 isthmus centre (LPS mm) | width x height mm | plan |")
    print("|---|---|---|---|---|")
    for side in ("left", "right"):
        for name, record in records.items():
            pedicle = record.level("L5").to_json()["pedicles"][side]
            plan = record.level("L5").trajectories[side]
            centre = ", ".join(f"{v:.1f}" for v in pedicle["isthmus_mm"])
            print(f"| {side} | {name} | {centre} | {pedicle['isthmus_width_mm']:.1f} x {pedicle['isthmus_height_mm']:.0f} | "
                  f"{plan.diameter_mm:g}x{plan.length_mm:.0f} at {plan.medial_angle_deg:.0f} deg |")
    print()
    builtin = records["no labels"].images
    ct = builtin.ct
    s1 = builtin.labels.array == VERSE_IDS["S1"]
    l5 = builtin.labels.array == VERSE_IDS["L5"]
    bone = bone_in_image(ct.array, ct.affine, s1, ct.affine)
    print("| TotalSegmentator v2 S1 screw | d x L mm | mm in built-in L5 | in built-in S1 | in bone near built-in S1 | "
          "built-in plan |")
    print("|---|---|---|---|---|---|")
    for side in ("left", "right"):
        screw = records["TotalSegmentator v2"].level("S1").trajectories[side]
        entry, target = np.asarray(screw.entry_mm), np.asarray(screw.target_mm)
        t = np.arange(0.0, 1.0 + 1e-9, 0.5 / screw.length_mm)  # every 0.5 mm
        points = entry + t[:, None] * (target - entry)
        mm = [float(sample_mask(m, ct.affine, points).sum()) * 0.5 for m in (l5, s1, bone)]
        own = records["no labels"].level("S1").trajectories[side]
        print(f"| {side} | {screw.diameter_mm:g}x{screw.length_mm:.0f} | {mm[0]:.1f} | {mm[1]:.1f} | {mm[2]:.1f} | "
              f"{own.diameter_mm:g}x{own.length_mm:.0f} at {own.medial_angle_deg:.0f} deg |")
    print()
    body = builtin.result.bodies == VERSE_IDS["S1"]
    bones = {name: bone_in_image(ct.array, ct.affine, record.images.labels.array == VERSE_IDS["S1"], ct.affine)
             for name, record in records.items()}
    print("| S1 plan | side | d x L mm, medial | bone near the S1 label of | medial wall out | lateral wall out | "
          "screw out | tip in bone | cranial / caudal side out (not tested alone) | behind the built-in body out "
          "(lumbar test) | of it in the last 10 mm | its median distance from the entry, mm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, record in records.items():
        regional = record.images.regional
        frame = regional.pedicles["S1"].frame if "S1" in regional.pedicles else regional.frames["S1"]
        for side in ("left", "right"):
            screw = regional.screws[("S1", side, "sacral")]
            plan = record.level("S1").trajectories[side]
            for bone_name, bone in bones.items():
                parts = sacral_outside_fractions(screw, bone, ct.affine, frame)
                points, t, _ = cylinder_points(screw.entry_mm, screw.target_mm, screw.diameter_mm / 2, up=frame.superior)
                behind = (t >= HEAD_SEAT_MM) & ~sample_mask(body, ct.affine, points)
                out = behind & ~sample_mask(bone, ct.affine, points)
                lumbar = out.sum() / max(behind.sum(), 1)
                near_tip = (out & (t > screw.length_mm - 10.0)).sum() / max(out.sum(), 1)
                print(f"| {name} | {side} | {plan.diameter_mm:g}x{plan.length_mm:.0f}, {plan.medial_angle_deg:.0f} deg | "
                      f"{bone_name} | {parts['medial_wall']:.1%} | {parts['lateral_wall']:.1%} | {parts['screw']:.1%} | "
                      f"{'yes' if parts['tip'] == 0 else 'no'} | {parts['cranial_side']:.1%} / {parts['caudal_side']:.1%} | "
                      f"{lumbar:.1%} | {near_tip:.0%} | {np.median(t[out]) if out.any() else float('nan'):.0f} |")


if __name__ == "__main__":
    main()
