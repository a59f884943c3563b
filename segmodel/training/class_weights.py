"""Per-class loss weights from a record set's pixel counts (class balance for thin classes).

    weights = class_weights(manifest, "median-frequency")   # SegNet's CamVid recipe
    weights = class_weights(manifest, "inverse-sqrt")
    weights = class_weights(manifest, "[1, 2.5, 1]")        # a JSON list, one per class

Counts come from the manifest's train split (what the build counted), else from its totals.

  median-frequency:  w_c = median(f) / f_c, median over the classes that occur (Eigen & Fergus;
                     SegNet's CamVid weights), with f_c = pixels of class c / labelled pixels of
                     the images that hold c (`splits.train.class_image_pixels`). A manifest
                     built before segkit recorded those falls back to f_c = pixels of class c /
                     all labelled pixels, which weighs classes seen in few images higher.
  inverse-sqrt:      w_c = 1 / sqrt(f_c) with f_c = pixels of class c / all labelled pixels,
                     scaled so that the mean weight per labelled pixel is 1

A class that never occurs in the counts gets weight 1 (nothing to balance). The weights apply
in the loss as per-pixel sample weights (`weight_map`); the ignore label gets weight 0 and is
ignored as before.
"""

import json

import numpy as np

from segdata.records.labels import IGNORE_LABEL, dataset_classes, label_table

SCHEMES = ("median-frequency", "inverse-sqrt")


def pixel_counts(manifest, split="train", field="class_pixel_counts"):
    """int64 [num_classes] per train id in `split` of the manifest's per-split `field`
    (class_pixel_counts, class_image_counts or class_image_pixels, keyed by stored value);
    class_pixel_counts falls back to the whole set's totals, the others to None."""
    names = dataset_classes(manifest)[0]
    counts = np.zeros(len(names), np.int64)
    entry = manifest.get("splits", {}).get(split, {}).get(field)
    if entry:
        pets = manifest.get("format", "pets") == "pets"
        table = label_table(manifest) if pets else None
        for key, n in entry.items():
            train_id = table[int(key)] if pets else int(key)
            if 0 <= train_id < len(names):
                counts[train_id] += int(n)
        return counts
    if field != "class_pixel_counts":
        return None
    totals = manifest.get("class_pixel_counts") or {}
    return np.array([int(totals.get(name, 0)) for name in names], np.int64)


def class_weights(manifest, scheme):
    """List of num_classes floats for `scheme` (see the module docstring).

    Raises ValueError naming the scheme and the choices for an unknown scheme, a JSON list of
    the wrong length or with negative values, or a manifest without pixel counts.
    """
    num_classes = len(dataset_classes(manifest)[0])
    if isinstance(scheme, (list, tuple)) or str(scheme).lstrip().startswith("["):
        try:
            weights = [float(w) for w in (json.loads(scheme) if isinstance(scheme, str)
                                          else scheme)]
        except (TypeError, ValueError):
            raise ValueError(f"class weights {scheme!r} are not a JSON list of numbers") from None
        if len(weights) != num_classes or min(weights) < 0:
            raise ValueError(f"class weights {scheme!r}: give {num_classes} numbers >= 0, one "
                             "per class in train-id order")
        return weights
    if scheme not in SCHEMES:
        raise ValueError(f"unknown class weights {scheme!r}; choose {', '.join(SCHEMES)} or a "
                         f"JSON list of {num_classes} numbers")
    counts = pixel_counts(manifest).astype(np.float64)
    if counts.sum() <= 0:
        raise ValueError("the manifest has no class pixel counts to weigh classes by; rebuild "
                         "the records or pass --class-weights as a JSON list")
    present = counts > 0
    freq = counts / counts.sum()
    weights = np.ones(num_classes)
    if scheme == "median-frequency":
        image_pixels = pixel_counts(manifest, field="class_image_pixels")
        if image_pixels is not None and np.all(image_pixels[present] > 0):
            freq = np.where(present, counts / np.maximum(image_pixels, 1), 0.0)
        weights[present] = np.median(freq[present]) / freq[present]
    else:
        weights[present] = 1.0 / np.sqrt(freq[present])
        weights[present] /= np.sum(freq[present] * weights[present])
    return [float(w) for w in weights]


def weight_table(weights):
    """float32 [256]: train id -> loss weight; IGNORE_LABEL and unused ids 0."""
    table = np.zeros(256, np.float32)
    table[:len(weights)] = weights
    table[IGNORE_LABEL] = 0.0
    return table


def weight_map(masks, table):
    """float32 [B, H, W] sample weights for uint8 masks [B, H, W, 1] (a tf.data map)."""
    import tensorflow as tf

    return tf.gather(tf.constant(table), tf.cast(masks[..., 0], tf.int32))
