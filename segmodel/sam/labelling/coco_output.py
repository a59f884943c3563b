"""COCO instances JSON for labelled images: compressed RLE (pycocotools) per object.

An image's part (`image_part`) is what one accept produces: its size, file name and one
annotation per non-empty object, without ids. `instances_json` assembles parts into one
COCO dict, numbering images and annotations in file-name order (ids are derived, never
stored, so parts written by two processes never collide).

Annotation fields: "segmentation" {"size": [H, W], "counts": str} (compressed RLE),
"area" (pixels), "bbox" [x, y, w, h], "category_id", "iscrowd" 0,
plus the extra fields "score" (SAM's score for the mask), "prompt" (the object's prompt
as in prompts.json) and, where an object is partly covered, "object_mask" (the whole object
as drawn, compressed RLE; "segmentation" holds what the label mask shows of it).
`pycocotools.coco.COCO`, CVAT ("COCO 1.0") and Label Studio read it.

Parts store "category_id" as the object's train id (1..K, the folder's class order); the JSON
file's ids are that plus `category_offset` (the masks layout: 1, with "background" as category
1, so Datumaro reads the file and the folder's dataset_meta.json alike; see
`segmodel.sam.labelling.classes.COCO_ID_OFFSET`).
"""

import json

import numpy as np


def encode_mask(mask):
    """bool `[H, W]` -> (COCO compressed RLE dict with a str "counts", area int, bbox
    [x, y, w, h] floats)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    area = int(mask_utils.area(rle))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    rle["counts"] = rle["counts"].decode("ascii")
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}, area, bbox


def decode_mask(segmentation):
    """A compressed RLE dict (str or bytes counts) -> bool `[H, W]`."""
    from pycocotools import mask as mask_utils

    rle = dict(segmentation)
    if isinstance(rle["counts"], str):
        rle["counts"] = rle["counts"].encode("ascii")
    return mask_utils.decode(rle).astype(bool)


def image_part(file_name, size, objects):
    """One labelled image's COCO part.

    Args:
      file_name: the image's path relative to the folder's images/ ("cat_1.jpg").
      size: (H, W).
      objects: list of dicts {"mask": bool `[H, W]`, "category_id": int >= 1,
        "score": float or None, "prompt": JSON-able dict, optional "object_mask": bool
        `[H, W]`}, in painting order. Objects with an empty mask get no annotation (COCO has
        no empty instances). "object_mask", the object as drawn when "mask" is only the part
        of it the label mask shows, is kept as the extra RLE field "object_mask" (where it
        differs) so the labelling page can re-open the whole object.

    Returns:
      {"image": {"file_name", "height", "width"}, "annotations": [...]} (no ids).
    """
    height, width = (int(v) for v in size)
    annotations = []
    for obj in objects:
        if not np.asarray(obj["mask"]).any():
            continue
        segmentation, area, bbox = encode_mask(obj["mask"])
        annotation = {"segmentation": segmentation, "area": area, "bbox": bbox,
                      "category_id": int(obj["category_id"]), "iscrowd": 0}
        if obj.get("score") is not None:
            annotation["score"] = float(obj["score"])
        if obj.get("prompt") is not None:
            annotation["prompt"] = obj["prompt"]
        whole = obj.get("object_mask")
        if whole is not None and not np.array_equal(np.asarray(whole, bool),
                                                    np.asarray(obj["mask"], bool)):
            annotation["object_mask"] = encode_mask(whole)[0]
        annotations.append(annotation)
    return {"image": {"file_name": file_name, "height": height, "width": width},
            "annotations": annotations}


def instances_json(parts, categories, description="segkit SAM labelling", category_offset=0):
    """Image parts -> one COCO instances dict.

    Args:
      parts: iterable of `image_part` results (any order; sorted by file name here).
      categories: COCO categories ([{"id": 1, "name": ...}, ...]).
      category_offset: added to each part's category_id (train id) in the file.

    Returns:
      {"info", "licenses", "categories", "images", "annotations"}; image ids 1..N in file-name
      order, annotation ids 1..M in image then painting order.
    """
    images, annotations = [], []
    for image_id, part in enumerate(sorted(parts, key=lambda p: p["image"]["file_name"]), 1):
        images.append({"id": image_id, **part["image"]})
        for annotation in part["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                **_file_annotation(annotation, category_offset)})
    return {"info": {"description": description}, "licenses": [],
            "categories": list(categories), "images": images, "annotations": annotations}


def _file_annotation(annotation, category_offset):
    """A part's annotation as the JSON file holds it (category id shifted by the offset)."""
    if not category_offset:
        return annotation
    return {**annotation, "category_id": int(annotation["category_id"]) + category_offset}


def jsonable(value):
    """json.dumps `default`: numpy arrays and scalars (masks' scores, prompts from the page)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


class JsonTexts:
    """instances.json and prompts.json as text, from image parts, re-serialising only parts
    that changed: each part's JSON text is cached by its token and the files are joined from
    the cache, so a rebuild is one pass of string joins (a few ms at 1,000 images), not a
    re-encoding of every annotation. The result equals `instances_json` of the same parts.
    """

    def __init__(self, default=None, category_offset=0):
        self._texts = {}  # stem -> (token, image text, annotation texts, prompts member text)
        self._default = default  # json.dumps `default` for values in parts (numpy scalars)
        self._offset = category_offset  # file category id = part's category_id + offset

    def _fragments(self, stem, part):
        cached = self._texts.get(stem)
        if cached is None or cached[0] != part["token"]:
            dumps = lambda value: json.dumps(value, default=self._default)  # noqa: E731
            prompt = None
            if part.get("prompts") is not None:
                prompt = dumps(part["image"]["file_name"]) + ": " + dumps(part["prompts"])
            cached = (part["token"], dumps(part["image"])[1:],
                      [dumps(_file_annotation(a, self._offset))[1:]
                       for a in part["annotations"]], prompt)
            self._texts[stem] = cached
        return cached[1:]

    def instances(self, parts, categories, description="segkit SAM labelling"):
        """{stem: part} -> instances.json text (ids as `instances_json` gives them)."""
        images, annotations = [], []
        by_name = sorted(parts.items(), key=lambda item: item[1]["image"]["file_name"])
        for image_id, (stem, part) in enumerate(by_name, 1):
            image_text, annotation_texts, _ = self._fragments(stem, part)
            images.append(f'{{"id": {image_id}, {image_text}')
            for text in annotation_texts:
                annotations.append(f'{{"id": {len(annotations) + 1}, "image_id": {image_id}, '
                                   f"{text}")
        head = instances_json([], categories, description)
        head_text = json.dumps({k: head[k] for k in ("info", "licenses", "categories")})
        return (head_text[:-1] + ', "images": [' + ",\n".join(images) + '],\n"annotations": ['
                + ",\n".join(annotations) + "]}\n")

    def prompts(self, parts):
        """{stem: part} -> prompts.json text: file name -> prompts, in stem order."""
        members = [text for stem, part in sorted(parts.items())
                   if (text := self._fragments(stem, part)[2]) is not None]
        return "{" + ",\n".join(members) + "}\n"
