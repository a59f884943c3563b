"""ADE20K SceneParsing (ADEChallengeData2016, 150 classes).

    ADEChallengeData2016/images/{training,validation}/ADE_*.jpg        photos
    ADEChallengeData2016/annotations/{training,validation}/ADE_*.png   8-bit masks, 0 = other
    ADEChallengeData2016/objectInfo150.csv (or .txt)   Idx,Ratio,Train,Val,Name   (optional)
    ADEChallengeData2016/sceneCategories.txt           not read

`root` may be ADEChallengeData2016 or the folder above it. Mask value v in 1..150 is train id
v - 1; 0 ("other") is ignore (255); any other value is invalid. training -> "train",
validation -> "validation". Class names: the first name of each objectInfo150 row's Name
("windowpane;window" -> "windowpane"), else "class_1".."class_150".
"""

import csv
import os
import re

from segdata.formats import base
from segdata.formats.listing import clean_root, list_folder
from segdata.io import fsio

NUM_CLASSES = 150
DATA_FOLDER = "ADEChallengeData2016"
SPLIT_FOLDERS = {"training": "train", "validation": "validation"}
OBJECT_INFO = ("objectInfo150.csv", "objectInfo150.txt")  # the devkit's csv, the zip's tab file


def _ade_root(root):
    """root or root/ADEChallengeData2016: the first with images/ or annotations/ split folders."""
    for cand in (root, fsio.join(root, DATA_FOLDER)):
        if any(fsio.isdir(fsio.join(cand, top, split))
               for top in ("images", "annotations") for split in SPLIT_FOLDERS):
            return cand
    return root


def detect(root):
    """Does `root` (or its ADEChallengeData2016/) hold images/ and annotations/ with training/
    or validation/? -> Detection (root: the ADEChallengeData2016 folder)."""
    inner = _ade_root(clean_root(root))
    marks = [(f"{top}/training/ or {top}/validation/",
              any(fsio.isdir(fsio.join(inner, top, s)) for s in SPLIT_FOLDERS))
             for top in ("images", "annotations")]
    missing = [what for what, ok in marks if not ok]
    has_info = any(fsio.isfile(fsio.join(inner, f)) for f in OBJECT_INFO + ("sceneCategories.txt",))
    return base.Detection(matched=not missing, score=sum(ok for _, ok in marks) + has_info,
                          missing=", ".join(missing), root=inner)


