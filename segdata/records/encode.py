"""The pure per-sample step for every dataset layout: a Sample -> Example bytes, or a skip.

`encode_sample(sample, decoder)` is what the local converter's worker processes and the Beam
`Map` run; like `segdata.formats.pets.samples` (which it calls for Pets, unchanged) it reads
files, writes nothing, and imports PIL and numpy only.

Decisions are made on the bytes' content (PIL's sniffed format), never on file names:
- a 3-channel JPEG named .jpg/.jpeg, or an 8-bit RGB PNG named .png, keeps its bytes exactly
  and `image/format` says which it is;
- any other decodable photo (grayscale, CMYK, RGBA, palette, 16-bit, a PNG named .jpg, ...)
  is re-encoded (PNG for a .png name, else JPEG) and reported as repaired;
- the mask becomes train ids through the dataset's MaskDecoder (segdata.formats.base) and is
  stored as an 8-bit single-channel PNG, so Model Garden's decoder reads train ids with no
  table; a mask that already is exactly that keeps its bytes;
- a photo with an EXIF orientation is turned as viewers show it when its annotation was drawn
  on it that way (segdata.records.orientation);
- an undecodable photo or mask, a missing mask, a size mismatch, a value that is neither a
  class nor ignore (named), a colour the label map does not name (named) skip the sample.
"""

import dataclasses
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

from segdata.formats.base import IGNORE_LABEL, INVALID
from segdata.formats.pets import samples as pets_samples
from segdata.io import fsio
from segdata.records import features, orientation
from segdata.records.colour_masks import MaskValueError, is_colour, map_colours

JPEG_QUALITY = pets_samples.JPEG_QUALITY
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class EncodedSample:
    """Outcome for one sample (the fields of pets' SampleResult, plus `dropped`).

    example: serialized tf.train.Example bytes, or None when skipped.
    skipped / repaired: human-readable reason, or None.
    class_pixel_counts: tuple of num_classes ints, pixels per train id (zeros when skipped).
    dropped: reasons (str) for annotations left out while the sample was kept.
    stats: ((key, int), ...) counts summed over the build into the manifest's "ignore":
      "ignore_pixels" (pixels stored as 255), COCO also "crowd_annotations" and
      "crowd_pixels" (crowd regions painted as ignore, segdata.formats.coco_crowd).
    """
    name: str
    example: bytes = None
    skipped: str = None
    repaired: str = None
    class_pixel_counts: tuple = ()
    dropped: tuple = ()
    stats: tuple = ()


def encode_sample(sample, decoder=None):
    """Validate, repair and serialize one sample. Pure: reads files, writes nothing.

    Args:
      sample: segdata.formats.base.Sample (or, with decoder None, segdata.formats.pets.layout
        .Sample: the Pets path, byte for byte what it always was).
      decoder: segdata.formats.base.MaskDecoder of the dataset.
    Returns:
      EncodedSample (SampleResult for Pets) with `example` or `skipped` set.
    """
    if decoder is None:
        return pets_samples.encode_sample(sample)
    zeros = (0,) * decoder.num_classes
    name, filename = sample.name, sample.filename or os.path.basename(sample.image_path)
    skip = lambda why: EncodedSample(name, skipped=why, class_pixel_counts=zeros)  # noqa: E731
    try:
        data = fsio.read_bytes(sample.image_path)
    except OSError as e:
        return skip(f"image {sample.image_path} cannot be read: {_why(e)}")
    try:
        image_bytes, image_format, (w, h), image_fix, tag = prepare_image(data, filename)
    except Exception as e:  # noqa: BLE001 - PIL raises many types on malformed files
        return skip(f"undecodable image {filename}: {_why(e)}")
    dropped, decoded, stats, mask_fix = (), None, (), None
    if decoder.kind == "coco":
        drawn_on = (sample.width, sample.height) if sample.height > 0 else None
    else:
        mask_name = os.path.basename(sample.mask_path)
        if not fsio.exists(sample.mask_path):
            return skip(f"missing mask {sample.mask_path} for image {filename}")
        try:
            mask_data = fsio.read_bytes(sample.mask_path)
            drawn_on, mask_bytes, mask_fix, counts = decode_mask(mask_data, decoder)
        except MaskValueError as e:
            return skip(f"bad mask {mask_name}: {e}")
        except Exception as e:  # noqa: BLE001
            return skip(f"undecodable mask {mask_name}: {_why(e)}")
    # Which way up the photo was labelled (segdata.records.orientation).
    tag = 1 if decoder.exif_orientation == "ignore" else tag
    way = orientation.decide(tag, (w, h), drawn_on, decoder.exif_orientation)
    if way == "apply":
        image_bytes, image_format, (w, h), image_fix = orientation.upright(
            data, filename, tag, JPEG_QUALITY)
    if tag != 1:
        stats = ((f"exif_{way}", 1),)
    turned = f" (turned by its EXIF orientation {tag})" if way == "apply" else ""
    if decoder.kind == "coco":
        if drawn_on is not None and drawn_on != (w, h):
            return skip(f"image {filename} is {w}x{h}{turned} but the annotations say "
                        f"{sample.width}x{sample.height} (width x height)")
        from segdata.formats import coco

        sample = dataclasses.replace(sample, height=h, width=w)
        decoded = coco.decode_instances(sample)  # once, for the mask and the instance keys
        ids, notes = coco.rasterize(sample, decoder, decoded)
        dropped, drawn_on = tuple(notes), (w, h)
        mask_bytes, counts = png_bytes(ids), histogram(ids)
        stats += (("crowd_annotations", sum(coco.is_crowd(a) for a in decoded[0])),
                  ("crowd_pixels", int(counts[IGNORE_LABEL])))
    if drawn_on != (w, h):
        return skip(f"mask size {drawn_on[0]}x{drawn_on[1]} differs from image size {w}x{h}"
                    f"{turned} (width x height) for {filename}")
    extra = None
    if decoder.instances:
        from segdata.formats import coco

        extra = coco.instance_features(sample, decoder, decoded)
    example = features.serialize_example(
        image_bytes=image_bytes, height=h, width=w, filename=filename, source_id=name,
        mask_bytes=mask_bytes, label=sample.label, species=sample.species,
        image_format=image_format, extra=extra)
    repaired = "; ".join(r for r in (image_fix, mask_fix) if r) or None
    stats = (("ignore_pixels", int(counts[IGNORE_LABEL])),) + stats
    return EncodedSample(name, example=example, repaired=repaired, dropped=dropped,
                         class_pixel_counts=tuple(int(c) for c in counts[:decoder.num_classes]),
                         stats=stats)


