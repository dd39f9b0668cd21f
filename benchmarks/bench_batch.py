"""Benchmark of ``spinebq batch`` (screening profile): throughput, 2-worker speed-up, engine overhead, 1,000-CT projection.

Run from the repository root (uses ../shared/data when present; nothing is copied, the cohorts are
folders of symlinks in a temporary directory)::

    python benchmarks/bench_batch.py                # 40 studies, parts 1-2 (~8 min on 2 cores)
    python benchmarks/bench_batch.py --big          # also part 3 (~9 min in all)

What it measures, in one run:

1. **Cohorts.** ``caseNN.nii.gz`` -> the TotalSegmentator example CT (3 mm, 122 x 101 x 112), once *with*
   ``caseNN_labels.nii.gz`` -> ``seg_v2/total.nii.gz`` (discovery's ``<stem>_labels`` convention) and once
   *without* labels (the built-in segmentation runs: the real screening case). Each cohort goes through
   ``spinebq batch DIR --out OUT --quiet --workers 1`` and ``--workers 2`` (a fresh OUT each time), as a
   subprocess timed by wall clock. Per study, ``seconds`` (wall of the study's process, fork to result) and
   ``cpu_seconds`` (its CPU time) are read from ``OUT/ledger.sqlite``. Printed: studies per hour (whole
   command, and steady state = studies between the first and the last to finish, which leaves out
   discovery, Dask start-up and the cohort table), CPU seconds per study, and the speed-up of 2 workers
   over 1 (target >= 1.8x).
2. **Engine overhead per study.** The same study through ``spinebq ct CASE --out X --trajectory none
   --no-pictures`` (with ``--labels`` for the labelled cohort), a few runs, each a fresh process: that pays
   the interpreter start and spinebq's imports every time, which a batch worker pays once. So the batch is
   also compared with the pipeline timed inside one Python process after a warm-up: ``analyse_ct`` +
   ``write_ct_outputs`` (what ``spinebq ct`` does) and ``measure_study`` + ``write_study`` (exactly the work
   of one batch study: also the thumbnail, assessment, ``row.json`` and ``study.json``). Overhead =
   batch wall per study (1 worker) / in-process time - 1 (target <= 10 %). The in-process run also splits a
   study's time into its steps (load, segmentation, measurement, regional, assessment, thumbnail, writing).
3. **Projection** (``--big``): the real CT resampled (``scipy.ndimage.zoom``, order 1) to 0.78 x 0.78 x
   1.25 mm, a routine abdominal CT's spacing, saved as ``.nii.gz``; a batch of ``--big-studies`` copies
   without labels on 2 workers; seconds and peak memory (ledger ``peak_memory_mb``) per study, and the
   hours for 1,000 such CTs = 1000 x (batch wall / studies) / 3600 (target < 2 h on a 2-core laptop).

The machine may be shared: the load average before and after each batch, and the CPU seconds the whole
machine spent during it (``/proc/stat``) beside the CPU seconds of the studies, are printed, so that wall
times inflated by other work can be recognised. CPU seconds of a study come from the ledger (the study's
own process); the ``batch CPU`` column is the batch command with its Dask processes (the study processes
are forked from a forkserver and are not always counted there).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalsegmentator_example"
BIN = Path(sys.executable).parent / "spinebq"
SPINEBQ = [str(BIN)] if BIN.exists() else [sys.executable, "-c", "import sys; from spinebq.cli import main; sys.exit(main())"]

# One study in one Python process: warm-up, then timed repeats of (a) what `spinebq ct` does after its
# imports and (b) what a batch study does (measure_study + write_study); then the steps of (b).
INPROCESS = r"""
import json, sys, tempfile, time, shutil
from pathlib import Path
t0 = time.perf_counter()
import spinebq.batch.study as bs
from spinebq.batch.discover import discover
from spinebq.pipeline import CtOptions, analyse_ct
from spinebq.report.ct_outputs import write_ct_outputs
imports_s = time.perf_counter() - t0
folder, runs = sys.argv[1], int(sys.argv[2])
study = discover([folder])[0]
options = bs.BatchOptions(profile="screening", study=bs.profile_options("screening"))
ct_options = CtOptions(trajectory="none")
tmp = Path(tempfile.mkdtemp())

def ct_run(i):
    record = analyse_ct(study.ct.path, study.labels, ct_options)
    write_ct_outputs(tmp / f"ct{i}", record, pictures=False)

