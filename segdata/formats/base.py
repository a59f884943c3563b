"""What every dataset-layout reader hands to the shared record writer.

A reader module (`segdata.formats.voc`, `.coco`, `.cityscapes`, `.ade20k`, `.masks`) has two
functions:

    detect(root) -> Detection      does `root` look like this layout? (for `--format auto`)
    scan(root)   -> DatasetLayout  the classes, the decoding rule and every candidate sample

`scan` only lists files and parses small text/JSON files; pixels are judged per sample by
`segdata.records.encode.encode_sample(sample, decoder)`, which runs in worker processes and on
Beam, so `Sample` and `MaskDecoder` hold only JSON-able values (str, int, tuples, dicts).

Train ids: 0..num_classes-1 are classes, IGNORE_LABEL (255) is ignore. For every format but
pets the class PNG stored in the records holds train ids, so Model Garden's decoder needs no
table to read it; the manifest's `label_map` is then the identity.
"""

import dataclasses

IGNORE_LABEL = 255
INVALID = -1  # in MaskDecoder.table: a stored value that is neither a class nor ignore
CROWD_MODES = ("auto", "ignore", "objects")  # COCO `--crowd` (segdata.formats.coco_crowd)


class FormatError(ValueError):
    """The folder does not hold this layout (or any layout); the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Detection:
    """Result of a reader's `detect(root)`.

    matched: the layout's marker files are all there.
    score: how many of its markers were found (ranks the closest layout when none matched).
    missing: what was not found, in words ("JPEGImages/ (no .jpg files)"), for the error.
    root: the folder the reader would scan (e.g. VOCdevkit/VOC2012 for a VOCdevkit folder).
    """
    matched: bool
    score: int = 0
    missing: str = ""
    root: str = None


@dataclasses.dataclass(frozen=True)
class Sample:
    """One candidate sample, JSON-able (Beam ships it as a JSON line).

    name: unique within the dataset (the file stem, or e.g. "aachen/aachen_000000_000019" when
      stems repeat across folders); names skipped/repaired entries and `image/source_id`.
    image_path: the photo (local path or URL, see segdata.io.fsio).
    mask_path: the stored mask, or None when the mask is drawn from `annotations` (COCO).
    filename: `image/filename` in the record (default: the image's base name).
    annotations: COCO only: the image's annotation dicts (segmentation, area, iscrowd, id,
      category_id, bbox), already checked to point at this image and a known category.
    height, width: COCO only: the image's size in the JSON (-1 otherwise); a photo whose decoded
      size differs is skipped.
    label, species: Pets list-file metadata (-1 elsewhere).
    """
    name: str
    image_path: str
    mask_path: str = None
    filename: str = None
    annotations: tuple = ()
    height: int = -1
    width: int = -1
    label: int = -1
    species: int = -1


@dataclasses.dataclass(frozen=True)
class MaskDecoder:
    """How a stored mask becomes train ids, the same for every sample of a dataset.

    kind:
      "values" - a single-channel PNG (8 or 16 bit, gray or palette: the palette *index* is the
                 value) whose value v becomes table[v];
      "colour" - an RGB(A) PNG whose colour (r, g, b) becomes colours[(r, g, b)] (CVAT's
                 labelmap.txt); an unknown colour skips the sample, naming the colour;
      "coco"   - no mask file: Sample.annotations are rasterised (segdata.formats.coco).
    table: stored value -> train id (0..num_classes-1), IGNORE_LABEL, or INVALID (the sample is
      skipped, naming the value); values past the end of the table are INVALID.
    colours: tuple of (r, g, b, train id or IGNORE_LABEL) for "colour"; for "values" (VOC), the
      dataset's colours, used for a mask re-saved as RGB (channels not all equal).
    num_classes: K; classes are 0..K-1.
    instances: COCO with `--instances`: also write Model Garden's instance keys.
    report_mask_repairs: masks are meant to be 8-bit PNGs of train ids already (the `masks`
      layout), so one that had to be re-encoded is listed under "repaired".
    exif_orientation: "auto", "apply" or "ignore": whether a photo's EXIF Orientation turns its
      stored pixels to match its annotation (segdata.records.orientation).
    """
    kind: str
    num_classes: int
    table: tuple = ()
    colours: tuple = ()
    instances: bool = False
    report_mask_repairs: bool = False
    exif_orientation: str = "auto"


@dataclasses.dataclass
class DatasetLayout:
    """What a reader's `scan(root)` found.

    root: the scanned folder (str).
    format: the reader's name ("voc", "coco", ...).
    classes: class names in train-id order (len = num_classes).
    palette: [[r, g, b], ...] per class, the dataset's own colours where it has them.
    label_map: {str(stored value): train id} for the manifest (the identity for formats whose
      records store train ids; ignore values are not listed).
    decoder: MaskDecoder for segdata.records.encode.encode_sample.
    samples: name -> Sample, every candidate with a photo (sorted by name).
    splits: official splits, TFDS names ("train", "validation", "test") -> sample names in the
      dataset's order; {} when the dataset has none (only `--split holdout` then works).
    missing: [{"name", "reason"}]: listed samples that cannot be built (no photo, no mask),
      reported as skipped before any pixel is read.
    dropped: [{"name", "reason"}]: annotations left out while the image is kept (a COCO
      annotation pointing at an unknown image or category, a degenerate polygon, ...).
    ignored: junk paths relative to root (never samples, never "skipped").
    unlisted: names with a photo that no split list names (not samples of an official split).
    foreground_class: train id of the class foreground IoU is reported for, or None.
    warnings: what the reader decided that may surprise (a fallback colour map, a label read
      as ignore), each a sentence; printed in the summary and kept in the manifest.
    report: extra manifest sections of this reader ({"crowd": {...}} for COCO).
    """
    root: str
    format: str
    classes: list
    palette: list
    label_map: dict
    decoder: MaskDecoder
    samples: dict
    splits: dict = dataclasses.field(default_factory=dict)
    missing: list = dataclasses.field(default_factory=list)
    dropped: list = dataclasses.field(default_factory=list)
    ignored: list = dataclasses.field(default_factory=list)
    unlisted: list = dataclasses.field(default_factory=list)
    foreground_class: int = None
    warnings: list = dataclasses.field(default_factory=list)
    report: dict = dataclasses.field(default_factory=dict)

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def image_names(self):
        """Every candidate name, sorted: what `--split holdout` shuffles."""
        return sorted(self.samples)


def identity_table(num_classes, ignore_values=(IGNORE_LABEL,), size=256):
    """table for stores of train ids: v -> v for v < num_classes, ignore values -> 255."""
    table = [INVALID] * size
    for v in range(num_classes):
        table[v] = v
    for v in ignore_values:
        table[v] = IGNORE_LABEL
    return tuple(table)


def default_palette(num_classes):
    """Deterministic distinct colours [[r, g, b], ...]: the PASCAL VOC bit-interleaving scheme,
    which gives black for class 0 and is what VOC, DeepLab and many tools use."""
    palette = []
    for i in range(num_classes):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette.append([r, g, b])
    return palette


def read_split_list(text):
    """A split list file's text -> names in order. Blank lines, CRLF line endings, trailing
    spaces and `#` comments are not errors; only the first field of a line is the name."""
    names = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line.split()[0])
    return names
