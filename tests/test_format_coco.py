"""segdata.formats.coco: detect, scan, rasterize and Model Garden's instance keys.

Small COCO folders are built in tmp_path (64 x 80 images). Masks are checked against an
independent computation: pycocotools.coco.COCO(json).annToMask painted in the documented
order; instance keys are parsed with Model Garden's TfExampleDecoder key spec.
"""

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from segdata.formats import coco, coco_masks
from segdata.formats.base import IGNORE_LABEL, FormatError, Sample

H, W = 64, 80
CATS = [{"id": 7, "name": "dog"}, {"id": 2, "name": "cat"}, {"id": 11, "name": "bird"}]
TRAIN_ID = {2: 1, 7: 2, 11: 3}  # sorted by category id


def _uncompressed(binary):
    """uint8 [h, w] -> COCO uncompressed RLE (column-major runs, starting with zeros)."""
    flat = binary.T.reshape(-1)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0] + runs
    return {"size": [int(binary.shape[0]), int(binary.shape[1])], "counts": runs}


def _compressed(binary):
    rle = mask_utils.encode(np.asfortranarray(binary))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _box(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def _ann(aid, image_id, cat, segm, area, iscrowd=0, bbox=(0, 0, 10, 10)):
    return {"id": aid, "image_id": image_id, "category_id": cat, "segmentation": segm,
            "area": area, "iscrowd": iscrowd, "bbox": list(bbox)}


def _crowd_mask():
    m = np.zeros((H, W), np.uint8)
    m[30:60, 5:30] = 1  # under the cat's first part: the crowd must not cover it
    return m


def _small_mask():
    m = np.zeros((H, W), np.uint8)
    m[20:30, 20:34] = 1
    return m


def _train_annotations():
    """(annotations of instances_train2017.json, {ann id: expected kept segmentation})."""
    two_parts = [_box(5, 5, 45, 40), _box(50, 5, 75, 30)]
    anns = [
        _ann(1, 10, 2, two_parts, 2000.0, bbox=(5, 5, 70, 35)),              # cat, 2 parts
        _ann(2, 10, 7, _uncompressed(_crowd_mask()), 500.0, iscrowd=1),     # crowd, list RLE
        _ann(3, 10, 11, _compressed(_small_mask()), 140.0, bbox=(20, 20, 14, 10)),  # bird, str
        _ann(4, 10, 7, [_box(30, 30, 60, 55), [1, 1, 3, 3]], 750.0),         # a 2-point part
        _ann(5, 10, 2, [[0, 0, 10, 10, 20, 20]], 0.0),                        # collinear only
        _ann(6, 10, 99, [_box(0, 0, 5, 5)], 25.0),                            # unknown category
        _ann(7, 999, 2, [_box(0, 0, 5, 5)], 25.0),                            # unknown image
        _ann(8, 10, 2, {"size": [10, 10], "counts": [100]}, 0.0),             # wrong RLE size
        _ann(9, 10, 2, "not a segmentation", 1.0),                            # malformed
        _ann(10, 10, 11, [_box(60, 40, 78, 62), [1, 2, 3, 4, 5, 6, 7]], 396.0),  # odd count
        # image b: the larger one has the higher id, equal-area pair overlaps (tie -> id order)
        _ann(21, 20, 11, [_box(10, 10, 30, 30)], 400.0),
        _ann(22, 20, 2, [_box(5, 5, 60, 50)], 2475.0),
        _ann(24, 20, 7, [_box(40, 30, 70, 60)], 900.0),
        _ann(23, 20, 2, [_box(50, 35, 75, 60)], 900.0),
    ]
    kept = {a["id"]: a["segmentation"] for a in anns if a["id"] in (1, 2, 3, 21, 22, 23, 24)}
    kept[4] = [_box(30, 30, 60, 55)]
    kept[10] = [_box(60, 40, 78, 62)]
    return anns, kept


def _image(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(path)


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _images(*entries):
    return [{"id": i, "file_name": f, "height": H, "width": W} for i, f in entries]


@pytest.fixture()
def coco_dir(tmp_path):
    root = tmp_path / "coco"
    anns, _ = _train_annotations()
    _write(root / "annotations" / "instances_train2017.json", {
        "images": _images((10, "a.jpg"), (20, "b.jpg"), (30, "c.jpg"), (40, "gone.jpg")),
        "annotations": anns, "categories": CATS})
    _write(root / "annotations" / "instances_val2017.json", {
        "images": _images((5, "d.jpg")),
        "annotations": [_ann(50, 5, 11, [_box(3, 3, 20, 20)], 289.0)],
        "categories": list(reversed(CATS))})
    _write(root / "annotations" / "captions_train2017.json", {"annotations": [{"caption": "x"}]})
    for i, name in enumerate(("train2017/a.jpg", "train2017/b.jpg", "train2017/c.jpg",
                              "val2017/d.jpg")):
        _image(root / name, i)
    return root


def test_detect(coco_dir, tmp_path):
    assert coco.detect(coco_dir).matched
    assert coco.detect(tmp_path).matched and coco.detect(tmp_path).root == str(coco_dir)
    other = tmp_path / "other"
    _write(other / "annotations" / "captions_train2017.json", {})
    det = coco.detect(other)
    assert not det.matched and det.score >= 1 and "captions_train2017.json" in det.missing


def test_scan_classes_splits_missing(coco_dir):
    layout = coco.scan(coco_dir, instances=True)
    assert layout.format == "coco"
    assert layout.classes == ["background", "cat", "dog", "bird"]
    assert layout.label_map == {"0": 0, "1": 1, "2": 2, "3": 3}
    assert layout.decoder.kind == "coco" and layout.decoder.num_classes == 4
    assert layout.decoder.instances
    assert layout.splits == {"train": ["a", "b", "c"], "validation": ["d"]}
    assert sorted(layout.samples) == ["a", "b", "c", "d"]
    assert [m["name"] for m in layout.missing] == ["gone"]
    assert "gone.jpg" in layout.missing[0]["reason"]
    assert "instances_train2017.json" in layout.missing[0]["reason"]
    assert "train2017/" in layout.missing[0]["reason"]
    a = layout.samples["a"]
    assert a.image_path == str(coco_dir / "train2017" / "a.jpg") and a.filename == "a.jpg"
    assert (a.height, a.width) == (H, W)
    assert [x["id"] for x in a.annotations] == [1, 2, 3, 4, 10]
    assert {x["id"]: x["train_id"] for x in a.annotations} == {1: 1, 2: 2, 3: 3, 4: 2, 10: 3}
    _, kept = _train_annotations()
    assert all(x["segmentation"] == kept[x["id"]] for x in a.annotations)
    json.dumps([list(s.annotations) for s in layout.samples.values()])  # JSON-able
    assert layout.samples["c"].annotations == ()


def test_scan_dropped_reasons(coco_dir):
    dropped = coco.scan(coco_dir).dropped
    by_id = {}
    for d in dropped:
        aid = int(d["reason"].split()[1])
        by_id[aid] = d
    assert sorted(by_id) == [4, 5, 6, 7, 8, 9, 10]
    assert "category_id 99" in by_id[6]["reason"] and by_id[6]["name"] == "a"
    assert "image_id 999" in by_id[7]["reason"]
    assert by_id[7]["name"] == "annotations/instances_train2017.json"
    assert all("instances_train2017.json" in d["reason"] for d in dropped)
    assert "polygon part 1" in by_id[4]["reason"] and "rest kept" in by_id[4]["reason"]
    assert "zero area" in by_id[5]["reason"] and "annotation dropped" in by_id[5]["reason"]
    assert "[10, 10]" in by_id[8]["reason"] and "annotation dropped" in by_id[8]["reason"]
    assert "neither a list of polygons nor an RLE dict" in by_id[9]["reason"]
    assert "odd number" in by_id[10]["reason"]


def _reference_mask(coco_dir, image_id, split="train2017"):
    """Independent: COCO.annToMask of the hand-cleaned annotations, painted in the doc's order."""
    anns, kept = _train_annotations()
    if split == "val2017":
        anns, kept = [_ann(50, 5, 11, [_box(3, 3, 20, 20)], 289.0)], None
    anns = [dict(a, segmentation=kept[a["id"]]) if kept else a for a in anns
            if a["image_id"] == image_id and (kept is None or a["id"] in kept)]
    ref = coco_dir.parent / f"ref_{image_id}.json"
    ref.write_text(json.dumps({"images": _images((image_id, "x.jpg")), "annotations": anns,
                               "categories": CATS}))
    api = COCO(str(ref))
    out = np.zeros((H, W), np.uint8)
    for a in [a for a in anns if a["iscrowd"]]:
        out[api.annToMask(a) == 1] = IGNORE_LABEL
    for a in sorted((a for a in anns if not a["iscrowd"]), key=lambda a: (-a["area"], a["id"])):
        out[api.annToMask(a) == 1] = TRAIN_ID[a["category_id"]]
    naive = np.zeros((H, W), np.uint8)  # JSON order, no crowd rule: must differ to mean anything
    for a in anns:
        naive[api.annToMask(a) == 1] = IGNORE_LABEL if a["iscrowd"] else TRAIN_ID[a["category_id"]]
    return out, api, anns, naive


@pytest.mark.parametrize("name,image_id", [("a", 10), ("b", 20), ("d", 5)])
def test_rasterize_matches_pycocotools(coco_dir, name, image_id):
    layout = coco.scan(coco_dir)
    mask, notes = coco.rasterize(layout.samples[name], layout.decoder)
    ref, _, _, naive = _reference_mask(coco_dir, image_id, "val2017" if name == "d" else "train2017")
    assert mask.dtype == np.uint8 and mask.shape == (H, W) and notes == []
    np.testing.assert_array_equal(mask, ref)
    if name in ("a", "b"):
        assert (ref != naive).any()
        assert set(np.unique(mask)) >= {0, 1, 2, 3}
    if name == "a":
        assert (mask == IGNORE_LABEL).any()
        assert (mask[20:30, 20:34] == 3).all()  # the small bird stays on top of the cat


def test_rasterize_empty_image_and_notes(coco_dir):
    layout = coco.scan(coco_dir)
    mask, notes = coco.rasterize(layout.samples["c"], layout.decoder)
    assert mask.shape == (H, W) and not mask.any() and notes == []
    bad = Sample(name="x", image_path="x.jpg", height=H, width=W, annotations=(
        {"id": 1, "category_id": 2, "train_id": 1, "iscrowd": 0, "area": 4.0, "bbox": None,
         "segmentation": {"size": [H + 1, W], "counts": [(H + 1) * W]}},
        {"id": 2, "category_id": 2, "train_id": 1, "iscrowd": 0, "area": None, "bbox": None,
         "segmentation": [_box(0, 0, 10, 10)]}))
    mask, notes = coco.rasterize(bad, layout.decoder)
    assert len(notes) == 1 and "annotation 1" in notes[0] and "disagrees" in notes[0]
    assert mask[2:8, 2:8].all() and mask.sum() > 0
    feats = coco.instance_features(bad, layout.decoder)  # no bbox/area in the JSON: the mask's
    rle = mask_utils.merge(mask_utils.frPyObjects([_box(0, 0, 10, 10)], H, W))
    x, y, bw, bh = mask_utils.toBbox(rle)
    assert feats["image/object/class/label"] == ("int64", [1])
    assert feats["image/object/area"] == ("float", [float(mask_utils.area(rle))])
    np.testing.assert_allclose(feats["image/object/bbox/xmax"][1], [(x + bw) / W])
    np.testing.assert_allclose(feats["image/object/bbox/ymax"][1], [(y + bh) / H])


def test_compressed_rle_counts_match_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = (rng.random((H, W)) < rng.random()).astype(np.uint8)
        rle = mask_utils.encode(np.asfortranarray(m))
        runs = coco_masks.rle_string_counts(rle["counts"])
        assert runs.sum() == H * W and runs[1::2].sum() == mask_utils.area(rle) == m.sum()
    segm = {"size": [H, W], "counts": rle["counts"].decode()[:-2]}  # truncated: runs fall short
    assert coco_masks.check_segmentation(segm, H, W)[0] is None
    assert coco_masks.check_segmentation({"size": [H, W], "counts": "\x7f"}, H, W)[0] is None


def _parse_like_model_garden(features):
    """tf.train.Example from instance_features' dict, parsed with TfExampleDecoder's spec."""
    tf = pytest.importorskip("tensorflow")
    feat = {}
    for key, (kind, values) in features.items():
        lists = {"bytes": tf.train.BytesList, "int64": tf.train.Int64List,
                 "float": tf.train.FloatList}
        feat[key] = tf.train.Feature(**{f"{kind}_list": lists[kind](value=values)})
    feat["image/height"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[H]))
    feat["image/width"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[W]))
    spec = {"image/height": tf.io.FixedLenFeature((), tf.int64, -1),
            "image/width": tf.io.FixedLenFeature((), tf.int64, -1),
            "image/object/mask": tf.io.VarLenFeature(tf.string)}
    for key in ("xmin", "xmax", "ymin", "ymax"):
        spec[f"image/object/bbox/{key}"] = tf.io.VarLenFeature(tf.float32)
    spec["image/object/class/label"] = tf.io.VarLenFeature(tf.int64)
    spec["image/object/area"] = tf.io.VarLenFeature(tf.float32)
    spec["image/object/is_crowd"] = tf.io.VarLenFeature(tf.int64)
    example = tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString()
    parsed = tf.io.parse_single_example(example, spec)
    out = {}
    for k, v in parsed.items():
        if isinstance(v, tf.SparseTensor):
            v = tf.sparse.to_dense(v, default_value="" if v.dtype == tf.string else 0)
        out[k] = v
    pngs = out["image/object/mask"]
    out["masks"] = (np.stack([tf.cast(tf.squeeze(tf.io.decode_png(p, channels=1, dtype=tf.uint8),
                                                 -1), tf.float32).numpy() for p in pngs])
                    if len(pngs) else np.zeros((0, H, W), np.float32))
    return out


