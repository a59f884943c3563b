"""SamPredictor: segment-anything's set-image-once, prompt-many-times API on keras-hub SAM.

keras-hub's `SAMImageSegmenter.predict` runs the whole model for every prompt: the ViT
image encoder (all but a sliver of the cost) and the small prompt encoder + mask decoder.
`SamPredictor.set_image` runs the encoder once and caches the image embedding; each
`predict` then runs only the prompt encoder and mask decoder, so clicking around one image
costs milliseconds per click instead of a full forward pass.
"""

import contextlib
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from segmodel.sam import files, prompts as prompt_lib, transforms

# Public dtype names -> Keras mixed policies: weights stay float32 (so the saved preset
# weights load unchanged), matmuls run in the low precision.
_POLICIES = {None: None, "float32": None, "bfloat16": "mixed_bfloat16",
             "float16": "mixed_float16"}


@contextlib.contextmanager
def _global_policy(name):
    """Temporarily set Keras' global dtype policy; keras-hub's ViTDet only honours the
    global policy (its `dtype=` argument reaches the outer model, not its layers)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _resolve_preset(preset):
    """A preset name stays a name; an existing folder becomes an absolute path.

    keras-hub checks its built-in names before the file system, so a relative folder
    called e.g. `sam_base_sa1b` would otherwise be fetched from Kaggle.
    """
    path = os.fspath(preset)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(
                f"Preset folder {os.path.abspath(path)!r} has no config.json; create one "
                f"with segmenter.save_to_preset(folder) or pass a keras-hub preset name "
                f"such as 'sam_base_sa1b'."
            )
        return os.path.abspath(path)
    looks_like_path = os.sep in path or path.startswith(".") or (os.altsep or "\0") in path
    if looks_like_path and "://" not in path:
        raise FileNotFoundError(
            f"Preset folder {os.path.abspath(path)!r} does not exist; pass a folder written "
            f"by segmenter.save_to_preset(...) or a keras-hub preset name such as "
            f"'sam_base_sa1b'."
        )
    return path


class SamPredictor:
    """Prompt a keras-hub Segment Anything model with points and boxes in image pixels.

    Example:
      predictor = SamPredictor.from_preset("sam_base_sa1b")   # or a local preset folder
      predictor.set_image(image)                # uint8 [H, W, 3] or a path; runs the encoder
      masks, scores, low_res = predictor.predict(point_coords=[[500, 375]], point_labels=[1])
      best = masks[0]                           # bool [H, W], the highest-scoring mask

    Args:
      segmenter: a `keras_hub.models.SAMImageSegmenter`. Its preprocessor (image
        converter) is not used: it centre-crops non-square images, which misaligns
        prompts, and `set_image` does SAM's own resize-and-pad instead.
      dtype: None / "float32", "bfloat16" or "float16": the precision of the image encoder
        (run under the matching Keras mixed policy; a copy of the encoder is built for it).
        The prompt encoder and mask decoder always run in float32, because keras-hub's
        SAMPromptEncoder fails under a mixed policy on the TensorFlow backend.
    """

    def __init__(self, segmenter, dtype=None):
        backbone = getattr(segmenter, "backbone", None)
        if not all(hasattr(backbone, a) for a in ("image_encoder", "prompt_encoder",
                                                    "mask_decoder")):
            raise TypeError(
                f"SamPredictor needs a keras_hub.models.SAMImageSegmenter, got "
                f"{type(segmenter).__name__}."
            )
        if dtype not in _POLICIES:
            raise ValueError(
                f"dtype must be one of {[d for d in _POLICIES if d]} or None, got {dtype!r}."
            )
        if backbone.prompt_encoder.compute_dtype != "float32":
            raise ValueError(
                "The segmenter's prompt encoder computes in "
                f"{backbone.prompt_encoder.compute_dtype}; keras-hub's SAMPromptEncoder "
                "only works in float32 on TensorFlow. Load the model under the float32 "
                "policy and pass dtype='bfloat16' or 'float16' to SamPredictor instead."
            )
        self.segmenter = segmenter
        self.dtype = dtype or "float32"
        self._prompt_encoder = backbone.prompt_encoder
        self._mask_decoder = backbone.mask_decoder
        # The encoder's input size comes from the model, so a 128-px test model and the
        # 1024-px presets go through the same code.
        self.image_size = int(backbone.image_encoder.input_shape[1])
        self.low_res_size = 4 * int(backbone.prompt_encoder.image_embedding_size[0])
        self._image_encoder = self._encoder_in_precision(backbone.image_encoder, dtype)
        size = self.image_size
        # Fixed signatures: one trace for every image and every prompt count. No autograph:
        # nothing here branches on tensors, and skipping it avoids re-parsing source.
        self._encode = tf.function(
            self._encode_fn, input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)],
            autograph=False,
        )
        self._decode = tf.function(self._decode_fn, autograph=False, input_signature=[
            tf.TensorSpec([1, None, None, None], tf.float32),
            tf.TensorSpec([1, None, 2], tf.float32),
            tf.TensorSpec([1, None], tf.float32),
            tf.TensorSpec([1, None, 2, 2], tf.float32),
        ])
        self._postprocess = tf.function(self._postprocess_fn, autograph=False, input_signature=[
            tf.TensorSpec([None, None, None], tf.float32),
            tf.TensorSpec([2], tf.int32),
            tf.TensorSpec([2], tf.int32),
        ])
        self.reset_image()

    @classmethod
    def from_preset(cls, preset, dtype=None, **kwargs):
        """Load a SAM from a keras-hub preset name or a local preset folder.

        Args:
          preset: "sam_base_sa1b", "sam_large_sa1b", "sam_huge_sa1b" (downloaded from Kaggle
            by keras-hub, needs network), any keras-hub handle, or a folder written by
            `segmenter.save_to_preset(folder)` (relative folders are resolved, never taken
            for preset names; no network needed).
          dtype: see the class docstring.
          **kwargs: passed to `keras_hub.models.SAMImageSegmenter.from_preset`.
        """
        import keras_hub  # deferred: importing keras-hub costs seconds

        resolved = _resolve_preset(preset)
        local = os.path.isdir(resolved)
        known = sorted(keras_hub.models.SAMImageSegmenter.presets)
        if not local and "://" not in resolved and resolved not in known:
            raise ValueError(
                f"{resolved!r} is neither a local preset folder nor a keras-hub SAM preset "
                f"({', '.join(known)})."
            )
        try:
            # Build under float32 whatever the caller's global policy is: the prompt
            # encoder must stay in float32 (see the class docstring).
            with _global_policy("float32"):
                segmenter = keras_hub.models.SAMImageSegmenter.from_preset(resolved, **kwargs)
        except (OSError, ImportError) as err:
            if local:
                raise
            raise ConnectionError(
                f"Could not fetch preset {resolved!r} ({type(err).__name__}: {err}). keras-hub "
                f"downloads it from Kaggle; without network access, pass a local folder "
                f"written by segmenter.save_to_preset(folder) instead."
            ) from err
        return cls(segmenter, dtype=dtype)

    @staticmethod
    def _encoder_in_precision(encoder, dtype):
        policy = _POLICIES[dtype]
        if policy is None:
            return encoder
        with _global_policy(policy):
            copy = encoder.__class__.from_config(encoder.get_config())
        copy.set_weights(encoder.get_weights())
        return copy

    def _encode_fn(self, images):
        embedding = self._image_encoder(images, training=False)
        return tf.cast(embedding, tf.float32)

    def _decode_fn(self, embedding, points, labels, boxes):
        # No mask prompt is a zero-length mask axis: keras-hub then uses its learned
        # "no mask" embedding, as segment-anything does (a zero mask would be a prompt).
        no_masks = tf.zeros([1, 0, self.low_res_size, self.low_res_size, 1], tf.float32)
        prompt = self._prompt_encoder(points=points, labels=labels, boxes=boxes,
                                      masks=no_masks)
        out = self._mask_decoder(image_embeddings=embedding, **prompt)
        return out["masks"][0], out["iou_pred"][0]

    def _postprocess_fn(self, low_res, input_size, original_size):
        return transforms.postprocess_masks(low_res, input_size, original_size,
                                            self.image_size)

    def reset_image(self):
        """Forget the current image and its cached embedding."""
        self._embedding = None
        self.original_size = None  # (H, W) of the photo
        self.input_size = None  # (h, w) of the resized photo inside the padded input

    @property
    def is_image_set(self):
        return self._embedding is not None

    def set_image(self, image):
        """Run the image encoder once on `image` and cache the embedding.

        Args:
          image: uint8 `[H, W, 3]` RGB (a `[H, W]` grayscale array is expanded), or the
            path of an image file.
        """
        if isinstance(image, (str, os.PathLike)):
            image = files.load_image(image)
        image = files.check_image_array(image)
        self.reset_image()
        resized = transforms.resize_longest_side(image, self.image_size)
        padded = transforms.pad_to_square(resized, self.image_size)
        self._embedding = self._encode(tf.constant(padded[None]))
        self.original_size = (int(image.shape[0]), int(image.shape[1]))
        self.input_size = (int(resized.shape[0]), int(resized.shape[1]))

    def get_image_embedding(self):
        """The cached embedding, float32 `[1, E, E, C]` (64 x 64 x 256 for the presets)."""
        self._require_image()
        return self._embedding.numpy()

    def _require_image(self):
        if self._embedding is None:
            raise RuntimeError("No image set: call set_image(image) before predict().")

    def predict(self, point_coords=None, point_labels=None, box=None, multimask_output=True,
                return_logits=False):
        """Predict masks for prompts on the image given to `set_image`.

        Args:
          point_coords: `[N, 2]` (x, y) in the original image's pixels, or None.
          point_labels: `[N]`, 1 foreground / 0 background; required with points.
          box: `[4]` (x0, y0, x1, y1) in the original image's pixels, or None.
          multimask_output: True returns the 3 multimask candidates (best for a single
            ambiguous click); False returns the single-mask token's mask (best for
            several points or a box).
          return_logits: return float logits instead of boolean masks.

        Returns:
          masks: bool `[C, H, W]` at the original size (float32 logits if return_logits),
          scores: float32 `[C]`, the model's predicted IoU,
          low_res_logits: float32 `[C, L, L]` (L = 256 for the presets),
          with C = 3 (multimask) or 1, sorted by score, best first. (segment-anything
          keeps the decoder's order; sorting lets `masks[0]` always be the best.)

        Raises:
          RuntimeError: if `set_image` has not been called.
          ValueError: for invalid prompts (see `prompts.check_prompts`).
        """
        self._require_image()
        checked = prompt_lib.check_prompts(point_coords, point_labels, box,
                                           self.original_size)
        inputs = prompt_lib.to_model_inputs(checked, self.original_size, self.image_size)
        low_res, scores = self._decode(self._embedding, inputs["points"], inputs["labels"],
                                       inputs["boxes"])
        # Token 0 is the single-mask output; tokens 1.. are the multimask candidates.
        chosen = slice(1, None) if multimask_output else slice(0, 1)
        low_res, scores = low_res[chosen], scores[chosen]
        order = tf.argsort(scores, direction="DESCENDING", stable=True)
        low_res, scores = tf.gather(low_res, order), tf.gather(scores, order)
        logits = self._postprocess(low_res, tf.constant(self.input_size, tf.int32),
                                   tf.constant(self.original_size, tf.int32))
        masks = logits.numpy() if return_logits else logits.numpy() > 0.0
        return masks, scores.numpy().astype(np.float32), low_res.numpy()

    def encode(self, image):
        """Run the image encoder on `image` without changing the current image.

        For callers that keep several embeddings (e.g. the labelling page encodes the next
        photo in a background thread while clicks are answered on the current one): hand the
        result to `set_embedding` later. The encoder and `predict` may run in different
        threads at the same time; `set_embedding` + `predict` must not be interleaved.

        Args:
          image: as for `set_image`.

        Returns:
          An `ImageEmbedding` (embedding float32 `[1, E, E, C]` plus the two sizes).
        """
        if isinstance(image, (str, os.PathLike)):
            image = files.load_image(image)
        image = files.check_image_array(image)
        resized = transforms.resize_longest_side(image, self.image_size)
        padded = transforms.pad_to_square(resized, self.image_size)
        return ImageEmbedding(embedding=self._encode(tf.constant(padded[None])),
                              original_size=(int(image.shape[0]), int(image.shape[1])),
                              input_size=(int(resized.shape[0]), int(resized.shape[1])))

    def set_embedding(self, image_embedding):
        """Make an `ImageEmbedding` from `encode` the current image (no encoder run)."""
        if not isinstance(image_embedding, ImageEmbedding):
            raise TypeError(f"set_embedding takes an ImageEmbedding from encode(), got "
                            f"{type(image_embedding).__name__}.")
        self._embedding = image_embedding.embedding
        self.original_size = image_embedding.original_size
        self.input_size = image_embedding.input_size


@dataclasses.dataclass(frozen=True)
class ImageEmbedding:
    """One image's encoder output, as cached by `SamPredictor.set_image`.

    embedding: float32 tf.Tensor `[1, E, E, C]`; original_size: (H, W) of the photo;
    input_size: (h, w) of the resized photo inside the padded encoder input.
    """
    embedding: object
    original_size: tuple
    input_size: tuple
