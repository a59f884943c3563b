"""COCO 2017 instances layout: annotations/instances_{train,val}2017.json, {train,val}2017/*.jpg.

Ordinary COCO features, always present: category ids with gaps listed out of order (3, 1, 7,
18); polygons (some instances in two parts); crowd regions as uncompressed RLE (counts a list,
iscrowd 1); some instances as compressed RLE (counts a string, iscrowd 0, as SAM and labelling
tools write); overlapping instances; one image without annotations; `area` and `bbox` from
pycocotools.mask; a captions_train2017.json a reader must leave alone.

Truth painting order (the documented rule): background 0, crowd regions 255 first, then
instances by decreasing area, ties by annotation id; each painted over what came before.
"""

import json

import numpy as np
from pycocotools import mask as mask_utils

from segdata.synthetic import common, scenes

# (id, name, supercategory) in file order: real COCO ids, deliberately out of order.
CATEGORIES = ((3, "car", "vehicle"), (1, "person", "person"), (7, "train", "vehicle"),
              (18, "dog", "animal"))
CAT_IDS = sorted(c[0] for c in CATEGORIES)
CLASSES = ("background",) + tuple(n for _, n, _ in sorted(CATEGORIES))
TRAIN_ID = {cat: 1 + i for i, cat in enumerate(CAT_IDS)}
UNKNOWN_IMAGE_ID, UNKNOWN_CATEGORY_ID = 987654321, 99


def uncompressed_rle(mask):
    """bool [H, W] -> COCO uncompressed RLE {"size": [H, W], "counts": [int, ...]}: run lengths
    of the column-major pixel order, starting with a (possibly empty) run of zeros."""
    flat = np.asarray(mask, bool).flatten(order="F")
    edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"size": list(mask.shape), "counts": [int(r) for r in runs]}


def annotation_rle(segmentation, h, w):
    """An annotation's `segmentation` (polygons, uncompressed or compressed RLE) -> one RLE."""
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    if isinstance(segmentation["counts"], list):
        return mask_utils.frPyObjects(segmentation, h, w)
    return {"size": segmentation["size"], "counts": segmentation["counts"].encode()}


def paint_truth(annotations, h, w):
    """uint8 [H, W] train ids from an image's (valid) annotation dicts, in the painting order."""
    out = np.zeros((h, w), np.uint8)
    crowd = [a for a in annotations if a["iscrowd"]]
    things = sorted((a for a in annotations if not a["iscrowd"]), key=lambda a: (-a["area"], a["id"]))
    for ann in crowd + things:
        m = mask_utils.decode(annotation_rle(ann["segmentation"], h, w)).astype(bool)
        out[m] = 255 if ann["iscrowd"] else TRAIN_ID[ann["category_id"]]
    return out


def _annotation(ann_id, image_id, cat, segmentation, h, w, crowd=0):
    rle = annotation_rle(segmentation, h, w)
    return {"segmentation": segmentation, "area": float(mask_utils.area(rle)), "iscrowd": crowd,
            "image_id": image_id, "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
            "category_id": cat, "id": ann_id}


def _image_annotations(rng, h, w, image_id, next_id, crowd):
    """Random instances (+ a crowd region) of one image -> (annotations, shapes in draw order)."""
    shapes = scenes.random_objects(rng, h, w, CAT_IDS, count=(3, 5), parts_prob=0.3)
    anns, drawn = [], []
    if crowd:  # a crowd of people behind the instances, stored as COCO stores crowds
        polys = scenes.random_polygons(rng, h, w, kind="ellipse")
        seg = uncompressed_rle(scenes.polygon_mask(polys, h, w))
        anns.append(_annotation(next(next_id), image_id, 1, seg, h, w, crowd=1))
        drawn.append(1)
    for j, shape in enumerate(shapes):
        if j % 3 == 2:  # compressed RLE, as SAM / label tools write
            rle = mask_utils.encode(np.asfortranarray(shape.mask.astype(np.uint8)))
            seg = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
        else:
            seg = shape.polygons
        anns.append(_annotation(next(next_id), image_id, shape.label, seg, h, w))
        drawn.append(shape.label)
    # Draw the photo from the same pixels the truth paints (pycocotools' rasterisation).
    order = sorted(range(len(anns)), key=lambda i: (not anns[i]["iscrowd"], -anns[i]["area"],
                                                    anns[i]["id"]))
    out = []
    for i in order:
        m = mask_utils.decode(annotation_rle(anns[i]["segmentation"], h, w)).astype(bool)
        out.append(scenes.Shape(drawn[i], anns[i]["segmentation"], m))
    return anns, out


