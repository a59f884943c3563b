"""PASCAL VOC 2012 segmentation, and CVAT's "Segmentation mask 1.1" export (same folders).

    VOC2012/JPEGImages/*.jpg                   photos (also the detection-only ones)
    VOC2012/SegmentationClass/*.png            palette PNGs: the palette *index* is the class,
                                               255 marks object boundaries (ignore)
    VOC2012/ImageSets/Segmentation/train.txt, val.txt, trainval.txt (test.txt in the test tar)
    VOC2012/SegmentationObject/                instance masks: not read

`root` may be VOC2012 or the VOCdevkit folder above it. Splits: train.txt -> "train", val.txt
-> "validation", test.txt -> "test"; trainval.txt is their union and is read (as "train") only
when neither train.txt nor val.txt exists. Photos no segmentation list names (VOC's
detection-only photos) are not samples; they are counted in `unlisted`.

CVAT / Datumaro (labelmap.txt present): `labelmap.txt` lines `name:r,g,b:parts:actions` give
the classes in order and their colours (segdata.formats.label_colours: a line without a colour
takes the VOC colour map entry of its index, a line named ignore/void or holding VOC's boundary
colour is the ignore value); SegmentationClass/*.png are RGB colour masks, matched exactly;
photos in JPEGImages/ may have any common image extension; ImageSets/Segmentation/default.txt
-> "train". Ids may hold folders (`batch_a/img_00`: JPEGImages/batch_a/img_00.jpg), as CVAT
writes them for a task whose images sit in folders. A plain VOC mask re-saved as RGB in the
VOC colours is read through the VOC palette.
"""

import os

from segdata.formats import base, label_colours
from segdata.formats.listing import (
    clean_root,
    list_folder,
    list_tree,
    ordered_splits,
    read_names,
    split_name,
    unique,
)
from segdata.io import fsio

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
CVAT_PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
LISTS = "ImageSets/Segmentation"


def _inner_root(root):
    """root, root/VOC2012 or root/VOCdevkit/VOC2012: the first holding JPEGImages/ or
    SegmentationClass/ (root when none does)."""
    for cand in (root, fsio.join(root, "VOC2012"), fsio.join(root, "VOCdevkit", "VOC2012")):
        if any(fsio.isdir(fsio.join(cand, d)) for d in ("JPEGImages", "SegmentationClass")):
            return cand
    return root


def detect(root):
    """Does `root` (or its VOC2012 / VOCdevkit/VOC2012) hold VOC or a CVAT mask export?

    Markers: JPEGImages/, SegmentationClass/, and ImageSets/Segmentation/ (VOC) or
    labelmap.txt (CVAT). Detection.root is the folder holding them.
    """
    inner = _inner_root(clean_root(root))
    cvat = fsio.isfile(fsio.join(inner, "labelmap.txt"))
    marks = (("JPEGImages/" + (" (export from CVAT with 'Save images')" if cvat else ""),
              fsio.isdir(fsio.join(inner, "JPEGImages"))),
             ("SegmentationClass/", fsio.isdir(fsio.join(inner, "SegmentationClass"))),
             ("ImageSets/Segmentation/ (or a CVAT labelmap.txt)",
              cvat or fsio.isdir(fsio.join(inner, *LISTS.split("/")))))
    missing = [what for what, ok in marks if not ok]
    return base.Detection(matched=not missing, score=sum(ok for _, ok in marks) + cvat,
                          missing=", ".join(missing), root=inner)