def parse_object_info(path, num_classes=NUM_CLASSES):
    """objectInfo150.csv (comma-separated) or .txt (tab-separated) -> num_classes class names.

    Needs an `Idx` and a `Name` column (header row, any case); Idx 1..num_classes each once.
    A name is the first of the row's synonyms (split at ';' or ','); a name that repeats an
    earlier one gets "_IDX" appended, so names stay unique. Raises FormatError naming file
    and line.
    """
    try:
        lines = fsio.read_bytes(path).decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise base.FormatError(f"{path} is not UTF-8 text ({e})") from None
    rows = csv.reader(lines, delimiter="\t" if lines and "\t" in lines[0] else ",")
    header = [h.strip().lower() for h in next(rows, [])]
    if "idx" not in header or "name" not in header:
        raise base.FormatError(f"{path}:1: expected a header with Idx and Name columns "
                               f"(Idx,Ratio,Train,Val,Name), got {lines[0] if lines else ''!r}")
    col_idx, col_name = header.index("idx"), header.index("name")
    names = {}
    for lineno, row in enumerate(rows, 2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            idx, name = int(row[col_idx]), re.split(r"[;,]", row[col_name])[0].strip()
            if not 1 <= idx <= num_classes or idx in names or not name:
                raise ValueError
        except (ValueError, IndexError):
            raise base.FormatError(
                f"{path}:{lineno}: expected a row with a new Idx in 1..{num_classes} and a Name, "
                f"got {','.join(row)!r}; fix this row or remove the file") from None
        names[idx] = name
    absent = [i for i in range(1, num_classes + 1) if i not in names]
    if absent:
        raise base.FormatError(f"{path} has no row for Idx {', '.join(map(str, absent[:10]))}"
                               f"{' ...' if len(absent) > 10 else ''}; ADE20K SceneParsing has "
                               f"{num_classes} classes, Idx 1..{num_classes}")
    classes, seen = [], set()
    for idx in range(1, num_classes + 1):
        name = names[idx] if names[idx] not in seen else f"{names[idx]}_{idx}"
        seen.add(name)
        classes.append(name)
    return classes


def _class_names(root):
    """Class names from objectInfo150.csv/.txt in root or the folder above it, else class_N."""
    parent = root.rsplit("/", 1)[0] if fsio.is_remote(root) else os.path.dirname(root)
    for folder in (root, parent):
        for fname in OBJECT_INFO:
            path = fsio.join(folder, fname)
            if fsio.isfile(path):
                return parse_object_info(path)
    return [f"class_{i}" for i in range(1, NUM_CLASSES + 1)]


def ade_table():
    """tuple of 256: 0 -> IGNORE_LABEL, v in 1..150 -> v - 1, every other value INVALID."""
    table = [base.INVALID] * 256
    table[0] = base.IGNORE_LABEL
    for v in range(1, NUM_CLASSES + 1):
        table[v] = v - 1
    return tuple(table)


def scan(root):
    """Scan ADEChallengeData2016 (or its parent) -> DatasetLayout ("ade20k")."""
    given = clean_root(root)
    root = _ade_root(given)
    found = detect(root)
    if not found.matched:
        raise base.FormatError(
            f"{given} is not an ADE20K SceneParsing folder: it lacks {found.missing}. Extract "
            "ADEChallengeData2016.zip and pass the ADEChallengeData2016 folder (or its parent)")
    ignored, samples, splits, missing, where = [], {}, {}, [], {}
    for top in ("images", "annotations"):
        files, dirs, junk = list_folder(root, top)
        ignored.extend(junk + [f"{top}/{f}" for f in files]
                       + [f"{top}/{d}/" for d in dirs if d not in SPLIT_FOLDERS])
    for folder, split in SPLIT_FOLDERS.items():
        files, _, junk = list_folder(root, f"images/{folder}")
        ignored.extend(junk + [f"images/{folder}/{f}" for f in files if not f.endswith(".jpg")])
        photos = [f[:-4] for f in files if f.endswith(".jpg")]
        mask_files, _, junk = list_folder(root, f"annotations/{folder}")
        ignored.extend(junk + [f"annotations/{folder}/{f}" for f in mask_files
                               if not f.endswith(".png")])
        masks = {f[:-4] for f in mask_files if f.endswith(".png")}
        names = []
        for name in photos:
            if name in where:
                raise base.FormatError(f"{root}: {where[name]} and images/{folder}/{name}.jpg "
                                       f"are one sample name ({name}); remove the copy")
            where[name] = f"images/{folder}/{name}.jpg"
            if name not in masks:
                missing.append({"name": name, "reason": f"images/{folder}/{name}.jpg has no "
                                                        f"mask annotations/{folder}/{name}.png"})
                continue
            names.append(name)
            samples[name] = base.Sample(
                name=name, image_path=fsio.join(root, "images", folder, f"{name}.jpg"),
                mask_path=fsio.join(root, "annotations", folder, f"{name}.png"),
                filename=f"{name}.jpg")
        missing += [{"name": n, "reason": f"annotations/{folder}/{n}.png has no photo "
                                          f"images/{folder}/{n}.jpg"}
                    for n in sorted(masks - set(photos))]
        if names or fsio.isdir(fsio.join(root, "images", folder)):
            splits[split] = names
    return base.DatasetLayout(
        root=root, format="ade20k", classes=_class_names(root),
        palette=base.default_palette(NUM_CLASSES),
        label_map={str(i): i for i in range(NUM_CLASSES)},
        decoder=base.MaskDecoder(kind="values", num_classes=NUM_CLASSES, table=ade_table()),
        samples=dict(sorted(samples.items())), splits=splits, missing=missing,
        ignored=sorted(ignored))
