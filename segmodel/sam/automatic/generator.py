"""SamAutomaticMaskGenerator: segment-anything's "segment everything" on SamPredictor.

The algorithm is segment-anything's (automatic_mask_generator.py, one crop layer): a grid of
single foreground points, each giving SAM's three multimask candidates; candidates whose
predicted IoU or stability score is too low are dropped; box NMS removes duplicates;
optionally, small holes and islands are cleaned up. The image encoder runs once per image;
the points go through the prompt encoder and mask decoder `points_per_batch` at a time
(`SamPredictor.decode_batch`), and each batch's filtering, upsampling, stability scores and
boxes run as one TensorFlow graph over the whole batch.
"""

import numbers

import numpy as np
import tensorflow as tf

from segmodel.sam.automatic import amg
from segmodel.sam.prompting import geometry as transforms


def _check(value, name, low, high=None, integer=False):
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value) \
            or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        what = "an int" if integer else "a number"
        raise ValueError(f"{name} must be {what} {bound}, got {value!r}")
    return value


class SamAutomaticMaskGenerator:
    """Masks for everything in an image, from a grid of point prompts.

    Example:
      generator = SamAutomaticMaskGenerator(SamPredictor.from_preset("sam_base_sa1b"))
      records = generator.generate(image)   # uint8 [H, W, 3] or a path
      records[0]["segmentation"]            # bool [H, W], highest predicted IoU first

    Args:
      predictor: a `SamPredictor` (its current image is replaced by `generate`).
      points_per_side: the grid has points_per_side ** 2 points.
      points_per_batch: points decoded together; more is faster and needs more memory.
      pred_iou_thresh: keep masks whose predicted IoU is > this (0 disables the filter).
      stability_score_thresh: keep masks whose stability score is >= this (0 disables).
      stability_score_offset: the logit offset of the stability score.
      box_nms_thresh: IoU of boxes above which the lower-scored mask is a duplicate.
      min_mask_region_area: fill holes and remove islands smaller than this many pixels
        (0 disables), then re-run box NMS preferring unchanged masks, as segment-anything.
    """

    def __init__(self, predictor, points_per_side=32, points_per_batch=64,
                 pred_iou_thresh=0.88, stability_score_thresh=0.95,
                 stability_score_offset=1.0, box_nms_thresh=0.7, min_mask_region_area=0):
        if not hasattr(predictor, "decode_batch"):
            raise TypeError(f"predictor must be a segmodel.sam.SamPredictor, got "
                            f"{type(predictor).__name__}")
        self.predictor = predictor
        self.points_per_side = _check(points_per_side, "points_per_side", 1, integer=True)
        self.points_per_batch = _check(points_per_batch, "points_per_batch", 1, integer=True)
        self.pred_iou_thresh = float(_check(pred_iou_thresh, "pred_iou_thresh", 0, 1))
        self.stability_score_thresh = float(_check(stability_score_thresh,
                                                   "stability_score_thresh", 0, 1))
        self.stability_score_offset = float(_check(stability_score_offset,
                                                   "stability_score_offset", 0))
        if self.stability_score_offset == 0:
            raise ValueError("stability_score_offset must be > 0 (it is the logit margin "
                             "the stability score measures), got 0")
        self.box_nms_thresh = float(_check(box_nms_thresh, "box_nms_thresh", 0, 1))
        self.min_mask_region_area = _check(min_mask_region_area, "min_mask_region_area", 0,
                                           integer=True)
        self.point_grid = amg.build_point_grid(self.points_per_side)
        # Traced once per generator (fixed signature): `generate` calls it per point batch;
        # benchmarks call it on dummy inputs to trace it before timing.
        self.filter_candidates = tf.function(self._filter_fn, autograph=False, input_signature=[
            tf.TensorSpec([None, None, None], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([2], tf.int32),
            tf.TensorSpec([2], tf.int32),
        ])

    def _filter_fn(self, low_res, scores, input_size, original_size):
        """One batch of candidates: float32 `[K, L, L]` logits and `[K]` predicted IoUs ->
        (kept indices `[K']`, stability `[K']`, bool masks `[K', H, W]`, boxes `[K', 4]`)."""
        keep = tf.range(tf.shape(scores)[0])
        if self.pred_iou_thresh > 0:  # filter before upsampling: most candidates go here
            keep = tf.boolean_mask(keep, scores > self.pred_iou_thresh)
        logits = transforms.postprocess_masks(tf.gather(low_res, keep), input_size,
                                              original_size, self.predictor.image_size)
        stability = amg.stability_score(logits, 0.0, self.stability_score_offset)
        masks = logits > 0.0
        good = tf.reduce_any(masks, axis=[1, 2])  # an empty mask segments nothing
        if self.stability_score_thresh > 0:
            good &= stability >= self.stability_score_thresh
        masks = tf.boolean_mask(masks, good)
        return (tf.boolean_mask(keep, good), tf.boolean_mask(stability, good), masks,
                amg.masks_to_boxes(masks))

    def generate(self, image):
        """Segment everything in `image` (uint8 `[H, W, 3]` or a path).

        Returns:
          list of dicts, by decreasing predicted IoU, as segment-anything's
          "binary_mask" output: "segmentation" bool `[H, W]`, "area" int, "bbox" [x, y, w, h]
          (segment-anything's inclusive box), "predicted_iou" float, "point_coords"
          [[x, y]] (the grid point, image pixels), "stability_score" float, "crop_box"
          [0, 0, W, H].
        """
        self.predictor.set_image(image)
        height, width = self.predictor.original_size
        points = self.point_grid * np.array([width, height], np.float64)
        sizes = (tf.constant(self.predictor.input_size, tf.int32),
                 tf.constant(self.predictor.original_size, tf.int32))
        found = {k: [] for k in ("packed", "iou", "stability", "boxes", "points")}
        for start in range(0, len(points), self.points_per_batch):
            batch = points[start:start + self.points_per_batch]
            low_res, scores = self.predictor.decode_batch(
                batch[:, None, :], np.ones((len(batch), 1), np.int32), multimask_output=True)
            count = int(low_res.shape[1])
            flat_scores = tf.reshape(scores, [-1])
            keep, stability, masks, boxes = self.filter_candidates(
                tf.reshape(low_res, [-1, *low_res.shape[2:]]), flat_scores, *sizes)
            keep = keep.numpy()
            # Bit-packed until NMS: a 1024-point grid can leave thousands of full-size masks.
            found["packed"].append(np.packbits(masks.numpy().reshape(len(keep), height * width),
                                               axis=1))
            found["iou"].append(tf.gather(flat_scores, keep).numpy())
            found["stability"].append(stability.numpy())
            found["boxes"].append(boxes.numpy())
            found["points"].append(batch[keep // count])
        data = {k: np.concatenate(v) for k, v in found.items()}
        order = amg.nms(data["boxes"], data["iou"], self.box_nms_thresh)
        data = {k: v[order] for k, v in data.items()}
        masks = np.unpackbits(data["packed"], axis=1, count=height * width)
        masks = masks.reshape(-1, height, width).astype(bool)
        if self.min_mask_region_area > 0 and len(masks):
            masks, data = self._clean_small_regions(masks, data)
        return [self._record(masks[i], data, i, height, width) for i in range(len(masks))]

    def _clean_small_regions(self, masks, data):
        masks, changed = amg.remove_small_regions(masks, self.min_mask_region_area)
        boxes = amg.masks_to_boxes(tf.constant(masks)).numpy()
        # Unchanged masks win, as in segment-anything; ties keep the predicted-IoU order.
        rank = np.arange(len(masks), 0, -1) / (len(masks) + 1.0)
        order = amg.nms(boxes, (~changed) + rank, self.box_nms_thresh)
        data = dict(data, boxes=boxes)
        data = {k: v[order] for k, v in data.items()}
        keep = masks[order]
        nonempty = keep.any(axis=(1, 2))
        return keep[nonempty], {k: v[nonempty] for k, v in data.items()}

    @staticmethod
    def _record(mask, data, i, height, width):
        x0, y0, x1, y1 = (int(v) for v in data["boxes"][i])
        return {
            "segmentation": mask,
            "area": int(mask.sum()),
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "predicted_iou": float(data["iou"][i]),
            "point_coords": [[float(v) for v in data["points"][i]]],
            "stability_score": float(data["stability"][i]),
            "crop_box": [0, 0, width, height],
        }
