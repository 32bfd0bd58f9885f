"""The preprocess job over the synthetic archives: conservation, quirks, splits, dedup, outputs."""
import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from model import schema, transform
from pipelines.preprocess import job as preprocess, sources
from pipelines.core.rejects import JobError
from tests.cutout_support import preprocess_args, read_examples, read_rejects


def input_images(raw):
    """Every image file of the three synthetic sources, found independently of the readers:
    (source, path relative to the dataset root)."""
    found = set()

    def real(name):
        base = name.rsplit("/", 1)[-1]
        return base and not base.startswith(".")

    with zipfile.ZipFile(raw / "P3M-10k.zip") as zf:
        for name in zf.namelist():
            if real(name) and name.startswith("P3M-10k/") and ("/blurred_image/" in name
                                                or "/original_image/" in name):
                found.add(("p3m10k", name.split("/", 1)[1]))
    import tarfile
    with tarfile.open(raw / "COD10K-v3.tar.gz") as tf_:
        for name in tf_.getnames():
            if real(name) and name.startswith("COD10K-v3/") and "/Image/" in name:
                found.add(("cod10k", name.split("/", 1)[1]))
    for name in os.listdir(raw / "people_segmentation" / "images"):
        if real(name):
            found.add(("people_seg", f"images/{name}"))
    return found


def relpath_of_reject(record):
    path = record["path"].split("!/", 1)[-1]
    for root in ("P3M-10k/", "COD10K-v3/"):
        if path.startswith(root):
            return path[len(root):]
    return "images/" + path.rsplit("/images/", 1)[1] if "/images/" in path else path


def test_every_input_image_is_written_or_listed(synthetic_raw, preprocessed):
    raw, _ = synthetic_raw
    out, manifest = preprocessed
    examples = read_examples(out)
    rejects = read_rejects(out)
    written = {tuple(k.split("/", 1)) for k in examples}
    listed = {(r["source"], relpath_of_reject(r)) for r in rejects}
    expected = input_images(raw)
    assert written.isdisjoint(listed)
    assert written | listed == expected
    # The manifest's counts equal the shards and the reject lines.
    assert manifest["rejected_lines"] == len(rejects)
    assert sum(manifest["rejected"].values()) + sum(manifest["skipped"].values()) == len(rejects)
    for split in schema.SPLITS:
        assert manifest["totals"][split] == sum(1 for s, _ in examples.values() if s == split)
    assert sum(manifest["totals"].values()) == sum(
        n for per_split in manifest["counts"].values() for n in per_split.values())


def test_quirks_are_handled_and_counted(synthetic_raw, preprocessed):
    raw, written = synthetic_raw
    out, manifest = preprocessed
    quirks = written["quirks"]
    rejects = {relpath_of_reject(r): r for r in read_rejects(out)}

    def rel(path):
        return path.split("/", 1)[1] if not path.startswith("images/") else path

    for path in quirks["truncated"]:
        assert rejects[rel(path)]["reason"] == "undecodable"
    for path in quirks["zero_byte"]:
        assert rejects[rel(path)]["reason"] == "empty_file"
    for path in quirks["no_mask"]:
        assert rejects[rel(path)]["reason"] == "no_mask"
    for path in quirks["noncam_empty_mask"] + quirks["noncam_no_mask"]:
        assert rejects[rel(path)]["reason"] == "noncam"
    assert manifest["quirks"]["exif_rotated"] >= 1
    assert manifest["quirks"]["cmyk"] == len(quirks["cmyk"])
    assert manifest["quirks"]["mask_resized"] == len(quirks["mask_size_differs"])
    assert manifest["quirks"]["grayscale"] >= len(quirks["grayscale"])
    ds_store = [p for p in quirks["ds_store"] if not p.startswith("photos/")]
    assert manifest["ignored_files"]["junk"] == len(quirks["macosx"]) + len(ds_store)


