"""Pre-labels from a trained segkit model: its prediction split into editable objects, and the
record of what the labeller did with them.

    runner = segmodel.serving.runtimes.load_runner("runs/pets/model.keras")
    prelabeller = PreLabeller(runner, folder_classes, min_area=20)
    objects = prelabeller.objects(image)      # [{"mask", "category_id", "box"}, ...]

The model's class 0 is the folder's background (named "background", "_background_", "bg" or
"class_0"), its classes 1..K the folder's classes in the same order (`check_model_classes`).
An object is one connected region (8-neighbour connectivity, as OpenCV's connectedComponents
and skimage.measure.label default) of one class of the arg-max; regions under `min_area`
pixels become background.

Accept records (`accept_record`; the page stores "origin", "changed_fraction" and, as
"class_pixels", "classes" in the image's prompts.json entry):
  {"origin": "pre-labelled" | "edited" | "new", "changed_fraction": float or None,
   "classes": {name: {"pre": pixels, "final": pixels, "changed": pixels}}}"""

import collections
import pathlib

import numpy as np
from scipy import ndimage

from segmodel.sam.labelling.classes import BACKGROUND, ClassList, folder_classes

ORIGINS = ("pre-labelled", "edited", "new")
_EIGHT = np.ones((3, 3), bool)  # 8-neighbour connectivity


def is_background(name):
    """True for the names a model's class 0 has when it is the background: "background" (any
    case, VOC's "_background_"), "bg", or "class_0" (what segkit calls an unnamed model's
    class 0)."""
    return str(name).strip("_").lower() in (BACKGROUND, "bg", "class_0")


def check_model_classes(model_classes, class_list, model_path):
    """ValueError naming both lists unless the model's classes are the background (see
    `is_background`) then the folder's classes in order (train id = class id on both sides)."""
    expected = [BACKGROUND, *class_list.names]
    got = [str(c) for c in model_classes]
    if len(got) != len(expected) or not is_background(got[0]) or got[1:] != expected[1:]:
        raise ValueError(f"the model {model_path} predicts the classes {got} but the labelled "
                         f"folder's classes are {expected}; pass --classes (or a folder) with "
                         "the model's classes after 'background', or a model trained on them")


def model_classes(model, output_dir, classes):
    """(the loaded `ModelRunner`, the folder's classes): `classes` if given, else None when
    OUT/classes.json exists (the session reads it), else the model's classes after
    "background" (a model whose class 0 is not "background" needs --classes).

    Raises:
      ValueError naming both lists when the model's classes are not the folder's.
    """
    if not hasattr(model, "probabilities"):
        from segmodel.serving.runtimes import load_runner

        model = load_runner(model)
    root = pathlib.Path(output_dir)
    if classes is not None or (root / "classes.json").is_file():
        check_model_classes(model.classes, folder_classes(root, classes), model.path)
    else:
        names = list(model.classes)
        if len(names) < 2 or not is_background(names[0]):
            raise ValueError(f"the model {model.path} predicts the classes {names}; labelling "
                             "needs 'background' first and the labelled classes after it. "
                             "Pass --classes with the folder's classes.")
        classes = ClassList(tuple(names[1:]), tuple(tuple(c) for c in model.palette)
                            if model.palette else None)
    return model, classes


def class_regions(label, num_classes, min_area=0):
    """The connected regions of each class of a class-id mask.

    Args:
      label: uint8/int `[H, W]` class ids (0 = background, 1..num_classes; other values,
        e.g. 255, are not a class and give no region).
      num_classes: K, the classes after background.
      min_area: regions of fewer pixels are dropped (specks).

    Returns:
      list of (bool `[H, W]` mask, class id 1..K, area), by class id, then by area (largest
      first), then by the region's first pixel in raster order.
    """
    label = np.asarray(label)
    out = []
    for class_id in range(1, num_classes + 1):
        components, count = ndimage.label(label == class_id, structure=_EIGHT)
        if not count:
            continue
        areas = np.bincount(components.ravel(), minlength=count + 1)
        kept = [k for k in range(1, count + 1) if areas[k] >= max(1, min_area)]
        for k in sorted(kept, key=lambda k: -areas[k]):  # stable: raster order among ties
            out.append((components == k, class_id, int(areas[k])))
    return out


def box_of(mask):
    """[x0, y0, x1, y1] pixel-edge box of a non-empty bool mask (a SAM box prompt)."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def paint(objects, size):
    """list of (bool mask, class id) painted in order (later on top) -> uint8 `[H, W]`."""
    label = np.zeros(tuple(size), np.uint8)
    for mask, class_id in objects:
        label[np.asarray(mask, bool)] = class_id
    return label


class PreLabeller:
    """A model runner's predictions as pre-label objects in a folder's classes.

    Args:
      runner: a `segmodel.serving.model_runner.ModelRunner` (its `classes`, `path`).
      class_list: the folder's `ClassList`; checked against the runner's classes.
      min_area: int >= 0, regions smaller than this many pixels are not pre-labelled.
    """

    def __init__(self, runner, class_list, min_area=0):
        if int(min_area) < 0:
            raise ValueError(f"--min-area must be >= 0, got {min_area}")
        check_model_classes(runner.classes, class_list, runner.path)
        self.runner = runner
        self.classes = class_list
        self.min_area = int(min_area)

    def probabilities(self, image):
        """uint8 `[H, W, 3]` -> float32 `[H, W, K + 1]` class probabilities at the image's size
        (resized bilinearly before the arg-max, as segkit predict does)."""
        from segmodel.serving.runtimes import probabilities_at

        return probabilities_at(self.runner, image)

    def regions(self, image):
        """The pre-label objects of an image: `class_regions` of the model's arg-max."""
        argmax = np.argmax(self.probabilities(image), axis=-1).astype(np.uint8)
        return class_regions(argmax, len(self.classes), self.min_area)

    def objects(self, image):
        """-> list of {"mask": bool `[H, W]`, "category_id": 1..K, "box": [x0, y0, x1, y1]}."""
        return [{"mask": mask, "category_id": class_id, "box": box_of(mask)}
                for mask, class_id, _ in self.regions(image)]


