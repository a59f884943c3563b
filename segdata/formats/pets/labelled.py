"""Write labelled images (image + foreground mask) as an Oxford-IIIT Pet style folder.

Any labelling front end (the SAM labelling tool, a labelling web page, text prompts) ends
here, so every path produces the same folder, ready for `tools/build_records.py` unchanged:

  OUT/images/NAME.jpg                  the photo (a JPEG keeps its original bytes)
  OUT/annotations/trimaps/NAME.png     8-bit gray PNG: 1 foreground, 2 background, 3 outline
  OUT/annotations/list.txt             `NAME CLASS-ID SPECIES BREED-ID` per labelled image,
  OUT/annotations/trainval.txt         under the real list.txt's header lines (trainval: no
  OUT/annotations/test.txt             header); test.txt is empty
  OUT/annotations/prompts.json         optional: the prompts each mask came from

The folder is the state: an image counts as labelled once it is listed in list.txt and its
image and trimap exist, so a resumed run (or a second labelling session) picks up where the
last stopped. Every file is written to a temporary name and renamed (segdata.io.atomic), image
and trimap before the list files, so a crash never leaves a listed sample half-written.
"""

import io
import json
import pathlib
import threading

import numpy as np
from PIL import Image

from segdata.formats.pets.samples import prepare_image
from segdata.io.atomic import atomic_write, write_json_atomic, write_text_atomic
from segdata.records.labels import LIST_HEADER

FOREGROUND, BACKGROUND, OUTLINE = 1, 2, 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _dilate(mask, radius):
    """Binary dilation of bool `[H, W]` by a (2r+1) x (2r+1) square; outside the image is off."""
    if radius <= 0:
        return mask
    height, width = mask.shape
    padded = np.pad(mask, radius)
    rows = np.zeros((height + 2 * radius, width), bool)
    for dx in range(2 * radius + 1):  # separable: max over columns, then over rows
        rows |= padded[:, dx:dx + width]
    out = np.zeros((height, width), bool)
    for dy in range(2 * radius + 1):
        out |= rows[dy:dy + height]
    return out


