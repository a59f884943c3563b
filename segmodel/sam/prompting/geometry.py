"""Geometry between the user's image and SAM's square encoder input.

SAM's image encoder sees an S x S image (S = 1024 for the keras-hub presets): the photo
resized so its longest side is S, then padded at the bottom and right. Prompts given in
the photo's pixels are scaled into that frame, and the decoder's low-resolution logits are
mapped back: upsampled to S x S, the padding cropped, resized to the photo's size. The
conventions are segment-anything's `utils/transforms.py` (ResizeLongestSide) and
`Sam.postprocess_masks`, so masks line up with the same prompts given to the PyTorch model.
"""

import numpy as np
import tensorflow as tf

# keras-hub's ViTDetBackbone normalizes its 0..1 input with these; padding with the mean
# makes the padded area exactly zero after normalization, as in segment-anything (which
# pads after normalizing).
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)


def preprocess_shape(height, width, long_side):
    """Size of an image of `height` x `width` once its longest side is `long_side`.

    Rounds like segment-anything's `ResizeLongestSide.get_preprocess_shape`:
    new side = int(side * scale + 0.5).

    Returns:
      (new_height, new_width) as Python ints.
    """
    scale = long_side * 1.0 / max(height, width)
    # max(1, ...): a sliver such as 1 x 2000 would otherwise round to a zero-pixel side.
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def resize_longest_side(image, long_side):
    """Resize a photo so that its longest side is `long_side` pixels.

    Args:
      image: uint8 `[H, W, 3]`, values 0..255.
      long_side: int, the encoder's input size S.

    Returns:
      float32 `[h, w, 3]` in 0..1 with `(h, w) = preprocess_shape(H, W, S)`. Bilinear with
      antialiasing, like the PIL resize segment-anything uses, so shrinking a large photo
      does not alias.
    """
    new_size = preprocess_shape(image.shape[0], image.shape[1], long_side)
    pixels = tf.cast(tf.convert_to_tensor(image), tf.float32) / 255.0
    resized = tf.image.resize(pixels, new_size, method="bilinear", antialias=True)
    # Antialiased bilinear is a triangle filter (no overshoot), the clip only guards
    # float rounding at 0 and 1.
    return np.clip(resized.numpy(), 0.0, 1.0)


def pad_to_square(image, size, fill=IMAGENET_MEAN):
    """Pad a resized photo at the bottom and right to `size` x `size`.

    Args:
      image: float32 `[h, w, 3]` with h, w <= size.
      size: int, the encoder's input size S.
      fill: float32 `[3]`, the per-channel padding value (the ImageNet mean by default).

    Returns:
      float32 `[S, S, 3]`; `image` sits in the top-left corner, so prompt coordinates need
      only scaling, never an offset.
    """
    height, width = image.shape[:2]
    if height > size or width > size:
        raise ValueError(f"Cannot pad an image of {height}x{width} to {size}x{size}.")
    canvas = np.empty((size, size, 3), dtype=np.float32)
    canvas[...] = np.asarray(fill, dtype=np.float32)
    canvas[:height, :width] = image
    return canvas


def apply_coords(coords, original_size, long_side):
    """Scale (x, y) coordinates from the photo's pixels to the encoder's input frame.

    Args:
      coords: float array `[..., 2]`, (x, y) in the original photo's pixels.
      original_size: (H, W) of the photo.
      long_side: int, the encoder's input size S.

    Returns:
      float32 array with the shape of `coords`.
    """
    old_h, old_w = original_size
    new_h, new_w = preprocess_shape(old_h, old_w, long_side)
    coords = np.array(coords, dtype=np.float64)
    coords[..., 0] *= new_w / old_w
    coords[..., 1] *= new_h / old_h
    return coords.astype(np.float32)


def apply_box(box, original_size, long_side):
    """Scale a (x0, y0, x1, y1) box to the encoder's frame as keras-hub's `[2, 2]` corners.

    Returns:
      float32 `[2, 2]`: `[[x0, y0], [x1, y1]]` in the encoder's input frame.
    """
    corners = np.asarray(box, dtype=np.float32).reshape(2, 2)
    return apply_coords(corners, original_size, long_side)


def postprocess_masks(low_res_logits, input_size, original_size, long_side):
    """Map the decoder's low-resolution logits back onto the photo.

    Args:
      low_res_logits: float32 `[C, L, L]` (L = S / 4, 256 for the presets).
      input_size: int `[2]`, (h, w) of the resized photo inside the padded input.
      original_size: int `[2]`, (H, W) of the photo.
      long_side: int, the encoder's input size S.

    Returns:
      float32 `[C, H, W]` logits; threshold at 0 for masks. Both resizes are bilinear
      without antialiasing (half-pixel centres), matching segment-anything's
      `F.interpolate(..., mode="bilinear", align_corners=False)`.
    """
    logits = tf.convert_to_tensor(low_res_logits, tf.float32)
    input_size = tf.convert_to_tensor(input_size, tf.int32)
    original_size = tf.convert_to_tensor(original_size, tf.int32)
    low = logits.shape[1]
    if low and long_side % low == 0:
        # Only the photo's part of the S x S upsampling is kept, so only the low-res rows
        # and columns it reads matter: with an integer factor r = S / L, output row
        # i < h reads input rows floor/ceil((i + 0.5) / r - 0.5) <= ceil(h / r).
        factor = long_side // low
        keep = tf.minimum(-(-input_size // factor) + 1, low)
        upsampled = keep * factor
    else:
        keep = tf.shape(logits)[1:3]
        upsampled = tf.constant([long_side, long_side], tf.int32)
    # Upsample, crop and resize are linear and separable, so the whole chain is one
    # [kept, out] matrix per axis (the chain applied to the unit vectors): two small
    # matmuls instead of a C x S x S intermediate (4x faster on 192 masks).
    rows = _resize_chain_matrix(keep[0], upsampled[0], input_size[0], original_size[0])
    cols = _resize_chain_matrix(keep[1], upsampled[1], input_size[1], original_size[1])
    logits = logits[:, : keep[0], : keep[1]]
    logits = tf.reshape(tf.reshape(logits, [-1, keep[1]]) @ cols, [-1, keep[0], original_size[1]])
    return tf.matmul(rows, logits, transpose_a=True)


def _resize_chain_matrix(length, upsampled, cropped, target):
    """float32 `[length, target]`: bilinear resize to `upsampled`, keep the first `cropped`,
    bilinear resize to `target`, as a matrix (row k = the chain applied to unit vector k)."""
    basis = tf.eye(length)[:, :, None, None]             # `length` images of length x 1
    up = tf.image.resize(basis, tf.stack([upsampled, 1]), method="bilinear")[:, :cropped]
    return tf.image.resize(up, tf.stack([target, 1]), method="bilinear")[:, :, 0, 0]
