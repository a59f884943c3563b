"""Datumaro (the dataset framework inside CVAT) as the writer and the reader nobody here wrote.

Datasets are exported with Datumaro's own exporters (voc_segmentation with and without
colours and with sub-folder ids, coco_instances with masks and polygons, cityscapes with the
official and custom labels, camvid), converted with build_records, and every record's mask is
compared pixel for pixel with Datumaro's re-import of the same folder (class names matched,
not indices). Images are tiny (12 x 16) and few, so the module runs in seconds.

Label Studio's converter (label-studio-sdk) is not used: installing it would downgrade numpy
under TensorFlow, so it cannot sit in the dev extra.
"""

import io
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segdata.records.convert import build_records

dm = pytest.importorskip("datumaro")
from datumaro.components.media import Image as DmImage  # noqa: E402

H, W = 12, 16
CLOSE = {"cat": (250, 50, 83), "dog": (250, 50, 86)}  # colours CVAT users really get


def _masks(seed):
    """Two non-overlapping objects and the background: {name: bool [H, W]}."""
    rng = np.random.default_rng(seed)
    cat = np.zeros((H, W), bool)
    dog = np.zeros((H, W), bool)
    y, x = rng.integers(0, 3, 2)
    cat[1 + y:5 + y, 2 + x:8 + x] = True
    dog[7:11, 5 + x:14] = True
    return {"cat": cat, "dog": dog}


def _dataset(labels, n=3, sub=True, colours=None, instances=False, polygons=False):
    """A Datumaro dataset: `n` items (the last one in a sub-folder when `sub`), one Mask (or
    Polygon) per object (`polygons`: True, or the names drawn as polygons); `colours`
    {name: rgb} adds MaskCategories."""
    items = []
    for i in range(n):
        rng = np.random.default_rng(100 + i)
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        anns = []
        for k, (name, mask) in enumerate(_masks(i).items()):
            if name not in labels:
                continue
            if polygons is True or (polygons and name in polygons):
                ys, xs = np.nonzero(mask)
                x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                anns.append(dm.Polygon([x0, y0, x1, y0, x1, y1, x0, y1],
                                       label=labels.index(name), id=k + 1, group=k + 1))
            else:
                anns.append(dm.Mask(image=mask.astype(np.uint8), label=labels.index(name),
                                    id=k + 1 if instances else 0, group=k + 1 if instances else 0))
        item_id = f"batch_a/img_{i:02d}" if sub and i == n - 1 else f"img_{i:02d}"
        items.append(dm.DatasetItem(id=item_id, subset="train",
                                    media=DmImage.from_numpy(image), annotations=anns))
    cats = {dm.AnnotationType.label: dm.LabelCategories.from_iterable(labels)}
    if colours:
        cats[dm.AnnotationType.mask] = dm.MaskCategories(
            {i: tuple(colours[name]) for i, name in enumerate(labels)})
    return dm.Dataset.from_iterable(items, categories=cats)


def _build(src, out, **kw):
    """build_records -> (manifest, {source id: uint8 [H, W] train ids})."""
    manifest = build_records(src, out, workers=1, progress=False, **kw)
    found = {}
    for info in manifest["splits"].values():
        for shard in info["shards"]:
            assert shard["file"].startswith(f"{manifest['prefix']}-")
            for raw in tf.data.TFRecordDataset(str(out / shard["file"])):
                feat = tf.train.Example.FromString(raw.numpy()).features.feature
                data = feat["image/segmentation/class/encoded"].bytes_list.value[0]
                found[feat["image/source_id"].bytes_list.value[0].decode()] = np.asarray(
                    Image.open(io.BytesIO(data)))
    return manifest, found


