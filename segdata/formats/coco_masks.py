"""COCO segmentations -> pixels: checking, rasterising (pycocotools) and Model Garden's instance keys.

A COCO `segmentation` is one of
  - polygons: a list of parts, each a flat list [x0, y0, x1, y1, ...] (pixel coordinates);
  - uncompressed RLE: {"size": [h, w], "counts": [n0, n1, ...]} (column-major runs, COCO's
    crowd regions);
  - compressed RLE: {"size": [h, w], "counts": "<string>"} (pycocotools' LEB128-like text, as
    SAM and label tools write).
`check_segmentation` keeps what pycocotools can rasterise safely (its C decoder does not
bounds-check run lengths, so a run total that is not h * w is refused here, before it reaches
pycocotools); `rasterize` paints the image's class mask from the run lengths of pycocotools'
RLEs (polygons go through frPyObjects/merge; no full-size decode per instance, which would
cost more than the photo's own decode); `instance_features` writes the keys
Model Garden's `TfExampleDecoder(include_mask=True)` reads (masks as 8-bit PNGs holding 0/1,
exactly as Model Garden's `create_coco_tf_record.py` writes them).
"""

import io
import math

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from segdata.formats.base import IGNORE_LABEL

INSTANCE_KEYS = ("image/object/bbox/xmin", "image/object/bbox/ymin", "image/object/bbox/xmax",
                 "image/object/bbox/ymax", "image/object/class/label", "image/object/is_crowd",
                 "image/object/area", "image/object/mask")


def _polygon_problem(part):
    """None when `part` is a usable polygon part, else why not (str)."""
    try:
        xy = np.asarray(part, dtype=np.float64)
    except (TypeError, ValueError):
        return "is not a list of numbers"
    if xy.ndim != 1:
        return "is not a flat list of numbers"
    if xy.size % 2:
        return f"has an odd number of coordinates ({xy.size})"
    if xy.size < 6:
        return f"has {xy.size // 2} point(s) (a polygon needs 3)"
    if not np.isfinite(xy).all():
        return "has a coordinate that is not a finite number"
    x, y = xy[0::2], xy[1::2]
    # Shoelace formula (closing edge added by hand): points all on a line cover no area.
    if np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]) + x[-1] * y[0] - x[0] * y[-1] == 0:
        return "has zero area"
    return None


def rle_string_counts(counts):
    """pycocotools' compressed RLE text -> int64 [m] run lengths, or None if it is malformed.

    A vectorised copy of `rleFrString` (maskApi.c): each value is 5-bit groups (char - 48),
    0x20 = more groups follow, 0x10 in the last group = negative; values from index 3 on are
    deltas to the value two places before.
    """
    if isinstance(counts, str):
        try:
            counts = counts.encode("ascii")
        except UnicodeEncodeError:
            return None
    c = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0 or (c < 0).any() or (c > 63).any():
        return None
    more = (c & 0x20) != 0
    if more[-1]:
        return None
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 12:  # more than 60 bits: not a run length
        return None
    k = np.arange(c.size) - np.repeat(starts, lengths)
    x = np.add.reduceat((c & 0x1f) << (5 * k), starts)
    x = np.where((c[ends] & 0x10) != 0, x | np.left_shift(-1, 5 * lengths), x)
    x[1::2] = np.cumsum(x[1::2])
    x[2::2] = np.cumsum(x[2::2])
    return x


_CHECKED = {}  # compressed counts bytes -> runs decoded by the check (see _rle_problem)


def _rle_problem(segm, height, width):
    """None when the RLE dict `segm` is usable for a height x width image, else why not.

    A compressed RLE's decoded runs are kept in `_CHECKED` (the last few), so the decode
    right after the check (`_to_rle`) does not parse the same string twice."""
    size, counts = segm.get("size"), segm.get("counts")
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) for v in size)):
        return f"RLE size {size!r} is not [height, width]"
    if list(size) != [height, width]:
        return f"RLE size {list(size)} disagrees with the image's [{height}, {width}]"
    if isinstance(counts, (str, bytes)):
        runs = rle_string_counts(counts)
        if runs is None:
            return "compressed RLE counts are not a valid pycocotools string"
        _CHECKED.clear()  # one entry: the annotation being checked now
        _CHECKED[counts if isinstance(counts, bytes) else counts.encode("ascii")] = runs
    elif isinstance(counts, list):
        values = np.asarray(counts) if counts else np.zeros(0, np.int64)
        if values.dtype.kind not in "iu" or any(isinstance(v, bool) for v in counts[:1]):
            return "uncompressed RLE counts are not all integers"
        runs = values.astype(np.int64)
    else:
        return f"RLE counts of type {type(counts).__name__} (expected a list or a string)"
    if (runs < 0).any() or int(runs.sum()) != height * width:
        return (f"RLE runs cover {int(runs.sum())} pixels, not {height} x {width} = "
                f"{height * width}")
    return None


