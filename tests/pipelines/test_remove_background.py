"""The background-removal stages wired in TestPipelines: planning (collisions, skips, rejects),
inference through our ModelHandler with a real exported model, and a bad batch that must not
stop the job."""
import os

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from pipelines import inference, remove_background as rb
from tests import cutout_support as cs


def local_test_pipeline():
    # The FnApiRunner directly: the DirectRunner would first try to download Prism.
    return test_pipeline.TestPipeline(runner=fn_runner.FnApiRunner())


@pytest.fixture(scope="module")
def brightness_model(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


def config(tmp_path, model="/unused", **kw):
    values = dict(source="test", input_kind="folder", pattern=str(tmp_path / "in") + "/**",
                  root=str(tmp_path / "in"), dest=str(tmp_path / "out"), model=model,
                  image_size=cs.IMAGE_SIZE)
    values.update(kw)
    return rb.JobConfig(**values)


def test_plan_outputs_finds_collisions_skips_and_bad_names(tmp_path):
    cfg = config(tmp_path)
    root = cfg.root
    uris = [f"{root}/a.jpg", f"{root}/sub/b.jpg", f"{root}/sub/b.png", f"{root}/done.jpg",
            f"{root}/_hidden/x.jpg", f"{root}/../escape.jpg", f"{root}/c.webp"]
    existing = [("done.png", ("have",)), ("old.png", ("have",))]
    with local_test_pipeline() as p:
        planned = ((p | "U" >> beam.Create(uris), p | "E" >> beam.Create(existing))
                   | rb.PlanOutputs(cfg))
        assert_that(planned["tasks"], equal_to([
            (f"{root}/a.jpg", (("cutout", "a.png"),)),
            (f"{root}/c.webp", (("cutout", "c.png"),))]), label="tasks")
        assert_that(planned["skipped"], equal_to([f"{root}/done.jpg"]), label="skipped")
        assert_that(planned["rejected"] | beam.Map(lambda r: (r["path"], r["reason"])),
                    equal_to([(f"{root}/sub/b.jpg", "output_name_collision"),
                              (f"{root}/sub/b.png", "output_name_collision"),
                              (f"{root}/_hidden/x.jpg", "reserved_output_name"),
                              (f"{root}/../escape.jpg", "unsafe_path")]), label="rejected")


def test_plan_outputs_both_mode_cross_kind_collision_and_partial_pair(tmp_path):
    """With --output both, `x.mask.jpg`'s cut-out and `x.jpg`'s mask share a name."""
    cfg = config(tmp_path, output="both")
    root = cfg.root
    existing = [("p.png", ("have",))]  # p's cut-out exists, its mask doesn't
    with local_test_pipeline() as p:
        planned = ((p | "U" >> beam.Create([f"{root}/x.jpg", f"{root}/x.mask.jpg",
                                             f"{root}/p.jpg"]),
                    p | "E" >> beam.Create(existing))
                   | rb.PlanOutputs(cfg))
        assert_that(planned["tasks"], equal_to([(f"{root}/p.jpg", (("mask", "p.mask.png"),))]),
                    label="tasks")
        assert_that(planned["rejected"] | beam.Map(lambda r: (r["path"], r["reason"])),
                    equal_to([(f"{root}/x.jpg", "output_name_collision"),
                              (f"{root}/x.mask.jpg", "output_name_collision")]), label="rej")


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
    cfg = config(tmp_path, model=brightness_model, max_batch_size=2)
    paths = _write_inputs(cfg.root)
    tasks = [(path, (("cutout", name[:-4] + ".png"),)) for name, path in paths.items()]
    CountingHandler.loads, CountingHandler.batch_sizes = 0, []
    handler = CountingHandler(brightness_model, max_batch_size=1)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 1}
    with local_test_pipeline() as p:
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
    cfg = config(tmp_path, model=brightness_model)
    paths = _write_inputs(cfg.root)
    tasks = [(paths[n], (("mask", n[:-4] + ".png"),)) for n in ("a.png", "b.png", "c.png",
                                                                 "d.png")]
    CountingHandler.loads, CountingHandler.batch_sizes = 0, []
    with local_test_pipeline() as p:
        _ = p | beam.Create(tasks) | rb.RemoveBackgrounds(
            cfg, CountingHandler(brightness_model, max_batch_size=3))
    assert sorted(CountingHandler.batch_sizes) == [1, 3]
    assert CountingHandler.loads == 1
    mask = Image.open(os.path.join(cfg.dest, "a.png"))
    assert mask.mode == "L"


def test_handler_predicts_like_the_model_and_keys_survive(brightness_model):
    handler = inference.SavedModelHandler(brightness_model, max_batch_size=4)
    model = handler.load_model()
    assert model.image_size == cs.IMAGE_SIZE
    bright = np.full((cs.IMAGE_SIZE, cs.IMAGE_SIZE, 3), cs.BRIGHT, np.uint8)
    dark = np.full_like(bright, cs.DARK)
    batch = [inference.Prepared("u1", (), b"x", bright), inference.Prepared("u2", (), b"y", dark)]
    results = list(handler.run_inference(batch, model))
    assert [r.example.uri for r in results] == ["u1", "u2"]
    assert results[0].inference.shape == (cs.IMAGE_SIZE, cs.IMAGE_SIZE, 1)
    assert results[0].inference.min() > 0.99 and results[1].inference.max() < 0.01
    assert handler.get_num_bytes(batch) == 2 + 2 * bright.nbytes


def test_bookkeeping_counts_equal_reject_lines(tmp_path):
    cfg = config(tmp_path)
    rejects = [rb.reject_record("test", f"/in/{i}.jpg", "not_an_image") for i in range(3)]
    p = local_test_pipeline()
    _ = ((p | "W" >> beam.Create([("/in/a.jpg", 2)]), p | "S" >> beam.Create(["/in/b.jpg"]),
          p | "R" >> beam.Create(rejects), p | "I" >> beam.Create(["/in/.DS_Store"]))
         | rb.WriteBookkeeping(cfg))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace(rb.NAMESPACE))["counters"]}
    assert counters == {"written": 1, "skipped": 1, "rejected": 3, "files_written": 2,
                        "ignored_os_files": 1}
    import json

    summary = json.load(open(os.path.join(cfg.dest, "_summary.json")))
    assert (summary["inputs"], summary["written"], summary["skipped"], summary["rejected"],
            summary["files_written"], summary["ignored_os_files"]) == (5, 1, 1, 3, 2, 1)
    lines = open(os.path.join(cfg.dest, "_rejected", "rejected.jsonl")).read().splitlines()
    assert len(lines) == summary["rejected"] == summary["rejected_by_reason"]["not_an_image"]
    assert all(set(json.loads(x)) == {"source", "path", "reason", "detail"} for x in lines)
