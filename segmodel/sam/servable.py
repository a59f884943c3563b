"""A servable SAM: a versioned SavedModel that needs only TensorFlow to load and run.

    export_sam("sam_base_sa1b", "export/sam")   # -> export/sam/1/

Signatures (prompts in image pixels; everything in the graph, as `SamPredictor` does it):
    encode           image tf.string [] -> embedding float32 [1, E, E, C],
                     original_size int32 [2] (H, W), input_size int32 [2]
    decode           embedding, original_size, points float32 [N, 2], labels int32 [N],
                     boxes float32 [M, 4] -> masks uint8 [C, H, W] (1 inside), scores
                     float32 [C], best first: C = 3 for one point alone, else 1 (the mask
                     rule of segmodel.sam.labelling.entries); masks[0] is the rule's answer
    serving_default  image, points, labels, boxes -> mask uint8 [H, W], score float32 []
N may be 0; M is 0 or 1; no prompt at all, labels not 0/1 or prompts off the image are
InvalidArgumentErrors. `encode` once and `decode` per click is the interactive use.
"""

import json
import os
import pathlib
import shutil

import keras
import tensorflow as tf

from segmodel.sam.prompting import geometry as transforms
from segmodel.sam.prompting.predictor import SamPredictor
from segmodel.serving import export as keras_export
from segmodel.serving import signatures as serving
from segmodel.serving.metadata import METADATA_FILE

F32, I32 = tf.float32, tf.int32


def _preprocess_shape(original_size, long_side):
    """`transforms.preprocess_shape` in the graph, with the same float64 rounding."""
    size = tf.cast(original_size, tf.float64)
    scale = long_side / tf.reduce_max(size)
    return tf.maximum(1, tf.cast(tf.floor(size * scale + 0.5), I32))


def _to_input_frame(coords, original_size, input_size):
    """`transforms.apply_coords`: (x, y) `[..., 2]` scaled by (new_w / W, new_h / H)."""
    ratio = (tf.cast(tf.gather(input_size, [1, 0]), tf.float64)
             / tf.cast(tf.gather(original_size, [1, 0]), tf.float64))
    return tf.cast(tf.cast(coords, tf.float64) * ratio, F32)


def decode_like_pil(image):
    """Encoded image -> uint8 `[H, W, 3]` with the pixels `files.load_image` (PIL) gives.

    PIL decodes JPEGs with libjpeg's accurate integer IDCT; TensorFlow's default is the fast
    one, which differs by a few levels on most pixels, so JPEGs ask for the accurate one.
    """
    return tf.cond(tf.io.is_jpeg(image),
                   lambda: tf.io.decode_jpeg(image, channels=3, dct_method="INTEGER_ACCURATE"),
                   lambda: serving.decode_rgb(image))


def _check_prompts(points, labels, boxes, original_size):
    height, width = tf.cast(original_size[0], F32), tf.cast(original_size[1], F32)
    x0, y0, x1, y1 = tf.unstack(tf.reshape(boxes, [-1, 4]), axis=1)
    px, py = points[:, 0], points[:, 1]
    return [
        tf.debugging.assert_greater(tf.shape(points)[0] + tf.shape(boxes)[0], 0, message=(
            "No prompt given: send points with labels, a box, or both")),
        tf.debugging.assert_less_equal(tf.shape(boxes)[0], 1, message=(
            "boxes must be [0, 4] or [1, 4]: one box per request")),
        tf.debugging.assert_equal(tf.shape(labels)[0], tf.shape(points)[0], message=(
            "labels must have one label per point")),
        tf.debugging.Assert(tf.reduce_all((labels == 0) | (labels == 1)), [
            "labels must be 1 (foreground) or 0 (background)"]),
        tf.debugging.Assert(tf.reduce_all((px >= 0) & (px <= width) & (py >= 0)
                                          & (py <= height)), [
            "points lie outside the image: (x, y) pixels with 0 <= x <= W, 0 <= y <= H"]),
        tf.debugging.Assert(tf.reduce_all((x0 >= 0) & (y0 >= 0) & (x1 <= width)
                                          & (y1 <= height) & (x1 >= x0) & (y1 >= y0)), [
            "box must be (x0, y0, x1, y1) inside the image with x0 <= x1, y0 <= y1"]),
    ]


