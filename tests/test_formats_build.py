"""Every dataset layout through build_records: records hold exactly the train ids a correct
reader must produce (the generator's `truth`, computed independently of segkit's readers: palette
indices for VOC, labelmap colours for CVAT, the official Cityscapes table, pycocotools for COCO),
original photo bytes, the quirks skipped / repaired / dropped with reasons, auto-detection, the
Beam runner byte-identical to the local one, and load_dataset's train ids."""

import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segdata.records.convert import build_records
from segdata.synthetic.datasets import make_dataset

LAYOUTS = ("voc", "cvat", "coco", "cityscapes", "ade20k", "camvid", "masks")
FORMAT = {"cvat": "voc"}  # the format name build_records reports for each generated layout


def _records(out, manifest):
    """{source id: (feature dict)} of every record of every split."""
    found = {}
    for split, info in manifest["splits"].items():
        for shard in info["shards"]:
            for raw in tf.data.TFRecordDataset(str(out / shard["file"])):
                feat = tf.train.Example.FromString(raw.numpy()).features.feature
                found[feat["image/source_id"].bytes_list.value[0].decode()] = (split, feat)
    return found


def _mask(feat):
    data = feat["image/segmentation/class/encoded"].bytes_list.value[0]
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "L"  # single-channel 8-bit: what Model Garden's decoder reads
        return np.asarray(img)


