"""Record images for deployment: calibration data for int8 and the agreement check of an export.

Both read a record set through segkit's own pipeline (`segdata.input.pipeline.load_dataset`:
decode, bilinear stretch resize to the model's input size, float32 0..255), so calibration and
scoring see exactly the pixels training saw. Both refuse records whose classes differ from the
model's, naming the two class lists.
"""

import numpy as np

from segdata.records.labels import dataset_classes
from segdata.records.manifest import read_manifest
from segmodel.training import metrics


def check_records_match(records, classes, what="records"):
    """Raises ValueError when `records` hold other classes than the model predicts.

    Args:
      records: record folder (manifest.json).
      classes: the model's class names in train-id order (segkit.json "label_names").
      what: the argument name, for the message ("--calibration-records").

    Returns:
      the manifest (dict).
    """
    manifest = read_manifest(records)
    names, _ = dataset_classes(manifest)
    if list(names) != list(classes):
        def show(items):
            return ", ".join(items[:8]) + (", ..." if len(items) > 8 else "")
        raise ValueError(
            f"{what} {records} hold {len(names)} classes ({show(list(names))}) but the model "
            f"predicts {len(classes)} ({show(list(classes))}): they are records of another "
            f"dataset. Pass the records the model was trained on (its run.json \"options\" "
            "\"records\").")
    return manifest


def record_images(records, split, image_size, count, *, with_masks=False):
    """The first `count` images of `split`, as training decoded and resized them.

    Returns:
      float32 [n, H, W, 3] 0..255 (n = min(count, split size)); with `with_masks` also uint8
      [n, H, W] train ids (IGNORE_LABEL = 255 ignored).
    """
    from segdata.input.pipeline import load_dataset

    images, masks = [], []
    taken = 0
    for batch_images, batch_masks in load_dataset(records, split, image_size=tuple(image_size),
                                                  batch_size=16).as_numpy_iterator():
        images.append(batch_images[:count - taken])
        masks.append(batch_masks[:count - taken, ..., 0])
        taken += len(images[-1])
        if taken >= count:
            break
    if not taken:
        raise ValueError(f"split {split!r} of {records} holds no images.")
    images = np.concatenate(images).astype(np.float32)
    return (images, np.concatenate(masks)) if with_masks else images


def representative_dataset(images):
    """The callable LiteRT's converter calibrates on: yields [float32 [1, H, W, 3]] per image."""
    def generate():
        for image in images:
            yield [image[np.newaxis]]
    return generate


def mean_iou(masks, classes, num_classes):
    """Mean IoU (as `segkit evaluate` computes it) of uint8 [N, H, W] class ids."""
    per_class = metrics.iou_from_confusion(metrics.confusion_matrix(masks, classes, num_classes))
    return float(np.nanmean(per_class)) if np.isfinite(per_class).any() else float("nan")


def agreement(reference, candidate, masks, num_classes):
    """How far the exported model's masks are from the Keras model's.

    Args:
      reference, candidate: float [N, H, W, C] probabilities of the Keras model and the export.
      masks: uint8 [N, H, W] true train ids (255 ignored).

    Returns:
      {"images", "pixel_agreement" (fraction of all pixels with the same arg-max),
       "mean_iou_reference", "mean_iou_export", "mean_iou_difference" (export - reference)}.
    """
    ref, cand = np.argmax(reference, -1), np.argmax(candidate, -1)
    ref_iou, cand_iou = mean_iou(masks, ref, num_classes), mean_iou(masks, cand, num_classes)
    return {"images": int(len(masks)), "pixel_agreement": float(np.mean(ref == cand)),
            "mean_iou_reference": ref_iou, "mean_iou_export": cand_iou,
            "mean_iou_difference": cand_iou - ref_iou}
