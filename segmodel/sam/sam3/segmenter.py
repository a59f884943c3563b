"""TextSegmenter: "a cat" in, every cat's mask out, with keras-hub's SAM 3.

    from segmodel.sam.sam3.segmenter import TextSegmenter
    segmenter = TextSegmenter.from_preset("sam3_pcs")     # or a local preset folder
    for inst in segmenter.segment("photo.jpg", ["a cat", "a dog"], score_threshold=0.5):
        print(inst.text, inst.score, inst.box, inst.mask.sum())   # mask: bool [H, W]

SAM 3 (promptable concept segmentation) returns up to Q instances (200 for sam3_pcs) per
prompt: a score (query score x presence score), a box and a mask over the model's input.
The preset's own preprocessor tokenises the text and resizes the photo; the masks and boxes
come back through that resize's geometry (`text_geometry.ConverterGeometry`).
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from segmodel.models.presets import global_policy, load_task
from segmodel.sam.models.loading import POLICIES
from segmodel.sam.prompting import files
from segmodel.sam.sam3.converter_geometry import ConverterGeometry

_MASK_CHUNK = 16  # instances mapped to the photo's size at a time


@dataclasses.dataclass
class TextInstance:
    """One object found for a prompt.

    Attributes:
      mask: bool `[H, W]` at the photo's size.
      box: float32 `[4]` (x0, y0, x1, y1) in the photo's pixels, clipped to the photo.
      score: float in 0..1 (SAM 3's query score times its presence score).
      text: the prompt that found it (None for an exemplar-boxes-only prompt).
    """

    mask: np.ndarray
    box: np.ndarray
    score: float
    text: str = None

    def to_dict(self):
        """JSON-ready summary (the mask as its pixel count)."""
        return {"text": self.text, "score": float(self.score),
                "box": [float(v) for v in self.box], "area": int(self.mask.sum())}


def check_threshold(value, name):
    """`value` as a float in [0, 1], or a ValueError naming `name`."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")
    return value


def check_texts(text):
    """Validate text prompts: a string or a list of strings -> a list of non-empty strings
    with runs of whitespace collapsed to one space."""
    texts = [text] if isinstance(text, str) else text
    if not isinstance(texts, (list, tuple)) or not texts:
        raise ValueError(
            f"text must be a non-empty string or a list of them, got {text!r}.")
    checked = []
    for item in texts:
        if not isinstance(item, str):
            raise ValueError(f"Each text prompt must be a string, got {item!r} "
                             f"({type(item).__name__}).")
        if not item.strip():
            raise ValueError("A text prompt is empty; describe the objects, e.g. 'a cat'.")
        checked.append(" ".join(item.split()))
    return checked


def check_boxes(boxes, box_labels, image_size):
    """Validate exemplar boxes `[N, 4]` (x0, y0, x1, y1) in pixels and labels `[N]` (1 / 0,
    default all 1) against an image of `image_size` (H, W); returns (float64 boxes, int32
    labels)."""
    height, width = image_size
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not len(boxes):
        raise ValueError(f"boxes must be [N, 4] (x0, y0, x1, y1) in pixels, got shape "
                         f"{boxes.shape}.")
    labels = np.ones(len(boxes)) if box_labels is None else np.asarray(box_labels).reshape(-1)
    if labels.shape != (len(boxes),) or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"box_labels must be one 1 (positive) or 0 (negative) per box, "
                         f"got {box_labels!r} for {len(boxes)} box(es).")
    bad = ~np.isfinite(boxes).all(axis=1) | (boxes[:, 0] >= boxes[:, 2]) | (
        boxes[:, 1] >= boxes[:, 3]) | (boxes[:, :2] < 0).any(axis=1) | (
        boxes[:, 2] > width) | (boxes[:, 3] > height)
    if bad.any():
        raise ValueError(
            f"Box {boxes[bad][0].tolist()} is not x0 < x1, y0 < y1 inside the "
            f"{width}x{height} image (x0, y0, x1, y1 in pixels).")
    return boxes, labels.astype(np.int32)


