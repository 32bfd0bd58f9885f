import pytest

from tests import cutout_support as cs


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A tiny real export (tests/cutout_support.py's brightness model), made once."""
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("trust_model") / "export"))
