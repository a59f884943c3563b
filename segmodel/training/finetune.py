"""Fine-tuning a pretrained encoder: its own learning-rate factor, and frozen first epochs.

    opt = scale_backbone_rate(make_optimizer("adamw", 3e-4, ...), model, 0.1)
    compile_model(model, opt); prepare_optimizer(model)
    model.fit(..., callbacks=[FreezeBackbone(backbone_layer(model, whole=True), epochs=2)])

"The backbone" is whatever the preset pretrained (`hub_models.backbone_layer`): the whole
keras-hub backbone of a segmenter preset (--preset), the encoder of an encoder preset
(--backbone-preset), whose new ASPP / decoder layers train from the first epoch.

Both are training-time settings: `model.keras` records the optimizer as its base Keras class
(Adam, AdamW, ...) with the same variables, so it still loads without segkit.
"""

import keras

from segmodel.models.hub import backbone_layer

# Recipe defaults for keras-hub models (tools/train.py uses them when the flags are not given).
OPTIMIZER = "adamw"
SCHEDULE = "cosine"
WARMUP_EPOCHS = 1


def scale_backbone_rate(optimizer, model, scale, whole=False):
    """An optimizer like `optimizer` whose updates of the backbone's variables use lr * scale.

    Args:
      optimizer: a built-in Keras optimizer, not yet built (learning rate or schedule kept).
      model: a model from `segmodel.models.hub.build_hub_model` (all variables created).
      scale: float > 0; 1 returns `optimizer` unchanged.
      whole: as for `hub_models.backbone_layer` (True for a model built from a segmenter preset).

    Returns:
      keras.optimizers.Optimizer of the same class name, config and variables, built for all
      of `model.trainable_variables` (needed anyway for frozen epochs, see `FreezeBackbone`).
    """
    scale = float(scale)
    if not scale > 0:
        raise ValueError(f"backbone learning-rate scale must be > 0, got {scale}")
    if scale == 1.0:
        return optimizer
    base = type(optimizer)

    class Scaled(base):
        def update_step(self, gradient, variable, learning_rate):
            if self._get_variable_index(variable) in self.backbone_indices:
                learning_rate = learning_rate * scale
            return super().update_step(gradient, variable, learning_rate)

        def mark_backbone(self, variables):
            """Scale the learning rate of these (built) variables from now on."""
            self.backbone_indices = {self._get_variable_index(v) for v in variables}

    # Serialised under the base class's name and module: model.keras then names a plain Keras
    # optimizer, whose variables these are, and loads in a process without segkit.
    Scaled.__name__, Scaled.__qualname__, Scaled.__module__ = (
        base.__name__, base.__qualname__, base.__module__)
    scaled = Scaled.from_config(optimizer.get_config())
    scaled.build(model.trainable_variables)
    encoder = {id(v) for v in backbone_layer(model, whole).trainable_variables}
    scaled.mark_backbone([v for v in model.trainable_variables if id(v) in encoder])
    return scaled


def prepare_optimizer(model):
    """Creates the compiled model's optimizer variables for every trainable variable.

    Keras builds an optimizer lazily for the variables of its first step; a step taken while
    the encoder is frozen would leave the encoder out, and unfreezing would then fail.
    """
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


class FreezeBackbone(keras.callbacks.Callback):
    """Keeps `layer` frozen for the first `epochs` epochs (0-based epoch < epochs).

    A frozen layer's weights do not change and its BatchNormalization layers run in inference
    mode, so their moving statistics do not change either. The training function is retraced
    when the state flips; on --resume the state follows the epoch Keras restarts at.
    """

    def __init__(self, layer, epochs):
        super().__init__()
        self.layer = layer
        self.epochs = int(epochs)
        self.traced_frozen = None

    def on_train_begin(self, logs=None):
        self.traced_frozen = None  # the cached train function may come from another state

    def on_epoch_begin(self, epoch, logs=None):
        frozen = epoch < self.epochs
        if self.traced_frozen != frozen:
            self.layer.trainable = not frozen
            self.model.make_train_function(force=True)
            self.traced_frozen = frozen

    def on_train_end(self, logs=None):
        self.layer.trainable = True


def callbacks(model, freeze_backbone_epochs, whole=False):
    """[FreezeBackbone] when freeze_backbone_epochs > 0, else []; `whole` as for
    `hub_models.backbone_layer`."""
    if int(freeze_backbone_epochs) < 0:
        raise ValueError(f"freeze_backbone_epochs must be >= 0, got {freeze_backbone_epochs}")
    if not freeze_backbone_epochs:
        return []
    return [FreezeBackbone(backbone_layer(model, whole), freeze_backbone_epochs)]
