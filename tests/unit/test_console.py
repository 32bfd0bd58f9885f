"""model/console.py: the quiet-logs filter drops only known notices, never a line that reports a
failure, and loses nothing written before a crash (real child processes writing to fd 2).

What can't be guaranteed: a SIGKILL sent to the filter process itself (e.g. `kill -9` of the
whole process group) ends it with whatever it had not forwarded yet."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from model import console
from tests.cutout_support import REPO_ROOT

GLOG = "E0000 00:00:1796275910.673015    5102 "
FAILURES = [
    GLOG + "cuda_dnn.cc:535] Could not create cudnn handle: CUDNN_STATUS_INTERNAL_ERROR",
    "W0000 00:00:1796275910.673015    5102 gpu_device.cc:2344] Cannot dlopen some GPU libraries. "
    "Please make sure the missing libraries mentioned above are installed properly if you would "
    "like to use GPU.",
    "W0000 00:00:17.1 5102 bfc_allocator.cc:291] Allocator (GPU_0_bfc) ran out of memory trying "
    "to allocate 2.00GiB with freed_by_count=0.",
    GLOG + "cuda_driver.cc:1083] failed to allocate 3.20GiB (3435973836 bytes) from device: "
    "CUDA_ERROR_OUT_OF_MEMORY: out of memory",
    "F0000 00:00:1796275910.673015    5102 cuda_dnn.cc:100] Check failed: status == "
    "CUDNN_STATUS_SUCCESS (7 vs. 0)",
    "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor "
    "with shape[16,64,256,256]",
    GLOG + "cuda_dnn.cc:522] Loaded runtime CuDNN library: 8.1.0 but source was compiled with: "
    "8.9.4. CuDNN library needs to have matching major version",
    GLOG + "cuda_blas.cc:190] failed to create cublas handle: cublas error",
    "Fatal Python error: Segmentation fault",
    "Traceback (most recent call last):",
    "WARNING remove_background: 3 inputs rejected",
]
# Printed on this project's CPU machines (measured), or known harmless on GPU machines.
NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796395247.612110   16471 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796395247.712525   16471 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "I0000 00:00:1796395251.425872   16471 service.cc:153] XLA service 0x555fed8db5a0 initialized "
    "for platform Host (this does not guarantee that XLA will be used). Devices:",
    "I0000 00:00:1796395251.425908   16471 service.cc:161]   StreamExecutor [0]: Host, Default "
    "Version",
    "I0000 00:00:1796395251.535707   16471 device_compiler.h:208] Compiled cluster using XLA!  "
    "This line is logged at most once for the lifetime of the process.",
    GLOG + "cuda_dnn.cc:8579] Unable to register cuDNN factory: Attempting to register factory "
    "for plugin cuDNN when one has already been registered",
    "W0000 00:00:17.1 5102 computation_placer.cc:177] computation placer already registered. "
    "Please check linkage and avoid linking the same target more than once.",
    "I0000 00:00:17.1 5102 gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/"
    "device:GPU:0 with 13942 MB memory:  -> device: 0, name: Tesla T4",
    "I0000 00:00:17.1 5102 cuda_dnn.cc:529] Loaded cuDNN version 8906",
    "WARNING Worker: severity: WARN message: \"Discarding unparseable args: ['--output_dir=x']\"",
    "/venv/lib/python3.11/site-packages/PIL/Image.py:3402: DecompressionBombWarning: Image size "
    "(100000000 pixels) exceeds limit of 89478485 pixels, could be decompression bomb DOS attack.",
]
NO_GPU_NOTICES = [
    GLOG + "cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to "
    "cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796395247.612480   16471 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
]


@pytest.mark.parametrize("gpu", [True, False])
@pytest.mark.parametrize("line", FAILURES)
def test_a_line_that_reports_a_failure_is_always_shown(line, gpu):
    assert not console.is_noise(line, gpu=gpu)


@pytest.mark.parametrize("line", NOTICES)
def test_known_notices_are_dropped(line):
    assert console.is_noise(line, gpu=True) and console.is_noise(line, gpu=False)


@pytest.mark.parametrize("line", NO_GPU_NOTICES)
def test_gpu_start_up_failures_are_notices_only_where_no_gpu_is_expected(line):
    assert console.is_noise(line, gpu=False)
    assert not console.is_noise(line, gpu=True)


def test_a_gpu_is_expected_where_cuda_visible_devices_names_one_or_a_driver_is_there(tmp_path):
    driver = tmp_path / "nvidiactl"
    assert not console.gpu_expected({}, device_paths=(str(driver),))
    driver.write_text("")
    assert console.gpu_expected({}, device_paths=(str(driver),))
    assert console.gpu_expected({"CUDA_VISIBLE_DEVICES": "0"}, device_paths=())
    for hidden in ("", "-1"):
        assert not console.gpu_expected({"CUDA_VISIBLE_DEVICES": hidden},
                                        device_paths=(str(driver),))


def test_a_library_warning_goes_with_its_source_line_and_ours_stay():
    notices = console.NoticeFilter(gpu=False)
    lines = ["/venv/site-packages/keras/src/layers/core/dense.py:87: UserWarning: Do not pass "
             "an `input_shape`/`input_dim` argument to a layer.",
             "  super().__init__(activity_regularizer=activity_regularizer, **kwargs)",
             "/work/cutout/pipelines/cutout.py:90: UserWarning: remove_background_bytes loads "
             "the model on every call",
             "  warnings.warn(",
             "WARNING py.warnings: /venv/site-packages/PIL/Image.py:3402: "
             "DecompressionBombWarning: Image size (100000000 pixels) exceeds limit",
             "  warnings.warn(",
             "WARNING preprocess: 2 rejected"]
    kept = [line for line in lines if notices.keep(line)]
    assert kept == [lines[2], lines[3], lines[6]]


def _child(body: str, *args, env=None, **popen):
    """A Python child that quiets its stderr, then runs `body`; stdout and stderr captured."""
    code = "import os, signal, subprocess, sys, time\nfrom model import console\n" + \
        textwrap.dedent(body)
    environ = dict(os.environ, PYTHONPATH=REPO_ROOT, **(env or {}))
    for name in ("CUTOUT_VERBOSE", "CUDA_VISIBLE_DEVICES"):
        if name not in (env or {}):
            environ.pop(name, None)
    return subprocess.Popen([sys.executable, "-c", code, *args], env=environ, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


# What the children write to fd 2, as TensorFlow's C++ would: notices, a failure, and a last line
# still without its newline when the process dies.
WRITES = """
console.quiet()
for line in ({notices!r} + [{failure!r}]):
    os.write(2, line.encode() + b"\\n")
