"""Issue 20, class 7: the model is proven before any work, in the launcher: a damaged, foreign
or mis-described export is one line and exit 2, and nothing is written to DEST (no _job.json).
The same for `cutout one` (exit 2, no output)."""
import json
import os
import shutil

import pytest

from tests.trust import support as ts


def _damage_variables_removed(export):
    shutil.rmtree(os.path.join(export, "variables"))


def _damage_variables_zeroed(export):
    folder = os.path.join(export, "variables")
    for name in os.listdir(folder):
        if name.startswith("variables.data"):
            path = os.path.join(folder, name)
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.write(b"\0" * size)


def _damage_foreign(export):
    """A SavedModel of some other program, with our cutout_export.json copied beside it."""
    import tensorflow as tf

    metadata = open(os.path.join(export, "cutout_export.json")).read()
    shutil.rmtree(export)

    class Foreign(tf.Module):
        def __init__(self):
            self.w = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            return {"y": x * self.w}

    module = Foreign()
    tf.saved_model.save(module, export, signatures={"serving_default": module.serve})
    with open(os.path.join(export, "cutout_export.json"), "w") as f:
        f.write(metadata)


def _image_size(value):
    def damage(export):
        path = os.path.join(export, "cutout_export.json")
        meta = json.load(open(path))
        meta["image_size"] = value
        json.dump(meta, open(path, "w"))
    return damage


DAMAGES = {"variables_removed": _damage_variables_removed,
           "variables_zeroed": _damage_variables_zeroed,
           "foreign_savedmodel": _damage_foreign,
           "image_size_0": _image_size(0),
           "image_size_20000": _image_size(20000),
           "image_size_text": _image_size("big")}


@pytest.fixture
def damaged(tmp_path, model_dir, request):
    export = str(tmp_path / "model" / "export")
    shutil.copytree(model_dir, export)
    DAMAGES[request.param](export)
    return export


@pytest.mark.timeout(240)
@pytest.mark.parametrize("damaged", sorted(DAMAGES), indirect=True)
def test_a_bad_model_is_one_line_before_any_work(tmp_path, damaged):
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    line = ts.one_line_error(arena.rb("--model", damaged, timeout=200))
    assert "model" in line.lower()
    assert not arena.dest.exists()
    arena.check()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("damaged", ["variables_zeroed", "foreign_savedmodel",
                                     "image_size_20000"], indirect=True)
def test_cutout_one_refuses_a_bad_model(tmp_path, damaged):
    photo = tmp_path / "photo.png"
    photo.write_bytes(ts.PHOTO)
    proc = ts.run_module(ts.ONE, photo, tmp_path / "out.png", "--model", damaged, timeout=200)
    ts.one_line_error(proc)
    assert not (tmp_path / "out.png").exists()


@pytest.mark.timeout(240)
def test_a_good_model_records_checksums_and_passes(tmp_path, model_dir):
    meta = json.load(open(os.path.join(model_dir, "cutout_export.json")))
    assert set(meta["sha256"]) >= {"saved_model.pb", "variables/variables.index"}
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    proc = arena.rb("--model", model_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(ts.outputs(arena.dest)) == {"a.png", "b.png"}
    arena.check()
