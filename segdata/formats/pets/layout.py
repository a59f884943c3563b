"""Scan an Oxford-IIIT Pet style folder: candidate samples, junk files and list-file metadata.

Layout (as in the real archives, `images/` and `annotations/` side by side):
  DATA/images/*.jpg                     photos (the real folder also holds a few `.mat` files)
  DATA/annotations/trimaps/*.png        trimaps, 1 foreground / 2 background / 3 outline
  DATA/annotations/list.txt, trainval.txt, test.txt   lines `Name CLASS-ID SPECIES BREED-ID`

Only names are collected here; file contents are judged per sample by `segdata.formats.pets.samples`.
DATA may be a local folder or a URL that TensorFlow's filesystems read (gs://...; see
segdata.io.fsio), for the Apache Beam converter whose workers cannot see the launcher's disk.
"""

import dataclasses
import pathlib

from segdata.io import fsio

LIST_FILES = ("list.txt", "trainval.txt", "test.txt")


class LayoutError(ValueError):
    """The data folder does not look like a Pets folder; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """One candidate sample: paths plus list-file metadata (picklable, sent to workers).

    label: breed CLASS-ID 1..37 or -1; species: 1 cat, 2 dog or -1.
    """
    name: str
    image_path: str
    trimap_path: str
    label: int = -1
    species: int = -1


@dataclasses.dataclass
class PetsLayout:
    """What `scan_pets` found.

    image_names: stems of every non-hidden `images/*.jpg`, sorted by file name: exactly the list
      the chapter shuffles for its holdout split (skipped samples included).
    meta: stem -> (label, species) from the list files.
    lists: list-file name -> stems in file order (only for list files that exist).
    ignored: junk paths relative to the data folder (never samples, never "skipped").
    """
    root: object  # pathlib.Path, or str for a URL
    image_names: list
    meta: dict
    lists: dict
    ignored: list

    def sample(self, name):
        label, species = self.meta.get(name, (-1, -1))
        root = str(self.root)  # plain strings: pathlib joins cost more than the rest of this
        return Sample(name=name, image_path=fsio.join(root, "images", f"{name}.jpg"),
                      trimap_path=fsio.join(root, "annotations", "trimaps", f"{name}.png"),
                      label=label, species=species)


def _is_junk_name(name):
    # `._x` are macOS AppleDouble resource forks; other dot files (.DS_Store) are never data.
    return name.startswith(".")


def parse_list_file(path):
    """Parse one Pets list file -> list of (name, class_id, species) in file order.

    Raises LayoutError naming file and line for lines that are not `Name CLASS-ID SPECIES BREED-ID`.
    """
    rows = []
    for lineno, line in enumerate(fsio.read_bytes(path).decode("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            if len(parts) < 3:
                raise ValueError
            rows.append((parts[0], int(parts[1]), int(parts[2])))
        except ValueError:
            raise LayoutError(
                f"{path}:{lineno}: expected 'Name CLASS-ID SPECIES BREED-ID', got {line!r}; "
                "fix or remove this line") from None
    return rows


def scan_pets(data_dir):
    """Scan `data_dir` -> PetsLayout. Raises LayoutError when the folder is not a Pets folder."""
    if fsio.is_remote(data_dir):
        root = str(data_dir).rstrip("/")
    else:
        root = pathlib.Path(data_dir).expanduser().resolve()
    if not fsio.isdir(root):
        raise LayoutError(f"data folder {root} does not exist; pass the folder that holds "
                          "images/ and annotations/ (see tools/download_pets.py or "
                          "tools/make_sample_data.py)")
    images_dir = fsio.join(root, "images")
    if not fsio.isdir(images_dir):
        raise LayoutError(f"{root} has no images/ folder; pass the folder that holds images/ and "
                          "annotations/ (the two Pets archives extracted side by side)")
    image_names, ignored = [], []
    for fname, is_file in fsio.scandir(images_dir):
        if not _is_junk_name(fname) and fname.endswith(".jpg") and is_file:
            image_names.append(fname[:-len(".jpg")])
        else:
            ignored.append(f"images/{fname}")
    trimap_dir = fsio.join(root, "annotations", "trimaps")
    if fsio.isdir(trimap_dir):
        image_set = set(image_names)
        for fname, _ in fsio.scandir(trimap_dir):
            # A trimap without an image is not junk, but it is not a sample either: list it so
            # nothing disappears without a trace.
            if _is_junk_name(fname) or not fname.endswith(".png") or fname[:-4] not in image_set:
                ignored.append(f"annotations/trimaps/{fname}")
    meta, lists = {}, {}
    for list_name in LIST_FILES:
        path = fsio.join(root, "annotations", list_name)
        if fsio.isfile(path):
            rows = parse_list_file(path)
            lists[list_name] = [name for name, _, _ in rows]
            for name, label, species in rows:
                meta.setdefault(name, (label, species))
    return PetsLayout(root=root, image_names=image_names, meta=meta, lists=lists, ignored=ignored)


def detect(root):
    """Does `root` look like a Pets folder? -> segdata.formats.base.Detection."""
    from segdata.formats.base import Detection

    root = str(root)
    has_images = fsio.isdir(fsio.join(root, "images"))
    has_trimaps = fsio.isdir(fsio.join(root, "annotations", "trimaps"))
    missing = [what for what, ok in (("images/", has_images),
                                     ("annotations/trimaps/", has_trimaps)) if not ok]
    return Detection(matched=not missing, score=has_images + 2 * has_trimaps,
                     missing=", ".join(missing), root=root)