def trimap_from_mask(mask, outline_width=2):
    """A Pets trimap from a foreground mask.

    The outline band straddles the boundary between foreground and background, as in the
    real annotations: its total width is `outline_width` px, `outline_width // 2` px outside
    the mask and the rest inside it (2 -> 1 px each side; 3 -> 1 outside, 2 inside; 0 -> no
    band). Distances are 8-connected (square neighbourhoods): a background pixel is on the
    band if a foreground pixel lies within `outline_width // 2` px in x and y, a foreground
    pixel if a background pixel lies within `outline_width - outline_width // 2` px. The
    image border is not a boundary: a mask touching it stays foreground there.

    Args:
      mask: bool (or 0/1) `[H, W]`, True on the object(s).
      outline_width: int >= 0, total width of the band in pixels.

    Returns:
      uint8 `[H, W]`: 1 foreground, 2 background, 3 outline.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be [H, W], got shape {mask.shape}")
    if isinstance(outline_width, bool) or not isinstance(outline_width, (int, np.integer)) \
            or outline_width < 0:
        raise ValueError(f"outline_width must be an int >= 0, got {outline_width!r}")
    mask = mask.astype(bool)
    outside = int(outline_width) // 2
    inside = int(outline_width) - outside
    trimap = np.full(mask.shape, BACKGROUND, np.uint8)
    trimap[_dilate(mask, outside)] = OUTLINE
    trimap[~_dilate(~mask, inside)] = FOREGROUND
    return trimap


def sample_name(name):
    """Pets sample name (file stem) of an image file name or a name: "a/cat_1.png" -> "cat_1"."""
    stem = pathlib.PurePath(str(name)).name
    if stem.lower().endswith(IMAGE_SUFFIXES):
        stem = stem.rsplit(".", 1)[0]
    return stem


def _check_name(name, stem):
    if not stem or stem.startswith(".") or any(c.isspace() for c in stem):
        raise ValueError(f"image name {name!r} cannot be a Pets sample name: it must not be "
                         "empty, start with '.', or contain spaces (list files are split on "
                         "whitespace); rename the image")


def _check_id(value, what, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: {what} must be an int >= 1, got {value!r}")
    return int(value)


def _jsonable(value):
    """numpy arrays / scalars (and containers of them) -> plain JSON types."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class LabelledFolder:
    """A Pets-layout output folder that images are labelled into, one `write` at a time.

    Example:
      folder = LabelledFolder("labelled/")
      if not folder.is_labelled("cat_1.jpg"):
          folder.write("cat_1.jpg", "photos/cat_1.jpg", mask, prompts={"objects": [...]})

    `name` arguments are an image file name ("cat_1.jpg", as keyed in prompts.json) or the
    sample name ("cat_1"); both mean sample "cat_1". Safe to share between threads of one
    process (writes are serialised); not between processes writing the same folder.
    """

    def __init__(self, out_dir, outline_width=2):
        self.root = pathlib.Path(out_dir).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"output folder {self.root} exists and is not a folder; choose "
                             "another path")
        trimap_from_mask(np.zeros((1, 1), bool), outline_width)  # validates the width
        self.outline_width = int(outline_width)
        self.images_dir = self.root / "images"
        self.annotations_dir = self.root / "annotations"
        self.trimaps_dir = self.annotations_dir / "trimaps"
        self._lock = threading.Lock()
        self._rows = {}  # name -> (class_id, species, breed_id), from list.txt
        list_path = self.annotations_dir / "list.txt"
        if list_path.is_file():
            for line in list_path.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if line.startswith("#") or not parts:
                    continue
                if len(parts) < 4 or not all(p.lstrip("-").isdigit() for p in parts[1:4]):
                    raise ValueError(f"{list_path}: expected 'Name CLASS-ID SPECIES BREED-ID', "
                                     f"got {line!r}; fix or remove this line")
                self._rows[parts[0]] = tuple(int(p) for p in parts[1:4])
        prompts_path = self.annotations_dir / "prompts.json"
        self._prompts = {}
        if prompts_path.is_file():
            try:
                self._prompts = json.loads(prompts_path.read_text(encoding="utf-8"))
            except ValueError as err:
                raise ValueError(f"{prompts_path} is not valid JSON ({err}); fix or delete "
                                 "it") from None

    def _paths(self, stem):
        return self.images_dir / f"{stem}.jpg", self.trimaps_dir / f"{stem}.png"

    def is_labelled(self, name):
        """True when the sample is listed and its image and trimap exist."""
        stem = sample_name(name)
        image, trimap = self._paths(stem)
        return stem in self._rows and image.is_file() and trimap.is_file()

    def labelled(self):
        """Sample names (stems) of every labelled image, sorted."""
        return sorted(n for n in self._rows if self.is_labelled(n))

    def prompts(self, name):
        """The prompts recorded for the sample (JSON dict as written), or None."""
        return self._prompts.get(f"{sample_name(name)}.jpg")

    def write(self, name, image_path, mask, *, class_id=1, species=1, breed_id=1, prompts=None):
        """Label one image: copy it, write its trimap, list it (replacing an earlier label).

        Args:
          name: the image's file name or sample name (see the class docstring).
          image_path: the photo to copy. JPEGs keep their original bytes; other formats
            are re-encoded as JPEG (quality 95), as build_records would.
          mask: bool `[H, W]` at the image's size, True on the foreground.
          class_id, species, breed_id: ints >= 1 for the list files.
          prompts: optional JSON-able dict (numpy arrays allowed), recorded in prompts.json
            under "NAME.jpg", e.g. {"objects": [{"points": ..., "labels": ..., "box": ...}]}.

        Returns:
          The trimap's path relative to OUT, "annotations/trimaps/NAME.png".

        Raises:
          ValueError: naming the image, for an empty mask (never written), a mask whose
            size differs from the image, an unreadable image or bad ids.
        """
        stem = sample_name(name)
        _check_name(name, stem)
        row = tuple(_check_id(v, w, name) for v, w in ((class_id, "class_id"),
                                                        (species, "species"),
                                                        (breed_id, "breed_id")))
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"{name}: mask must be [H, W], got shape {mask.shape}")
        mask = mask.astype(bool)
        if not mask.any():
            raise ValueError(f"{name}: the mask is empty; an empty trimap would teach the "
                             "model that the image has no foreground, so it is not written")
        try:
            data = pathlib.Path(image_path).read_bytes()
            jpeg, (width, height), _ = prepare_image(data)
        except (OSError, ValueError) as err:
            raise ValueError(f"{name}: cannot read image {image_path} ({err})") from None
        if mask.shape != (height, width):
            raise ValueError(f"{name}: mask is {mask.shape[0]}x{mask.shape[1]} (HxW) but the "
                             f"image {image_path} is {height}x{width}")
        trimap = trimap_from_mask(mask, self.outline_width)
        png = io.BytesIO()
        Image.fromarray(trimap, mode="L").save(png, format="PNG")
        image_out, trimap_out = self._paths(stem)
        with self._lock:
            self.trimaps_dir.mkdir(parents=True, exist_ok=True)
            self.images_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(image_out, lambda tmp: pathlib.Path(tmp).write_bytes(jpeg))
            atomic_write(trimap_out, lambda tmp: pathlib.Path(tmp).write_bytes(png.getvalue()))
            if prompts is None:
                # Prompts recorded for an earlier label do not describe this mask.
                if self._prompts.pop(f"{stem}.jpg", None) is not None:
                    self._write_prompts()
            else:
                entry = dict(_jsonable(prompts))
                entry.update(class_id=row[0], species=row[1], breed_id=row[2])
                self._prompts[f"{stem}.jpg"] = entry
                self._write_prompts()
            self._rows[stem] = row
            self._write_lists()
        return f"annotations/trimaps/{stem}.png"

    def _write_prompts(self):
        write_json_atomic(self.annotations_dir / "prompts.json",
                          dict(sorted(self._prompts.items())))

    def _write_lists(self):
        lines = "".join(f"{n} {c} {s} {b}\n" for n, (c, s, b) in sorted(self._rows.items()))
        write_text_atomic(self.annotations_dir / "trainval.txt", lines)
        write_text_atomic(self.annotations_dir / "test.txt", "")
        # list.txt last: it is what marks a sample as labelled.
        write_text_atomic(self.annotations_dir / "list.txt", LIST_HEADER + lines)
