"""The fast CPU runtime (`--runtime openvino`): its artefact is made by the exporter from the
same function and weights as the SavedModel, gives the SavedModel's outputs (float32: within
1e-5; bfloat16, `--runtime openvino_bf16` on CPUs that compute it natively: within 0.06 of an
alpha in [0, 1] at any pixel and 0.005 on average; measured 0.03-0.04 and 0.002 on this random
U-Net),
can be added to an export made before it, and a damaged artefact is one line before
any work."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from model import add_openvino, export, openvino_export
from pipelines.core.rejects import JobError
from pipelines.remove_background import job as remove_background
from pipelines.serving import cutout, inference, model_files, openvino_model
from tests.cutout_support import encode, export_brightness_model, scene

FLOAT32_TOLERANCE = 1e-5
BFLOAT16_TOLERANCE = 0.06    # ~8 significant bits through a small U-Net's sums
MEAN_TOLERANCE = {"f32": FLOAT32_TOLERANCE, "bf16": 0.005}


def small_unet_export(export_dir: str, tta: str = "none") -> str:
    """A real U-Net (two levels, 4 base filters, random weights) at 32 px: every kind of layer
    the default architecture has (convolutions, BatchNorm, pooling, transposed convolutions,
    concatenations, the sigmoid head)."""
    import keras

    from model.architectures import ModelConfig, build_model

    keras.utils.set_random_seed(3)
    net = build_model(ModelConfig(architecture="unet", image_size=32, base_filters=4, levels=2))
    export.export_model(net, export_dir, 32, mean=[120, 110, 100], std=[60, 58, 57], tta=tta)
    return export_dir


@pytest.fixture(scope="module")
def unet_dir(tmp_path_factory):
    return small_unet_export(str(tmp_path_factory.mktemp("unet") / "export"))


def photos(n=5, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_the_export_carries_the_artefact_with_its_digests(unet_dir):
    entry = export.read_metadata(unet_dir)[openvino_export.METADATA_KEY]
    assert set(entry["files"]) == set(openvino_export.OPENVINO_FILES)
    for name, want in entry["files"].items():
        with open(os.path.join(unet_dir, openvino_export.OPENVINO_SUBDIR, name), "rb") as f:
            assert openvino_export.digest(f.read()) == want


@pytest.mark.parametrize("precision,tolerance", [("f32", FLOAT32_TOLERANCE),
                                                 ("bf16", BFLOAT16_TOLERANCE)])
def test_outputs_match_the_savedmodel(unet_dir, precision, tolerance):
    saved = inference.load_saved_model(unet_dir, threads=1)
    fast = openvino_model.load_openvino_model(unet_dir, threads=1, precision=precision)
    assert fast.image_size == saved.image_size == 32
    for batch in (photos(1), photos(5, seed=1)):   # the batch size is free
        want, got = saved.predict(batch), fast.predict(batch)
        assert got.shape == want.shape == batch.shape[:3] + (1,) and got.dtype == np.float32
        assert np.abs(got - want).max() <= tolerance
        assert np.abs(got - want).mean() <= MEAN_TOLERANCE[precision]
        assert want.std() > 0.05   # the outputs are not all alike


def test_test_time_augmentation_is_inside_the_artefact(tmp_path):
    model_dir = small_unet_export(str(tmp_path / "export"), tta="flip")
    saved = inference.load_saved_model(model_dir, threads=1)
    fast = openvino_model.load_openvino_model(model_dir, threads=1, precision="f32")
    batch = photos(2, seed=4)
    assert np.abs(fast.predict(batch) - saved.predict(batch)).max() <= FLOAT32_TOLERANCE


def test_threads_share_one_model(unet_dir):
    import concurrent.futures

    fast = openvino_model.load_openvino_model(unet_dir, threads=1, precision="f32")
    batches = [photos(2, seed=s) for s in range(6)]
    want = [fast.predict(b) for b in batches]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        got = list(pool.map(fast.predict, batches))
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_cutout_export_adds_it_to_an_older_export(tmp_path, capsys):
    model_dir = export_brightness_model(str(tmp_path / "export"))
    reference = openvino_model.load_openvino_model(model_dir, precision="f32").predict(photos())
    shutil.rmtree(os.path.join(model_dir, openvino_export.OPENVINO_SUBDIR))
    metadata = export.read_metadata(model_dir)
    del metadata[openvino_export.METADATA_KEY]
    export.write_metadata(model_dir, metadata)
    with pytest.raises(JobError, match="has no OpenVINO model.*cutout export"):
        model_files.check_export(model_dir, runtime="openvino")
    model_files.check_export(model_dir, runtime="savedmodel")   # the SavedModel alone is whole

    assert add_openvino.main([model_dir]) == 0
    assert "openvino/" in capsys.readouterr().out
    again = openvino_model.load_openvino_model(model_dir, precision="f32").predict(photos())
    assert np.array_equal(again, reference)


def test_cutout_export_of_a_folder_that_is_no_export(tmp_path, capsys):
    assert add_openvino.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a model export" in err


def damage_artefact(model_dir: str, damage: str) -> str:
    """Truncates, flips a byte of, or deletes a file of EXPORT/openvino; returns its path."""
    name = "model.xml" if damage == "flip_xml" else "model.bin"
    path = os.path.join(model_dir, openvino_export.OPENVINO_SUBDIR, name)
    if damage == "delete_bin":
        os.remove(path)
        return path
    data = bytearray(open(path, "rb").read())
    if damage == "truncate_bin":
        data = data[:-4]
    else:
        data[len(data) // 2] ^= 0x20
    with open(path, "wb") as f:
        f.write(bytes(data))
    return path


@pytest.mark.parametrize("damage", ["truncate_bin", "flip_xml", "delete_bin"])
def test_a_damaged_artefact_is_one_line_naming_the_file(tmp_path, damage):
    model_dir = export_brightness_model(str(tmp_path / "export"))
    path = damage_artefact(model_dir, damage)
    for check in (lambda: model_files.check_export(model_dir, runtime="openvino"),   # the driver
                  lambda: openvino_model.load_openvino_model(model_dir)):   # a worker
        with pytest.raises(JobError) as info:
            check()
        message = str(info.value)
        assert "\n" not in message and path in message and "cutout export" in message
        assert {"truncate_bin": "bytes", "flip_xml": "SHA-256", "delete_bin": "missing"}[damage] \
            in message
    model_files.check_export(model_dir, runtime="savedmodel")   # the other runtime still runs


def test_the_commands_stop_before_any_work_on_a_damaged_artefact(tmp_path, capsys):
    model_dir = export_brightness_model(str(tmp_path / "export"))
    path = damage_artefact(model_dir, "truncate_bin")
    photo = tmp_path / "in" / "a.png"
    photo.parent.mkdir()
    photo.write_bytes(encode(Image.fromarray(scene()), "PNG"))
    out = tmp_path / "a_cut.png"
    assert cutout.main([str(photo), str(out), "--model", model_dir]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cutout: error: ") and path in err[0]
    assert not out.exists()
    dest = tmp_path / "dest"
    assert remove_background.main(["--input", str(photo.parent), "--output_dir", str(dest),
                                   "--model", model_dir]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and path in err[0]
    assert not dest.exists()   # nothing claimed, nothing written


def test_metadata_is_plain_json(unet_dir):
    with open(os.path.join(unet_dir, export.METADATA_FILE)) as f:
        assert json.load(f)[openvino_export.METADATA_KEY]["weights"] == "float32"
