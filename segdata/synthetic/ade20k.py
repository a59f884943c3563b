"""ADE20K SceneParsing layout (ADEChallengeData2016): images/{training,validation}/*.jpg,
annotations/{training,validation}/*.png (8-bit: 0 = "other", v = class v-1 for v in 1..150),
objectInfo150.csv (Idx,Ratio,Train,Val,Name; Name lists synonyms separated by ';') and
sceneCategories.txt ("NAME scene" per image). Truth: 0 -> 255, v -> v - 1.
"""

import numpy as np

from segdata.synthetic import common, scenes
from segdata.synthetic.ade20k_names import NAMES


def _unique_first_names(names):
    """First name before ';' of each row; a repeated one ("screen", rows 59 and 131) gets its
    1-based row number, so class names stay unique."""
    out = []
    for idx, name in enumerate(names, 1):
        first = name.split(";")[0]
        out.append(first if first not in out else f"{first}_{idx}")
    return tuple(out)


CLASSES = _unique_first_names(NAMES)
TOP = (1, 2, 3)          # wall, building, sky: the upper part of a scene
BOTTOM = (4, 7, 10)      # floor, road, grass: the lower part
THINGS = (5, 8, 13, 20, 21)  # tree, bed, person, chair, car
QUIRKS = ("missing", "size", "value", "grayscale", "png_as_jpg")
SPLITS = (("training", "train", "ADE_train"), ("validation", "validation", "ADE_val"))


def object_info():
    """objectInfo150.csv text: the real names, made-up but plausible pixel ratios and counts."""
    rows = ["Idx,Ratio,Train,Val,Name"]
    for i, name in enumerate(NAMES, 1):
        ratio = 0.16 / i ** 1.1
        rows.append(f"{i},{ratio:.4f},{int(12000 / i ** 0.6)},{int(1200 / i ** 0.6)},{name}")
    return "\n".join(rows) + "\n"


def room_shapes(rng, h, w):
    """Shapes in drawing order: lower part, upper part above a tilted horizon, "other"
    patches (value 0), then objects by decreasing area. Returns (shapes, scene name)."""
    top, bottom = int(rng.choice(TOP)), int(rng.choice(BOTTOM))
    y0, y1 = h * rng.uniform(0.35, 0.6, size=2)
    shapes = [scenes.Shape(bottom, [], np.ones((h, w), bool))]
    poly = [0, 0, w, 0, w, round(y1, 1), 0, round(y0, 1)]
    shapes.append(scenes.Shape(top, [poly], scenes.polygon_mask([poly], h, w)))
    for _ in range(int(rng.integers(1, 3))):
        x, y = w * rng.uniform(0, 0.9), h * rng.uniform(0, 0.9)
        rect = scenes.rectangle(x, y, x + w * 0.08, y + h * 0.06, h, w)
        shapes.append(scenes.Shape(0, [rect], scenes.polygon_mask([rect], h, w)))
    shapes += scenes.random_objects(rng, h, w, THINGS, count=(2, 4))
    scene = {1: "living_room", 2: "street", 3: "field"}[top]
    return shapes, scene


def write_ade20k(out, *, num_images, image_size, seed, quirks):
    """Write ADEChallengeData2016/ under `out`."""
    common.need_images("ade20k", num_images, len(QUIRKS) + 3 if quirks else 2, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    base = out / "ADEChallengeData2016"
    looks = scenes.class_looks((0,) + TOP + BOTTOM + THINGS)
    to_train = np.arange(256, dtype=np.int32) - 1
    to_train[0] = 255
    to_train[151:] = 255  # never stored by the generator except as a planted quirk
    to_train = to_train.astype(np.uint8)
    counts = common.split_names(list(range(num_images)), (0.75, 0.25))
    truth, splits, scene_lines = {}, {}, []
    for (folder, split, prefix), part in zip(SPLITS, counts):
        names = [f"{prefix}_{i + 1:08d}" for i in range(len(part))]
        for name in names:
            shapes, scene = room_shapes(rng, h, w)
            image = scenes.render(rng, h, w, shapes, looks)
            values = scenes.paint(shapes, h, w)
            common.write(base / "images" / folder / f"{name}.jpg", common.jpeg(image))
            common.write(base / "annotations" / folder / f"{name}.png", common.encode(values, "PNG"))
            truth[name] = to_train[values]
            scene_lines.append(f"{name} {scene}\n")
        splits[split] = names
    common.write(base / "objectInfo150.csv", object_info())
    common.write(base / "sceneCategories.txt", "".join(scene_lines))
    planted = {}
    if quirks:
        train = splits["train"]
        planted = common.plant_samples(
            QUIRKS, train, lambda n: base / "images" / "training" / f"{n}.jpg",
            lambda n: base / "annotations" / "training" / f"{n}.png", bad=200)
        planted.update(common.plant_junk(base, "images/training", "annotations/training", train[-1]))
    return dict(root="ADEChallengeData2016", classes=CLASSES,
                truth=common.keep_truth(truth, planted), splits=splits, quirks=planted)
