"""Tiny random-weight keras-hub presets for tests: each family saved with `save_to_preset`.

Real presets cannot be downloaded here; these have the same classes and files (config.json,
model.weights.h5, image_converter.json, ...) at a few thousand parameters, so that loading them
with `from_preset(folder)` exercises the same code as a real preset.
"""

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


def save_resnet(folder):
    """An encoder-only ResNet preset (ImageNet mean/std convention) for --backbone-preset."""
    import keras_hub

    backbone = _resnet(keras_hub)
    backbone.save_to_preset(str(folder))
    keras_hub.layers.ResNetImageConverter(
        image_size=(64, 64), **IMAGENET
    ).save_to_preset(str(folder))
    return folder


def save_deeplab(folder, num_classes=5):
    """A DeepLabV3+ segmenter preset with a 5-class head (replaced by training), 0..1 pixels."""
    import keras_hub

    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=_resnet(keras_hub), spatial_pyramid_pooling_key="P4", upsampling_size=4,
        dilation_rates=[1, 2], low_level_feature_key="P2", projection_filters=8)
    converter = keras_hub.layers.DeepLabV3ImageConverter(image_size=(64, 64), scale=1 / 255)
    preprocessor = keras_hub.models.DeepLabV3ImageSegmenterPreprocessor(image_converter=converter)
    keras_hub.models.DeepLabV3ImageSegmenter(
        backbone, num_classes=num_classes, preprocessor=preprocessor).save_to_preset(str(folder))
    return folder


def save_segformer(folder, num_classes=5, image_size=64):
    """A SegFormer segmenter preset saved at `image_size` (ImageNet mean/std, like the real ones)."""
    import keras_hub

    mit = _mit(keras_hub, (image_size, image_size, 3))
    backbone = keras_hub.models.SegFormerBackbone(image_encoder=mit, projection_filters=16)
    converter = keras_hub.layers.SegFormerImageConverter(
        image_size=(image_size, image_size), **IMAGENET)
    preprocessor = keras_hub.models.SegFormerImageSegmenterPreprocessor(image_converter=converter)
    keras_hub.models.SegFormerImageSegmenter(
        backbone, num_classes=num_classes, preprocessor=preprocessor).save_to_preset(str(folder))
    return folder
