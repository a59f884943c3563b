"""The labelling page's photo folder: its names, sizes and pixels, and nothing outside it.

Names are the file names found in the photo folder when the session starts. Every request
names an image by one of them; anything else (`..`, absolute paths, sub-folders, a symlink
leading out of the folder, a file added later) is `NotFound`, so no request can read or write
outside the two folders.
"""

import os
import pathlib

from PIL import Image

from segdata.formats.pets.labelled import IMAGE_SUFFIXES, sample_name
from segmodel.sam.label_app.masks_io import BadRequest, NotFound, encode_png
from segmodel.sam.prompting import files

# Formats every browser draws; others (TIFF) are sent as PNG.
_BROWSER_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                  ".gif": "image/gif", ".bmp": "image/bmp", ".webp": "image/webp"}


def existing_folder(images_dir):
    """`images_dir` resolved, or FileNotFoundError naming it (it must be a folder)."""
    images_dir = pathlib.Path(images_dir).expanduser().resolve()
    if not images_dir.is_dir():
        raise FileNotFoundError(f"Photo folder {images_dir} does not exist; pass the "
                                "folder holding the photos to label with --images.")
    return images_dir


class PhotoFolder:
    """The photos of `images_dir` (.jpg .jpeg .png .bmp .gif .webp .tif .tiff; not recursive).

    Attributes:
      images_dir: the folder, resolved.
      names: the photos' file names in name order, as found at the start.
      unreadable: the names whose file cannot be decoded (grows when `load_pixels` fails).
    """

    def __init__(self, images_dir):
        self.images_dir = existing_folder(images_dir)
        self.names = self._scan()
        self._sizes = {n: self._read_size(n) for n in self.names}
        self.unreadable = {n for n, s in self._sizes.items() if s is None}

    def _scan(self):
        names, stems = [], {}
        for name in sorted(os.listdir(self.images_dir)):
            path = self.images_dir / name
            if (name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES)
                    or not path.is_file() or not self._inside(path)):
                continue
            stem = sample_name(name)
            if stem in stems:
                raise ValueError(f"{stems[stem]} and {name} in {self.images_dir} would both be "
                                 f"sample {stem!r} in the output; rename one of them.")
            stems[stem] = name
            names.append(name)
        if not names:
            raise ValueError(f"No photos in {self.images_dir} (looked for "
                             f"{', '.join(IMAGE_SUFFIXES)}).")
        return names

    def _inside(self, path):
        return path.resolve().parent == self.images_dir

    def image_size(self, name):
        """(width, height) of photo `name` as read at the start, or None (unreadable)."""
        return self._sizes.get(name)

    def path(self, name):
        """The photo file of `name`, or NotFound. Re-checked on every use, so a symlink
        swapped in after the start does not lead out of the folder."""
        if not isinstance(name, str) or name not in self._sizes:
            raise NotFound(f"No image {name!r} in {self.images_dir}.")
        path = self.images_dir / name
        if not path.is_file() or not self._inside(path):
            raise NotFound(f"No image {name!r} in {self.images_dir}.")
        return path

    def _read_size(self, name):
        try:
            with Image.open(self.images_dir / name) as img:
                return img.size  # (width, height) of the stored pixels, EXIF not applied
        except (OSError, ValueError):
            return None

    def load_pixels(self, name):
        """uint8 `[H, W, 3]` as SAM and build_records see it (no EXIF rotation)."""
        try:
            return files.load_image(self.path(name))
        except ValueError:
            self.unreadable.add(name)
            raise

    def image_bytes(self, name):
        """(bytes, content type) for the page: the file itself when a browser shows its
        pixels unchanged, else a PNG of the pixels (TIFF, or a JPEG with an EXIF rotation,
        which browsers apply but SAM and the records do not)."""
        path = self.path(name)
        if name in self.unreadable:
            raise BadRequest(f"{name} cannot be decoded as an image; skip it.")
        suffix = path.suffix.lower()
        with Image.open(path) as img:
            rotated = img.getexif().get(0x0112, 1) != 1
        if suffix in _BROWSER_TYPES and not rotated:
            return path.read_bytes(), _BROWSER_TYPES[suffix]
        return encode_png(self.load_pixels(name)), "image/png"
