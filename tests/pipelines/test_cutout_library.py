"""The library call as a user's loop makes it: a model loaded once and reused, and one warning
when a path makes every call load the model again."""
import warnings

import pytest
from PIL import Image

from pipelines.serving import cutout, inference
from tests import cutout_support as cs


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


@pytest.fixture(autouse=True)
def fresh_warning_state(monkeypatch):
    monkeypatch.setattr(cutout, "_paths_seen", set())
    monkeypatch.setattr(cutout, "_warned_reload", False)


def test_a_loaded_model_serves_every_call_without_a_warning(model_dir):
    data = cs.encode(Image.fromarray(cs.scene()), "PNG")
    model = cutout.load_model(model_dir)
    assert isinstance(model, inference.LoadedModel)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pngs = [cutout.remove_background_bytes(data, model) for _ in range(3)]
    assert pngs[0] == pngs[1] == pngs[2] == cutout.remove_background_bytes(data, model_dir)


def test_a_path_passed_again_warns_once_naming_the_callers_line(model_dir):
    data = cs.encode(Image.fromarray(cs.scene()), "PNG")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cutout.remove_background_bytes(data, model_dir)   # one call: the one-image tool's case
        assert caught == []
        for _ in range(3):
            cutout.remove_background_bytes(data, model_dir)
    assert len(caught) == 1
    assert "cutout.load_model" in str(caught[0].message)
    assert caught[0].filename == __file__
