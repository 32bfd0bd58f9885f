"""The MakeExamples stage of preprocess (`pipelines/preprocess/examples.py`) alone, fed by
beam.Create."""
import io

import numpy as np
from PIL import Image

from pipelines.preprocess import containers, job as preprocess
from pipelines.preprocess.examples import MakeExamples
from pipelines.preprocess.pairing import Pair


def _pair(key, split, image, mask, source="mine"):
    member = lambda name, data: containers.Member(source, "mem.tar.gz", name, data=data)  # noqa
    return Pair(key=key, source=source, kind="folder", split=split,
                image=member(key + ".jpg", image),
                mask=member(key + ".png", mask) if mask is not None else None,
                empty_mask_allowed=False)


def test_make_examples_stage_dedups_and_rejects():
    """The stage alone, fed by beam.Create: identical bytes keep the test copy, bad input is a
    reject with its reason, nothing is lost."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.synthetic import datasets as synthetic
    from pipelines.core.options import make_pipeline

    rng = np.random.default_rng(0)
    encoded = []
    for _ in range(2):
        rgb, alpha = synthetic.render_scene(rng, 40, 60)
        img, msk = io.BytesIO(), io.BytesIO()
        Image.fromarray(rgb).save(img, "JPEG")
        Image.fromarray(alpha).save(msk, "PNG")
        encoded.append((img.getvalue(), msk.getvalue()))
    (a, a_mask), (b, b_mask) = encoded
    pairs = [_pair("mine/images/a", "train", a, a_mask),
             _pair("mine/images/a_copy", "test", a, a_mask),
             _pair("mine/images/b", "val", b, b_mask),
             _pair("mine/images/c", "train", b"\xff\xd8 broken", a_mask),
             _pair("mine/images/d", "train", b, None)]
    config = preprocess.Config(sources=(), output_dir="", image_size=32)
    with make_pipeline(PipelineOptions([])) as p:
        made = p | beam.Create(pairs, reshuffle=False) | MakeExamples(config)
        assert_that(made["examples"] | "Keys" >> beam.Map(lambda e: (e.key, e.split)),
                    equal_to([("mine/images/a_copy", "test"), ("mine/images/b", "val")]),
                    label="Examples")
        assert_that(made["rejected"] | "Reasons" >> beam.Map(
                        lambda r: (r["path"].rsplit("/", 1)[-1], r["reason"])),
                    equal_to([("a.jpg", "duplicate"), ("c.jpg", "not_an_image"),
                              ("d.jpg", "no_mask")]), label="Rejects")
