"""The pure per-sample step: one Pets sample (paths + list metadata) -> Example bytes or a skip.

`encode_sample` reads two files and returns a `SampleResult`; it shares no state with the
sharding/writing code, so the local converter's worker processes and an Apache Beam `Map` can
both call it unchanged. It imports PIL and numpy only (TensorFlow would cost ~5 s per worker).

Decisions are made on the bytes' real content (PIL's sniffed format), never on file names:
- a 3-channel JPEG (baseline or progressive) keeps its original bytes exactly;
- any other decodable image (PNG/GIF named .jpg, CMYK, RGBA, grayscale, palette) is re-encoded
  as an RGB JPEG and reported as repaired;
- a trimap that is not an 8-bit single-channel PNG is re-encoded as one, because
  `tf.io.decode_png(channels=1)` maps palette or RGB pixels through luminance, not to the stored
  class values, and scales 1/2/4-bit gray values (2-bit value 1 -> 85);
- undecodable/truncated images, missing or undecodable trimaps, size mismatches and trimap
  values outside 1..3 are skipped with a reason.
"""

import dataclasses
import io
import os

import numpy as np
from PIL import Image

from segdata.io import fsio
from segdata.records import features

JPEG_QUALITY = 95  # re-encoded images only; high enough that repair does not visibly degrade
VALID_TRIMAP_VALUES = (1, 2, 3)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class SampleResult:
    """Outcome for one sample.

    example: serialized tf.train.Example bytes, or None when skipped.
    skipped / repaired: human-readable reason, or None.
    class_pixel_counts: (n1, n2, n3) int pixel counts of trimap values 1..3 (zeros when skipped).
    """
    name: str
    example: bytes = None
    skipped: str = None
    repaired: str = None
    class_pixel_counts: tuple = (0, 0, 0)


class TrimapValueError(ValueError):
    """A decodable trimap whose values cannot be trusted as classes 1..3."""


