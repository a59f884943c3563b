"""COCO instances layout: `annotations/instances_{split}.json` beside the image folders.

    root/annotations/instances_train2017.json   (captions_*, person_keypoints_*: left alone)
    root/annotations/instances_val2017.json
    root/train2017/*.jpg  root/val2017/*.jpg     (or images/{split}/, images/, root itself)

CVAT's "COCO 1.0" export (instances_default.json, photos in images/) and Label Studio's COCO
export (root/result.json whose file_name values start with images/) are read the same way.
Splits get TFDS names: train* -> "train", val* -> "validation", test* -> "test", any other
name -> "train". Category ids may have gaps and come in any order: train id 0 is background
(a category named "background" maps to it) and the other categories sorted by id become
1..K. Pixels are drawn from the annotations by `segdata.formats.coco_masks` (pycocotools),
re-exported here; each JSON is read and checked by `segdata.formats.coco_json`.
"""

import collections
import json
import pathlib
import posixpath

from segdata.formats import coco_crowd, coco_json
from segdata.formats.base import (
    DatasetLayout,
    Detection,
    FormatError,
    MaskDecoder,
    Sample,
    default_palette,
)
from segdata.formats.coco_masks import (
    decode_instances,
    instance_features,
    is_crowd,
    rasterize,
)
from segdata.io import fsio

__all__ = ["detect", "scan", "rasterize", "instance_features", "decode_instances", "is_crowd",
           "tfds_split"]


def _root(root):
    if fsio.is_remote(root):
        return str(root).rstrip("/")
    return str(pathlib.Path(root).expanduser().resolve())


def _instances_jsons(root):
    """-> [(split stem, relative path)] of the instances JSONs in `root` (sorted)."""
    ann_dir = fsio.join(root, "annotations")
    found = []
    if fsio.isdir(ann_dir):
        for name, is_file in fsio.scandir(ann_dir):
            if is_file and name.startswith("instances_") and name.endswith(".json"):
                found.append((name[len("instances_"):-len(".json")], f"annotations/{name}"))
            elif is_file and name == "instances.json":  # one unsplit set (segkit's labelling)
                found.append(("default", f"annotations/{name}"))
    return found


def _label_studio(root):
    """True when root/result.json is a COCO dict (images, annotations, categories) beside
    root/images/ (Label Studio's COCO export)."""
    path = fsio.join(root, "result.json")
    if not (fsio.isfile(path) and fsio.isdir(fsio.join(root, "images"))):
        return False
    try:
        data = json.loads(fsio.read_bytes(path))
    except (ValueError, OSError):
        return False
    return isinstance(data, dict) and all(k in data for k in ("images", "annotations", "categories"))


def _detect_one(root):
    if _instances_jsons(root) or _label_studio(root):
        return Detection(matched=True, score=3, root=root)
    ann_dir = fsio.join(root, "annotations")
    score, missing = 0, "annotations/instances_*.json (a COCO instances JSON)"
    if fsio.isdir(ann_dir):
        score += 1
        others = [n for n, is_file in fsio.scandir(ann_dir) if is_file and n.endswith(".json")]
        if others:
            score += 1
            missing += f"; annotations/ holds only {', '.join(others[:5])}"
    if fsio.isfile(fsio.join(root, "result.json")):
        score += 1
        missing += "; result.json is not a COCO export beside images/"
    return Detection(matched=False, score=score, missing=missing, root=root)


def detect(root):
    """Is `root` (or the one sub-folder of it that is) a COCO instances folder? -> Detection."""
    root = _root(root)
    if not fsio.isdir(root):
        return Detection(matched=False, missing=f"{root} (no such folder)", root=root)
    best = _detect_one(root)
    if best.matched:
        return best
    # A download folder holding e.g. coco2017/annotations/...: scan that sub-folder.
    subs = [fsio.join(root, n) for n, is_file in fsio.scandir(root)
            if not is_file and not n.startswith(".")]
    hits = [d for d in (_detect_one(s) for s in subs) if d.matched]
    return hits[0] if len(hits) == 1 else best


def tfds_split(stem):
    """COCO split stem ("train2017", "val", "default") -> TFDS split name."""
    low = stem.lower()
    for prefix, split in (("train", "train"), ("val", "validation"), ("test", "test")):
        if low.startswith(prefix):
            return split
    return "train"


class _Finder:
    """Finds a JSON `file_name` under the candidate folders, one listing per folder."""

    def __init__(self, root):
        self.root, self._listings = root, {}

    def _files(self, folder):
        if folder not in self._listings:
            path = fsio.join(self.root, *folder.split("/")) if folder else self.root
            self._listings[folder] = (
                {n for n, is_file in fsio.scandir(path) if is_file} if fsio.isdir(path) else set())
        return self._listings[folder]

    def find(self, stem, file_name):
        """-> path relative to root (posix) or None, trying {stem}/, images/{stem}/, images/, ."""
        file_name = file_name.replace("\\", "/").lstrip("/")
        sub, base = posixpath.split(posixpath.normpath(file_name))
        for cand in (stem, f"images/{stem}", "images", ""):
            folder = posixpath.normpath(posixpath.join(cand, sub)) if (cand or sub) else ""
            folder = "" if folder == "." else folder
            if base in self._files(folder):
                return f"{folder}/{base}" if folder else base
        return None