@pytest.fixture(scope="module", params=LAYOUTS)
def built(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    data = make_dataset(tmp / "data", request.param, num_images=10, seed=3, quirks=True)
    manifest = build_records(data.root, tmp / "records", workers=0, progress=False)
    return data, manifest, tmp / "records"


def test_records_hold_the_independent_truth(built):
    data, manifest, out = built
    assert manifest["format"] == FORMAT.get(data.format, data.format)
    assert manifest["classes"] == list(data.classes)
    assert manifest["num_classes"] == len(data.classes) and manifest["ignore_label"] == 255
    assert manifest["label_map"] == {str(i): i for i in range(len(data.classes))}
    assert len(manifest["palette"]) == len(data.classes)
    records = _records(out, manifest)
    assert set(records) == set(data.truth), (set(records) ^ set(data.truth))
    for name, (_, feat) in records.items():
        np.testing.assert_array_equal(_mask(feat), data.truth[name], err_msg=name)
    assert set(manifest["splits"]) <= {"train", "validation", "test"}
    for split, names in data.splits.items():
        kept = {n for n in names if n in data.truth}
        assert {n for n, (s, _) in records.items() if s == split} == kept, split
    counts = manifest["class_pixel_counts"]
    total = np.bincount(np.concatenate([t.ravel() for t in data.truth.values()]), minlength=256)
    assert counts == {c: int(total[i]) for i, c in enumerate(data.classes)}
    for split, names in data.splits.items():  # per class: images holding it, their pixels
        n = len(data.classes)
        per_image = [np.bincount(data.truth[name].ravel(), minlength=256)[:n]
                     for name in names if name in data.truth]
        if not per_image:
            continue
        entry = manifest["splits"][split]
        assert entry["class_image_counts"] == {
            str(c): sum(int(p[c] > 0) for p in per_image) for c in range(n)}
        assert entry["class_image_pixels"] == {
            str(c): sum(int(p.sum()) for p in per_image if p[c]) for c in range(n)}


def test_quirks_are_reported_with_their_reasons(built):
    data, manifest, _ = built
    reported = {"skipped": manifest["skipped"], "repaired": manifest["repaired"],
                "dropped": manifest["dropped"]["annotations"]}
    for key, outcome in data.quirks.items():
        kind = outcome.split(":")[0]
        if kind == "ignored":
            if data.format == "coco":  # COCO reads the files its JSON names, nothing else
                assert not any(e["name"] in key for e in manifest["skipped"]), key
            else:
                # paths are relative to the scanned root (VOC: VOC2012 inside VOCdevkit)
                assert any(key == f or key.endswith("/" + f) for f in
                           manifest["ignored"]["files"]), (key, manifest["ignored"])
            continue
        entries = reported[kind]
        if key.startswith("annotation "):  # COCO: the annotation id is named in the reason
            assert any(key.split()[1] in e["reason"] for e in entries), (key, entries)
        else:
            assert any(e["name"] == key for e in entries), (key, outcome, entries)
    for entry in manifest["skipped"]:
        assert entry["reason"] and "Traceback" not in entry["reason"]


def test_photos_keep_their_bytes_and_format(built):
    data, manifest, out = built
    repaired = {e["name"] for e in manifest["repaired"] if "image is" in e["reason"]}
    records = _records(out, manifest)
    kept_same = 0
    for name, (_, feat) in records.items():
        fmt = feat["image/format"].bytes_list.value[0].decode()
        encoded = feat["image/encoded"].bytes_list.value[0]
        with Image.open(io.BytesIO(encoded)) as img:
            assert img.format.lower() == fmt and img.mode == "RGB"
        filename = feat["image/filename"].bytes_list.value[0].decode()
        # (CamVid's masks share their photos' names, in the *annot/ folders)
        originals = [p for p in data.root.rglob(filename) if not p.parent.name.endswith("annot")]
        if name not in repaired and len(originals) == 1:
            assert originals[0].read_bytes() == encoded, name
            kept_same += 1
    assert kept_same >= len(records) // 2


def test_load_dataset_yields_train_ids(built):
    import segdata

    data, manifest, out = built
    split = "validation" if "validation" in manifest["splits"] else "train"
    seen = set()
    for _, masks in segdata.load_dataset(out, split, image_size=(48, 64), batch_size=4):
        seen |= set(np.unique(masks.numpy()).tolist())
    assert seen <= set(range(len(data.classes))) | {255} and len(seen - {255}) >= 2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_auto_detection_names_the_layout(layout, tmp_path):
    from segdata import formats

    data = make_dataset(tmp_path / "d", layout, num_images=4, seed=0)
    fmt, detection = formats.detect_format(data.root)
    assert fmt == FORMAT.get(layout, layout)


def test_a_folder_of_no_layout_is_a_clear_error(tmp_path):
    from segdata import formats

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(formats.FormatError) as err:
        build_records(tmp_path, tmp_path / "out", workers=0, progress=False)
    message = str(err.value)
    assert "pets, voc, coco, cityscapes, ade20k, camvid, masks" in message
    assert "closest is voc" in message and "SegmentationClass" in message


def test_holdout_split_works_for_every_layout(tmp_path):
    data = make_dataset(tmp_path / "d", "masks", num_images=10, seed=1)
    manifest = build_records(data.root, tmp_path / "r", split="holdout", val_size=3, seed=5,
                             workers=0, progress=False)
    assert {s: v["num_examples"] for s, v in manifest["splits"].items()} == {
        "train": 7, "validation": 3}


@pytest.mark.beam
@pytest.mark.parametrize("layout", ("voc", "coco"))
def test_beam_build_equals_the_local_build(layout, tmp_path):
    pytest.importorskip("apache_beam")
    from segdata.records.beam_convert import build_records_beam

    data = make_dataset(tmp_path / "d", layout, num_images=10, seed=2, quirks=True)
    local = build_records(data.root, tmp_path / "local", workers=2, progress=False,
                          num_shards=2, instances=layout == "coco")
    beam = build_records_beam(data.root, tmp_path / "beam", num_shards=2,
                              instances=layout == "coco")
    strip = lambda m: {k: v for k, v in m.items() if k != "build"}  # noqa: E731
    assert json.dumps(strip(local), sort_keys=True) == json.dumps(strip(beam), sort_keys=True)
    for split, info in local["splits"].items():
        for shard in info["shards"]:
            assert (tmp_path / "local" / shard["file"]).read_bytes() == (
                tmp_path / "beam" / shard["file"]).read_bytes()


def test_coco_instances_read_by_model_gardens_decoder(tmp_path):
    """--instances writes the keys Model Garden's TfExampleDecoder(include_mask=True) parses,
    with the same spec and decoding it uses (official/vision/dataloaders/tf_example_decoder)."""
    from pycocotools import mask as mask_utils

    data = make_dataset(tmp_path / "d", "coco", num_images=6, seed=4)
    manifest = build_records(data.root, tmp_path / "r", workers=0, progress=False,
                             format="coco", instances=True)
    assert manifest["options"]["instances"] is True
    spec = {
        "image/encoded": tf.io.FixedLenFeature((), tf.string),
        "image/height": tf.io.FixedLenFeature((), tf.int64),
        "image/width": tf.io.FixedLenFeature((), tf.int64),
        "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
        "image/object/class/label": tf.io.VarLenFeature(tf.int64),
        "image/object/area": tf.io.VarLenFeature(tf.float32),
        "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
        "image/object/mask": tf.io.VarLenFeature(tf.string),
    }
    coco = json.loads((data.root / "annotations" / "instances_train2017.json").read_text())
    by_file = {i["file_name"].rsplit(".", 1)[0]: i for i in coco["images"]}
    cats = sorted(c["id"] for c in coco["categories"])
    checked = 0
    for shard in manifest["splits"]["train"]["shards"]:
        for raw in tf.data.TFRecordDataset(str(tmp_path / "r" / shard["file"])):
            parsed = tf.io.parse_single_example(raw, spec)
            dense = {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v
                     for k, v in parsed.items()}
            h, w = int(dense["image/height"]), int(dense["image/width"])
            masks = tf.map_fn(lambda m: tf.io.decode_png(m, channels=1)[..., 0],
                              dense["image/object/mask"], fn_output_signature=tf.uint8).numpy()
            name = tf.train.Example.FromString(raw.numpy()).features.feature[
                "image/source_id"].bytes_list.value[0].decode()
            anns = [a for a in coco["annotations"] if a["image_id"] == by_file[name]["id"]]
            if not anns:  # an image without annotations: every instance key is an empty list
                assert masks.size == 0 and dense["image/object/class/label"].shape == (0,)
                continue
            assert masks.shape == (len(anns), h, w) and set(np.unique(masks)) <= {0, 1}
            for k, ann in enumerate(anns):
                segm = ann["segmentation"]
                if isinstance(segm, dict) and isinstance(segm["counts"], str):  # compressed RLE
                    rle = {"size": segm["size"], "counts": segm["counts"].encode()}
                else:
                    rle = mask_utils.frPyObjects(segm, h, w)
                expected = mask_utils.decode(mask_utils.merge(rle) if isinstance(rle, list)
                                             else rle)
                np.testing.assert_array_equal(masks[k], expected)
                assert int(dense["image/object/class/label"][k]) == cats.index(
                    ann["category_id"]) + 1
                assert int(dense["image/object/is_crowd"][k]) == ann["iscrowd"]
                x, y, bw, bh = ann["bbox"]
                np.testing.assert_allclose(
                    [float(dense[f"image/object/bbox/{c}"][k]) for c in
                     ("xmin", "ymin", "xmax", "ymax")],
                    [x / w, y / h, (x + bw) / w, (y + bh) / h], atol=1e-6)
            checked += 1
    assert checked >= 2


def test_a_labelled_masks_folder_with_coco_beside_it_detects_as_masks(tmp_path):
    """segkit's labelling writes masks/ + classes.json and annotations/instances.json: both
    layouts match; auto takes the masks (they carry the ignore band), --format coco the JSON."""
    from segdata import formats

    data = make_dataset(tmp_path / "d", "masks", num_images=4, seed=0)
    (data.root / "annotations").mkdir()
    (data.root / "annotations" / "instances.json").write_text(json.dumps(
        {"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}))
    assert formats.detect_format(data.root)[0] == "masks"


def test_segnet_camvid_with_absolute_list_paths(tmp_path):
    """CamVid as the SegNet tutorial ships it: class-id masks (11 = Unlabelled), and lists that
    name `/SegNet/CamVid/train/X.png` paths of another machine; the reader finds each file by
    the longest tail of its listed path, and the records hold SegNet's 11 classes."""
    from segdata.synthetic.segnet_camvid import CLASSES, write_segnet_camvid

    fields = write_segnet_camvid(tmp_path, num_images=9, image_size=(48, 64), seed=2,
                                 quirks=True)
    root = tmp_path / fields["root"]
    listed = (root / "train.txt").read_text().splitlines()[0].split()
    assert listed[0].startswith("/SegNet/CamVid/train/") and not (root / listed[0]).exists()
    manifest = build_records(root, tmp_path / "records", workers=0, progress=False)
    assert manifest["format"] == "camvid" and manifest["classes"] == list(CLASSES)
    records = _records(tmp_path / "records", manifest)
    assert set(records) == set(fields["truth"])
    for name, (_, feat) in records.items():
        np.testing.assert_array_equal(_mask(feat), fields["truth"][name], err_msg=name)
    skipped = {s["name"] for s in manifest["skipped"]}
    assert skipped == {n for n, o in fields["quirks"].items() if o.startswith("skipped")}
    thin = {"Pole", "Fence", "Bicyclist"}
    assert all(manifest["class_pixel_counts"][c] > 0 for c in thin)