def _why(error):
    return str(error) if isinstance(error, OSError) else f"{type(error).__name__}: {error}"


def prepare_image(data, filename):
    """Photo bytes for the record -> (bytes, "jpeg" | "png", (width, height), repair or None,
    EXIF orientation tag of the original, 1..8: segdata.records.orientation).

    Raises OSError/ValueError (from PIL) when the bytes cannot be decoded.
    """
    img = Image.open(io.BytesIO(data))
    fmt, size = img.format, img.size
    ext = os.path.splitext(filename)[1].lower()
    if fmt in ("JPEG", "MPO") and img.mode == "RGB" and ext in (".jpg", ".jpeg"):
        jpeg, size, _ = pets_samples.prepare_image(data)  # validated at 1/8 scale, kept as is
        return jpeg, "jpeg", size, None, orientation.tag_of(img)
    img.load()  # a truncated file fails here
    tag = orientation.tag_of(img)
    if fmt == "PNG" and img.mode == "RGB" and ext == ".png":
        return data, "png", size, None, tag
    rgb = pets_samples.to_rgb(img) if img.mode != "RGB" else img
    out = io.BytesIO()
    target = "png" if ext == ".png" else "jpeg"
    if target == "png":
        rgb.save(out, format="PNG")
    else:  # fixed settings: same input -> same bytes in every process
        rgb.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    named = f" named {ext}" if ext else ""
    return out.getvalue(), target, size, (
        f"image is {fmt or 'unknown'} {img.mode}{named}, not a 3-channel "
        f"{'PNG' if target == 'png' else 'JPEG'}; re-encoded as RGB {target.upper()}"), tag


def _is_plain_gray8_png(data):
    return (data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR"
            and data[24] == 8 and data[25] == 0)