def test_duplicate_keeps_the_val_or_test_copy(synthetic_raw, preprocessed):
    _, written = synthetic_raw
    out, _ = preprocessed
    examples = read_examples(out)
    rejects = read_rejects(out)
    dup_paths = written["quirks"]["duplicate"]
    dup_keys = ["p3m10k/" + p.split("/", 1)[1] for p in dup_paths]
    kept = [k for k in dup_keys if k in examples]
    assert len(kept) == 1 and examples[kept[0]][0] in ("val", "test")
    dropped = [r for r in rejects if r["reason"] == "duplicate"]
    assert len(dropped) == 1 and kept[0] in dropped[0]["detail"]


def test_examples_are_well_formed(preprocessed):
    out, manifest = preprocessed
    size = manifest["image_size"]
    examples = read_examples(out)
    values_by_source = {}
    for key, (split, ex) in examples.items():
        image = np.asarray(Image.open(io.BytesIO(ex["image"])))
        mask = np.asarray(Image.open(io.BytesIO(ex["mask"])))
        assert image.shape == (size, size, 3) and mask.shape == (size, size)
        assert ex["schema_version"] == schema.SCHEMA_VERSION and ex["image_size"] == size
        assert ex["orig_height"] > 0 and ex["orig_width"] > 0
        assert ex["source"].decode() == key.split("/")[0]
        values_by_source.setdefault(ex["source"].decode(), set()).update(np.unique(mask).tolist())
    # Every source's masks were decoded to 0..255 alpha (people's 0/1 masks scaled up).
    for source, values in values_by_source.items():
        assert max(values) == 255, source
    # P3M's soft alpha survives as soft alpha.
    assert len(values_by_source["p3m10k"] - {0, 255}) > 20
    # Official splits were kept: P3M-500-NP is test, P3M-500-P is val, COD Test is test.
    for key, (split, _) in examples.items():
        if "/P3M-500-NP/" in key or key.startswith("cod10k/Test/"):
            assert split == "test", key
        if "/P3M-500-P/" in key:
            assert split == "val", key
        if key.startswith("p3m10k/train/"):
            assert split == "train", key


def test_exif_rotated_images_keep_their_upright_size(synthetic_raw, preprocessed):
    raw, written = synthetic_raw
    out, _ = preprocessed
    examples = read_examples(out)
    checked = 0
    with zipfile.ZipFile(raw / "P3M-10k.zip") as zf:
        for path in written["quirks"]["exif_rotated"]:
            if not path.startswith("P3M-10k/"):
                continue
            stored = Image.open(io.BytesIO(zf.read(path)))  # sideways, as stored
            _, ex = examples["p3m10k/" + path.split("/", 1)[1]]
            assert (ex["orig_width"], ex["orig_height"]) == (stored.size[1], stored.size[0])
            checked += 1
    assert checked >= 1


def test_normalisation_is_the_training_pixels_statistics(preprocessed):
    out, _ = preprocessed
    mean, std = transform.load_normalization(str(out / "transform"))
    pixels = np.concatenate([
        np.asarray(Image.open(io.BytesIO(ex["image"]))).reshape(-1, 3)
        for split, ex in read_examples(out).values() if split == "train"]).astype(np.float64)
    # The analysis saw the pixels before JPEG encoding; the shards hold them after.
    assert np.allclose(mean, pixels.mean(axis=0), atol=1.5)
    assert np.allclose(std, pixels.std(axis=0), atol=1.5)


def test_zip_and_extracted_folder_give_the_same_keys_and_splits(synthetic_raw, preprocessed,
                                                                tmp_path):
    """Also runs the job in multi-process mode with 2 workers: the mode used for speed here."""
    raw, _ = synthetic_raw
    out, _ = preprocessed
    with zipfile.ZipFile(raw / "P3M-10k.zip") as zf:
        zf.extractall(tmp_path / "extracted")
    out2 = tmp_path / "out2"
    preprocess.run(["--source", f"p3m10k={tmp_path}/extracted", "--output_dir", str(out2),
                    "--image_size", "48", "--direct_num_workers", "2",
                    "--direct_running_mode", "multi_processing"])
    from_zip = {k: s for k, (s, _) in read_examples(out).items() if k.startswith("p3m10k/")}
    from_folder = {k: s for k, (s, _) in read_examples(out2).items()}
    assert from_folder == from_zip


