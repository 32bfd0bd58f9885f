"""One wording for each user mistake, whichever command meets it (model/mistakes.py), exit 2,
one line; and `cutout one` as the field's one-image tools behave: inputs checked before the
model loads, several inputs with -o DIR, .png names only, what it wrote printed."""
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests import cutout_support as cs
from tests.cutout_support import REPO_ROOT as ROOT
from tests.integration.conftest import write_data_dir

CUTOUT = os.path.join(os.path.dirname(sys.executable), "cutout")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a training folder `mdl/` (its export in `mdl/export`), a preprocess output
    `data/`, a folder that is not one (`notdata/`), photos in `raw/` and a text file."""
    root = tmp_path_factory.mktemp("work")
    cs.export_brightness_model(str(root / "mdl" / "export"))
    write_data_dir(str(root / "data"), {"test": 2}, cs.IMAGE_SIZE)
    (root / "notdata").mkdir()
    (root / "notdata" / "notes.txt").write_text("hello")
    (root / "raw").mkdir()
    for i in range(2):
        Image.fromarray(cs.scene(48, 40)).save(root / "raw" / f"p{i}.jpg")
    (root / "notes.txt").write_text("not an image")
    return root


def _mistake(work, args):
    proc = subprocess.run([CUTOUT, *args], cwd=work, capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("args", [
    ["remove", "raw", "dest", "-m", "mdl"],
    ["evaluate", "--data_dir", "data", "-m", "mdl", "--report_dir", "rep"],
    ["one", "raw/p0.jpg", "p0.png", "-m", "mdl"],
])
def test_a_training_folder_for_its_export_is_one_wording_everywhere(work, args):
    line = _mistake(work, args)
    assert "mdl is a training folder, not a model export: did you mean mdl/export?" in line
    assert not (work / "dest").exists() and not (work / "p0.png").exists()


@pytest.mark.parametrize("args,what", [
    (["remove", "missing", "dest", "-m", "mdl/export"], "--input missing"),
    (["one", "missing.jpg", "out.png", "-m", "mdl/export"], "input missing.jpg"),
    (["preprocess", "--source", "folder=missing", "-o", "out"], "--source folder: missing"),
    (["evaluate", "--pred_dir", "missing", "--gt_dir", "raw", "--report_dir", "rep"],
     "--pred_dir missing"),
    (["evaluate", "--data_dir", "missing", "-m", "mdl/export", "--report_dir", "rep"],
     "--data_dir missing"),
    (["train", "--data_dir", "missing", "--model_dir", "m2"], "--data_dir missing"),
])
def test_a_missing_input_is_one_wording_everywhere(work, args, what):
    assert f"{what} does not exist: check the path" in _mistake(work, args)


@pytest.mark.parametrize("command", [
    ["train", "--data_dir", "notdata", "--model_dir", "m2"],
    ["evaluate", "--data_dir", "notdata", "-m", "mdl/export", "--report_dir", "rep"],
])
def test_a_folder_that_is_not_a_preprocess_output_names_cutout_preprocess(work, command):
    line = _mistake(work, command)
    assert "--data_dir notdata is not a `cutout preprocess` output (no manifest.json)" in line
    assert "model.train" not in line and "pipelines." not in line


@pytest.mark.parametrize("args", [
    ["remove", "raw", "raw", "-m", "mdl/export"],
    ["one", "raw/p0.jpg", "raw/p0.jpg", "-m", "mdl/export"],
])
def test_an_output_that_is_the_input_is_one_wording(work, args):
    assert "is the input" in _mistake(work, args) and "outputs would overwrite inputs" in \
        _mistake(work, args)


@pytest.mark.parametrize("args,words", [
    (["raw/p0.jpg", "p0.jpg"], "the output p0.jpg is not a .png name: a cut-out is a PNG; "
                               "give p0.png"),
    (["raw/p0.jpg"], "give IN OUT (OUT a .png name), or several inputs with -o DIR"),
    (["raw/p0.jpg", "raw/p1.jpg", "x.png"], "3 paths and no -o"),
    (["raw/p0.jpg", "raw"], "the output raw is a folder"),
])
def test_one_refuses_unclear_outputs(work, args, words):
    assert words in _mistake(work, ["one", *args, "-m", "mdl/export"])


def test_one_checks_inputs_before_loading_the_model(work):
    # In a fresh process: a text file is refused (exit 1, its reason) and TensorFlow never loads.
    code = ("import sys; from pipelines.serving import cutout; "
            "rc = cutout.main(['notes.txt', 'n.png', '-m', 'mdl/export']); "
            "print('tensorflow loaded' if 'tensorflow' in sys.modules else 'no tensorflow'); "
            "sys.exit(rc)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "no tensorflow" in proc.stdout
    assert "notes.txt: not_an_image" in proc.stderr
    assert not (work / "n.png").exists()


def test_one_takes_several_inputs_and_says_what_it_wrote(work):
    proc = subprocess.run([CUTOUT, "one", "raw/p0.jpg", "raw/p1.jpg", "-o", "outdir", "-m",
                           "mdl/export"], cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("p0", "p1"):
        assert Image.open(work / "outdir" / f"{name}.png").mode == "RGBA"
        assert f"cutout one: wrote outdir/{name}.png (cutout, from raw/{name}.jpg)" in proc.stdout
    # The old form, IN OUT, keeps working.
    proc = subprocess.run([CUTOUT, "one", "raw/p0.jpg", "single.png", "--model", "mdl/export"],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote single.png" in proc.stdout and (work / "single.png").exists()
