"""OpenVINO's usage reporting is declined in every Cutout process: nothing goes to Google
Analytics, nothing is written under ~/intel, whatever the user's home holds."""
import json
import os
import re
import subprocess
import sys

from tests.cutout_support import REPO_ROOT

# Runs in a fresh process with HOME an empty folder (no consent file: OpenVINO's converter then
# counts it as consent) and every socket lookup or connection recorded and refused, so nothing
# leaves the machine either way. Then it asks the converter's telemetry to send what a conversion
# sends, waits for its sender, and reports what was attempted.
PROBE = r"""
import json, os, socket, sys
def refuse(*args, **kwargs):  # in this process or the one OpenVINO forks to send
    with open(sys.argv[2], "a") as f:
        f.write(repr(args[:2]) + "\n")
    raise OSError("refused by the test")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
if sys.argv[1] == "cutout":
    from model import openvino_export
    openvino_export.import_openvino()
else:
    import openvino
from openvino.tools.ovc import telemetry_utils
telemetry = telemetry_utils.init_ovc_telemetry()   # what each conversion does first
telemetry.start_session("ovc")
telemetry.send_event("ovc", "version", "probe")
telemetry_utils.send_framework_info("tf")
telemetry.force_shutdown(5.0)
with open(sys.argv[2]) as f:
    attempts = f.read().splitlines()
print(json.dumps({"consent": bool(telemetry.consent), "attempts": attempts,
                  "home": sorted(os.listdir(os.environ["HOME"]))}))
"""


def _probe(tmp_path, how: str) -> dict:
    home, attempts = tmp_path / how, tmp_path / f"{how}-attempts.txt"
    home.mkdir()
    attempts.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run([sys.executable, "-c", PROBE, how, str(attempts)], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cutout_declines_openvino_telemetry_and_writes_nothing_home(tmp_path):
    found = _probe(tmp_path, "cutout")
    assert found == {"consent": False, "attempts": [], "home": []}, found


def test_the_probe_sees_what_a_plain_import_would_send(tmp_path):
    """The same probe without Cutout's import: OpenVINO consents, writes under ~/intel and tries
    to reach its collector (refused here) - so the test above would see a leak."""
    found = _probe(tmp_path, "plain")
    assert found["consent"] is True and found["home"] == ["intel"], found
    assert found["attempts"], found


def test_every_import_of_openvino_goes_through_import_openvino():
    lines = []
    for folder in ("model", "pipelines", "bench"):
        for root, _, names in os.walk(os.path.join(REPO_ROOT, folder)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    with open(path, encoding="utf-8") as f:
                        for number, line in enumerate(f, 1):
                            if re.match(r"\s*(import openvino|from openvino)\b", line):
                                lines.append(f"{os.path.relpath(path, REPO_ROOT)}:{number}")
    assert lines == ["model/openvino_export.py:" + str(_import_line())], lines


def _import_line() -> int:
    with open(os.path.join(REPO_ROOT, "model", "openvino_export.py"), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip() == "import openvino":
                return number
    return -1
