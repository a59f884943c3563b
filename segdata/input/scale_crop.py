"""Scale-and-crop training windows (Model Garden's aug_scale_min/max + crop_size,
mmsegmentation's RandomResize + RandomCrop), computed in a single resampling of the window.

Image pixels are interpolated bilinearly at the positions `tf.image.resize(method="bilinear")`
uses (one `tf.image.crop_and_resize` pass over the window; values agree with resizing the
whole photo to float32 rounding) and mask pixels picked at exactly the positions
`transforms.resize_mask` (PIL-exact nearest) uses, so a window equals the same window of the
full resized image and mask.

Decoding only the window's part of a JPEG (`tf.image.decode_and_crop_jpeg`) was tried and
measured no faster at cpu-quick's scales (0.75-1.5: windows read most of the photo, and libjpeg
still entropy-decodes every row above the window's bottom), so photos are decoded whole.
"""

import tensorflow as tf

from segdata.input import transforms
from segdata.records.labels import IGNORE_LABEL, to_train_ids


def _window_axis(in_size, scaled_size, crop_size, offset):
    """Sampling positions of one axis of a crop window: `crop_size` output positions starting at
    `offset` (may be negative: the scaled image then sits inside the window) in an image
    resized from `in_size` to `scaled_size`. Only the positions inside the scaled image are
    sampled; the rest is padding.

    Returns a dict of
      nearest: int32 [n], the mask's source index per sampled position (PIL-exact, as
        `resize_mask`), n the number of positions inside the scaled image;
      start, step: float32 scalars, the bilinear source position of the first sampled output
        and the distance between outputs (half-pixel centres, as
        `tf.image.resize(method="bilinear")`: position = (i + 0.5) * in / scaled - 0.5);
      pad: int32 [2], padding outputs before and after the sampled ones.
    """
    first = tf.maximum(0, -offset)  # output index of the first position inside the image
    end = tf.minimum(crop_size, scaled_size - offset)
    positions = offset + tf.range(first, end)
    nearest = tf.gather(transforms.nearest_indices(in_size, scaled_size), positions)
    step = tf.cast(in_size, tf.float32) / tf.cast(scaled_size, tf.float32)
    start = (tf.cast(offset + first, tf.float32) + 0.5) * step - 0.5
    return {"nearest": nearest, "start": start, "step": step,
            "pad": tf.stack([first, crop_size - end])}


def crop_window(base_size, crop_size, seed, scale_range=(0.5, 2.0)):
    """Draws one scale-and-crop window: (scaled (h, w) int32 [2], offset (y, x) int32 [2]).

    The image is resized to `base_size` x a factor drawn uniformly from `scale_range`; the
    window of `crop_size` lies inside the scaled image where it is larger than the crop, and the
    scaled image lies inside the window where it is smaller (the rest is padding). `seed`:
    int [2] stateless seed. The scaled size depends on the base size only (every photo is
    first brought to the base size, as the plain pipeline does), like Model Garden's.
    """
    scale_seed, offset_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    scale = tf.random.stateless_uniform([], scale_seed, float(scale_range[0]),
                                        float(scale_range[1]))
    scaled = tf.maximum(tf.cast(tf.round(tf.constant(base_size, tf.float32) * scale), tf.int32),
                        1)
    crop = tf.constant(crop_size, tf.int32)
    low, high = tf.minimum(0, scaled - crop), tf.maximum(0, scaled - crop)
    offset = tf.random.stateless_uniform([2], offset_seed, 0, tf.int32.max, dtype=tf.int32)
    return scaled, low + offset % (high - low + 1)


def _plan(size, seed, base_size, crop_size, scale_range, flip):
    """Sampling positions of one window of a photo of `size` (h, w): (rows, cols, jitter seed),
    rows and cols as `_window_axis` returns them, the columns reversed when flipped."""
    window_seed, flip_seed, jitter_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3))
    scaled, offset = crop_window(base_size, crop_size, window_seed, scale_range)
    rows = _window_axis(size[0], scaled[0], crop_size[0], offset[0])
    cols = _window_axis(size[1], scaled[1], crop_size[1], offset[1])
    if flip:
        # Flipping the window is walking its columns backwards: no extra pass over pixels.
        flipped = tf.random.stateless_uniform([], flip_seed) < 0.5
        n = tf.shape(cols["nearest"])[0]
        cols = {**cols,
                "nearest": tf.where(flipped, tf.reverse(cols["nearest"], [0]), cols["nearest"]),
                "start": tf.where(flipped, cols["start"] + tf.cast(n - 1, tf.float32) *
                                  cols["step"], cols["start"]),
                "step": tf.where(flipped, -cols["step"], cols["step"]),
                "pad": tf.where(flipped, tf.reverse(cols["pad"], [0]), cols["pad"])}
    return rows, cols, jitter_seed


