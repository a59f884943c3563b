"""CamVid as Datumaro (CVAT) writes it: train/ + trainannot/, val/ + valannot/, JPEG photos,
RGB colour masks in the colours of label_colors.txt (`r g b name`, the black label first), and
train.txt / val.txt lists of `/train/NAME.jpg trainannot/NAME.png` pairs.

Road is the ground every scene stands on; two labels have close colours ((250, 50, 83) and
(250, 50, 86), as CVAT users get); the black `Void` line is the ignore value (the top rows,
like CamVid's unlabelled border). Some masks are named differently from their photos
(`NAME_L.png`, the original CamVid naming), which only the pair lists connect.
"""

import numpy as np

from segdata.synthetic import common, scenes

LABELS = (("Void", (0, 0, 0)), ("Road", (128, 64, 128)), ("Sky", (128, 128, 128)),
          ("Car", (250, 50, 83)), ("Pedestrian", (250, 50, 86)))
CLASSES = tuple(name for name, _ in LABELS[1:])  # Void (black, first) is ignore
QUIRKS = ("missing", "size", "colour", "grayscale", "png_as_jpg")
VOID_ROWS = 3


def write_camvid(out, *, num_images, image_size, seed, quirks):
    """Write the CamVid layout into `out` (the root)."""
    common.need_images("camvid", num_images, len(QUIRKS) + 3 if quirks else 2, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    labels = list(range(2, len(LABELS)))  # objects: Sky, Car, Pedestrian on Road
    looks = scenes.class_looks(labels)
    colours = np.array([rgb for _, rgb in LABELS], np.uint8)
    names = [f"seq01_{i:04d}" for i in range(num_images)]
    train, val = common.split_names(names, (2 / 3, 1 / 3))
    split_of = {n: s for s, listed in (("train", train), ("val", val)) for n in listed}
    mask_file = {n: f"{n}_L.png" if i % 3 == 2 else f"{n}.png" for i, n in enumerate(names)}
    truth = {}
    for name in names:
        split = split_of[name]
        shapes = scenes.random_objects(rng, h, w, labels)
        image = scenes.render(rng, h, w, shapes, looks)
        common.write(out / split / f"{name}.jpg", common.jpeg(image))
        values = scenes.paint(shapes, h, w, fill=1)  # label indices, Road where no object is
        values[:VOID_ROWS] = 0
        common.write(out / f"{split}annot" / mask_file[name],
                     common.encode(colours[values], "PNG"))
        truth[name] = np.where(values == 0, 255, values - 1).astype(np.uint8)
    common.write(out / "label_colors.txt",
                 "".join(f"{r} {g} {b} {name}\n" for name, (r, g, b) in LABELS))
    for split, listed in (("train", train), ("val", val)):
        common.write(out / f"{split}.txt", "".join(
            f"/{split}/{n}.jpg {split}annot/{mask_file[n]}\n" for n in listed))
    planted = {}
    if quirks:
        picks = train[:len(QUIRKS)]
        planted = common.plant_samples(
            QUIRKS, picks, lambda n: out / split_of[n] / f"{n}.jpg",
            lambda n: out / f"{split_of[n]}annot" / mask_file[n], bad=None)
        planted.update(common.plant_junk(out, "train", "trainannot", train[-1]))
    return dict(root=".", classes=CLASSES, truth=common.keep_truth(truth, planted),
                splits={"train": train, "validation": val}, quirks=planted)
