"""CamVid as the SegNet tutorial ships it (segdata.synthetic.camvid writes the layout as
Datumaro and CVAT export it): CamVid/{train,val,test}/*.png photos,
{train,val,test}annot/*.png 8-bit class ids (0 Sky ... 10 Bicyclist, 11 Unlabelled = ignore),
and {train,val,test}.txt lists of `/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png`
pairs (absolute paths of the machine the lists were made on, as in the real release).

Street scenes from `cityscapes.street_shapes` (sky, buildings, trees, road, pavement, cars,
pedestrians, a sign) plus the thin classes CamVid is known for: poles, a fence, a cyclist.
The truth is written here from SegNet's class order, not from segkit's reader.
"""

import numpy as np

from segdata.synthetic import cityscapes, common, scenes

CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
           "Pedestrian", "Bicyclist")
UNLABELLED = 11
# Cityscapes labelIds the street scenes draw -> SegNet class ids.
FROM_CITYSCAPES = {23: 0, 11: 1, 7: 3, 8: 4, 21: 5, 4: 6, 26: 8, 24: 9, 1: UNLABELLED}
SPLITS = {"train": "train", "val": "validation", "test": "test"}
QUIRKS = ("missing", "size", "value", "grayscale")


def _shapes(rng, h, w):
    """SegNet-labelled shapes, back to front: the street, then poles, a fence, a cyclist."""
    shapes = [scenes.Shape(FROM_CITYSCAPES[s.label], s.polygons, s.mask)
              for s in cityscapes.street_shapes(rng, h, w)]
    ego = shapes.pop()  # the bonnet stays in front of everything
    r = scenes.rectangle
    horizon = h * 0.45
    extra = []
    for _ in range(int(rng.integers(1, 3))):  # poles: a few pixels wide, most of the height
        x = w * rng.uniform(0.05, 0.95)
        extra.append((2, [r(x, h * rng.uniform(0.1, 0.25), x + max(2.0, w / 120), h * 0.75,
                            h, w)]))
    if rng.uniform() < 0.7:
        x0 = w * rng.uniform(0.0, 0.3)
        extra.append((7, [r(x0, horizon, x0 + w * 0.25, horizon + h * 0.08, h, w)]))
    if rng.uniform() < 0.6:
        cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.6, 0.75)
        extra.append((10, [scenes.ellipse(rng, cx, cy, w * 0.03, h * 0.08, h, w, theta=0)]))
    shapes += [scenes.Shape(label, polys, scenes.polygon_mask(polys, h, w))
               for label, polys in extra]
    return shapes + [ego]


def write_segnet_camvid(out, *, num_images, image_size, seed, quirks):
    """Write CamVid/ under `out`; returns the GeneratedDataset fields (root relative).

    Not one of `datasets.make_dataset`'s formats (its `camvid` is Datumaro's layout): the
    reader tests call it directly.
    """
    common.need_images("segnet camvid", num_images, len(QUIRKS) + 4 if quirks else 3, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    looks = scenes.class_looks(range(UNLABELLED + 1))
    root = out / "CamVid"
    names = [f"0001TP_{6690 + 30 * i:06d}" for i in range(num_images)]
    train, val, test = common.split_names(names, (0.6, 0.2, 0.2))
    truth, splits = {}, {}
    for split, listed in (("train", train), ("val", val), ("test", test)):
        for name in listed:
            shapes = _shapes(rng, h, w)
            image = scenes.render(rng, h, w, shapes, looks)
            values = scenes.paint(shapes, h, w, fill=UNLABELLED)
            common.write(root / split / f"{name}.png", common.encode(image, "PNG"))
            common.write(root / f"{split}annot" / f"{name}.png", common.encode(values, "PNG"))
            truth[name] = np.where(values == UNLABELLED, 255, values).astype(np.uint8)
        common.write(root / f"{split}.txt", "".join(
            f"/SegNet/CamVid/{split}/{n}.png /SegNet/CamVid/{split}annot/{n}.png\n"
            for n in listed))
        splits[SPLITS[split]] = list(listed)
    planted = {}
    if quirks:
        planted = common.plant_samples(QUIRKS, train, lambda n: root / "train" / f"{n}.png",
                                       lambda n: root / "trainannot" / f"{n}.png", bad=37)
    return dict(root="CamVid", classes=CLASSES, truth=common.keep_truth(truth, planted),
                splits=splits, quirks=planted)
