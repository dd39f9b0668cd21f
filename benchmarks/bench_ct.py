"""Benchmark of ``spinebq ct``: load + measure time and peak memory.

Cases: a synthetic 512 x 512 x 400 CT with its label map (target: 3 s and 2 GB on 2 cores), and
the real TotalSegmentator example CT with its labels. Each measurement runs in a fresh Python
process, so peak memory (max RSS) belongs to that run alone. The CPU time (user + system of
the process) is printed beside the wall time: it stays meaningful when other work shares the cores.

    python benchmarks/bench_ct.py
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TS = REPO.parent / "shared" / "data" / "totalsegmentator_example"

RUN = """
import resource, sys, time
t0 = time.perf_counter()
from spinebq.io.volume import load_volume
from spinebq.io.labels import load_labels
from spinebq.measure.ct.levels import measure_ct
t_import = time.perf_counter()
c_import = time.process_time()
ct = load_volume(sys.argv[1], expect_modality="CT")
labels = load_labels(sys.argv[2], ct)
t_load = time.perf_counter()
result = measure_ct(ct, labels, preset=sys.argv[3])
t_measure = time.perf_counter()
cpu = time.process_time() - c_import
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{ct.shape} load {t_load - t_import:.2f} s, measure {t_measure - t_load:.2f} s, "
      f"load+measure {t_measure - t_import:.2f} s (CPU {cpu:.2f} s), peak RSS {peak_mb:.0f} MB, levels {len(result.vertebrae)}")
"""

MAKE = """
import sys, numpy as np
from spinebq.synthetic.ct import make_ct_phantom
from spinebq.io.volume import save_nifti
p = make_ct_phantom(spacing_mm=(0.6, 0.6, 0.625), fov_mm=(307.2, 307.2, 250.0))
save_nifti(p.ct, sys.argv[1] + "/ct.nii", dtype=np.int16)
save_nifti(p.labels, sys.argv[1] + "/labels.nii", dtype=np.int16)
"""


def run(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(MAKE, tmp)
        for preset in ("3dhu", "totalsegmentator"):
            print(f"synthetic 512x512x400, preset {preset}: " + run(RUN, f"{tmp}/ct.nii", f"{tmp}/labels.nii", preset))
    if TS.exists():
        for preset in ("3dhu", "totalsegmentator"):
            print(f"real CT (TotalSegmentator example), preset {preset}: "
                  + run(RUN, str(TS / "ct.nii.gz"), str(TS / "seg_v2" / "total.nii.gz"), preset))
    else:
        print(f"real CT skipped: {TS} not present")


if __name__ == "__main__":
    main()
