"""Cityscapes fine annotations: `leftImg8bit/` photos with `gtFine/` labelIds masks.

    DATA/leftImg8bit/{train,val,test}/CITY/CITY_SEQ_FRAME_leftImg8bit.png
    DATA/gtFine/{train,val,test}/CITY/CITY_SEQ_FRAME_gtFine_labelIds.png   (the masks read)
    DATA/gtFine/.../*_gtFine_color.png, _instanceIds.png, _labelTrainIds.png, _polygons.json
                                                                         (not read)

(leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip extracted side by side.) Split
folders train/val/test become "train"/"validation"/"test". labelIds become the 19 official
trainIds of cityscapesScripts' table (segdata.formats.cityscapes_labels); every other id is
ignore (255). Sample names are the photo stems without `_leftImg8bit`
("aachen_000000_000019"), unique across the whole dataset.

CVAT's and Datumaro's "Cityscapes 1.0" exports add `label_colors.txt` (`r g b name` a line):
when it names labels the official table lacks, those are the classes (labelIds in line order
as Datumaro numbers them, lines named like ignore/void are 255, segdata.formats.label_colours);
photos may then sit directly in leftImg8bit/{split}/ (no city folder).
"""

from segdata.formats import base, cityscapes_labels, label_colours
from segdata.formats.listing import clean_root, list_folder
from segdata.io import fsio

SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}
PHOTO_SUFFIX = "_leftImg8bit.png"
MASK_SUFFIX = "_gtFine_labelIds.png"
# gtFine's other files: known, not masks, not junk; they are not read and not reported.
LABEL_COLORS = "label_colors.txt"  # CVAT / Datumaro exports: `r g b name`, line i = labelId i
OTHER_GT_SUFFIXES = ("_gtFine_color.png", "_gtFine_instanceIds.png", "_gtFine_labelTrainIds.png",
                     "_gtFine_polygons.json")


def detect(root):
    """Does `root` hold leftImg8bit/ and gtFine/? -> Detection."""
    root = clean_root(root)
    marks = (("leftImg8bit/", fsio.isdir(fsio.join(root, "leftImg8bit"))),
             ("gtFine/", fsio.isdir(fsio.join(root, "gtFine"))))
    missing = [what for what, ok in marks if not ok]
    return base.Detection(matched=not missing, score=sum(ok for _, ok in marks),
                          missing=", ".join(missing), root=root)


def _city(root, split, city, ignored, files=None):
    """One city folder -> ([(name, photo file)], set of names with a labelIds mask). city ""
    is the split folder itself (Datumaro writes photos there when ids have no folder)."""
    photo_dir = f"leftImg8bit/{split}/{city}".rstrip("/")
    gt_dir = f"gtFine/{split}/{city}".rstrip("/")
    if files is None:
        files, _, junk = list_folder(root, photo_dir)
        ignored.extend(junk)
    photos = []
    for f in files:
        if f.endswith(PHOTO_SUFFIX):
            photos.append((f[:-len(PHOTO_SUFFIX)], f))
        else:
            ignored.append(f"{photo_dir}/{f}")
    gt_files, _, gt_junk = list_folder(root, gt_dir)
    ignored.extend(gt_junk)
    masks = {f[:-len(MASK_SUFFIX)] for f in gt_files if f.endswith(MASK_SUFFIX)}
    ignored.extend(f"{gt_dir}/{f}" for f in gt_files
                   if not f.endswith(MASK_SUFFIX) and not f.endswith(OTHER_GT_SUFFIXES))
    return photos, masks


