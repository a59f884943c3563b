"""Masks on the wire: PNG encoding, the page's edited masks (`mask_png`), JSON helpers.

The page sends an object's mask after brush edits as `"mask_png"`: a base64 PNG at the
image's size whose pixels are 0 (off) or 255 (on); any PNG mode that converts to such a
gray image is accepted (the browser's canvas gives RGBA). What is written is that mask, so a
PNG that is not exactly that is refused with a message naming the object, never guessed at.
"""

import base64
import binascii
import io
import json
import pathlib

import numpy as np
from PIL import Image


class NotFound(LookupError):
    """Not an image of this session (HTTP 404)."""


class BadRequest(ValueError):
    """Bad prompts or an action that cannot be done (HTTP 400); the text says why."""


def json_load(path):
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); fix or delete it.") from None


def encode_png(pixels):
    """uint8 `[H, W]` or `[H, W, 3]` -> PNG bytes (fast compression: sent once, not kept)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def mask_b64(mask):
    """bool `[H, W]` -> base64 str of a 0/255 gray PNG (the page's mask format)."""
    return base64.b64encode(encode_png(np.asarray(mask, np.uint8) * 255)).decode("ascii")


def decode_mask_png(value, size, where):
    """A `mask_png` field -> bool `[H, W]`.

    Args:
      value: base64 str of a PNG, 0/255 values only, `size` pixels.
      size: (H, W) of the image.
      where: names the object in messages ("cat.jpg: objects[1].mask_png").

    Raises:
      BadRequest naming `where`: not base64, not a PNG, the wrong size, or other values.
    """
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a base64 PNG string, got {type(value).__name__}.")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where} is not base64.") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG":
                raise BadRequest(f"{where} is a {img.format} image; send a PNG.")
            pixels = np.asarray(img.convert("L"))
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        if isinstance(err, BadRequest):
            raise
        raise BadRequest(f"{where} is not a readable PNG ({err}).") from None
    if pixels.shape != tuple(size):
        raise BadRequest(f"{where} is {pixels.shape[1]}x{pixels.shape[0]} px but the image is "
                         f"{size[1]}x{size[0]} (width x height); send the mask at the image's "
                         "size.")
    values = np.unique(pixels)
    if not np.isin(values, (0, 255)).all():
        raise BadRequest(f"{where} has pixel values {values[:8].tolist()}; a mask PNG holds "
                         "only 0 (off) and 255 (on).")
    return pixels == 255


def split_masks(objects):
    """Request objects -> (the objects without "mask_png", their "mask_png" values or None).

    Non-dict objects are passed through for `normalize_prompts` to report."""
    if not isinstance(objects, list):
        return objects, []
    prompts, masks = [], []
    for obj in objects:
        if isinstance(obj, dict) and "mask_png" in obj:
            obj = dict(obj)
            masks.append(obj.pop("mask_png"))
        else:
            masks.append(None)
        prompts.append(obj)
    return prompts, masks


def split_sources(objects):
    """Request objects -> (the objects without "source", True if one was "model"): the page
    marks the objects of a model's pre-label "model" (segmodel.sam.label_app.model_assist)."""
    if not isinstance(objects, list):
        return objects, False
    out, from_model = [], False
    for obj in objects:
        if isinstance(obj, dict) and "source" in obj:
            obj = dict(obj)
            source = obj.pop("source")
            if source not in ("model", "user"):
                raise BadRequest(f'an object\'s "source" is "model" or "user", got {source!r}')
            from_model = from_model or source == "model"
        out.append(obj)
    return out, from_model


def edited_masks(name, image_size, objects):
    """Request objects -> (the objects without "mask_png", one bool `[H, W]` mask or None per
    object); `image_size` is (W, H), None for an unreadable image (no masks decoded)."""
    objects, pngs = split_masks(objects)
    if image_size is None:
        return objects, []
    return objects, [None if png is None else
                     decode_mask_png(png, image_size[::-1], f"{name}: objects[{i}].mask_png")
                     for i, png in enumerate(pngs)]


def union(masks):
    """list of bool `[H, W]` (at least one) -> their union."""
    out = np.array(masks[0], bool)
    for mask in masks[1:]:
        out |= mask
    return out


def short_floats(value):
    """Floats (float32 values from the prompts) -> the shortest decimals that give the same
    float32, so prompts.json says 61.4, not 61.400001525878906."""
    if isinstance(value, float):
        return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))
    if isinstance(value, dict):
        return {k: short_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [short_floats(v) for v in value]
    return value


def class_list(classes):
    """A `ClassList` (or None) -> [{"id": 1, "name", "color": [r, g, b]}, ...] (background,
    id 0, not listed; [] without classes)."""
    if classes is None:
        return []
    return [{"id": i, "name": n, "color": list(classes.palette[i])}
            for i, n in enumerate(classes.names, 1)]


def check_classes(classes, objects, name):
    """BadRequest naming the object when a normalised object's "class" is not one of
    `classes` (or is given when there are no classes)."""
    for i, obj in enumerate(objects):
        where = f"{name}: objects[{i}].class"
        if classes is None:
            if obj.get("class") is not None:
                raise BadRequest(f"{where} is {obj['class']!r} but the page was started "
                                 "without classes; restart it with --classes.")
        else:
            try:
                classes.train_id(obj.get("class"), where)
            except ValueError as err:
                raise BadRequest(str(err)) from None