def _image_window(image, rows, cols):
    """float32 [n_rows, n_cols, 3]: the window's bilinear samples inside the scaled image, of
    `image` (uint8 [h, w, 3]), in one `crop_and_resize` pass.

    crop_and_resize samples box coordinate y1 * (h - 1) + i * step, the affine positions of the
    window (a reversed box is a flipped window). When the window upsamples (step < 1), taps
    before the first and after the last row or column occur: tf.image.resize clamps them to
    the edge, crop_and_resize would extrapolate, so the image is then padded by one replicated
    pixel (concat: MirrorPad measured 5x slower than the whole window).
    """
    def replicate():
        padded = tf.concat([image[:1], image, image[-1:]], 0)
        return tf.concat([padded[:, :1], padded, padded[:, -1:]], 1), 1.0

    upsampling = (rows["step"] < 1.0) | (tf.abs(cols["step"]) < 1.0)
    source, shift = tf.cond(upsampling, replicate, lambda: (image, 0.0))
    extent = tf.cast(tf.shape(source)[:2] - 1, tf.float32)
    size = tf.stack([tf.shape(rows["nearest"])[0], tf.shape(cols["nearest"])[0]])

    def box(axis, n, length):
        first = axis["start"] + shift
        return first / length, (first + tf.cast(n - 1, tf.float32) * axis["step"]) / length

    y1, y2 = box(rows, size[0], extent[0])
    x1, x2 = box(cols, size[1], extent[1])
    return tf.image.crop_and_resize(source[tf.newaxis], tf.stack([[y1, x1, y2, x2]]), [0],
                                    size, method="bilinear")[0]


def scale_and_crop(image, mask, seed, base_size, crop_size, scale_range=(0.5, 2.0),
                   flip=True, jitter=0.0, label_table=None):
    """Random scale, crop, flip (and colour jitter) of one decoded example in one resampling.

    The photo is resized to `base_size` times a random factor from `scale_range` (Model
    Garden's aug_scale_min/max; mmsegmentation's RandomResize), a `crop_size` window is taken at
    a random place (RandomCrop), padding where the scaled photo is smaller with 0 (image) and
    IGNORE_LABEL (mask), and flipped left-right with probability 1/2. Only the window's pixels
    inside the scaled photo are computed; padding is added last (a select over the whole
    window measured as costly as the sampling).

    Args:
      image: uint8 [h, w, 3]. mask: uint8 [h, w, 1] (stored values when `label_table`, else
        train ids).
      seed: int [2] stateless seed (`tf.data.Dataset.random` pairs): same seed, same crop.
      base_size, crop_size: (H, W) python ints.
      scale_range: (low, high) factors of the base size.
      flip: random horizontal flips.
      jitter: colour jitter strength in 0..1 (`colour_jitter`); 0: none.
      label_table: 256 ints, stored value -> train id, applied to the window only; None: the
        mask already holds train ids.

    Returns:
      (float32 [crop_h, crop_w, 3] values 0..255, uint8 [crop_h, crop_w, 1] train ids or
      IGNORE_LABEL).
    """
    rows, cols, jitter_seed = _plan(tf.shape(image)[:2], seed, base_size, crop_size,
                                    scale_range, flip)
    window = _image_window(image, rows, cols)
    if jitter:
        window = colour_jitter(window, jitter_seed, jitter)
    labels = transforms.pick_pixels(mask, rows["nearest"], cols["nearest"])
    if label_table is not None:
        labels = to_train_ids(labels, label_table)
    pads = tf.stack([rows["pad"], cols["pad"], [0, 0]])
    window = tf.pad(window, pads)
    labels = tf.pad(tf.cast(labels, tf.uint8), pads, constant_values=IGNORE_LABEL)
    return tf.ensure_shape(window, [*crop_size, 3]), tf.ensure_shape(labels, [*crop_size, 1])


def colour_jitter(image, seed, strength):
    """Random brightness, contrast and saturation of a float32 0..255 image (photometric
    distortion as mmsegmentation's, milder): each factor is drawn from 1 +- strength/2 (the
    brightness shift from +-strength*32 levels)."""
    b_seed, c_seed, s_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=3))
    shift = tf.random.stateless_uniform([], b_seed, -32.0, 32.0) * strength
    contrast = 1.0 + tf.random.stateless_uniform([], c_seed, -0.5, 0.5) * strength
    saturation = 1.0 + tf.random.stateless_uniform([], s_seed, -0.5, 0.5) * strength
    mean = tf.reduce_mean(image)
    image = (image - mean) * contrast + mean + shift
    grey = tf.reduce_mean(image, axis=-1, keepdims=True)
    return tf.clip_by_value(grey + (image - grey) * saturation, 0.0, 255.0)
