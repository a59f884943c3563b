"""Tiny seeded random-weight SAM and SAM 3 models for tests and benchmarks, saved as local presets.

Real presets cannot be downloaded in tests; these have the same keras-hub classes and preset
files at a few thousand parameters, so `from_preset(folder)` runs the same code as a real one.

Every model here is a function of its `seed` alone: the global Keras dtype policy is float32
and the Keras/NumPy/Python random state is reset while it is built, so a test sees the same
model whichever tests ran before it (an unseeded model gave some orders a box prompt whose
logits sat at 0, where float rounding decides the mask).

The keras-hub segmenter presets (`save_resnet`, `save_deeplab`, `save_segformer`) are seeded
the same way: their random weights are the learning tests' starting point.
"""

import numpy as np


def _seeded(seed):
    """Seed Keras/NumPy/Python and hold the float32 policy while a model is built."""
    import keras

    from segmodel.models.presets import global_policy

    keras.utils.set_random_seed(seed)
    return global_policy("float32")


def _jitter(segmenter, seed):
    """Add N(0, 0.05) to every weight. Keras initialises biases and positional embeddings to
    zero, so padded patches become all-zero tokens whose LayerNorms blow float rounding up to
    O(1) and every query looks alike; trained weights are never like that."""
    rng = np.random.default_rng(seed)
    for weight in segmenter.weights:
        weight.assign(weight.numpy() + rng.normal(0.0, 0.05, weight.shape).astype(np.float32))
    return segmenter


def tiny_sam(seed=0, jitter=True, **kwargs):
    """A seeded `keras_hub.models.SAMImageSegmenter` ("tiny" architecture, 128 px input).

    Args:
      seed: int; the model's weights depend on nothing else.
      jitter: add seeded noise to every weight (see `_jitter`); False keeps Keras' init.
      **kwargs: passed to `segmodel.sam.models.architectures.build_sam_segmenter`.
    """
    from segmodel.sam.models.architectures import build_sam_segmenter

    with _seeded(seed):
        segmenter = build_sam_segmenter("tiny", **kwargs)
    return _jitter(segmenter, seed) if jitter else segmenter


def tiny_sam3(seed=0, **kwargs):
    """A seeded, jittered `keras_hub.models.SAM3PromptableConceptImageSegmenter` ("tiny")."""
    from segmodel.sam.models.sam3_architectures import build_sam3_segmenter

    with _seeded(seed):
        segmenter = build_sam3_segmenter("tiny", **kwargs)
    return _jitter(segmenter, seed)


def save_tiny_sam(folder, seed=0, jitter=True):
    """`tiny_sam(seed)` saved with `save_to_preset(folder)`; returns `folder`."""
    tiny_sam(seed, jitter).save_to_preset(str(folder))
    return folder


def save_tiny_sam3(folder, seed=0):
    """`tiny_sam3(seed)` saved with `save_to_preset(folder)`; returns `folder`."""
    tiny_sam3(seed).save_to_preset(str(folder))
    return folder


def smooth_image(height, width, seed=0):
    """uint8 `[height, width, 3]`: smooth structure plus seeded noise, so an encoder sees
    something image-like."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    base = 127 + 100 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 13.0)[..., None]
    noisy = base + rng.normal(0, 20, (height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# What keras-hub's ImageNet presets store: x * scale + offset == (x / 255 - mean) / std.
IMAGENET = dict(scale=[1 / (255 * s) for s in IMAGENET_STD],
                offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])


def _resnet(keras_hub, image_shape=(None, None, 3)):
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16, 16, 16],
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block", image_shape=image_shape)


def _mit(keras_hub, image_shape):
    return keras_hub.models.MiTBackbone(
        layerwise_depths=[1, 1, 1, 1], num_layers=4, layerwise_num_heads=[1, 1, 1, 1],
        layerwise_sr_ratios=[4, 2, 1, 1], max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3, 3, 3], layerwise_strides=[4, 2, 2, 2],
        hidden_dims=[8, 16, 24, 32], image_shape=image_shape)


def save_resnet(folder, seed=0):
    """An encoder-only ResNet preset (ImageNet mean/std convention) for --backbone-preset."""
    import keras_hub

    with _seeded(seed):
        backbone = _resnet(keras_hub)
        backbone.save_to_preset(str(folder))
        keras_hub.layers.ResNetImageConverter(
            image_size=(64, 64), **IMAGENET
        ).save_to_preset(str(folder))
    return folder


def save_deeplab(folder, num_classes=5, seed=0):
    """A DeepLabV3+ segmenter preset with a 5-class head (replaced by training), 0..1 pixels."""
    import keras_hub

    with _seeded(seed):
        backbone = keras_hub.models.DeepLabV3Backbone(
            image_encoder=_resnet(keras_hub), spatial_pyramid_pooling_key="P4", upsampling_size=4,
            dilation_rates=[1, 2], low_level_feature_key="P2", projection_filters=8)
        converter = keras_hub.layers.DeepLabV3ImageConverter(image_size=(64, 64), scale=1 / 255)
        preprocessor = keras_hub.models.DeepLabV3ImageSegmenterPreprocessor(image_converter=converter)
        keras_hub.models.DeepLabV3ImageSegmenter(
            backbone, num_classes=num_classes, preprocessor=preprocessor).save_to_preset(str(folder))
    return folder


def save_segformer(folder, num_classes=5, image_size=64, seed=2):
    """A SegFormer segmenter preset saved at `image_size` (ImageNet mean/std, like the real ones)."""
    import keras_hub

    with _seeded(seed):
        mit = _mit(keras_hub, (image_size, image_size, 3))
        backbone = keras_hub.models.SegFormerBackbone(image_encoder=mit, projection_filters=16)
        converter = keras_hub.layers.SegFormerImageConverter(
            image_size=(image_size, image_size), **IMAGENET)
        preprocessor = keras_hub.models.SegFormerImageSegmenterPreprocessor(image_converter=converter)
        keras_hub.models.SegFormerImageSegmenter(
            backbone, num_classes=num_classes, preprocessor=preprocessor).save_to_preset(str(folder))
    return folder


def save_tiny_run(folder, classes=("background", "cat", "dog"), image_size=(32, 32), seed=0,
                  base_filters=4, scale=8.0):
    """A seeded random-weight segkit U-Net saved as a training run folder: RUN/model.keras and
    RUN/run.json (status "completed", the options and the dataset's classes and palette), as
    `segkit train` leaves it. The output layer's weights are multiplied by `scale`, so the
    class probabilities range from confident to uncertain instead of near-uniform.

    Returns:
      the path of RUN/model.keras.
    """
    import json
    import pathlib

    from segdata.formats.base import default_palette
    from segmodel.models.builtin import unet_model

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _seeded(seed):
        model = unet_model(tuple(image_size), len(classes), base_filters=base_filters)
        head = model.get_layer("probabilities")
        head.set_weights([w * scale for w in head.get_weights()])
    path = folder / "model.keras"
    model.save(path)
    run = {"status": "completed",
           "options": {"model": "unet", "image_size": list(image_size),
                       "num_classes": len(classes), "seed": seed,
                       "model_options": {"base_filters": base_filters}},
           "dataset": {"format": "masks", "classes": list(classes),
                       "palette": [list(c) for c in default_palette(len(classes))],
                       "foreground_class": None, "ignore_label": 255}}
    (folder / "run.json").write_text(json.dumps(run, indent=1))
    return path
