"""COCO instances beside a Pets-layout labelled folder: OUT/annotations/instances.json.

The Pets layout (`segdata.formats.pets.labelled.LabelledFolder`) stores one trimap per image,
the union of its objects. Every labelling path also records the objects themselves here, one
COCO annotation per object (compressed RLE, bbox, area, category 1 = the folder's class,
iscrowd 0, the SAM score and the prompt), as the masks layout does
(`segmodel.sam.labelling.masks_folder`):

  OUT/annotations/instances.json        COCO instances, file_name relative to images/
  OUT/annotations/coco_parts/NAME.json  the image's part of it (the source of truth)

An image's part is written after its trimap and list entries (so a part never names an image
the folder does not hold), then instances.json is rebuilt from the parts by joining their
cached JSON text (`coco_output.JsonTexts`: a few ms at 1,000 images). Writes are temporary
name + rename under the folder's thread and file locks; a process killed between the trimap
and the part leaves that image out of instances.json until it is labelled again.
"""

import hashlib
import json
import threading

import numpy as np

from segdata.io.atomic import write_text_atomic
from segmodel.sam.labelling import coco_output, journal


class PetsCoco:
    """instances.json of the Pets-layout folder `out_dir`, one class named `class_name`.

    Args:
      out_dir: the LabelledFolder's root.
      class_name: the COCO category of every object ("pet" when the labels name none).
    """

    def __init__(self, out_dir, class_name="pet"):
        import pathlib

        self.root = pathlib.Path(out_dir).expanduser().resolve()
        self.annotations_dir = self.root / "annotations"
        self.parts_dir = self.annotations_dir / "coco_parts"
        self.categories = [{"id": 1, "name": str(class_name), "supercategory": str(class_name)}]
        self._lock = threading.RLock()
        self._texts = coco_output.JsonTexts(default=coco_output.jsonable)
        self._parts = None  # stem -> part, read on the first write

    def _read_parts(self):
        parts = {}
        for path in sorted(self.parts_dir.glob("[!.]*.json")) if self.parts_dir.is_dir() else ():
            parts[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        return parts

    def write(self, stem, size, objects, labelled=None):
        """Record image `stem`'s objects and rebuild instances.json.

        Args:
          stem: the sample name (its image is images/STEM.jpg).
          size: (H, W) of the image.
          objects: list of {"mask": bool [H, W], "score": float or None, "prompt": dict or
            None}, in painting order.
          labelled: callable -> the folder's labelled sample names, asked once (on the first
            write) to drop parts of images the folder no longer holds; None keeps every part.
        """
        objects = [{"mask": np.asarray(o["mask"], bool), "category_id": 1,
                    "score": o.get("score"), "prompt": o.get("prompt")} for o in objects
                   if np.asarray(o["mask"]).any()]
        part = coco_output.image_part(f"{stem}.jpg", tuple(size), objects)
        # The token (what JsonTexts caches by) is the part's content hash: the same labels
        # give the same files in every run.
        part["token"] = hashlib.sha256(json.dumps(part, default=coco_output.jsonable,
                                                  sort_keys=True).encode()).hexdigest()[:32]
        with journal.locked(self._lock, self.annotations_dir / ".coco.lock",
                            self.parts_dir / "journal"):
            if self._parts is None:
                self._parts = self._read_parts()
                keep = None if labelled is None else set(labelled()) | {stem}
                for gone in [s for s in self._parts if keep is not None and s not in keep]:
                    (self.parts_dir / f"{gone}.json").unlink(missing_ok=True)
                    del self._parts[gone]
            write_text_atomic(self.parts_dir / f"{stem}.json",
                              json.dumps(part, default=coco_output.jsonable) + "\n")
            self._parts[stem] = part
            write_text_atomic(self.annotations_dir / "instances.json",
                              self._texts.instances(self._parts, self.categories))