def test_instance_features_read_by_model_garden_spec(coco_dir):
    layout = coco.scan(coco_dir, instances=True)
    sample = layout.samples["a"]
    feats = coco.instance_features(sample, layout.decoder)
    assert set(feats) == set(coco_masks.INSTANCE_KEYS)
    got = _parse_like_model_garden(feats)
    _, api, anns, _ = _reference_mask(coco_dir, 10)
    assert [a["id"] for a in sample.annotations] == [a["id"] for a in anns]
    np.testing.assert_array_equal(got["image/object/class/label"].numpy(),
                                  [TRAIN_ID[a["category_id"]] for a in anns])
    np.testing.assert_array_equal(got["image/object/is_crowd"].numpy(), [a["iscrowd"] for a in anns])
    np.testing.assert_allclose(got["image/object/area"].numpy(), [a["area"] for a in anns])
    boxes = np.array([a["bbox"] for a in anns], np.float64)
    np.testing.assert_allclose(got["image/object/bbox/xmin"].numpy(), boxes[:, 0] / W, rtol=1e-6)
    np.testing.assert_allclose(got["image/object/bbox/ymin"].numpy(), boxes[:, 1] / H, rtol=1e-6)
    np.testing.assert_allclose(got["image/object/bbox/xmax"].numpy(),
                               np.minimum((boxes[:, 0] + boxes[:, 2]) / W, 1), rtol=1e-6)
    np.testing.assert_allclose(got["image/object/bbox/ymax"].numpy(),
                               np.minimum((boxes[:, 1] + boxes[:, 3]) / H, 1), rtol=1e-6)
    assert got["masks"].dtype == np.float32 and got["masks"].shape == (len(anns), H, W)
    np.testing.assert_array_equal(got["masks"], np.stack([api.annToMask(a) for a in anns]))


