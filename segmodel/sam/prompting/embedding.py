"""One image through SAM's image encoder: the photo resized and padded to the encoder's square
input (`geometry`), and the result kept with its sizes (`ImageEmbedding`), which is all
`SamPredictor` needs to answer prompts on that image.
"""

import dataclasses
import os

import tensorflow as tf

from segmodel.sam.prompting import files
from segmodel.sam.prompting import geometry as transforms


@dataclasses.dataclass(frozen=True)
class ImageEmbedding:
    """One image's encoder output, as cached by `SamPredictor.set_image`.

    embedding: float32 tf.Tensor `[1, E, E, C]`; original_size: (H, W) of the photo;
    input_size: (h, w) of the resized photo inside the padded encoder input.
    """
    embedding: object
    original_size: tuple
    input_size: tuple


def encode_image(image, image_size, encoder):
    """Run `encoder` on `image` resized (longest side `image_size`) and padded to a square.

    Args:
      image: uint8 `[H, W, 3]` RGB (a `[H, W]` grayscale array is expanded), or the path of
        an image file.
      image_size: S, the side of the encoder's square input.
      encoder: float32 `[1, S, S, 3]` -> float32 `[1, E, E, C]` (SamPredictor's traced encoder).

    Returns:
      An `ImageEmbedding`.
    """
    if isinstance(image, (str, os.PathLike)):
        image = files.load_image(image)
    image = files.check_image_array(image)
    resized = transforms.resize_longest_side(image, image_size)
    padded = transforms.pad_to_square(resized, image_size)
    return ImageEmbedding(embedding=encoder(tf.constant(padded[None])),
                          original_size=(int(image.shape[0]), int(image.shape[1])),
                          input_size=(int(resized.shape[0]), int(resized.shape[1])))
