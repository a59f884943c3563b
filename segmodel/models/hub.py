"""keras-hub segmenters and encoders as segkit models: DeepLabV3+, SegFormer, and a U-Net decoder.

    build_hub_model("segformer", (96, 96), 3, preset="segformer_b0_ade20k_512")
    build_hub_model("deeplabv3plus", (96, 96), 3, preset="deeplab_v3_plus_resnet50_pascalvoc")
    build_hub_model("unet", (96, 96), 3, backbone_preset="resnet_50_imagenet")

Every model has the contract of `segmodel.models.builtin`: float32 [B, H, W, 3] images 0..255 in,
float32 softmax [B, H, W, num_classes] out, at the input resolution. Inside, in order:
  "pixels"    keras.layers.Rescaling with the preset image converter's scale and offset (0..1,
              ImageNet mean/std or [-1, 1], per channel), so the records and the SavedModel's
              encoded-bytes signature never need to know the preset's convention;
  "backbone"  the preset's keras-hub Backbone (its class and weights), rebuilt for (H, W) and the
              global dtype policy; for the U-Net, a Functional view of the encoder's pyramid;
  head        a new num_classes 1x1 convolution, upsampled to (H, W), softmax - all float32 even
              under mixed precision (a bfloat16 softmax saturates).
Only Keras and keras-hub classes are used, so `model.keras` loads with `import keras_hub` and
`keras.models.load_model` in a process that never imports segkit.
"""

import os

import keras
from keras import layers

from segmodel.models.presets import fetch_failed, resolve_preset

FAMILIES = ("deeplabv3plus", "segformer", "unet")
# The deepest pyramid level the decoders use (P5 of ResNet and MiT) has stride 32.
STRIDE = 32
ENCODER_NAME = "backbone"


def is_hub_model(name, preset=None, backbone_preset=None, **_):
    """True for the keras-hub families; `unet` is keras-hub only with a (backbone) preset.

    Raises ValueError for a preset given to a model that takes none (it would be ignored).
    """
    if name not in FAMILIES and (preset or backbone_preset):
        raise ValueError(f"model {name!r} takes no --preset / --backbone-preset; use one of "
                         f"{list(FAMILIES)}")
    return name in ("deeplabv3plus", "segformer") or (
        name == "unet" and bool(preset or backbone_preset))


def check_args(name, image_size, preset=None, backbone_preset=None):
    """Cheap checks before TensorFlow starts: (H, W), or ValueError naming the flag."""
    if name not in FAMILIES:
        raise ValueError(f"unknown keras-hub model {name!r}; choose one of {list(FAMILIES)}")
    if preset and backbone_preset:
        raise ValueError("pass either --preset (a whole segmenter, e.g. segformer_b0_ade20k_512) "
                         "or --backbone-preset (an encoder, e.g. resnet_50_imagenet), not both")
    if not (preset or backbone_preset):
        example = {"deeplabv3plus": "--preset deeplab_v3_plus_resnet50_pascalvoc",
                   "segformer": "--preset segformer_b0_ade20k_512",
                   "unet": "--backbone-preset resnet_50_imagenet"}[name]
        raise ValueError(f"model {name!r} needs a keras-hub preset, e.g. {example} "
                         f"(or a local folder written by save_to_preset)")
    for value in (preset, backbone_preset):
        if value:
            # a missing local folder fails here, in milliseconds
            resolve_preset(value, example="segformer_b0_ade20k_512")
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    if height % STRIDE or width % STRIDE or min(height, width) < STRIDE:
        raise ValueError(
            f"image size {(height, width)} does not suit model {name!r}: keras-hub encoders "
            f"downsample by {STRIDE}, so height and width must be positive multiples of {STRIDE}; "
            f"try {max(STRIDE, round(height / STRIDE) * STRIDE)}")
    if name == "segformer" and min(height, width) < 2 * STRIDE:
        # keras-hub's MiT loses the channel count of a 1x1 last stage and fails to build.
        raise ValueError(f"image size {(height, width)} is too small for SegFormer: height and "
                         f"width must be at least {2 * STRIDE}")
    return int(height), int(width)


