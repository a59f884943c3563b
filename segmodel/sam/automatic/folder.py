"""Automatic masks for a folder of images, written as segment-anything's `scripts/amg.py` does.

Per image `NAME.ext`, in `output_dir`:
- default: a folder `NAME/` holding `0.png`, `1.png`, ... (one mask each, single-channel
  8-bit, 0 off / 255 on, the image's size) and `metadata.csv` (amg.py's header and one row
  per mask, in the generator's order: highest predicted IoU first);
- `convert_to_rle=True`: `NAME.json`, the list of mask records (amg.py's
  `output_mode="coco_rle"`): "segmentation" is COCO RLE {"size": [H, W], "counts": str}
  (pycocotools' compressed counts, decoded as UTF-8), with "area", "bbox", "predicted_iou",
  "point_coords", "stability_score" and "crop_box" as the generator gives them.

Tools written for SAM's output read these. The output folder is the run's state: each
image's result is written under a temporary name and renamed into place when complete, so a
rerun skips finished images and redoes any that a killed run (or another tool) left half
written.
"""

import csv
import json
import numbers
import pathlib
import re
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image

from segdata.formats.pets.labelled import IMAGE_SUFFIXES
from segdata.io.atomic import write_text_atomic
from segmodel.sam.prompting.files import load_image

HEADER = ("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
          "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h")


def _text(value):
    """amg.py writes `str()` of Python ints and floats; numpy scalars would print otherwise."""
    return str(int(value)) if isinstance(value, numbers.Integral) else str(float(value))


def metadata_csv(records):
    """amg.py's metadata.csv text for generator `records`: the header, then per mask
    `id,area,bbox(4),point(2),predicted_iou,stability_score,crop_box(4)`, lines joined by
    "\\n" with no final newline (as amg.py writes it)."""
    lines = [HEADER]
    for i, r in enumerate(records):
        values = [i, r["area"], *r["bbox"], *r["point_coords"][0], r["predicted_iou"],
                  r["stability_score"], *r["crop_box"]]
        lines.append(",".join(_text(v) for v in values))
    return "\n".join(lines)


def rle_records(records):
    """Generator `records` with "segmentation" (bool `[H, W]`) as COCO RLE
    {"size": [H, W], "counts": str}, JSON-ready (amg.py's `coco_rle` output mode)."""
    from pycocotools import mask as mask_utils

    out = []
    for r in records:
        rle = mask_utils.encode(np.asfortranarray(r["segmentation"], dtype=np.uint8))
        rle = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("utf-8")}
        out.append({**r, "segmentation": rle})
    return out