def _backbone_in_precision(backbone, dtype):
    """A copy of the SAM 3 backbone under a Keras mixed policy (weights stay float32).

    keras-hub writes each sub-model's float32 policy into the preset config; removing
    them lets `SAM3PromptableConceptBackbone.from_config` hand the new policy down.
    """
    policy = POLICIES[dtype]
    if policy is None:
        return backbone
    config = backbone.get_config()
    config["dtype"] = policy
    for key in ("vision_encoder", "text_encoder", "geometry_encoder", "detr_encoder",
                "detr_decoder", "mask_decoder"):
        config[key]["config"].pop("dtype", None)
    with global_policy(policy):
        copy = backbone.__class__.from_config(config)
    copy.set_weights(backbone.get_weights())
    return copy


class TextSegmenter:
    """Segment every instance of a concept named in text, with keras-hub SAM 3.

    Args:
      segmenter: a `keras_hub.models.SAM3PromptableConceptImageSegmenter` with its
        preprocessor (tokenizer and image converter), e.g. from `from_preset`.
      dtype: None / "float32" or "bfloat16": the precision of the whole SAM 3 backbone (run
        under Keras' mixed policy, weights kept in float32). Outputs are float32 either way.
        For bfloat16 the backbone is rebuilt under the policy and `self.segmenter` is a new
        task around it.
    """

    def __init__(self, segmenter, dtype=None):
        backbone = getattr(segmenter, "backbone", None)
        if not all(hasattr(backbone, a) for a in ("text_encoder", "geometry_encoder",
                                                    "detr_decoder")):
            raise TypeError(f"TextSegmenter needs a keras_hub.models."
                            f"SAM3PromptableConceptImageSegmenter, got "
                            f"{type(segmenter).__name__}.")
        if getattr(segmenter, "preprocessor", None) is None:
            raise ValueError("The SAM 3 segmenter has no preprocessor; load it with "
                             "from_preset so its tokenizer and image converter come along.")
        if dtype not in ("float32", "bfloat16", None):
            raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}.")
        self._backbone = _backbone_in_precision(backbone, dtype)
        if self._backbone is not backbone:
            # A task around the copy: once the caller lets go of the float32 segmenter (as
            # from_preset does), its 849M weights are freed instead of kept alongside.
            segmenter = segmenter.__class__(backbone=self._backbone,
                                            preprocessor=segmenter.preprocessor)
        self.segmenter = segmenter
        self.preprocessor = segmenter.preprocessor
        self.dtype = dtype or "float32"
        self.image_size = int(backbone.vision_encoder.image_shape[0])
        self.num_queries = int(backbone.detr_decoder.num_queries)
        # Text longer than this is cut by keras-hub's packer; refuse it instead.
        self.max_text_tokens = int(self.preprocessor.sequence_length) - 2
        spec = tf.TensorSpec
        size = self.image_size
        self._infer = tf.function(self._infer_fn, autograph=False, input_signature=[{
            "pixel_values": spec([1, size, size, 3], tf.float32),
            "token_ids": spec([1, None], tf.int32),
            "padding_mask": spec([1, None], tf.bool),
            "boxes": spec([1, None, 5], tf.float32),
            "box_labels": spec([1, None], tf.int32),
        }])

    @classmethod
    def from_preset(cls, preset, dtype=None, **kwargs):
        """Load SAM 3 from a keras-hub preset name or a local preset folder.

        Args:
          preset: "sam3_pcs" (downloaded from Kaggle by keras-hub, needs network), any
            keras-hub handle, or a folder written by `segmenter.save_to_preset(folder)`
            (relative folders are resolved, never taken for preset names).
          dtype: see the class docstring.
          **kwargs: passed to `SAM3PromptableConceptImageSegmenter.from_preset`.
        """
        import keras_hub  # deferred: importing keras-hub costs seconds

        segmenter = load_task(keras_hub.models.SAM3PromptableConceptImageSegmenter, preset,
                              kind="SAM 3", example="sam3_pcs", **kwargs)
        return cls(segmenter, dtype=dtype)

    def _infer_fn(self, inputs):
        raw = self._backbone(inputs, training=False)
        out = self.segmenter.post_process_prediction(raw)
        return {k: tf.cast(v, tf.float32) for k, v in out.items()}

    def _check_token_count(self, text):
        count = int(tf.size(self.preprocessor.tokenizer(text)))
        if count > self.max_text_tokens:
            raise ValueError(f"Text prompt {text!r} is {count} tokens; the model reads at "
                             f"most {self.max_text_tokens}. Use a short noun phrase.")

    def segment(self, image, text, *, boxes=None, box_labels=None, score_threshold=0.5,
                mask_threshold=0.5):
        """Find every instance of `text` in `image`.

        Args:
          image: uint8 `[H, W, 3]` RGB (grayscale `[H, W]` is expanded) or an image path.
          text: a short noun phrase ("a cat"), or a list of them: one model call per text
            (keras-hub 0.32's SAM 3 fails on a batch of texts without boxes), instances
            tagged with their text. None with `boxes` prompts with exemplars only.
          boxes: optional exemplar boxes float `[N, 4]` (x0, y0, x1, y1) in image pixels,
            used with every text: keras-hub's preprocessor encodes them with the geometry
            encoder (ROI-pooled image features plus a positive/negative label embedding).
          box_labels: `[N]`, 1 = "objects like this", 0 = "not like this" (default all 1).
          score_threshold: keep instances whose score >= this, in [0, 1].
          mask_threshold: a pixel is in a mask when its probability > this, in [0, 1].

        Returns:
          A list of `TextInstance`, best score first.
        """
        score_threshold = check_threshold(score_threshold, "score_threshold")
        mask_threshold = check_threshold(mask_threshold, "mask_threshold")
        texts = [None] if text is None and boxes is not None else check_texts(text)
        for item in texts:
            if item is not None:
                self._check_token_count(item)
        if isinstance(image, (str, os.PathLike)):
            image = files.load_image(image)
        image = files.check_image_array(image)
        geometry = ConverterGeometry.from_converter(self.preprocessor.image_converter,
                                                    image.shape[:2])
        x = {"images": image[None].astype(np.float32)}
        if boxes is not None:
            boxes, labels = check_boxes(boxes, box_labels, image.shape[:2])
            x["boxes"] = geometry.boxes_for_preprocessor(boxes)[None]
            x["box_labels"] = labels[None]
        instances = []
        for item in texts:
            inputs = dict(x, prompts=[item]) if item is not None else x
            out = self._infer(self._model_inputs(inputs))
            instances += self._instances(out, geometry, item, score_threshold, mask_threshold)
        instances.sort(key=lambda inst: -inst.score)
        return instances

    def _model_inputs(self, x):
        """The preset's preprocessor, with dtypes pinned for the traced signature."""
        inputs = self.preprocessor(x)
        return {
            "pixel_values": tf.cast(inputs["pixel_values"], tf.float32),
            "token_ids": tf.cast(inputs["token_ids"], tf.int32),
            "padding_mask": tf.cast(inputs["padding_mask"], tf.bool),
            "boxes": tf.cast(inputs["boxes"], tf.float32),
            "box_labels": tf.cast(inputs["box_labels"], tf.int32),
        }

    @staticmethod
    def _instances(out, geometry, text, score_threshold, mask_threshold):
        """Model outputs for one prompt (batch of 1) -> kept `TextInstance`s, best first."""
        scores = np.asarray(out["scores"], np.float32)[0]
        keep = np.flatnonzero(scores >= score_threshold)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        if not len(keep):
            return []
        probs = np.asarray(out["masks"], np.float32)[0][keep]
        # In chunks: 200 float32 masks at a photo's full size would be gigabytes.
        masks = np.concatenate([
            geometry.masks_to_image(probs[i:i + _MASK_CHUNK]) > mask_threshold
            for i in range(0, len(probs), _MASK_CHUNK)])
        boxes = geometry.boxes_to_image(np.asarray(out["boxes"], np.float32)[0][keep])
        return [TextInstance(mask=m, box=b, score=float(scores[i]), text=text)
                for i, m, b in zip(keep, masks, boxes)]