def _document(images, annotations, description):
    return {"info": {"description": description, "version": "1.0", "year": 2017,
                     "contributor": "segkit synthetic", "date_created": "2017/09/01"},
            "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 1,
                          "name": "Attribution License"}],
            "images": images, "annotations": annotations}


def write_coco(out, *, num_images, image_size, seed, quirks):
    """Write the COCO layout into `out` (the root)."""
    common.need_images("coco", num_images, 9 if quirks else 3, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    ids = [139 + 97 * i for i in range(num_images)]
    train, val = common.split_names(ids, (2 / 3, 1 / 3))
    looks = scenes.class_looks(CAT_IDS)
    counter = iter(range(1000, 10 ** 9))
    empty = train[-1]  # the image without annotations
    docs, truth = {}, {}
    for split, split_ids in (("train2017", train), ("val2017", val)):
        images, anns = [], []
        for k, image_id in enumerate(split_ids):
            name = f"{image_id:012d}"
            if image_id == empty:
                img_anns, shapes = [], []
            else:
                img_anns, shapes = _image_annotations(rng, h, w, image_id, counter, crowd=k % 3 == 0)
            image = scenes.render(rng, h, w, shapes, looks)
            common.write(out / split / f"{name}.jpg", common.jpeg(image))
            images.append({"license": 1, "file_name": f"{name}.jpg", "coco_url": "", "height": h,
                           "width": w, "date_captured": "2013-11-14 11:18:45", "flickr_url": "",
                           "id": image_id})
            anns += img_anns
            truth[name] = paint_truth(img_anns, h, w)
        docs[split] = (images, anns)
    planted = _plant(out, docs, train, val, h, w, counter) if quirks else {}
    cats = [{"supercategory": s, "id": i, "name": n} for i, n, s in CATEGORIES]
    for split, (images, anns) in docs.items():
        doc = _document(images, anns, f"COCO 2017 Dataset (synthetic {split})")
        doc["categories"] = cats
        common.write(out / "annotations" / f"instances_{split}.json",
                     json.dumps(doc, separators=(",", ":")))
    images = docs["train2017"][0]
    captions = [{"image_id": im["id"], "id": 1 + i, "caption": "A synthetic scene of shapes."}
                for i, im in enumerate(images)]
    common.write(out / "annotations" / "captions_train2017.json",
                 json.dumps(_document(images, captions, "COCO 2017 captions"), separators=(",", ":")))
    splits = {"train": [f"{i:012d}" for i in train], "validation": [f"{i:012d}" for i in val]}
    return dict(root=".", classes=CLASSES, truth=common.keep_truth(truth, planted),
                splits=splits, quirks=planted)


def _plant(out, docs, train, val, h, w, counter):
    """COCO's mess: a photo missing on disk, a JSON size that disagrees with the file, bad
    photo encodings, annotations a reader must drop, junk. Returns {key: outcome}."""
    planted = {}
    names = [f"{i:012d}" for i in train]
    (out / "train2017" / f"{names[0]}.jpg").unlink()
    planted[names[0]] = "skipped: missing image"
    entry = next(im for im in docs["train2017"][0] if im["id"] == train[1])
    entry["width"], entry["height"] = w + 8, h + 6
    planted[names[1]] = "skipped: size"
    planted[names[2]] = common.grayscale(out / "train2017" / f"{names[2]}.jpg")
    planted[names[3]] = common.png_as_jpg(out / "train2017" / f"{names[3]}.jpg")
    square = [[10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]]
    anns = docs["train2017"][1]
    lost = _annotation(next(counter), UNKNOWN_IMAGE_ID, 1, square, h, w)
    anns.append(lost)
    planted[f"annotation {lost['id']}"] = "dropped: unknown image_id"
    anns = docs["val2017"][1]
    alien = _annotation(next(counter), val[0], UNKNOWN_CATEGORY_ID, square, h, w)
    line = {"segmentation": [[12.0, 14.0, 40.0, 33.0]], "area": 0.0, "iscrowd": 0,
            "image_id": val[0], "bbox": [12.0, 14.0, 28.0, 19.0], "category_id": 3,
            "id": next(counter)}  # 2 points: pycocotools would even misread it as a box
    anns += [alien, line]
    planted[f"annotation {alien['id']}"] = "dropped: unknown category_id"
    planted[f"annotation {line['id']}"] = "dropped: degenerate polygon"
    planted.update(common.plant_junk(out, "train2017", "annotations", "instances_train2017", ".json"))
    return planted