def test_instance_features_empty_image(coco_dir):
    layout = coco.scan(coco_dir, instances=True)
    feats = coco.instance_features(layout.samples["c"], layout.decoder)
    assert set(feats) == set(coco_masks.INSTANCE_KEYS)
    assert all(values == [] for _, values in feats.values())
    got = _parse_like_model_garden(feats)
    assert got["masks"].shape == (0, H, W) and got["image/object/class/label"].shape == (0,)


def _one_split(root, json_rel, images, anns=(), cats=CATS):
    _write(root / json_rel, {"images": _images(*images), "annotations": list(anns),
                             "categories": cats})


def test_cvat_and_label_studio_exports(tmp_path):
    cvat = tmp_path / "cvat"
    _one_split(cvat, "annotations/instances_default.json", [(1, "p.jpg")],
               [_ann(1, 1, 7, [_box(2, 2, 20, 20)], 324.0)])
    _image(cvat / "images" / "p.jpg", 0)
    layout = coco.scan(cvat)
    assert layout.splits == {"train": ["p"]}
    assert layout.samples["p"].image_path == str(cvat / "images" / "p.jpg")

    ls = tmp_path / "ls"
    _one_split(ls, "result.json", [(0, "images/q.jpg"), (1, "images/r.jpg")],
               [_ann(3, 1, 2, [_box(2, 2, 20, 20)], 324.0)])
    _image(ls / "images" / "q.jpg", 1)
    _image(ls / "images" / "r.jpg", 2)
    assert coco.detect(ls).matched
    layout = coco.scan(ls)
    assert layout.splits == {"train": ["q", "r"]} and layout.missing == []
    mask, _ = coco.rasterize(layout.samples["r"], layout.decoder)
    assert mask[5, 5] == 1 and mask[30, 30] == 0
    assert not coco.detect(tmp_path / "nothing_here").matched


