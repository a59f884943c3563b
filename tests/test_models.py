"""Models and metrics: the chapter's architecture exactly, the U-Net's skips, dtypes, IoU values."""

import keras
import numpy as np
import pytest

from segmodel.models.builtin import build_model
from segmodel.training import metrics, precision

# The chapter's layer stack: (class, filters, strides, activation); Rescaling first.
CHAPTER_LAYERS = [
    ("Conv2D", 64, 2), ("Conv2D", 64, 1), ("Conv2D", 128, 2), ("Conv2D", 128, 1),
    ("Conv2D", 256, 2), ("Conv2D", 256, 1),
    ("Conv2DTranspose", 256, 1), ("Conv2DTranspose", 256, 2),
    ("Conv2DTranspose", 128, 1), ("Conv2DTranspose", 128, 2),
    ("Conv2DTranspose", 64, 1), ("Conv2DTranspose", 64, 2),
    ("Conv2D", 3, 1),
]


@pytest.fixture
def policy():
    """Restore the global dtype policy after a test that changes it."""
    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


def test_chapter_model_matches_the_chapter():
    model = build_model("chapter", image_size=(200, 200))
    assert model.count_params() == 2_880_643
    layers = model.layers[1:]  # skip InputLayer
    assert type(layers[0]).__name__ == "Rescaling" and layers[0].scale == pytest.approx(1 / 255)
    got = [(type(l).__name__, l.filters, l.strides[0]) for l in layers[1:]]
    assert got == CHAPTER_LAYERS
    for layer in layers[1:]:
        assert layer.kernel_size == (3, 3) and layer.padding == "same"
    assert [l.activation.__name__ for l in layers[1:]] == ["relu"] * 12 + ["softmax"]
    assert model.output.shape == (None, 200, 200, 3)


def test_unet_has_skips_and_keeps_the_size():
    model = build_model("unet", image_size=(64, 96), num_classes=4, base_filters=8)
    assert model.output.shape == (None, 64, 96, 4)
    concats = [l for l in model.layers if isinstance(l, keras.layers.Concatenate)]
    assert len(concats) == 3
    probs = model.predict(np.full((1, 64, 96, 3), 128, np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kw, match", [
    (dict(image_size=(100, 100)), "multiples of 8"),
    (dict(image_size=(0, 64)), "multiples of 8"),
    (dict(image_size="big"), "image_size"),
    (dict(num_classes=1), "num_classes"),
    (dict(depth=5), "no option"),
])
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        build_model("chapter", **kw)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="chapter"):
        build_model("resnet")


@pytest.mark.parametrize("name", ["chapter", "unet"])
def test_mixed_precision_output_is_float32(name, policy):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build_model(name, image_size=(32, 32))
    assert model.layers[-2].compute_dtype == "bfloat16"
    assert model.layers[-1].compute_dtype == "float32"
    assert model(np.zeros((1, 32, 32, 3), np.float32)).dtype == "float32"


def test_iou_metrics_match_numpy_and_skip_ignored_pixels():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, size=(2, 8, 8, 1)).astype(np.uint8)
    y_true[:, :2] = 255  # padding from resize="pad"
    probs = rng.random((2, 8, 8, 3)).astype(np.float32)
    fg, miou = metrics.make_metrics()
    fg.update_state(y_true, probs)
    miou.update_state(y_true, probs)
    per_class = metrics.iou_from_confusion(metrics.confusion_matrix(y_true, probs))
    assert float(fg.result()) == pytest.approx(per_class[0], rel=1e-5)
    assert float(miou.result()) == pytest.approx(np.nanmean(per_class), rel=1e-5)
    # Perfect predictions everywhere except on ignored pixels still score 1.
    perfect = np.eye(3, dtype=np.float32)[np.where(y_true[..., 0] == 255, 1, y_true[..., 0])]
    fg.reset_state()
    fg.update_state(y_true, perfect + np.eye(3, dtype=np.float32)[2] * (y_true == 255))
    assert float(fg.result()) == pytest.approx(1.0)


def test_loss_ignores_padded_pixels():
    y_true = np.array([[[[0], [255]]]], np.uint8)  # [1, 1, 2, 1]
    good = np.array([[[[0.9, 0.05, 0.05], [0.0, 0.0, 1.0]]]], np.float32)
    # The mean over valid pixels only: the ignored pixel would otherwise add ~16 (or halve it).
    assert float(metrics.make_loss()(y_true, good)) == pytest.approx(-np.log(0.9), rel=1e-4)


def test_auto_precision_follows_hardware():
    assert precision.auto_policy(gpu_capabilities=[(8, 0)]) == "mixed_float16"
    assert precision.auto_policy(gpu_capabilities=[(8, 0), (6, 1)]) == "float32"
    assert precision.auto_policy(gpu_capabilities=[], flags={"avx2", "amx_bf16"}) == "mixed_bfloat16"
    assert precision.auto_policy(gpu_capabilities=[], flags={"avx2", "fma"}) == "float32"
    with pytest.raises(ValueError, match="precision"):
        precision.resolve_policy("float16")