def write_mask_folder(path, records):
    """Write `records` as amg.py's per-image folder at `path` (created; its parent must exist)
    via a temporary sibling folder renamed into place. Returns `path`."""
    path = pathlib.Path(path)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial",
                                        dir=path.parent))
    try:
        for i, r in enumerate(records):
            pixels = np.where(r["segmentation"], 255, 0).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp / f"{i}.png", format="PNG")
        # newline="" keeps amg.py's "\n" on every platform.
        with open(tmp / "metadata.csv", "w", encoding="utf-8", newline="") as f:
            f.write(metadata_csv(records))
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def folder_is_complete(path):
    """True when `path` is a finished mask folder: metadata.csv with amg.py's header, rows
    numbered 0..N-1, and every `{i}.png` present."""
    meta = pathlib.Path(path) / "metadata.csv"
    if not meta.is_file():
        return False
    try:
        with open(meta, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    if not rows or ",".join(rows[0]) != HEADER:
        return False
    ids = [row[0] if row else "" for row in rows[1:]]
    return (ids == [str(i) for i in range(len(ids))]
            and all(len(row) == 14 for row in rows[1:])
            and all((meta.parent / f"{i}.png").is_file() for i in ids))


def json_is_complete(path):
    """True when `path` is a JSON list (a finished RLE file; a truncated one does not parse)."""
    try:
        return isinstance(json.loads(pathlib.Path(path).read_text(encoding="utf-8")), list)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def list_images(images):
    """`images` (a folder or one image file) -> (image paths to process, ignored files).

    A folder gives its files with an image suffix (IMAGE_SUFFIXES, any case), sorted, not
    hidden and not in subfolders; its other files are returned as ignored. A single file is
    taken whatever its suffix, as amg.py's `--input`.

    Raises:
      FileNotFoundError: `images` does not exist.
      ValueError: a folder without images, or two images with the same name stem (their
        outputs would collide), naming them.
    """
    images = pathlib.Path(images)
    if images.is_file():
        return [images], []
    if not images.is_dir():
        raise FileNotFoundError(f"Image folder or file not found: {images}")
    files = sorted(p for p in images.iterdir() if p.is_file() and not p.name.startswith("."))
    paths = [p for p in files if p.name.lower().endswith(IMAGE_SUFFIXES)]
    ignored = [p for p in files if p not in paths]
    if not paths:
        raise ValueError(f"No image files in {images} (looked for "
                         f"{', '.join(IMAGE_SUFFIXES)})")
    stems, clashes = {}, []
    for p in paths:
        if p.stem in stems:
            clashes.append(f"{stems[p.stem].name} and {p.name}")
        stems.setdefault(p.stem, p)
    if clashes:
        raise ValueError(f"images in {images} share a name stem, so their outputs would "
                         f"overwrite each other; rename one of: {'; '.join(clashes)}")
    return paths, ignored


def _ours(path):
    """True when every entry of folder `path` is a file amg.py's folder can hold."""
    return all(p.is_file() and (p.name == "metadata.csv" or re.fullmatch(r"\d+(matting)?\.png", p.name))
               for p in path.iterdir())


def _in_the_way(target, folder_mode):
    """True when `target` exists and is not an output of this tool (nor amg.py's) that a
    rerun may replace: never delete what a user put there."""
    if not target.exists():
        return False
    if folder_mode:
        return not (target.is_dir() and _ours(target))
    return not target.is_file()


def _clear(target, folder_mode):
    """Remove temporary leftovers of killed runs for `target`, and a half-written `target`."""
    for pattern in (f".{target.name}.*.partial", f".{target.name}.*.tmp{target.suffix}"):
        for stale in target.parent.glob(pattern):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    if _in_the_way(target, folder_mode):
        raise FileExistsError(f"{target} is in the way of an image's output and is not one "
                              f"this tool writes; move it or choose another --output-dir")
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()


def _target(output_dir, image, convert_to_rle):
    return output_dir / (f"{image.stem}.json" if convert_to_rle else image.stem)


def automask_folder(generator, images, output_dir, *, convert_to_rle=False, progress=True,
                    log=print):
    """Run automatic mask generation over `images` into `output_dir` (see the module doc).

    Args:
      generator: a `SamAutomaticMaskGenerator`, or a function returning one, called at the
        first image that needs masks (a finished folder resumes without loading SAM).
      images: a folder of images (files with an image suffix; others are ignored) or one
        image file.
      output_dir: created if missing. Finished outputs in it are kept (skipped); outputs
        left half-written by a killed run are redone.
      convert_to_rle: one `NAME.json` of COCO RLE records per image instead of a folder of
        PNGs.
      progress: show a tqdm progress bar on stderr.
      log: called with one line (str) per image that cannot be read.

    Returns:
      dict: "written", "skipped" (finished by an earlier run), "ignored" (non-image files)
      lists of file names; "failed" list of "NAME: reason" (unreadable images, skipped);
      "masks" int, the number of masks written by this run; "output_dir" str.

    Raises:
      FileNotFoundError: see `list_images`.
      ValueError: see `list_images`.
      FileExistsError: something that is not this tool's output sits where an image's output
        goes.
    """
    from tqdm.auto import tqdm

    paths, ignored = list_images(images)
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    complete = json_is_complete if convert_to_rle else folder_is_complete
    summary = {"written": [], "skipped": [], "failed": [], "ignored": [p.name for p in ignored],
               "masks": 0, "output_dir": str(output_dir)}
    todo = []
    for path in paths:
        done = complete(_target(output_dir, path, convert_to_rle))
        (summary["skipped"] if done else todo).append(path)
    summary["skipped"] = [p.name for p in summary["skipped"]]
    blocked = [str(t) for t in (_target(output_dir, p, convert_to_rle) for p in todo)
               if _in_the_way(t, not convert_to_rle)]
    if blocked:  # before any model work
        raise FileExistsError(f"{len(blocked)} path(s) in {output_dir} are in the way of image "
                              f"outputs and are not ones this tool writes; move them or choose "
                              f"another --output-dir: {', '.join(blocked[:10])}")
    for path in tqdm(todo, desc="sam_automask", unit="img", disable=not progress,
                     file=sys.stderr):
        try:
            image = load_image(path)
        except (OSError, ValueError) as err:  # not an image, truncated, unreadable
            summary["failed"].append(f"{path.name}: {err}")
            log(f"sam_automask: skipping {path}: {err}")
            continue
        if callable(generator) and not hasattr(generator, "generate"):
            generator = generator()
        records = generator.generate(image)
        target = _target(output_dir, path, convert_to_rle)
        _clear(target, folder_mode=not convert_to_rle)
        if convert_to_rle:
            # Compact, as amg.py's json.dump; write_text_atomic renames it into place.
            write_text_atomic(target, json.dumps(rle_records(records)))
        else:
            write_mask_folder(target, records)
        summary["written"].append(path.name)
        summary["masks"] += len(records)
    return summary