def _reimport(path, fmt, classes):
    """Datumaro's view of `path`: {item id: uint8 [H, W] of segkit train ids (by class name),
    255 where Datumaro paints a label that is not one of `classes` (void, ignore)}."""
    ds = dm.Dataset.import_from(str(path), fmt)
    names = [c.name for c in ds.categories()[dm.AnnotationType.label]]
    views = {}
    for item in ds:
        out = np.zeros((H, W), np.uint8)
        masks = [a for a in item.annotations if isinstance(a, (dm.Mask, dm.Polygon))]
        for ann in sorted(masks, key=lambda a: a.z_order):
            pixels = (ann.image.astype(bool) if isinstance(ann, dm.Mask)
                      else ann.as_mask(H, W).astype(bool) if hasattr(ann, "as_mask")
                      else _polygon(ann.points))
            name = names[ann.label]
            out[pixels] = classes.index(name) if name in classes else 255
        views[item.id] = out
    return views


def _polygon(points):
    from pycocotools import mask as mask_utils

    rle = mask_utils.frPyObjects([list(points)], H, W)
    return mask_utils.decode(mask_utils.merge(rle)).astype(bool)


def _same(found, views):
    """Every Datumaro item is one record with the same pixels (ids keyed by sample name)."""
    assert sorted(found) == sorted(views), (sorted(found), sorted(views))
    for name, mask in views.items():
        np.testing.assert_array_equal(found[name], mask, err_msg=name)


# -- COCO --------------------------------------------------------------------------------

def test_coco_masks_exported_as_crowd_rle_are_objects(tmp_path):
    """Datumaro writes every mask as RLE with iscrowd 1 (as CVAT does): --crowd auto reads
    them as objects, and the manifest says so; --crowd ignore paints them 255 and counts it."""
    src = tmp_path / "coco"
    _dataset(["cat", "dog"]).export(str(src), "coco_instances", save_media=True)
    data = json.loads((src / "annotations" / "instances_train.json").read_text())
    assert data["annotations"] and all(a["iscrowd"] == 1 for a in data["annotations"])
    manifest, found = _build(src, tmp_path / "rec")
    classes = manifest["classes"]
    assert classes == ["background", "cat", "dog"] and manifest["prefix"] == "coco"
    views = _reimport(src, "coco_instances", classes)
    _same(found, {k.rsplit("/", 1)[-1]: v for k, v in views.items()})
    crowd = manifest["ignore"]["crowd"]
    assert crowd["annotations"] == 0 and crowd["pixels"] == 0 and manifest["ignore"]["pixels"] == 0
    assert crowd["files"]["annotations/instances_train.json"]["as"] == "objects"
    assert any("read as objects" in w for w in manifest["warnings"])

    # Model Garden's instance keys: objects read from crowd RLE are no crowds there either.
    out = tmp_path / "rec_instances"
    manifest = build_records(src, out, workers=1, progress=False, instances=True)
    for shard in manifest["splits"]["train"]["shards"]:
        for raw in tf.data.TFRecordDataset(str(out / shard["file"])):
            feat = tf.train.Example.FromString(raw.numpy()).features.feature
            assert feat["image/object/is_crowd"].int64_list.value
            assert set(feat["image/object/is_crowd"].int64_list.value) == {0}

    manifest, found = _build(src, tmp_path / "rec_ignore", crowd="ignore")
    objects = sum(int(v.astype(bool).sum()) for v in views.values())
    assert manifest["ignore"]["crowd"]["annotations"] == len(data["annotations"])
    assert manifest["ignore"]["crowd"]["pixels"] == objects == manifest["ignore"]["pixels"]
    assert any("painted as ignore" in w for w in manifest["warnings"])
    assert all(set(np.unique(m)) <= {0, 255} for m in found.values())


