"""Geometry between a photo and the square a keras-hub image converter makes of it.

SAM 3's preprocessor resizes each photo with its `ImageConverter` (a `keras.layers.Resizing`)
to the model's S x S input, in one of three ways, read from the converter itself:

- stretch (`crop_to_aspect_ratio=False, pad_to_aspect_ratio=False`, the sam3_pcs preset):
  the whole photo is resized to S x S;
- pad (`pad_to_aspect_ratio=True`): the photo is padded equally on both sides of its short
  axis to the target aspect ratio, then resized;
- crop (`crop_to_aspect_ratio=True`, ImageConverter's default): the largest centred window
  with the target aspect ratio is cut out, then resized. Pixels outside the window are never
  seen by the model, so they are never in a mask.

`ConverterGeometry` describes this as a *frame*: the region, in the photo's own pixels, that
is stretched onto S x S, and where the photo's top-left pixel sits in it. The model's outputs
(masks on a grid over the frame, boxes normalised to the frame) map back with one bilinear
resize to the frame's size and a crop (pad) or zero-fill (crop) to the photo's size. The
offsets replicate Keras' TensorFlow `image.resize` integer arithmetic exactly.
"""

import dataclasses

import numpy as np
import tensorflow as tf


def _keras_span(size, other, target, other_target):
    """Keras' `int(float32(other * target) / other_target)`: the side length with the
    target aspect ratio, as the TensorFlow backend computes it."""
    return int(np.float32(other * target) / np.float32(other_target))


@dataclasses.dataclass(frozen=True)
class ConverterGeometry:
    """Where a photo sits in the square model input.

    Attributes:
      image_size: (H, W) of the photo.
      frame_size: (FH, FW), the region in photo pixels that is resized to S x S.
      offset: (oy, ox), the frame position of the photo's pixel (0, 0): positive when the
        converter pads, negative when it crops, zero when it stretches.
      mode: "stretch", "pad" or "crop".
    """

    image_size: tuple
    frame_size: tuple
    offset: tuple
    mode: str

    @classmethod
    def from_converter(cls, converter, image_size):
        """Read the geometry of `converter` (a keras-hub ImageConverter) for a photo.

        Args:
          converter: the preset's image converter (`preprocessor.image_converter`).
          image_size: (H, W) of the photo.
        """
        height, width = int(image_size[0]), int(image_size[1])
        target = getattr(converter, "image_size", None)
        if target is None or target[0] is None:
            raise ValueError(
                "The preset's image converter does not resize (image_size=None); SAM 3 "
                "needs a fixed input size. Set preprocessor.image_size = (S, S) to the "
                "backbone's input size."
            )
        if getattr(converter, "data_format", "channels_last") != "channels_last":
            raise ValueError("TextSegmenter needs a channels_last image converter.")
        target_h, target_w = int(target[0]), int(target[1])
        if converter.pad_to_aspect_ratio:
            pad_h = max(height, _keras_span(height, width, target_h, target_w))
            pad_w = max(width, _keras_span(width, height, target_w, target_h))
            top = int(np.float32(pad_h - height) / 2)
            left = int(np.float32(pad_w - width) / 2)
            # Keras pads `top` rows above *and* below, so an odd difference loses a row.
            return cls((height, width), (height + 2 * top, width + 2 * left), (top, left),
                       "pad")
        if converter.crop_to_aspect_ratio:
            crop_h = min(max(_keras_span(height, width, target_h, target_w), 1), height)
            crop_w = min(max(_keras_span(width, height, target_w, target_h), 1), width)
            top = int(np.float32(height - crop_h) / 2)
            left = int(np.float32(width - crop_w) / 2)
            return cls((height, width), (crop_h, crop_w), (-top, -left), "crop")
        return cls((height, width), (height, width), (0, 0), "stretch")

    def masks_to_image(self, probabilities):
        """Map mask probabilities on the model's grid back onto the photo.

        Args:
          probabilities: float32 `[Q, h, w]` over the frame (h = w = 4 S / patch size).

        Returns:
          float32 `[Q, H, W]`: bilinear (half-pixel centres, no antialiasing, as
          segment-anything's `postprocess_masks`) to the frame's size, then the frame's
          padding cut off (pad) or the uncovered border filled with 0 (crop).
        """
        probs = tf.convert_to_tensor(probabilities, tf.float32)[..., None]
        probs = tf.image.resize(probs, self.frame_size, method="bilinear")
        (top, left), (height, width) = self.offset, self.image_size
        frame_h, frame_w = self.frame_size
        if top >= 0:
            probs = probs[:, top:top + height]
        else:
            probs = tf.pad(probs, [[0, 0], [-top, height - frame_h + top], [0, 0], [0, 0]])
        if left >= 0:
            probs = probs[:, :, left:left + width]
        else:
            probs = tf.pad(probs, [[0, 0], [0, 0], [-left, width - frame_w + left], [0, 0]])
        return probs[..., 0].numpy()

    def boxes_to_image(self, boxes):
        """Normalised (x0, y0, x1, y1) boxes over the frame -> photo pixels, clipped.

        Args:
          boxes: float `[Q, 4]` in 0..1 of the frame.

        Returns:
          float32 `[Q, 4]` (x0, y0, x1, y1) in photo pixels, inside [0, W] x [0, H].
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        frame_h, frame_w = self.frame_size
        top, left = self.offset
        height, width = self.image_size
        xs = boxes[:, 0::2] * frame_w - left
        ys = boxes[:, 1::2] * frame_h - top
        out = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=-1)
        out[:, 0::2] = np.clip(out[:, 0::2], 0, width)
        out[:, 1::2] = np.clip(out[:, 1::2], 0, height)
        return out.astype(np.float32)

    def boxes_for_preprocessor(self, boxes):
        """Photo-pixel exemplar boxes -> the values to give keras-hub's preprocessor.

        keras-hub's SAM 3 preprocessor normalises box prompts by the photo's width and
        height, which is right only when the converter stretches. Boxes are moved into the
        frame here so that, after that division, they land on the frame's coordinates.

        Args:
          boxes: float `[N, 4]` (x0, y0, x1, y1) in photo pixels.

        Returns:
          float32 `[N, 4]`.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        frame_h, frame_w = self.frame_size
        top, left = self.offset
        height, width = self.image_size
        out = boxes.copy()
        out[:, 0::2] = (boxes[:, 0::2] + left) / frame_w * width
        out[:, 1::2] = (boxes[:, 1::2] + top) / frame_h * height
        return out.astype(np.float32)
