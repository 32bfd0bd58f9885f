"""Fixtures for the training tests: a tiny data folder laid out as pipelines.preprocess writes it.

`OUT/{train,val,test}/<split>-00000-of-00001.tfrecord.gz` (gzip TFRecords of
`model.schema.make_example` records, framed by `model.tfrecord.frame`), `OUT/transform/`
(the real tf.Transform analysis, run on the training images' statistics) and `OUT/manifest.json`.
Scenes come from `synthetic.datasets.render_scene` (one to three objects on a textured background,
alpha = the objects' exact coverage).
"""
from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest
from PIL import Image

IMAGE_SIZE = 32


def write_data_dir(out_dir: str, counts: dict, image_size: int, seed: int = 0,
                   schema_version: int | None = None) -> dict:
    """Writes a data folder; returns {"images": {split: [rgb uint8...]}, "masks": ...}.

    `schema_version` overrides the version written into both the examples and the manifest (for
    tests of the version check)."""
    from model import schema, transform
    from model import tfrecord
    from pipelines.core import imaging
    from pipelines.preprocess import analysis
    from pipelines.synthetic import datasets as synthetic

    rng = np.random.default_rng(seed)
    images, masks, stats = {}, {}, []
    for split, n in counts.items():
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        records = []
        images[split], masks[split] = [], []
        for i in range(n):
            rgb, alpha = synthetic.render_scene(rng, image_size, image_size)
            images[split].append(rgb)
            masks[split].append(alpha)
            example = schema.make_example(
                key=f"synthetic/{split}/{i:05d}.jpg", source="synthetic",
                image_jpeg=imaging.encode_jpeg(Image.fromarray(rgb, "RGB")),
                mask_png=imaging.encode_png(Image.fromarray(alpha, "L"), "fast"),
                orig_height=image_size, orig_width=image_size, image_size=image_size)
            if schema_version is not None:
                example = schema.encode_example({
                    **_fields(example), schema.VERSION: schema_version})
            records.append(tfrecord.frame(example))
            if split == "train":
                stats.append(transform.image_statistics(rgb))
        path = os.path.join(out_dir, split, f"{split}-00000-of-00001{schema.SHARD_SUFFIX}")
        with gzip.open(path, "wb") as f:
            f.write(b"".join(records))
    analysis.write_transform_from_stats(stats, os.path.join(out_dir, "transform"))
    manifest = {"schema_version": schema.SCHEMA_VERSION if schema_version is None
                else schema_version, "image_size": image_size,
                "counts": {"synthetic": dict(counts)}}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return {"images": images, "masks": masks}


def _fields(example: bytes) -> dict:
    from model import schema

    return schema.decode_example(example)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """32 px synthetic data: 16 train, 6 val, 4 test; yields (OUT path, rendered arrays)."""
    out = str(tmp_path_factory.mktemp("train_data") / "out")
    arrays = write_data_dir(out, {"train": 16, "val": 6, "test": 4}, IMAGE_SIZE, seed=0)
    return out, arrays
