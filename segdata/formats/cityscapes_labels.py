"""The official Cityscapes label table, as data.

Transcribed from cityscapesScripts, `cityscapesscripts/helpers/labels.py`
(https://github.com/mcordts/cityscapesScripts, Copyright (c) 2016 Marius Cordts et al.,
MIT License): the 35 entries in their order, with their name, id, trainId, category,
categoryId, hasInstances, ignoreInEval and color.

Not copied: the lane-line rows (ids 34..45, trainId 19) that one stored copy of that file
carries. They are not part of the released dataset (whose gtFine labelIds hold 0..33 and
whose benchmark has 19 train classes); here ids 34..255 are ignore, like every id that has no
train class.
"""

import collections

from segdata.formats.base import IGNORE_LABEL

Label = collections.namedtuple("Label", ["name", "id", "trainId", "category", "categoryId",
                                         "hasInstances", "ignoreInEval", "color"])

# name, id, trainId, category, categoryId, hasInstances, ignoreInEval, color
LABELS = tuple(Label(*row) for row in (
    ("unlabeled",             0, 255, "void",         0, False, True,  (0, 0, 0)),
    ("ego vehicle",           1, 255, "void",         0, False, True,  (0, 0, 0)),
    ("rectification border",  2, 255, "void",         0, False, True,  (0, 0, 0)),
    ("out of roi",            3, 255, "void",         0, False, True,  (0, 0, 0)),
    ("static",                4, 255, "void",         0, False, True,  (0, 0, 0)),
    ("dynamic",               5, 255, "void",         0, False, True,  (111, 74, 0)),
    ("ground",                6, 255, "void",         0, False, True,  (81, 0, 81)),
    ("road",                  7,   0, "flat",         1, False, False, (128, 64, 128)),
    ("sidewalk",              8,   1, "flat",         1, False, False, (244, 35, 232)),
    ("parking",               9, 255, "flat",         1, False, True,  (250, 170, 160)),
    ("rail track",           10, 255, "flat",         1, False, True,  (230, 150, 140)),
    ("building",             11,   2, "construction", 2, False, False, (70, 70, 70)),
    ("wall",                 12,   3, "construction", 2, False, False, (102, 102, 156)),
    ("fence",                13,   4, "construction", 2, False, False, (190, 153, 153)),
    ("guard rail",           14, 255, "construction", 2, False, True,  (180, 165, 180)),
    ("bridge",               15, 255, "construction", 2, False, True,  (150, 100, 100)),
    ("tunnel",               16, 255, "construction", 2, False, True,  (150, 120, 90)),
    ("pole",                 17,   5, "object",       3, False, False, (153, 153, 153)),
    ("polegroup",            18, 255, "object",       3, False, True,  (153, 153, 153)),
    ("traffic light",        19,   6, "object",       3, False, False, (250, 170, 30)),
    ("traffic sign",         20,   7, "object",       3, False, False, (220, 220, 0)),
    ("vegetation",           21,   8, "nature",       4, False, False, (107, 142, 35)),
    ("terrain",              22,   9, "nature",       4, False, False, (152, 251, 152)),
    ("sky",                  23,  10, "sky",          5, False, False, (70, 130, 180)),
    ("person",               24,  11, "human",        6, True,  False, (220, 20, 60)),
    ("rider",                25,  12, "human",        6, True,  False, (255, 0, 0)),
    ("car",                  26,  13, "vehicle",      7, True,  False, (0, 0, 142)),
    ("truck",                27,  14, "vehicle",      7, True,  False, (0, 0, 70)),
    ("bus",                  28,  15, "vehicle",      7, True,  False, (0, 60, 100)),
    ("caravan",              29, 255, "vehicle",      7, True,  True,  (0, 0, 90)),
    ("trailer",              30, 255, "vehicle",      7, True,  True,  (0, 0, 110)),
    ("train",                31,  16, "vehicle",      7, True,  False, (0, 80, 100)),
    ("motorcycle",           32,  17, "vehicle",      7, True,  False, (0, 0, 230)),
    ("bicycle",              33,  18, "vehicle",      7, True,  False, (119, 11, 32)),
    ("license plate",        -1,  -1, "vehicle",      7, False, True,  (0, 0, 142)),
))

NUM_TRAIN_CLASSES = 19


def train_labels():
    """The 19 train classes, Label per trainId 0..18 (the first label of each trainId)."""
    by_train = {}
    for label in LABELS:
        if 0 <= label.trainId < IGNORE_LABEL:
            by_train.setdefault(label.trainId, label)
    return [by_train[t] for t in range(NUM_TRAIN_CLASSES)]


def id_to_train_id_table(size=256):
    """tuple of `size` ints: labelId -> trainId, IGNORE_LABEL for every id without a train class
    (trainId 255 or -1, and ids the table does not define, 34..size-1)."""
    table = [IGNORE_LABEL] * size
    for label in LABELS:
        if 0 <= label.id < size and 0 <= label.trainId < IGNORE_LABEL:
            table[label.id] = label.trainId
    return tuple(table)
