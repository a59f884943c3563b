"""Every model family segkit trains exports to LiteRT and ONNX and runs in its own runtime like
the Keras model: the chapter's and the U-Net (segmodel.models.builtin), keras-hub DeepLabV3+,
SegFormer and the U-Net on a keras-hub encoder (tiny seeded presets, segmodel.testing)."""

import keras
import numpy as np
import pytest
from deploy_client import run_client

from segmodel import testing
from segmodel.models import hub as hub_models
from segmodel.models.builtin import build_model
from segmodel.serving import converters, deploy
from segmodel.serving.metadata import MODEL_FILES

pytestmark = pytest.mark.slow


def family_model(family, root):
    keras.utils.set_random_seed(4)
    if family == "deeplabv3plus":
        return hub_models.build_hub_model(family, (32, 32), 3,
                                          preset=testing.save_deeplab(root / "deeplab"))
    if family == "segformer":  # keras-hub's MiT needs 64 px
        return hub_models.build_hub_model(family, (64, 64), 3, preset=testing.save_segformer(
            root / "segformer", image_size=64))
    if family == "hub-unet":
        return hub_models.build_hub_model("unet", (32, 32), 3,
                                          backbone_preset=testing.save_resnet(root / "resnet"))
    if family == "chapter-bf16":  # what precision "auto" trains on CPUs with native bf16
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            return build_model("chapter", image_size=(32, 32))
        finally:
            keras.mixed_precision.set_global_policy("float32")
    return build_model(family, image_size=(32, 32), **({"base_filters": 4} if family == "unet"
                                                       else {}))


@pytest.mark.parametrize("family", ["unet", "deeplabv3plus", "segformer", "hub-unet",
                                    "chapter-bf16"])
def test_family_exports_run_like_keras(family, tmp_path):
    model = family_model(family, tmp_path)
    size = model.input_shape[1:3]
    # Smooth random photos: the argmax of a random-weight model is not decided by noise.
    images = np.stack([testing.smooth_image(*size, seed=i) for i in range(4)])
    reference = model.predict(images.astype(np.float32), verbose=0)
    for export_format in ("litert", "onnx"):
        version, _ = deploy.export_model(model, tmp_path / export_format,
                                         export_format=export_format)
        name = MODEL_FILES[export_format]
        probabilities, metadata = run_client(version / name, images, tmp_path)
        assert metadata["input_size"] == list(size) and metadata["num_classes"] == 3
        agree = np.mean(probabilities.argmax(-1) == reference.argmax(-1))
        if family.endswith("bf16"):
            # The file computes in float32, Keras in bfloat16 (8 bits of mantissa): it matches
            # the float32 copy exactly and the bf16 model to bf16's precision.
            float32 = converters.float32_model(model)
            assert float32.layers[1].compute_dtype == "float32"
            np.testing.assert_allclose(probabilities, float32.predict(
                images.astype(np.float32), verbose=0), atol=1e-4)
            assert agree >= 0.99 and "bfloat16" in " ".join(metadata["notes"])
            continue
        assert agree >= 0.999, (family, export_format, agree)
        np.testing.assert_allclose(probabilities, reference, atol=2e-3)
