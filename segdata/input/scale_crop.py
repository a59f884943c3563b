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


def crop_window(base_size, crop_size, seed, scale_range=(0.5, 2.0)):
    """Draws one scale-and-crop window: (scaled (h, w) int32 [2], offset (y, x) int32 [2],
    flipped bool scalar).

    The image is resized to `base_size` x a factor drawn uniformly from `scale_range`; the
    window of `crop_size` lies inside the scaled image where it is larger than the crop, and the
    scaled image lies inside the window where it is smaller (the rest is padding); it is
    flipped left-right with probability 1/2. `seed`: int [2] stateless seed. The scaled size
    depends on the base size only (every photo is first brought to the base size, as the plain
    pipeline does), like Model Garden's. All four numbers come from one draw: each op in the
    per-example map costs microseconds.
    """
    draw = tf.random.stateless_uniform([4], seed)
    low, high = float(scale_range[0]), float(scale_range[1])
    scale = low + draw[0] * (high - low)
    scaled = tf.maximum(tf.cast(tf.round(tf.constant(base_size, tf.float32) * scale), tf.int32),
                        1)
    spare = scaled - tf.constant(crop_size, tf.int32)  # < 0: the window pads the image
    first = tf.minimum(0, spare)
    choices = tf.abs(spare) + 1
    pick = tf.minimum(tf.cast(draw[1:3] * tf.cast(choices, tf.float32), tf.int32), choices - 1)
    return scaled, first + pick, draw[3] < 0.5


def _plan(size, seed, base_size, crop_size, scale_range, flip):
    """Where one window of a photo of `size` (h, w) samples it. Both axes are computed together
    as [2] vectors (each op in the per-example map costs microseconds).

    Returns a dict of
      rows, cols: int32 [n_rows], [n_cols], the mask's source row and column per output inside
        the scaled image (PIL-exact, as `transforms.resize_mask`); the columns reversed when
        flipped;
      box: float32 [4] (y1, x1, y2, x2), the bilinear source positions of the first and last of
        those outputs (half-pixel centres, as `tf.image.resize(method="bilinear")`: position =
        (i + 0.5) * in / scaled - 0.5); x1 > x2 when flipped;
      upsampling: bool scalar, whether either axis is enlarged;
      pads: int32 [3, 2], `tf.pad` paddings that bring the sampled outputs to the crop size.
    """
    scaled, offset, flipped = crop_window(base_size, crop_size, seed, scale_range)
    crop = tf.constant(crop_size, tf.int32)
    first = tf.maximum(0, -offset)  # output index of the first position inside the image
    end = tf.minimum(crop, scaled - offset)
    step = tf.cast(size, tf.float32) / tf.cast(scaled, tf.float32)
    start = (tf.cast(offset + first, tf.float32) + 0.5) * step - 0.5
    box = tf.concat([start, start + tf.cast(end - first - 1, tf.float32) * step], 0)
    rows = tf.gather(transforms.nearest_indices(size[0], scaled[0]),
                     tf.range(offset[0] + first[0], offset[0] + end[0]))
    cols = tf.gather(transforms.nearest_indices(size[1], scaled[1]),
                     tf.range(offset[1] + first[1], offset[1] + end[1]))
    pads = tf.reshape(tf.stack([first, crop - end], axis=1), [4])  # top bottom left right
    if flip:
        # Flipping the window is walking its columns backwards: no extra pass over pixels.
        cols = tf.where(flipped, tf.reverse(cols, [0]), cols)
        box = tf.where(flipped, tf.gather(box, [0, 3, 2, 1]), box)
        pads = tf.where(flipped, tf.gather(pads, [0, 1, 3, 2]), pads)
    return {"rows": rows, "cols": cols, "box": box, "upsampling": tf.reduce_any(step < 1.0),
            "pads": tf.pad(tf.reshape(pads, [2, 2]), [[0, 1], [0, 0]])}


def _image_window(image, plan):
    """float32 [n_rows, n_cols, 3]: the window's bilinear samples inside the scaled image, of
    `image` (uint8 [h, w, 3]), in one `crop_and_resize` pass.

    crop_and_resize samples box coordinate y1 * (h - 1) + i * step, the affine positions of the
    window (a reversed box is a flipped window); its float32 kernel measured faster than its
    uint8 one even counting the cast. When the window upsamples, taps before the first and
    after the last row or column occur: tf.image.resize clamps them to the edge,
    crop_and_resize would extrapolate, so the image is then padded by one replicated pixel
    (concat: MirrorPad measured 5x slower than the whole window).
    """
    image = tf.cast(image, tf.float32)

    def replicate():
        padded = tf.concat([image[:1], image, image[-1:]], 0)
        return tf.concat([padded[:, :1], padded, padded[:, -1:]], 1), 1.0

    source, shift = tf.cond(plan["upsampling"], replicate, lambda: (image, 0.0))
    extent = tf.maximum(tf.cast(tf.shape(source)[:2] - 1, tf.float32), 1.0)
    box = (plan["box"] + shift) / tf.tile(extent, [2])
    size = tf.stack([tf.shape(plan["rows"])[0], tf.shape(plan["cols"])[0]])
    return tf.image.crop_and_resize(source[tf.newaxis], box[tf.newaxis], [0], size,
                                    method="bilinear")[0]


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
    plan = _plan(tf.shape(image)[:2], seed, base_size, crop_size, scale_range, flip)
    window = _image_window(image, plan)
    if jitter:
        window = colour_jitter(window, tf.random.experimental.stateless_fold_in(seed, 1), jitter)
    labels = transforms.pick_pixels(mask, plan["rows"], plan["cols"])
    if label_table is not None:
        labels = to_train_ids(labels, label_table)
    window = tf.pad(window, plan["pads"])
    labels = tf.pad(tf.cast(labels, tf.uint8), plan["pads"], constant_values=IGNORE_LABEL)
    return tf.ensure_shape(window, [*crop_size, 3]), tf.ensure_shape(labels, [*crop_size, 1])


def colour_jitter(image, seed, strength):
    """Random brightness, contrast and saturation of a float32 0..255 image (photometric
    distortion as mmsegmentation's, milder): each factor is drawn from 1 +- strength/2 (the
    brightness shift from +-strength*32 levels).

    Contrast about the image's mean, a shift, then saturation about each pixel's grey are
    together one affine map of each pixel's colour: a [3, 3] matmul plus a constant (measured
    half the CPU of applying them one after another).
    """
    draw = tf.random.stateless_uniform([3], seed, -0.5, 0.5) * strength
    shift, contrast, saturation = draw[0] * 64.0, 1.0 + draw[1], 1.0 + draw[2]
    # y = (x - mean) * contrast + mean + shift; z = grey(y) + (y - grey(y)) * saturation
    matrix = contrast * (saturation * tf.eye(3) + (1.0 - saturation) / 3.0)
    offset = tf.reduce_mean(image) * (1.0 - contrast) + shift
    mapped = tf.linalg.matmul(tf.reshape(image, [-1, 3]), matrix) + offset
    return tf.clip_by_value(tf.reshape(mapped, tf.shape(image)), 0.0, 255.0)