def test_coco_crowd_auto_keeps_real_crowds(tmp_path):
    """A file mixing objects and crowds, or crowds lying over objects of their category, keeps
    COCO's meaning; a small object of another category inside a big one is no crowd."""
    from segdata.formats import coco_crowd

    rle = {"size": [H, W], "counts": [0, H * W]}
    inner = np.zeros((H, W), np.uint8)
    inner[2:5, 2:5] = 1
    from pycocotools import mask as mask_utils

    small = mask_utils.encode(np.asfortranarray(inner))
    small["counts"] = small["counts"].decode()
    images = {1: {"height": H, "width": W, "file_name": "a.jpg"}}
    def crowd(segm, cat=1):
        return {"iscrowd": 1, "segmentation": segm, "category_id": cat}

    assert coco_crowd.decide("auto", {1: [crowd(rle), crowd(small)]}, images)[0] == "ignore"
    assert coco_crowd.decide("auto", {1: [crowd(rle), crowd(small, 2)]}, images)[0] == "objects"
    assert coco_crowd.decide("auto", {1: [crowd(small)]}, images)[0] == "objects"
    mixed = {1: [crowd(small), {"iscrowd": 0, "segmentation": [[0, 0, 5, 0, 5, 5]],
                                "category_id": 1}]}
    assert coco_crowd.decide("auto", mixed, images)[0] == "ignore"
    assert coco_crowd.decide("objects", mixed, images)[0] == "objects"
    with pytest.raises(ValueError, match="--crowd"):
        coco_crowd.decide("maybe", mixed, images)


def test_coco_polygons_and_masks_in_one_file_are_all_objects(tmp_path):
    """A CVAT task with polygons and brush masks exports both into one file (iscrowd 0 and 1):
    the header Datumaro writes says its crowds are RLE-stored objects, as Datumaro reads them."""
    from segdata.formats import coco_crowd

    src = tmp_path / "coco"
    _dataset(["cat", "dog"], polygons={"cat"}).export(str(src), "coco_instances", save_media=True)
    data = json.loads((src / "annotations" / "instances_train.json").read_text())
    assert {a["iscrowd"] for a in data["annotations"]} == {0, 1}
    assert coco_crowd.written_by_datumaro(data)
    manifest, found = _build(src, tmp_path / "rec")
    assert manifest["ignore"]["crowd"]["annotations"] == 0
    views = _reimport(src, "coco_instances", manifest["classes"])
    _same(found, {k.rsplit("/", 1)[-1]: v for k, v in views.items()})
    assert all(set(np.unique(m)) == {0, 1, 2} for m in found.values())
    # COCO's own header is not Datumaro's: there a mixed file keeps COCO's meaning.
    coco_header = {"info": {"description": "COCO 2017 Dataset", "url": "http://cocodataset.org",
                            "version": "1.0", "year": 2017, "contributor": "COCO Consortium",
                            "date_created": "2017/09/01"},
                   "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/",
                                 "id": 1, "name": "Attribution-NonCommercial-ShareAlike License"}]}
    assert not coco_crowd.written_by_datumaro(coco_header)
    assert coco_crowd.decide("auto", {1: [{"iscrowd": 1, "segmentation": {}},
                                          {"iscrowd": 0, "segmentation": []}]},
                             {1: {}}, coco_header)[0] == "ignore"


@pytest.mark.parametrize("labels", [["cat", "dog"], ["background", "cat", "dog"]])
def test_coco_polygons(tmp_path, labels):
    """Polygons; a "background" category (VOC-style label lists) is train id 0, not a class."""
    src = tmp_path / "coco"
    _dataset(labels, polygons=True).export(str(src), "coco_instances", save_media=True)
    manifest, found = _build(src, tmp_path / "rec")
    assert manifest["classes"] == ["background", "cat", "dog"]
    views = _reimport(src, "coco_instances", manifest["classes"])
    _same(found, {k.rsplit("/", 1)[-1]: v for k, v in views.items()})


# -- VOC / CVAT "Segmentation mask 1.1" --------------------------------------------------

