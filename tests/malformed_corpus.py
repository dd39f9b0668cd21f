"""Run spinebq on every malformed input of tests/inputs/malformed.py and count what went wrong (by hand).

    PYTHONPATH=src python tests/malformed_corpus.py [--root /tmp/spinebq_corpus] [--jobs 2] [--only CLASS]

Builds the corpus (NIfTI, label-map, DICOM, JSON/CSV, CLI-number and --out cases made from the real files in
../shared/data), runs ``spinebq`` on each in a subprocess with a 60 s limit and prints, per class, the number of
cases and of internal errors, hangs, half-written or changed outputs and changed inputs. Exit code 1 when any.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.inputs.malformed import build_corpus, run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/spinebq_corpus", help="where the corpus is written")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="run only the cases whose class contains one of these texts (comma-separated)")
    args = parser.parse_args()
    cases = build_corpus(Path(args.root))
    if args.only:
        wanted = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        cases = [c for c in cases if any(w in c.klass.lower() for w in wanted)]
    print(f"{len(cases)} cases in {len(Counter(c.klass for c in cases))} classes", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(run_case, cases))
    per_class: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        tally = per_class[o.case.klass]
        tally["cases"] += 1
        tally[{0: "exit 0", 2: "exit 2"}.get(o.code, "other")] += 1
        for problem in o.problems:
            tally[problem.split(":")[0].split(" (")[0]] += 1
            print(f"PROBLEM {o.case.name}: {problem}")
    kinds = ["internal error", "hang", "half-written output", "--out changed after a refusal", "input changed",
             "staging folder left behind", "accepted a malformed input"]
    print(f"\n{'class':<34}{'cases':>6}{'exit2':>6}{'exit0':>6}" + "".join(f"{k[:10]:>12}" for k in kinds))
    for klass in sorted(per_class):
        t = per_class[klass]
        print(f"{klass:<34}{t['cases']:>6}{t['exit 2']:>6}{t['exit 0']:>6}" + "".join(f"{t[k]:>12}" for k in kinds))
    total = sum(len(o.problems) > 0 for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"\n{len(outcomes)} cases, {total} with a problem; slowest {slowest.case.name} {slowest.seconds:.1f} s")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
