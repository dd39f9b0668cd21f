"""Wall time of the runs users repeat most: ``spinebq ct`` and ``spinebq mri`` on the real data, and the label-name
check of a labelled CT run at 3 mm and on 0.7 mm slices.

Each run is a fresh Python process (imports counted apart), repeated REPEATS times; the median and the range are
printed (the machine's speed varies from run to run). To compare two versions, point PYTHONPATH at the other
one's ``src`` (e.g. a ``git worktree`` of an older commit):

    python benchmarks/run_times.py
    PYTHONPATH=/path/to/old/src python benchmarks/run_times.py
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TS = DATA / "totalsegmentator_example"
T1 = DATA / "lumbar_mri_t1"

CLI = """
import sys, time
t0 = time.perf_counter()
from spinebq.cli import main
t1 = time.perf_counter()
code = main(sys.argv[1:])
print(f"{time.perf_counter() - t1:.2f} {t1 - t0:.2f}", file=sys.stderr)
"""

NAMES = """
import sys, time
from spinebq.image.labelmap import LabelMap
from spinebq.image.resample import resample_labels, resample_volume
from spinebq.io.labels import load_labels
from spinebq.io.volume import load_volume
from spinebq.measure.ct.plausibility import check_level_names
ct = load_volume(sys.argv[1])
labels = LabelMap.of(load_labels(sys.argv[2], ct))
if sys.argv[3] == "0.7":  # the lumbar crop of tests/test_resampled_ct.py
    box = (slice(25, 95), slice(20, 101), slice(0, None))
    ct, labels = resample_volume(ct.crop(box), 0.7), resample_labels(LabelMap.of(labels.crop(box), content=labels.content), 0.7)
t = time.perf_counter()
check = check_level_names(ct, labels)
print(f"{time.perf_counter() - t:.2f}", file=sys.stderr)
"""


#: Runs per case.
REPEATS = 3


def run(label: str, code: str, *args: str) -> None:
    """Print the median and range of the seconds ``code`` reports (its last line on stderr), and of its imports."""
    runs, imports = [], []
    for _ in range(REPEATS):
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{label:<52} failed: {done.stderr.strip().splitlines()[-1:]}")
            return
        figures = [float(v) for v in done.stderr.strip().splitlines()[-1].split()]
        runs.append(figures[0])
        imports += figures[1:]
    runs.sort()
    text = f"{label:<52} {runs[len(runs) // 2]:5.1f} s ({runs[0]:.1f}-{runs[-1]:.1f})"
    print(text + (f", imports {sorted(imports)[len(imports) // 2]:.1f} s" if imports else ""))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run("spinebq ct, real CT, TotalSegmentator v2 labels", CLI, "ct", str(TS / "ct.nii.gz"), "--labels",
            str(TS / "seg_v2" / "total.nii.gz"), "--out", str(out / "ct"))
        run("spinebq mri, case02 with its labels", CLI, "mri", str(T1 / "case02_t1.nii.gz"), "--labels",
            str(T1 / "case02_bodies_verse.nii.gz"), "--out", str(out / "mri_labels"))
        run("spinebq mri, case02 automatic", CLI, "mri", str(T1 / "case02_t1.nii.gz"), "--out", str(out / "mri_auto"))
        for spacing in ("3", "0.7"):
            run(f"label-name check, real CT at {spacing} mm", NAMES, str(TS / "ct.nii.gz"),
                str(TS / "seg_v2" / "total.nii.gz"), spacing)


if __name__ == "__main__":
    main()