@pytest.mark.parametrize("colours", [CLOSE, None], ids=["close-colours", "no-colours"])
def test_voc_segmentation_with_subfolder_ids(tmp_path, colours):
    """Close colours stay two classes; `background:::` lines fall back to the VOC colour map
    (named in the warnings); ids in sub-folders (batch_a/img_02) are read."""
    labels = ["background", "cat", "dog"]
    src = tmp_path / "voc"
    full = {"background": (0, 0, 0), **colours} if colours else None
    _dataset(labels, colours=full).export(str(src), "voc_segmentation", save_media=True)
    assert (src / "JPEGImages" / "batch_a").is_dir()
    manifest, found = _build(src, tmp_path / "rec")
    assert manifest["classes"] == labels and manifest["prefix"] == "voc"
    assert not manifest["skipped"], manifest["skipped"]
    assert "batch_a/img_02" in found
    _same(found, _reimport(src, "voc_segmentation", labels))
    assert any("VOC colour map" in w for w in manifest["warnings"]) == (colours is None)


def test_labelmap_ignore_line_and_voc_rgb_masks(tmp_path):
    """`ignored:224,224,192` is the ignore value, not a class; a plain VOC mask re-saved as
    RGB in the VOC colours reads like the palette PNG; an unknown colour is named."""
    from segdata.formats import base, voc
    from segdata.records import encode

    root = tmp_path / "cvat"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
                                       "cat:250,50,83::\ndog:250,50,86::\nignored:224,224,192::\n")
    ids = np.zeros((H, W), np.uint8)
    ids[2:5, 2:6], ids[6:9, 3:12], ids[10:, :] = 1, 2, 255
    colours = {0: (0, 0, 0), 1: CLOSE["cat"], 2: CLOSE["dog"], 255: (224, 224, 192)}
    rgb = np.zeros((H, W, 3), np.uint8)
    for v, c in colours.items():
        rgb[ids == v] = c
    Image.fromarray(rgb).save(root / "SegmentationClass" / "a.png")
    Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(root / "JPEGImages" / "a.jpg")
    layout = voc.scan(root)
    assert layout.classes == ["background", "cat", "dog"]
    assert any("ignore value 255" in w for w in layout.warnings)
    result = encode.encode_sample(layout.samples["a"], layout.decoder)
    assert result.skipped is None and dict(result.stats)["ignore_pixels"] == int((ids == 255).sum())
    rgb[0, 0] = (250, 50, 84)
    Image.fromarray(rgb).save(root / "SegmentationClass" / "a.png")
    bad = encode.encode_sample(layout.samples["a"], layout.decoder)
    assert "(250, 50, 84)" in bad.skipped and "1 colour(s)" in bad.skipped

    palette = base.default_palette(256)
    voc_ids = np.zeros((H, W), np.uint8)
    voc_ids[1:4, 1:9], voc_ids[4, :] = 15, 255
    vrgb = np.array([palette[v] for v in voc_ids.reshape(-1)], np.uint8).reshape(H, W, 3)
    decoder = base.MaskDecoder(kind="values", num_classes=21,
                                   table=base.identity_table(21),
                                   colours=voc.voc_colours())
    buf = io.BytesIO()
    Image.fromarray(vrgb).save(buf, format="PNG")
    _, png, _, _ = encode.decode_mask(buf.getvalue(), decoder)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), voc_ids)


# -- Cityscapes ----------------------------------------------------------------------------

