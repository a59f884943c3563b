"""Label a folder of images into a Pets-layout or a `masks`-layout folder from per-image prompts.

The loop is independent of where masks come from: a *mask source* turns one image and its
prompt entry into a foreground mask. `PointBoxSource` is SAM with point and box prompts
(the shared mask rule of `segmodel.sam.labelling.entries`); other sources (e.g. text prompts) only
need the same methods:

  check(name, image_size, entry) -> None      raise ValueError naming the image and field
  mask(name, image_path, entry) -> (bool [H, W], prompts dict to record, or None)
  objects(name, image_path, entry) -> (list of {"mask", "category_id", "score", "prompt"},
                                       prompts dict to record)    # layout "masks" only

Layout "pets" (`LabelledFolder`, one class) writes the union of the objects as a trimap;
layout "masks" (`MasksFolder`, any number of classes) paints each object's class id and
keeps COCO instances (`segmodel.sam.labelling.masks_folder`).

Every entry is checked before the first model call, so a typo in prompts.json fails in
seconds with every bad entry listed, not after an hour of labelling.
"""

import dataclasses
import pathlib
import sys

from PIL import Image

from segdata.formats.pets.labelled import IMAGE_SUFFIXES, LabelledFolder, sample_name
from segmodel.sam.labelling import entries as labelling

LAYOUTS = ("pets", "masks")


def resolve_classes(objects, classes, name):
    """Train id (1..K) of each `normalize_prompts` object.

    Raises:
      ValueError naming the image and the object's "class" field: an unknown class, or a
      "class" when no classes were given.
    """
    ids = []
    for obj in objects:
        where = f"{name}: {obj.get('class_field') or 'class'}"
        if classes is None:
            if obj.get("class") is not None:
                raise ValueError(f"{where} is {obj['class']!r} but no classes were given; "
                                 "pass --classes")
            ids.append(1)
        else:
            ids.append(classes.train_id(obj.get("class"), where))
    return ids


class PointBoxSource:
    """SAM masks from point and box prompts: the union of the objects' masks (`mask`), or
    each object's mask and class (`objects`).

    Args:
      predictor: a `SamPredictor`, or a function returning one, called at the first mask
        (so prompts are checked, and a finished folder resumed, without loading SAM).
      classes: a `ClassList` the objects' "class" names resolve in, or None (no object may
        then carry a "class").
    """

    def __init__(self, predictor, classes=None):
        self._predictor = predictor
        self.classes = classes

    @property
    def predictor(self):
        if callable(self._predictor):
            self._predictor = self._predictor()
        return self._predictor

    def check(self, name, image_size, entry):
        objects = labelling.normalize_prompts(entry, name=name, image_size=image_size)
        resolve_classes(objects, self.classes, name)

    def _set(self, name, image_path, entry):
        self.predictor.set_image(image_path)
        return labelling.normalize_prompts(entry, name=name,
                                           image_size=self.predictor.original_size)

    def mask(self, name, image_path, entry):
        objects = self._set(name, image_path, entry)
        mask, _ = labelling.union_mask(self.predictor, objects)
        return mask, labelling.objects_to_json(objects)

    def mask_objects(self, name, image_path, entry):
        """-> (`mask`'s union and record, plus each object: {"mask", "score", "prompt"}):
        the Pets layout's trimap and its COCO instances from one pass of SAM."""
        objects = self._set(name, image_path, entry)
        pairs = labelling.object_masks(self.predictor, objects)
        union = pairs[0][0].copy()
        for mask, _ in pairs[1:]:
            union |= mask
        return union, labelling.objects_to_json(objects), [
            {"mask": mask, "score": score, "prompt": labelling.object_to_json(obj)}
            for obj, (mask, score) in zip(objects, pairs)]

    def objects(self, name, image_path, entry):
        """-> (one dict per object, in the entry's order: "mask" bool `[H, W]`,
        "category_id", "score", "prompt" (with its class name); the prompts.json record)."""
        objects = self._set(name, image_path, entry)
        ids = resolve_classes(objects, self.classes, name)
        out = []
        for obj, train_id, (mask, score) in zip(objects, ids,
                                                labelling.object_masks(self.predictor, objects)):
            prompt = labelling.object_to_json(obj)
            if self.classes is not None:
                prompt["class"] = self.classes.names[train_id - 1]
            out.append({"mask": mask, "category_id": train_id, "score": score, "prompt": prompt})
        return out, {"objects": [o["prompt"] for o in out]}


@dataclasses.dataclass
class LabelReport:
    """What `label_images` did, by image file name."""

    labelled: list = dataclasses.field(default_factory=list)
    kept: list = dataclasses.field(default_factory=list)  # labelled by an earlier run
    no_prompts: list = dataclasses.field(default_factory=list)  # images without an entry
    missing_images: list = dataclasses.field(default_factory=list)  # entries without image
    empty: list = dataclasses.field(default_factory=list)  # masks with no foreground
    failed: list = dataclasses.field(default_factory=list)  # "name: reason" (unreadable, ...)

    def summary(self):
        parts = [f"{len(self.labelled)} labelled", f"{len(self.kept)} kept from earlier runs"]
        for what, names in (("without prompts", self.no_prompts),
                            ("with prompts but no image", self.missing_images),
                            ("with empty masks", self.empty),
                            ("that failed", self.failed)):
            if names:
                shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
                parts.append(f"{len(names)} left out {what} ({shown})")
        return "; ".join(parts)


