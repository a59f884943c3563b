"""CamVid, as the SegNet repository ships it and Datumaro's (CVAT's) `camvid` format writes it.

    DATA/train/*.png    DATA/trainannot/*.png      photos and masks (same relative path)
    DATA/val/           DATA/valannot/
    DATA/test/          DATA/testannot/
    DATA/label_colors.txt                          optional: `r g b name` a line
    DATA/train.txt, val.txt, test.txt              optional: `image mask` pairs a line

Masks are class ids (8-bit gray or palette PNGs) or colours (RGB PNGs, matched exactly against
label_colors.txt). With label_colors.txt its labels are the classes in Datumaro's value order
(the black label is value 0, segdata.formats.label_colours.datumaro_order; lines named like
ignore/void are 255). Without it, SegNet's 11 classes (Sky ... Bicyclist), value 11
("Unlabelled") is ignore. Pair lists name paths relative to DATA (Datumaro writes
`/train/a.png trainannot/a.png`; quoted paths may hold spaces); without a list, photos and
masks pair by relative path without extension. Ids may hold folders (`batch_a/img_00`).
Listed paths that do not exist under DATA as written (SegNet's lists hold
`/SegNet/CamVid/train/a.png`) are matched by their longest tail that does (`train/a.png`).
Split folders train/val/test become "train"/"validation"/"test".
"""

import posixpath

from segdata.formats import base, label_colours
from segdata.formats.listing import (
    clean_root,
    is_pair,
    list_tree,
    ordered_splits,
    read_pairs,
    split_name,
)
from segdata.io import fsio

SPLIT_FOLDERS = ("train", "val", "test")
SEGNET_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence",
                  "Car", "Pedestrian", "Bicyclist")
SEGNET_IGNORE = 11  # "Unlabelled"
LABEL_COLORS = "label_colors.txt"
PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def detect(root):
    """Does `root` hold a split folder and its annot/ folder (train/ + trainannot/)?"""
    root = clean_root(root)
    pairs = [s for s in SPLIT_FOLDERS if fsio.isdir(fsio.join(root, s))
             and fsio.isdir(fsio.join(root, f"{s}annot"))]
    halves = sum(fsio.isdir(fsio.join(root, d)) for s in SPLIT_FOLDERS for d in (s, f"{s}annot"))
    return base.Detection(matched=bool(pairs), score=2 * len(pairs) or halves,
                          missing="" if pairs else "train/ with trainannot/ (or val/ + valannot/,"
                                                   " test/ + testannot/)", root=root)


def _labels(root):
    """-> (classes, palette, value table, colour table, warnings)."""
    path = fsio.join(root, LABEL_COLORS)
    if not fsio.isfile(path):
        k = len(SEGNET_CLASSES)
        return (list(SEGNET_CLASSES), base.default_palette(k),
                base.identity_table(k, ignore_values=(SEGNET_IGNORE, base.IGNORE_LABEL)), (), [])
    names, colours = label_colours.datumaro_order(*label_colours.parse_label_colors(path),
                                                  black_first=True)
    classes, palette, colour_table, warnings = label_colours.resolve(path, names, colours,
                                                                         voc=False)
    table = [base.INVALID] * 256
    for value, (*_, train_id) in enumerate(colour_table):
        table[value] = train_id
    table[base.IGNORE_LABEL] = base.IGNORE_LABEL
    return classes, palette, tuple(table), colour_table, warnings


def _pairs_from_list(root, rel):
    """A pair list -> [(photo rel path, mask rel path)]; raises FormatError naming the line."""
    pairs = read_pairs(root, rel)
    for i, pair in enumerate(pairs):
        if not is_pair(pair):
            raise base.FormatError(f"{root}/{rel}: entry {i + 1} ({pair[0]!r}) is not an "
                                   f"'image mask' pair (two paths relative to {root})")
    return [tuple(_within(root, f) for f in pair) for pair in pairs]


