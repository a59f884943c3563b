"""Writes random-weight keras-hub presets with the real architectures, for offline comparisons.

    python benchmarks/random_presets.py OUT
    -> OUT/resnet_50_random       ResNet-50 encoder (keras-hub's resnet_50_imagenet config,
                                  ImageNet mean/std converter): --backbone-preset for unet or
                                  deeplabv3plus
    -> OUT/segformer_b0_random    SegFormer-B0 (MiT-b0 encoder, 256-filter head, ImageNet
                                  mean/std): --preset for segformer

The weights are random: numbers measured with these say what the architecture learns from
scratch in a budget, not what a pretrained preset (segformer_b0_ade20k_512,
deeplab_v3_plus_resnet50_pascalvoc, resnet_50_imagenet) reaches. Those need Kaggle access.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from segmodel.testing import IMAGENET  # noqa: E402 (keras-hub's ImageNet mean/std convention)


def save_resnet50(folder, image_size=224):
    import keras_hub

    keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2], block_type="bottleneck_block",
    ).save_to_preset(folder)
    keras_hub.layers.ResNetImageConverter(image_size=(image_size, image_size),
                                          **IMAGENET).save_to_preset(folder)
    return folder


def save_segformer_b0(folder, image_size=224):
    import keras_hub

    mit = keras_hub.models.MiTBackbone(
        layerwise_depths=[2, 2, 2, 2], num_layers=4, layerwise_num_heads=[1, 2, 5, 8],
        layerwise_sr_ratios=[8, 4, 2, 1], max_drop_path_rate=0.1,
        layerwise_patch_sizes=[7, 3, 3, 3], layerwise_strides=[4, 2, 2, 2],
        hidden_dims=[32, 64, 160, 256], image_shape=(image_size, image_size, 3))
    backbone = keras_hub.models.SegFormerBackbone(image_encoder=mit, projection_filters=256)
    converter = keras_hub.layers.SegFormerImageConverter(image_size=(image_size, image_size),
                                                         **IMAGENET)
    preprocessor = keras_hub.models.SegFormerImageSegmenterPreprocessor(image_converter=converter)
    keras_hub.models.SegFormerImageSegmenter(
        backbone, num_classes=150, preprocessor=preprocessor).save_to_preset(folder)
    return folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output_dir", help="folder for the preset folders")
    out = p.parse_args(argv).output_dir
    for name, save in (("resnet_50_random", save_resnet50),
                       ("segformer_b0_random", save_segformer_b0)):
        path = os.path.join(out, name)
        if not os.path.isfile(os.path.join(path, "config.json")):
            save(path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
