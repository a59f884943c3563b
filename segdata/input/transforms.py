"""Per-example tensor transforms used inside the tf.data pipeline: decode, resize, augment.

Every function here is pure TensorFlow (graph-safe, no Python state), works on one example at a
time and keeps images and masks uint8 until the last step, so cached tensors stay small.

Conventions (from the developers' guide): images are resized bilinearly, masks always with
nearest-neighbour sampling, so a resized mask never holds a blended, non-existent label.
"""

import tensorflow as tf

from segdata.records.labels import IGNORE_LABEL, LABEL_OFFSET, pets_label_map, to_train_ids

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RESIZE_MODES = ("stretch", "pad")
# Default zoom range of `augment_pair`. Zoom-in only: zooming out (< 1) would pad masks with
# IGNORE_LABEL, which the chapter's plain sparse_categorical_crossentropy rejects.
AUGMENT_SCALE_RANGE = (1.0, 1.33)


def decode_pair(image_bytes, mask_bytes, where):
    """Encoded record fields -> (image uint8 [h, w, 3], trimap uint8 [h, w, 1]).

    Args:
      image_bytes: scalar string, JPEG (or PNG) bytes of the photo.
      mask_bytes: scalar string, PNG bytes of the single-channel trimap (values 1..3).
      where: scalar string naming the record ("<shard file>: <source_id>"), used only in errors:
        TensorFlow's own decode errors do not say which file is broken.
    """
    is_png = lambda data: tf.equal(tf.strings.substr(data, 0, len(PNG_SIGNATURE)),  # noqa: E731
                                   PNG_SIGNATURE)
    image_ok = tf.io.is_jpeg(image_bytes) | is_png(image_bytes)
    mask_ok = is_png(mask_bytes)
    checks = [
        tf.debugging.Assert(image_ok, ["segkit: record", where, "has image/encoded bytes that are "
                                       "not a JPEG or PNG image; rebuild the records"]),
        tf.debugging.Assert(mask_ok, ["segkit: record", where, "has image/segmentation/class/"
                                      "encoded bytes that are not a PNG; rebuild the records"]),
    ]
    with tf.control_dependencies(checks):
        # decode_image sniffs the bytes, so a PNG stored under format "jpeg" still decodes.
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        mask = tf.io.decode_png(mask_bytes, channels=1)
    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], tf.shape(mask)[:2]))
    check = tf.debugging.Assert(same, ["segkit: record", where, "has image size", tf.shape(image),
                                       "but mask size", tf.shape(mask), "; rebuild the records"])
    with tf.control_dependencies([check]):
        return tf.ensure_shape(image, [None, None, 3]), tf.ensure_shape(mask, [None, None, 1])


def _nearest_indices(in_size, out_size):
    """int32 [out_size] source index per output index, bit-for-bit as PIL's NEAREST resize.

    PIL (and so keras.utils.load_img, the chapter's mask loader) walks the output with a float64
    accumulator starting at scale / 2. tf.image.resize's nearest mode computes (i + 0.5) * scale
    in float32, which picks a different row or column whenever that product is (nearly) an
    integer, e.g. 458 -> 97 pixels. Replaying PIL's sum makes our masks equal the chapter's.
    """
    scale = tf.cast(in_size, tf.float64) / tf.cast(out_size, tf.float64)
    steps = tf.concat([[scale * 0.5], tf.fill([out_size - 1], scale)], axis=0)
    return tf.minimum(tf.cast(tf.floor(tf.cumsum(steps)), tf.int32), in_size - 1)


def resize_mask(mask, size):
    """Nearest-neighbour resize of a label map: [h, w, C] any dtype -> [H, W, C], same dtype."""
    shape = tf.shape(mask)
    rows = tf.gather(mask, _nearest_indices(shape[0], size[0]), axis=0)
    # Gathering along axis 1 copies one pixel at a time (~6 % of the pipeline's CPU); gathering
    # whole rows of the transpose copies row by row.
    cols = tf.gather(tf.transpose(rows, [1, 0, 2]), _nearest_indices(shape[1], size[1]), axis=0)
    return tf.transpose(cols, [1, 0, 2])


def resize_image(image, size, dtype=tf.uint8):
    """Bilinear resize: uint8 [h, w, 3] -> [H, W, 3] of `dtype` (uint8 or float32), rounded to
    whole values in 0..255, so cached and uncached pipelines give identical values."""
    resized = tf.clip_by_value(tf.round(tf.image.resize(image, size, method="bilinear")),
                               0.0, 255.0)
    return resized if dtype == tf.float32 else tf.cast(resized, dtype)


