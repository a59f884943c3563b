"""The labelling rule shared by every SAM labelling path (tools/sam_label.py, the labelling
page, the exported SAM): prompts per image -> objects -> one mask per object -> their union.

Prompt entries, in image pixels (the values of prompts.json, keyed by image file name):

  {"objects": [{"points": [[x, y], ...], "labels": [1, 0, ...], "box": [x0, y0, x1, y1]}, ...]}
  {"boxes": [[x0, y0, x1, y1], ...], "points": [[x, y], ...], "labels": [...]}   # shorthand

plus optional "class_id", "species", "breed_id" (ints for the list files). In an object,
"points"/"labels" and "box" are each optional (not both absent); labels default to 1
(foreground). The shorthand means one object per box, each with all the entry's points, or
a single object of the points when there is no box.

Class-aware labelling (`--classes`, `segmodel.sam.labelling.classes`): an object may carry
"class": NAME; an entry-level "class" is the default of its objects (the only way to name
the class of shorthand objects); with neither, an object is the first class.

The mask rule: an object with a box or several points takes SAM's single-mask output (the
prompt is unambiguous); one point alone takes the best-scoring of the three multimask
candidates (a single click is ambiguous: part, object or group).
"""

import json
import pathlib

import numpy as np

# The labelling page's accept record in a prompts.json entry, and the model that pre-labelled
# a batch (segmodel.sam.labelling.prelabels): read back, not prompts.
RECORD_KEYS = ("origin", "changed_fraction", "class_pixels", "model")

ENTRY_KEYS = ("objects", "boxes", "points", "labels", "class", "class_id", "species", "breed_id",
              *RECORD_KEYS)
OBJECT_KEYS = ("points", "labels", "box", "class")


def _where(name):
    return f"{name}: " if name else ""


def _numbers(value, shape_text, field, name):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{_where(name)}{field} must be numbers {shape_text}, got "
                         f"{value!r}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{_where(name)}{field} must be finite numbers, got {array.tolist()}")
    return array


def _class(value, field, name):
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{_where(name)}{field} must be a class name (a string), got {value!r}")
    return value


def _object(raw, field, name, image_size, default_class=(None, None)):
    if not isinstance(raw, dict):
        raise ValueError(f"{_where(name)}{field} must be an object like {{\"points\": [[x, y]], "
                         f"\"labels\": [1], \"box\": null}}, got {raw!r}")
    unknown = sorted(set(raw) - set(OBJECT_KEYS))
    if unknown:
        raise ValueError(f"{_where(name)}{field} has unknown field(s) {unknown}; an object has "
                         f"{list(OBJECT_KEYS)}")
    points = raw.get("points")
    points = [] if points is None else points
    points = _numbers(points, "[[x, y], ...]", f"{field}.points", name)
    if points.size == 0:
        points = points.reshape(0, 2)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{_where(name)}{field}.points must be [[x, y], ...], got shape "
                         f"{points.shape}")
    labels = raw.get("labels")
    if labels is None:
        labels = np.ones(len(points))
    labels = _numbers(labels, "[1, 0, ...]", f"{field}.labels", name).reshape(-1)
    if len(labels) != len(points):
        raise ValueError(f"{_where(name)}{field}.labels has {len(labels)} labels for "
                         f"{len(points)} points; give one label per point")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{_where(name)}{field}.labels must be 1 (foreground) or 0 "
                         f"(background), got {labels.tolist()}")
    box = raw.get("box")
    if box is not None:
        box = _numbers(box, "[x0, y0, x1, y1]", f"{field}.box", name)
        if box.size != 4:
            raise ValueError(f"{_where(name)}{field}.box must be [x0, y0, x1, y1], got "
                             f"{box.tolist()}")
        box = box.reshape(4)
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"{_where(name)}{field}.box {box.tolist()} has x1 < x0 or "
                             "y1 < y0; give the top-left corner first")
    if box is None and len(points) == 0:
        raise ValueError(f"{_where(name)}{field} has neither points nor a box")
    if image_size is not None:
        height, width = image_size
        coords = points if box is None else np.vstack([points, box.reshape(2, 2)])
        bad = [c for c in coords.tolist()
               if not (0 <= c[0] <= width and 0 <= c[1] <= height)]
        if bad:
            raise ValueError(f"{_where(name)}{field} has coordinates {bad} outside the image "
                             f"(width {width}, height {height}); prompts are (x, y) pixels")
    class_name, class_field = default_class
    if raw.get("class") is not None:
        class_name, class_field = _class(raw["class"], f"{field}.class", name), f"{field}.class"
    return {"points": points.astype(np.float32), "labels": labels.astype(np.int32),
            "box": None if box is None else box.astype(np.float32),
            "class": class_name, "class_field": class_field}


