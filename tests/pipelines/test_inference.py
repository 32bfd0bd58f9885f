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
