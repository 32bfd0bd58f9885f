"""Timed runs of the remove_background job and of a bare pool doing the same work, for
bench/remove_background.py: wall and CPU seconds of every process involved, the time to the
first output, and the steady rate between the first and the last output."""
from __future__ import annotations

import glob
import os
import shutil
import time

BATCH = 16


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the runner's worker processes)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _output_times(out_dir: str, start: float) -> dict:
    mtimes = sorted(os.path.getmtime(p) for p in glob.glob(os.path.join(out_dir, "*.png")))
    return {"first_output_s": mtimes[0] - start,
            "steady_images_per_s": (len(mtimes) - 1) / max(mtimes[-1] - mtimes[0], 1e-9)}


def photo_subset_folder(photos: list[str], folder: str, count: int) -> str:
    """A folder holding the first `count` photos (links to them): a run over it pays the same
    fixed part as a run over all of them (worker processes, imports, every worker's model load,
    listing) and `count` photos, so the difference of the two runs is the cost of the others.
    (A run over one photo leaves one worker idle, its model never loaded: the difference then
    counts that load as photos' work. A re-run over a finished DEST measures nothing: it says
    "nothing to do" before any worker starts.)"""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for photo in photos[:count]:
        os.link(photo, os.path.join(folder, os.path.basename(photo)))
    return folder


def pipeline_run(photo_dir: str, model_dir: str, out_dir: str, workers: int,
                 runtime: str = "savedmodel", png_compression: str = "rle") -> dict:
    """Runs the job with that runtime and PNG writer into a fresh DEST; returns wall seconds,
    seconds to the first output, steady-state images/s (from the outputs' modification times)
    and CPU seconds of every process involved."""
    from pipelines.remove_background import job as remove_background

    shutil.rmtree(out_dir, ignore_errors=True)
    cpu = cpu_seconds()
    start = time.time()
    summary = remove_background.run([
        "--input", photo_dir, "--output_dir", out_dir, "--model", model_dir,
        "--runtime", runtime, "--png_compression", png_compression,
        "--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers),
        "--inference_threads", "1", "--max_batch_size", str(BATCH)])
    result = {"wall_s": time.time() - start, "cpu_s": cpu_seconds() - cpu, "summary": summary}
    assert summary["written"] == summary["inputs"], summary
    result.update(_output_times(out_dir, start))
    return result


def _bare_worker(photos: list[str], model_dir: str, out_dir: str) -> None:
    from bench.remove_background import bare_loop
    from pipelines.serving import inference

    inference.configure_threads(1)
    bare_loop(photos, inference.load_saved_model(model_dir), out_dir, "rle")


def bare_pool(photos: list[str], model_dir: str, out_dir: str, workers: int) -> dict:
    """Today's bare loop in `workers` fresh processes (each imports TF and loads the model),
    timed like the pipeline: the same cores under the same load, so wall-clock ratios are
    fair."""
    import concurrent.futures
    import multiprocessing

    shutil.rmtree(out_dir, ignore_errors=True)
    cpu = cpu_seconds()
    start = time.time()
    with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(_bare_worker, photos[i::workers], model_dir, out_dir)
                       for i in range(workers)]:
            future.result()
    result = {"wall_s": time.time() - start, "cpu_s": cpu_seconds() - cpu}
    result.update(_output_times(out_dir, start))
    return result