def resize_pair(image, trimap, image_size, resize="stretch", label_table=LABEL_OFFSET,
                image_dtype=tf.uint8):
    """Decoded photo + stored mask -> model-sized uint8 pair with train ids.

    Args:
      image: uint8 [h, w, 3]. trimap: uint8 [h, w, 1], stored mask values (Pets: 1..3).
      image_size: (H, W) python ints.
      resize: "stretch" squeezes to H x W like the chapter's `load_img(target_size=...)`;
        "pad" keeps the aspect ratio, scales the longer side to fit and centres the result,
        padding images with 0 and masks with IGNORE_LABEL.
      label_table: 256 ints, stored value -> train id (segdata.records.labels.label_table of
        the manifest); an int is a Pets label_offset (records written before label_map).
      image_dtype: tf.uint8 (to cache or augment) or tf.float32 (the model's input: saves a
        uint8 round trip).

    Returns:
      (image_dtype [H, W, 3] whole values 0..255, uint8 [H, W, 1] train ids or IGNORE_LABEL).
    """
    height, width = image_size
    if resize == "stretch":
        target = (height, width)
    else:
        shape = tf.cast(tf.shape(image)[:2], tf.float64)
        scale = tf.minimum(height / shape[0], width / shape[1])
        fitted = tf.clip_by_value(tf.cast(tf.round(shape * scale), tf.int32), 1, [height, width])
        target = (fitted[0], fitted[1])
    image = resize_image(image, target, image_dtype)
    if isinstance(label_table, int):
        table = [IGNORE_LABEL] * 256
        for stored, train_id in pets_label_map(label_table).items():
            table[int(stored)] = train_id
        label_table = table
    mask = to_train_ids(resize_mask(trimap, target), label_table)
    if resize == "pad":
        top, left = (height - target[0]) // 2, (width - target[1]) // 2
        pads = [[top, height - target[0] - top], [left, width - target[1] - left], [0, 0]]
        image = tf.pad(image, pads, constant_values=0)
        mask = tf.pad(mask, pads, constant_values=IGNORE_LABEL)
    return tf.ensure_shape(image, [height, width, 3]), tf.ensure_shape(mask, [height, width, 1])


def augment_pair(image, mask, seed, scale_range=AUGMENT_SCALE_RANGE):
    """Random horizontal flip and random scale-and-crop, identical for image and mask.

    One crop window is drawn per example; the image is resampled bilinearly and the mask with
    nearest sampling at the very same coordinates, so the two stay aligned pixel for pixel.
    Zooming out (scale < 1) pads images with 0 and masks with IGNORE_LABEL.

    Args:
      image: uint8 or float32 [H, W, 3]. mask: uint8 [H, W, 1].
      seed: int64 [2], a stateless seed (e.g. from `tf.data.Dataset.random`), so a seeded
        pipeline replays the same transforms.
      scale_range: (min, max) zoom factors.

    Returns:
      (float32 [H, W, 3] values 0..255, uint8 [H, W, 1]).
    """
    image_shape, mask_shape = image.shape, mask.shape
    flip_seed, scale_seed, offset_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3))
    size = tf.shape(mask)[:2]
    scale = tf.random.stateless_uniform([], scale_seed, scale_range[0], scale_range[1])
    extent = 1.0 / scale  # window size in normalised image coordinates
    # Zoom in: the window moves inside the image; zoom out: the image moves inside the window.
    low, high = tf.minimum(0.0, 1.0 - extent), tf.maximum(0.0, 1.0 - extent)
    start = tf.random.stateless_uniform([2], offset_seed, 0.0, 1.0) * (high - low) + low
    boxes = tf.concat([start, start + extent], axis=0)[tf.newaxis]
    crop = lambda x, method, fill: tf.image.crop_and_resize(  # noqa: E731
        x[tf.newaxis], boxes, [0], size, method=method, extrapolation_value=fill)[0]
    image = crop(image, "bilinear", 0.0)
    mask = tf.cast(crop(mask, "nearest", float(IGNORE_LABEL)), tf.uint8)
    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    mask = tf.cond(flip, lambda: tf.image.flip_left_right(mask), lambda: mask)
    return tf.ensure_shape(image, image_shape), tf.ensure_shape(mask, mask_shape)