def batch_run(i):
    record = bs.measure_study(study, options)
    bs.write_study(tmp / f"study{i}", record, options)

def timed(fn, i):
    w, c = time.perf_counter(), time.process_time()
    fn(i)
    return time.perf_counter() - w, time.process_time() - c

out = {"imports_s": imports_s, "labels": study.labels is not None}
batch_run(-1)
out["ct"] = [timed(ct_run, i) for i in range(runs)]
out["study"] = [timed(batch_run, i) for i in range(runs)]

# the steps of one batch study: wrap the functions the pipeline looks up at call time
steps = {}
def wrap(module, name, step):
    import importlib
    mod = importlib.import_module(module)
    original = getattr(mod, name)
    def timed_call(*a, **k):
        w = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            steps[step] = steps.get(step, 0.0) + time.perf_counter() - w
    setattr(mod, name, timed_call)

wrap("spinebq.pipeline", "load_ct", "load CT")
wrap("spinebq.pipeline", "builtin_labels", "segmentation (built-in)")
wrap("spinebq.io.labels", "load_labels", "load labels")
wrap("spinebq.measure.ct.levels", "measure_ct", "measure_ct (ROIs, HU)")
wrap("spinebq.measure.ct.regional", "measure_regional", "measure_regional (heights, Genant, contrast)")
wrap("spinebq.risk.assess", "assess_patient", "assessment")
wrap("spinebq.report.thumbnail", "spine_thumbnail", "thumbnail")
wrap("spinebq.report.ct_outputs", "write_ct_outputs", "write ct/ outputs")
w = time.perf_counter()
for i in range(runs):
    batch_run(100 + i)
