"""The plain layout: `images/` and `masks/` paired by file stem, `classes.json`, optional `splits/`.

    DATA/images/NAME.jpg|.jpeg|.png      photos
    DATA/masks/NAME.png                  single-channel PNGs of class ids (8 or 16 bit)
    DATA/classes.json                    {"classes": ["background", ...], "ignore_label": 255,
                                          "palette": [[r, g, b], ...]}  (palette optional)
    DATA/splits/train.txt, val.txt, test.txt   optional, one stem a line, or one
                                         `image mask` pair of paths relative to DATA (for
                                         files whose names differ: a.jpg, a_label.png)

Without splits/ the layout has no official split (splits = {}; only `--split holdout`).
"""

import json
import os

from segdata.formats.base import (
    IGNORE_LABEL,
    DatasetLayout,
    Detection,
    FormatError,
    MaskDecoder,
    Sample,
    default_palette,
    identity_table,
)
from segdata.formats.listing import (
    clean_root,
    is_pair,
    list_folder,
    ordered_splits,
    read_pairs,
    split_name,
    unique,
)
from segdata.io import fsio

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png")
MAX_CLASSES = 255  # records store 8-bit train ids and 255 is ignore
CLASSES_KEYS = ("classes", "ignore_label", "palette")
def parse_classes_json(path):
    """Read and validate classes.json -> (classes, ignore_label, palette).

    classes: list of K unique non-empty str, 1 <= K <= 255; ignore_label: int 0..65535 that is
    not a class id (default 255); palette: [[r, g, b]] * K ints 0..255 (default_palette(K)).
    Raises FormatError naming the file and the key.
    """
    try:
        spec = json.loads(fsio.read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{path} is not valid JSON ({e}); write it as "
                          '{"classes": ["background", ...], "ignore_label": 255}') from None
    if not isinstance(spec, dict):
        raise FormatError(f'{path} must hold a JSON object {{"classes": [...], ...}}, '
                          f"got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(CLASSES_KEYS))
    if unknown:
        raise FormatError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; the keys are "
                          f"{', '.join(CLASSES_KEYS)}")
    classes = spec.get("classes")
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, str) and c.strip() for c in classes)):
        raise FormatError(f'{path}: "classes" must be a non-empty list of non-empty strings '
                          f"(class names in class-id order), got {classes!r:.200}")
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise FormatError(f'{path}: "classes" names {", ".join(map(repr, repeated))} more than '
                          "once; class names must be unique")
    if len(classes) > MAX_CLASSES:
        raise FormatError(f'{path}: "classes" has {len(classes)} entries; records store 8-bit '
                          f"train ids, so at most {MAX_CLASSES} classes (255 is ignore)")
    ignore = spec.get("ignore_label", IGNORE_LABEL)
    if isinstance(ignore, bool) or not isinstance(ignore, int) or not 0 <= ignore <= 65535:
        raise FormatError(f'{path}: "ignore_label" must be an integer 0..65535 (the mask value '
                          f"of ignored pixels, 8- or 16-bit PNG), got {ignore!r}")
    if ignore < len(classes):
        raise FormatError(f'{path}: "ignore_label" {ignore} is the id of class '
                          f"{classes[ignore]!r}; pick a value >= {len(classes)} (usually 255)")
    palette = spec.get("palette")
    if palette is None:
        palette = default_palette(len(classes))
    elif (not isinstance(palette, list) or len(palette) != len(classes)
          or not all(_is_rgb(c) for c in palette)):
        raise FormatError(f'{path}: "palette" must list one [r, g, b] (integers 0..255) per '
                          f"class ({len(classes)}), got {palette!r:.200}")
    return list(classes), ignore, [list(c) for c in palette]


def _is_rgb(colour):
    return (isinstance(colour, list) and len(colour) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
                    for v in colour))


def detect(root):
    """Does `root` hold images/, masks/ and classes.json? -> Detection."""
    root = clean_root(root)
    marks = (("images/", fsio.isdir(fsio.join(root, "images"))),
             ("masks/", fsio.isdir(fsio.join(root, "masks"))),
             ("classes.json", fsio.isfile(fsio.join(root, "classes.json"))))
    missing = [what for what, ok in marks if not ok]
    return Detection(matched=not missing, score=sum(ok for _, ok in marks),
                     missing=", ".join(missing), root=root)


def _photos(root, ignored):
    """images/ -> {stem: file name}; raises FormatError for two photos with one stem."""
    files, _, junk = list_folder(root, "images")
    ignored.extend(junk)
    photos = {}
    for name in files:
        stem, ext = os.path.splitext(name)
        if ext.lower() not in PHOTO_EXTENSIONS:
            ignored.append(f"images/{name}")
        elif stem in photos:
            raise FormatError(f"{root}: images/{photos[stem]} and images/{name} have the same "
                              "stem, so both would pair with masks/" f"{stem}.png; rename or "
                              "remove one")
        else:
            photos[stem] = name
    return photos


