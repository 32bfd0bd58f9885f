"""Our ModelHandler with a real exported model: predictions, keys and sizes."""
import numpy as np
import pytest

from pipelines.serving import inference
from tests import cutout_support as cs


@pytest.fixture(scope="module")
def brightness_model(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


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


@pytest.mark.parametrize("runtime", ["openvino", "savedmodel"])
def test_each_runtime_through_run_inference_on_the_local_runner(brightness_model, runtime):
    """The handler of either runtime in a Beam pipeline: keyed elements in, each alpha back
    with its own element, in batches."""
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.testing.util import assert_that, equal_to

    rng = np.random.default_rng(0)
    values = {f"u{i}": int(rng.choice([cs.BRIGHT, cs.DARK])) for i in range(7)}
    elements = [inference.Prepared(uri, (), b"", np.full((cs.IMAGE_SIZE, cs.IMAGE_SIZE, 3), v,
                                                         np.uint8))
                for uri, v in values.items()]
    handler = inference.SavedModelHandler(brightness_model, max_batch_size=3, runtime=runtime)
    with cs.local_test_pipeline() as p:
        got = (p | beam.Create(elements, reshuffle=False)
               | RunInference(handler)
               | beam.Map(lambda r: (r.example.uri, bool(r.inference.mean() > 0.5))))
        assert_that(got, equal_to([(uri, v == cs.BRIGHT) for uri, v in values.items()]))


def test_the_runtimes_write_the_same_cut_outs(brightness_model, tmp_path):
    """The whole job on the local runner, once per runtime: the same pixels (float32)."""
    from PIL import Image

    from pipelines.remove_background import job as remove_background

    cs.write(tmp_path / "in" / "a.png", cs.encode(Image.fromarray(cs.scene(61, 47)), "PNG"))
    cs.write(tmp_path / "in" / "b.jpg", cs.encode(Image.fromarray(cs.scene(33, 80)), "JPEG"))
    pixels = {}
    for runtime in ("openvino", "savedmodel"):
        dest = tmp_path / runtime
        summary = remove_background.run(["--input", str(tmp_path / "in"), "--output_dir",
                                         str(dest), "--model", brightness_model,
                                         "--runtime", runtime])
        assert summary["written"] == 2, summary
        pixels[runtime] = {name: np.asarray(Image.open(dest / name)) for name in ("a.png",
                                                                                  "b.png")}
    for name in ("a.png", "b.png"):
        diff = np.abs(pixels["openvino"][name].astype(int) - pixels["savedmodel"][name])
        assert diff.max() <= 1, name   # float32 both: at most a rounding step of alpha
