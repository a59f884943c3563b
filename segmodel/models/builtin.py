"""Segmentation models: the chapter's encoder-decoder and a small U-Net.

Both models take float32 images [B, H, W, 3] with values 0..255 (they rescale themselves, so the
input pipeline and serving code never have to agree on a normalisation) and return float32 softmax
probabilities [B, H, W, num_classes]. They are built only from built-in Keras layers, so a saved
`model.keras` loads with plain `keras.models.load_model` in a process that never imports segkit.

Under a mixed precision policy (`keras.mixed_precision.set_global_policy`) the hidden layers compute
in float16/bfloat16 while the final softmax layer is pinned to float32: a float16 softmax saturates
and its log in the cross-entropy overflows.
"""

import inspect

import keras
from keras import layers

# Three stride-2 downsamplings in both architectures: H and W must be multiples of 2**3 so that
# the decoder lands back on the input size instead of being off by one pixel.
_STRIDE = 8


def check_args(name, image_size, num_classes, stride=_STRIDE):
    """Return image_size as (H, W) ints, or raise ValueError naming the bad argument.

    (None, None) is a model that takes any multiple of `stride` (scale-and-crop training
    trains on crops and validates on whole images)."""
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if image_size is not None and tuple(image_size) == (None, None):
        return None, None
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(
            f"image_size must be an int or a (height, width) pair, got {image_size!r}"
        ) from None
    if height <= 0 or width <= 0 or height % stride or width % stride:
        raise ValueError(
            f"image_size={image_size!r} does not suit model {name!r}: height and width must be "
            f"positive multiples of {stride} (the model downsamples {stride.bit_length() - 1} "
            f"times by 2); "
            f"try {tuple(max(stride, round(side / stride) * stride) for side in (height, width))}"
        )
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes!r}")
    return height, width


def _output_layer(num_classes, kernel_size, name):
    # dtype="float32" overrides a mixed global policy for this layer only (guide: float32 softmax).
    return layers.Conv2D(
        num_classes, kernel_size, activation="softmax", padding="same", dtype="float32", name=name
    )


def chapter_model(image_size=(200, 200), num_classes=3):
    """The model of Deep Learning with Python, chapter 11, layer for layer.

    Args:
      image_size: (H, W), multiples of 8.
      num_classes: number of output classes (3 for Pets trimaps: foreground, background, outline).

    Returns:
      keras.Model: float32 [B, H, W, 3] 0..255 -> float32 softmax [B, H, W, num_classes].
      2,880,643 parameters at num_classes=3.
    """
    height, width = check_args("chapter", image_size, num_classes)
    inputs = keras.Input(shape=(height, width, 3), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(256, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same", strides=2)(x)
    outputs = _output_layer(num_classes, 3, name="probabilities")(x)
    return keras.Model(inputs, outputs, name="chapter")


def _conv_block(x, filters, name):
    """Two 3x3 conv + BatchNorm + ReLU.

    BatchNorm lets it leave the all-background start fast. Its momentum is 0.9, not Keras' 0.99:
    with a few hundred steps (small data sets, short runs) the 0.99 moving statistics still
    lag the weights and validation predictions come out as noise while training looks fine.
    """
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def unet_model(image_size=(200, 200), num_classes=3, base_filters=32, depth=3):
    """A small U-Net: three downsamplings, skip connections at every scale.

    Skip connections hand the decoder the full-resolution edges that the chapter's model has to
    re-invent from a 1/8 scale code, and BatchNorm makes it leave the all-background start in
    a few epochs (README: it beats the chapter's model on the same data and budget).

    Args:
      image_size: (H, W), multiples of 8.
      num_classes: number of output classes.
      base_filters: width of the first level; level k has base_filters * 2**k filters.
      depth: downsamplings (3 by default; 4 sees four times wider context, for street scenes,
        and then H and W must be multiples of 16).

    Returns:
      keras.Model: float32 [B, H, W, 3] 0..255 -> float32 softmax [B, H, W, num_classes].
      About 1.9 M parameters at base_filters=32.
    """
    if int(depth) < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    height, width = check_args("unet", image_size, num_classes, 2 ** int(depth))
    if int(base_filters) < 1:
        raise ValueError(f"base_filters must be a positive int, got {base_filters!r}")
    inputs = keras.Input(shape=(height, width, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    skips = []
    for level in range(depth):
        x = _conv_block(x, base_filters * 2**level, name=f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _conv_block(x, base_filters * 2**depth, name="bottleneck")
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _conv_block(x, filters, name=f"dec{level}")
    outputs = _output_layer(num_classes, 1, name="probabilities")(x)
    return keras.Model(inputs, outputs, name="unet")


MODELS = {"chapter": chapter_model, "unet": unet_model}


def build_model(name, image_size=(200, 200), num_classes=3, **kw):
    """Build a segmentation model by name.

    Args:
      name: "chapter" (Deep Learning with Python, ch. 11) or "unet".
      image_size: int or (H, W); both multiples of 8.
      num_classes: number of classes (3 for Pets).
      **kw: model-specific options (unet: base_filters).

    Returns:
      keras.Model, uncompiled: float32 [B, H, W, 3] 0..255 -> float32 softmax [B, H, W, C].

    Raises:
      ValueError: unknown name, bad image_size or unsupported keyword.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    builder = MODELS[name]
    allowed = set(inspect.signature(builder).parameters) - {"image_size", "num_classes"}
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ValueError(
            f"model {name!r} has no option(s) {unknown}; it accepts {sorted(allowed) or 'none'}"
        )
    return builder(image_size=image_size, num_classes=num_classes, **kw)
