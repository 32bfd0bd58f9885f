"""Benchmark: remove_background's listing and planning at scale, without a model (`--plan_only`).

Runbook
-------
    .venv/bin/python bench/scale_plan.py [--sizes 10000,100000,1000000] [--workers 2]
        [--workdir DIR] [--keep] [--stages plan,listing,floor] [--handoff streamed|stock]
        [--inputs files|list]

For each N, a folder of N empty files (`tNN/lNN/fNNN.jpg`: 100 files a leaf folder, 100 leaves
a top folder; each size its own real folders, made once: a linked folder leading out of the
input would be a `link_outside_input` reject) goes through
three jobs on the local runner in multi_processing mode (`--workers` SDK worker processes beside
the runner process), each in a child process:
- plan: remove_background's main with `--input FOLDER --output_dir DEST --plan_only`;
- listing: the fan-out listing alone (rb_inputs.ListInputs), its URIs counted;
- floor: no project code, N URIs made by one element through one GroupByKey and counted: what
  this runner itself costs a worker for N elements crossing a stage.
With `--inputs list` the N inputs are names in list files of 10^5 lines (`--input_list`), not files,
so sizes up to 10^7 fit this machine (`--sizes 1000000,10000000 --stages plan --inputs list`: about
6 minutes). A poller reads every process's peak RSS (VmHWM) while a job runs. Prints, per N and job:
wall time, time per million inputs (the slope between sizes, start-up excluded), the largest
worker's peak RSS and the runner's, then the bytes each input puts through the plan's shuffles (its
elements encoded with Beam's coder), for the bench's URIs and a realistic gs:// one.

Read the memory with the runner in mind. The local FnApiRunner keeps every PCollection in the
runner process between stages (it stands in for Dataflow's shuffle service), and as shipped it
makes every worker hold its whole share of a stage's input: it hands it over as one blob (one
data-plane message per bundle), the worker queues up to 100 MB of its own output, and gRPC's
flow-control window grows while the runner pushes faster than the worker reads. So by default
(`--handoff streamed`) the bench streams those hand-offs (bench/streamed_runner.py):
pieces of 1 MB, at most a few in flight, as a shuffle service streams its reads; the elements,
bundles and the project's code are the same (the counts are checked). `--handoff stock` measures
the runner as shipped. The project's stages hold one folder's listing, one name's claims, one
input's verdicts, one reject shard at a time; the floor job (no project code) shows what the
runner itself costs.

The last lines read `<job>: largest worker's rss growth per 10x: R` for each job and, last,
`rss growth per 10x: R` for the plan: the largest worker's peak RSS ratio between sizes 10x
apart (the larger of the steps); the issue's goal is R < 1.5. About 3 minutes on 2 idle cores
with the defaults (making 10^6 files takes about 1 minute of it; `--stages plan` saves half a
minute, `--keep --workdir DIR` the files on the next run); much longer on a loaded machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import streamed_runner  # noqa: E402  (bench/, beside this file)

PER_LEAF, LEAVES_PER_TOP = 100, 100


def make_files(base: str, n: int) -> str:
    """base/in-n: ceil(n / 10^4) top folders of up to 100 leaves of 100 empty files; made once
    per size. Real folders, not links to one shared set: a job never follows a linked folder out
    of its input (`link_outside_input`), so links would make every input a reject."""
    folder = os.path.join(base, f"in-{n}")
    marker = os.path.join(base, f"in-{n}.done")
    if os.path.exists(marker):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    made = 0
    top = 0
    while made < n:
        for leaf in range(LEAVES_PER_TOP):
            if made >= n:
                break
            leaf_folder = os.path.join(folder, f"t{top:03d}", f"l{leaf:02d}")
            os.makedirs(leaf_folder)
            for i in range(min(PER_LEAF, n - made)):
                os.close(os.open(os.path.join(leaf_folder, f"f{i:03d}.jpg"),
                                 os.O_CREAT | os.O_WRONLY, 0o644))
            made += min(PER_LEAF, n - made)
        top += 1
    open(marker, "w").close()
    return folder


LIST_ROOT = "/scale-bench-inputs"  # --inputs list: the lists' root; nothing is read there
LINES_PER_LIST = 100_000


def make_lists(base: str, n: int) -> str:
    """base/lists-N: N relative input names (the files' layout) in list files of up to 10^5
    lines, as inventory reports come; made once."""
    folder = os.path.join(base, f"lists-{n}")
    marker = folder + ".done"
    if os.path.exists(marker):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for part, start in enumerate(range(0, n, LINES_PER_LIST)):
        with open(os.path.join(folder, f"part-{part:05d}.txt"), "w") as f:
            f.writelines(f"t{i // 10000:03d}/l{i // 100 % 100:02d}/f{i % 100:03d}.jpg\n"
                         for i in range(start, min(n, start + LINES_PER_LIST)))
    open(marker, "w").close()
    return folder


def _input_args(source: str, inputs: str) -> list[str]:
    if inputs == "list":
        return ["--input_list", os.path.join(source, "*.txt"), "--input_root", LIST_ROOT]
    return ["--input", source]


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = []
        try:
            threads = os.listdir(f"/proc/{p}/task")
        except OSError:
            threads = []
        for tid in threads:  # a child belongs to the thread that started it
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
        found += kids
        todo += kids
    return found


def _peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _child_pipeline(workers: int):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.core import options

    return options.make_pipeline(PipelineOptions([
        "--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)]))


def child_listing(folder: str, workers: int, out: str, inputs: str) -> None:
    """The listing alone (rb_inputs.ListInputs: the fan-out, or the list files read in
    parallel), its URIs counted."""
    import apache_beam as beam

    from pipelines.remove_background import inputs as rb_inputs
    from pipelines.remove_background.config import JobConfig, resolve_input

    if inputs == "list":
        kind, pattern, root = "list", os.path.join(folder, "*.txt"), LIST_ROOT
    else:
        kind, pattern, root = resolve_input(folder)
    cfg = JobConfig(source=folder, input_kind=kind, pattern=pattern, root=root, dest=out,
                    model="", image_size=0, plan_only=True)
    p = _child_pipeline(workers)
    _ = ((p | rb_inputs.ListInputs(cfg))["uris"]
         | beam.combiners.Count.Globally()
         | beam.Map(lambda n: open(out, "w").write(json.dumps({"planned": n, "inputs": n}))))
    p.run().wait_until_finish()


def child_floor(n: int, workers: int, out: str) -> None:
    """The runner's own floor: N URIs made by one element, one GroupByKey, counted."""
    import apache_beam as beam

    p = _child_pipeline(workers)
    _ = (p
         | beam.Create([None])
         | "Make" >> beam.FlatMap(lambda _: (f"/in/t{i // 10000:03d}/l{i // 100 % 100:02d}/"
                                              f"f{i % 100:03d}.jpg" for i in range(n)))
         | "Key" >> beam.Map(lambda uri: (uri, 1))
         | beam.GroupByKey()
         | "Uri" >> beam.Map(lambda kv: kv[0])
         | beam.combiners.Count.Globally()
         | beam.Map(lambda c: open(out, "w").write(json.dumps({"planned": c, "inputs": c}))))
    p.run().wait_until_finish()


def child_plan(folder: str, workers: int, dest: str, inputs: str) -> None:
    """remove_background --plan_only, in this process (so its runner can be given streamed
    hand-offs)."""
    from pipelines.remove_background import job as remove_background

    code = remove_background.main(_input_args(folder, inputs) + [
        "--output_dir", dest, "--plan_only",
        "--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)])
    if code:
        raise SystemExit(code)


def run_stage(stage: str, folder: str, n: int, dest: str, workers: int, handoff: str,
              inputs: str = "files") -> dict:
    """One job in a child process: 'plan' (remove_background --plan_only), 'listing' or 'floor',
    its runner's hand-offs 'stock' or 'streamed' (streamed_runner);
    -> wall seconds, counts, peak RSS (MB) of the runner and of the largest worker."""
    shutil.rmtree(dest, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    counts_file = os.path.join(dest, "_summary.json") if stage == "plan" else dest + ".json"
    cmd = [sys.executable, os.path.abspath(__file__), "--child", stage, "--child_input", folder,
           "--sizes", str(n), "--workers", str(workers), "--handoff", handoff, "--inputs", inputs,
           "--child_out", dest if stage == "plan" else counts_file]
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peaks: dict[int, float] = {}
    while proc.poll() is None:
        for pid in [proc.pid] + _descendants(proc.pid):
            peaks[pid] = max(peaks.get(pid, 0.0), _peak_rss_mb(pid))
        time.sleep(0.2)
    wall = time.time() - start
    output = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"the {stage} job failed:\n{output[-3000:]}")
    with open(counts_file) as f:
        counts = json.load(f)
    if (counts["planned"], counts["inputs"]) != (n, n):
        raise SystemExit(f"the {stage} job counted {counts}, not {n} inputs")
    workers_rss = [mb for pid, mb in peaks.items() if pid != proc.pid]
    return {"wall": wall, "runner_mb": peaks.get(proc.pid, 0.0),
            "worker_mb": max(workers_rss, default=0.0)}


REALISTIC_URI = "gs://product-photos-bucket/catalog/2024/05/17/sku-00012345678/front-1080.jpg"
REALISTIC_ROOT = "gs://product-photos-bucket"


def shuffle_bytes_per_input(uri: str, root: str) -> dict:
    """The elements one input puts through the plan's shuffles, encoded with the coder Beam uses
    for them (FastPrimitivesCoder: the plan's PCollections are typed Any)."""
    from apache_beam.coders import coders

    coder = coders.FastPrimitivesCoder()
    name = os.path.splitext(uri[len(root) + 1:])[0] + ".png"
    sizes = {
        "by_output_name": len(coder.encode((name, ("in", uri, "cutout")))),
        "by_input": len(coder.encode((uri, ("ok", "cutout", name, False, 1)))),
        "folder_claims": len(coder.encode("t000/l00")) / PER_LEAF,
    }
    sizes["total"] = sum(sizes.values())
    return sizes


def _growth(rows, stage) -> float:
    """The larger ratio of the largest worker's peak RSS between sizes 10x apart."""
    ratios = [b[stage]["worker_mb"] / a[stage]["worker_mb"]
              for (na, a), (nb, b) in zip(rows, rows[1:]) if nb == 10 * na]
    return max(ratios, default=float("nan"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the files for the next run")
    parser.add_argument("--stages", default="plan,listing,floor",
                        help="plan: remove_background --plan_only; listing: the fan-out listing "
                             "alone; floor: a bare GroupByKey of N URIs on the same runner")
    parser.add_argument("--handoff", default="streamed", choices=("streamed", "stock"),
                        help="streamed (default): the local runner hands a stage's input to a "
                             "worker in pieces, as a shuffle service does (bench/streamed_runner.py); "
                             "stock: Beam's FnApiRunner as it is (one blob a worker)")
    parser.add_argument("--inputs", default="files", choices=("files", "list"),
                        help="files (default): N empty files, listed by the fan-out; list: N "
                             "names in list files of 10^5 lines (--input_list), nothing made on "
                             "disk but the lists, so 10^7 fits here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child_input", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child_out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.handoff == "streamed":
            streamed_runner.stream_handoffs()
        if args.child == "plan":
            return child_plan(args.child_input, args.workers, args.child_out, args.inputs)
        if args.child == "listing":
            return child_listing(args.child_input, args.workers, args.child_out, args.inputs)
        return child_floor(int(args.sizes), args.workers, args.child_out)
    sizes = [int(s) for s in args.sizes.split(",")]
    stages = args.stages.split(",")
    base = args.workdir or tempfile.mkdtemp(prefix="scale_plan-")
    os.makedirs(base, exist_ok=True)
    try:
        t0 = time.time()
        if args.inputs == "files":
            for n in sizes:
                make_files(base, n)
            print(f"made {sum(sizes):,} empty files in {time.time() - t0:.0f} s", flush=True)
        rows = []
        for n in sizes:
            if args.inputs == "files":
                folder = make_files(base, n)
            else:
                folder = make_lists(base, n)
            row = {}
            for stage in stages:
                row[stage] = run_stage(stage, folder, n, os.path.join(base, f"out-{stage}-{n}"),
                                       args.workers, args.handoff, args.inputs)
                r = row[stage]
                print(f"N={n:>9,} {stage:>7}: {r['wall']:6.1f} s, largest worker "
                      f"{r['worker_mb']:5.0f} MB, runner {r['runner_mb']:5.0f} MB", flush=True)
            rows.append((n, row))
        print()
        print("| N | stage | wall s | s per million (slope) | largest worker peak RSS MB | "
              "runner peak RSS MB |\n|---|---|---|---|---|---|")
        for i, (n, row) in enumerate(rows):
            for s in stages:
                r, slope = row[s], ""
                if i:
                    n0, r0 = rows[i - 1][0], rows[i - 1][1][s]
                    slope = f"{(r['wall'] - r0['wall']) / (n - n0) * 1e6:.0f}"
                print(f"| {n:,} | {s} | {r['wall']:.1f} | {slope} | {r['worker_mb']:.0f} | "
                      f"{r['runner_mb']:.0f} |")
        folder = os.path.join(base, f"in-{sizes[-1]}") if args.inputs == "files" else LIST_ROOT
        for uri, root in ((os.path.join(folder, "t000", "l00", "f000.jpg"), folder),
                          (REALISTIC_URI, REALISTIC_ROOT)):
            print(f"shuffle bytes per input (URI of {len(uri)} chars): "
                  f"{json.dumps(shuffle_bytes_per_input(uri, root))}")
        for s in stages:
            print(f"{s}: largest worker's rss growth per 10x: {_growth(rows, s):.2f}")
        main_stage = "plan" if "plan" in stages else stages[0]
        print(f"rss growth per 10x: {_growth(rows, main_stage):.2f}")
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
