"""Cityscapes gtFine layout: leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png and
gtFine/{split}/{city}/..._gtFine_{labelIds,color,instanceIds,polygons}.{png,json}.

Street-like scenes: sky, buildings, vegetation, road, sidewalks, cars, people, a static object,
the ego vehicle's bonnet and an unlabelled kerb. labelIds are 8-bit official ids; truth is the
19 trainIds (others 255) through LABELS below, written from the official table (cityscapesScripts
helpers/labels.py), not from segkit's reader, so the two stay independent. The test split's
labels hold no classes (0 and the ego vehicle only), as in the real release.
"""

import json

import numpy as np

from segdata.synthetic import common, scenes

# (name, labelId, trainId, hasInstances, colour), ids 0..33 of the official table.
LABELS = (
    ("unlabeled", 0, 255, False, (0, 0, 0)), ("ego vehicle", 1, 255, False, (0, 0, 0)),
    ("rectification border", 2, 255, False, (0, 0, 0)), ("out of roi", 3, 255, False, (0, 0, 0)),
    ("static", 4, 255, False, (0, 0, 0)), ("dynamic", 5, 255, False, (111, 74, 0)),
    ("ground", 6, 255, False, (81, 0, 81)), ("road", 7, 0, False, (128, 64, 128)),
    ("sidewalk", 8, 1, False, (244, 35, 232)), ("parking", 9, 255, False, (250, 170, 160)),
    ("rail track", 10, 255, False, (230, 150, 140)), ("building", 11, 2, False, (70, 70, 70)),
    ("wall", 12, 3, False, (102, 102, 156)), ("fence", 13, 4, False, (190, 153, 153)),
    ("guard rail", 14, 255, False, (180, 165, 180)), ("bridge", 15, 255, False, (150, 100, 100)),
    ("tunnel", 16, 255, False, (150, 120, 90)), ("pole", 17, 5, False, (153, 153, 153)),
    ("polegroup", 18, 255, False, (153, 153, 153)), ("traffic light", 19, 6, False, (250, 170, 30)),
    ("traffic sign", 20, 7, False, (220, 220, 0)), ("vegetation", 21, 8, False, (107, 142, 35)),
    ("terrain", 22, 9, False, (152, 251, 152)), ("sky", 23, 10, False, (70, 130, 180)),
    ("person", 24, 11, True, (220, 20, 60)), ("rider", 25, 12, True, (255, 0, 0)),
    ("car", 26, 13, True, (0, 0, 142)), ("truck", 27, 14, True, (0, 0, 70)),
    ("bus", 28, 15, True, (0, 60, 100)), ("caravan", 29, 255, True, (0, 0, 90)),
    ("trailer", 30, 255, True, (0, 0, 110)), ("train", 31, 16, True, (0, 80, 100)),
    ("motorcycle", 32, 17, True, (0, 0, 230)), ("bicycle", 33, 18, True, (119, 11, 32)),
)
BY_ID = {lab[1]: lab for lab in LABELS}
TRAIN_CLASSES = tuple(lab[0] for lab in sorted((x for x in LABELS if x[2] != 255), key=lambda x: x[2]))
CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",), "test": ("berlin",)}
TFDS_SPLIT = {"train": "train", "val": "validation", "test": "test"}
DRAWN = (1, 4, 7, 8, 11, 21, 23, 24, 26)  # label ids the scenes use
# No "value" quirk: every labelId outside the official table is ignore, not an error.
QUIRKS = ("missing", "size", "grayscale")


def train_id_table():
    """uint8 [256]: labelId -> trainId (255 for ids that map to ignore or are not in the table)."""
    table = np.full(256, 255, np.uint8)
    for _, label_id, train_id, _, _ in LABELS:
        table[label_id] = train_id
    return table


def _shape(label, polys, h, w):
    return scenes.Shape(label, polys, scenes.polygon_mask(polys, h, w))


