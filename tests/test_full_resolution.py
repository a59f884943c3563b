"""Predictions at the image's own size resize class probabilities bilinearly, then take the
arg-max (evaluation --at original, the exported segment_image signature), equal to a reference
computed with tf.image.resize + arg-max; sliding windows average overlapping windows."""

import json

import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """A seeded non-square (32 x 48) U-Net whose output layer is sharpened so that its
    arg-max varies over the image; saved as RUN/model.keras."""
    import keras

    from segmodel.models.builtin import build_model

    keras.utils.set_random_seed(0)
    model = build_model("unet", (32, 48), 3, base_filters=4)
    out = model.get_layer("probabilities")
    kernel, bias = out.get_weights()
    out.set_weights([kernel * 40, bias])
    path = tmp_path_factory.mktemp("run") / "model.keras"
    model.save(path)
    return model, path


def _reference(model, records, size):
    """Confusion matrix of tf.image.resize(bilinear) + arg-max at each image's own size."""
    import segdata
    from segdata.input.shard_reader import read_example
    from segmodel.training.metrics import confusion_matrix

    ds = segdata.load_dataset(records, "validation", image_size=size, batch_size=1)
    total, maps = np.zeros((3, 3), np.int64), []
    for i, (pixels, _) in enumerate(ds):
        _, mask, _ = read_example(records, "validation", i)
        probs = model(pixels, training=False)
        full = tf.image.resize(probs, mask.shape[:2], method="bilinear")
        pred = tf.argmax(full, axis=-1)[0].numpy()
        total += confusion_matrix(mask[..., 0], pred, 3)
        maps.append(pred)
    return total, maps


def test_evaluate_at_original_equals_bilinear_reference(wide_model, records_dir):
    from segmodel.evaluation.evaluate import evaluate

    model, path = wide_model
    result = evaluate(path, records_dir, at="original", batch_size=5, progress=False)
    want, maps = _reference(model, records_dir, (32, 48))
    assert len(np.unique(np.concatenate([m.ravel() for m in maps]))) > 1  # not a constant map
    np.testing.assert_array_equal(np.array(result["confusion_matrix"]), want)


def test_segment_image_signature_equals_bilinear_reference(wide_model, records_dir, tmp_path):
    from segdata.input.shard_reader import read_example
    from segmodel.serving.export import export_saved_model
    from segmodel.serving.signatures import resize_for_model

    model, path = wide_model
    version = export_saved_model(path, tmp_path / "export")
    segment = tf.saved_model.load(str(version)).signatures["segment_image"]
    image = read_example(records_dir, "validation", 0)[0]
    encoded = tf.io.encode_png(image)
    got = segment(image=encoded)["mask"].numpy()
    probs = model(resize_for_model(tf.constant(image), (32, 48))[tf.newaxis], training=False)
    want = tf.argmax(tf.image.resize(probs, image.shape[:2], method="bilinear"), -1)[0]
    assert got.shape == image.shape[:2]
    np.testing.assert_array_equal(got, want.numpy())


def test_sliding_window_averages_overlapping_windows():
    from segmodel.serving import windows

    assert windows.window_starts(10, 10) == [0]
    assert windows.window_starts(100, 48) == [0, 32, 52]
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (2, 50, 70, 3)).astype(np.float32)
    calls = []

    def pointwise(p):  # a per-pixel model: windows must reproduce the whole-image result
        calls.append(p.shape)
        return np.concatenate([p[..., :1], p[..., 1:2] * 0.5], axis=-1) / 255

    whole = pointwise(pixels)
    got = windows.sliding_window(pointwise, pixels, (32, 48))
    np.testing.assert_allclose(got, whole, rtol=1e-6)
    assert all(shape[1:3] == (32, 48) for shape in calls[1:]) and len(calls) == 1 + 4
    # A position-dependent "model": overlaps are averaged, not overwritten.
    ramp = windows.sliding_window(lambda p: np.ones((*p.shape[:3], 1)) *
                                  np.arange(p.shape[2])[None, None, :, None],
                                  pixels[:1, :32], (32, 48))
    assert ramp.shape == (1, 32, 70, 1)
    np.testing.assert_allclose(ramp[0, 0, 30], (30 + 8) / 2)  # windows at x=0 and x=22


