"""The labelling page with classes: each object has a class, the output is a `masks` folder.

`ClassLabelSession` is `LabelSession` (same photo folder, names, statuses, skip list and
embedding cache) writing through `segmodel.sam.labelling.masks_folder.MasksFolder`:

  OUT/images/NAME.jpg, OUT/masks/NAME.png (train ids, objects painted in order, later on
  top), OUT/classes.json, OUT/prompts.json, OUT/annotations/instances.json (COCO RLE per
  object), OUT/annotations/parts/ (one JSON per image: the source of the two JSON files),
  OUT/annotations/skipped.json (the page's own).

An accept writes the image, its mask and its part together (temporaries, a journal, renames:
all or nothing, serialised across threads and processes by MasksFolder's locks), so two tabs
accepting one image leave one of the two accepts whole. By default (`refresh_seconds` 0)
prompts.json and instances.json are rebuilt inside the accept, so when it answers the mask,
the image's prompts.json entry and its instances.json annotations are all on disk together;
the rebuild joins cached per-image JSON text (MasksFolder._rebuild), a few milliseconds at
1,000 images. A positive `refresh_seconds` moves it to a background timer instead. A killed
server leaves valid files; the next start rebuilds stale ones.

With a model (`model_assist.ModelAssist`): an image still to do opens with the model's
pre-label as objects ("source": "model"); each accept records in the image's prompts.json
entry whether it was accepted as pre-labelled, edited (with the fraction of pixels changed) or
labelled from scratch (`segmodel.sam.labelling.prelabels.accept_record`: "origin",
"changed_fraction", "class_pixels"); `order="uncertainty"` puts the images still to do first,
most uncertain first, and lists each one's score.
"""

import collections
import pathlib

from segmodel.sam.label_app.masks_io import BadRequest, mask_b64, short_floats, split_sources
from segmodel.sam.label_app.session import LabelSession
from segmodel.sam.labelling import coco_output, prelabels
from segmodel.sam.labelling import entries as labelling
from segmodel.sam.labelling.masks_folder import MasksFolder

ORDERS = ("name", "uncertainty")


