"""SamPredictor: segment-anything's set-image-once, prompt-many-times API on keras-hub SAM.

keras-hub's `SAMImageSegmenter.predict` runs the whole model for every prompt: the ViT
image encoder (all but a sliver of the cost) and the small prompt encoder + mask decoder.
`SamPredictor.set_image` runs the encoder once and caches the image embedding; each
`predict` then runs only the prompt encoder and mask decoder, so clicking around one image
costs milliseconds per click instead of a full forward pass. `predict` also takes an earlier
prediction's low-res logits as a mask prompt; `predict_batch` decodes B independent prompts
against the cached embedding in one call (what the automatic mask generator builds on).
"""

import numpy as np
import tensorflow as tf

from segmodel.sam.models import loading
from segmodel.sam.prompting import geometry as transforms
from segmodel.sam.prompting import prompts as prompt_lib
from segmodel.sam.prompting import shared_decoder
from segmodel.sam.prompting.embedding import ImageEmbedding, encode_image


class SamPredictor:
    """Prompt a keras-hub Segment Anything model with points, boxes (image pixels) and masks.

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
        backbone = loading.check_segmenter(segmenter, dtype)
        self.segmenter = segmenter
        self.dtype = dtype or "float32"
        self._prompt_encoder = backbone.prompt_encoder
        self._mask_decoder = backbone.mask_decoder
        # The encoder's input size comes from the model, so a 128-px test model and the
        # 1024-px presets go through the same code.
        self.image_size = int(backbone.image_encoder.input_shape[1])
        self.low_res_size = 4 * int(backbone.prompt_encoder.image_embedding_size[0])
        self._image_encoder = loading.encoder_in_precision(backbone.image_encoder, dtype)
        size = self.image_size
        # Fixed signatures: one trace for every image and every prompt count. No autograph:
        # nothing here branches on tensors, and skipping it avoids re-parsing source.
        self._encode = tf.function(
            self._encode_fn, input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)],
            autograph=False,
        )
        low = self.low_res_size
        # B prompts against the one cached embedding; the mask-prompt axis is 0 or 1 long.
        self._decode = tf.function(self.decode_fn, autograph=False, input_signature=[
            tf.TensorSpec([1, None, None, None], tf.float32),
            tf.TensorSpec([None, None, 2], tf.float32),
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None, None, 2, 2], tf.float32),
            tf.TensorSpec([None, None, low, low, 1], tf.float32),
        ])
        # B > 1 prompts: the re-associated decoder (None if this model's decoder differs).
        self._decode_shared = shared_decoder.batch_decode_functions(
            self._prompt_encoder, self._mask_decoder, low)
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
        return cls(loading.load_segmenter(preset, **kwargs), dtype=dtype)

    def _encode_fn(self, images):
        embedding = self._image_encoder(images, training=False)
        return tf.cast(embedding, tf.float32)

    def decode_fn(self, embedding, points, labels, boxes, masks):
        """The prompt encoder + mask decoder on model-space prompts (graph-safe; the exported
        SAM traces it too).

        Args: embedding float32 `[1, E, E, C]`; points float32 `[B, N, 2]` and labels float32
        `[B, N]` in encoder-input pixels; boxes float32 `[B, 0 or 1, 2, 2]`; masks float32
        `[B, 0 or 1, L, L, 1]` low-res logits.

        Returns: masks float32 `[B, 4, L, L]` (token 0 single-mask, 1..3 multimask) and
        iou_pred float32 `[B, 4]`.
        """
        # Called as layers, keras-hub's prompt encoder and mask decoder broadcast the one
        # embedding over the B prompts. No mask prompt is a zero-length mask axis: keras-hub
        # then uses its learned "no mask" embedding, as segment-anything does.
        prompt = self._prompt_encoder(points=points, labels=labels, boxes=boxes, masks=masks)
        out = self._mask_decoder(image_embeddings=embedding, **prompt)
        return out["masks"], out["iou_pred"]

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
        self.reset_image()  # a failed encode leaves no stale image behind
        self.set_embedding(self.encode(image))

    def get_image_embedding(self):
        """The cached embedding, float32 `[1, E, E, C]` (64 x 64 x 256 for the presets)."""
        self._require_image()
        return self._embedding.numpy()

    def _require_image(self):
        if self._embedding is None:
            raise RuntimeError("No image set: call set_image(image) before predict().")

    def predict(self, point_coords=None, point_labels=None, box=None, multimask_output=True,
                return_logits=False, mask_input=None):
        """Predict masks for prompts on the image given to `set_image`.

        Args:
          point_coords: `[N, 2]` (x, y) in the original image's pixels, or None.
          point_labels: `[N]`, 1 foreground / 0 background; required with points.
          box: `[4]` (x0, y0, x1, y1) in the original image's pixels, or None.
          multimask_output: True returns the 3 multimask candidates (best for a single
            ambiguous click); False returns the single-mask token's mask (best for
            several points or a box).
          return_logits: return float logits instead of boolean masks.
          mask_input: float32 `[1, L, L]`, low-res logits of an earlier prediction
            (`low_res_logits[i:i+1]`) as a mask prompt, as segment-anything's `mask_input`:
            click, keep the best low-res logits, click again with them. May be the only
            prompt.

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
        inputs = prompt_lib.single_model_inputs(point_coords, point_labels, box,
                                                mask_input is not None, self.original_size,
                                                self.image_size)
        low_res, scores = self._low_res(inputs, mask_input, multimask_output)
        masks, scores, low_res = self._finish(low_res, scores, return_logits)
        return masks[0], scores[0], low_res[0]

    def predict_batch(self, point_coords=None, point_labels=None, boxes=None,
                      multimask_output=True, return_logits=False, mask_input=None):
        """B independent prompts on the cached embedding, in one decoder call.

        Row b gives what `predict(point_coords[b], point_labels[b], boxes[b], ...)` gives
        (up to float rounding); every row has the same number of points N. For B > 1 the
        decoder is `shared_decoder.SharedEmbeddingDecoder` (keras-hub's weights and math,
        the image-side work shared across the rows; about 2x faster at B = 64), compiled
        by XLA once per (B, N, boxes, mask prompt) shape: keep batch shapes fixed, as the
        automatic mask generator does.

        Args:
          point_coords: `[B, N, 2]` (x, y) pixels, or None.
          point_labels: `[B, N]` of 1 / 0; required with points.
          boxes: `[B, 4]` (x0, y0, x1, y1) pixels, or None.
          multimask_output, return_logits: as in `predict`.
          mask_input: optional float32 `[B, L, L]` low-res logits, one mask prompt per row.

        Returns:
          masks bool `[B, C, H, W]` (float32 logits if return_logits), scores float32
          `[B, C]`, low_res_logits float32 `[B, C, L, L]`; each row sorted best first.
        """
        low_res, scores = self.decode_batch(point_coords, point_labels, boxes,
                                            multimask_output, mask_input)
        return self._finish(low_res, scores, return_logits)

    def decode_batch(self, point_coords=None, point_labels=None, boxes=None,
                     multimask_output=True, mask_input=None):
        """`predict_batch` without the upsampling: low-res logits and scores only.

        Returns:
          low_res_logits float32 tf.Tensor `[B, C, L, L]` and scores float32 tf.Tensor
          `[B, C]`, each row sorted best first. `postprocess(low_res[b])` gives the masks.
        """
        self._require_image()
        points, labels, boxes = prompt_lib.check_batch(point_coords, point_labels, boxes,
                                                       self.original_size)
        inputs = prompt_lib.batch_model_inputs(points, labels, boxes, self.original_size,
                                               self.image_size)
        return self._low_res(inputs, mask_input, multimask_output)

    def postprocess(self, low_res_logits):
        """float32 `[K, L, L]` low-res logits -> float32 tf.Tensor `[K, H, W]` logits at the
        current image's size (threshold at 0 for masks)."""
        self._require_image()
        return self._postprocess(tf.convert_to_tensor(low_res_logits, tf.float32),
                                 tf.constant(self.input_size, tf.int32),
                                 tf.constant(self.original_size, tf.int32))

    def _low_res(self, inputs, mask_input, multimask_output):
        batch = int(inputs["points"].shape[0])
        size = self.low_res_size
        if mask_input is None:
            masks = np.zeros((batch, 0, size, size, 1), np.float32)
        else:
            masks = prompt_lib.check_mask_input(mask_input, size, batch)
        decode = self._decode
        if batch > 1 and self._decode_shared is not None:
            decode = self._decode_shared[int(masks.shape[1])]
        low_res, scores = decode(self._embedding, inputs["points"], inputs["labels"],
                                 inputs["boxes"], masks)
        # Token 0 is the single-mask output; tokens 1.. are the multimask candidates.
        chosen = slice(1, None) if multimask_output else slice(0, 1)
        low_res, scores = low_res[:, chosen], scores[:, chosen]
        order = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
        return tf.gather(low_res, order, batch_dims=1), tf.gather(scores, order, batch_dims=1)

    def _finish(self, low_res, scores, return_logits):
        batch, count, size = (int(d) for d in low_res.shape[:3])
        logits = self.postprocess(tf.reshape(low_res, [batch * count, size, size]))
        logits = tf.reshape(logits, [batch, count, *self.original_size]).numpy()
        masks = logits if return_logits else logits > 0.0
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
          An `ImageEmbedding` (embedding float32 `[1, E, E, C]` plus the two sizes; see
          `embedding.encode_image`).
        """
        return encode_image(image, self.image_size, self._encode)

    def set_embedding(self, image_embedding):
        """Make an `ImageEmbedding` from `encode` the current image (no encoder run)."""
        if not isinstance(image_embedding, ImageEmbedding):
            raise TypeError(f"set_embedding takes an ImageEmbedding from encode(), got "
                            f"{type(image_embedding).__name__}.")
        self._embedding = image_embedding.embedding
        self.original_size = image_embedding.original_size
        self.input_size = image_embedding.input_size

