"""SAM geometry helpers: resize-longest-side, padding, coordinates, mask post-processing."""

import numpy as np
import pytest
import tensorflow as tf

from segmodel.sam.prompting import geometry as transforms

IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@pytest.mark.parametrize("height,width,side,expected", [
    (480, 640, 1024, (768, 1024)),
    (333, 500, 1024, (682, 1024)),   # 681.98 rounds up
    (101, 200, 128, (65, 128)),      # 64.64: int(x + 0.5) = 65, plain int() would give 64
    (99, 200, 128, (63, 128)),       # 63.36 rounds down
    (300, 150, 128, (128, 64)),      # portrait: the height is the long side
    (50, 40, 128, (128, 102)),       # small images are enlarged
    (1, 2000, 128, (1, 128)),        # a sliver keeps one row instead of rounding to zero
])
def test_preprocess_shape_rounds_like_segment_anything(height, width, side, expected):
    assert transforms.preprocess_shape(height, width, side) == expected


def test_resize_longest_side_scales_pixels_to_unit_range():
    image = np.full((90, 150, 3), 200, np.uint8)
    resized = transforms.resize_longest_side(image, 128)
    assert resized.shape == (77, 128, 3) and resized.dtype == np.float32
    np.testing.assert_allclose(resized, 200 / 255, atol=1e-5)


def test_resize_longest_side_antialiases_when_shrinking():
    # A one-pixel checkerboard shrunk 8x must average to grey; without antialiasing,
    # bilinear sampling picks individual black and white pixels.
    board = ((np.indices((512, 512)).sum(0) % 2) * 255).astype(np.uint8)
    image = np.repeat(board[..., None], 3, axis=-1)
    resized = transforms.resize_longest_side(image, 64)
    assert resized.shape == (64, 64, 3)
    np.testing.assert_allclose(resized, 0.5, atol=0.02)


def test_pad_to_square_puts_image_top_left_and_padding_normalizes_to_zero():
    image = np.random.default_rng(0).random((77, 128, 3), dtype=np.float32)
    padded = transforms.pad_to_square(image, 128)
    assert padded.shape == (128, 128, 3)
    np.testing.assert_array_equal(padded[:77], image)
    normalized = (padded[77:] - transforms.IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(normalized, 0.0, atol=1e-6)


def test_pad_to_square_rejects_oversized_image():
    with pytest.raises(ValueError, match="Cannot pad"):
        transforms.pad_to_square(np.zeros((130, 20, 3), np.float32), 128)


def test_apply_coords_maps_image_corners_to_resized_corners():
    # 90 x 150 -> 77 x 128: x scales by 128/150, y by 77/90 (not by the same factor).
    coords = np.array([[0, 0], [150, 90], [75, 45]], np.float32)
    mapped = transforms.apply_coords(coords, (90, 150), 128)
    np.testing.assert_allclose(mapped, [[0, 0], [128, 77], [64, 38.5]], rtol=1e-6)
    box = transforms.apply_box([15, 9, 150, 90], (90, 150), 128)
    np.testing.assert_allclose(box, [[12.8, 7.7], [128, 77]], rtol=1e-6)


def _ramp_low_res(original_size, side, low_res, axis, offset):
    """Low-res logits equal to (original coordinate along `axis`) - offset at each cell
    centre: bilinear resizes reproduce a linear ramp exactly away from the borders."""
    height, width = original_size
    new_h, new_w = transforms.preprocess_shape(height, width, side)
    centres = (np.arange(low_res) + 0.5) * side / low_res  # in the padded input frame
    scale = height / new_h if axis == 0 else width / new_w
    ramp = centres * scale - offset
    grid = ramp[:, None] if axis == 0 else ramp[None, :]
    return np.broadcast_to(grid, (low_res, low_res)).astype(np.float32)[None]


@pytest.mark.parametrize("axis", [0, 1])
def test_postprocess_masks_crops_padding_and_restores_original_frame(axis):
    original = (90, 150)  # landscape: the padding is at the bottom, so rows test the crop
    offset = 40.0
    low = _ramp_low_res(original, 128, 32, axis, offset)
    input_size = transforms.preprocess_shape(*original, 128)
    logits = transforms.postprocess_masks(low, input_size, original, 128).numpy()
    assert logits.shape == (1, 90, 150)
    coords = np.arange(original[axis]) + 0.5
    expected = coords - offset
    profile = logits[0, :, 75] if axis == 0 else logits[0, 45, :]
    inner = slice(4, original[axis] - 4)  # border pixels clamp to the outermost cell
    np.testing.assert_allclose(profile[inner], expected[inner], atol=1e-3)
    mask = logits[0] > 0
    edge = (np.argmax(mask[:, 75]) if axis == 0 else np.argmax(mask[45, :]))
    assert edge == 40  # pixel centres 40.5, 41.5, ... are past the 40-pixel threshold


@pytest.mark.parametrize("original,long_side,low", [
    ((90, 150), 128, 32), ((150, 70), 128, 32), ((375, 500), 1024, 256), ((61, 61), 100, 25),
    ((40, 90), 100, 30),  # S / L not an integer: the whole square is upsampled
])
def test_postprocess_masks_equals_the_resize_crop_resize_chain(original, long_side, low):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (3, low, low)).astype(np.float32)
    input_size = transforms.preprocess_shape(*original, long_side)
    # segment-anything's chain, written out: upsample the square, crop the photo, resize.
    chain = tf.image.resize(logits[..., None], (long_side, long_side), method="bilinear")
    chain = tf.image.resize(chain[:, :input_size[0], :input_size[1]], original,
                            method="bilinear")[..., 0].numpy()
    got = transforms.postprocess_masks(logits, input_size, original, long_side).numpy()
    assert got.shape == (3, *original)
    np.testing.assert_allclose(got, chain, atol=2e-5)
