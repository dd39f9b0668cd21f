"""Benchmark of the regional measurements of ``spinebq ct`` (pedicles, screws, regions, heights, contrast).

Prints the extra time that :func:`spinebq.measure.ct.regional.measure_regional` adds to ``measure_ct``, per
trajectory mode, on the real TotalSegmentator example CT (3 mm) and on the synthetic phantom (1 x 1 x 1.5 mm),
each case in a fresh process (peak memory is that run's). CPU time (user + system) is printed beside wall time.

    python benchmarks/bench_regional.py
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"

RUN = """
import resource, sys, time
from spinebq.measure.ct.levels import measure_ct
from spinebq.measure.ct.regional import RegionalOptions, measure_regional
if sys.argv[1] == "phantom":
    from spinebq.synthetic.ct import make_ct_phantom
    phantom = make_ct_phantom()
    ct, labels = phantom.ct, phantom.labels
else:
    from spinebq.io.volume import load_volume
    from spinebq.io.labels import load_labels
    ct = load_volume(sys.argv[1], expect_modality="CT")
    labels = load_labels(sys.argv[2], ct)
t0, c0 = time.perf_counter(), time.process_time()
result = measure_ct(ct, labels)
t1, c1 = time.perf_counter(), time.process_time()
measure_regional(ct, labels, result, RegionalOptions(trajectory=sys.argv[3]))
t2, c2 = time.perf_counter(), time.process_time()
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{ct.shape}: measure_ct {t1 - t0:.2f} s (CPU {c1 - c0:.2f} s), regional --trajectory {sys.argv[3]} "
      f"{t2 - t1:.2f} s (CPU {c2 - c1:.2f} s), peak RSS {peak_mb:.0f} MB, levels {len(result.vertebrae)}")
"""


def main() -> None:
    cases = [("real CT (TotalSegmentator example, seg_v2/total.nii.gz)", [str(TS / "ct.nii.gz"), str(TS / "seg_v2" / "total.nii.gz")]),
             ("synthetic phantom 240x200x167", ["phantom", "-"])]
    for name, inputs in cases:
        if inputs[0] != "phantom" and not Path(inputs[0]).exists():
            print(f"{name}: skipped, {inputs[0]} is not present")
            continue
        for mode in ("none", "auto"):
            out = subprocess.run([sys.executable, "-c", RUN, *inputs, mode], capture_output=True, text=True, check=True)
            print(f"{name}: {out.stdout.strip()}")


if __name__ == "__main__":
    main()
