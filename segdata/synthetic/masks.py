"""The generic "images + masks" layout people make themselves: images/*.jpg (some .png),
masks/*.png single-channel train ids (8-bit, or 16-bit with mask_bits=16; 255 = ignore, e.g.
an object too ambiguous to label), classes.json {"classes", "ignore_label", "palette"},
splits/{train,val}.txt with CRLF line endings and a trailing space on some lines.
"""

import json

import numpy as np

from segdata.synthetic import common, scenes

CLASSES = ("background", "cat", "dog", "person", "car")
IGNORE = 255
QUIRKS = ("missing", "size", "value", "grayscale", "png_as_jpg")


def _image_name(i, name):
    return f"{name}.png" if i % 4 == 3 else f"{name}.jpg"


def write_masks(out, *, num_images, image_size, seed, quirks, mask_bits=8):
    """Write the images/masks layout into `out` (the root)."""
    common.need_images("masks", num_images, len(QUIRKS) + 3 if quirks else 2, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    labels = list(range(1, len(CLASSES)))
    looks = scenes.class_looks(labels)
    names = [f"img_{i:04d}" for i in range(num_images)]
    files = {n: _image_name(i, n) for i, n in enumerate(names)}
    dtype = np.uint16 if mask_bits == 16 else np.uint8
    truth = {}
    for i, name in enumerate(names):
        shapes = scenes.random_objects(rng, h, w, labels)
        image = scenes.render(rng, h, w, shapes, looks)
        ext = files[name].rsplit(".", 1)[1]
        common.write(out / "images" / files[name],
                     common.jpeg(image) if ext == "jpg" else common.encode(image, "PNG"))
        values = scenes.paint(shapes, h, w)
        # Now and then the smallest object is too ambiguous to label: ignore (keeping 2 classes).
        if i % 3 == 1 and len({s.label for s in shapes[:-1]}) >= 2:
            values[shapes[-1].mask] = IGNORE
        common.write(out / "masks" / f"{name}.png", common.encode(values.astype(dtype), "PNG"))
        truth[name] = values
    palette = common.voc_colormap(len(CLASSES))
    common.write(out / "classes.json", json.dumps(
        {"classes": list(CLASSES), "ignore_label": IGNORE, "palette": palette}, indent=2) + "\n")
    train, val = common.split_names(names, (2 / 3, 1 / 3))
    for split, listed in (("train", train), ("val", val)):
        # Hand-made lists: Windows line endings and stray trailing spaces.
        common.write(out / "splits" / f"{split}.txt",
                     "".join(f"{n}{' ' if k % 2 else ''}\r\n" for k, n in enumerate(listed)))
    planted = {}
    if quirks:
        kinds = list(QUIRKS)
        # png_as_jpg needs a .jpg photo: give it the first quirky .jpg sample after the others.
        picks = train[: len(kinds) - 1]
        picks.append(next(n for n in train[len(picks):] if files[n].endswith(".jpg")))
        planted = common.plant_samples(kinds, picks, lambda n: out / "images" / files[n],
                                       lambda n: out / "masks" / f"{n}.png", bad=37)
        planted.update(common.plant_junk(out, "images", "masks", train[-1]))
    return dict(root=".", classes=CLASSES, truth=common.keep_truth(truth, planted),
                splits={"train": train, "validation": val}, quirks=planted)
