"""Predictions at an image's own size: bilinear class probabilities, sliding windows.

Every path that turns a model's output into a mask at another size goes through here
(evaluation `--at original`, `segkit predict`): the class *probabilities* are resized
bilinearly to the target size and the arg-max is taken there, as Model Garden and
mmsegmentation score, rather than a nearest resize of the arg-max (which turns every model
pixel into a block and loses thin classes).

`sliding_window` runs a model on overlapping windows (its input size) of a larger image and
averages the probabilities where windows overlap (mmsegmentation's "slide" test mode).
"""

import numpy as np
import tensorflow as tf


def resize_probabilities(probabilities, size):
    """float [N, H, W, C] (or [H, W, C]) -> float32 [N, h, w, C] bilinear (half-pixel centres,
    as `tf.image.resize`)."""
    return tf.image.resize(tf.cast(probabilities, tf.float32), size, method="bilinear")


def classes_at(probabilities, size):
    """uint8 [..., h, w] arg-max of the probabilities resized bilinearly to `size` (h, w)."""
    resized = resize_probabilities(probabilities, size)
    return tf.cast(tf.argmax(resized, axis=-1, output_type=tf.int32), tf.uint8)


def window_starts(length, window, overlap=1 / 3):
    """Start offsets (list of int) of windows of `window` px covering `length` px with at
    least `overlap` of a window shared between neighbours; [0] when it fits in one."""
    if length <= window:
        return [0]
    stride = max(1, int(window * (1 - overlap)))
    starts = list(range(0, length - window, stride))
    return starts + [length - window]


def sliding_window(predict, pixels, window, overlap=1 / 3):
    """Probabilities of a large image batch from overlapping windows.

    Args:
      predict: callable float32 [n, wh, ww, 3] -> probabilities [n, wh, ww, C] (numpy or
        tensor), the model at its input size `window`.
      pixels: float32 [N, H, W, 3], 0..255. Sides smaller than the window are padded with 0
        and the padding cut off again.
      window: (wh, ww).
      overlap: fraction of a window shared by neighbouring windows (1/3: mmsegmentation's
        stride of 2/3 of the crop).

    Returns:
      float32 [N, H, W, C]: per pixel the mean of the windows that cover it.
    """
    pixels = np.asarray(pixels, np.float32)
    n, h, w, _ = pixels.shape
    wh, ww = window
    ph, pw = max(h, wh), max(w, ww)
    if (ph, pw) != (h, w):
        pixels = np.pad(pixels, [(0, 0), (0, ph - h), (0, pw - w), (0, 0)])
    total, count = None, np.zeros((1, ph, pw, 1), np.float32)
    for top in window_starts(ph, wh, overlap):
        for left in window_starts(pw, ww, overlap):
            probs = np.asarray(predict(pixels[:, top:top + wh, left:left + ww]), np.float32)
            if total is None:
                total = np.zeros((n, ph, pw, probs.shape[-1]), np.float32)
            total[:, top:top + wh, left:left + ww] += probs
            count[:, top:top + wh, left:left + ww] += 1
    return (total / count)[:, :h, :w]
