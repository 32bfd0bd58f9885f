"""Issue 20, class 5: every output keeps its index line after kill -9 or Ctrl-C, and outputs do
not depend on batching. A real local run is killed (its whole process group) once some outputs
exist; a re-run finishes the job; then every output has exactly one latest index line, and the
outputs are byte-identical to an uninterrupted run's."""
import os
import signal
import time

import numpy as np
import pytest
from PIL import Image

from tests import cutout_support as cs
from tests.trust import support as ts

N_PHOTOS = 48


def _photos(folder, n=N_PHOTOS):
    rng = np.random.default_rng(7)
    for i in range(n):
        x0, y0 = int(rng.integers(0, 150)), int(rng.integers(0, 100))
        rgb = cs.scene(320, 240, box=(x0, y0, x0 + 120, y0 + 100))
        noise = rng.integers(0, 20, rgb.shape, dtype=np.uint8)
        cs.write(os.path.join(folder, f"p{i:03d}.jpg"),
                 cs.encode(Image.fromarray(rgb + noise), "JPEG", quality=90))


def _latest(dest) -> dict:
    latest = {}
    for line in ts.index_lines(dest):
        latest[line["input"]] = line
    return latest


def _assert_indexed(dest, n):
    outputs = set(ts.outputs(dest))
    latest = _latest(dest)
    named = [name for line in latest.values() for name in line["outputs"]]
    assert len(outputs) == n
    assert sorted(named) == sorted(outputs)     # each output in exactly one latest line
    for line in latest.values():
        assert 0 <= line["confidence"] <= 1


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_run_and_its_rerun_index_every_output(tmp_path, model_dir, sig):
    arena = ts.Arena(tmp_path)
    _photos(arena.src)
    arena.seal()
    common = ("--model", model_dir, "--max_batch_size", "3", "--png_compression", "default")
    reference = tmp_path / "reference"
    proc = ts.run_module(ts.RB, "--input", arena.src, "--output_dir", reference, *common,
                         timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = ts.start_module(ts.RB, "--input", arena.src, "--output_dir", arena.dest, *common)
    deadline = time.time() + 300
    while time.time() < deadline and run.poll() is None:
        if len(ts.outputs(arena.dest)) >= 3 if arena.dest.exists() else False:
            break
        time.sleep(0.05)
    killed_with = len(ts.outputs(arena.dest))
    if run.poll() is None:
        os.killpg(run.pid, sig)
    run.communicate(timeout=120)
    if killed_with >= N_PHOTOS:
        pytest.skip("the run finished before it could be interrupted")
    again = arena.rb(*common, timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    _assert_indexed(arena.dest, N_PHOTOS)
    assert ts.outputs(arena.dest) == ts.outputs(reference)
    assert not [f for _, _, fs in os.walk(arena.dest / "_tmp") for f in fs]
    arena.check()


@pytest.mark.timeout(600)
def test_outputs_found_without_index_lines_get_one(tmp_path, model_dir):
    """The recovery on its own: index files lost (as a kill between outputs and index leaves
    them), the re-run writes lines for the outputs it finds, with their confidence."""
    arena = ts.Arena(tmp_path)
    _photos(arena.src, 6)
    arena.seal()
    assert arena.rb("--model", model_dir).returncode == 0
    first = _latest(arena.dest)
    for name in os.listdir(arena.dest / "_index"):
        os.remove(arena.dest / "_index" / name)
    again = arena.rb("--model", model_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert ts.summary(arena.dest)["skipped"] == 6
    _assert_indexed(arena.dest, 6)
    recovered = _latest(arena.dest)
    assert sorted(recovered) == sorted(first)
    for uri, line in recovered.items():
        assert line["recovered"] is True
        assert abs(line["confidence"] - first[uri]["confidence"]) < 0.05
        assert (line["width"], line["height"]) == (first[uri]["width"], first[uri]["height"])
    arena.check()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("runtime", ["savedmodel", "openvino"])
def test_a_photo_gives_the_same_alpha_in_any_batch(tmp_path, runtime):
    """A real convolutional export: one photo predicted alone and inside batches of other sizes
    gives identical floats, in each runtime (each runs every image on its own)."""
    import keras

    from model.export import export_model
    from pipelines.serving import inference

    size = 64
    model = keras.Sequential([keras.Input((size, size, 3)),
                              keras.layers.Conv2D(24, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(24, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    export = export_model(model, str(tmp_path / "export"), size, mean=[127] * 3, std=[60] * 3)
    loaded = inference.load_model(export, runtime)
    images = np.random.default_rng(0).integers(0, 255, (7, size, size, 3), dtype=np.uint8)
    alone = loaded.predict(images[3:4])[0]
    for start, stop in ((0, 7), (2, 5), (3, 7), (1, 4)):
        batch = loaded.predict(images[start:stop])
        assert np.array_equal(batch[3 - start], alone)
