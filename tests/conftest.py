"""Test-wide safety and shared fixtures.

Nothing in the tests may reach an address off this machine. Environment variables keep the Google
libraries from asking the cloud metadata server or refreshing tokens (they reach worker
subprocesses too), and a socket guard makes any in-process attempt fail loudly instead of
silently going out.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

_FAKE_CREDENTIALS = os.path.join(
    os.environ.get("TMPDIR", "/tmp"), f"cutout-test-credentials-{os.getpid()}.json")


def _offline_environment() -> None:
    # Valid-looking user credentials whose token never expires: no refresh, no network.
    with open(_FAKE_CREDENTIALS, "w") as f:
        json.dump({"type": "authorized_user", "client_id": "test", "client_secret": "test",
                   "refresh_token": "test", "token": "test-token",
                   "expiry": "2099-01-01T00:00:00Z"}, f)
    os.environ.update({
        "GOOGLE_APPLICATION_CREDENTIALS": _FAKE_CREDENTIALS,
        "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:1",
        "GCE_METADATA_IP": "127.0.0.1:1",
        "GOOGLE_CLOUD_PROJECT": "cutout-test",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    })


_offline_environment()

# The socket guard lives in a sitecustomize module so that every Python subprocess the tests
# start (CLI runs, Beam's multi-process workers) is guarded too.
_GUARD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netguard")
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_GUARD_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
sys.path.insert(0, _GUARD_DIR)
import sitecustomize  # noqa: E402,F401  (installs the guard in this process)

assert getattr(socket.getaddrinfo, "cutout_guard", False), "network guard not installed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def gcs_emulator():
    """A real GCS emulator server on 127.0.0.1 for the whole session; yields its URL."""
    port = _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "gcp-storage-emulator")
    proc = subprocess.Popen([exe, "start", "--host", "127.0.0.1", "--port", str(port),
                             "--in-memory"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=1).read()
            break
        except urllib.error.HTTPError:
            break  # it answers: up
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("GCS emulator did not start")
            time.sleep(0.1)
    os.environ["STORAGE_EMULATOR_HOST"] = url
    try:
        yield url
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def gcs_bucket(gcs_emulator):
    """A fresh bucket in the emulator for one test; yields 'gs://NAME'. Wiped afterwards."""
    assert os.environ.get("STORAGE_EMULATOR_HOST", "").startswith("http://127.0.0.1:"), \
        "refusing to touch GCS without the local emulator"
    from google.cloud import storage

    client = storage.Client(project="cutout-test")
    name = f"cutout-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(name)
    yield f"gs://{name}"
    try:
        urllib.request.urlopen(gcs_emulator + "/wipe", timeout=5).read()
    except OSError:
        pass


# --- Shared data fixtures: the synthetic archives and one real preprocess run over them. ---

@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory):
    """Synthetic archives in the published layouts; returns (folder, write_all's dict)."""
    from pipelines.synthetic import datasets as synthetic

    folder = tmp_path_factory.mktemp("raw")
    written = synthetic.write_all(str(folder), pairs=90, seed=7)
    return folder, written


@pytest.fixture(scope="session")
def preprocessed(synthetic_raw, tmp_path_factory):
    """One real run of the preprocess job over the synthetic archives: (OUT folder, manifest)."""
    from pipelines.preprocess import job as preprocess
    from tests.cutout_support import preprocess_args

    raw, _ = synthetic_raw
    out = tmp_path_factory.mktemp("preprocessed") / "out"
    manifest = preprocess.run(preprocess_args(raw, out))
    return out, manifest


# --- A real browser for the project's pages (tests/browser.py). ---

@pytest.fixture
def browser(tmp_path):
    """Headless Chromium over a pipe, its profile in the test's tmp folder. Not a skip when the
    package is missing: these tests are what proves the pages work (.ci/run installs it)."""
    from tests.browser import HeadlessChromium, available

    if not available():
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run does)")
    with HeadlessChromium(tmp_path / "chromium-profile") as chromium:
        yield chromium
