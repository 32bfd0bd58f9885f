"""Issue 20's attacks, shared: real files and links in a temporary arena, real subprocess runs of
the jobs (`python -m pipelines.<job>`, the names that survive any re-layout), and the promises
every attack checks: inputs hashed unchanged, a sentinel folder beside DEST left empty, every
input written or rejected.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests import cutout_support as cs

ROOT = cs.REPO_ROOT
RB = "pipelines.remove_background"
ONE = "pipelines.cutout"
PREPROCESS = "pipelines.preprocess"


def env() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT, CUTOUT_VERBOSE="")


def run_module(module: str, *args, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
    """`python -m module args...` in a fresh process: its stdout/stderr as text."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd or ROOT,
                          env=env(), capture_output=True, text=True, timeout=timeout)


def start_module(module: str, *args, cwd=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=cwd or ROOT,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


hashes = cs.hashes


def everything(folder) -> set:
    """Every entry under a folder, folders and links included (links not followed)."""
    out = set()
    for d, dirs, names in os.walk(folder):
        out.update(os.path.relpath(os.path.join(d, n), folder) for n in dirs + names)
    return out


def one_line_error(proc: subprocess.CompletedProcess, status: int = 2) -> str:
    """The single stderr line of a refused run (exit `status`); asserts there is one."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == status, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def dest_rejects(dest) -> dict:
    """{input basename: reason} from DEST/_rejected/."""
    return {os.path.basename(r["path"]): r["reason"] for r in cs.dest_rejects(str(dest))}


def index_lines(dest) -> list[dict]:
    """Every line of every index file of DEST, in file-name (= run) order."""
    folder = os.path.join(dest, "_index")
    lines = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            lines += [json.loads(line) for line in f if line.strip()]
    return lines


def summary(dest) -> dict:
    with open(os.path.join(dest, "_summary.json"), encoding="utf-8") as f:
        return json.load(f)


def outputs(dest) -> dict:
    """{relative name: sha256} of DEST's outputs (bookkeeping `_*` left out)."""
    return {k: v for k, v in hashes(dest).items() if not k.startswith("_")}


class Arena:
    """tmp/in (inputs), tmp/out (DEST), tmp/sentinel (beside DEST: must stay empty), and the
    inputs' hashes taken by `seal()` and checked by `check()`."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.src = tmp_path / "in"
        self.dest = tmp_path / "out"
        self.sentinel = tmp_path / "sentinel"
        self.src.mkdir(exist_ok=True)
        self.sentinel.mkdir(exist_ok=True)
        self._before = None

    def photos(self, names=("a.png", "b.png"), folder=None) -> list[str]:
        for name in names:
            cs.write(os.path.join(folder or self.src, name), PHOTO)
        return list(names)

    def seal(self) -> None:
        self._before = hashes(self.src)

    def inputs_unchanged(self) -> bool:
        return hashes(self.src) == self._before

    def check(self) -> None:
        """Inputs unchanged and nothing beside DEST."""
        assert self.inputs_unchanged()
        assert everything(self.sentinel) == set()

    def rb(self, *extra, input_=None, timeout=300):
        return run_module(RB, "--input", input_ or self.src, "--output_dir", self.dest,
                          *extra, timeout=timeout)


def _photo() -> bytes:
    from PIL import Image

    return cs.encode(Image.fromarray(cs.scene()), "PNG")


PHOTO = _photo()
