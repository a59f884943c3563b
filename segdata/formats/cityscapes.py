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
"""

from segdata.formats import base, cityscapes_labels
from segdata.formats.listing import clean_root, list_folder
from segdata.io import fsio

SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}
PHOTO_SUFFIX = "_leftImg8bit.png"
MASK_SUFFIX = "_gtFine_labelIds.png"
# gtFine's other files: known, not masks, not junk; they are not read and not reported.
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


def _city(root, split, city, ignored):
    """One city folder -> ([(name, photo file)], set of names with a labelIds mask)."""
    photo_dir, gt_dir = f"leftImg8bit/{split}/{city}", f"gtFine/{split}/{city}"
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
        ignored.extend(junk + [f"leftImg8bit/{split}/{f}" for f in files])
        names = []
        for city in cities:
            photos, masks = _city(root, split, city, ignored)
            for name, photo in photos:
                rel = f"leftImg8bit/{split}/{city}/{photo}"
                if name in where:
                    raise base.FormatError(f"{root}: {where[name]} and {rel} are one sample name "
                                           f"({name}); remove the copy")
                where[name] = rel
                if name not in masks:
                    missing.append({"name": name, "reason": f"{rel} has no mask gtFine/{split}/"
                                                            f"{city}/{name}{MASK_SUFFIX}"})
                    continue
                names.append(name)
                samples[name] = base.Sample(
                    name=name, image_path=fsio.join(root, "leftImg8bit", split, city, photo),
                    mask_path=fsio.join(root, "gtFine", split, city, name + MASK_SUFFIX),
                    filename=photo)
            missing += [{"name": n, "reason": f"gtFine/{split}/{city}/{n}{MASK_SUFFIX} has no "
                                              f"photo leftImg8bit/{split}/{city}/{n}{PHOTO_SUFFIX}"}
                        for n in sorted(masks - {n for n, _ in photos})]
        splits[SPLIT_FOLDERS[split]] = names
    train = cityscapes_labels.train_labels()
    return base.DatasetLayout(
        root=root, format="cityscapes", classes=[label.name for label in train],
        palette=[list(label.color) for label in train],
        label_map={str(i): i for i in range(len(train))},
        decoder=base.MaskDecoder(kind="values", num_classes=len(train),
                                 table=cityscapes_labels.id_to_train_id_table()),
        samples=dict(sorted(samples.items())),
        splits={s: splits[s] for s in ("train", "validation", "test") if s in splits},
        missing=missing, ignored=sorted(ignored))