def load_preset(preset):
    """(keras-hub Backbone, its ImageConverter) from a preset name, handle or local folder.

    Raises:
      ValueError: an unknown name, or a folder without config.json / image_converter.json.
      FileNotFoundError: a path-like preset that does not exist.
      ConnectionError: a preset that cannot be fetched (no network), like SamPredictor.
    """
    import keras_hub  # deferred: importing keras-hub costs seconds

    resolved = resolve_preset(preset, example="segformer_b0_ade20k_512")
    local = os.path.isdir(resolved)
    known = sorted(set(keras_hub.models.Backbone.presets)
                   | set(keras_hub.models.ImageSegmenter.presets))
    if not local and "://" not in resolved and resolved not in known:
        examples = [n for n in known if n.startswith(("segformer_b0", "deeplab", "resnet_50",
                                                      "mit_b0"))]
        raise ValueError(f"{resolved!r} is neither a local preset folder nor a keras-hub preset "
                         f"(for example {', '.join(examples[:8])}).")
    try:
        backbone = keras_hub.models.Backbone.from_preset(resolved)
        converter = keras_hub.layers.ImageConverter.from_preset(resolved)
    except (OSError, ImportError) as err:
        if local and isinstance(err, FileNotFoundError):
            raise ValueError(
                f"preset folder {resolved!r} is incomplete ({err}); it needs config.json, "
                f"model.weights.h5 and image_converter.json (save the model and its image "
                f"converter with save_to_preset(folder))") from err
        if local:
            raise
        raise fetch_failed(resolved, err) from err
    return backbone, converter


def pixel_convention(converter):
    """(scale, offset) floats or per-channel lists: the preset's `pixels * scale + offset`."""
    def plain(value, default):
        if value is None:
            return default
        return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)
    return plain(converter.scale, 1.0), plain(converter.offset, 0.0)


def _retarget(config, image_shape):
    """Backbone config -> same config for `image_shape`, following the global dtype policy."""
    if isinstance(config, dict):
        inner = config.get("config")
        if isinstance(inner, dict) and "class_name" in config:
            if "image_shape" in inner:
                inner["image_shape"] = list(image_shape)
            dtype = inner.get("dtype")
            if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicy":
                inner.pop("dtype")  # saved float32; the run's policy decides
        for value in config.values():
            _retarget(value, image_shape)
    elif isinstance(config, list):
        for value in config:
            _retarget(value, image_shape)
    return config


def rebuild(backbone, image_size, name=ENCODER_NAME):
    """The same keras-hub Backbone class and weights, built for (H, W) inputs.

    SegFormer bakes its input size into the decoder's resizing, and presets are saved at their
    training size (512 px), so a plain call at another size would fail.
    """
    config = keras.saving.serialize_keras_object(backbone)
    config = _retarget(config, (*image_size, 3))
    config["config"]["name"] = name
    fresh = keras.saving.deserialize_keras_object(config)
    fresh.set_weights(backbone.get_weights())
    return fresh


def encoder_of(backbone):
    """The pretrained encoder inside a segmentation backbone (itself for an encoder preset)."""
    return getattr(backbone, "image_encoder", backbone)


def _segmenter_backbone(name, backbone):
    """Turns an encoder preset into the family's backbone; checks a segmenter preset's class."""
    import keras_hub

    wanted = {"deeplabv3plus": keras_hub.models.DeepLabV3Backbone,
              "segformer": keras_hub.models.SegFormerBackbone}[name]
    if isinstance(backbone, wanted):
        return backbone
    if not hasattr(backbone, "pyramid_outputs"):
        raise ValueError(f"preset backbone {type(backbone).__name__} has no pyramid_outputs; "
                         f"model {name!r} needs a {wanted.__name__} preset or an encoder with "
                         f"a feature pyramid (ResNet, MiT, EfficientNet, CSPNet, DenseNet)")
    levels = sorted(backbone.pyramid_outputs)
    if name == "segformer":
        if not isinstance(backbone, keras_hub.models.MiTBackbone):
            raise ValueError(f"SegFormer needs a MiT encoder (mit_b0 ...), got "
                             f"{type(backbone).__name__}; use --model unet or deeplabv3plus")
        return keras_hub.models.SegFormerBackbone(image_encoder=backbone, projection_filters=256)
    deepest = levels[-1]
    return keras_hub.models.DeepLabV3Backbone(
        image_encoder=backbone, spatial_pyramid_pooling_key=deepest,
        upsampling_size=2 ** (int(deepest[1:]) - 2), dilation_rates=[6, 12, 18],
        low_level_feature_key="P2", projection_filters=48)