total = time.perf_counter() - w
steps = {k: v / runs for k, v in steps.items()}
steps["other (row, study.json, records)"] = total / runs - sum(steps.values())
out["steps"] = steps
shutil.rmtree(tmp, ignore_errors=True)
print(json.dumps(out))
"""

# run_study (a study in a forked child process, as a Dask worker runs it) without Dask: (wall, CPU) per run
RUN_STUDY = r"""
import json, sys, tempfile
from pathlib import Path
import spinebq.batch.study as bs
from spinebq.batch.discover import discover
study = discover([sys.argv[1]])[0]
options = bs.BatchOptions(profile="screening", study=bs.profile_options("screening"), memory_limit_mb=8000)
out = Path(tempfile.mkdtemp())
(out / "studies").mkdir()
bs.run_study(study, options, str(out))  # starts the forkserver (paid once per worker)
runs = [bs.run_study(study, options, str(out)) for _ in range(int(sys.argv[2]))]
assert all(o.state == "done" for o in runs), [o.reason for o in runs]
print(json.dumps([(o.seconds, o.cpu_seconds) for o in runs]))
"""

BIG = r"""
import sys, numpy as np
from scipy import ndimage
from spinebq.image.volume import Volume
from spinebq.io.volume import load_volume, save_nifti
ct = load_volume(sys.argv[1])
target = np.array([0.78, 0.78, 1.25])
zoom = np.array(ct.spacing_mm) / target
arr = ndimage.zoom(ct.array.astype(np.float32), zoom, order=1)
aff = ct.affine.copy()
aff[:3, :3] = aff[:3, :3] / zoom[None, :]
big = Volume(np.rint(arr).astype(np.int16), aff, {})
save_nifti(big, sys.argv[2], dtype=np.int16)
print(list(big.shape), [round(s, 3) for s in big.spacing_mm])
"""


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def make_cohort(folder: Path, n: int, ct: Path, labels: Path | None) -> Path:
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        (folder / f"case{i:02d}.nii.gz").symlink_to(ct)
        if labels is not None:
            (folder / f"case{i:02d}_labels.nii.gz").symlink_to(labels)
    return folder


def run_batch(cohort: Path, out: Path, workers: int) -> dict:
    """``spinebq batch`` as a subprocess: wall, CPU, load, and the ledger's per-study rows."""
    if out.exists():
        shutil.rmtree(out)
    before_load, m0, c0, w0 = load(), machine_cpu(), children_cpu(), time.perf_counter()
    done = subprocess.run(SPINEBQ + ["batch", str(cohort), "--out", str(out), "--quiet", "--workers", str(workers)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - w0
    batch_cpu, machine = children_cpu() - c0, machine_cpu() - m0
    if done.returncode != 0:
        raise SystemExit(f"spinebq batch failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    db = sqlite3.connect(out / "ledger.sqlite")
    rows = db.execute("SELECT state, reason, seconds, cpu_seconds, peak_memory_mb, finished FROM studies").fetchall()
    db.close()
    done_rows = [r for r in rows if r[0] == "done"]
    finished = sorted(r[5] for r in done_rows)
    leftovers = sorted(p.name for p in (out / "studies").iterdir() if p.name.startswith("."))
    n = len(rows)
    # steady state: the studies that ended after the first `workers` ones, over the time they took
    steady = ((len(finished) - workers) / (finished[-1] - finished[workers - 1]) * 3600
              if len(finished) > workers + 1 else float("nan"))
    study_cpu = sum(r[3] for r in done_rows)
    return {
        "cohort": cohort.name, "workers": workers, "studies": n, "done": len(done_rows),
        "failed": [r[1] for r in rows if r[0] != "done"], "wall": wall, "per_study": wall / n,
        "per_hour": 3600 * n / wall, "steady_per_hour": steady,
        "seconds": statistics.mean(r[2] for r in done_rows), "cpu": statistics.mean(r[3] for r in done_rows),
        "peak_mb": max(r[4] for r in done_rows), "study_cpu": study_cpu, "batch_cpu": batch_cpu,
        "machine_cpu": machine, "load": f"{before_load} -> {load()}", "leftovers": leftovers,
        "stderr": [line for line in done.stderr.splitlines() if line.strip()][-3:],
    }


def run_ct(case: Path, labels: Path | None, out: Path, runs: int) -> list[tuple[float, float]]:
    """``spinebq ct CASE --trajectory none --no-pictures`` as fresh processes: (wall, CPU) per run."""
    times = []
    for i in range(runs):
        cmd = SPINEBQ + ["ct", str(case), "--out", str(out / f"ct{i}"), "--trajectory", "none", "--no-pictures"]
        if labels is not None:
            cmd += ["--labels", str(labels)]
        c0, w0 = children_cpu(), time.perf_counter()
        subprocess.run(cmd, capture_output=True, text=True, check=True)
        times.append((time.perf_counter() - w0, children_cpu() - c0))
    return times


def run_inprocess(folder: Path, runs: int) -> dict:
    done = subprocess.run([sys.executable, "-c", INPROCESS, str(folder), str(runs)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_study_alone(folder: Path, runs: int, dask_env: bool) -> list[tuple[float, float]]:
    """``run_study`` without Dask, with or without the environment Dask's nanny gives its workers."""
    env = dict(os.environ)
    if dask_env:
        import dask.config

        import distributed  # noqa: F401  (loads distributed's defaults)

        env.update({k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()})
    else:
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
    done = subprocess.run([sys.executable, "-c", RUN_STUDY, str(folder), str(runs)], capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def python_start() -> float:
    """Wall time of a fresh interpreter importing what ``spinebq ct`` needs (paid once per ``spinebq ct``)."""
    code = "import spinebq.cli, spinebq.pipeline, spinebq.report.ct_outputs, spinebq.segment.ct.core, spinebq.io.labels"
    times = []
    for _ in range(3):
        w0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - w0)
    return min(times)


def mean(pairs, i):
    return statistics.mean(p[i] for p in pairs)


def batch_table(results: list[dict]) -> None:
    print("| cohort | workers | studies | batch wall s | wall s / study | studies / h (steady) | study process s "
          "(ledger) | CPU s / study (ledger) | batch CPU s | machine CPU s | peak MB | load 1/5/15 min before -> after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['cohort']} | {r['workers']} | {r['done']}/{r['studies']} | {r['wall']:.1f} | {r['per_study']:.2f} | "
              f"{r['per_hour']:.0f} ({r['steady_per_hour']:.0f}) | {r['seconds']:.2f} | {r['cpu']:.2f} | "
              f"{r['batch_cpu']:.1f} | {r['machine_cpu']:.0f} | {r['peak_mb']:.0f} | {r['load']} |")
    for r in results:
        if r["failed"] or r["leftovers"]:
            print(f"  {r['cohort']} x{r['workers']}: failed {r['failed']}, leftovers {r['leftovers']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=40, help="studies per small cohort (default 40)")
    parser.add_argument("--runs", type=int, default=3, help="runs of spinebq ct and of the in-process call (default 3)")
    parser.add_argument("--big", action="store_true", help="also the realistic-size CT batch and the projection")
    parser.add_argument("--big-studies", type=int, default=6, help="copies of the big CT in its batch (default 6)")
    args = parser.parse_args()
    if not (DATA / "ct.nii.gz").exists():
        print(f"no data at {DATA}; nothing to benchmark")
        return
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {os.cpu_count()} cores (affinity {len(os.sched_getaffinity(0))}), {mem_gb:.1f} GB RAM, "
          f"load average at start {load()}; python {sys.version.split()[0]}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        tmp = Path(tmp)
        ct, labels = DATA / "ct.nii.gz", DATA / "seg_v2" / "total.nii.gz"
        cohorts = {"labelled": make_cohort(tmp / "labelled", args.studies, ct, labels),
                   "unlabelled": make_cohort(tmp / "unlabelled", args.studies, ct, None)}

        # 1. throughput and speed-up
        results = []
        for name, cohort in cohorts.items():
            for workers in (1, 2):
                results.append(run_batch(cohort, tmp / f"out_{name}_{workers}", workers))
                r = results[-1]
                print(f"  {name} x{workers}: {r['wall']:.1f} s, {r['done']}/{r['studies']} done, load {r['load']}",
                      flush=True)
        print(f"\n## 1. Cohorts of {args.studies} studies (3 mm example CT, screening profile)\n")
        batch_table(results)
        print()
        by = {(r["cohort"], r["workers"]): r for r in results}
        for name in cohorts:
            one, two = by[(name, 1)], by[(name, 2)]
            print(f"- {name}: speed-up of 2 workers over 1 = {one['wall'] / two['wall']:.2f}x on the batch wall "
                  f"({two['steady_per_hour'] / one['steady_per_hour']:.2f}x steady state); "
                  f"{two['per_hour']:.0f} studies/h with 2 workers; CPU {one['cpu']:.2f} s/study (ledger)")
            for r in (one, two):
                ours = r["study_cpu"] + r["batch_cpu"]
                print(f"  - x{r['workers']}: machine busy {r['machine_cpu'] / r['wall']:.2f} of {os.cpu_count()} cores "
                      f"during the batch, ours ~{ours / r['wall']:.2f} (studies {r['study_cpu']:.0f} s + batch command "
                      f"{r['batch_cpu']:.0f} s CPU)")

        # 2. engine overhead
        print(f"\n## 2. Engine overhead per study ({args.runs} runs each)\n")
        start_s = python_start()
        print(f"fresh interpreter + spinebq imports (paid by every `spinebq ct`, once per batch worker): {start_s:.2f} s\n")
        print("| cohort | `spinebq ct` wall (CPU) s | in-process analyse_ct + write_ct_outputs s (CPU) | in-process "
              "measure_study + write_study s (CPU) | batch x1 wall / study | ledger study s | overhead vs `spinebq ct` | "
              "vs analyse_ct | vs same work in-process | ledger vs in-process |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        steps = {}
        for name, cohort in cohorts.items():
            case = cohort / "case01.nii.gz"
            single = tmp / f"single_{name}"
            make_cohort(single, 1, ct, labels if name == "labelled" else None)
            cli = run_ct(case, labels if name == "labelled" else None, tmp / f"ct_{name}", args.runs)
            inproc = run_inprocess(single, args.runs)
            steps[name] = inproc["steps"]
            b = by[(name, 1)]
            cli_w, ct_w, st_w = mean(cli, 0), mean(inproc["ct"], 0), mean(inproc["study"], 0)
            print(f"| {name} | {cli_w:.2f} ({mean(cli, 1):.2f}) | {ct_w:.2f} ({mean(inproc['ct'], 1):.2f}) | "
                  f"{st_w:.2f} ({mean(inproc['study'], 1):.2f}) | {b['per_study']:.2f} | {b['seconds']:.2f} | "
                  f"{100 * (b['per_study'] / cli_w - 1):+.0f} % | {100 * (b['per_study'] / ct_w - 1):+.0f} % | "
                  f"{100 * (b['per_study'] / st_w - 1):+.0f} % | {100 * (b['seconds'] / st_w - 1):+.0f} % |")
        print("\nThe study's process without Dask (`run_study` called in a plain Python process, after a warm-up), "
              "with and without the environment Dask's nanny sets for its workers "
              "(`distributed.nanny.pre-spawn-environ`), which the forkserver and every study process inherit:\n")
        print("| cohort | environment | study process wall s | CPU s |")
        print("|---|---|---|---|")
        for name in cohorts:
            for dask_env in (False, True):
                env_name = "Dask worker's (MALLOC_TRIM_THRESHOLD_=65536, 1 BLAS thread)" if dask_env else "plain"
                t = run_study_alone(tmp / f"single_{name}", args.runs, dask_env)
                print(f"| {name} | {env_name} | {mean(t, 0):.2f} | {mean(t, 1):.2f} |")
        print("\nWhere one batch study's time goes (in-process, mean wall s per study):\n")
        names = list(dict.fromkeys(k for s in steps.values() for k in s))
        print("| step | " + " | ".join(steps) + " |")
        print("|---|" + "---|" * len(steps))
        for k in names:
            print(f"| {k} | " + " | ".join(f"{s.get(k, 0.0):.3f}" for s in steps.values()) + " |")

        # 3. realistic size and the projection
        if args.big:
            print(f"\n## 3. Realistic-size CT, {args.big_studies} studies without labels, 1 and 2 workers\n")
            big_dir = tmp / "big"
            big_dir.mkdir()
            big = tmp / "big_ct.nii.gz"
            w0 = time.perf_counter()
            shape = subprocess.run([sys.executable, "-c", BIG, str(ct), str(big)], capture_output=True, text=True,
                                   check=True).stdout.strip()
            print(f"resampled CT: shape, spacing mm = {shape} ({big.stat().st_size / 2**20:.0f} MB .nii.gz, made in "
                  f"{time.perf_counter() - w0:.0f} s)\n")
            for i in range(1, args.big_studies + 1):
                (big_dir / f"case{i:02d}.nii.gz").symlink_to(big)
            r1 = run_batch(big_dir, tmp / "out_big_1", 1)
            r = run_batch(big_dir, tmp / "out_big_2", 2)
            batch_table([r1, r])
            print(f"\n- speed-up of 2 workers over 1 on the realistic-size CT: {r1['wall'] / r['wall']:.2f}x on the batch "
                  f"wall (target >= 1.8x)")
            single = tmp / "single_big"
            single.mkdir()
            (single / "case01.nii.gz").symlink_to(big)
            print("\nThe same study without Dask (`run_study` in a plain process, 1 run after a warm-up):\n")
            print("| environment | study process wall s | CPU s |")
            print("|---|---|---|")
            plain = run_study_alone(single, 1, False)
            print(f"| plain | {mean(plain, 0):.1f} | {mean(plain, 1):.1f} |")
            dask_like = run_study_alone(single, 1, True)
            print(f"| Dask worker's (MALLOC_TRIM_THRESHOLD_=65536, 1 BLAS thread) | {mean(dask_like, 0):.1f} | "
                  f"{mean(dask_like, 1):.1f} |")
            big_steps = run_inprocess(single, 1)["steps"]
            print("\nWhere the big study's time goes (in-process, wall s): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in big_steps.items() if v >= 0.005))
            dims = json.loads(shape.split("]")[0] + "]")
            voxels = dims[0] * dims[1] * dims[2]
            hours = 1000 * r["per_study"] / 3600
            steady_hours = 1000 / r["steady_per_hour"] if r["steady_per_hour"] == r["steady_per_hour"] else float("nan")
            print(f"\n- seconds per study with 2 workers (batch wall / studies): {r['per_study']:.1f} s; study process "
                  f"{r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU; peak memory per study {r['peak_mb']:.0f} MB")
            print(f"- projection for 1,000 such CTs on 2 cores: {hours:.2f} h (from the steady-state rate {steady_hours:.2f} h; "
                  f"CPU-bound estimate 1000 x {r['cpu']:.1f} s / 2 cores = {1000 * r['cpu'] / 2 / 3600:.2f} h; "
                  f"with the plain-environment CPU {mean(plain, 1):.1f} s: {1000 * mean(plain, 1) / 2 / 3600:.2f} h)")
            print(f"- this CT has {voxels / 1e6:.0f} M voxels; a 512 x 512 x 400 CT has 105 M: if the time grows with "
                  f"the voxels, {hours * 512 * 512 * 400 / voxels:.2f} h for 1,000 of those")
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s; load average at the end {load()}")


if __name__ == "__main__":
    main()