def _window_rows(in_size, scaled_size, crop_size, offset):
    """Sampling positions of one axis of a crop window: `crop_size` output positions starting at
    `offset` (may be negative: the scaled image then sits inside the window) in an image
    resized from `in_size` to `scaled_size`.

    Returns (nearest int32 [crop], low int32 [crop], high int32 [crop], frac float32 [crop],
    valid bool [crop]): the mask's nearest source index (PIL-exact, as `resize_mask`), the two
    bilinear source indices and weight of the upper one (half-pixel centres, as
    `tf.image.resize(method="bilinear")`), and whether the position lies inside the image.
    """
    positions = offset + tf.range(crop_size)
    valid = (positions >= 0) & (positions < scaled_size)
    inside = tf.clip_by_value(positions, 0, scaled_size - 1)
    nearest = tf.gather(_nearest_indices(in_size, scaled_size), inside)
    scale = tf.cast(in_size, tf.float32) / tf.cast(scaled_size, tf.float32)
    source = tf.maximum((tf.cast(inside, tf.float32) + 0.5) * scale - 0.5, 0.0)
    low = tf.minimum(tf.cast(tf.floor(source), tf.int32), in_size - 1)
    high = tf.minimum(low + 1, in_size - 1)
    return nearest, low, high, source - tf.cast(low, tf.float32), valid


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


def scale_and_crop(image, mask, seed, base_size, crop_size, scale_range=(0.5, 2.0),
                   flip=True, jitter=0.0, label_table=None):
    """Random scale, crop, flip (and colour jitter) of one example in a single resampling.

    The photo is resized to `base_size` times a random factor from `scale_range` (Model
    Garden's aug_scale_min/max; mmsegmentation's RandomResize), a `crop_size` window is taken at
    a random place (RandomCrop), padding where the scaled photo is smaller with 0 (image) and
    IGNORE_LABEL (mask), and flipped left-right with probability 1/2. Only the window's pixels
    are computed: image rows and columns are interpolated bilinearly at exactly the positions
    `tf.image.resize(method="bilinear")` uses, mask pixels are picked at exactly the positions
    `resize_mask` (PIL-exact nearest) uses, so the crop equals the same window of the full
    resized image and mask.

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
    window_seed, flip_seed, jitter_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3))
    size = tf.shape(image)[:2]
    scaled, offset = crop_window(base_size, crop_size, window_seed, scale_range)
    rn, r0, r1, rf, rv = _window_rows(size[0], scaled[0], crop_size[0], offset[0])
    cn, c0, c1, cf, cv = _window_rows(size[1], scaled[1], crop_size[1], offset[1])
    if flip:
        # Flipping the window is reversing its column positions: no extra pass over pixels.
        flipped = tf.random.stateless_uniform([], flip_seed) < 0.5
        cn, c0, c1, cf, cv = (tf.where(flipped, tf.reverse(v, [0]), v)
                              for v in (cn, c0, c1, cf, cv))
    # Rows first (two gathers of whole uint8 rows, cast after: only crop_h rows are converted),
    # then columns of those rows only.
    top, bottom = (tf.cast(tf.gather(image, r), tf.float32) for r in (r0, r1))
    rows = top + (bottom - top) * rf[:, None, None]
    rows = tf.transpose(rows, [1, 0, 2])  # [w, crop_h, 3]: gather whole columns
    left, right = tf.gather(rows, c0), tf.gather(rows, c1)
    window = tf.transpose(left + (right - left) * cf[:, None, None], [1, 0, 2])
    inside = (rv[:, None] & cv[None, :])[..., None]
    window = tf.where(inside, window, 0.0)
    labels = tf.gather(tf.transpose(tf.gather(mask, rn), [1, 0, 2]), cn)
    labels = tf.transpose(labels, [1, 0, 2])
    if label_table is not None:
        labels = to_train_ids(labels, label_table)
    labels = tf.where(inside, labels, tf.constant(IGNORE_LABEL, labels.dtype))
    if jitter:
        window = colour_jitter(window, jitter_seed, jitter, inside)
    return (tf.ensure_shape(window, [*crop_size, 3]),
            tf.ensure_shape(tf.cast(labels, tf.uint8), [*crop_size, 1]))


def colour_jitter(image, seed, strength, inside=None):
    """Random brightness, contrast and saturation of a float32 0..255 image (photometric
    distortion as mmsegmentation's, milder): each factor is drawn from 1 +- strength/2 (the
    brightness shift from +-strength*32 levels); padding (`inside` False) stays 0."""
    b_seed, c_seed, s_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=3))
    shift = tf.random.stateless_uniform([], b_seed, -32.0, 32.0) * strength
    contrast = 1.0 + tf.random.stateless_uniform([], c_seed, -0.5, 0.5) * strength
    saturation = 1.0 + tf.random.stateless_uniform([], s_seed, -0.5, 0.5) * strength
    mean = tf.reduce_mean(image)
    image = (image - mean) * contrast + mean + shift
    grey = tf.reduce_mean(image, axis=-1, keepdims=True)
    image = tf.clip_by_value(grey + (image - grey) * saturation, 0.0, 255.0)
    return image if inside is None else tf.where(inside, image, 0.0)
