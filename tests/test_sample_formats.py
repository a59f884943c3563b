"""The layout generators (segdata.synthetic.datasets): files where each real layout puts them,
same bytes for a seed, truth equal to an independent decode of the files, several classes per
image, each planted quirk really in the files, and `segkit make-sample-data --format`."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from segdata.synthetic.datasets import FORMATS, make_dataset

SIZE = (64, 96)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """{(format, quirks): GeneratedDataset}, generated lazily once per module."""
    cache = {}

    def get(fmt, quirks=False):
        if (fmt, quirks) not in cache:
            out = tmp_path_factory.mktemp(fmt) / "data"
            cache[fmt, quirks] = make_dataset(out, fmt, num_images=12, image_size=SIZE, seed=3,
                                              quirks=quirks)
        return cache[fmt, quirks]
    return get


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _city(name):
    return name.split("_")[0]


def _cs_split(ds, name):
    return next(s for s, names in ds.splits.items() if name in names).replace("validation", "val")


# Where each layout keeps a sample's photo and its (main) mask, relative to ds.root.
PHOTO = {
    "voc": lambda ds, n: f"VOC2012/JPEGImages/{n}.jpg",
    "cvat": lambda ds, n: f"JPEGImages/{n}.jpg",
    "coco": lambda ds, n: f"{'train' if n in ds.splits['train'] else 'val'}2017/{n}.jpg",
    "cityscapes": lambda ds, n: f"leftImg8bit/{_cs_split(ds, n)}/{_city(n)}/{n}_leftImg8bit.png",
    "ade20k": lambda ds, n: f"images/{'training' if 'train' in n else 'validation'}/{n}.jpg",
    "masks": lambda ds, n: next(f"images/{n}{e}" for e in (".jpg", ".png")
                                if (ds.root / f"images/{n}{e}").exists()),
    "camvid": lambda ds, n: f"{_camvid_split(ds, n)}/{n}.jpg",
}
MASK = {
    "voc": lambda ds, n: f"VOC2012/SegmentationClass/{n}.png",
    "cvat": lambda ds, n: f"SegmentationClass/{n}.png",
    "cityscapes": lambda ds, n: f"gtFine/{_cs_split(ds, n)}/{_city(n)}/{n}_gtFine_labelIds.png",
    "ade20k": lambda ds, n: f"annotations/{'training' if 'train' in n else 'validation'}/{n}.png",
    "masks": lambda ds, n: f"masks/{n}.png",
    "camvid": lambda ds, n: _camvid_pairs(ds)[n],
}
FIXED_FILES = {
    "voc": ["VOC2012/ImageSets/Segmentation/train.txt", "VOC2012/ImageSets/Segmentation/val.txt",
            "VOC2012/ImageSets/Segmentation/trainval.txt"],
    "cvat": ["labelmap.txt", "ImageSets/Segmentation/default.txt"],
    "coco": ["annotations/instances_train2017.json", "annotations/instances_val2017.json",
             "annotations/captions_train2017.json"],
    "cityscapes": [],
    "ade20k": ["objectInfo150.csv", "sceneCategories.txt"],
    "masks": ["classes.json", "splits/train.txt", "splits/val.txt"],
    "camvid": ["label_colors.txt", "train.txt", "val.txt"],
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_where_the_layout_puts_them(made, fmt):
    ds = made(fmt)
    assert ds.format == fmt and ds.quirks == {}
    for rel in FIXED_FILES[fmt]:
        assert (ds.root / rel).is_file(), rel
    listed = [n for names in ds.splits.values() for n in names]
    assert sorted(listed) == sorted(ds.truth) and len(listed) == 12
    assert {"train"} <= set(ds.splits) <= {"train", "validation", "test"}
    for name, truth in ds.truth.items():
        assert truth.dtype == np.uint8 and truth.shape == SIZE
        photo = Image.open(ds.root / PHOTO[fmt](ds, name))
        assert photo.mode == "RGB" and photo.size == SIZE[::-1]
        if fmt in MASK:
            assert Image.open(ds.root / MASK[fmt](ds, name)).size == SIZE[::-1]
    if fmt == "cityscapes":
        for name in ds.truth:
            stem = ds.root / MASK[fmt](ds, name).replace("_labelIds.png", "")
            for suffix in ("_color.png", "_instanceIds.png", "_polygons.json"):
                assert stem.with_name(stem.name + suffix).is_file()
        assert {_city(n) for n in ds.splits["train"]} == {"aachen", "bochum"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_bytes(tmp_path, fmt):
    a = make_dataset(tmp_path / "a", fmt, num_images=10, image_size=SIZE, seed=5, quirks=True)
    b = make_dataset(tmp_path / "b", fmt, num_images=10, image_size=SIZE, seed=5, quirks=True)
    c = make_dataset(tmp_path / "c", fmt, num_images=10, image_size=SIZE, seed=6, quirks=True)
    assert _tree(a.root) == _tree(b.root) and a.quirks == b.quirks
    assert _tree(a.root) != _tree(c.root)
    assert all(np.array_equal(a.truth[n], b.truth[n]) for n in a.truth)


def _camvid_split(ds, name):
    return "train" if name in ds.splits["train"] else "val"


def _camvid_pairs(ds):
    """{photo stem: mask path} from the `image mask` lines of train.txt and val.txt."""
    pairs = {}
    for split in ("train", "val"):
        for line in (ds.root / f"{split}.txt").read_text().splitlines():
            photo, mask = line.split()
            pairs[pathlib.PurePath(photo).stem] = mask
    return pairs


def _decode(ds, name):
    """Train ids from the files, by each layout's documented rule (not the generator's code)."""
    fmt, path = ds.format, ds.root / MASK.get(ds.format, lambda *_: "")(ds, name)
    if fmt == "voc":
        img = Image.open(path)
        assert img.mode == "P"
        pal = img.getpalette()
        # The VOC colour map: aeroplane dark red, person (15) pink, the 255 band cream.
        assert pal[3:6] == [128, 0, 0] and pal[45:48] == [192, 128, 128]
        assert pal[765:768] == [224, 224, 192]
        return np.asarray(img)
    if fmt == "cvat":
        lines = (ds.root / "labelmap.txt").read_text().splitlines()
        assert lines[0] == "# label:color_rgb:parts:actions"
        colours = {tuple(map(int, ln.split(":")[1].split(","))): i for i, ln in enumerate(lines[1:])}
        assert [ln.split(":")[0] for ln in lines[1:]] == list(ds.classes)
        rgb = np.asarray(Image.open(path).convert("RGB"))
        out = np.full(rgb.shape[:2], 254, np.uint8)
        for colour, index in colours.items():
            out[(rgb == colour).all(-1)] = index
        return out
    if fmt == "cityscapes":
        # The official labelId -> trainId for the ids these scenes use (0, 1, 4: void).
        official = {0: 255, 1: 255, 4: 255, 7: 0, 8: 1, 11: 2, 21: 8, 23: 10, 24: 11, 26: 13}
        ids = np.asarray(Image.open(path))
        assert set(np.unique(ids)) <= set(official)
        return np.vectorize(official.get)(ids).astype(np.uint8)
    if fmt == "ade20k":
        values = np.asarray(Image.open(path)).astype(np.int32)
        return np.where(values == 0, 255, values - 1).astype(np.uint8)
    if fmt == "camvid":
        # label_colors.txt: `r g b name`; the black Void line is ignore, the rest in order.
        lines = [ln.split() for ln in (ds.root / "label_colors.txt").read_text().splitlines()]
        assert lines[0] == ["0", "0", "0", "Void"] and [ln[3] for ln in lines[1:]] == \
            list(ds.classes)
        rgb = np.asarray(Image.open(path).convert("RGB"))
        out = np.full(rgb.shape[:2], 254, np.uint8)
        for index, ln in enumerate(lines):
            out[(rgb == tuple(map(int, ln[:3]))).all(-1)] = 255 if index == 0 else index - 1
        return out
    return np.asarray(Image.open(path))  # masks: train ids as stored


@pytest.mark.parametrize("fmt", ["voc", "cvat", "cityscapes", "ade20k", "camvid", "masks"])
def test_truth_is_what_the_files_say(made, fmt):
    ds = made(fmt)
    for name, truth in ds.truth.items():
        np.testing.assert_array_equal(_decode(ds, name), truth, err_msg=name)


def _coco_truth(coco, image_id, dropped):
    """Paint by the documented order with pycocotools' COCO API: crowd 255 first, then the
    other instances by decreasing area, ties by id; train id = 1 + rank of the category id."""
    info = coco.imgs[image_id]
    rank = {c: 1 + i for i, c in enumerate(sorted(coco.cats))}
    anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if a["id"] not in dropped]
    out = np.zeros((info["height"], info["width"]), np.uint8)
    for ann in sorted(anns, key=lambda a: (not a["iscrowd"], -a["area"], a["id"])):
        out[coco.annToMask(ann) > 0] = 255 if ann["iscrowd"] else rank[ann["category_id"]]
    return out


@pytest.mark.parametrize("quirks", [False, True])
def test_coco_truth_from_pycocotools(made, quirks):
    ds = made("coco", quirks)
    dropped = {int(k.split()[1]) for k in ds.quirks if k.startswith("annotation ")}
    seen = {"poly_parts": 0, "crowd_list": 0, "string_rle": 0, "empty": 0}
    for split in ("train2017", "val2017"):
        coco = COCO(str(ds.root / "annotations" / f"instances_{split}.json"))
        ids = [c["id"] for c in json.loads((ds.root / "annotations" / f"instances_{split}.json")
                                           .read_text())["categories"]]
        assert ids == [3, 1, 7, 18]  # gaps, out of order
        assert list(ds.classes) == ["background"] + [coco.cats[i]["name"] for i in sorted(ids)]
        for image_id, info in coco.imgs.items():
            name = info["file_name"][:-4]
            if name in ds.truth:
                np.testing.assert_array_equal(_coco_truth(coco, image_id, dropped), ds.truth[name])
            seen["empty"] += not coco.getAnnIds(imgIds=[image_id])
        for ann in coco.anns.values():
            if ann["id"] in dropped:
                continue
            seg = ann["segmentation"]
            if isinstance(seg, list):
                seen["poly_parts"] += len(seg) > 1
            elif isinstance(seg["counts"], list):
                seen["crowd_list"] += 1
                assert ann["iscrowd"] == 1
            else:
                seen["string_rle"] += 1
                assert ann["iscrowd"] == 0
            assert ann["area"] == float(mask_utils.area(coco.annToRLE(ann)))
    assert all(seen.values()), seen
    assert json.loads((ds.root / "annotations" / "captions_train2017.json").read_text())["annotations"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_several_classes_per_image(made, fmt):
    ds = made(fmt)
    background = {255} if fmt in ("cityscapes", "ade20k") else {0, 255}
    busy = [n for n in ds.truth if n not in ds.splits.get("test", []) and ds.truth[n].any()]
    assert len(busy) >= 9
    for name in busy:
        assert len(set(np.unique(ds.truth[name]).tolist()) - background) >= 2, name


def test_classes_have_distinct_colours(made):
    """A tiny model must be able to tell classes apart by colour: per-class mean colours differ."""
    ds = made("voc")
    sums = {}
    for name, truth in ds.truth.items():
        rgb = np.asarray(Image.open(ds.root / PHOTO["voc"](ds, name)), np.float64)
        for c in set(np.unique(truth).tolist()) - {255}:
            s = sums.setdefault(c, [np.zeros(3), 0])
            s[0] += rgb[truth == c].sum(0)
            s[1] += (truth == c).sum()
    means = [s / n for s, n in sums.values()]
    assert len(means) >= 5
    assert min(np.abs(a - b).sum() for i, a in enumerate(means) for b in means[i + 1:]) > 30


def test_voc_lists_band_and_detection_only_photos(made):
    ds = made("voc")
    seg = ds.root / "VOC2012" / "ImageSets" / "Segmentation"
    train, val, trainval = ((seg / f"{s}.txt").read_text().split() for s in ("train", "val", "trainval"))
    assert train == ds.splits["train"] and val == ds.splits["validation"]
    assert sorted(train + val) == trainval and not set(train) & set(val)
    photos = {p.stem for p in (ds.root / "VOC2012" / "JPEGImages").glob("*.jpg")}
    extra = photos - set(trainval)
    assert extra and not any((ds.root / "VOC2012" / "SegmentationClass" / f"{n}.png").exists()
                             for n in extra)
    assert {p.stem for p in (ds.root / "VOC2012" / "Annotations").glob("*.xml")} == photos
    for name, truth in ds.truth.items():
        # The 255 band separates every two different labels (no 4-neighbours a != b unmarked).
        for a, b in ((truth[:, 1:], truth[:, :-1]), (truth[1:], truth[:-1])):
            assert not ((a != b) & (a != 255) & (b != 255)).any(), name
        obj = np.asarray(Image.open(ds.root / "VOC2012" / "SegmentationObject" / f"{name}.png"))
        np.testing.assert_array_equal(obj == 255, truth == 255)
        assert ((obj == 0) == (truth == 0)).all() and obj.max(initial=0) >= 1


def test_cityscapes_instances_colours_and_polygons(made):
    ds = made("cityscapes")
    assert len(ds.classes) == 19 and ds.classes[0] == "road" and ds.classes[-1] == "bicycle"
    name = ds.splits["train"][0]
    stem = str(ds.root / MASK["cityscapes"](ds, name)).replace("_labelIds.png", "")
    ids = np.asarray(Image.open(stem + "_labelIds.png"))
    inst = np.asarray(Image.open(stem + "_instanceIds.png")).astype(np.int64)
    assert inst.max() >= 24000  # person/car instances: labelId * 1000 + k (16-bit PNG)
    np.testing.assert_array_equal(np.where(inst >= 1000, inst // 1000, inst), ids)
    colour = np.asarray(Image.open(stem + "_color.png").convert("RGB"))
    assert (colour[ids == 7] == (128, 64, 128)).all() and (colour[ids == 26] == (0, 0, 142)).all()
    poly = json.loads(pathlib.Path(stem + "_polygons.json").read_text())
    assert (poly["imgHeight"], poly["imgWidth"]) == SIZE
    assert {"road", "sky", "car", "ego vehicle"} <= {o["label"] for o in poly["objects"]}
    assert all((ds.truth[n] == 255).all() for n in ds.splits["test"])


def test_ade20k_tables_and_masks_lists(made, tmp_path):
    ade = made("ade20k")
    rows = (ade.root / "objectInfo150.csv").read_text().splitlines()
    assert rows[0] == "Idx,Ratio,Train,Val,Name" and len(rows) == 151
    assert rows[2].endswith(",building;edifice") and ade.classes[1] == "building"
    assert len(ade.classes) == 150
    scenes = (ade.root / "sceneCategories.txt").read_text().split("\n")
    assert sorted(line.split()[0] for line in scenes if line) == sorted(ade.truth)
    masks = made("masks")
    raw = (masks.root / "splits" / "train.txt").read_bytes()
    assert raw.endswith(b"\r\n") and b" \r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    meta = json.loads((masks.root / "classes.json").read_text())
    assert meta["classes"] == list(masks.classes) and meta["ignore_label"] == 255
    assert len(meta["palette"]) == len(meta["classes"])
    assert list((masks.root / "images").glob("*.png"))
    assert any((t == 255).any() for t in masks.truth.values())
    deep = make_dataset(tmp_path / "m16", "masks", num_images=4, image_size=SIZE, mask_bits=16)
    for name, truth in deep.truth.items():
        img = Image.open(deep.root / "masks" / f"{name}.png")
        arr = np.asarray(img)
        assert img.mode.startswith("I") and arr.dtype.itemsize == 2  # a 16-bit PNG
        np.testing.assert_array_equal(arr, truth)


@pytest.mark.parametrize("fmt", FORMATS)
def test_quirks_are_in_the_files(made, fmt):
    ds = made(fmt, quirks=True)
    clean = made(fmt)
    outcomes = set(ds.quirks.values())
    assert {"repaired: grayscale", "ignored: junk"} <= outcomes
    assert any(o.startswith("skipped") for o in outcomes)
    if fmt != "coco":
        assert {"skipped: missing mask", "skipped: size"} <= outcomes
        if fmt != "cityscapes":  # every labelId outside the official table is ignore
            assert any(o.startswith(("skipped: value", "skipped: colour")) for o in outcomes)
    if fmt != "cityscapes":  # Cityscapes photos are PNG files already
        assert "repaired: png as jpg" in outcomes
    for key, outcome in ds.quirks.items():
        if outcome == "ignored: junk":
            assert (ds.root / key).is_file() and pathlib.PurePath(key).name.startswith(
                (".DS_Store", "Thumbs.db", "._"))
            continue
        if key.startswith("annotation "):
            continue  # checked in test_coco_quirks
        photo = ds.root / PHOTO[fmt](ds, key) if outcome != "skipped: missing image" else None
        mask = ds.root / MASK[fmt](ds, key) if fmt in MASK else None
        if outcome == "skipped: missing mask":
            assert photo.is_file() and not mask.exists()
        elif outcome == "skipped: size" and mask is not None:
            assert Image.open(mask).size != Image.open(photo).size
        elif outcome.startswith("skipped: value"):
            assert int(outcome.split()[-1]) in np.unique(np.asarray(Image.open(mask)))
        elif outcome.startswith("skipped: colour"):
            rgb = tuple(int(v) for v in outcome[outcome.index("(") + 1:-1].split(","))
            assert (np.asarray(Image.open(mask).convert("RGB")) == rgb).all(-1).any()
        elif outcome == "repaired: grayscale":
            assert Image.open(photo).mode == "L"
        elif outcome == "repaired: png as jpg":
            assert photo.suffix == ".jpg" and photo.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if outcome.startswith("skipped"):
            assert key not in ds.truth and key in [n for v in ds.splits.values() for n in v]
        else:
            np.testing.assert_array_equal(ds.truth[key], clean.truth[key])
    # Quirks only add mess: every sample a reader must still build has the clean truth.
    assert all(np.array_equal(t, clean.truth[n]) for n, t in ds.truth.items())


def test_coco_quirks(made):
    ds = made("coco", quirks=True)
    by_outcome = {v: k for k, v in ds.quirks.items()}
    assert not (ds.root / "train2017" / f"{by_outcome['skipped: missing image']}.jpg").exists()
    docs = {s: json.loads((ds.root / "annotations" / f"instances_{s}2017.json").read_text())
            for s in ("train", "val")}
    images = {im["id"]: im for d in docs.values() for im in d["images"]}
    anns = {a["id"]: a for d in docs.values() for a in d["annotations"]}
    wrong = next(im for im in images.values()
                 if im["file_name"][:-4] == by_outcome["skipped: size"])
    on_disk = Image.open(ds.root / "train2017" / wrong["file_name"]).size
    assert on_disk != (wrong["width"], wrong["height"])
    lost = anns[int(by_outcome["dropped: unknown image_id"].split()[1])]
    assert lost["image_id"] not in images
    alien = anns[int(by_outcome["dropped: unknown category_id"].split()[1])]
    assert alien["image_id"] in images and alien["category_id"] not in {3, 1, 7, 18}
    line = anns[int(by_outcome["dropped: degenerate polygon"].split()[1])]
    assert line["image_id"] in images and [len(p) for p in line["segmentation"]] == [4]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'yolo'"):
        make_dataset(tmp_path / "a", "yolo")
    with pytest.raises(ValueError, match="num_images >= "):
        make_dataset(tmp_path / "b", "voc", num_images=4, quirks=True)
    with pytest.raises(ValueError, match="mask_bits"):
        make_dataset(tmp_path / "c", "voc", mask_bits=16)
    make_dataset(tmp_path / "d", "masks", num_images=3, image_size=SIZE)
    with pytest.raises(ValueError, match="not empty"):
        make_dataset(tmp_path / "d", "masks", num_images=3, image_size=SIZE)
    assert make_dataset(tmp_path / "d", "cvat", num_images=3, image_size=SIZE, overwrite=True).root


def test_cli_formats_and_pets_default(tmp_path):
    from segdata.synthetic.pets import make_sample_data
    from segmodel.cli import make_sample_data as cli

    out = tmp_path / "voc"
    run = subprocess.run([sys.executable, "-m", "segmodel.cli", "make-sample-data", "--format", "voc",
                          "--output-dir", str(out), "--quirks", "--image-size", "64", "96"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    ref = make_dataset(tmp_path / "ref", "voc", image_size=SIZE, quirks=True)
    assert _tree(out / "VOCdevkit") == _tree(ref.root)
    assert json.loads((out / "quirks.json").read_text()) == ref.quirks
    # The default stays the Pets layout, byte for byte what the library writes.
    args = ["--num-images", "3", "--min-side", "32", "--max-side", "40", "--seed", "2"]
    assert cli.main(["--output-dir", str(tmp_path / "pets")] + args) == 0
    make_sample_data(tmp_path / "pets_ref", 3, seed=2, min_side=32, max_side=40)
    assert _tree(tmp_path / "pets") == _tree(tmp_path / "pets_ref")
    assert cli.main(["--output-dir", str(tmp_path / "pets")] + args) == 2  # exists: refused
    with pytest.raises(SystemExit):
        cli.main(["--output-dir", str(tmp_path / "x")])  # pets still needs --num-images