def _stored_values(img, data):
    """Decoded single-channel mask -> int array [H, W] of the stored values (palette indices
    for palette PNGs; 1/2/4-bit gray samples unscaled)."""
    if img.mode in ("L", "P", "1", "I", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(img)
    elif img.mode in ("LA", "PA"):
        arr = np.asarray(img)[..., 0]
    elif img.mode in ("RGB", "RGBA"):
        rgb = np.asarray(img)[..., :3]
        if not (np.array_equal(rgb[..., 0], rgb[..., 1])
                and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise MaskValueError(f"colour mask ({img.mode}) where class ids are expected; save "
                                 "it as a single-channel PNG of class ids")
        arr = rgb[..., 0]
    else:
        raise MaskValueError(f"unsupported mask mode {img.mode}")
    arr = arr.astype(np.int64)
    if img.format == "PNG" and data[25:26] == b"\x00" and data[24] in (1, 2, 4):
        arr = arr // (255 // (2 ** data[24] - 1))  # PIL scales low-bit gray to 0..255
    return arr


def _map_values(values, table):
    """Stored values [H, W] -> uint8 train ids through `table`; raises naming bad values."""
    top = int(values.max(initial=0))
    lut = np.full(max(top + 1, len(table)), INVALID, np.int64)
    lut[:len(table)] = table
    if values.min(initial=0) < 0:
        raise MaskValueError(f"negative mask values {sorted(set(values[values < 0].tolist()))[:10]}")
    ids = lut[values]
    if (ids == INVALID).any():
        bad = np.unique(values[ids == INVALID])
        _check_values(bad, np.full(bad.shape, INVALID), table)
    return ids.astype(np.uint8)


def _ranges(values):
    if not values:
        return "none"
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}" if len(values) > 1 else str(values[0])
    return ", ".join(str(v) for v in values)


def decode_mask(data, decoder):
    """Stored mask bytes -> ((width, height), PNG bytes of train ids to store, repair or None,
    int64 [256] pixel count per train id).

    The original bytes are kept only when they already are an 8-bit single-channel PNG holding
    exactly the train ids. A re-encoding is reported as a repair only for layouts whose masks
    are meant to hold train ids already (`decoder.report_mask_repairs`).
    Raises MaskValueError naming values or colours that are neither a class nor ignore.
    """
    img = Image.open(io.BytesIO(data))
    img.load()
    if decoder.kind == "colour" or (decoder.colours and is_colour(img)):
        # "values" layouts with colours (VOC): a mask re-saved as RGB in the dataset's colours
        ids = map_colours(img, decoder.colours)
        return img.size, png_bytes(ids), None, histogram(ids)
    low_bit = img.format == "PNG" and data[25:26] == b"\x00" and data[24] in (1, 2, 4)
    if img.mode in ("L", "P") and not low_bit:
        # 8-bit values: judged from PIL's histogram (C, no array pass); the pixels are mapped
        # only when some present value is not its own train id.
        hist = np.asarray(img.histogram()[:256], np.int64)
        lut = np.full(256, INVALID, np.int64)
        lut[:min(256, len(decoder.table))] = decoder.table[:256]
        present = np.flatnonzero(hist)
        _check_values(present, lut[present], decoder.table)
        counts = np.bincount(lut[present], weights=hist[present], minlength=256).astype(np.int64)
        plain = img.mode == "L" and _is_plain_gray8_png(data)
        if np.array_equal(lut[present], present):
            if plain:
                return img.size, data, None, counts
            ids = np.asarray(img)  # palette indices / gray values are the train ids
        else:
            ids = lut.astype(np.uint8)[np.asarray(img)]
    else:
        plain = False
        values = _stored_values(img, data)
        ids = _map_values(values, decoder.table)
        counts = histogram(ids)
    fix = None
    if decoder.report_mask_repairs and not plain:
        depth = "16-bit " if img.mode.startswith("I") else ""
        fix = (f"mask is {depth}{img.format or 'unknown'} {img.mode}, not an 8-bit "
               "single-channel PNG; re-encoded as one")
    return img.size, png_bytes(ids), fix, counts


def _check_values(values, mapped, table):
    """Raise MaskValueError naming the stored `values` whose `mapped` train id is INVALID."""
    bad = values[mapped == INVALID]
    if bad.size:
        classes = [v for v, t in enumerate(table) if 0 <= t != IGNORE_LABEL]
        raise MaskValueError(
            f"values {', '.join(str(int(v)) for v in bad[:10])}{' ...' if bad.size > 10 else ''}"
            f" are neither a class ({_ranges(classes)}) nor the ignore value")


def png_bytes(ids):
    """uint8 [H, W] -> PNG bytes (8-bit grayscale), deterministic.

    The PNG container around one zlib stream (level 1, every row with filter type 0): a
    label map is long runs of a few values, which deflate compresses well without PNG's row
    filters, and skipping PIL's per-row filter search makes this ~3x faster than
    `Image.save(format="PNG")` on such masks (the mask encode was the largest cost of a COCO
    sample). Decoders (PIL, tf.io.decode_png, libpng) read it as any other PNG.
    """
    ids = np.ascontiguousarray(ids, np.uint8)
    height, width = ids.shape
    rows = np.zeros((height, width + 1), np.uint8)  # column 0: the row's filter type, 0
    rows[:, 1:] = ids
    return (_PNG_SIGNATURE
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
            + _png_chunk(b"IEND", b""))


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def histogram(ids):
    """uint8 [H, W] -> int64 [256] pixel count per value (PIL's C histogram)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(ids, np.uint8)).histogram(), np.int64)
