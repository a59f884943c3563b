"""Reading and checking one COCO instances JSON (images, annotations, categories).

Malformed files and missing keys raise FormatError naming the file and the entry; annotations
that cannot be used (unknown image or category, degenerate or malformed segmentation) are
reported in `dropped` and left out, the image kept.
"""

import json

from segdata.formats.base import FormatError
from segdata.formats.coco_masks import check_segmentation
from segdata.io import fsio

MAX_CATEGORIES = 254  # train ids 0..254 in a uint8 mask; 255 is ignore
ANN_KEYS = ("id", "bbox", "area", "iscrowd")


def load_json(root, rel):
    """Parse one instances JSON -> dict with lists images, annotations, categories."""
    try:
        data = json.loads(fsio.read_bytes(fsio.join(root, rel)))
    except json.JSONDecodeError as e:
        raise FormatError(f"{rel}: not valid JSON ({e.msg} at line {e.lineno} column "
                          f"{e.colno}); export it again") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{rel}: cannot be read ({e})") from None
    if not isinstance(data, dict):
        raise FormatError(f"{rel}: the top level is a {type(data).__name__}, not a COCO dict "
                          "with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            what = "has no" if key not in data else "has a non-list"
            raise FormatError(f"{rel}: {what} '{key}' list; a COCO instances JSON needs "
                              "images, annotations and categories")
    return data


def need(rel, what, index, entry, keys):
    if not isinstance(entry, dict):
        raise FormatError(f"{rel}: {what} #{index} is a {type(entry).__name__}, not a dict")
    for key in keys:
        if key not in entry:
            raise FormatError(f"{rel}: {what} #{index} (id {entry.get('id')!r}) has no {key!r}")


def categories(rel, data):
    """-> [(id, name)] sorted by id."""
    cats = {}
    for i, cat in enumerate(data["categories"]):
        need(rel, "category", i, cat, ("id", "name"))
        if not isinstance(cat["id"], int) or isinstance(cat["id"], bool):
            raise FormatError(f"{rel}: category #{i} has id {cat['id']!r}, not an integer")
        if cat["id"] in cats:
            raise FormatError(f"{rel}: category id {cat['id']} is listed twice")
        cats[cat["id"]] = str(cat["name"])
    if len(cats) > MAX_CATEGORIES:
        raise FormatError(f"{rel}: {len(cats)} categories; uint8 masks hold at most "
                          f"{MAX_CATEGORIES} (255 is ignore)")
    return sorted(cats.items())


def same_categories(rel_a, cats_a, rel_b, cats_b):
    if cats_a == cats_b:
        return
    a, b = dict(cats_a), dict(cats_b)
    diffs = [f"id {k}: {a.get(k, '(none)')!r} vs {b.get(k, '(none)')!r}"
             for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    raise FormatError(f"{rel_a} and {rel_b} list different categories ({'; '.join(diffs[:5])}); "
                      "every split must share one category list (export them together)")


def image_entries(rel, data):
    """-> {image id: image dict}, in JSON order, with the needed keys checked."""
    images = {}
    for i, img in enumerate(data["images"]):
        need(rel, "image", i, img, ("id", "file_name", "height", "width"))
        if not all(isinstance(img[k], int) and img[k] > 0 for k in ("height", "width")):
            raise FormatError(f"{rel}: image {img['id']!r} has height/width {img['height']!r} x "
                              f"{img['width']!r}, not positive integers")
        if not isinstance(img["file_name"], str) or not img["file_name"]:
            raise FormatError(f"{rel}: image {img['id']!r} has file_name {img['file_name']!r}")
        if img["id"] in images:
            raise FormatError(f"{rel}: image id {img['id']!r} is listed twice")
        images[img["id"]] = img
    return images


def keep_annotations(rel, data, images, train_ids, names, dropped):
    """-> {image id: [kept annotation dict]}, appending dropped entries (name, reason)."""
    by_image = {}
    for i, ann in enumerate(data["annotations"]):
        need(rel, "annotation", i, ann, ("id", "image_id", "category_id"))
        aid, img_id, cat_id = ann["id"], ann["image_id"], ann["category_id"]
        if img_id not in images:
            dropped.append({"name": rel, "reason": f"annotation {aid} in {rel} points at image_id "
                            f"{img_id!r}, which {rel} does not list; annotation dropped"})
            continue
        name = names.get(img_id)
        if name is None:  # the image is not on disk: already reported as missing
            continue
        if cat_id not in train_ids:
            dropped.append({"name": name, "reason": f"annotation {aid} in {rel} has category_id "
                            f"{cat_id!r}, which {rel} does not list; annotation dropped"})
            continue
        img = images[img_id]
        segm, problems = check_segmentation(ann.get("segmentation"), img["height"], img["width"])
        if problems:
            tail = "annotation dropped" if segm is None else "those parts dropped, the rest kept"
            dropped.append({"name": name, "reason": f"annotation {aid} in {rel}: "
                            f"{'; '.join(problems)}; {tail}"})
        if segm is None:
            continue
        kept = {k: ann.get(k) for k in ANN_KEYS}
        kept.update(category_id=cat_id, train_id=train_ids[cat_id], segmentation=segm,
                    iscrowd=1 if ann.get("iscrowd") else 0)
        by_image.setdefault(img_id, []).append(kept)
    return by_image
