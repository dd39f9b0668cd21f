"""Time per exam and the per-exam VBQ / per-level signals / CSF values of `spinebq mri` on the four real T1 exams,
and the phantom's VBQ, PBQ and muscle fat (sagittal, and on axial stacks re-sliced from it, straight and tilted).

Run from the repository root: ``python benchmarks/bench_mri.py`` (reads ../shared/data/lumbar_mri_t1).
Prints a Markdown table (copied into benchmarks/mri.md).
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from spinebq.anatomy import VERSE_IDS
from spinebq.io.volume import load_volume
from spinebq.segment.mri import detect_vertebrae
from spinebq.io.mr_labels import load_mr_labels
from spinebq.measure.mri.measure import measure_mri
from spinebq.synthetic.mri import axial_series, make_mri_phantom

LEVELS_AUTO = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lumbar_mri_t1"


def main() -> None:
    warnings.simplefilter("ignore")
    t = time.perf_counter()
    image, labels, truth = make_mri_phantom()
    t_make = time.perf_counter() - t
    t = time.perf_counter()
    d = measure_mri(image, labels=labels).data
    t_ph = time.perf_counter() - t
    print(f"## Phantom (build {t_make:.1f} s, measure {t_ph:.1f} s)\n")
    print("| quantity | truth | measured | error |\n|---|---|---|---|")
    for key in ("vbq", "s1_vbq", "pbq"):
        print(f"| {key} | {truth[key]:.4f} | {d[key]:.4f} | {100 * (d[key] / truth[key] - 1):+.2f} % |")
    for disc, e in d["muscle"].items():
        t_ = truth["muscle"][disc]
        print(f"| FF {disc} L/R, Goutallier | {t_['fat_fraction_left']:.2f}/{t_['fat_fraction_right']:.2f}, {t_['goutallier']} "
              f"| {e['fat_fraction_left']:.3f}/{e['fat_fraction_right']:.3f}, {e['goutallier']} | |")
    print("\n## Phantom muscle fat on axial stacks (0.8 x 0.8 mm pixels, 4 mm slices)\n")
    print("| disc | truth FF L/R, Goutallier | axial 0 deg | axial 8 deg tilt |\n|---|---|---|---|")
    cells, times = {}, []
    for tilt in (0.0, 8.0):
        axial = axial_series(image, tilt_deg=tilt)
        t = time.perf_counter()
        muscle = measure_mri(image, labels=labels, axial=axial).data["muscle"]
        times.append(time.perf_counter() - t)
        for disc, e in muscle.items():
            cells.setdefault(disc, []).append(f"{e['fat_fraction_left']:.3f}/{e['fat_fraction_right']:.3f}, "
                                              f"{e['goutallier']} ({e['plane']})")
    for disc, measured in cells.items():
        t_ = truth["muscle"][disc]
        print(f"| {disc} | {t_['fat_fraction_left']:.2f}/{t_['fat_fraction_right']:.2f}, {t_['goutallier']} | "
              + " | ".join(measured) + " |")
    print(f"\nWhole measurement with the axial series: {times[0]:.1f} s (straight), {times[1]:.1f} s (tilted).")
    print("\n## Real exams with manual body masks\n")
    print("| exam | time s | VBQ | S1-VBQ | PBQ | CSF signal (level, voxels kept, roots left out, slice) | L1 | L2 | L3 | L4 "
          "| L5 | S1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows_auto, rows_muscle = [], []
    for case in ("02", "06", "08", "10"):
        img = load_volume(DATA / f"case{case}_t1.nii.gz")
        lab = load_mr_labels(DATA / f"case{case}_bodies_verse.nii.gz", img)
        t = time.perf_counter()
        d = measure_mri(img, labels=lab).data
        dt = time.perf_counter() - t
        c = d["csf"]
        sig = " | ".join(f"{d['levels'][lv]['body_signal']:.1f}" for lv in ("L1", "L2", "L3", "L4", "L5", "S1"))
        print(f"| case{case} | {dt:.1f} | {d['vbq']:.3f} | {d['s1_vbq']:.3f} | {d['pbq']:.3f} | "
              f"{c['signal']:.1f} ({c['level']}, {c['voxels']}, {c.get('root_voxels_left_out')}, {c['slice']}) | {sig} |")
        m = d["muscle_method"]
        grades = " | ".join(f"{e['fat_fraction_left']}/{e['fat_fraction_right']}, {e['goutallier']}"
                            for e in d["muscle"].values())
        rows_muscle.append(f"| case{case} | {m.get('signal_muscle')} | {m.get('signal_fat')} ({m.get('signal_fat_source')}) "
                           f"| {grades} |")
        t = time.perf_counter()
        try:
            auto, info = detect_vertebrae(img)
            dice = []
            for lv in LEVELS_AUTO:
                a, b = auto.array == VERSE_IDS[lv], lab.array == VERSE_IDS[lv]
                dice.append(f"{2 * (a & b).sum() / (a.sum() + b.sum()):.3f}" if a.any() else "not found")
            da = measure_mri(img, labels=auto, measure_muscle=False).data
            scores = f"{da['vbq']:.3f} / {d['vbq']:.3f} | {da['s1_vbq']:.3f} / {d['s1_vbq']:.3f}"
        except Exception as exc:  # noqa: BLE001 - reported in the table
            dice, scores = None, f"error: {exc}"[:80]
        rows_auto.append((case, time.perf_counter() - t, dice, scores))
    print("\n## Paraspinal muscle fat, sagittal approximation (manual masks)\n")
    print("| exam | SI muscle | SI fat (source) | L1/L2 FF L/R, grade | L2/L3 | L3/L4 | L4/L5 | L5/S1 |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows_muscle))
    print("\n## Automatic mode (no masks) against the manual masks\n")
    print("| exam | time s | " + " | ".join(f"Dice {lv}" for lv in LEVELS_AUTO) + " | VBQ auto / masks | S1-VBQ auto / masks |")
    print("|---" * (len(LEVELS_AUTO) + 4) + "|")
    for case, dt, dice, scores in rows_auto:
        ds = " | ".join(dice or ["-"] * len(LEVELS_AUTO))
        print(f"| case{case} | {dt:.1f} | {ds} | {scores} |")


if __name__ == "__main__":
    main()
