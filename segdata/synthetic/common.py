"""Shared pieces of the layout generators: encoding, split lists, the VOC colour map, quirks.

Every writer here takes a pathlib.Path inside the temporary folder `make_dataset` renames into
place when complete, so readers never see a half-written dataset. Quirk planters rewrite one
sample's file and return the outcome a correct reader must report ("skipped: size", ...).
"""

import io
import pathlib

import numpy as np
from PIL import Image

JUNK = {  # file name -> bytes: what macOS and Windows leave in folders people zip up
    ".DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(40),
    "Thumbs.db": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(56),
}
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60)


def encode(img, fmt, **kw):
    """PIL image (or uint8/uint16 array) -> file bytes in `fmt` ("PNG", "JPEG")."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def jpeg(image):
    """uint8 [H, W, 3] -> JPEG bytes (quality 90, no EXIF or timestamps: same bytes every run)."""
    return encode(image, "JPEG", quality=90)


def write(path, data):
    """Write bytes or str to `path`, creating parent folders; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def voc_colormap(n=256):
    """The PASCAL VOC colour map: [[r, g, b], ...] for indices 0..n-1 (bit interleaving;
    0 is black, 255 is (224, 224, 192), the ignore band's colour)."""
    cmap = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap.append([r, g, b])
    return cmap


def palette_png(indices, palette):
    """uint8 [H, W] indices -> bytes of a mode "P" PNG with `palette` ([[r, g, b], ...])."""
    img = Image.fromarray(indices.astype(np.uint8))
    flat = [v for rgb in palette for v in rgb]
    img.putpalette(flat + [0] * (768 - len(flat)))
    return encode(img, "PNG")


def split_names(names, fractions):
    """Cut `names` (in order) into consecutive parts of about `fractions` of the total (the
    last part takes the rest); every part gets at least one name when there are enough."""
    n, parts, start = len(names), [], 0
    for i, frac in enumerate(fractions):
        left = len(fractions) - i - 1
        size = n - start if left == 0 else max(1, min(round(n * frac), n - start - left))
        parts.append(list(names[start:start + size]))
        start += size
    return parts


def need_images(fmt, num_images, minimum, quirks):
    if num_images < minimum:
        what = "quirks=True (one sample per quirk plus clean ones)" if quirks else "this layout"
        raise ValueError(f"format {fmt!r}: {what} needs num_images >= {minimum}, got {num_images}")


# --- quirk planters: each rewrites one file and returns the expected reader outcome --------

def drop_mask(path):
    pathlib.Path(path).unlink()
    return "skipped: missing mask"


def _resave(img, path, array):
    out = Image.fromarray(array)
    if img.mode == "P":
        out.putpalette(img.getpalette())
    pathlib.Path(path).write_bytes(encode(out, "PNG"))


def resize_mask(path):
    """Mask 7 px narrower and 5 px taller than its image (same mode and palette)."""
    img = Image.open(path)
    img.load()
    small = img.resize((img.width - 7, img.height + 5), Image.NEAREST)
    pathlib.Path(path).write_bytes(encode(small, "PNG"))
    return "skipped: size"


def bad_value(path, value):
    """Put `value` (neither a class nor ignore) in a 3x3 corner patch of a value mask."""
    img = Image.open(path)
    arr = np.array(img)
    arr[:3, :3] = value
    _resave(img, path, arr)
    return f"skipped: value {value}"


def bad_colour(path, rgb=(12, 34, 56)):
    """Put a colour no labelmap names in a 3x3 corner patch of an RGB colour mask."""
    img = Image.open(path)
    arr = np.array(img.convert("RGB"))
    arr[:3, :3] = rgb
    _resave(img, path, arr)
    return "skipped: colour ({}, {}, {})".format(*rgb)


def grayscale(path):
    """Re-encode a photo as single-channel (JPEG if named .jpg, else PNG)."""
    path = pathlib.Path(path)
    gray = Image.open(path).convert("L")
    path.write_bytes(encode(gray, "PNG" if path.suffix == ".png" else "JPEG", quality=90))
    return "repaired: grayscale"


def png_as_jpg(path):
    """Replace a .jpg photo's bytes by a PNG of the same pixels."""
    path = pathlib.Path(path)
    path.write_bytes(encode(Image.open(path).convert("RGB"), "PNG"))
    return "repaired: png as jpg"


def plant_junk(root, image_dir, mask_dir, name, mask_ext=".png"):
    """.DS_Store and Thumbs.db beside the photos, an AppleDouble ._NAME beside the masks.
    Returns {path relative to root: "ignored: junk"}."""
    root = pathlib.Path(root)
    planted = {}
    for rel, data in ((f"{image_dir}/.DS_Store", JUNK[".DS_Store"]),
                      (f"{image_dir}/Thumbs.db", JUNK["Thumbs.db"]),
                      (f"{mask_dir}/._{name}{mask_ext}", APPLEDOUBLE)):
        write(root / rel, data)
        planted[rel] = "ignored: junk"
    return planted


def plant_samples(kinds, names, image_path, mask_path, bad):
    """Plant quirk kinds[i] on names[i] ("missing", "size", "value" (`bad`), "colour",
    "grayscale", "png_as_jpg"); image_path(name) / mask_path(name) give its files.
    Returns {name: outcome}."""
    planted = {}
    for kind, name in zip(kinds, names):
        img, mask = image_path(name), mask_path(name)
        if kind == "missing":
            planted[name] = drop_mask(mask)
        elif kind == "size":
            planted[name] = resize_mask(mask)
        elif kind == "value":
            planted[name] = bad_value(mask, bad)
        elif kind == "colour":
            planted[name] = bad_colour(mask)
        elif kind == "grayscale":
            planted[name] = grayscale(img)
        else:
            planted[name] = png_as_jpg(img)
    return planted


def keep_truth(truth, planted):
    """Truth without the samples a correct reader skips."""
    return {n: m for n, m in truth.items() if not planted.get(n, "").startswith("skipped")}