def test_cityscapes_official_labels(tmp_path):
    """Datumaro's official label table: labelIds become the 19 trainIds; void labels 255."""
    from datumaro.plugins.data_formats.cityscapes import CITYSCAPES_LABEL_MAP

    labels = list(CITYSCAPES_LABEL_MAP)
    src = tmp_path / "cityscapes"
    ds = _dataset(labels, sub=True)  # "cat"/"dog" are not official: no objects drawn
    rng = np.random.default_rng(5)
    items = []
    for item in ds:
        road = np.zeros((H, W), np.uint8)
        road[6:, :] = 1
        car = np.zeros((H, W), np.uint8)
        car[1:5, 2:9] = 1
        anns = [dm.Mask(image=road, label=labels.index("road")),
                dm.Mask(image=car, label=labels.index("car")),
                dm.Mask(image=1 - road - car, label=labels.index("static"))]
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        items.append(item.wrap(annotations=anns, media=DmImage.from_numpy(image)))
    dm.Dataset.from_iterable(items, categories=ds.categories()).export(
        str(src), "cityscapes", save_media=True)
    manifest, found = _build(src, tmp_path / "rec")
    assert len(manifest["classes"]) == 19 and manifest["prefix"] == "cityscapes"
    views = _reimport(src, "cityscapes", manifest["classes"])
    _same(found, {k.rsplit("/", 1)[-1]: v for k, v in views.items()})
    assert manifest["class_pixel_counts"]["car"] > 0 and manifest["class_pixel_counts"]["road"] > 0


def test_cityscapes_custom_labels(tmp_path):
    """label_colors.txt with labels of its own: they are the classes (not void), and the
    "never occurs" warning names the class no pixel has."""
    labels = ["background", "cat", "dog", "bird"]
    src = tmp_path / "cityscapes"
    colours = {"background": (0, 0, 0), **CLOSE, "bird": (10, 20, 30)}
    _dataset(labels, colours=colours).export(str(src), "cityscapes", save_media=True)
    assert (src / "label_colors.txt").is_file()
    manifest, found = _build(src, tmp_path / "rec")
    assert manifest["classes"] == labels
    views = _reimport(src, "cityscapes", labels)
    _same(found, {k.rsplit("/", 1)[-1]: v for k, v in views.items()})
    assert manifest["class_pixel_counts"]["cat"] > 0
    assert any("never occur" in w and "bird" in w for w in manifest["warnings"])
    assert any("custom labels" in w for w in manifest["warnings"])


def test_most_pixels_ignore_is_a_warning(tmp_path):
    """The old failure: custom labelIds read through the official table are all void. Without
    label_colors.txt the build warns that most labelled pixels became ignore."""
    labels = ["background", "cat", "dog"]
    src = tmp_path / "cityscapes"
    _dataset(labels, colours={"background": (0, 0, 0), **CLOSE}).export(
        str(src), "cityscapes", save_media=True)
    (src / "label_colors.txt").unlink()
    manifest, _ = _build(src, tmp_path / "rec")
    assert any("most labelled pixels became ignore" in w for w in manifest["warnings"])


# -- CamVid ---------------------------------------------------------------------------------

def test_camvid_datumaro_export_auto_detected(tmp_path):
    labels = ["background", "cat", "dog"]
    src = tmp_path / "camvid"
    _dataset(labels, colours={"background": (0, 0, 0), **CLOSE}).export(
        str(src), "camvid", save_media=True)
    assert (src / "train.txt").read_text().startswith("/train/")
    manifest, found = _build(src, tmp_path / "rec")
    assert manifest["format"] == "camvid" and manifest["classes"] == labels
    assert manifest["prefix"] == "camvid" and not manifest["skipped"]
    _same(found, _reimport(src, "camvid", labels))  # ids keep their folders


def test_camvid_segnet_class_ids_and_pair_list(tmp_path):
    """SegNet's layout: gray class-id masks, 11 = Unlabelled (ignore), a pair list whose
    pairs do not share a stem."""
    from segdata.formats import camvid

    root = tmp_path / "CamVid"
    for d in ("train", "trainannot"):
        (root / d).mkdir(parents=True)
    ids = np.zeros((H, W), np.uint8)
    ids[:4], ids[4:8, :5], ids[8:] = 3, 8, 11
    Image.fromarray(ids).save(root / "trainannot" / "seq01_label.png")
    Image.fromarray(np.full((H, W, 3), 70, np.uint8)).save(root / "train" / "seq01.png")
    (root / "train.txt").write_text("/SegNet/CamVid/x.png y.png\n")
    with pytest.raises(Exception, match="image mask|missing"):
        layout = camvid.scan(root)
        assert layout.missing
        raise ValueError(layout.missing[0]["reason"])
    (root / "train.txt").write_text("train/seq01.png trainannot/seq01_label.png\n")
    manifest, found = _build(root, tmp_path / "rec")
    assert manifest["classes"][3] == "Road" and manifest["classes"][8] == "Car"
    expected = np.where(ids == 11, 255, ids)
    np.testing.assert_array_equal(found["seq01"], expected)
    assert manifest["ignore"]["pixels"] == int((ids == 11).sum())


