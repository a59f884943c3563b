"""Reading images for SAM and writing its results without leaving half-written files."""

import pathlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from segdata.io.atomic import atomic_write, write_json_atomic


def load_image(path):
    """Read an image file as RGB.

    Returns:
      uint8 `[H, W, 3]`. Grayscale, palette and RGBA files are converted to RGB; the EXIF
      orientation is not applied, so pixels match what other loaders (tf.io.decode_image)
      return for the same file.

    Raises:
      FileNotFoundError, ValueError: naming the file when it is missing or not an image.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"Cannot read {path} as an image ({err}).") from err


def check_image_array(image):
    """Validate an in-memory image for SAM.

    Args:
      image: uint8 `[H, W, 3]`, or uint8 `[H, W]` / `[H, W, 1]` grayscale.

    Returns:
      uint8 `[H, W, 3]`.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"image must be uint8 [H, W, 3] RGB, got shape {image.shape}; drop an alpha "
            f"channel with image[..., :3]."
        )
    if image.dtype != np.uint8:
        raise ValueError(
            f"image must be uint8 with values 0..255, got dtype {image.dtype}; convert with "
            f"np.clip(image, 0, 255).astype('uint8') (multiply 0..1 floats by 255 first)."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape}).")
    return image


def save_mask_png(path, mask):
    """Write a bool `[H, W]` mask as an 8-bit PNG with 0 (off) and 255 (on)."""
    pixels = np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8)
    atomic_write(path, lambda tmp: Image.fromarray(pixels, mode="L").save(tmp, format="PNG"))


def save_json(path, data):
    """Write `data` as indented JSON, atomically."""
    write_json_atomic(path, data)