def scan(root):
    """Scan a plain images/ + masks/ folder -> DatasetLayout (format "masks").

    Masks without a photo and photos without a mask are `missing`; photos no split list names
    are `unlisted` but still samples (candidates for `--split holdout`).
    """
    root = clean_root(root)
    found = detect(root)
    if not found.matched:
        raise FormatError(f"{root} is not a masks folder: it lacks {found.missing}. Expected "
                          "images/ (photos .jpg/.jpeg/.png), masks/ (PNG class ids, same stems) "
                          'and classes.json {"classes": [...], "ignore_label": 255}')
    classes, ignore, palette = parse_classes_json(fsio.join(root, "classes.json"))
    ignored = []
    photos = _photos(root, ignored)
    files, _, junk = list_folder(root, "masks")
    ignored.extend(junk)
    masks = set()
    for name in files:
        if name.lower().endswith(".png"):
            masks.add(name[:-4])
        else:
            ignored.append(f"masks/{name}")
    missing, samples = [], {}
    for stem, photo in photos.items():
        if stem in masks:
            samples[stem] = Sample(name=stem, image_path=fsio.join(root, "images", photo),
                                   mask_path=fsio.join(root, "masks", f"{stem}.png"),
                                   filename=photo)
        else:
            missing.append({"name": stem, "reason": f"images/{photo} has no mask masks/{stem}.png"})
    missing += [{"name": stem, "reason": f"masks/{stem}.png has no photo in images/"}
                for stem in sorted(masks - set(photos))]
    splits, listed, pairs = _read_splits(root, ignored)
    _add_pairs(root, pairs, samples, missing)
    for split, names in splits.items():
        for name in names:
            if name not in samples and name not in photos and name not in masks:
                missing.append({"name": name, "reason": f"listed in {listed[name]} but neither "
                                f"images/{name}.jpg (.jpeg, .png) nor masks/{name}.png exists"})
        splits[split] = [n for n in names if n in samples]
    size = max(256, ignore + 1)
    k = len(classes)
    return DatasetLayout(
        root=root, format="masks", classes=classes, palette=palette,
        label_map={str(i): i for i in range(k)},
        decoder=MaskDecoder(kind="values", num_classes=k,
                            table=identity_table(k, ignore_values=(ignore,), size=size)),
        samples=dict(sorted(samples.items())), splits=splits, missing=missing,
        ignored=sorted(ignored), unlisted=sorted(set(samples) - set(listed)) if splits else [],
        foreground_class=classes.index("foreground") if "foreground" in classes else None)


def _add_pairs(root, pairs, samples, missing):
    """Samples from `image mask` lines (paths relative to root, any names): they replace the
    entries pairing by stem would give them, missing ones included."""
    if not pairs:
        return
    # "masks/a_label.png has no photo": the pair gives it one.
    paired_masks = {mask[len("masks/"):-len(".png")] for _, mask in pairs.values()
                    if mask.startswith("masks/") and mask.endswith(".png")}
    missing[:] = [m for m in missing if m["name"] not in pairs and not (
        m["name"] in paired_masks and m["reason"].startswith(f"masks/{m['name']}.png "))]
    for name, (photo, mask) in pairs.items():
        lacks = [p for p in (photo, mask) if not fsio.isfile(fsio.join(root, *p.split("/")))]
        if lacks:
            samples.pop(name, None)
            missing.append({"name": name, "reason": f"listed as '{photo} {mask}' but "
                                                    f"{' and '.join(lacks)} missing"})
            continue
        samples[name] = Sample(name=name, image_path=fsio.join(root, *photo.split("/")),
                               mask_path=fsio.join(root, *mask.split("/")),
                               filename=os.path.basename(photo))


def _read_splits(root, ignored):
    """splits/*.txt -> ({split: [name] in file order, no repeats}, {name: first list path},
    {name: (photo, mask)} from `image mask` lines, the name being the photo's stem)."""
    files, _, junk = list_folder(root, "splits")
    ignored.extend(junk)
    splits, listed, pairs = {}, {}, {}
    for fname in files:
        if not fname.endswith(".txt"):
            ignored.append(f"splits/{fname}")
            continue
        rel = f"splits/{fname}"
        names = []
        for fields in read_pairs(root, rel):
            name = fields[0]
            if is_pair(fields):
                name = os.path.splitext(os.path.basename(fields[0]))[0]
                if pairs.get(name, fields) != fields:
                    raise FormatError(f"{root}/{rel}: {fields[0]} and {pairs[name][0]} are one "
                                      f"sample name ({name}); rename one")
                pairs[name] = fields
            names.append(name)
            listed.setdefault(name, rel)
        split = split_name(rel)
        splits[split] = unique(splits.get(split, []) + names)
    return ordered_splits(splits), listed, pairs