def test_auto_detection_names_every_layout(tmp_path):
    from segdata.formats import FORMATS, FormatError, detect_format

    (tmp_path / "stuff").mkdir()
    with pytest.raises(FormatError) as err:
        detect_format(tmp_path)
    assert "camvid" in FORMATS and all(f in str(err.value) for f in FORMATS)


# -- segkit's labelled folder, opened by Datumaro -------------------------------------------

def test_labelled_folder_opens_in_datumaro_and_both_readers_agree(tmp_path):
    """Overlapping objects: the COCO instances hold what the mask shows, so --format masks and
    --format coco give identical records; Datumaro's common_semantic_segmentation importer
    (through dataset_meta.json) and its coco_instances importer see the same pixels.

    Datumaro's COCO importer numbers categories from a dataset_meta.json beside annotations/
    (category k is label k - 1 there, background first): instances.json has "background" as
    category 1 and class k as k + 1, so the folder imports as COCO alike with the meta file
    and without it (a copy holding annotations/ and images/ only, as CVAT receives it)."""
    from segmodel.sam.labelling.classes import ClassList
    from segmodel.sam.labelling.masks_folder import MasksFolder

    out = tmp_path / "labelled"
    folder = MasksFolder(out, ClassList(("cat", "dog")), refresh_seconds=None)
    for i in range(2):
        photo = tmp_path / f"p{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (H, W, 3), np.uint8)).save(photo)
        big = np.zeros((H, W), bool)
        big[1:10, 1:12] = True
        small = np.zeros((H, W), bool)
        small[3 + i:7, 4:15] = True  # on top of `big`, partly outside it
        folder.write(f"p{i}.png", photo, [{"mask": big, "class": "dog"},
                                          {"mask": small, "class": "cat"}])
    folder.close()

    _, by_masks = _build(out, tmp_path / "rec_masks", format="masks", split="holdout", val_size=1)
    meta = json.loads((out / "dataset_meta.json").read_text())
    assert meta["labels"] == ["background", "cat", "dog"] and meta["ignore_label"] == 255
    m_coco, by_coco = _build(out, tmp_path / "rec_coco", format="coco")
    assert m_coco["ignore"]["crowd"]["annotations"] == 0
    assert sorted(by_masks) == sorted(by_coco) == ["p0", "p1"]
    for name in by_masks:
        np.testing.assert_array_equal(by_masks[name], by_coco[name], err_msg=name)
        assert {1, 2} <= set(np.unique(by_masks[name]))
    classes = ["background", "cat", "dog"]
    _same(by_masks, _reimport(out, "common_semantic_segmentation", classes))
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "background"), (2, "cat"),
                                                                (3, "dog")]
    upload = tmp_path / "coco_upload"
    for sub in ("annotations", "images"):
        shutil.copytree(out / sub, upload / sub)
    for where in (out, upload):  # the folder as it is (dataset_meta.json beside), the upload
        coco_view = _reimport(where / "annotations" / "instances.json", "coco_instances",
                              classes)
        _same(by_coco, {k.rsplit(".", 1)[0]: v for k, v in coco_view.items()})