def image_files(images_dir):
    return sorted(p.name for p in images_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.name.lower().endswith(IMAGE_SUFFIXES))


def _ids(entry):
    return {k: entry.get(k, 1) for k in ("class_id", "species", "breed_id")}


def _check_entries(images_dir, prompts, source):
    """Check every entry with an image -> names to label; raises listing every problem."""
    errors, stems, names = [], {}, []
    for name in sorted(prompts):
        path = images_dir / name
        if not path.is_file():
            continue
        stem = sample_name(name)
        if stem in stems:
            errors.append(f"{name}: same sample name {stem!r} as {stems[stem]}; rename one")
            continue
        stems[stem] = name
        try:
            entry = prompts[name]
            if isinstance(entry, dict):
                ids = _ids(entry)
                if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                           for v in ids.values()):
                    raise ValueError(f"{name}: class_id, species and breed_id must be ints "
                                     f">= 1, got {ids}")
            with Image.open(path) as img:
                width, height = img.size
            source.check(name, (height, width), entry)
        except (OSError, ValueError) as err:
            errors.append(str(err) if name in str(err) else f"{name}: {err}")
            continue
        names.append(name)
    if errors:
        raise ValueError(f"{len(errors)} bad prompt entr{'y' if len(errors) == 1 else 'ies'}, "
                         "nothing was labelled:\n  " + "\n  ".join(errors))
    return names


def _writer(output_dir, layout, classes, outline_width, ignore_width):
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "pets":
        return LabelledFolder(output_dir, outline_width=outline_width)
    from segmodel.sam.labelling.masks_folder import MasksFolder

    # Batch runs rebuild prompts.json/instances.json every 30 s and at the end.
    return MasksFolder(output_dir, classes, ignore_width=ignore_width, refresh_seconds=30.0)


def label_images(images_dir, prompts, output_dir, source, *, outline_width=2,
                 progress=True, layout="pets", classes=None, ignore_width=0):
    """Label every image of `images_dir` that has a prompt entry into `output_dir`.

    Args:
      images_dir: folder of images; prompts are keyed by file name relative to it.
      prompts: dict image file name -> prompt entry (see `segmodel.sam.labelling.entries`).
      output_dir: the Pets-layout output (see `segdata.formats.pets.labelled`). Images it already holds
        are kept, so an interrupted run resumes where it stopped.
      source: a mask source (see the module docstring), e.g. `PointBoxSource(predictor)`.
      outline_width: the trimap's outline band width in pixels (layout "pets").
      progress: show a tqdm progress bar on stderr.
      layout: "pets" (a trimap of the union; at most one class) or "masks" (class ids and
        COCO instances; `source` needs `objects`).
      classes: a `ClassList` (needed for "masks"; it must be the source's classes).
      ignore_width: layout "masks": width of the 255 band around each object's edge.

    Returns:
      A `LabelReport`. Images without prompts, entries without images, empty masks and
      images that cannot be read are reported there and left out of the folder.

    Raises:
      ValueError: listing every bad entry (before anything is labelled).
    """
    from tqdm.auto import tqdm

    images_dir = pathlib.Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"Image folder not found: {images_dir}")
    if layout == "masks" and classes is None:
        raise ValueError("--layout masks needs the classes (--classes cat dog)")
    if layout == "pets" and classes is not None and len(classes) > 1:
        raise ValueError(f"--layout pets holds one class, got {len(classes)} "
                         f"{list(classes.names)}; use --layout masks")
    report = LabelReport()
    report.no_prompts = [n for n in image_files(images_dir) if n not in prompts]
    report.missing_images = sorted(n for n in prompts if not (images_dir / n).is_file())
    names = _check_entries(images_dir, prompts, source)
    folder = _writer(output_dir, layout, classes, outline_width, ignore_width)
    coco = None
    if layout == "pets":
        from segmodel.sam.labelling.pets_coco import PetsCoco

        coco = PetsCoco(output_dir, classes.names[0] if classes is not None else "pet")
    todo = []
    for name in names:
        (report.kept if folder.is_labelled(name) else todo).append(name)
    try:
        for name in tqdm(todo, desc="sam_label", unit="img", disable=not progress,
                         file=sys.stderr):
            _label_one(folder, layout, source, images_dir, name, prompts[name], report, coco)
    finally:
        if layout == "masks":
            folder.close()
    return report


def _label_one(folder, layout, source, images_dir, name, entry, report, coco=None):
    try:
        if layout == "masks":
            objects, record = source.objects(name, images_dir / name, entry)
            empty = not any(o["mask"].any() for o in objects)
        elif hasattr(source, "mask_objects"):  # the trimap plus its objects for instances.json
            mask, record, objects = source.mask_objects(name, images_dir / name, entry)
            empty = not mask.any()
        else:
            mask, record = source.mask(name, images_dir / name, entry)
            objects, empty = [{"mask": mask}], not mask.any()
    except (ValueError, OSError) as err:  # e.g. a truncated file behind a valid header
        report.failed.append(f"{name}: {err}")
        return
    if empty:
        report.empty.append(name)
    elif layout == "masks":
        folder.write(name, images_dir / name, objects, prompts=record)
        report.labelled.append(name)
    else:
        folder.write(name, images_dir / name, mask, prompts=record, **_ids(entry))
        if coco is not None:
            coco.write(sample_name(name), mask.shape, objects, folder.labelled)
        report.labelled.append(name)
