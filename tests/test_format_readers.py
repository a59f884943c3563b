"""Dataset-layout readers (segdata.formats.voc, .cityscapes, .ade20k, .masks) on tiny folders.

Every folder is built here with the real layout's quirks (CRLF lists, trailing spaces, junk,
missing masks, files that are not masks). Decoders are checked by decoding the PNGs written
here with PIL and mapping them through the reader's table/colours with numpy, against train
ids typed from the datasets' documentation.
"""

import json

import numpy as np
import pytest
from PIL import Image

from segdata import formats
from segdata.formats import ade20k, cityscapes, masks, voc
from segdata.formats.base import IGNORE_LABEL, INVALID, FormatError, default_palette

H, W = 8, 10
RNG = np.random.default_rng(0)


def _touch(path, data=b""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _photo(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(path)
    return path


def _gray(path, values, dtype=np.uint8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype)).save(path)
    return path


def _ids(shape_values):
    """[H, W] int array cycling through `shape_values`."""
    return np.resize(np.asarray(shape_values), (H, W))


def _apply_table(path, table):
    values = np.asarray(Image.open(path)).astype(np.int64)
    return np.asarray(table)[values]


# --------------------------------------------------------------------------- VOC
def _voc(tmp_path, lists=None):
    root = tmp_path / "VOCdevkit" / "VOC2012"
    for name in ("2007_000032", "2007_000033", "2007_000042", "2008_000001"):
        _photo(root / "JPEGImages" / f"{name}.jpg")
    _touch(root / "JPEGImages" / ".DS_Store")
    _touch(root / "JPEGImages" / "Thumbs.db")
    pal = Image.new("P", (1, 1))
    pal.putpalette([c for rgb in default_palette(256) for c in rgb])
    for name in ("2007_000032", "2007_000033"):
        mask = Image.fromarray(_ids([0, 1, 15, 255]).astype(np.uint8), "P")
        mask.putpalette(pal.getpalette())
        (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        mask.save(root / "SegmentationClass" / f"{name}.png")
    _touch(root / "SegmentationClass" / "._2007_000032.png")
    _gray(root / "SegmentationObject" / "2007_000032.png", _ids([0, 1, 2]))
    lists = lists if lists is not None else {
        "train.txt": b"2007_000032\r\n",
        "val.txt": b"2007_000033  \r\n2007_000042\r\n",
        "trainval.txt": b"2007_000032\n2007_000033\n2007_000042\n"}
    for fname, data in lists.items():
        _touch(root / "ImageSets" / "Segmentation" / fname, data)
    return root


def test_voc_detect_accepts_vocdevkit_and_names_what_is_missing(tmp_path):
    root = _voc(tmp_path)
    for given in (root, root.parent):
        found = voc.detect(given)
        assert found.matched and found.score == 3 and found.root == str(root)
    empty = voc.detect(tmp_path / "nothing")
    assert not empty.matched and empty.score == 0
    assert "JPEGImages/" in empty.missing and "SegmentationClass/" in empty.missing
    assert formats.detect_format(root.parent)[0] == "voc"


def test_voc_scan(tmp_path):
    root = _voc(tmp_path)
    layout = voc.scan(root.parent)
    assert layout.root == str(root) and layout.format == "voc"
    assert layout.classes[:3] == ["background", "aeroplane", "bicycle"]
    assert layout.classes[15] == "person" and layout.classes[20] == "tvmonitor"
    assert layout.num_classes == 21
    # The VOC colour map (VOCdevkit's VOClabelcolormap), typed from the devkit documentation.
    assert layout.palette[0] == [0, 0, 0] and layout.palette[1] == [128, 0, 0]
    assert layout.palette[2] == [0, 128, 0] and layout.palette[12] == [64, 0, 128]
    assert layout.palette[15] == [192, 128, 128] and layout.palette[20] == [0, 64, 128]
    assert layout.splits == {"train": ["2007_000032"], "validation": ["2007_000033"]}
    assert sorted(layout.samples) == ["2007_000032", "2007_000033"]
    sample = layout.samples["2007_000032"]
    assert sample.filename == "2007_000032.jpg"
    assert sample.image_path == str(root / "JPEGImages" / "2007_000032.jpg")
    assert sample.mask_path == str(root / "SegmentationClass" / "2007_000032.png")
    assert layout.missing == [{"name": "2007_000042", "reason": (
        "listed in ImageSets/Segmentation/val.txt but SegmentationClass/2007_000042.png is "
        "missing")}]
    assert layout.unlisted == ["2008_000001"]  # detection-only photo: counted, not a sample
    assert layout.ignored == ["JPEGImages/.DS_Store", "JPEGImages/Thumbs.db",
                              "SegmentationClass/._2007_000032.png"]
    assert layout.foreground_class is None
    assert layout.label_map == {str(i): i for i in range(21)}


def test_voc_decoder_reads_palette_indices(tmp_path):
    layout = voc.scan(_voc(tmp_path))
    assert layout.decoder.kind == "values"
    mask = layout.samples["2007_000032"].mask_path
    assert Image.open(mask).mode == "P"
    np.testing.assert_array_equal(_apply_table(mask, layout.decoder.table),
                                  _ids([0, 1, 15, IGNORE_LABEL]))
    table = np.asarray(layout.decoder.table)
    assert table[21] == INVALID and table[254] == INVALID and len(table) == 256


def test_voc_split_rules(tmp_path):
    only_trainval = voc.scan(_voc(tmp_path / "a", {"trainval.txt": b"2007_000032\n2007_000033\n"}))
    assert only_trainval.splits == {"train": ["2007_000032", "2007_000033"]}
    with_test = voc.scan(_voc(tmp_path / "b", {"train.txt": b"2007_000032\n",
                                               "test.txt": b"2008_000001\n"}))
    assert list(with_test.splits) == ["train", "test"] and with_test.splits["test"] == []
    assert with_test.missing[0]["reason"] == ("listed in ImageSets/Segmentation/test.txt but "
                                              "SegmentationClass/2008_000001.png is missing")


def test_voc_not_a_voc_folder(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(FormatError, match=r"stuff is not a PASCAL VOC folder.*JPEGImages/"):
        voc.scan(tmp_path / "stuff")


# --------------------------------------------------------------------------- CVAT
LABELMAP = (b"# label:color_rgb:parts:actions\r\nbackground:0,0,0::\r\ncar:250,50,83::\n"
            b"tree:51,221,51::\n")


def _cvat(tmp_path, labelmap=LABELMAP):
    root = tmp_path / "cvat"
    _touch(root / "labelmap.txt", labelmap)
    _photo(root / "JPEGImages" / "frame_000000.png")
    _photo(root / "JPEGImages" / "frame_000001.jpg")
    _photo(root / "JPEGImages" / "frame_000002.jpg")
    colours = np.array([[0, 0, 0], [250, 50, 83], [51, 221, 51]], np.uint8)
    for name in ("frame_000000", "frame_000001"):
        (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        Image.fromarray(colours[_ids([0, 1, 2, 1])]).save(root / "SegmentationClass" / f"{name}.png")
    _touch(root / "SegmentationObject" / "frame_000000.png")
    _touch(root / "ImageSets" / "Segmentation" / "default.txt",
           b"frame_000000\r\nframe_000001 \r\nframe_000002\r\n")
    return root


def test_cvat_scan_and_colour_decoder(tmp_path):
    root = _cvat(tmp_path)
    found = voc.detect(root)
    assert found.matched and found.score == 4
    layout = voc.scan(root)
    assert layout.classes == ["background", "car", "tree"]
    assert layout.palette == [[0, 0, 0], [250, 50, 83], [51, 221, 51]]
    assert layout.decoder.kind == "colour" and layout.decoder.num_classes == 3
    assert layout.decoder.colours == ((0, 0, 0, 0), (250, 50, 83, 1), (51, 221, 51, 2))
    assert layout.splits == {"train": ["frame_000000", "frame_000001"]}
    assert layout.samples["frame_000000"].filename == "frame_000000.png"
    assert layout.missing[0]["name"] == "frame_000002"
    assert "SegmentationClass/frame_000002.png is missing" in layout.missing[0]["reason"]
    lookup = {(r, g, b): t for r, g, b, t in layout.decoder.colours}
    rgb = np.asarray(Image.open(layout.samples["frame_000001"].mask_path).convert("RGB"))
    ids = np.array([[lookup[tuple(int(v) for v in px)] for px in row] for row in rgb])
    np.testing.assert_array_equal(ids, _ids([0, 1, 2, 1]))


@pytest.mark.parametrize("line, lineno", [(b"car:250,50::", 3), (b"car:250,50,300::", 3),
                                          (b"background:1,2,3::", 3), (b"car:0,0,0::", 3),
                                          (b":1,2,3::", 3)])
def test_cvat_bad_labelmap_names_file_and_line(tmp_path, line, lineno):
    root = _cvat(tmp_path, b"# label:color_rgb:parts:actions\nbackground:0,0,0::\n" + line + b"\n")
    with pytest.raises(FormatError, match=rf"labelmap\.txt:{lineno}:"):
        voc.scan(root)


def test_cvat_two_photos_one_stem(tmp_path):
    root = _cvat(tmp_path)
    _photo(root / "JPEGImages" / "frame_000000.jpg")
    with pytest.raises(FormatError, match=r"frame_000000\.jpg and JPEGImages/frame_000000\.png"):
        voc.scan(root)


# --------------------------------------------------------------------------- Cityscapes
# labelId -> trainId typed from the Cityscapes documentation (cityscapesScripts labels.py).
CITYSCAPES_IDS = {0: 255, 1: 255, 7: 0, 8: 1, 9: 255, 23: 10, 24: 11, 26: 13, 33: 18, 34: 255,
                  255: 255}


def _cityscapes(tmp_path):
    root = tmp_path / "cityscapes"
    values = _ids(list(CITYSCAPES_IDS))
    for split, city, name, has_mask in (("train", "aachen", "aachen_000000_000019", True),
                                        ("train", "aachen", "aachen_000001_000019", False),
                                        ("val", "frankfurt", "frankfurt_000000_000294", True)):
        _photo(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png")
        gt = root / "gtFine" / split / city
        if has_mask:
            _gray(gt / f"{name}_gtFine_labelIds.png", values)
            _gray(gt / f"{name}_gtFine_instanceIds.png", values.astype(np.uint16) * 1000,
                  np.uint16)
            _gray(gt / f"{name}_gtFine_labelTrainIds.png", values)
        _photo(gt / f"{name}_gtFine_color.png")
        _touch(gt / f"{name}_gtFine_polygons.json", b'{"objects": []}')
    _touch(root / "gtFine" / "train" / "aachen" / ".DS_Store")
    return root


def test_cityscapes_scan(tmp_path):
    root = _cityscapes(tmp_path)
    found = cityscapes.detect(root)
    assert found.matched and found.score == 2
    assert formats.detect_format(root)[0] == "cityscapes"
    layout = cityscapes.scan(root)
    assert layout.num_classes == 19
    assert layout.classes[:3] == ["road", "sidewalk", "building"]
    assert layout.classes[13] == "car" and layout.classes[18] == "bicycle"
    assert layout.palette[0] == [128, 64, 128] and layout.palette[13] == [0, 0, 142]
    assert layout.splits == {"train": ["aachen_000000_000019"],
                             "validation": ["frankfurt_000000_000294"]}
    sample = layout.samples["aachen_000000_000019"]
    assert sample.filename == "aachen_000000_000019_leftImg8bit.png"
    assert sample.mask_path.endswith("gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png")
    assert layout.missing == [{"name": "aachen_000001_000019", "reason": (
        "leftImg8bit/train/aachen/aachen_000001_000019_leftImg8bit.png has no mask "
        "gtFine/train/aachen/aachen_000001_000019_gtFine_labelIds.png")}]
    assert layout.ignored == ["gtFine/train/aachen/.DS_Store"]  # _color, _polygons: not reported


def test_cityscapes_decoder_official_train_ids(tmp_path):
    layout = cityscapes.scan(_cityscapes(tmp_path))
    table = layout.decoder.table
    assert len(table) == 256 and INVALID not in table
    assert sorted(set(table) - {IGNORE_LABEL}) == list(range(19))
    mask = layout.samples["frankfurt_000000_000294"].mask_path
    expected = np.vectorize(CITYSCAPES_IDS.get)(_ids(list(CITYSCAPES_IDS)))
    np.testing.assert_array_equal(_apply_table(mask, table), expected)
    assert all(table[v] == IGNORE_LABEL for v in range(34, 256))


def test_cityscapes_needs_gtfine(tmp_path):
    root = tmp_path / "cs"
    _photo(root / "leftImg8bit" / "train" / "aachen" / "aachen_000000_000019_leftImg8bit.png")
    found = cityscapes.detect(root)
    assert not found.matched and found.missing == "gtFine/"
    with pytest.raises(FormatError, match=r"cs is not a Cityscapes folder: it lacks gtFine/"):
        cityscapes.scan(root)


# --------------------------------------------------------------------------- ADE20K
OBJECT_INFO = ("Idx,Ratio,Train,Val,Name\r\n1,0.1576,11664,1172,wall\r\n"
               "2,0.1072,6046,612,building;edifice\r\n3,0.0878,8265,796,sky\r\n"
               "9,0.0198,4688,460,windowpane;window\r\n"
               "59,0.0015,139,18,screen;door;screen\r\n"
               "131,0.0004,108,13,screen;silver;screen;projection;screen\r\n")


def _ade(tmp_path, object_info=None):
    root = tmp_path / "ade" / "ADEChallengeData2016"
    for folder, name, has_mask in (("training", "ADE_train_00000001", True),
                                   ("training", "ADE_train_00000002", False),
                                   ("validation", "ADE_val_00000001", True)):
        _photo(root / "images" / folder / f"{name}.jpg")
        if has_mask:
            _gray(root / "annotations" / folder / f"{name}.png", _ids([0, 1, 150, 151]))
    _touch(root / "images" / "training" / ".DS_Store")
    _touch(root / "sceneCategories.txt", b"ADE_train_00000001 airport_terminal\n")
    if object_info is not None:
        text = object_info + "".join(f"{i},0.0001,1,1,thing{i};other\n" for i in range(1, 151)
                                     if f"\n{i}," not in object_info)
        _touch(root / "objectInfo150.csv", text.encode())
    return root


def test_ade20k_scan_without_object_info(tmp_path):
    root = _ade(tmp_path)
    for given in (root, root.parent):
        found = ade20k.detect(given)
        assert found.matched and found.root == str(root)
    assert formats.detect_format(root.parent)[0] == "ade20k"
    layout = ade20k.scan(root.parent)
    assert layout.root == str(root)
    assert layout.classes[0] == "class_1" and layout.classes[149] == "class_150"
    assert layout.palette == default_palette(150)
    assert layout.splits == {"train": ["ADE_train_00000001"], "validation": ["ADE_val_00000001"]}
    assert layout.missing == [{"name": "ADE_train_00000002", "reason": (
        "images/training/ADE_train_00000002.jpg has no mask "
        "annotations/training/ADE_train_00000002.png")}]
    assert layout.ignored == ["images/training/.DS_Store"]  # sceneCategories.txt: not junk
    assert layout.samples["ADE_val_00000001"].filename == "ADE_val_00000001.jpg"
    # 0 "other" -> ignore, 1..150 -> 0..149, anything else invalid
    got = _apply_table(layout.samples["ADE_train_00000001"].mask_path, layout.decoder.table)
    np.testing.assert_array_equal(got, _ids([IGNORE_LABEL, 0, 149, INVALID]))


def test_ade20k_class_names_from_object_info(tmp_path):
    layout = ade20k.scan(_ade(tmp_path, OBJECT_INFO))
    assert layout.classes[:3] == ["wall", "building", "sky"]
    assert layout.classes[8] == "windowpane" and layout.classes[3] == "thing4"
    assert layout.classes[58] == "screen" and layout.classes[130] == "screen_131"  # unique
    assert len(set(layout.classes)) == 150


def test_ade20k_object_info_tab_variant_and_errors(tmp_path):
    tab = tmp_path / "objectInfo150.txt"
    tab.write_text("Idx\tRatio\tTrain\tVal\tName\n1\t0.1\t1\t1\twall\n"
                   "2\t0.1\t1\t1\twindowpane, window\n")
    assert ade20k.parse_object_info(tab, num_classes=2) == ["wall", "windowpane"]
    bad = tmp_path / "bad.csv"
    bad.write_text("Idx,Ratio,Train,Val,Name\n1,0.1,1,1,wall\nx,0.1,1,1,sky\n")
    with pytest.raises(FormatError, match=r"bad\.csv:3:"):
        ade20k.parse_object_info(bad, num_classes=2)
    short = tmp_path / "short.csv"
    short.write_text("Idx,Ratio,Train,Val,Name\n1,0.1,1,1,wall\n")
    with pytest.raises(FormatError, match=r"no row for Idx 2"):
        ade20k.parse_object_info(short, num_classes=2)


# --------------------------------------------------------------------------- masks
def _masks(tmp_path, spec=None, splits=None):
    root = tmp_path / "plain"
    _photo(root / "images" / "a.jpg")
    _photo(root / "images" / "b.png")
    _photo(root / "images" / "c.jpeg")  # no mask
    _touch(root / "images" / "desktop.ini")
    _gray(root / "masks" / "a.png", _ids([0, 1, 2, 255]))
    _gray(root / "masks" / "b.png", _ids([2, 255, 1]))
    _gray(root / "masks" / "d.png", _ids([0]))  # no photo
    spec = spec if spec is not None else {"classes": ["background", "cat", "dog"],
                                          "ignore_label": 255}
    _touch(root / "classes.json", json.dumps(spec).encode())
    for fname, data in (splits or {}).items():
        _touch(root / "splits" / fname, data)
    return root


def test_masks_scan_without_splits(tmp_path):
    root = _masks(tmp_path)
    found = masks.detect(root)
    assert found.matched and found.score == 3
    assert formats.detect_format(root)[0] == "masks"
    layout = masks.scan(root)
    assert layout.classes == ["background", "cat", "dog"]
    assert layout.palette == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    assert layout.splits == {} and layout.unlisted == []
    assert sorted(layout.samples) == ["a", "b"] and layout.samples["b"].filename == "b.png"
    assert layout.missing == [{"name": "c", "reason": "images/c.jpeg has no mask masks/c.png"},
                              {"name": "d", "reason": "masks/d.png has no photo in images/"}]
    assert layout.ignored == ["images/desktop.ini"]
    assert layout.foreground_class is None
    got = _apply_table(layout.samples["a"].mask_path, layout.decoder.table)
    np.testing.assert_array_equal(got, _ids([0, 1, 2, IGNORE_LABEL]))
    assert layout.decoder.table[3] == INVALID


def test_masks_splits_and_foreground(tmp_path):
    spec = {"classes": ["background", "foreground"], "palette": [[0, 0, 0], [255, 255, 255]]}
    layout = masks.scan(_masks(tmp_path, spec, {"train.txt": b"a\r\n", "val.txt": b"b  \r\nz\r\n"}))
    assert layout.splits == {"train": ["a"], "validation": ["b"]}
    assert layout.unlisted == []
    assert {"name": "z", "reason": "listed in splits/val.txt but neither images/z.jpg (.jpeg, "
            ".png) nor masks/z.png exists"} in layout.missing
    assert layout.foreground_class == 1 and layout.palette[1] == [255, 255, 255]


def test_masks_16_bit_ignore_label(tmp_path):
    root = _masks(tmp_path, {"classes": ["background", "road"], "ignore_label": 65535})
    _gray(root / "masks" / "a.png", _ids([0, 1, 65535, 2]).astype(np.uint16), np.uint16)
    layout = masks.scan(root)
    assert len(layout.decoder.table) == 65536
    got = _apply_table(layout.samples["a"].mask_path, layout.decoder.table)
    np.testing.assert_array_equal(got, _ids([0, 1, IGNORE_LABEL, INVALID]))
    assert layout.decoder.table[255] == INVALID  # 255 is a plain (unknown) value here


@pytest.mark.parametrize("spec, key", [
    ({"classes": "background"}, '"classes"'),
    ({"classes": ["a", "a"]}, '"classes"'),
    ({"classes": ["a", ""]}, '"classes"'),
    ({"classes": [f"c{i}" for i in range(256)]}, '"classes"'),
    ({"classes": ["a", "b"], "ignore_label": 1}, '"ignore_label"'),
    ({"classes": ["a", "b"], "ignore_label": 70000}, '"ignore_label"'),
    ({"classes": ["a", "b"], "palette": [[0, 0, 0]]}, '"palette"'),
    ({"classes": ["a", "b"], "palette": [[0, 0, 0], [0, 0, 256]]}, '"palette"'),
    ({"classes": ["a", "b"], "colours": []}, "'colours'"),
])
def test_masks_classes_json_is_strict(tmp_path, spec, key):
    with pytest.raises(FormatError, match=rf"classes\.json: .*{key}"):
        masks.scan(_masks(tmp_path, spec))


def test_masks_two_photos_one_stem(tmp_path):
    root = _masks(tmp_path)
    _photo(root / "images" / "a.png")
    with pytest.raises(FormatError, match=r"images/a\.jpg and images/a\.png"):
        masks.scan(root)


# --------------------------------------------------------------------------- all readers
def test_scan_lists_files_without_decoding(tmp_path, monkeypatch):
    roots = [(voc, _voc(tmp_path / "v")), (voc, _cvat(tmp_path / "c")),
             (cityscapes, _cityscapes(tmp_path / "cs")), (ade20k, _ade(tmp_path / "a")),
             (masks, _masks(tmp_path / "m"))]

    def no_decoding(*args, **kwargs):
        raise AssertionError("scan must not open images")

    monkeypatch.setattr(Image, "open", no_decoding)
    for module, root in roots:
        layout = module.scan(root)
        assert layout.samples and len(set(layout.samples)) == len(layout.samples)
        assert list(layout.samples) == sorted(layout.samples)
        for names in layout.splits.values():
            assert all(n in layout.samples for n in names)


def test_samples_and_decoders_fit_the_shared_encoder(tmp_path):
    from segdata.records.encode import encode_sample

    cases = [(voc.scan(_voc(tmp_path / "v")), "2007_000032", None),
             (voc.scan(_cvat(tmp_path / "c")), "frame_000001", None),
             (cityscapes.scan(_cityscapes(tmp_path / "cs")), "aachen_000000_000019", None),
             (ade20k.scan(_ade(tmp_path / "a")), "ADE_train_00000001", "151"),
             (masks.scan(_masks(tmp_path / "m")), "a", None)]
    for layout, name, bad_value in cases:
        result = encode_sample(layout.samples[name], layout.decoder)
        if bad_value is None:
            assert result.skipped is None and result.example, (layout.format, result.skipped)
            assert len(result.class_pixel_counts) == layout.num_classes
        else:  # ADE's 151 is no class: the encoder names it
            assert result.example is None and bad_value in result.skipped