class ClassLabelSession(LabelSession):
    """Label the photos of `images_dir` with classes into the `masks` folder `output_dir`.

    Args:
      classes: a `ClassList`, or None to use OUT/classes.json of an earlier session.
      ignore_width: MasksFolder's 255 band around each object's edge (0: none, so the mask
        written is exactly the objects shown on the page).
      refresh_seconds: 0 (default) rebuilds prompts.json / instances.json inside every
        accept; > 0 at most this often in a background timer (MasksFolder).
      model: None, or a model for pre-labels (a `ModelRunner` or a path, see
        `segmodel.serving.runtimes.load_runner`); its classes must be the folder's.
      min_area: the model's regions under this many pixels are not pre-labelled.
      order: "name", or "uncertainty" (needs `model`): the images still to do, most
        uncertain first (scored once, at the start), then the others by name.
      other arguments: as `LabelSession` (outline_width is not used).
    """

    def __init__(self, images_dir, output_dir, predictor, classes=None, ignore_width=0,
                 refresh_seconds=0, model=None, min_area=0, order="name", **kwargs):
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if order == "uncertainty" and model is None:
            raise ValueError("--order uncertainty needs --model: the model's uncertainty "
                             "orders the queue")
        self._folder_args = (classes, ignore_width, refresh_seconds)
        super().__init__(images_dir, output_dir, predictor, **kwargs)
        self.classes = self.folder.classes
        self.model = None
        if model is not None:
            from segmodel.sam.label_app.model_assist import ModelAssist

            self.model = ModelAssist(model, self.classes, min_area)
        # name -> Counter(train id -> objects) of each labelled image: statuses and per-class
        # progress without reading the folder on every request; name -> accept record.
        self._counts, self._records = {}, {}
        for name in self.names:
            if self.folder.is_labelled(name):
                part = self.folder.part(name)
                self._counts[name] = self._part_counts(part)
                self._records[name] = _record((part or {}).get("prompts"))
        self.scores = {}
        if order == "uncertainty":
            todo = [n for n in self.names if self.status(n) == "todo"]
            self.scores = self.model.scores(todo, self.load_pixels)
            first = sorted(self.scores, key=lambda n: (-self.scores[n], n))
            self.names = first + [n for n in self.names if n not in self.scores]

    def _open_coco(self, output_dir):
        return None  # MasksFolder keeps instances.json itself

    def _open_folder(self, output_dir, outline_width):
        root = pathlib.Path(output_dir).expanduser().resolve()
        if self.images_dir in (root, root / "images"):  # before MasksFolder writes anything
            raise ValueError(f"--output-dir {root} would write into the photo folder; choose "
                             "a separate output folder.")
        classes, ignore_width, refresh_seconds = self._folder_args
        return MasksFolder(root, classes, ignore_width=ignore_width,
                           refresh_seconds=refresh_seconds)

    @staticmethod
    def _part_counts(part):
        return collections.Counter(a["category_id"] for a in (part or {}).get("annotations", []))

    # -- statuses ---------------------------------------------------------------------------

    def status(self, name):
        if name in self._counts:
            return "labelled"
        if self.is_skipped(name):
            return "skipped"
        return "unreadable" if name in self.photos.unreadable else "todo"

    def progress(self):
        """{"labelled", "skipped", "unreadable", "todo", "total": images; "classes":
        {name: {"objects": n, "images": m}} over the labelled images}."""
        out = dict.fromkeys(("labelled", "skipped", "unreadable", "todo"), 0)
        for name in self.names:
            out[self.status(name)] += 1
        out["total"] = len(self.names)
        per_class = {n: {"objects": 0, "images": 0} for n in self.classes.names}
        for counts in self._counts.values():
            for train_id, k in counts.items():
                entry = per_class[self.classes.names[train_id - 1]]
                entry["objects"] += k
                entry["images"] += 1
        out["classes"] = per_class
        if self.model is not None:  # how the model's pre-labels fared, per class
            out["accepts"] = self.accept_summary()
        return out

    def images(self):
        """`LabelSession.images` in queue order, plus "score" (uncertainty order: the
        model's score, null if not scored) and "origin" (a labelled image's accept record)."""
        out = super().images()
        for item in out:
            if self.scores:
                item["score"] = self.scores.get(item["name"])
            record = self._records.get(item["name"])
            if record:
                item["origin"] = record["origin"]
                item["changed_fraction"] = record.get("changed_fraction")
        return out

    def accept_summary(self):
        """`prelabels.summarize` of the accept records of the labelled images."""
        return prelabels.summarize(list(self._records.values()), self.classes.names)

    # -- actions ----------------------------------------------------------------------------

    def accept(self, name, objects):
        """Write the image's mask, prompts and COCO annotations; each object is its
        `mask_png` (the page's edited mask) if sent, else its SAM mask, in the object's class.

        Returns:
          {"mask": "masks/NAME.png", "labelled": k, "total": N, "origin", "changed_fraction"}.
        """
        self.path(name)
        objects, from_model = split_sources(objects)
        objects, given = self.edited_masks(name, objects)
        masks, scores, objects = self.predict_objects(name, objects, given)
        if not any(m.any() for m in masks):
            raise BadRequest(f"Every object's mask of {name} is empty, so nothing was written; "
                             "add a foreground point or a box, brush the object, or skip the "
                             "image.")
        records = short_floats(labelling.objects_to_json(objects))["objects"]
        out = []
        for obj, record, mask, score in zip(objects, records, masks, scores):
            train_id = self.classes.train_id(obj["class"])
            record["class"] = self.classes.names[train_id - 1]
            out.append({"mask": mask, "category_id": train_id, "score": score,
                        "prompt": record})
        final = prelabels.paint([(o["mask"], o["category_id"]) for o in out], masks[0].shape)
        shown = self.model.prelabel(name, self.load_pixels)[1] if self.model else None
        accepted = prelabels.accept_record(shown, final, self.classes.names, from_model)
        entry = {"objects": records, "origin": accepted["origin"],
                 "changed_fraction": accepted["changed_fraction"],
                 "class_pixels": accepted["classes"]}
        with self.state_lock:
            try:
                written = self.folder.write(name, self.path(name), out, prompts=entry)
            except ValueError as err:  # e.g. a name MasksFolder cannot use as a sample
                raise BadRequest(str(err)) from None
            self._counts[name] = collections.Counter(
                o["category_id"] for o in out if o["mask"].any())
            self._records[name] = _record(entry)
            self.clear_skip(name)
        return {"mask": written, "labelled": len(self._counts), "total": len(self.names),
                "origin": entry["origin"], "changed_fraction": entry["changed_fraction"]}

    def labels(self, name):
        """The objects saved for `name` ([] if none), for re-opening: {"class", "points",
        "labels", "box", "mask_png"} in painting order (objects whose mask was empty were
        not saved). An image not labelled yet gets the model's pre-label (if a model)."""
        self.path(name)
        if name not in self._counts and self.model is not None:
            if name in self.photos.unreadable:
                return []
            try:
                return self.model.page_objects(name, self.load_pixels)
            except ValueError as err:  # the file cannot be decoded
                raise BadRequest(f"{name} cannot be decoded as an image ({err}); skip it.") \
                    from None
        part = self.folder.part(name) if name in self._counts else None
        out = []
        for annotation in (part or {}).get("annotations", []):
            prompt = annotation.get("prompt") or {}
            out.append({"class": self.classes.names[annotation["category_id"] - 1],
                        "points": prompt.get("points", []), "labels": prompt.get("labels", []),
                        "box": prompt.get("box"),
                        "mask_png": mask_b64(coco_output.decode_mask(
                            annotation.get("object_mask", annotation["segmentation"])))})
        return out

    def close(self):
        """Stop encoding; rebuild prompts.json and instances.json if anything was accepted."""
        try:
            super().close()
        finally:
            self.folder.close()


def _record(entry):
    """A prompts.json entry -> its accept record ({"origin", "changed_fraction", "classes"})
    or None (accepted before records existed, or by another tool)."""
    if not isinstance(entry, dict) or entry.get("origin") not in prelabels.ORIGINS:
        return None
    return {"origin": entry["origin"], "changed_fraction": entry.get("changed_fraction"),
            "classes": entry.get("class_pixels") or {}}
