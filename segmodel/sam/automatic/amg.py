"""Vectorised helpers of automatic mask generation, after segment-anything's utils/amg.py.

Each works on a whole stack of masks at once (TensorFlow ops or one C call for the stack),
never a Python loop over pixels or masks.
"""

import numpy as np
import tensorflow as tf


def build_point_grid(points_per_side):
    """segment-anything's grid: `n x n` points at cell centres of the unit square.

    Returns:
      float64 `[n * n, 2]` (x, y) in [0, 1], row-major (x varies fastest).
    """
    offset = 1.0 / (2 * points_per_side)
    side = np.linspace(offset, 1 - offset, points_per_side)
    xs = np.tile(side[None, :], (points_per_side, 1))
    ys = np.tile(side[:, None], (1, points_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def stability_score(logits, threshold, offset):
    """IoU between the masks thresholded at `threshold + offset` and `threshold - offset`.

    Args:
      logits: float32 `[K, H, W]`.

    Returns:
      float32 `[K]`; 0 for a mask empty even at the lower threshold.
    """
    inter = tf.reduce_sum(tf.cast(logits > threshold + offset, tf.int32), axis=[1, 2])
    union = tf.reduce_sum(tf.cast(logits > threshold - offset, tf.int32), axis=[1, 2])
    return tf.math.divide_no_nan(tf.cast(inter, tf.float32), tf.cast(union, tf.float32))


def masks_to_boxes(masks):
    """Tight boxes of bool masks `[K, H, W]` -> int32 `[K, 4]` (x0, y0, x1, y1), with x1, y1
    the last pixel inside (inclusive, as segment-anything's `batched_mask_to_box`); an
    empty mask gets [0, 0, 0, 0]."""

    def span(present, length):  # present: bool [K, length]
        index = tf.range(length, dtype=tf.int32)[None]
        high = tf.reduce_max(tf.where(present, index, -1), axis=1)
        low = tf.reduce_min(tf.where(present, index, length), axis=1)
        return low, high

    height, width = tf.shape(masks)[1], tf.shape(masks)[2]
    y0, y1 = span(tf.reduce_any(masks, axis=2), height)
    x0, x1 = span(tf.reduce_any(masks, axis=1), width)
    boxes = tf.stack([x0, y0, x1, y1], axis=1)
    empty = (x1 < 0)[:, None]
    return tf.where(empty, tf.zeros_like(boxes), boxes)


def nms(boxes, scores, iou_threshold):
    """Greedy box NMS (tf.image.non_max_suppression), highest score first.

    Args:
      boxes: `[K, 4]` (x0, y0, x1, y1); scores: `[K]`; iou_threshold: boxes overlapping a
        kept box with IoU > threshold are dropped.

    Returns:
      int `[K']` indices of the kept boxes, by decreasing score.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    yx = tf.constant(boxes[:, [1, 0, 3, 2]])  # TF wants (y0, x0, y1, x1)
    keep = tf.image.non_max_suppression(yx, tf.constant(np.asarray(scores, np.float32)),
                                        max_output_size=len(boxes),
                                        iou_threshold=float(iou_threshold))
    return keep.numpy().astype(np.int64)


def remove_small_regions(masks, min_area):
    """segment-anything's small-region cleanup on a stack: fill holes smaller than
    `min_area` pixels, then drop islands smaller than it (keeping the largest island if
    every island is small). 8-connected components of all masks in one scipy call.

    Args:
      masks: bool `[K, H, W]`.

    Returns:
      (bool `[K, H, W]`, bool `[K]` True where the mask changed).
    """
    masks = np.asarray(masks, bool)
    if masks.size == 0:
        return masks, np.zeros(len(masks), bool)
    holes_filled = _fill(masks, min_area, holes=True)
    cleaned = _fill(holes_filled, min_area, holes=False)
    changed = np.any(cleaned != masks, axis=(1, 2))
    return cleaned, changed


def _fill(masks, min_area, holes):
    from scipy import ndimage  # deferred: only needed when min_mask_region_area > 0

    working = ~masks if holes else masks
    # Connect within a mask (8-neighbourhood), never across the stack axis.
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True
    labels, count = ndimage.label(working, structure=structure)
    if count == 0:
        return masks
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    small = sizes < min_area
    small[0] = False
    if holes:
        return masks | small[labels]
    # Islands: drop the small ones, unless that would empty the mask: then keep its largest.
    owner = np.zeros(count + 1, np.int64)
    owner[labels.ravel()] = np.repeat(np.arange(len(masks)), labels[0].size)
    keep = ~small
    keep[0] = False
    kept_per_mask = np.bincount(owner[1:], weights=keep[1:], minlength=len(masks))
    for index in np.flatnonzero(kept_per_mask == 0):  # rare: loops over masks, not pixels
        ids = np.flatnonzero(owner[1:] == index) + 1
        if len(ids):
            keep[ids[np.argmax(sizes[ids])]] = True
    return keep[labels]
