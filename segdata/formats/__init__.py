"""Dataset layouts on disk, one reader per layout: each scans a folder and describes its
samples for the shared record writer (`segdata.records`).

    pets        Oxford-IIIT Pet: images/*.jpg, annotations/trimaps/*.png, list files
    voc         PASCAL VOC 2012 segmentation, and CVAT's "Segmentation mask 1.1" export
    coco        COCO instances JSON (also CVAT "COCO 1.0" and Label Studio COCO exports)
    cityscapes  leftImg8bit/ + gtFine/ labelIds, mapped to the 19 official trainIds
    ade20k      ADEChallengeData2016 (SceneParsing, 150 classes)
    camvid      CamVid (SegNet / Datumaro): train/ + trainannot/, ..., optional label_colors.txt
    masks       images/ + masks/ of class ids + classes.json, optional splits/

`detect_format(root)` recognises a layout from its files (`--format auto`); `scan(root, fmt)`
returns a segdata.formats.base.DatasetLayout (Pets: its own PetsLayout, unchanged).
"""

import importlib

from segdata.formats.base import FormatError

FORMATS = ("pets", "voc", "coco", "cityscapes", "ade20k", "camvid", "masks")
_MODULES = {"pets": "segdata.formats.pets.layout"}


def reader(fmt):
    """The reader module of layout `fmt` (it has `detect(root)` and `scan(root)`)."""
    if fmt not in FORMATS:
        raise FormatError(f"--format must be auto or one of {', '.join(FORMATS)}, got {fmt!r}")
    return importlib.import_module(_MODULES.get(fmt, f"segdata.formats.{fmt}"))


def _readers():
    for fmt in FORMATS:
        try:
            yield fmt, reader(fmt)
        except ModuleNotFoundError as e:  # a reader not installed in this build
            if e.name != _MODULES.get(fmt, f"segdata.formats.{fmt}"):
                raise


def detect_format(root):
    """-> (format name, Detection) of the layout `root` holds.

    Raises FormatError naming every layout looked for and, for the closest one, what was
    missing.
    """
    from segdata.io import fsio

    if not fsio.isdir(str(root)):
        raise FormatError(f"data folder {root} does not exist; pass the dataset's folder "
                          "(see tools/make_sample_data.py --format to generate one)")
    found = [(fmt, module.detect(str(root))) for fmt, module in _readers()]
    matched = [(fmt, d) for fmt, d in found if d.matched]
    if matched:
        # Ties go to the layout whose files are the masks themselves: a COCO JSON often sits
        # beside another layout (segkit's labelling writes masks/ and instances.json).
        return max(matched, key=lambda item: (item[1].score, item[0] != "coco"))
    fmt, closest = max(found, key=lambda item: item[1].score)
    if fmt == "pets" and closest.score:
        # A folder with images/ but no trimaps: the Pets reader has always read it and says
        # per sample what is missing, so it keeps doing that.
        return fmt, closest
    hint = (f"; the closest is {fmt}, which lacks {closest.missing}" if closest.score else "")
    raise FormatError(f"{root} does not hold a dataset layout segkit reads (looked for "
                      f"{', '.join(FORMATS)}){hint}. Pass --format NAME to see that layout's own "
                      "error, or arrange the folder as docs/guide/formats.md describes.")


def scan(root, fmt="auto", *, instances=False, crowd="auto"):
    """-> (format name, layout): segdata.formats.base.DatasetLayout (PetsLayout for pets).

    crowd: COCO only, what `iscrowd: 1` means (segdata.formats.coco_crowd.CROWD_MODES).
    """
    if fmt == "auto":
        fmt, detection = detect_format(root)
        root = detection.root or root
    if instances and fmt != "coco":
        raise FormatError(f"--instances writes COCO instance keys; it needs --format coco, "
                          f"and {root} is {fmt}")
    module = reader(fmt)
    if fmt == "pets":
        return fmt, module.scan_pets(root)
    if fmt == "coco":
        return fmt, module.scan(root, instances=instances, crowd=crowd)
    return fmt, module.scan(root)