class ModelSource:
    """A mask source of `segmodel.sam.labelling.folder.label_images` (`segkit sam-label
    --model`): every image's pre-label objects, as written by the page before any edit.

    Each object's "score" is the mean probability of its class over its pixels; its "prompt"
    the region's box and class; the prompts.json record {"objects": [...], "model": path}.
    """

    def __init__(self, prelabeller):
        self.prelabeller = prelabeller

    def check(self, name, image_size, entry):
        """Nothing to check: the entry is empty (every image is labelled)."""

    def objects(self, name, image_path, entry):
        from segmodel.sam.prompting.files import load_image

        probabilities = self.prelabeller.probabilities(load_image(image_path))
        argmax = np.argmax(probabilities, axis=-1)
        names = self.prelabeller.classes.names
        out = []
        for mask, class_id, _ in class_regions(argmax, len(names), self.prelabeller.min_area):
            prompt = {"points": [], "labels": [], "box": box_of(mask),
                      "class": names[class_id - 1]}
            out.append({"mask": mask, "category_id": class_id, "prompt": prompt,
                        "score": round(float(probabilities[..., class_id][mask].mean()), 4)})
        return out, {"objects": [o["prompt"] for o in out],
                     "model": str(self.prelabeller.runner.path)}


def accept_record(pre_label, final_label, class_names, from_model):
    """What the labeller did with a pre-label (module docstring).

    Args:
      pre_label: uint8 `[H, W]` the pre-label as shown (None: no model, the image was
        labelled from scratch).
      final_label: uint8 `[H, W]` the accepted objects painted in order (no ignore band).
      class_names: names of class ids 1..K.
      from_model: True when at least one accepted object is a pre-label object (edited or not).

    Returns:
      the record dict.
    """
    final_label = np.asarray(final_label)
    shown = pre_label
    if pre_label is None:
        pre_label = np.zeros_like(final_label)
        origin = "new"
    else:
        pre_label = np.asarray(pre_label)
        same = np.array_equal(pre_label, final_label)
        origin = "pre-labelled" if same else ("edited" if from_model else "new")
    changed = pre_label != final_label
    classes = {}
    for class_id, name in enumerate(class_names, 1):
        pre, final = pre_label == class_id, final_label == class_id
        if pre.any() or final.any():
            classes[name] = {"pre": int(pre.sum()), "final": int(final.sum()),
                             "changed": int((pre != final).sum())}
    fraction = None if shown is None else round(float(changed.mean()), 6)
    return {"origin": origin, "changed_fraction": fraction, "classes": classes}


def summarize(records, class_names):
    """Accept records (prompts.json entries' "origin"...) -> per class
    {name: {"pre-labelled": images, "edited": images, "new": images, "changed_fraction":
    pixels whose membership of the class changed / pixels of the class in the pre-label or
    the final mask, summed over the images that had a pre-label (1 - the IoU of pre-label
    and final)}}, plus "all"
    counting images by origin. An image counts for a class when either mask holds it."""
    per_class = {n: collections.Counter() for n in class_names}
    images = collections.Counter()
    for record in records:
        if not record or record.get("origin") not in ORIGINS:
            continue
        images[record["origin"]] += 1
        for name, c in (record.get("classes") or {}).items():
            if name not in per_class:
                continue
            counts = per_class[name]
            kind = "new" if record["origin"] == "new" else (
                "edited" if c["changed"] else "pre-labelled")
            counts[kind] += 1
            if record.get("changed_fraction") is None:
                continue  # no pre-label was shown: nothing to hold against the model
            counts["changed"] += c["changed"]
            counts["union"] += (c["pre"] + c["final"] + c["changed"]) // 2
    out = {}
    for name, counts in per_class.items():
        out[name] = {k: counts[k] for k in ORIGINS}
        out[name]["changed_fraction"] = (round(counts["changed"] / counts["union"], 4)
                                         if counts["union"] else None)
    out["all"] = {k: images[k] for k in ORIGINS}
    return out


def format_summary(summary):
    """`summarize`'s dict -> the lines `segkit label-app` prints."""
    total = summary["all"]
    lines = [f"accepted images: {total['pre-labelled']} as pre-labelled, {total['edited']} "
             f"edited, {total['new']} labelled from scratch"]
    width = max([len(n) for n in summary if n != "all"] + [5])
    lines.append(f"  {'class':<{width}}  as-is  edited  new  changed")
    for name, c in summary.items():
        if name == "all":
            continue
        changed = "-" if c["changed_fraction"] is None else f"{100 * c['changed_fraction']:.1f}%"
        lines.append(f"  {name:<{width}}  {c['pre-labelled']:>5}  {c['edited']:>6}  "
                     f"{c['new']:>3}  {changed:>7}")
    return lines
