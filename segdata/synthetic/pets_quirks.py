"""Plant the real Oxford-IIIT Pet archives' mess into a generated folder (see sample_data).

Each quirk goes on its own sample (or adds a junk file next to one), so tests can check each
outcome alone. `plant_quirks` returns {quirk: {"name", "file", "expect"}} where `expect` is
what the converter must do: "repaired", "skipped", "kept" (original bytes) or "ignored" (junk).
"""

import io

import numpy as np
from PIL import Image

# quirk -> expected converter outcome. Order matters only for picking samples deterministically.
QUIRKS = {
    "png_as_jpg": "repaired",       # PNG bytes in a .jpg file
    "gif_as_jpg": "repaired",       # palette GIF bytes in a .jpg file
    "cmyk": "repaired",             # CMYK JPEG
    "rgba": "repaired",             # RGBA image (PNG bytes, JPEG cannot hold alpha) named .jpg
    "grayscale": "repaired",        # single-channel JPEG
    "progressive": "kept",          # progressive RGB JPEG: valid, must keep its bytes
    "palette_trimap": "repaired",   # trimap stored as palette PNG (class in the index)
    "rgb_trimap": "repaired",       # trimap stored as RGB PNG with equal channels
    "truncated": "skipped",         # JPEG cut short
    "missing_trimap": "skipped",
    "undecodable_trimap": "skipped",
    "wrong_size_trimap": "skipped",  # trimap size differs from its image
    "bad_trimap_values": "skipped",  # values 0 and 7 besides 1..3
    "mat_file": "ignored",          # images/NAME.mat, as in the real images.tar.gz
    "appledouble": "ignored",       # annotations/trimaps/._NAME.png (macOS resource fork)
    "ds_store": "ignored",          # images/.DS_Store
}
_SAMPLE_QUIRKS = [q for q, e in QUIRKS.items() if e != "ignored"]
MIN_IMAGES = len(_SAMPLE_QUIRKS) + 2  # + clean samples on both sides of every split


def _encode(img, fmt, **kw):
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def _plant(quirk, image_path, trimap_path):
    """Rewrite one sample's files to carry `quirk`. Returns the path it concerns."""
    rgb = Image.open(image_path).convert("RGB")
    tri = np.asarray(Image.open(trimap_path))
    if quirk == "png_as_jpg":
        image_path.write_bytes(_encode(rgb, "PNG"))
    elif quirk == "gif_as_jpg":
        image_path.write_bytes(_encode(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"))
    elif quirk == "cmyk":
        image_path.write_bytes(_encode(rgb.convert("CMYK"), "JPEG", quality=90))
    elif quirk == "rgba":
        rgba = rgb.copy()
        rgba.putalpha(Image.fromarray(np.where(tri == 2, 128, 255).astype(np.uint8)))
        image_path.write_bytes(_encode(rgba, "PNG"))
    elif quirk == "grayscale":
        image_path.write_bytes(_encode(rgb.convert("L"), "JPEG", quality=90))
    elif quirk == "progressive":
        image_path.write_bytes(_encode(rgb, "JPEG", quality=90, progressive=True))
    elif quirk == "palette_trimap":
        pal = Image.frombytes("P", tri.shape[::-1], tri.tobytes())  # indices = values 1..3
        pal.putpalette([0, 0, 0, 255, 255, 255, 0, 0, 0, 128, 128, 128] + [0] * 756)
        trimap_path.write_bytes(_encode(pal, "PNG"))
    elif quirk == "rgb_trimap":
        trimap_path.write_bytes(_encode(Image.fromarray(np.stack([tri] * 3, -1)), "PNG"))
    elif quirk == "truncated":
        data = image_path.read_bytes()
        image_path.write_bytes(data[: len(data) * 3 // 5])
    elif quirk == "missing_trimap":
        trimap_path.unlink()
    elif quirk == "undecodable_trimap":
        trimap_path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    elif quirk == "wrong_size_trimap":
        h, w = tri.shape
        small = Image.fromarray(tri).resize((w - 7, h + 5), Image.NEAREST)
        trimap_path.write_bytes(_encode(small, "PNG"))
    elif quirk == "bad_trimap_values":
        bad = tri.copy()
        bad[0, :4] = 0
        bad[-1, -4:] = 7
        trimap_path.write_bytes(_encode(Image.fromarray(bad), "PNG"))
    else:
        raise ValueError(f"unknown quirk {quirk!r}")
    return trimap_path if "trimap" in quirk else image_path


def plant_quirks(root, names, rng):
    """Plant every quirk into the folder `root` (pathlib.Path) holding samples `names`."""
    chosen = rng.choice(len(names), size=len(_SAMPLE_QUIRKS), replace=False)
    planted = {}
    for quirk, idx in zip(_SAMPLE_QUIRKS, chosen):
        name = names[int(idx)]
        path = _plant(quirk, root / "images" / f"{name}.jpg",
                      root / "annotations" / "trimaps" / f"{name}.png")
        planted[quirk] = {"name": name, "file": str(path.relative_to(root)),
                          "expect": QUIRKS[quirk]}
    name = next(n for i, n in enumerate(names) if i not in set(chosen.tolist()))
    junk = {"mat_file": (f"images/{name}.mat", b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + bytes(90)),
            "appledouble": (f"annotations/trimaps/._{name}.png",
                            b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60)),
            "ds_store": ("images/.DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(40))}
    for quirk, (rel, data) in junk.items():
        (root / rel).write_bytes(data)
        planted[quirk] = {"name": name, "file": rel, "expect": QUIRKS[quirk]}
    return planted
