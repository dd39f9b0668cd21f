"""Benchmark of ``spinebq segment`` (builtin): time and peak memory, and per-level Dice on the real CT.

Run: ``python benchmarks/bench_segment.py`` (uses ../shared/data when present). Each case runs in a
fresh subprocess so that peak resident memory (ru_maxrss) belongs to that case alone. The
512 x 512 x 400 CT is the real example CT interpolated to 0.78 x 0.78 x 0.84 mm (same anatomy).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_example"

CHILD = r"""
import json, resource, sys, time
import numpy as np
from scipy import ndimage
from spinebq.io.volume import Volume, load_volume
from spinebq.segment.core import segment_ct
case, path = sys.argv[1], sys.argv[2]
ct = load_volume(path)
if case == "large":
    zoom = [512 / ct.shape[0], 512 / ct.shape[1], 400 / ct.shape[2]]
    arr = ndimage.zoom(ct.array, zoom, order=1).astype(np.float32)
    aff = ct.affine.copy()
    aff[:3, :3] = aff[:3, :3] / np.array(zoom)[None, :]
    ct = Volume(arr, aff, {})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
r = segment_ct(ct)
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {"case": case, "shape": list(ct.shape), "spacing_mm": [round(s, 3) for s in ct.spacing_mm],
       "seconds": round(dt, 2), "peak_rss_gb": round(peak / 2**20, 2), "rss_before_gb": round(base / 2**20, 2),
       "levels": list(r.levels), "timings_s": r.info["timings_s"]}
if case == "real":
    from spinebq.io.labels import load_labels
    from spinebq.io.nifti import load_nifti
    d = sys.argv[3]
    total = load_labels(d + "/seg_v2/total.nii.gz", ct, scheme="total").array
    v1 = load_labels(d + "/seg_v1", ct).array
    bodies = load_nifti(d + "/seg_v2/vertebrae_body.nii.gz", dtype=None).array == 1
    v, s = r.vertebrae.array, r.subregions.array
    dice = lambda a, b: round(float(2 * (a & b).sum() / max(1, a.sum() + b.sum())), 3)
    ids = {"T12": 19, "L1": 20, "L2": 21, "L3": 22, "L4": 23, "L5": 24}
    out["dice"] = {n: {"body": dice((v == i) & (s == 1), (total == i) & bodies), "whole": dice(v == i, v1 == i),
                       "confidence": r.levels.get(n, {}).get("confidence")} for n, i in ids.items()}
print(json.dumps(out))
"""


def run(case: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    cmd = [sys.executable, "-c", CHILD, case, str(DATA / "ct.nii.gz"), str(DATA)]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0,1"] + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    if not (DATA / "ct.nii.gz").exists():
        print(f"no data at {DATA}; nothing to benchmark")
        return
    for case in ("real", "large"):
        r = run(case)
        print(f"{case}: shape {r['shape']} spacing {r['spacing_mm']} mm: {r['seconds']} s, "
              f"peak RSS {r['peak_rss_gb']} GB (before segmentation {r['rss_before_gb']} GB), levels {r['levels']}")
        print(f"  steps (cumulative s): {r['timings_s']}")
        if "dice" in r:
            print("  | level | body Dice vs TS v2 | whole Dice vs TS v1 | confidence |")
            print("  |---|---|---|---|")
            for n, d in r["dice"].items():
                print(f"  | {n} | {d['body']:.3f} | {d['whole']:.3f} | {d['confidence']} |")


if __name__ == "__main__":
    main()