def _conv_bn_relu(x, filters, name):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def _unet_decoder(pixels, encoder, filters=(256, 128, 64, 32, 16)):
    """U-Net decoder on the encoder's pyramid (P1/P2 ... P5): bilinear x2 + skip + 2 convs."""
    if not hasattr(encoder, "pyramid_outputs"):
        raise ValueError(f"preset backbone {type(encoder).__name__} has no pyramid_outputs; the "
                         f"U-Net decoder needs an encoder such as ResNet, MiT or EfficientNet")
    levels = sorted(encoder.pyramid_outputs, key=lambda k: int(k[1:]))
    pyramid = keras.Model(encoder.inputs, [encoder.pyramid_outputs[k] for k in levels],
                          name=ENCODER_NAME)
    try:
        # The view is saved layer by layer; some keras-hub layers (MiT's) cannot be rebuilt
        # that way, and model.keras would then not load. Find out now, not after training.
        keras.Model.from_config(pyramid.get_config())
    except Exception as err:  # Keras raises many types for an undeserializable layer
        raise ValueError(
            f"the U-Net decoder cannot use a {type(encoder).__name__} encoder: its layers do "
            f"not reload outside their backbone class ({str(err).splitlines()[0][:160]}); use "
            f"a ResNet-style encoder, or --model segformer / deeplabv3plus for this preset"
        ) from None
    features = dict(zip(levels, pyramid(pixels)))
    deepest = int(levels[-1][1:])
    x = features[levels[-1]]
    for step, level in enumerate(range(deepest - 1, -1, -1)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}")(x)
        if f"P{level}" in features:
            x = layers.Concatenate(name=f"skip{level}")([x, features[f"P{level}"]])
        x = _conv_bn_relu(x, filters[min(step, len(filters) - 1)], name=f"dec{level}")
    return x


def build_hub_model(name, image_size, num_classes, *, preset=None, backbone_preset=None):
    """A keras-hub segmentation model with a new num_classes head (see the module docstring).

    Args:
      name: "deeplabv3plus", "segformer" or "unet".
      image_size: (H, W), multiples of 32.
      num_classes: classes of the new head (the records' num_classes).
      preset: a segmenter preset (name, kaggle:// or hf:// handle, or local folder).
      backbone_preset: an encoder preset with a feature pyramid (ResNet, MiT, ...).

    Returns:
      keras.Model named after the family: float32 [B, H, W, 3] 0..255 -> float32 softmax
      [B, H, W, num_classes]; the backbone is the layer named "backbone".
    """
    height, width = check_args(name, image_size, preset, backbone_preset)
    backbone, converter = load_preset(preset or backbone_preset)
    scale, offset = pixel_convention(converter)
    inputs = keras.Input((height, width, 3), name="image")
    pixels = layers.Rescaling(scale, offset, name="pixels")(inputs)
    if name == "unet":
        encoder = rebuild(encoder_of(backbone), (height, width), name="encoder")
        x = _unet_decoder(pixels, encoder)
    else:
        seg_backbone = rebuild(_segmenter_backbone(name, backbone), (height, width))
        x = seg_backbone(pixels)
        if name == "segformer":
            x = layers.Dropout(0.1, name="head_dropout")(x)
    # float32 head: the 1x1 conv, the upsampling and the softmax (guide: float32 logits).
    x = layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    factor = height // x.shape[1]
    if factor > 1:  # SegFormer predicts at 1/4 size
        x = layers.UpSampling2D(factor, interpolation="bilinear", dtype="float32",
                                name="logits_upsampling")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def backbone_layer(model, whole=False):
    """The pretrained layer, which freezing and the backbone learning rate act on.

    Args:
      model: a model from `build_hub_model`.
      whole: True when the model was built from a segmenter `preset`: then the whole keras-hub
        backbone (DeepLabV3+'s encoder, ASPP and decoder; SegFormer's MiT and MLP decoder)
        holds the preset's trained weights. False (a `backbone_preset`): only its encoder is
        pretrained; the rest of the backbone is new and trains from the start.

    Returns:
      keras.layers.Layer: the layer named "backbone" (whole, or the U-Net's encoder view),
      else its `image_encoder`.
    """
    layer = model.get_layer(ENCODER_NAME)
    return layer if whole else encoder_of(layer)
