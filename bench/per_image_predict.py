"""What "the same bytes in any batch" costs: one batch of N through `serve_resized` against the same
N images one at a time (`pipelines.serving.inference.LoadedModel.predict` runs each image on its
own so a photo's alpha never depends on the batch it lands in).

    python bench/per_image_predict.py [--image_size 256] [--batch 16] [--repeats 3] [--threads 0]
        [--runtime savedmodel|openvino]

Exports an untrained default U-Net (the speed does not depend on the weights) into a temporary
folder, warms both call shapes, then times `repeats` rounds of each and prints seconds per image
and the ratio (per image / batched), plus whether any float differed between the two.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--runtime", default="savedmodel", choices=("savedmodel", "openvino"))
    args = parser.parse_args(argv)
    sys.path.insert(0, REPO)
    import numpy as np
    import tensorflow as tf

    from model import architectures
    from model.export import export_model
    from pipelines.serving import inference

    size = args.image_size
    with tempfile.TemporaryDirectory() as tmp:
        model = architectures.build_model(architectures.ModelConfig(image_size=size))
        export = export_model(model, os.path.join(tmp, "export"), size, mean=[127] * 3,
                              std=[60] * 3)
        loaded = inference.load_model(export, args.runtime, args.threads)
        images = np.random.default_rng(0).integers(0, 255, (args.batch, size, size, 3),
                                                   dtype=np.uint8)
        def batched():  # the runtime's raw call: a whole batch at once
            if args.runtime == "openvino":
                request = loaded._compiled.create_infer_request()
                return np.array(request.infer({0: images})[0], dtype=np.float32)
            return loaded._signature(images=tf.constant(images))["alpha"].numpy()

        def per_image():
            return loaded.predict(images)

        timings = {}
        for name, fn in (("batched", batched), ("per_image", per_image)):
            fn()  # warm: the first call of a shape traces
            start = time.perf_counter()
            for _ in range(args.repeats):
                out = fn()
            timings[name] = (time.perf_counter() - start) / (args.repeats * args.batch)
            timings[name + "_out"] = out
    differ = int((timings["batched_out"] != timings["per_image_out"]).sum())
    print(f"{args.runtime}, image_size {size}, batch {args.batch}: batched "
          f"{timings['batched'] * 1000:.1f} ms/image, per image "
          f"{timings['per_image'] * 1000:.1f} ms/image, ratio "
          f"{timings['per_image'] / timings['batched']:.2f}; floats that differ: {differ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
