"""One accept into a `masks` folder, before anything is written: the objects checked, the
label mask painted and encoded, the image's part (its COCO annotations) built.

`MasksFolder.write` (segmodel.sam.labelling.masks_folder) writes what `prepare_accept`
returns; an accept that fails here has written nothing.
"""

import io
import pathlib
import uuid

import numpy as np
from PIL import Image

from segdata.formats.base import IGNORE_LABEL
from segdata.formats.pets.labelled import sample_name
from segdata.formats.pets.samples import prepare_image
from segmodel.sam.labelling import coco_output
from segmodel.sam.labelling.painting import paint_mask, visible_masks


def _png(array):
    out = io.BytesIO()
    Image.fromarray(array, mode="L").save(out, format="PNG")
    return out.getvalue()


def _object(obj, name, index, size, classes):
    if "category_id" in obj:
        train_id = int(obj["category_id"])
        if not 1 <= train_id <= len(classes):
            raise ValueError(f"{name}: object {index} has category_id {train_id}; the "
                             f"classes are 1..{len(classes)} {list(classes.names)}")
    else:
        train_id = classes.train_id(obj.get("class"), f"{name}: object {index} class")
    mask = np.asarray(obj["mask"])
    if mask.shape != tuple(size):
        raise ValueError(f"{name}: object {index}'s mask is {mask.shape} but the image is "
                         f"{tuple(size)} (HxW)")
    return {"mask": mask.astype(bool), "category_id": train_id,
            "score": obj.get("score"), "prompt": obj.get("prompt")}


def prepare_accept(name, image_path, objects, classes, ignore_width, prompts):
    """Check and paint one accept: `name`, `image_path`, `objects` and `prompts` as
    `MasksFolder.write` takes them, `classes` the folder's `ClassList`, `ignore_width` the
    255 band (see `paint_mask`).

    Returns:
      (stem, the image's JPEG bytes, the mask's PNG bytes (8-bit single-channel train ids,
      255 on the ignore band), the part dict {"image", "annotations", "prompts", "token"}).

    Raises:
      ValueError: naming the image, when every mask is empty, a mask has the wrong size, a
        class is unknown, the image is unreadable or its name unusable.
    """
    stem = sample_name(name)
    if not stem or stem.startswith(".") or any(c.isspace() for c in stem):
        raise ValueError(f"image name {name!r} cannot be a sample name: it must not be "
                         "empty, start with '.', or contain spaces; rename the image")
    try:
        jpeg, (width, height), _ = prepare_image(pathlib.Path(image_path).read_bytes())
    except (OSError, ValueError) as err:
        raise ValueError(f"{name}: cannot read image {image_path} ({err})") from None
    objects = [_object(o, name, i, (height, width), classes) for i, o in enumerate(objects)]
    if not any(o["mask"].any() for o in objects):
        raise ValueError(f"{name}: every object's mask is empty; an all-background mask "
                         "would teach the model the image has no objects, so it is not "
                         "written")
    label = paint_mask([(o["mask"], o["category_id"]) for o in objects], (height, width),
                       ignore_width)
    # The COCO instances hold what the mask shows: each object's visible pixels (later
    # objects on top, the ignore band left out), so `--format masks` and `--format coco`
    # of this folder give the same records.
    visible = visible_masks([o["mask"] for o in objects], label != IGNORE_LABEL)
    part = coco_output.image_part(
        f"{stem}.jpg", (height, width),
        [dict(o, mask=v, object_mask=o["mask"]) for o, v in zip(objects, visible)])
    part["prompts"] = prompts
    part["token"] = uuid.uuid4().hex
    return stem, jpeg, _png(label), part