def test_refuses_a_non_empty_output_and_bad_options(synthetic_raw, preprocessed, tmp_path):
    raw, _ = synthetic_raw
    out, _ = preprocessed
    with pytest.raises(JobError, match="not empty"):
        preprocess.run(preprocess_args(raw, out))
    with pytest.raises(JobError, match="unknown kind"):
        preprocess.run(["--source", "imagenet=/x", "--output_dir", str(tmp_path / "o")])
    with pytest.raises(JobError, match="does not exist"):
        preprocess.run(["--source", "folder=/no/such/folder", "--output_dir", str(tmp_path / "o")])
    with pytest.raises(JobError, match="share the name"):
        preprocess.run(["--source", f"folder={raw}", "--source", f"folder={raw}/photos",
                        "--output_dir", str(tmp_path / "o")])
    (tmp_path / "data.7z").write_bytes(b"7z\xbc\xaf\x27\x1c")
    with pytest.raises(JobError, match="not a supported archive"):
        preprocess.run(["--source", f"folder={tmp_path}/data.7z", "--output_dir",
                        str(tmp_path / "o")])
    with pytest.raises(JobError, match="shard_mb"):
        preprocess.run(["--source", f"folder={raw}", "--output_dir", str(tmp_path / "o"),
                        "--shard_mb", "0"])
    # Training needs a validation split: a source that has none of its own can't go without.
    with pytest.raises(JobError, match="--val_fraction 0 leaves cod10k, mine without a "
                                         "validation split"):
        preprocess.run(["--source", f"cod10k={raw}/COD10K-v3.tar.gz", "--source",
                        f"folder:mine={raw}", "--output_dir", str(tmp_path / "o"),
                        "--val_fraction", "0"])
    assert preprocess.main(["--output_dir", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_generic_folder_source_with_hash_splits(tmp_path):
    from pipelines.synthetic import datasets as synthetic

    rng = np.random.default_rng(3)
    for sub in ("images", "masks"):
        (tmp_path / "mine" / "set" / sub).mkdir(parents=True)
    for i in range(12):
        rgb, alpha = synthetic.render_scene(rng, 40, 50)
        Image.fromarray(rgb).save(tmp_path / "mine" / "set" / "images" / f"im{i}.jpg")
        Image.fromarray((alpha > 127).astype(np.uint8)).save(
            tmp_path / "mine" / "set" / "masks" / f"im{i}.png")  # 0/1 masks
    (tmp_path / "mine" / "set" / "masks" / "orphan.png").write_bytes(b"x")
    (tmp_path / "mine" / "set" / "images" / "nested").mkdir()
    (tmp_path / "mine" / "set" / "images" / "nested" / "deep.jpg").write_bytes(b"x")
    (tmp_path / "mine" / "set" / "README.txt").write_text("about this set")
    manifest = preprocess.run(["--source", f"folder:mine={tmp_path}/mine",
                               "--output_dir", str(tmp_path / "out"), "--image_size", "32",
                               "--val_fraction", "0.25", "--test_fraction", "0.25"])
    examples = read_examples(tmp_path / "out")
    assert len(examples) == 12 and manifest["counts"]["mine"]["train"] < 12
    for key, (split, ex) in examples.items():
        assert key.startswith("mine/set/images/im")  # the folders above images/ stay
        assert split == sources.hash_split(key, 0.25, 0.25)
        assert np.asarray(Image.open(io.BytesIO(ex["mask"]))).max() == 255
    assert sorted(r["reason"] for r in read_rejects(tmp_path / "out")) == [
        "mask_without_image", "outside_layout"]
    assert manifest["ignored_files"] == {"not_an_image": 1}