def street_shapes(rng, h, w, test=False):
    """Shapes in drawing order (stuff back to front, then cars and people by decreasing area)."""
    y0 = h * rng.uniform(0.35, 0.5)
    ego = _shape(1, [scenes.ellipse(rng, w / 2, h * 1.08, w * 0.7, h * 0.14, h, w, theta=0)], h, w)
    if test:
        return [ego]
    r = scenes.rectangle
    stuff = [_shape(23, [r(0, 0, w, y0, h, w)], h, w)]
    x = 0.0
    while x < w:
        bw = w * rng.uniform(0.15, 0.3)
        stuff.append(_shape(11, [r(x, h * rng.uniform(0.08, 0.3), x + bw, y0 + 2, h, w)], h, w))
        x += bw + w * rng.uniform(0.05, 0.2)
    for _ in range(int(rng.integers(1, 3))):
        stuff.append(_shape(21, [scenes.ellipse(rng, w * rng.uniform(0.1, 0.9), y0,
                                                w * 0.12, h * 0.12, h, w)], h, w))
    stuff += [_shape(7, [[0, h, w, h, w * 0.65, y0, w * 0.35, y0]], h, w),
              _shape(8, [[0, y0, w * 0.35, y0, 0, h * 0.8], [w, y0, w * 0.65, y0, w, h * 0.8]], h, w),
              _shape(4, [r(w * 0.02, y0 - h * 0.06, w * 0.1, y0 + h * 0.04, h, w)], h, w)]
    things = []
    for _ in range(int(rng.integers(1, 3))):
        cx, cy, cw = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.62, 0.8), w * rng.uniform(0.1, 0.16)
        things.append(_shape(26, [r(cx - cw, cy - cw * 0.6, cx + cw, cy + cw * 0.3, h, w)], h, w))
    for side in rng.permutation(2)[: int(rng.integers(1, 3))]:
        cx = w * (0.12 if side == 0 else 0.88) + rng.uniform(-4, 4)
        body = scenes.ellipse(rng, cx, h * 0.62, w * 0.025, h * 0.14, h, w, theta=0)
        things.append(_shape(24, [body], h, w))
    return stuff + sorted(things, key=lambda s: -s.area) + [ego]


def _write_sample(out, split, city, name, shapes, image):
    h, w = image.shape[:2]
    img_dir, gt_dir = out / "leftImg8bit" / split / city, out / "gtFine" / split / city
    common.write(img_dir / f"{name}_leftImg8bit.png", common.encode(image, "PNG"))
    label_ids = scenes.paint(shapes, h, w)
    counters = {}

    def instance_id(i, s):  # labelId * 1000 + k for classes with instances, else labelId
        if not BY_ID[s.label][3]:
            return s.label
        counters[s.label] = counters.get(s.label, -1) + 1
        return s.label * 1000 + counters[s.label]

    instances = scenes.paint(shapes, h, w, value=instance_id, dtype=np.uint16)
    colours = np.array([BY_ID.get(v, LABELS[0])[4] + (255,) for v in range(256)], np.uint8)
    common.write(gt_dir / f"{name}_gtFine_labelIds.png", common.encode(label_ids, "PNG"))
    common.write(gt_dir / f"{name}_gtFine_color.png", common.encode(colours[label_ids], "PNG"))
    common.write(gt_dir / f"{name}_gtFine_instanceIds.png", common.encode(instances, "PNG"))
    objects = [{"label": BY_ID[s.label][0],
                "polygon": [[int(round(p[i])), int(round(p[i + 1]))] for i in range(0, len(p), 2)]}
               for s in shapes for p in s.polygons]
    common.write(gt_dir / f"{name}_gtFine_polygons.json",
                 json.dumps({"imgHeight": h, "imgWidth": w, "objects": objects}, indent=4))
    return label_ids


def write_cityscapes(out, *, num_images, image_size, seed, quirks):
    """Write the Cityscapes layout into `out` (the root): train (2 cities), val, test."""
    common.need_images("cityscapes", num_images, len(QUIRKS) + 5 if quirks else 3, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    looks = scenes.class_looks(DRAWN)
    n_val, n_test = max(1, num_images // 4), max(1, num_images // 6)
    counts = {"train": num_images - n_val - n_test, "val": n_val, "test": n_test}
    table, truth, splits = train_id_table(), {}, {}
    for split, n in counts.items():
        cities = CITIES[split]
        names = [(cities[i % len(cities)], f"{cities[i % len(cities)]}_{i // len(cities):06d}_000019")
                 for i in range(n)]
        for city, name in sorted(names):
            shapes = street_shapes(rng, h, w, test=split == "test")
            image = scenes.render(rng, h, w, shapes, looks)
            truth[name] = table[_write_sample(out, split, city, name, shapes, image)]
        splits[TFDS_SPLIT[split]] = [name for _, name in sorted(names)]
    planted = {}
    if quirks:
        gt = lambda n: out / "gtFine" / "train" / n.split("_")[0] / f"{n}_gtFine_labelIds.png"
        img = lambda n: out / "leftImg8bit" / "train" / n.split("_")[0] / f"{n}_leftImg8bit.png"
        names = splits["train"]
        planted = common.plant_samples(QUIRKS, names, img, gt, bad=200)
        last = names[-1]
        planted.update(common.plant_junk(out, "leftImg8bit/train", f"gtFine/train/{last.split('_')[0]}",
                                         f"{last}_gtFine_labelIds"))
    return dict(root=".", classes=TRAIN_CLASSES, truth=common.keep_truth(truth, planted),
                splits=splits, quirks=planted)