os.write(2, b"the last words, no newline yet")
""".format(notices=NOTICES + NO_GPU_NOTICES, failure=FAILURES[0])
EXPECTED = FAILURES[0] + "\nthe last words, no newline yet"


@pytest.mark.parametrize("death, status", [
    ("os._exit(3)", 3),
    ("os.abort()", -signal.SIGABRT),
    ("os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL),
])
def test_lines_written_just_before_the_process_dies_are_forwarded(death, status):
    proc = _child(WRITES + death)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status
    assert err.decode() == EXPECTED


def test_lines_survive_a_sigkill_from_outside_mid_way_and_a_worker_goes_on_after_it():
    """The parent is killed while a worker it started (holding fd 2, as Beam's do) still runs:
    the parent's lines are all there, and so are the worker's, written after the kill."""
    proc = _child(WRITES + """
worker = subprocess.Popen([sys.executable, "-c", "import os, sys, time; sys.stdin.read(); "
                           "os.write(2, b'\\\\nworker: done after the kill\\\\n')"],
                          stdin=subprocess.PIPE)
print("ready", flush=True)
time.sleep(60)
""")
    assert proc.stdout.readline() == b"ready\n"
    proc.kill()
    proc.wait(timeout=10)
    # The worker read stdin until EOF: the parent's death closed its end of the pipe.
    err = proc.stderr.read().decode()  # returns when the last writer (the worker) has gone
    assert proc.returncode == -signal.SIGKILL
    assert err == EXPECTED + "\nworker: done after the kill\n"


def test_a_traceback_after_notices_is_shown_whole_and_after_the_lines_before_it():
    proc = _child(WRITES + """
os.write(2, b"\\n")
def train():
    raise RuntimeError("the model diverged")
train()
""")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    lines = err.decode().splitlines()
    assert lines[:3] == [FAILURES[0], "the last words, no newline yet",
                         "Traceback (most recent call last):"]
    assert lines[-1] == "RuntimeError: the model diverged"
    assert not any(console.is_noise(line, gpu=False) for line in lines)


def test_ctrl_c_reaches_the_job_not_the_filter():
    """The terminal sends SIGINT to the whole process group: the job stops with its
    KeyboardInterrupt, and the filter stays to forward every line."""
    proc = _child(WRITES + """
os.write(2, b"\\n")
print("ready", flush=True)
time.sleep(60)
""", start_new_session=True)
    assert proc.stdout.readline() == b"ready\n"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    lines = err.decode().splitlines()
    assert lines[:2] == [FAILURES[0], "the last words, no newline yet"]
    assert lines[-1] == "KeyboardInterrupt"


def test_a_normal_exit_waits_for_every_line_in_order():
    proc = _child("""
console.quiet()
for i in range(2000):
    print(f"line {i}", file=sys.stderr)
    if i % 100 == 0:
        os.write(2, b"I0000 00:00:1.1   16471 port.cc:153] oneDNN custom operations are on.\\n")
""")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert err.decode().splitlines() == [f"line {i}" for i in range(2000)]


BOMB = """
from PIL import Image
import io
Image.MAX_IMAGE_PIXELS = 10
png = io.BytesIO()
Image.new("L", (4, 4)).save(png, format="PNG")
Image.open(io.BytesIO(png.getvalue())).load()   # 16 pixels > 10: Pillow's warning
print("decoded", flush=True)
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_pillows_decompression_bomb_warning_is_quiet_unless_verbose(verbose):
    """In this process and in a worker process that inherits its stderr."""
    body = "console.quiet(console.wants_verbose(sys.argv[1:]))\n" + BOMB + \
        "subprocess.run([sys.executable, '-c', {!r}], check=True)\n".format(BOMB)
    proc = _child(body, *(["--verbose"] if verbose else []))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == b"decoded\n" * 2
    warnings_seen = err.decode().count("DecompressionBombWarning")
    assert warnings_seen == (2 if verbose else 0), err.decode()
