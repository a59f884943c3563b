"""Scale-and-crop training windows are exact: image windows equal the same window of
tf.image.resize (bilinear), mask windows the same window of the PIL-exact nearest resize,
padding is ignore, a seed repeats the windows."""

import numpy as np
import pytest
import tensorflow as tf

from segdata.input import scale_crop, transforms
from segdata.records.labels import IGNORE_LABEL

# Image windows are bilinear samples at float32 positions: 0..255 values agree with
# tf.image.resize's to rounding (measured < 0.002); masks agree exactly.
IMAGE_ATOL = 0.01


def _example(h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = rng.integers(0, 5, (h, w, 1), dtype=np.uint8)
    return tf.constant(image), tf.constant(mask)


def _reference(image, mask, scaled, offset, crop, flipped):
    """The full resized image and mask, padded, then the window (and flip) taken in NumPy."""
    sh, sw = (int(v) for v in scaled)
    big_image = tf.image.resize(tf.cast(image, tf.float32), (sh, sw), "bilinear").numpy()
    big_mask = transforms.resize_mask(mask, (sh, sw)).numpy()
    oy, ox = (int(v) for v in offset)
    pad_y, pad_x = max(0, -oy) + crop[0], max(0, -ox) + crop[1]
    canvas = np.zeros((sh + 2 * pad_y, sw + 2 * pad_x, 3), np.float32)
    labels = np.full((sh + 2 * pad_y, sw + 2 * pad_x, 1), IGNORE_LABEL, np.uint8)
    canvas[pad_y:pad_y + sh, pad_x:pad_x + sw] = big_image
    labels[pad_y:pad_y + sh, pad_x:pad_x + sw] = big_mask
    window = (slice(pad_y + oy, pad_y + oy + crop[0]), slice(pad_x + ox, pad_x + ox + crop[1]))
    image_window, mask_window = canvas[window], labels[window]
    if flipped:
        image_window, mask_window = image_window[:, ::-1], mask_window[:, ::-1]
    return image_window, mask_window


@pytest.mark.parametrize("scale_range", [(0.4, 0.6), (1.5, 2.0), (0.5, 2.0)])
def test_window_equals_resized_then_cropped(scale_range):
    image, mask = _example()
    base, crop = (30, 40), (24, 32)
    seen_flip = set()
    for s in range(12):
        seed = tf.constant([s, 7], tf.int64)
        scaled, offset, flipped = scale_crop.crop_window(base, crop, seed, scale_range)
        flipped = bool(flipped)
        seen_flip.add(flipped)
        got_image, got_mask = scale_crop.scale_and_crop(image, mask, seed, base, crop,
                                                        scale_range)
        want_image, want_mask = _reference(image, mask, scaled, offset, crop, flipped)
        np.testing.assert_array_equal(got_mask.numpy(), want_mask)
        np.testing.assert_allclose(got_image.numpy(), want_image, atol=IMAGE_ATOL)
        if scale_range[1] < 1:  # the scaled image is smaller than the crop: padding is ignore
            assert (got_mask.numpy() == IGNORE_LABEL).any()
            assert (got_image.numpy()[got_mask.numpy()[..., 0] == IGNORE_LABEL] == 0).all()
    assert seen_flip == {True, False}


def test_label_table_applies_to_window_and_padding_stays_ignore():
    image, mask = _example()
    table = [IGNORE_LABEL] * 256
    for stored in range(5):
        table[stored] = 4 - stored
    seed = tf.constant([3, 4], tf.int64)
    plain = scale_crop.scale_and_crop(image, mask, seed, (30, 40), (40, 48), (0.5, 0.7))[1]
    mapped = scale_crop.scale_and_crop(image, mask, seed, (30, 40), (40, 48), (0.5, 0.7),
                                       label_table=table)[1]
    plain, mapped = plain.numpy(), mapped.numpy()
    pad = plain == IGNORE_LABEL
    assert pad.any() and (mapped[pad] == IGNORE_LABEL).all()
    np.testing.assert_array_equal(mapped[~pad], 4 - plain[~pad])


def test_same_seed_same_window_other_seed_differs():
    image, mask = _example()
    run = lambda s: scale_crop.scale_and_crop(  # noqa: E731
        image, mask, tf.constant(s, tf.int64), (30, 40), (24, 32), (0.5, 2.0), jitter=0.4)
    a, b, c = run([1, 2]), run([1, 2]), run([2, 2])
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())


def test_colour_jitter_is_contrast_shift_then_saturation():
    image = tf.constant(np.random.default_rng(1).uniform(0, 255, (9, 11, 3)), tf.float32)
    seed = tf.constant([5, 6], tf.int64)
    draw = tf.random.stateless_uniform([3], seed, -0.5, 0.5).numpy() * 0.8
    shift, contrast, saturation = draw[0] * 64, 1 + draw[1], 1 + draw[2]
    x = image.numpy().astype(np.float64)
    y = (x - x.mean()) * contrast + x.mean() + shift
    grey = y.mean(axis=-1, keepdims=True)
    want = np.clip(grey + (y - grey) * saturation, 0, 255)
    got = scale_crop.colour_jitter(image, seed, 0.8).numpy()
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert np.abs(got - x).max() > 1  # it did change the colours