def test_evaluate_sliding_window_on_any_size_model(records_dir, tmp_path):
    """A model without a fixed size (scale-and-crop runs): evaluation takes the base size from
    run.json, and sliding windows of the run's crop size score like the reference."""
    import keras

    from segmodel.evaluation.evaluate import evaluate

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    outputs = keras.layers.Conv2D(3, 1, activation="softmax")(x * 8)
    model = keras.Model(inputs, outputs)
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "run.json").write_text(json.dumps({"options": {"image_size": [40, 56],
                                                          "crop_size": [24, 32]}}))
    plain = evaluate(run / "model.keras", records_dir, at="original", progress=False)
    slid = evaluate(run / "model.keras", records_dir, at="original", progress=False,
                    sliding_window=True)
    assert plain["input_size"] == [40, 56] and slid["sliding_window"] == [24, 32]
    want, _ = _reference(model, records_dir, (40, 56))
    np.testing.assert_array_equal(np.array(plain["confusion_matrix"]), want)
    # Pointwise model: windows change nothing but float rounding of the average.
    assert np.abs(np.array(slid["confusion_matrix"]) - want).sum() <= want.sum() // 1000


def test_sizes_parse_everywhere():
    import argparse

    from segmodel.cli import evaluate as evaluate_cli
    from segmodel.cli import export as export_cli
    from segmodel.cli import predict as predict_cli
    from segmodel.training.config import size_pair

    assert size_pair("240,320") == size_pair("240x320") == (240, 320)
    assert size_pair("96") == (96, 96)
    for bad in ("0,5", "a,b", "1,2,3"):
        with pytest.raises(argparse.ArgumentTypeError, match="HEIGHT,WIDTH"):
            size_pair(bad)
    assert export_cli._size(["240", "320"]) == export_cli._size(["240x320"]) == (240, 320)
    args = evaluate_cli.build_parser().parse_args(
        ["--model", "m", "--records", "r", "--image-size", "360x480", "--sliding-window"])
    assert args.image_size == (360, 480) and args.sliding_window
    args = predict_cli.build_parser().parse_args(
        ["--saved-model", "s", "--image", "a.png", "--output-dir", "o", "--image-size", "64"])
    assert args.image_size == (64, 64)


def test_predict_sliding_window_at_the_model_size_equals_segment_image(wide_model, records_dir,
                                                                       tmp_path):
    """One window covering the photo resized to the model's size is exactly segment_image."""
    from PIL import Image

    from segdata.input.shard_reader import read_example
    from segmodel.serving.export import export_saved_model
    from segmodel.serving.predict import predict_images

    _, path = wide_model
    version = export_saved_model(path, tmp_path / "export")
    image = read_example(records_dir, "validation", 1)[0]
    Image.fromarray(image).save(tmp_path / "photo.png")
    plain = predict_images(version, [tmp_path / "photo.png"], tmp_path / "plain")
    slid = predict_images(version, [tmp_path / "photo.png"], tmp_path / "slid",
                          sliding_window=True, image_size=(32, 48))
    a, b = (np.array(Image.open(r[0]["mask"])) for r in (plain, slid))
    assert a.shape == image.shape[:2]
    np.testing.assert_array_equal(a, b)
    big = predict_images(version, [tmp_path / "photo.png"], tmp_path / "big",
                         sliding_window=True)  # windows over the photo at its own size
    assert np.array(Image.open(big[0]["mask"])).shape == image.shape[:2]


def test_time_budget_schedule_follows_steps_or_clock():
    from segmodel.training.callbacks import TimeBudget

    budget = TimeBudget(10, peak_lr=1e-3, total_steps=110, warmup_steps=10, log=None)
    assert budget.learning_rate(0, 0) == pytest.approx(1e-4)
    assert budget.learning_rate(10, 0) == pytest.approx(1e-3)
    assert budget.learning_rate(60, 0) == pytest.approx(5e-4)  # half of the steps
    assert budget.learning_rate(20, 300) == pytest.approx(5e-4)  # half of the 10 minutes
    assert budget.learning_rate(110, 0) == pytest.approx(0.0, abs=1e-12)
