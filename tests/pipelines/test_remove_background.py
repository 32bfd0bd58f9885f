"""The inference stage wired in TestPipelines: our ModelHandler with a real exported model, batch
sizes, and a bad batch that must not stop the job."""
import os

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from pipelines.remove_background import job as rb
from pipelines.serving import inference
from tests import cutout_support as cs


@pytest.fixture(scope="module")
def brightness_model(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


class CountingHandler(inference.SavedModelHandler):
    """Our handler, recording loads and batch sizes (in-process runner: one Python process)."""
    loads = 0
    batch_sizes = []

    def load_model(self):
        type(self).loads += 1
        return super().load_model()

    def run_inference(self, batch, model, inference_args=None):
        type(self).batch_sizes.append(len(batch))
        if any("poison" in p.uri for p in batch):
            raise RuntimeError("this batch upsets the model")
        return super().run_inference(batch, model, inference_args)


def _write_inputs(folder):
    os.makedirs(folder, exist_ok=True)
    good = cs.encode(Image.fromarray(cs.scene()), "PNG")
    names = {}
    for name, data in [("a.png", good), ("b.png", good), ("c.png", good), ("d.png", good),
                       ("poison.png", good), ("truncated.png", good[:len(good) // 2]),
                       ("empty.png", b"")]:
        names[name] = cs.write(os.path.join(folder, name), data)
    return names


def test_inference_loads_once_batches_and_survives_a_bad_batch(tmp_path, brightness_model):
    cfg = cs.job_config(tmp_path, model=brightness_model, max_batch_size=2)
    paths = _write_inputs(cfg.root)
    tasks = [(path, (("cutout", name[:-4] + ".png"),)) for name, path in paths.items()]
    CountingHandler.loads, CountingHandler.batch_sizes = 0, []
    handler = CountingHandler(brightness_model, max_batch_size=1)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 1}
    with cs.local_test_pipeline() as p:
        done = p | beam.Create(tasks) | rb.RemoveBackgrounds(cfg, handler)
        assert_that(done["written"], equal_to([(paths[n], 1) for n in
                                               ("a.png", "b.png", "c.png", "d.png")]),
                    label="written")
        assert_that(done["rejected"] | beam.Map(lambda r: (os.path.basename(r["path"]),
                                                            r["reason"])),
                    equal_to([("poison.png", "inference_failed"),
                              ("truncated.png", "undecodable"), ("empty.png", "empty_file")]),
                    label="rejected")
    assert CountingHandler.loads == 1
    assert CountingHandler.batch_sizes and max(CountingHandler.batch_sizes) == 1
    cut = np.asarray(Image.open(os.path.join(cfg.dest, "a.png")))
    assert cut.shape == (48, 64, 4)
    cs.assert_alpha_matches(cut[..., 3], cs.expected_alpha(cs.scene()))


def test_batches_never_exceed_max_batch_size(tmp_path, brightness_model):
    cfg = cs.job_config(tmp_path, model=brightness_model)
    paths = _write_inputs(cfg.root)
    tasks = [(paths[n], (("mask", n[:-4] + ".png"),)) for n in ("a.png", "b.png", "c.png",
                                                                 "d.png")]
    CountingHandler.loads, CountingHandler.batch_sizes = 0, []
    with cs.local_test_pipeline() as p:
        _ = p | beam.Create(tasks) | rb.RemoveBackgrounds(
            cfg, CountingHandler(brightness_model, max_batch_size=3))
    assert sorted(CountingHandler.batch_sizes) == [1, 3]
    assert CountingHandler.loads == 1
    mask = Image.open(os.path.join(cfg.dest, "a.png"))
    assert mask.mode == "L"