def scan(root, *, instances=False, crowd="auto"):
    """Scan a COCO instances folder -> DatasetLayout (format "coco").

    samples: one per image on disk (name = file stem, or the path relative to root without
    extension where stems repeat), annotations = its kept annotation dicts (id, category_id,
    train_id, segmentation, area, iscrowd, bbox), height/width from the JSON. splits: TFDS
    split -> names in JSON image order (images missing on disk are in `missing`, not here).
    instances: also write Model Garden's instance keys (MaskDecoder.instances).
    crowd: what `iscrowd: 1` means, per JSON file (segdata.formats.coco_crowd): "auto",
      "ignore" or "objects"; crowd annotations read as objects get "crowd_object": 1.
    Raises FormatError for a folder without instances JSONs, a malformed JSON, JSONs that
    disagree on categories or map to the same split, or an image listed twice.
    """
    root = _root(root)
    if not fsio.isdir(root):
        raise FormatError(f"{root}: no such folder; pass the COCO folder holding annotations/")
    jsons = _instances_jsons(root)
    if not jsons and _label_studio(root):
        jsons = [("result", "result.json")]
    if not jsons:
        raise FormatError(f"{root}: no annotations/instances_*.json (nor Label Studio's "
                          "result.json beside images/); pass the COCO folder holding annotations/")
    by_split = {}
    for stem, rel in jsons:
        split = tfds_split(stem)
        if split in by_split:
            raise FormatError(f"{by_split[split][1]} and {rel} both map to the {split!r} split; "
                              "rename one (train*, val*, test*) or move it out of annotations/")
        by_split[split] = (stem, rel)

    finder, cats, entries = _Finder(root), None, []
    for split, (stem, rel) in by_split.items():
        data = coco_json.load_json(root, rel)
        split_cats = coco_json.categories(rel, data)
        if cats is None:
            cats, cats_rel = split_cats, rel
        coco_json.same_categories(cats_rel, cats, rel, split_cats)
        images = coco_json.image_entries(rel, data)
        found = {img_id: finder.find(stem, img["file_name"]) for img_id, img in images.items()}
        entries.append((split, rel, data, images, found))

    # Names: the stem, or the relative path without extension where stems repeat.
    where = {}
    for _, rel, _, images, found in entries:
        for img_id, img in images.items():
            path = found[img_id] or img["file_name"]
            if found[img_id] and path in where:
                raise FormatError(f"{path} is listed twice ({where[path]} and {rel} image id "
                                  f"{img_id!r}); list each image once")
            where.setdefault(path, f"{rel} image id {img_id!r}")
    stems = collections.Counter(posixpath.splitext(posixpath.basename(p))[0] for p in where)
    bare = collections.Counter(posixpath.splitext(p)[0] for p in where)

    def name_of(path):
        stem, no_ext = posixpath.splitext(posixpath.basename(path))[0], posixpath.splitext(path)[0]
        if stems[stem] == 1:
            return stem
        return no_ext if bare[no_ext] == 1 else path  # a.jpg beside a.png: keep the extension

    # A category named "background" (Datumaro and CVAT export one for VOC-style label lists)
    # is train id 0 itself, not a second background class.
    background = [cat_id for cat_id, n in cats if n.strip().lower() == "background"][:1]
    named = [(cat_id, n) for cat_id, n in cats if cat_id not in background]
    train_ids = {cat_id: i + 1 for i, (cat_id, _) in enumerate(named)}
    train_ids.update({cat_id: 0 for cat_id in background})
    samples, splits, missing, dropped, crowd_files = {}, {}, [], [], {}
    for (split, rel, data, images, found), (stem, _) in zip(entries, by_split.values()):
        names = {i: name_of(p) for i, p in found.items() if p}
        for img_id, img in images.items():
            if not found[img_id]:
                missing.append({"name": name_of(img["file_name"]), "reason":
                                f"image {img['file_name']} listed in {rel} is not on disk "
                                f"(looked in {stem}/, images/{stem}/, images/ and {root})"})
        kept = coco_json.keep_annotations(rel, data, images, train_ids, names, dropped)
        crowd_files[rel] = _crowd(crowd, kept, images, data)
        splits[split] = [names[i] for i in images if i in names]
        for img_id, name in names.items():
            img = images[img_id]
            samples[name] = Sample(
                name=name, image_path=fsio.join(root, *found[img_id].split("/")),
                filename=posixpath.basename(found[img_id]), annotations=tuple(kept.get(img_id, ())),
                height=img["height"], width=img["width"])

    num_classes = len(named) + 1
    counted = {rel: f for rel, f in crowd_files.items() if f["crowd_annotations"]}
    warnings = [f"{rel}: {f['crowd_annotations']} iscrowd annotation(s) read as objects "
                f"({f['why']})" for rel, f in counted.items() if f["as"] == "objects"]
    return DatasetLayout(
        root=root, format="coco", classes=["background"] + [n for _, n in named],
        palette=default_palette(num_classes), label_map={str(i): i for i in range(num_classes)},
        decoder=MaskDecoder(kind="coco", num_classes=num_classes, instances=instances),
        samples=dict(sorted(samples.items())), splits=splits, missing=missing, dropped=dropped,
        foreground_class=1 if num_classes == 2 else None, warnings=warnings,
        report={"crowd": {"mode": crowd, "files": counted}})


def _crowd(mode, kept, images, data):
    """Decide one file's crowd meaning; marks its crowd annotations read as objects."""
    decision, why = coco_crowd.decide(mode, kept, images, data)
    crowd = [a for group in kept.values() for a in group if a["iscrowd"]]
    if decision == "objects":
        for ann in crowd:
            ann["crowd_object"] = 1
    return {"as": decision, "why": why, "crowd_annotations": len(crowd)}