def test_repeated_stems_use_relative_paths(tmp_path):
    root = tmp_path / "coco"
    _one_split(root, "annotations/instances_train.json", [(1, "x.jpg"), (2, "y.jpg")])
    _one_split(root, "annotations/instances_val.json", [(1, "x.jpg"), (2, "z.jpg"), (3, "z.png")])
    for name in ("train/x.jpg", "train/y.jpg", "val/x.jpg", "val/z.jpg", "val/z.png"):
        _image(root / name, 0)
    layout = coco.scan(root)
    assert layout.splits == {"train": ["train/x", "y"],
                             "validation": ["val/x", "val/z.jpg", "val/z.png"]}
    assert layout.samples["val/x"].filename == "x.jpg"


@pytest.mark.parametrize("case,words", [
    ("bad_json", ["instances_train.json", "not valid JSON", "line 1"]),
    ("no_categories", ["instances_train.json", "'categories'"]),
    ("image_no_height", ["instances_train.json", "image #0", "'height'"]),
    ("annotation_no_image_id", ["instances_train.json", "annotation #0", "'image_id'"]),
    ("same_split", ["instances_train.json", "instances_train2017.json", "'train'"]),
    ("categories_differ", ["instances_train.json", "instances_val.json", "id 11"]),
    ("nothing", ["no annotations/instances_*.json"]),
    ("listed_twice", ["images/x.jpg is listed twice", "instances_val.json image id 4"]),
])
def test_format_errors(tmp_path, case, words):
    root = tmp_path / "coco"
    root.mkdir()
    rel = "annotations/instances_train.json"
    if case == "bad_json":
        (root / "annotations").mkdir()
        (root / rel).write_text('{"images": [')
    elif case == "no_categories":
        _write(root / rel, {"images": [], "annotations": []})
    elif case == "image_no_height":
        _write(root / rel, {"images": [{"id": 1, "file_name": "a.jpg", "width": W}],
                            "annotations": [], "categories": CATS})
    elif case == "annotation_no_image_id":
        _one_split(root, rel, [(1, "a.jpg")], [{"id": 3, "category_id": 2, "segmentation": []}])
    elif case == "same_split":
        _one_split(root, rel, [])
        _one_split(root, "annotations/instances_train2017.json", [])
    elif case == "categories_differ":
        _one_split(root, rel, [])
        _one_split(root, "annotations/instances_val.json", [], cats=CATS[:2])
    elif case == "listed_twice":
        _one_split(root, rel, [(1, "x.jpg")])
        _one_split(root, "annotations/instances_val.json", [(4, "x.jpg")])
        _image(root / "images" / "x.jpg", 0)
    with pytest.raises(FormatError) as err:
        coco.scan(root)
    for word in words:
        assert word in str(err.value)


