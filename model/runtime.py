"""Devices and the distribution strategy of a training run, decided before the TF runtime starts.

Every visible GPU, mirrored (MirroredStrategy), mixed float16 on GPU by default (`precision`
chooses; mixed float16 on a CPU tests that path). With no GPU, `--cpu_replicas K` splits the CPU
into K logical devices and mirrors over them (no speed-up; it
runs the multi-replica path for real). With `TF_CONFIG` set, MultiWorkerMirroredStrategy (each
CPU worker is one replica; the chief is the `chief` task, or worker 0 when there is none).

Order matters: `plan_devices` (no runtime), then `configure_runtime` (thread pools, logical
devices, GPU memory growth and precision can only be set before the first op), then
`make_strategy`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os

from model.errors import JobError

log = logging.getLogger("model.train")
# auto: mixed float16 on GPU, float32 on CPU; mixed_float16 on a CPU is slow (no fast float16
# kernels) and is there to test that path without a GPU.
PRECISIONS = ("auto", "float32", "mixed_float16")


@dataclasses.dataclass(frozen=True)
class DevicePlan:
    gpus: int
    local_replicas: int
    num_workers: int = 1
    multi_worker: bool = False
    task_type: str = "worker"
    task_index: int = 0
    is_chief: bool = True

    @property
    def replicas(self) -> int:
        return self.local_replicas * self.num_workers


def read_tf_config(environ=os.environ) -> dict | None:
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        tf_config = json.loads(text)
    except ValueError as e:
        raise JobError(f"TF_CONFIG is not valid JSON: {e}") from None
    cluster = tf_config.get("cluster") or {}
    if not cluster.get("worker") and not cluster.get("chief"):
        raise JobError("TF_CONFIG has no cluster.worker (or cluster.chief) list")
    task = tf_config.get("task") or {}
    if task.get("type") not in ("worker", "chief") or not isinstance(task.get("index"), int):
        raise JobError("TF_CONFIG.task must be {\"type\": \"worker\"|\"chief\", \"index\": N}")
    return tf_config


def plan_devices(cpu_replicas: int, environ=os.environ) -> DevicePlan:
    """How many replicas the run will have, found without starting the TF runtime."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    tf_config = read_tf_config(environ)
    if tf_config is not None:
        if cpu_replicas > 1:
            raise JobError("--cpu_replicas is for one machine; with TF_CONFIG each CPU "
                           "worker is one replica")
        cluster = tf_config["cluster"]
        task = tf_config["task"]
        workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
        is_chief = task["type"] == "chief" or ("chief" not in cluster and task["index"] == 0)
        return DevicePlan(gpus=gpus, local_replicas=max(gpus, 1), num_workers=workers,
                          multi_worker=True, task_type=task["type"], task_index=task["index"],
                          is_chief=is_chief)
    if gpus:
        if cpu_replicas > 1:
            log.warning("--cpu_replicas %d ignored: %d GPU(s) visible", cpu_replicas, gpus)
        return DevicePlan(gpus=gpus, local_replicas=gpus)
    return DevicePlan(gpus=0, local_replicas=max(1, cpu_replicas))


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def uses_mixed_precision(plan: DevicePlan, precision: str = "auto") -> bool:
    return precision == "mixed_float16" or (precision == "auto" and bool(plan.gpus))


def configure_runtime(plan: DevicePlan, threads: int, precision: str = "auto") -> None:
    """Thread pools, logical CPU devices, GPU memory growth and precision; must come before the
    TF runtime starts (the first op). Intra-op threads: the cores given; inter-op: enough for the
    replicas to run side by side. Several TF processes on one machine should split the cores."""
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, plan.local_replicas))
    except RuntimeError:
        log.warning("TF runtime already started in this process: thread counts left as they are")
    if plan.gpus:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    elif plan.local_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * plan.local_replicas)
        except RuntimeError:
            if len(tf.config.list_logical_devices("CPU")) < plan.local_replicas:
                raise JobError(f"--cpu_replicas {plan.local_replicas}: the TF runtime already "
                               f"started in this process; run training in a fresh process"
                               ) from None
    keras.mixed_precision.set_global_policy(
        "mixed_float16" if uses_mixed_precision(plan, precision) else "float32")


def make_strategy(plan: DevicePlan):
    import tensorflow as tf

    if plan.multi_worker:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if plan.gpus:
        return tf.distribute.MirroredStrategy()
    if plan.local_replicas > 1:
        devices = [d.name for d in tf.config.list_logical_devices("CPU")[:plan.local_replicas]]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def strategy_name(strategy, plan: DevicePlan) -> str:
    # MultiWorkerMirroredStrategy's class is named CollectiveAllReduceStrategy.
    return "MultiWorkerMirroredStrategy" if plan.multi_worker else type(strategy).__name__


def strategy_devices(strategy) -> list[str]:
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:          # the default (no-op) strategy: one device, TF's choice
        import tensorflow as tf

        return [tf.config.list_logical_devices("GPU" if tf.config.list_logical_devices("GPU")
                                               else "CPU")[0].name]
