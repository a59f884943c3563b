"""`TrainConfig`: every option of a training run in one place (Model Garden's config style).

    config = TrainConfig(model="unet", image_size=(96, 96), epochs=20, seed=1)
    segmodel.train("records", "runs/unet", config)           # or train(..., epochs=20, ...)
    segkit train --records records --output-dir runs/unet --model unet --epochs 20

Each field carries its command-line flag in its metadata (`add_arguments` builds the parser of
`segkit train` from them, `from_args` reads them back), so a new training option is one new
field here: `training.train` and `multiworker.train` read it from the config, and run.json
records it.
"""

import argparse
import dataclasses

from segmodel.distribute import strategy as distribute
from segmodel.models import hub as hub_models
from segmodel.training import callbacks, finetune, precision

# Why not the chapter's adam at 1e-3: on Pets-like data the chapter's model sits on the
# "everything is background" plateau for several epochs at that rate, and with a warm-up to 1e-3
# it can collapse for good (dead ReLUs: constant output). Adam at 3e-4 left the plateau sooner
# in our runs (docs: "Choosing the defaults"). The chapter's recipe stays one flag away.
DEFAULT_OPTIMIZER = "adam"
DEFAULT_LEARNING_RATE = 3e-4
DEFAULT_SCHEDULE = "constant"
DEFAULT_WARMUP_EPOCHS = 0
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")


def positive_int(text):
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def non_negative_int(text):
    """argparse type: an int >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def size_pair(text):
    """argparse type: "H,W", "HxW" or one int N (N x N) -> (H, W) positive ints."""
    parts = str(text).lower().replace("x", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHT,WIDTH (e.g. 240,320 or 240x320) or one size N, got {text!r}")
    return values


def positive_float(text):
    """argparse type: a float > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


_SAME = object()


