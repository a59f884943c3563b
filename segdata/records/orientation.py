"""EXIF orientation: which way up a photo was labelled, and its pixels turned to match.

Phones store a portrait photo as landscape pixels plus an EXIF Orientation tag (2..8) that
viewers apply. TensorFlow, PIL and TFDS decode the stored pixels and ignore the tag, but CVAT
(since 2.1), Label Studio and every browser show the photo turned, so a mask drawn there is the
photo *as displayed*: 3024x4032 for a 4032x3024 JPEG tagged 6. Kept as stored, such a sample has
a mask of the wrong size (skipped) or, for a 180-degree turn or a mirror (tags 2-4) or a square
photo, a mask that silently lies upside down on the pixels.

The annotation's size decides, per photo (mode "auto"):
  - it fits the displayed photo only: the labeller saw it turned; the stored pixels are turned
    the same way (`upright`, re-encoded) and the sample is listed as repaired;
  - it fits the stored pixels only: the labeller saw them as stored (segkit label, older tools);
    kept as stored;
  - it fits both (tags 2-4, square photos) or the size is unknown: kept as stored and counted as
    ambiguous, with a warning naming `--exif-orientation apply`.
"apply" turns every tagged photo, "ignore" never reads the tag (TensorFlow's own view).
"""

import io
import os

from PIL import Image, ImageOps

MODES = ("auto", "apply", "ignore")
ORIENTATION_TAG = 0x0112
TRANSPOSING = (5, 6, 7, 8)  # tags that swap width and height
# What viewers do to the stored pixels for each tag (EXIF 2.32, 4.6.4 A "Orientation").
TURNS = {2: "mirrored left-right", 3: "turned 180 degrees", 4: "mirrored top-bottom",
         5: "mirrored and turned", 6: "turned 90 degrees clockwise", 7: "mirrored and turned",
         8: "turned 90 degrees counter-clockwise"}


def tag_of(img):
    """An opened PIL image's EXIF Orientation (int 1..8); 1 when absent, unreadable or
    invalid."""
    try:
        tag = img.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the photo
        return 1
    return tag if isinstance(tag, int) and 1 <= tag <= 8 else 1


def displayed_size(size, tag):
    """(width, height) of stored pixels `size` as viewers show them under `tag`."""
    return (size[1], size[0]) if tag in TRANSPOSING else tuple(size)


def decide(tag, size, annotation_size, mode):
    """-> "apply" (turn the pixels), "keep" (as stored) or "ambiguous" (kept, counted).

    tag: EXIF Orientation; size: (width, height) stored; annotation_size: (width, height) of
    the mask or of the annotation file's image entry, None when it gives none."""
    if tag == 1 or mode == "ignore":
        return "keep"
    if mode == "apply":
        return "apply"
    shown = displayed_size(size, tag)
    if annotation_size is None or shown == tuple(size):
        return "ambiguous"
    if tuple(annotation_size) == shown:
        return "apply"
    return "keep"


def upright(data, filename, tag, quality):
    """Photo bytes -> (bytes, "jpeg" | "png", (width, height), repair note): the pixels as
    viewers show them (PIL's `ImageOps.exif_transpose`), re-encoded without the tag (PNG for a
    .png name, else JPEG at `quality`)."""
    with Image.open(io.BytesIO(data)) as img:
        turned = ImageOps.exif_transpose(img).convert("RGB")
    out = io.BytesIO()
    if os.path.splitext(filename)[1].lower() == ".png":
        turned.save(out, format="PNG")
        fmt = "png"
    else:  # fixed settings: same input -> same bytes in every process
        turned.save(out, format="JPEG", quality=quality, subsampling=0, optimize=False)
        fmt = "jpeg"
    note = (f"image has EXIF orientation {tag} ({TURNS[tag]} when shown) and its annotation "
            f"was drawn on it as shown: stored turned the same way, {turned.width}x"
            f"{turned.height}, re-encoded as {fmt.upper()}")
    return out.getvalue(), fmt, turned.size, note


def report(mode, stats):
    """-> (the manifest's "exif_orientation" entry, [warning]) from a build's summed stats
    ("exif_apply" / "exif_keep" / "exif_ambiguous": kept photos with a tag, by decision);
    ({}, []) when no kept photo had a tag."""
    turned, kept, ambiguous = (stats.get(f"exif_{k}", 0) for k in ("apply", "keep", "ambiguous"))
    if not turned + kept + ambiguous:
        return {}, []
    entry = {"mode": mode, "turned": turned, "kept_as_stored": kept, "ambiguous": ambiguous}
    warnings = []
    if ambiguous:
        warnings.append(
            f"{ambiguous} photo(s) carry an EXIF orientation their annotation's size cannot "
            "confirm (a 180-degree turn or a mirror, or a square photo): kept as stored, as "
            "TensorFlow, PIL and segkit label see them; pass --exif-orientation apply if the "
            "labelling tool showed them turned (CVAT, Label Studio and browsers do)")
    return entry, warnings