def parse_labelmap(path):
    """CVAT labelmap.txt -> (label names, [(r, g, b) or None]) in file order.

    Lines are `name:r,g,b:parts:actions` (colour, parts and actions may be empty: Datumaro
    writes `background:::` when no colour was set); `#` lines are comments. Raises FormatError
    naming file and line for a malformed line, a repeated name or colour, or no label.
    """
    names, colours, where = [], [], {}
    for lineno, line in enumerate(label_colours.read_text(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) > 4:  # a name holding ':' keeps it: the last three are colour, parts, actions
            fields = [":".join(fields[:-3])] + fields[-3:]
        name, colour = (fields + [""])[:2]
        try:
            if not name.strip():
                raise ValueError(line)
            rgb = label_colours.parse_rgb(colour) if colour.strip() else None
        except ValueError:
            raise base.FormatError(
                f"{path}:{lineno}: expected 'name:r,g,b:parts:actions' with r, g, b in 0..255, "
                f"got {line!r}; fix this line (CVAT writes e.g. 'background:0,0,0::')") from None
        for key, what in ((name, "name"), (rgb, "colour")):
            if key in where:
                raise base.FormatError(f"{path}:{lineno}: {what} {key} is already on line "
                                       f"{where[key]}; every label needs its own name and colour")
            if key is not None:
                where[key] = lineno
        names.append(name)
        colours.append(rgb)
    if not names:
        raise base.FormatError(f"{path} names no label; export the task again from CVAT")
    return names, colours


def voc_colours():
    """VOC's (r, g, b, train id) table: a mask re-saved as RGB in exactly the VOC colours
    reads through the VOC palette (the boundary colour 224,224,192 is ignore)."""
    colours = tuple((*c, i) for i, c in enumerate(base.default_palette(len(VOC_CLASSES))))
    return colours + ((*label_colours.VOC_BOUNDARY, base.IGNORE_LABEL),)


def _photos(root, cvat, ignored):
    """JPEGImages/ (sub-folders included) -> {id: path relative to JPEGImages/}: .jpg for VOC,
    common image extensions for CVAT; an id keeps its folders ("batch_a/img_00")."""
    files, junk = list_tree(root, "JPEGImages")
    ignored.extend(junk)
    photos = {}
    for name in files:
        stem, ext = os.path.splitext(name)
        if ext.lower() not in (CVAT_PHOTO_EXTENSIONS if cvat else (".jpg",)):
            ignored.append(f"JPEGImages/{name}")
        elif stem in photos:
            raise base.FormatError(f"{root}: JPEGImages/{photos[stem]} and JPEGImages/{name} have "
                                   "the same stem (one sample name); remove or rename one")
        else:
            photos[stem] = name
    return photos


def _lists(root, ignored):
    """ImageSets/Segmentation/*.txt -> ({split: [name]}, {name: first list path})."""
    files, _, junk = list_folder(root, LISTS)
    ignored.extend(junk)
    txt = [f for f in files if f.endswith(".txt")]
    ignored.extend(f"{LISTS}/{f}" for f in files if not f.endswith(".txt"))
    if "train.txt" in txt or "val.txt" in txt:
        txt = [f for f in txt if f != "trainval.txt"]  # their union, not a split of its own
    splits, listed = {}, {}
    for fname in txt:
        rel = f"{LISTS}/{fname}"
        split = "train" if fname in ("trainval.txt", "default.txt") else split_name(rel)
        names = read_names(root, rel)
        for name in names:
            listed.setdefault(name, rel)
        splits[split] = unique(splits.get(split, []) + names)
    return ordered_splits(splits), listed


def scan(root):
    """Scan a VOC2012 (or VOCdevkit) folder or a CVAT mask export -> DatasetLayout ("voc")."""
    given = clean_root(root)
    root = _inner_root(given)
    found = detect(root)
    if not found.matched:
        raise base.FormatError(
            f"{given} is not a PASCAL VOC folder: it lacks {found.missing}. Pass the VOC2012 "
            "folder (or VOCdevkit above it) of VOCtrainval_11-May-2012.tar, or a CVAT "
            "'Segmentation mask 1.1' export (JPEGImages/, SegmentationClass/, labelmap.txt)")
    cvat = fsio.isfile(fsio.join(root, "labelmap.txt"))
    warnings = []
    if cvat:
        path = fsio.join(root, "labelmap.txt")
        classes, palette, table, warnings = label_colours.resolve(path, *parse_labelmap(path))
        decoder = base.MaskDecoder(kind="colour", num_classes=len(classes), colours=table)
    else:
        classes = list(VOC_CLASSES)
        palette = base.default_palette(len(classes))
        decoder = base.MaskDecoder(kind="values", num_classes=len(classes),
                                   table=base.identity_table(len(classes)),
                                   colours=voc_colours())
    ignored = []
    photos = _photos(root, cvat, ignored)
    files, junk = list_tree(root, "SegmentationClass")
    ignored.extend(junk)
    masks = {f[:-4] for f in files if f.lower().endswith(".png")}
    ignored.extend(f"SegmentationClass/{f}" for f in files if not f.lower().endswith(".png"))
    splits, listed = _lists(root, ignored)
    if not splits:  # no lists: every photo with a mask is a sample, and there is no split
        listed = {n: None for n in photos if n in masks or cvat}
    photo_rule = f".jpg (or {', '.join(CVAT_PHOTO_EXTENSIONS[1:])})" if cvat else ".jpg"
    samples, missing = {}, []
    for name, rel in listed.items():
        lacks = ([] if name in photos else [f"JPEGImages/{name}{photo_rule}"]) + \
                ([] if name in masks else [f"SegmentationClass/{name}.png"])
        if lacks:
            where = f"listed in {rel}" if rel else f"JPEGImages/{photos[name]} is there"
            missing.append({"name": name, "reason": f"{where} but {' and '.join(lacks)} "
                                                    f"{'are' if len(lacks) > 1 else 'is'} missing"})
        else:
            samples[name] = base.Sample(
                name=name, image_path=fsio.join(root, "JPEGImages", *photos[name].split("/")),
                mask_path=fsio.join(root, "SegmentationClass", *f"{name}.png".split("/")),
                filename=photos[name])
    # A mask with neither a photo nor a list entry is no sample; say so rather than drop it.
    ignored.extend(f"SegmentationClass/{n}.png" for n in sorted(masks - set(photos) - set(listed)))
    return base.DatasetLayout(
        root=root, format="voc", classes=classes, palette=palette,
        label_map={str(i): i for i in range(len(classes))}, decoder=decoder,
        samples=dict(sorted(samples.items())),
        splits={s: [n for n in names if n in samples] for s, names in splits.items()},
        missing=missing, ignored=sorted(ignored),
        unlisted=sorted(set(photos) - set(listed)), warnings=warnings)
