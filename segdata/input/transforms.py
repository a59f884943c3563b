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


def _is_png(data):
    return tf.equal(tf.strings.substr(data, 0, len(PNG_SIGNATURE)), PNG_SIGNATURE)


def encoded_checks(image_bytes, mask_bytes, where):
    """Assertions (run them as control dependencies) that a record's bytes are a JPEG or PNG
    photo and a PNG mask; `where` (scalar string) names the record in the message."""
    image_ok = tf.io.is_jpeg(image_bytes) | _is_png(image_bytes)
    return [
        tf.debugging.Assert(image_ok, ["segkit: record", where, "has image/encoded bytes that are "
                                       "not a JPEG or PNG image; rebuild the records"]),
        tf.debugging.Assert(_is_png(mask_bytes), ["segkit: record", where, "has image/"
                                                  "segmentation/class/encoded bytes that are not "
                                                  "a PNG; rebuild the records"]),
    ]


def same_size_check(image_size, mask_size, where):
    """Assertion that the photo's (h, w) equals the mask's, naming the record."""
    same = tf.reduce_all(tf.equal(image_size, mask_size))
    return tf.debugging.Assert(same, ["segkit: record", where, "has image size", image_size,
                                      "but mask size", mask_size, "; rebuild the records"])


def decode_pair(image_bytes, mask_bytes, where):
    """Encoded record fields -> (image uint8 [h, w, 3], trimap uint8 [h, w, 1]).

    Args:
      image_bytes: scalar string, JPEG (or PNG) bytes of the photo.
      mask_bytes: scalar string, PNG bytes of the single-channel trimap (values 1..3).
      where: scalar string naming the record ("<shard file>: <source_id>"), used only in errors:
        TensorFlow's own decode errors do not say which file is broken.
    """
    with tf.control_dependencies(encoded_checks(image_bytes, mask_bytes, where)):
        # decode_image sniffs the bytes, so a PNG stored under format "jpeg" still decodes.
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        mask = tf.io.decode_png(mask_bytes, channels=1)
    with tf.control_dependencies([same_size_check(tf.shape(image)[:2], tf.shape(mask)[:2],
                                                  where)]):
        return tf.ensure_shape(image, [None, None, 3]), tf.ensure_shape(mask, [None, None, 1])


def nearest_indices(in_size, out_size):
    """int32 [out_size] source index per output index, bit-for-bit as PIL's NEAREST resize.

    PIL (and so keras.utils.load_img, the chapter's mask loader) walks the output with a float64
    accumulator starting at scale / 2. tf.image.resize's nearest mode computes (i + 0.5) * scale
    in float32, which picks a different row or column whenever that product is (nearly) an
    integer, e.g. 458 -> 97 pixels. Replaying PIL's sum makes our masks equal the chapter's.
    """
    scale = tf.cast(in_size, tf.float64) / tf.cast(out_size, tf.float64)
    steps = tf.concat([[scale * 0.5], tf.fill([out_size - 1], scale)], axis=0)
    return tf.minimum(tf.cast(tf.floor(tf.cumsum(steps)), tf.int32), in_size - 1)


def pick_pixels(mask, rows, cols):
    """mask[rows][:, cols]: [h, w, C] any dtype, int32 [H] row and [W] column indices ->
    [H, W, C], same dtype."""
    picked = tf.gather(mask, rows, axis=0)
    # Gathering along axis 1 copies one pixel at a time (~6 % of the pipeline's CPU); gathering
    # whole rows of the transpose copies row by row.
    picked = tf.gather(tf.transpose(picked, [1, 0, 2]), cols, axis=0)
    return tf.transpose(picked, [1, 0, 2])


def resize_mask(mask, size):
    """Nearest-neighbour resize of a label map: [h, w, C] any dtype -> [H, W, C], same dtype."""
    shape = tf.shape(mask)
    return pick_pixels(mask, nearest_indices(shape[0], size[0]),
                       nearest_indices(shape[1], size[1]))


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
