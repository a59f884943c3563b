"""The labelling page's state and actions, without HTTP: a folder of photos, a SAM, an output.

The output folder is the state. An image is "labelled" when
`segdata.formats.pets.labelled.LabelledFolder` says so (listed, image and trimap written),
"skipped" when its name is in
OUT/annotations/skipped.json (a file `build_records` never reads), "unreadable" when its file
cannot be decoded, else "todo". Stopping the server loses at most the clicks on the current
image, and starting it again on the same folders shows the same statuses.

Images are named by the file names in the photo folder (`photo_folder.PhotoFolder`: any
other name is `NotFound`, so no request can read or write outside the two folders).
"""

import threading
import time

from segdata.formats.pets.labelled import LabelledFolder, sample_name
from segdata.io.atomic import write_json_atomic
from segmodel.sam.label_app.embedding_cache import EmbeddingCache
from segmodel.sam.label_app.masks_io import (
    BadRequest,
    check_classes,
    edited_masks,
    json_load,
    short_floats,
    split_sources,
    union,
)
from segmodel.sam.label_app.photo_folder import PhotoFolder, existing_folder
from segmodel.sam.labelling import entries as labelling

SKIPPED_FILE = "skipped.json"


class LabelSession:
    """Label the photos of `images_dir` into the Pets-layout folder `output_dir`.

    Args:
      images_dir: folder of photos (.jpg .jpeg .png .bmp .gif .webp .tif .tiff; not recursive).
      output_dir: the LabelledFolder to write (created on the first accept).
      predictor: a `SamPredictor`; its encoder runs in a background thread.
      outline_width: the trimap outline band, px.
      cache_size: embeddings kept in memory (4 MiB each at 1024 px).
      encoder: optional `ProcessEncoder` for the same model (closed with the session);
        default: the predictor's encoder in a background thread of this process.
      classes: None (objects carry no "class"), or a `ClassList` of one class (the Pets
        layout holds one); `classes_session.ClassLabelSession` writes several.
    """

    def __init__(self, images_dir, output_dir, predictor, outline_width=2, cache_size=4,
                 encoder=None, classes=None):
        self.classes = classes  # a one-class ClassList names the objects; None: no "class"
        self.images_dir = existing_folder(images_dir)
        self.folder = self._open_folder(output_dir, outline_width)
        self.coco = self._open_coco(output_dir)
        if self.folder.root == self.images_dir or self.folder.images_dir == self.images_dir:
            raise ValueError(f"--output-dir {self.folder.root} would write into the photo "
                             "folder; choose a separate output folder.")
        self.photos = PhotoFolder(self.images_dir)
        self.names = list(self.photos.names)
        self.predictor = predictor
        self._skipped_path = self.folder.annotations_dir / SKIPPED_FILE
        self._skipped = self._read_skipped()
        self.state_lock = threading.Lock()  # one writer of labels and the skipped list
        self._predict_lock = threading.Lock()
        self.encoder = encoder
        self.cache = EmbeddingCache(predictor, self.load_pixels, capacity=cache_size,
                                    encode=encoder)

    def _open_folder(self, output_dir, outline_width):
        return LabelledFolder(output_dir, outline_width)

    def _open_coco(self, output_dir):
        """OUT/annotations/instances.json beside the trimaps (segmodel.sam.labelling.pets_coco)."""
        from segmodel.sam.labelling.pets_coco import PetsCoco

        return PetsCoco(output_dir, self.classes.names[0] if self.classes else "pet")

    # -- the photo folder (PhotoFolder) ----------------------------------------------------

    def image_size(self, name):
        """(width, height) of photo `name` as read at the start, or None (unreadable)."""
        return self.photos.image_size(name)

    @property
    def predict_lock(self):
        """The lock every prompt on the shared predictor holds (one embedding at a time)."""
        return self._predict_lock

    def path(self, name):
        """The photo file of `name`, or NotFound (`PhotoFolder.path`)."""
        return self.photos.path(name)

    def load_pixels(self, name):
        """uint8 `[H, W, 3]` as SAM and build_records see it (no EXIF rotation)."""
        return self.photos.load_pixels(name)

    def image_bytes(self, name):
        """(bytes, content type) for the page (`PhotoFolder.image_bytes`)."""
        return self.photos.image_bytes(name)

    # -- statuses ---------------------------------------------------------------------------

    def _read_skipped(self):
        try:
            return set(json_load(self._skipped_path).get("skipped", []))
        except FileNotFoundError:
            return set()

    def status(self, name):
        if self.folder.is_labelled(name):
            return "labelled"
        if self.is_skipped(name):
            return "skipped"
        if name in self.photos.unreadable:
            return "unreadable"
        return "todo"

    def images(self):
        """[{"name", "status", "width", "height"}] in name order (sizes null if unreadable)."""
        out = []
        for name in self.names:
            width, height = self.photos.image_size(name) or (None, None)
            out.append({"name": name, "status": self.status(name), "width": width,
                        "height": height})
        return out

    def progress(self):
        """{"labelled": k, "total": N}."""
        return {"labelled": sum(self.folder.is_labelled(n) for n in self.names),
                "total": len(self.names)}

    def next_todo(self, after=None):
        """The first "todo" image after `after` in name order (wrapping), or None."""
        start = self.names.index(after) + 1 if after in self.names else 0
        for name in self.names[start:] + self.names[:start]:
            if name != after and self.status(name) == "todo":
                return name
        return None

    # -- actions ----------------------------------------------------------------------------

    def open(self, name):
        """The page shows `name`: encode it first, then the next image still to do; forget
        images queued for where the user was before."""
        self.path(name)
        following = self.next_todo(after=name)
        self.cache.schedule([k for k in (name, following)
                             if k is not None and k not in self.photos.unreadable])

    def _objects(self, name, objects):
        # No image_size: coordinates off the image get SamPredictor's own message.
        objects, _ = split_sources(objects)  # where an object came from is not a prompt
        try:
            objects = labelling.normalize_prompts({"objects": objects}, name=name)
        except ValueError as err:
            raise BadRequest(str(err)) from None
        check_classes(self.classes, objects, name)
        return objects

    def predict(self, name, objects):
        """Union mask of `objects` (request format) -> (bool `[H, W]`, scores, objects)."""
        masks, scores, objects = self.predict_objects(name, objects)
        return union(masks), scores, objects

    def predict_objects(self, name, objects, given=None):
        """Each object's mask -> (list of bool `[H, W]`, scores, normalised objects).

        `given`: optional list (one per object) of masks the page sent; SAM runs only for
        the objects whose entry is None, and their score is None otherwise."""
        self.path(name)
        objects = self._objects(name, objects)
        given = list(given or []) + [None] * (len(objects) - len(given or []))
        if all(g is not None for g in given):
            return given, [None] * len(objects), objects
        try:
            embedding = self.cache.get(name)
        except ValueError as err:  # the file cannot be decoded
            raise BadRequest(f"{name} cannot be decoded as an image ({err}); skip it.") from None
        masks, scores = [], []
        with self._predict_lock:
            self.predictor.set_embedding(embedding)
            for obj, mask in zip(objects, given):
                score = None
                if mask is None:
                    try:
                        mask, score = labelling.object_mask(self.predictor, obj)
                    except ValueError as err:  # SamPredictor's prompt checks
                        raise BadRequest(str(err)) from None
                masks.append(mask)
                scores.append(score)
        return masks, scores, objects

    def edited_masks(self, name, objects):
        """Request objects -> (objects without "mask_png", list of bool masks or None)."""
        return edited_masks(name, self.photos.image_size(name), objects)

    def accept(self, name, objects):
        """Write the trimap of the objects' union (each object's `mask_png` if sent, else
        its SAM mask), the list entries and the prompts."""
        self.path(name)
        objects, given = self.edited_masks(name, objects)
        masks, scores, objects = self.predict_objects(name, objects, given)
        mask = union(masks)
        if not mask.any():
            raise BadRequest(f"The mask of {name} is empty, so nothing was written; add a "
                             "foreground point or a box, or skip the image.")
        with self.state_lock:
            trimap = self.folder.write(name, self.path(name), mask,
                                       prompts=short_floats(labelling.objects_to_json(objects)))
            self.coco.write(sample_name(name), mask.shape,
                            [{"mask": m, "score": s, "prompt": labelling.object_to_json(o)}
                             for m, s, o in zip(masks, scores, objects)], self.folder.labelled)
            self.clear_skip(name)
        return dict(trimap=trimap, **self.progress())

    def skip(self, name):
        self.path(name)
        if self.folder.is_labelled(name):
            raise BadRequest(f"{name} is labelled; accept new prompts to relabel it.")
        with self.state_lock:
            self._skipped.add(name)
            self._write_skipped()
        return dict(status="skipped", **self.progress())

    def prompts(self, name):
        """The objects recorded when `name` was accepted ([] if none), request format."""
        self.path(name)
        entry = self.folder.prompts(name) if self.folder.is_labelled(name) else None
        if not entry:
            return []
        objects = labelling.normalize_prompts(entry, name=name)
        return short_floats(labelling.objects_to_json(objects))["objects"]

    def labels(self, name):
        """The saved objects for re-opening: the prompts (the Pets layout keeps no
        per-object masks, so the page predicts them again)."""
        return self.prompts(name)

    def is_skipped(self, name):
        return name in self._skipped

    def clear_skip(self, name):
        """Forget that `name` was skipped, as it has just been labelled (hold state_lock)."""
        if name in self._skipped:
            self._skipped.discard(name)
            self._write_skipped()

    def _write_skipped(self):
        self.folder.annotations_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._skipped_path, {"skipped": sorted(self._skipped)})

    def warm_up(self):
        """Encode the first image still to do and trace the prompt path once, so the first
        click is as fast as the others. Returns that image's name (None: nothing to do)."""
        name = self.next_todo() or self.names[0]
        started = time.perf_counter()
        try:
            embedding = self.cache.get(name)
        except ValueError:
            return name
        with self._predict_lock:
            self.predictor.set_embedding(embedding)
            height, width = embedding.original_size
            self.predictor.predict([[width / 2, height / 2]], [1])
        self.warm_up_s = time.perf_counter() - started
        self.open(name)
        return name

    def close(self):
        """Stop encoding; an in-process encoder run is not waited for longer than 5 s."""
        self.cache.close(timeout=0)
        if self.encoder is not None:
            self.encoder.close()
        self.cache.close(timeout=5)