def _within(root, listed):
    """A listed path relative to `root`. SegNet's lists name absolute paths of the machine
    they were made on (`/SegNet/CamVid/train/a.png`): the longest tail of the path that exists
    under `root` wins (`train/a.png`); a path with no such tail is kept, and reported missing."""
    parts = posixpath.normpath(listed.replace("\\", "/").lstrip("/")).split("/")
    for start in range(len(parts)):
        tail = "/".join(parts[start:])
        if fsio.isfile(fsio.join(root, *parts[start:])):
            return tail
    return "/".join(parts)


def _pairs_from_folders(root, split, ignored):
    photos, junk = list_tree(root, split)
    masks, mask_junk = list_tree(root, f"{split}annot")
    ignored.extend(junk + mask_junk)
    by_stem = {posixpath.splitext(m)[0]: m for m in masks if m.lower().endswith(".png")}
    ignored.extend(f"{split}annot/{m}" for m in masks if not m.lower().endswith(".png"))
    pairs, used = [], set()
    for photo in photos:
        stem, ext = posixpath.splitext(photo)
        if ext.lower() not in PHOTO_EXTENSIONS:
            ignored.append(f"{split}/{photo}")
            continue
        mask = by_stem.get(stem)
        used.add(stem)
        pairs.append((f"{split}/{photo}", f"{split}annot/{mask}" if mask else None))
    ignored.extend(f"{split}annot/{by_stem[s]}" for s in sorted(set(by_stem) - used))
    return pairs


def scan(root):
    """Scan a CamVid folder -> DatasetLayout ("camvid")."""
    root = clean_root(root)
    found = detect(root)
    if not found.matched:
        raise base.FormatError(f"{root} is not a CamVid folder: it lacks {found.missing}. "
                               "Arrange photos in train/ (val/, test/) and their masks in "
                               "trainannot/ (valannot/, testannot/) under the same names")
    classes, palette, table, colours, warnings = _labels(root)
    ignored, samples, splits, missing = [], {}, {}, []
    for split in SPLIT_FOLDERS:
        listed = f"{split}.txt"
        if fsio.isfile(fsio.join(root, listed)):
            pairs = _pairs_from_list(root, listed)
            for folder in (split, f"{split}annot"):  # junk beside the listed files
                ignored.extend(list_tree(root, folder)[1])
        elif fsio.isdir(fsio.join(root, split)):
            pairs = _pairs_from_folders(root, split, ignored)
        else:
            continue
        names = []
        for photo, mask in pairs:
            name = posixpath.splitext(photo.split("/", 1)[1] if "/" in photo else photo)[0]
            where = f"listed in {listed}" if fsio.isfile(fsio.join(root, listed)) else photo
            if name in samples:
                raise base.FormatError(f"{root}: {photo} and {samples[name].image_path} are one "
                                       f"sample name ({name}); remove or rename one")
            lacks = [p for p, ok in ((photo, fsio.isfile(fsio.join(root, *photo.split("/")))),
                                     (mask or f"{split}annot/{name}.png",
                                      mask and fsio.isfile(fsio.join(root, *mask.split("/")))))
                     if not ok]
            if lacks:
                missing.append({"name": name, "reason": f"{where}: {' and '.join(lacks)} "
                                                        f"{'are' if len(lacks) > 1 else 'is'} "
                                                        "missing"})
                continue
            samples[name] = base.Sample(name=name,
                                        image_path=fsio.join(root, *photo.split("/")),
                                        mask_path=fsio.join(root, *mask.split("/")),
                                        filename=posixpath.basename(photo))
            names.append(name)
        splits[split_name(listed)] = names
    return base.DatasetLayout(
        root=root, format="camvid", classes=classes, palette=palette,
        label_map={str(i): i for i in range(len(classes))},
        decoder=base.MaskDecoder(kind="values", num_classes=len(classes), table=table,
                                 colours=colours),
        samples=dict(sorted(samples.items())), splits=ordered_splits(splits), missing=missing,
        ignored=sorted(ignored), warnings=warnings)