def normalize_prompts(entry, *, name="", image_size=None):
    """One image's prompt entry -> its objects.

    Args:
      entry: a dict in either form of the module docstring.
      name: the image's name, for error messages.
      image_size: optional (H, W): also check every coordinate lies on the image.

    Returns:
      list of dicts {"points": float32 `[N, 2]` (N may be 0), "labels": int32 `[N]`,
      "box": float32 `[4]` or None, "class": str or None (the object's or the entry's
      "class"), "class_field": the field that named it ("objects[1].class", "class") or
      None}, at least one.

    Raises:
      ValueError: naming the image and the bad field.
    """
    if not isinstance(entry, dict):
        raise ValueError(f"{_where(name)}the prompt entry must be an object with \"objects\" "
                         f"or \"boxes\"/\"points\", got {entry!r}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ValueError(f"{_where(name)}unknown field(s) {unknown}; a prompt entry has "
                         f"{list(ENTRY_KEYS)}")
    default_class = (_class(entry.get("class"), "class", name), "class")
    if default_class[0] is None:
        default_class = (None, None)
    shorthand = [k for k in ("boxes", "points", "labels") if k in entry]
    if "objects" in entry:
        if shorthand:
            raise ValueError(f"{_where(name)}give either \"objects\" or the shorthand "
                             f"{shorthand}, not both")
        raw_objects = entry["objects"]
        if not isinstance(raw_objects, list) or not raw_objects:
            raise ValueError(f"{_where(name)}objects must be a non-empty list, got "
                             f"{raw_objects!r}")
        return [_object(o, f"objects[{i}]", name, image_size, default_class)
                for i, o in enumerate(raw_objects)]
    boxes = entry.get("boxes") or []
    if not isinstance(boxes, list):
        raise ValueError(f"{_where(name)}boxes must be a list of [x0, y0, x1, y1], got "
                         f"{boxes!r}")
    points = {k: entry[k] for k in ("points", "labels") if entry.get(k) is not None}
    if not boxes and not points:
        raise ValueError(f"{_where(name)}no prompt: give \"objects\", \"boxes\" or "
                         "\"points\"")
    if not boxes:
        return [_object(points, "points", name, image_size, default_class)]
    return [_object(dict(points, box=box), f"boxes[{i}]", name, image_size, default_class)
            for i, box in enumerate(boxes)]


def uses_multimask(obj):
    """The mask rule: True for one point alone (take the best multimask candidate)."""
    return obj["box"] is None and len(obj["points"]) == 1


def object_mask(predictor, obj):
    """One object's mask on the image given to `predictor.set_image`.

    Args:
      predictor: a `segmodel.sam.SamPredictor` with an image set.
      obj: one of `normalize_prompts`' objects.

    Returns:
      (bool `[H, W]`, float score): the single-mask output for a box or several points, the
      best-scoring multimask candidate for one point alone.
    """
    points = obj["points"] if len(obj["points"]) else None
    labels = obj["labels"] if points is not None else None
    masks, scores, _ = predictor.predict(points, labels, obj["box"],
                                         multimask_output=uses_multimask(obj))
    return masks[0], float(scores[0])  # predict sorts best first


def object_masks(predictor, objects):
    """Every object's mask, in order -> list of (bool `[H, W]`, float score)."""
    return [object_mask(predictor, obj) for obj in objects]


def union_mask(predictor, objects):
    """The union of the objects' masks -> (bool `[H, W]`, list of float scores)."""
    if not objects:
        raise ValueError("union_mask needs at least one object")
    union, scores = None, []
    for obj in objects:
        mask, score = object_mask(predictor, obj)
        union = mask.copy() if union is None else union | mask
        scores.append(score)
    return union, scores


def object_to_json(obj):
    """One `normalize_prompts` object -> its canonical JSON ("class" only when it has one)."""
    out = {"points": obj["points"].tolist(), "labels": obj["labels"].tolist(),
           "box": None if obj["box"] is None else obj["box"].tolist()}
    if obj.get("class") is not None:
        out["class"] = obj["class"]
    return out


def objects_to_json(objects):
    """`normalize_prompts`' objects -> the canonical JSON entry {"objects": [...]}."""
    return {"objects": [object_to_json(o) for o in objects]}


def load_prompt_file(path):
    """Read prompts.json -> dict image file name -> entry (not yet normalised).

    Raises:
      FileNotFoundError / ValueError naming the file when it is missing, not JSON, or not
      an object keyed by image file names.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Prompt file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object keyed by image file name, e.g. "
                         "{\"cat_1.jpg\": {\"boxes\": [[10, 20, 200, 180]]}}")
    return data