class SamServing:
    """The tf.functions of the export, built on a SamPredictor's model and geometry."""

    def __init__(self, predictor):
        self.predictor = predictor
        backbone = predictor.segmenter.backbone
        self.encoder = backbone.image_encoder
        self.size = predictor.image_size
        self.low = predictor.low_res_size
        grid = int(backbone.prompt_encoder.image_embedding_size[0])
        channels = int(self.encoder.output_shape[-1])
        image = tf.TensorSpec([], tf.string, name="image")
        prompts = [tf.TensorSpec([None, 2], F32, name="points"),
                   tf.TensorSpec([None], I32, name="labels"),
                   tf.TensorSpec([None, 4], F32, name="boxes")]
        self.endpoints = {
            "serving_default": tf.function(self._serve, input_signature=[image, *prompts]),
            "encode": tf.function(self._encode, input_signature=[image]),
            "decode": tf.function(self._decode, input_signature=[
                tf.TensorSpec([1, grid, grid, channels], F32, name="embedding"),
                tf.TensorSpec([2], I32, name="original_size"), *prompts]),
        }

    def _encode(self, image):
        pixels = tf.ensure_shape(decode_like_pil(image), [None, None, 3])
        original_size = tf.shape(pixels)[:2]
        input_size = _preprocess_shape(original_size, self.size)
        resized = tf.image.resize(tf.cast(pixels, F32) / 255.0, input_size, method="bilinear",
                                  antialias=True)
        resized = tf.clip_by_value(resized, 0.0, 1.0)
        pad = [[0, self.size - input_size[0]], [0, self.size - input_size[1]], [0, 0]]
        inside = tf.pad(tf.ones_like(resized[..., :1], tf.bool), pad)
        padded = tf.where(inside, tf.pad(resized, pad), transforms.IMAGENET_MEAN)
        padded = tf.ensure_shape(padded, [self.size, self.size, 3])
        embedding = tf.cast(self.encoder(padded[None], training=False), F32)
        return {"embedding": embedding, "original_size": original_size,
                "input_size": input_size}

    def _decode(self, embedding, original_size, points, labels, boxes):
        with tf.control_dependencies(_check_prompts(points, labels, boxes, original_size)):
            # Everything below reads the prompts through these, so runs after the checks.
            points, labels, boxes = tf.identity(points), tf.identity(labels), tf.identity(boxes)
        input_size = _preprocess_shape(original_size, self.size)
        # segment-anything's padding point (label -1) only when there is no box.
        padding = 1 - tf.shape(boxes)[0]
        model_points = tf.concat([_to_input_frame(points, original_size, input_size),
                                  tf.zeros([padding, 2], F32)], axis=0)
        model_labels = tf.concat([tf.cast(labels, F32), -tf.ones([padding], F32)], axis=0)
        model_boxes = _to_input_frame(tf.reshape(boxes, [-1, 2, 2]), original_size, input_size)
        no_masks = tf.zeros([1, 0, self.low, self.low, 1], F32)
        low_res, scores = self.predictor.decode_fn(embedding, model_points[None],
                                                    model_labels[None], model_boxes[None],
                                                    no_masks)
        # The shared mask rule: one point alone -> the multimask candidates, else token 0.
        multimask = (tf.shape(points)[0] == 1) & (tf.shape(boxes)[0] == 0)
        first = tf.where(multimask, 1, 0)
        count = tf.where(multimask, 3, 1)
        low_res, scores = low_res[0, first:first + count], scores[0, first:first + count]
        order = tf.argsort(scores, direction="DESCENDING", stable=True)
        low_res, scores = tf.gather(low_res, order), tf.gather(scores, order)
        logits = transforms.postprocess_masks(low_res, input_size, original_size, self.size)
        return {"masks": tf.cast(logits > 0.0, tf.uint8), "scores": scores}

    def _serve(self, image, points, labels, boxes):
        encoded = self._encode(image)
        out = self._decode(encoded["embedding"], encoded["original_size"], points, labels,
                           boxes)
        return {"mask": out["masks"][0], "score": out["scores"][0]}


def export_sam(preset, output_dir, *, version=None, overwrite=False):
    """Export a SAM preset (name or local folder) or a `SamPredictor` to
    `output_dir/<version>/`; returns the version folder (pathlib.Path)."""
    predictor = preset if isinstance(preset, SamPredictor) else SamPredictor.from_preset(preset)
    if predictor.dtype != "float32":
        raise ValueError("export a float32 SamPredictor (dtype=None)")
    output_dir = pathlib.Path(output_dir)
    version, target = keras_export.claim_target(output_dir, version, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    temp = output_dir / f".tmp-{version}-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    try:
        served = SamServing(predictor)
        archive = keras.export.ExportArchive()
        archive.track(predictor.segmenter.backbone)
        for name, fn in served.endpoints.items():  # serving_default first (the default)
            archive.add_endpoint(name, fn)
        archive.write_out(str(temp), verbose=False)
        metadata = {
            "format_version": 1, "kind": "sam",
            "preset": str(preset) if not isinstance(preset, SamPredictor) else None,
            "version": version, "image_size": predictor.image_size,
            "low_res_size": predictor.low_res_size, "tensorflow_version": tf.__version__,
            "mask_rule": "one point alone: best of 3 multimask candidates; a box or several "
                         "points: the single-mask output",
            "signatures": keras_export.describe_endpoints(served.endpoints),
        }
        (temp / "assets.extra").mkdir(exist_ok=True)
        (temp / "assets.extra" / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2) + "\n")
        keras_export.publish_version(temp, target, overwrite)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target

