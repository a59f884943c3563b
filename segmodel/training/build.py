"""The pieces of a training run: model check and construction, optimizer, compile, datasets.

`segmodel.training.loop.train` (Keras `fit`) and `segmodel.distribute.multiworker.train` (a
`strategy.run` loop, the only way to train on several machines with Keras 3,
keras-team/keras#20585) both build their model, optimizer, loss, metrics and record splits here,
so the one- and multi-worker paths build exactly the same things. Build the model and optimizer
inside `strategy.scope()`, after the strategy and the precision policy exist (see
`segmodel.training.loop`).
"""

import keras
import tensorflow as tf

from segmodel.models import hub as hub_models
from segmodel.models.builtin import MODELS, build_model, check_args
from segmodel.training import class_weights as class_weights_lib
from segmodel.training.config import (
    DEFAULT_LEARNING_RATE,
    DEFAULT_OPTIMIZER,
    DEFAULT_SCHEDULE,
    OPTIMIZERS,
    SCHEDULES,
)
from segmodel.training.metrics import make_loss, make_metrics


def make_optimizer(name=DEFAULT_OPTIMIZER, learning_rate=DEFAULT_LEARNING_RATE, *,
                   schedule=DEFAULT_SCHEDULE, total_steps=None, warmup_steps=0):
    """A Keras optimizer, optionally with linear warm-up and cosine decay of the learning rate.

    Args:
      name: "adam", "adamw", "rmsprop" or "sgd" (momentum 0.9).
      learning_rate: peak learning rate; never rescaled by the replica count.
      schedule: "constant" (the chapter's) or "cosine" (warm-up then cosine decay to 0).
      total_steps, warmup_steps: optimizer steps of the whole run and of the warm-up ("cosine").
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}")
    if not learning_rate > 0:
        raise ValueError(f"learning rate must be > 0, got {learning_rate!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {list(SCHEDULES)}")
    lr = learning_rate
    if schedule == "cosine":
        if not total_steps:
            raise ValueError("the cosine schedule needs total_steps (optimizer steps of the run)")
        warmup_steps = min(int(warmup_steps), int(total_steps) - 1)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate / 10 if warmup_steps else learning_rate,
            decay_steps=max(int(total_steps) - warmup_steps, 1),
            warmup_target=learning_rate if warmup_steps else None,
            warmup_steps=warmup_steps,
        )
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9)
    return {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
            "rmsprop": keras.optimizers.RMSprop}[name](lr)


def check_model(model, image_size, model_options=None):
    """Cheap checks of a model choice before TensorFlow starts.

    Returns:
      (True for a keras-hub model, (H, W)); ValueError naming the flag otherwise.
    """
    hub = hub_models.is_hub_model(model, **(model_options or {}))
    if model not in MODELS and not hub:
        raise ValueError(f"unknown model {model!r}; choose one of "
                         f"{sorted(set(MODELS) | set(hub_models.FAMILIES))}")
    image_size = (hub_models.check_args(model, image_size, **(model_options or {})) if hub
                  else check_args(model, image_size, 2, 2 ** (model_options or {}).get("depth", 3)))
    return hub, image_size


def make_model(model, image_size, num_classes, model_options=None):
    """segkit's own model or a keras-hub one (`model_options` preset / backbone_preset)."""
    hub = hub_models.is_hub_model(model, **(model_options or {}))
    builder = hub_models.build_hub_model if hub else build_model
    return builder(model, image_size=image_size, num_classes=num_classes,
                   **(model_options or {}))


def compile_model(model, optimizer, num_classes=3, foreground_class=0):
    """Compile with the standard loss and the IoU metrics (built-in classes: see metrics.py)."""
    model.compile(optimizer=optimizer, loss=make_loss(),
                  metrics=make_metrics(num_classes, foreground_class=foreground_class))
    return model


def pick_splits(manifest):
    """(train split, validation split) from the manifest: validation, else test."""
    splits = manifest["splits"]
    if "train" not in splits:
        raise ValueError(f"the records have no 'train' split (found {sorted(splits)}); "
                         f"rebuild them with tools/build_records.py")
    for name in ("validation", "test"):
        if name in splits:
            return "train", name
    raise ValueError(f"the records have no 'validation' or 'test' split (found {sorted(splits)})")


def make_datasets(records, image_size, batch_size, *, val_split="validation", seed=None,
                  augment=False, cache=False, resize="stretch", replicas=1, data_service=None,
                  crop_size=None, scale_range=(0.5, 2.0), color_jitter=0.0, class_weights=None):
    """(train, validation) tf.data pipelines of (float32 [B,H,W,3] 0..255, uint8 [B,H,W,1]).

    With several replicas the last partial batch is dropped: a replica handed an empty batch
    crashes oneDNN's convolution. `data_service` ("grpc://HOST:PORT") reads the training split
    through the tf.data service (see segdata.input.service); validation stays local.
    `crop_size`: training batches are scale-and-crop windows (`segdata.load_dataset`),
    validation stays whole images at `image_size`. `class_weights` (num_classes floats): both
    pipelines also yield per-pixel sample weights float32 [B, H, W] (0 on ignored pixels), so
    the loss (and the validation loss that picks the best model) is weighted; the IoU metrics
    are not (they take no sample weights in `compile(metrics=...)`).
    """
    import segdata

    drop = replicas > 1
    splits = segdata.read_manifest(records)["splits"]
    common = dict(image_size=image_size, batch_size=batch_size, cache=cache, resize=resize,
                  drop_remainder=drop)
    datasets = []
    for split, train in (("train", True), (val_split, False)):
        crops = dict(crop_size=crop_size, scale_range=scale_range, jitter=color_jitter) if (
            train and crop_size is not None) else {}
        ds = segdata.load_dataset(records, split, shuffle=train, seed=seed,
                                  augment=augment and train, **common,
                                  service=data_service if train else None, **crops)
        if class_weights is not None:
            table = class_weights_lib.weight_table(class_weights)
            ds = ds.map(lambda images, masks: (images, masks,
                                               class_weights_lib.weight_map(masks, table)))
        n = splits[split]["num_examples"]
        batches = n // batch_size if drop else -(-n // batch_size)
        if ds.cardinality() == tf.data.UNKNOWN_CARDINALITY:
            # Lets fit show "k/N" from the first epoch; a wrong manifest count fails loudly.
            ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
        datasets.append(ds)
    return tuple(datasets)