def test_cli_crowd_and_name_flags(tmp_path, capsys):
    """`--crowd ignore --name NAME` on Datumaro's COCO export: shards carry the name, the
    summary counts what iscrowd sent to ignore and warns."""
    from segmodel.cli.build_records import main

    src = tmp_path / "coco"
    _dataset(["cat", "dog"], n=2, sub=False).export(str(src), "coco_instances", save_media=True)
    out = tmp_path / "rec"
    assert main(["--data-dir", str(src), "--output-dir", str(out), "--crowd", "ignore",
                 "--name", "pets_cvat", "--workers", "0", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "ignore pixels" in printed and "crowd annotation(s)" in printed
    assert "warning:" in printed and "--crowd objects" in printed
    shards = sorted(p.name for p in out.glob("*.tfrecord-*"))
    assert shards and all(p.startswith("pets_cvat-train.tfrecord-") for p in shards)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["crowd"] == "ignore" and manifest["prefix"] == "pets_cvat"


def test_masks_layout_pair_lists(tmp_path):
    """A masks folder whose mask names differ from the photos' (a.jpg, a_label.png) pairs them
    through `image mask` lines in splits/*.txt; nothing is reported missing."""
    from segdata.formats import masks

    root = tmp_path / "data"
    for d in ("images", "masks", "splits"):
        (root / d).mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps({"classes": ["background", "cat"]}))
    ids = np.zeros((H, W), np.uint8)
    ids[2:6, 3:9] = 1
    for stem in ("a", "b"):
        Image.fromarray(np.full((H, W, 3), 40, np.uint8)).save(root / "images" / f"{stem}.jpg")
        Image.fromarray(ids).save(root / "masks" / f"{stem}_label.png")
    (root / "splits" / "train.txt").write_text("images/a.jpg masks/a_label.png\n"
                                               "/images/b.jpg masks/b_label.png\n")
    layout = masks.scan(root)
    assert sorted(layout.samples) == ["a", "b"] and not layout.missing
    manifest, found = _build(root, tmp_path / "rec")
    assert manifest["prefix"] == "masks" and sorted(found) == ["a", "b"]
    np.testing.assert_array_equal(found["a"], ids)


def test_coco_mask_export_with_overlaps(tmp_path):
    """A CVAT-style mask export where a small object of another class sits on a big one (and
    one overlaps partly): still objects (not crowds), smaller on top, so the window stays
    visible. (Datumaro's own re-import reverses the file's annotation order, so its layering
    is no reference here; the pixels outside the overlaps are compared with it.)"""
    labels = ["car", "window", "person"]
    rng = np.random.default_rng(3)
    car = np.zeros((H, W), np.uint8)
    car[2:10, 1:14] = 1
    window = np.zeros((H, W), np.uint8)
    window[3:5, 3:7] = 1  # wholly inside the car
    person = np.zeros((H, W), np.uint8)
    person[6:12, 10:16] = 1  # partly over the car
    item = dm.DatasetItem(id="a", subset="train",
                          media=DmImage.from_numpy(rng.integers(0, 256, (H, W, 3), np.uint8)),
                          annotations=[dm.Mask(image=m, label=labels.index(n), id=i + 1)
                                       for i, (n, m) in enumerate((("car", car),
                                                                   ("window", window),
                                                                   ("person", person)))])
    src = tmp_path / "coco"
    dm.Dataset.from_iterable([item], categories=labels).export(str(src), "coco_instances",
                                                               save_media=True)
    manifest, found = _build(src, tmp_path / "rec")
    assert manifest["ignore"]["crowd"]["files"]["annotations/instances_train.json"]["as"] == \
        "objects"
    classes = manifest["classes"]
    expected = np.zeros((H, W), np.uint8)
    for name, mask in (("car", car), ("person", person), ("window", window)):  # by area
        expected[mask.astype(bool)] = classes.index(name)
    np.testing.assert_array_equal(found["a"], expected)
    view = _reimport(src, "coco_instances", classes)["a"]
    alone = (car + window + person) == 1
    np.testing.assert_array_equal(found["a"][alone], view[alone])