def scan(root):
    """Scan a Cityscapes folder -> DatasetLayout ("cityscapes"), one split per split folder."""
    root = clean_root(root)
    found = detect(root)
    if not found.matched:
        raise base.FormatError(
            f"{root} is not a Cityscapes folder: it lacks {found.missing}. Extract "
            "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip into one folder (it then "
            "holds leftImg8bit/{train,val,test}/CITY/ and gtFine/{train,val,test}/CITY/) and pass it")
    ignored, samples, splits, missing, where = [], {}, {}, [], {}
    files, split_dirs, junk = list_folder(root, "leftImg8bit")
    ignored.extend(junk + [f"leftImg8bit/{f}" for f in files])
    for split in split_dirs:
        if split not in SPLIT_FOLDERS:  # e.g. train_extra (coarse annotations only)
            ignored.append(f"leftImg8bit/{split}/")
            continue
        files, cities, junk = list_folder(root, f"leftImg8bit/{split}")
        ignored.extend(junk)
        names = []
        for city in ([""] if files else []) + cities:
            photos, masks = _city(root, split, city, ignored, files if city == "" else None)
            where_city = f"{city}/" if city else ""
            for name, photo in photos:
                rel = f"leftImg8bit/{split}/{where_city}{photo}"
                if name in where:
                    raise base.FormatError(f"{root}: {where[name]} and {rel} are one sample name "
                                           f"({name}); remove the copy")
                where[name] = rel
                if name not in masks:
                    missing.append({"name": name, "reason": f"{rel} has no mask gtFine/{split}/"
                                                            f"{where_city}{name}{MASK_SUFFIX}"})
                    continue
                names.append(name)
                samples[name] = base.Sample(
                    name=name,
                    image_path=fsio.join(root, "leftImg8bit", split, *filter(None, [city]), photo),
                    mask_path=fsio.join(root, "gtFine", split, *filter(None, [city]),
                                        name + MASK_SUFFIX),
                    filename=photo)
            missing += [{"name": n, "reason": f"gtFine/{split}/{where_city}{n}{MASK_SUFFIX} has "
                                              f"no photo leftImg8bit/{split}/{where_city}{n}"
                                              f"{PHOTO_SUFFIX}"}
                        for n in sorted(masks - {n for n, _ in photos})]
        splits[SPLIT_FOLDERS[split]] = names
    classes, palette, table, warnings = _labels(root)
    return base.DatasetLayout(
        root=root, format="cityscapes", classes=classes, palette=palette,
        label_map={str(i): i for i in range(len(classes))},
        decoder=base.MaskDecoder(kind="values", num_classes=len(classes), table=table),
        samples=dict(sorted(samples.items())),
        splits={s: splits[s] for s in ("train", "validation", "test") if s in splits},
        missing=missing, ignored=sorted(ignored), warnings=warnings)


def _labels(root):
    """-> (classes, palette, labelId table, warnings): the official 19 train classes, or the
    custom labels of `label_colors.txt` (CVAT / Datumaro "Cityscapes 1.0" exports: labelIds in
    line order, after an implicit "background" 0 when no line is black,
    `label_colours.datumaro_order`; lines named like ignore are 255) when it names labels the
    official table lacks.
    """
    train = cityscapes_labels.train_labels()
    official = ([label.name for label in train], [list(label.color) for label in train],
                cityscapes_labels.id_to_train_id_table(), [])
    path = fsio.join(root, LABEL_COLORS)
    if not fsio.isfile(path):
        return official
    names, colours = label_colours.datumaro_order(*label_colours.parse_label_colors(path),
                                                   black_first=False)
    key = lambda name: name.lower().replace(" ", "").replace("_", "")  # noqa: E731
    by_name = {key(label.name): label for label in cityscapes_labels.LABELS}
    if all(key(name) in by_name for name in names if name != label_colours.BACKGROUND):
        # The official labels (Datumaro writes them in its own order and without spaces,
        # "egovehicle"): line i -> the trainId of the label it names.
        table = [base.INVALID] * 256
        for i, name in enumerate(names):
            train_id = by_name[key(name)].trainId if key(name) in by_name else -1
            table[i] = train_id if 0 <= train_id < len(train) else base.IGNORE_LABEL
        return official[0], official[1], tuple(table), []
    classes, palette, colour_table, warnings = label_colours.resolve(path, names, colours,
                                                                         voc=False)
    table = [base.INVALID] * 256
    for i, (*_, train_id) in enumerate(colour_table):
        table[i] = train_id
    warnings.append(f"{path}: custom labels ({len(classes)} classes, labelIds in line order) "
                    "read instead of the official Cityscapes table")
    return classes, palette, tuple(table), warnings