def check_segmentation(segm, height, width):
    """-> (usable segmentation or None, [problem str]) for one annotation's `segmentation`.

    Polygon parts with problems are left out (the rest kept); None when nothing usable is left
    or the segmentation is malformed (neither a list of polygons nor an RLE dict, an RLE whose
    size disagrees with the image, run lengths that do not cover the image).
    """
    if isinstance(segm, dict):
        if "counts" not in segm or "size" not in segm:
            return None, ["RLE dict without 'counts' and 'size'"]
        problem = _rle_problem(segm, height, width)
        return (None, [problem]) if problem else (segm, [])
    if segm is None:
        return None, ["no segmentation (a box-only annotation)"]
    if not isinstance(segm, list):
        return None, [f"segmentation of type {type(segm).__name__} is neither a list of "
                      "polygons nor an RLE dict"]
    if not segm:
        return None, ["empty segmentation"]
    if all(isinstance(v, (int, float)) for v in segm):
        return None, ["segmentation is one flat list of numbers, not a list of polygons "
                      "(wrap it in a list)"]
    kept, problems = [], []
    for i, part in enumerate(segm):
        problem = _polygon_problem(part)
        if problem:
            problems.append(f"polygon part {i} {problem}")
        else:
            kept.append(part)
    return (kept or None), problems