def test_rasterize_large_image_both_paint_paths():
    """480 x 640: outlines (few runs, painted per run) and a noisy mask (many runs, painted
    through one boolean mask) both match pycocotools.mask.decode painted in the doc's order."""
    h, w = 480, 640
    rng = np.random.default_rng(3)
    anns = []
    for i in range(6):
        cx, cy, r = rng.uniform(100, 540), rng.uniform(100, 380), rng.uniform(20, 150)
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        poly = np.stack([cx + r * np.cos(t), cy + 0.7 * r * np.sin(t)], 1).ravel().tolist()
        anns.append({"id": i, "category_id": 2, "train_id": 1 + i % 3, "iscrowd": 0,
                     "area": float(r * r), "bbox": None, "segmentation": [poly]})
    noisy = (rng.random((h, w)) < 0.02).astype(np.uint8)
    noisy_rle = mask_utils.encode(np.asfortranarray(noisy))
    anns.append({"id": 9, "category_id": 2, "train_id": 3, "iscrowd": 0, "area": 1.0,
                 "bbox": None, "segmentation": {"size": [h, w],
                                                "counts": noisy_rle["counts"].decode()}})
    sample = Sample(name="big", image_path="big.jpg", height=h, width=w, annotations=tuple(anns))
    mask, notes = coco.rasterize(sample, None)
    ref = np.zeros((h, w), np.uint8)
    for a in sorted(anns, key=lambda a: (-a["area"], a["id"])):
        segm = a["segmentation"]
        rle = (mask_utils.merge(mask_utils.frPyObjects(segm, h, w)) if isinstance(segm, list)
               else segm)
        ref[mask_utils.decode(rle) == 1] = a["train_id"]
    assert notes == [] and len(np.unique(ref)) == 4
    np.testing.assert_array_equal(mask, ref)