def _why(error):
    # OSError messages from PIL read well alone; other types (struct.error, IndexError, ...)
    # need their name to make sense.
    return str(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"


def _read(path):
    return fsio.read_bytes(path)  # a local open(); URLs (Beam workers) through tf.io.gfile


def _decode(data):
    """Fully decode `data` -> (PIL image, format). PIL raises on truncated data during load()."""
    img = Image.open(io.BytesIO(data))
    fmt = img.format
    img.load()  # forces the whole decode: a truncated file fails here, not later in training
    return img, fmt


def _describe(fmt, mode):
    return f"{fmt or 'unknown'} {mode}"


def to_rgb(img):
    """Any decoded PIL image -> mode RGB. 16/32-bit gray is scaled to 8 bits, not clipped."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).round().astype(np.uint8))
    return img.convert("RGB")


def prepare_image(data):
    """JPEG bytes for the record -> (jpeg_bytes, (width, height), repair reason or None).

    Raises OSError/ValueError (from PIL) when the bytes cannot be decoded.
    """
    img = Image.open(io.BytesIO(data))
    fmt, size = img.format, img.size
    if fmt in ("JPEG", "MPO") and img.mode == "RGB":
        # Kept as is, so decode only to validate, at 1/8 scale: libjpeg still entropy-decodes
        # every scan to the end (where truncation and most corruption surface) but skips most
        # of the IDCT and colour conversion, ~3x faster. tests/test_convert_quirks.py checks
        # that it rejects exactly the cut points a full decode rejects.
        img.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
        img.load()
        return data, size, None
    img.load()
    rgb = to_rgb(img)
    out = io.BytesIO()
    # Fixed settings keep re-encoding deterministic: same input -> same bytes in every process.
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    reason = f"image is {_describe(fmt, img.mode)}, not a 3-channel JPEG; re-encoded as RGB JPEG"
    return out.getvalue(), size, reason


def _is_plain_gray8_png(data):
    # IHDR follows the 8-byte signature: length(4) type(4) width(4) height(4) depth(1) color(1).
    return (data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR"
            and data[24] == 8 and data[25] == 0)


def trimap_values(img):
    """Class values of a decoded trimap -> uint8 array [H, W], or raises TrimapValueError.

    Palette PNGs store the class in the index, so indices are used, not colours.
    """
    if img.mode in ("L", "P", "I", "I;16", "1"):
        arr = np.asarray(img)
    elif img.mode in ("LA", "PA"):
        arr = np.asarray(img)[..., 0]
    elif img.mode in ("RGB", "RGBA"):
        rgb = np.asarray(img)[..., :3]
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise TrimapValueError(f"colour trimap ({img.mode}) whose channels differ; "
                             "save it as a single-channel PNG with values 1..3")
        arr = rgb[..., 0]
    else:
        raise TrimapValueError(f"unsupported trimap mode {img.mode}")
    if arr.max(initial=0) > 255 or arr.min(initial=0) < 0:
        bad = sorted(int(v) for v in np.unique(arr) if v not in VALID_TRIMAP_VALUES)
        raise TrimapValueError(f"trimap values outside 1..3: {bad[:10]}")
    return arr.astype(np.uint8)


def prepare_trimap(data):
    """PNG bytes for the record -> (png_bytes, (width, height), counts[3], repair or None).

    Raises TrimapValueError for values outside 1..3, or PIL's errors for undecodable bytes.
    """
    img, fmt = _decode(data)
    plain = fmt == "PNG" and img.mode == "L" and _is_plain_gray8_png(data)
    if plain:
        arr, hist = None, img.histogram()  # 256 counts computed in C: no array copy
    else:
        arr = trimap_values(img)
        if fmt == "PNG" and data[25:26] == b"\x00" and data[24] in (1, 2, 4):
            # PIL (like TF) scales 1/2/4-bit gray samples to 0..255; the class is the raw sample.
            arr = arr // (255 // (2 ** data[24] - 1))
        hist = np.bincount(arr.ravel(), minlength=256)
    bad = [v for v in range(len(hist)) if hist[v] and v not in VALID_TRIMAP_VALUES]
    if bad:
        listed = ", ".join(str(int(v)) for v in bad[:10])
        raise TrimapValueError(f"trimap values outside 1..3: {listed}")
    counts = tuple(int(hist[v]) for v in VALID_TRIMAP_VALUES)
    if plain:
        return data, img.size, counts, None
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr, np.uint8)).save(out, format="PNG")  # mode L
    reason = (f"trimap is {_describe(fmt, img.mode)}, not an 8-bit single-channel PNG; "
              "re-encoded as one")
    return out.getvalue(), img.size, counts, reason


def encode_sample(sample):
    """Validate, repair and serialize one sample. Pure: reads files, writes nothing.

    Args:
      sample: segdata.formats.pets.layout.Sample (name, image_path, trimap_path, label, species).
    Returns:
      SampleResult with `example` = serialized tf.train.Example (see segdata.records.features), or
      `skipped` set to a reason naming what is wrong and what was found.
    """
    name = sample.name
    try:
        image_bytes, (w, h), image_fix = prepare_image(_read(sample.image_path))
    except Exception as e:  # noqa: BLE001 - PIL raises many types on malformed files
        return SampleResult(name, skipped=f"undecodable image {os.path.basename(sample.image_path)}: "
                                          f"{_why(e)}")
    if not fsio.exists(sample.trimap_path):
        return SampleResult(name, skipped=f"missing trimap annotations/trimaps/{name}.png")
    try:
        mask_bytes, (mw, mh), counts, mask_fix = prepare_trimap(_read(sample.trimap_path))
    except TrimapValueError as e:
        return SampleResult(name, skipped=f"bad trimap {name}.png: {e}")
    except Exception as e:  # noqa: BLE001
        return SampleResult(name, skipped=f"undecodable trimap {name}.png: {_why(e)}")
    if (mw, mh) != (w, h):
        return SampleResult(name, skipped=f"trimap size {mw}x{mh} differs from image size "
                                          f"{w}x{h} (width x height)")
    example = features.serialize_example(
        image_bytes=image_bytes, height=h, width=w, filename=f"{name}.jpg", source_id=name,
        mask_bytes=mask_bytes, label=sample.label, species=sample.species)
    repaired = "; ".join(r for r in (image_fix, mask_fix) if r) or None
    return SampleResult(name, example=example, repaired=repaired, class_pixel_counts=counts)