def _option(default, help, flag=True, flag_default=_SAME, **argparse_kwargs):
    """A field with its `segkit train` flag: --name-with-dashes (or `flag`; False: none), whose
    default is the field's unless `flag_default` (e.g. None: "the recipe decides")."""
    return dataclasses.field(default=default, metadata={
        "flag": flag, "help": help, "argparse": argparse_kwargs,
        "flag_default": default if flag_default is _SAME else flag_default})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The options of one training run (`segmodel.training.loop.train`,
    `segmodel.distribute.multiworker.train`).

    Defaults are the single-machine defaults; `optimizer`, `schedule` and `warmup_epochs` of
    keras-hub models default to the fine-tuning recipe when built with `from_args` or
    `config.recipe`. `model_options` holds "preset" / "backbone_preset" for keras-hub models.
    """

    # choices filled in by add_arguments (it imports the model registries)
    model: str = _option("chapter", "the model family (default chapter)")
    image_size: object = _option(
        (200, 200), "training size H,W (or HxW, or one int for a square), multiples of 8 "
        "(default 200); with --crop-size the base size that --scale-range scales",
        type=size_pair, flag_default=200, metavar="H,W")
    batch_size: int = _option(64, "global batch size, split over replicas (default 64)",
                              type=positive_int)
    epochs: int = _option(50, "epochs to train (default 50)", type=positive_int)
    seed: object = _option(None, "seed for weights and shuffling", type=int)
    precision: str = _option(
        "auto", "auto: mixed_float16 on GPUs with compute capability >= 7.0, mixed_bfloat16 on "
        "CPUs with native bf16, else float32", choices=precision.CHOICES)
    strategy: str = _option(
        "auto", "auto: MirroredStrategy over several GPUs, else one device; multiworker: "
        "MultiWorkerMirroredStrategy, cluster from TF_CONFIG or Slurm",
        choices=distribute.CHOICES + ("multiworker",))
    cpu_replicas: object = _option(
        None, "split the CPU into N logical devices and mirror over them (testing)",
        type=positive_int)
    augment: bool = _option(False, "random flips etc. on training data", action="store_true")
    cache: bool = _option(False, "cache decoded images in memory (--no-cache: decode every "
                                 "epoch, e.g. over a recipe that caches)",
                          action=argparse.BooleanOptionalAction)
    crop_size: object = _option(
        None, "scale-and-crop training: random crops of H,W (multiples of 8) from each photo "
        "resized to --image-size x a factor from --scale-range, padded with the ignore label, "
        "flipped at random; validation stays at --image-size", type=size_pair, metavar="H,W")
    scale_range: object = _option(
        (0.5, 2.0), "random scale factors of --image-size for --crop-size (default 0.5 2.0)",
        type=positive_float, nargs=2, metavar=("LOW", "HIGH"))
    color_jitter: float = _option(
        0.0, "with --crop-size: random brightness/contrast/saturation of this strength 0..1 "
        "(default 0: none)", type=float, metavar="STRENGTH")
    class_weights: object = _option(
        None, "weigh the loss per class: median-frequency (SegNet's), inverse-sqrt (both from "
        "the manifest's pixel counts of the train split) or a JSON list of num_classes numbers; "
        "the ignore label stays ignored", metavar="SCHEME")
    max_minutes: object = _option(
        None, "time budget: stop after the epoch that would make the next one end past it "
        "(the best model is kept)", type=positive_float, metavar="MINUTES")
    best_checkpoint_metric: str = _option(
        "val_loss", "which epoch model.keras keeps: val_loss (lowest; the chapter's) or "
        "val_mean_iou (highest; Model Garden's best checkpoint for segmentation)",
        choices=tuple(callbacks.BEST_METRICS))
    recipe: object = _option(
        None, "fill every option from a named recipe (segkit train --list-recipes); flags given "
        "explicitly still win", metavar="NAME")
    resize: str = _option(
        "stretch", "stretch to the square (the chapter's) or pad, keeping the aspect ratio; "
        "padded pixels are ignored by the loss and the IoU metrics", choices=("stretch", "pad"))
    optimizer: str = _option(
        DEFAULT_OPTIMIZER, f"default {DEFAULT_OPTIMIZER}; adamw for keras-hub",
        choices=OPTIMIZERS, flag_default=None)
    learning_rate: float = _option(
        DEFAULT_LEARNING_RATE, f"peak learning rate, not rescaled by replicas "
        f"(default {DEFAULT_LEARNING_RATE})", type=positive_float)
    schedule: str = _option(
        DEFAULT_SCHEDULE, "constant (default), or linear warm-up then cosine decay to 0 "
        "(default for keras-hub models)", choices=SCHEDULES, flag_default=None)
    warmup_epochs: int = _option(
        DEFAULT_WARMUP_EPOCHS, f"default {DEFAULT_WARMUP_EPOCHS}, 1 for keras-hub models",
        type=non_negative_int, flag_default=None)
    resume: bool = _option(False, "continue the run in --output-dir from its last finished "
                           "epoch", action="store_true")
    overwrite: bool = _option(False, "delete the run files already in --output-dir and start "
                              "again", action="store_true")
    model_options: object = _option(None, "keras-hub presets (from --preset / "
                                    "--backbone-preset)", flag=False)
    freeze_backbone_epochs: int = _option(
        0, "keep what the preset pretrained (weights and BatchNorm statistics) frozen for the "
        "first N epochs: the whole backbone of a --preset, the encoder of a --backbone-preset "
        "(default 0)", type=non_negative_int)
    backbone_lr_scale: float = _option(
        1.0, "learning rate of those pretrained layers = this x --learning-rate (default 1: "
        "same)", type=positive_float)
    data_service: object = _option(
        None, "read training batches from a tf.data service dispatcher, e.g. grpc://host:5050 "
        "(segkit data-service starts one)", metavar="ADDRESS")
    tensorboard: bool = _option(True, "skip TensorBoard logs", flag="--no-tensorboard",
                                action="store_false", dest="tensorboard")
    verbose: object = _option(
        "auto", "Keras fit verbosity (default: a progress bar on a terminal, one line per epoch "
        "into a file or pipe); with --strategy multiworker: 0 no epoch lines, 1 progress bar "
        "on the chief, 2 (default) one line per epoch", type=int, choices=(0, 1, 2),
        flag_default=None)

    def replace(self, **changes):
        """A copy with `changes`; a TypeError names an unknown option."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown training option(s) {unknown}; TrainConfig has "
                            f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """{field: value}, for run.json."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def make_config(config=None, **changes):
    """`config` (a TrainConfig, or None for the defaults) with `changes` applied."""
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    return (config or TrainConfig()).replace(**changes)


def add_arguments(parser):
    """Add one flag per TrainConfig field (those with a flag) to an argparse parser."""
    from segmodel.models import hub as hub_models
    from segmodel.models.builtin import MODELS

    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        if not meta["flag"]:
            continue
        kwargs = {"help": meta["help"], "default": meta["flag_default"], **meta["argparse"]}
        if f.name == "model":
            kwargs["choices"] = sorted(set(MODELS) | set(hub_models.FAMILIES))
        name = meta["flag"] if isinstance(meta["flag"], str) else \
            "--" + f.name.replace("_", "-")
        parser.add_argument(name, **kwargs)
    return parser


def recipe(model, *, preset=None, backbone_preset=None, optimizer=None, schedule=None,
            warmup_epochs=None):
    """The optimizer recipe of a run: keras-hub models fine-tune (finetune.OPTIMIZER, SCHEDULE,
    WARMUP_EPOCHS), the others use this module's defaults; values given (not None) win.

    Returns:
      (model_options dict of the presets given, optimizer, schedule, warmup_epochs).
    """
    options = {k: v for k, v in (("preset", preset), ("backbone_preset", backbone_preset)) if v}
    hub = hub_models.is_hub_model(model, **options)
    defaults = ((finetune.OPTIMIZER, finetune.SCHEDULE, finetune.WARMUP_EPOCHS) if hub else
                (DEFAULT_OPTIMIZER, DEFAULT_SCHEDULE, DEFAULT_WARMUP_EPOCHS))
    given = (optimizer, schedule, warmup_epochs)
    return (options, *(d if g is None else g for g, d in zip(given, defaults)))


def from_args(args):
    """TrainConfig from `add_arguments`' flags (plus --preset / --backbone-preset), with the
    fine-tuning recipe's defaults for keras-hub models where a flag was not given."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if f.metadata["flag"]}
    options, values["optimizer"], values["schedule"], values["warmup_epochs"] = recipe(
        values["model"], preset=getattr(args, "preset", None),
        backbone_preset=getattr(args, "backbone_preset", None), optimizer=values["optimizer"],
        schedule=values["schedule"], warmup_epochs=values["warmup_epochs"])
    values["model_options"] = options or None  # None, as runs started before keras-hub
    if values["verbose"] is None:
        values["verbose"] = "auto"
    return TrainConfig(**values)
