"""Benchmark: a batch's clinical spreadsheet given after the studies were measured (``spinebq batch --clinical``).

Run from the repository root (uses ../shared/data; the cohort is a manifest naming the real CT and its labels N times)::

    python benchmarks/bench_reassess.py [--studies 8] [--workers 2]

For each profile (``screening``, ``full``): the cohort measured without ``--clinical``, then run again with a
spreadsheet giving each study's age, sex and planned levels. Printed: the wall time of each command, the seconds per
study of the second run (its progress lines), how many studies each run measured and re-assessed, and whether every
``ct/measurements.json`` kept its bytes (SHA-256 before and after).
"""
from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_example"
BIN = Path(sys.executable).parent / "spinebq"
SPINEBQ = [str(BIN)] if BIN.exists() else [sys.executable, "-c", "import sys; from spinebq.cli import main; sys.exit(main())"]


def _run(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(SPINEBQ + ["batch", *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def _hashes(out: Path) -> dict[str, str]:
    return {p.parent.parent.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (out / "studies").glob("*/ct/measurements.json")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spinebq_reassess_"))
    ids = [f"C{i:02d}" for i in range(args.studies)]
    manifest = work / "manifest.csv"
    manifest.write_text("id,ct,labels\n" + "".join(f"{i},{DATA / 'ct.nii.gz'},{DATA / 'seg_v2' / 'total.nii.gz'}\n"
                                                  for i in ids))
    clinical = work / "clinical.csv"
    clinical.write_text("id,age,sex,planned_levels\n" + "".join(f"{i},{60 + n},F,L4-L5\n" for n, i in enumerate(ids)))
    print(f"{args.studies} studies (the real CT with its labels), {args.workers} workers")
    for profile in ("screening", "full"):
        out = work / profile
        common = [str(manifest), "--out", str(out), "--profile", profile, "--workers", str(args.workers), "--quiet"]
        measured_s, _ = _run(common)
        before = _hashes(out)
        again_s, printed = _run(common + ["--clinical", str(clinical), "--clinical-key", "id"])
        per_study = [float(s) for s in re.findall(r"done in ([\d.]+) s \(assessed again", printed)]
        summary = next(line for line in printed.splitlines() if line.startswith("measured "))
        print(f"{profile}: measured in {measured_s:.1f} s; with --clinical {again_s:.1f} s "
              f"({len(per_study)} re-assessed, median {statistics.median(per_study):.2f} s per study); "
              f"measurements unchanged: {_hashes(out) == before}")
        print(f"  {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