def _to_rle(segm, height, width):
    """A checked segmentation -> (compressed RLE dict, int64 [m] column-major run lengths).

    Polygon parts are united (as COCO.annToRLE does). The runs alternate background and
    foreground, starting with background, and sum to height * width.
    """
    if isinstance(segm, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
        return rle, rle_string_counts(rle["counts"])
    counts = segm["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects(segm, height, width), np.asarray(counts, dtype=np.int64)
    rle = {"size": [height, width], "counts": counts.encode() if isinstance(counts, str) else counts}
    runs = _CHECKED.pop(rle["counts"], None)
    return rle, runs if runs is not None else rle_string_counts(rle["counts"])


def decode_instances(sample):
    """Check and run-length decode every annotation of `sample` once.

    Returns (anns, rles, runs, notes): the annotation dicts kept (JSON order), their compressed
    RLE dicts, their run lengths (int64 [m], column-major, background first) and notes (list
    of str) naming annotations dropped here (e.g. an RLE whose size disagrees with the image).
    """
    h, w = sample.height, sample.width
    anns, rles, runs, notes = [], [], [], []
    for ann in sample.annotations:
        segm, problems = check_segmentation(ann.get("segmentation"), h, w)
        if segm is None:
            notes.append(f"annotation {ann.get('id')}: {'; '.join(problems)}; annotation dropped")
            continue
        rle, run = _to_rle(segm, h, w)
        anns.append(ann)
        rles.append(rle)
        runs.append(run)
    return anns, rles, runs, notes


def is_crowd(ann):
    """True for a crowd region (ignore); an `iscrowd` annotation that its file's `--crowd`
    rule reads as an object (segdata.formats.coco_crowd) carries "crowd_object" and is not."""
    return bool(ann.get("iscrowd")) and not ann.get("crowd_object")


def _area(ann, run):
    area = ann.get("area")
    if isinstance(area, (int, float)) and not isinstance(area, bool) and math.isfinite(area):
        return float(area)
    return float(run[1::2].sum())


def _paint(flat, run, value):
    """Set the foreground pixels of one instance's runs to `value` in `flat` (uint8 [h * w],
    column-major). Slices per run when runs are few (an object's outline), one full-size
    boolean mask when there are many (noisy masks), so neither case is slow."""
    if len(run) * 2000 > flat.size:  # a Python slice per run costs ~2000 vectorised pixels
        np.copyto(flat, np.uint8(value), where=np.repeat(np.arange(len(run)) % 2 == 1, run))
        return
    ends = np.cumsum(run)
    for begin, end in zip((ends - run)[1::2].tolist(), ends[1::2].tolist()):
        flat[begin:end] = value


def _binary(run, height, width):
    """Run lengths -> uint8 [height, width] of 0/1 (what pycocotools.mask.decode gives)."""
    flat = np.repeat((np.arange(len(run)) % 2).astype(np.uint8), run)
    return np.ascontiguousarray(flat.reshape(width, height).T)


def rasterize(sample, decoder, decoded=None):
    """Paint `sample`'s annotations -> (mask uint8 [height, width] of train ids, notes [str]).

    Background 0 everywhere; crowd regions (`is_crowd`) IGNORE_LABEL first; then the other
    instances by decreasing `area` (the JSON's; ties by annotation id), each overwriting, so
    smaller objects stay on top (also for a mask export's "crowds" read as objects: JSON order
    is no layering to trust, Datumaro's own re-import reverses it). Pixels come from
    pycocotools' RLEs (frPyObjects / merge for polygons), painted run by run. `decoded`:
    decode_instances(sample), to share one decode with instance_features.
    """
    anns, _, runs, notes = decoded or decode_instances(sample)
    crowd = [i for i, a in enumerate(anns) if is_crowd(a)]
    others = sorted((i for i, a in enumerate(anns) if not is_crowd(a)),
                    key=lambda i: (-_area(anns[i], runs[i]), anns[i].get("id", 0)))
    # COCO runs are column-major: paint the transpose's flat buffer, transpose once at the end.
    out_t = np.zeros((sample.width, sample.height), np.uint8)
    flat = out_t.reshape(-1)
    for i in crowd + others:
        _paint(flat, runs[i], IGNORE_LABEL if is_crowd(anns[i]) else anns[i]["train_id"])
    return np.ascontiguousarray(out_t.T), notes


def _png(mask01):
    """uint8 [h, w] of 0/1 -> PNG bytes (8-bit gray), as Model Garden's encode_mask_as_png; zlib
    level 1: the same pixels, ~2x faster to write than PIL's default, a few hundred bytes more."""
    buf = io.BytesIO()
    Image.fromarray(mask01).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _bbox(ann, rle):
    """COCO [x, y, w, h]: the JSON's, or the mask's own box when the JSON's is missing/empty."""
    box = ann.get("bbox")
    if (isinstance(box, (list, tuple)) and len(box) == 4
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)
            and box[2] > 0 and box[3] > 0):
        return [float(v) for v in box]
    return [float(v) for v in mask_utils.toBbox(rle)]


def instance_features(sample, decoder, decoded=None):
    """Model Garden's instance keys for `sample` -> {key: (kind, values)}, kind "float" |
    "int64" | "bytes", one value per usable annotation in JSON order (every key present, empty
    lists when there are none).

    Boxes are normalised by the image's width/height and clipped to 0..1; class/label holds
    train ids 1..K; is_crowd 0/1; area the JSON's (the mask's when absent); mask one 8-bit PNG
    per instance, image-sized, holding 0/1 (what Model Garden writes and its decoder casts to
    float32). `decoded`: decode_instances(sample), to share one decode with rasterize.
    """
    anns, rles, runs, _ = decoded or decode_instances(sample)
    h, w = float(sample.height), float(sample.width)
    out = {key: [] for key in INSTANCE_KEYS}
    for ann, rle, run in zip(anns, rles, runs):
        x, y, bw, bh = _bbox(ann, rle)
        for key, v in (("xmin", x / w), ("ymin", y / h), ("xmax", (x + bw) / w),
                       ("ymax", (y + bh) / h)):
            out[f"image/object/bbox/{key}"].append(min(max(v, 0.0), 1.0))
        out["image/object/class/label"].append(int(ann["train_id"]))
        out["image/object/is_crowd"].append(1 if is_crowd(ann) else 0)
        out["image/object/area"].append(_area(ann, run))
        out["image/object/mask"].append(_png(_binary(run, sample.height, sample.width)))
    kinds = {"image/object/class/label": "int64", "image/object/is_crowd": "int64",
             "image/object/mask": "bytes"}
    return {key: (kinds.get(key, "float"), values) for key, values in out.items()}
