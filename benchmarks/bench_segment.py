"""Benchmark of ``spinebq segment`` (builtin): time and peak memory, per-level Dice, phantom truth, HU agreement.

Run: ``python benchmarks/bench_segment.py`` (uses ../shared/data when present). Each case runs in a
fresh subprocess pinned to two cores so that peak resident memory (ru_maxrss) belongs to that case
alone; wall time and CPU time (user + system of the process) are both printed, because on a machine
shared with other jobs the wall time grows with their load. The 512 x 512 x 400 CT is the real
example CT interpolated to 0.72 x 0.59 x 0.84 mm (same anatomy).

Cases:

* ``real``: the TotalSegmentator example CT (3 mm): per-level body Dice against TotalSegmentator's
  ``vertebrae_body`` within the level of ``seg_v2/total``, whole-vertebra Dice against ``seg_v1``.
* ``large``: the same CT at 512 x 512 x 400.
* ``phantom``: the synthetic phantom with known truth, plain, with noise, tilt, a screw and
  cancellous sacral alae: levels found and body Dice per level.
* ``ct_hu``: ``spinebq ct`` without labels (the built-in bodies) against ``spinebq ct`` with
  TotalSegmentator's labels (``seg_v2/total.nii.gz``, cut at the canal), per preset: ``hu_3d`` and
  ``hu_2d`` differences in HU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_example"
LEVELS = {"T12": 19, "L1": 20, "L2": 21, "L3": 22, "L4": 23, "L5": 24}

CHILD = r"""
import json, resource, sys, time
import numpy as np
from scipy import ndimage
from spinebq.image.volume import Volume
from spinebq.io.volume import load_volume
from spinebq.segment.ct.core import segment_ct
case, path, data = sys.argv[1], sys.argv[2], sys.argv[3]
ids = {"T12": 19, "L1": 20, "L2": 21, "L3": 22, "L4": 23, "L5": 24}
dice = lambda a, b: round(float(2 * (a & b).sum() / max(1, a.sum() + b.sum())), 3)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


out = {"case": case}
if case in ("real", "large"):
    ct = load_volume(path)
    if case == "large":
        zoom = [512 / ct.shape[0], 512 / ct.shape[1], 400 / ct.shape[2]]
        arr = ndimage.zoom(ct.array, zoom, order=1).astype(np.float32)
        aff = ct.affine.copy()
        aff[:3, :3] = aff[:3, :3] / np.array(zoom)[None, :]
        ct = Volume(arr, aff, {})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, c = time.perf_counter(), cpu()
    r = segment_ct(ct)
    out.update({"shape": list(ct.shape), "spacing_mm": [round(s, 3) for s in ct.spacing_mm],
                "seconds": round(time.perf_counter() - t, 2), "cpu_seconds": round(cpu() - c, 2),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                "rss_before_gb": round(base / 2**20, 2), "levels": list(r.levels), "method": r.info["method"],
                "timings_s": r.info["timings_s"]})
    if case == "real":
        from spinebq.io.labels import load_labels
        from spinebq.io.nifti import load_nifti
        total = load_labels(data + "/seg_v2/total.nii.gz", ct, scheme="total").array
        v1 = load_labels(data + "/seg_v1", ct).array
        bodies = load_nifti(data + "/seg_v2/vertebrae_body.nii.gz", dtype=None).array == 1
        v, s = r.vertebrae.array, r.subregions.array
        out["dice"] = {n: {"body": dice((v == i) & (s == 1), (total == i) & bodies), "whole": dice(v == i, v1 == i),
                           "confidence": r.levels.get(n, {}).get("confidence")} for n, i in ids.items()}
elif case == "phantom":
    from spinebq.synthetic.ct import make_ct_phantom
    out["phantoms"] = {}
    for name, kw in {"plain": {}, "noise 30 HU": {"noise_hu": 30.0, "seed": 1}, "tilt 10 deg": {"tilt_deg": 10.0},
                     "screw": {"screw": True}, "cancellous alae": {"cancellous_alae": True}}.items():
        p = make_ct_phantom(**kw)
        t = time.perf_counter()
        r = segment_ct(p.ct)
        v, s, tl, ts = r.vertebrae.array, r.subregions.array, p.labels.array, p.subregions.array
        out["phantoms"][name] = {"levels": list(r.levels), "seconds": round(time.perf_counter() - t, 2),
                                 "body": {n: dice((v == i) & (s == 1), (tl == i) & (ts == 1)) for n, i in ids.items()}}
elif case == "ct_hu":
    from spinebq.pipeline import builtin_labels
    from spinebq.io.labels import load_labels
    from spinebq.measure.ct.levels import measure_ct
    from spinebq.measure.ct.presets import PRESETS
    ct = load_volume(path)
    own = builtin_labels(ct)
    ts = load_labels(data + "/seg_v2/total.nii.gz", ct, scheme="total")
    out["presets"] = {}
    for preset in PRESETS:
        a = measure_ct(ct, own.labels, preset=preset, bodies=own.bodies).vertebrae
        b = measure_ct(ct, ts, preset=preset).vertebrae
        rows = {}
        for n in ids:
            if n in a and n in b:
                rows[n] = {k: (round(a[n][k] - b[n][k], 1) if a[n][k] is not None and b[n][k] is not None
                               and np.isfinite(a[n][k]) and np.isfinite(b[n][k]) else None) for k in ("hu_3d", "hu_2d")}
        out["presets"][preset] = rows
print(json.dumps(out))
"""


def run(case: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    cmd = [sys.executable, "-c", CHILD, case, str(DATA / "ct.nii.gz"), str(DATA)]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0,1"] + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(cases=("real", "large", "phantom", "ct_hu")) -> None:
    if not (DATA / "ct.nii.gz").exists():
        print(f"no data at {DATA}; nothing to benchmark")
        return
    for case in cases:
        r = run(case)
        if case in ("real", "large"):
            print(f"{case}: shape {r['shape']} spacing {r['spacing_mm']} mm: {r['seconds']} s wall, {r['cpu_seconds']} s CPU, "
                  f"peak RSS {r['peak_rss_gb']} GB (before segmentation {r['rss_before_gb']} GB), levels {r['levels']}")
            print(f"  naming: {r['method']}")
            print(f"  steps (cumulative s): {r['timings_s']}")
        if "dice" in r:
            print("  | level | body Dice vs TS v2 | whole Dice vs TS v1 | confidence |")
            print("  |---|---|---|---|")
            for n, d in r["dice"].items():
                print(f"  | {n} | {d['body']:.3f} | {d['whole']:.3f} | {d['confidence']} |")
        if case == "phantom":
            print("phantom: | case | levels found | body Dice " + ", ".join(LEVELS) + " | time |")
            print("  |---|---|---|---|")
            for name, p in r["phantoms"].items():
                print(f"  | {name} | {', '.join(p['levels'])} | {' '.join(f'{v:.3f}' for v in p['body'].values())} | {p['seconds']} s |")
        if case == "ct_hu":
            print("ct without labels minus ct with TotalSegmentator labels (HU): | preset | " + " | ".join(LEVELS) + " |")
            for preset, rows in r["presets"].items():
                for key in ("hu_3d", "hu_2d"):
                    cells = [rows.get(n, {}).get(key) for n in LEVELS]
                    print(f"  | {preset} {key} | " + " | ".join("n/a" if c is None else f"{c:+.1f}" for c in cells) + " |")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("real", "large", "phantom", "ct_hu"))
