"""Phone photos with an EXIF orientation: the records hold the pixels the annotation was drawn
on. A mask drawn on the photo as shown (CVAT, Label Studio, browsers) turns the stored pixels
(PIL's ImageOps.exif_transpose is the reference); one drawn on the stored pixels keeps them;
an undecidable one (180-degree turn) is kept and counted, and --exif-orientation decides."""

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from segdata.input.shard_reader import read_example
from segdata.records.convert import build_records
from segdata.records.manifest import read_manifest, summarize
from segmodel.cli import build_records as build_cli

# PIL's exif_transpose applies these for each tag; storing a photo turned the other way makes
# the tagged file show `upright`.
UNDO = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270}
RED, BLUE, GREY = (220, 30, 30), (30, 30, 220), (128, 128, 128)


def upright_scene(h=40, w=64):
    """(photo, mask) as a viewer shows it: a red block (class 1) top-left, a blue block
    (class 2) bottom-right on grey (class 0): any turn or mirror moves them."""
    photo = np.full((h, w, 3), GREY, np.uint8)
    mask = np.zeros((h, w), np.uint8)
    photo[2:18, 3:25], mask[2:18, 3:25] = RED, 1
    photo[26:38, 40:61], mask[26:38, 40:61] = BLUE, 2
    return photo, mask


def tagged_jpeg(upright, tag):
    """JPEG bytes of `upright` stored as a camera stores it under EXIF orientation `tag`."""
    img = Image.fromarray(upright)
    exif = Image.Exif()
    if tag != 1:
        img = img.transpose(UNDO[tag])
        exif[0x0112] = tag
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=98, subsampling=0, exif=exif.tobytes())
    return out.getvalue()


def write_folder(root, cases):
    """A masks-layout folder; cases: name -> (tag, mask drawn "shown" | "stored" | array)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "splits").mkdir()
    photo, mask = upright_scene()
    for name, (tag, drawn) in cases.items():
        data = tagged_jpeg(photo, tag)
        (root / "images" / f"{name}.jpg").write_bytes(data)
        if isinstance(drawn, str):  # "stored": the tool showed the stored pixels (segkit
            # label, older tools); "shown": it showed the photo turned (CVAT, Label Studio)
            drawn = (np.asarray(Image.fromarray(mask).transpose(UNDO[tag]))
                     if drawn == "stored" else mask)
        Image.fromarray(drawn).save(root / "masks" / f"{name}.png")
    (root / "classes.json").write_text(json.dumps({"classes": ["grey", "red", "blue"]}))
    (root / "splits" / "train.txt").write_text("".join(f"{n}\n" for n in cases))
    return root


def records_by_name(records):
    manifest = read_manifest(records)
    n = manifest["splits"]["train"]["num_examples"]
    return {sid: (img.numpy() if hasattr(img, "numpy") else img,
                  (m.numpy() if hasattr(m, "numpy") else m)[..., 0])
            for img, m, sid in (read_example(records, "train", i) for i in range(n))}, manifest


def shown(data):
    """The reference: the pixels a viewer shows for these bytes (PIL applies the tag)."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


def assert_aligned(image, mask):
    """The mask's classes lie on their own colours in the photo (JPEG blurs the edges a
    little; a turned or mirrored mask would be off by 90 levels or more)."""
    for cls, colour in ((1, RED), (2, BLUE), (0, GREY)):
        inside = image[mask == cls].astype(float)
        assert len(inside) and np.abs(inside.mean(0) - colour).max() < 30, (cls, inside.mean(0))


CASES = {"portrait_shown": (6, "shown"), "portrait_stored": (8, "stored"),
         "upside_down_shown": (3, "shown"), "plain": (1, "shown"),
         "portrait_wrong": (6, np.zeros((10, 10), np.uint8))}


def test_auto_turns_what_was_labelled_turned_and_counts_the_undecidable(tmp_path):
    data = write_folder(tmp_path / "data", CASES)
    build_records(data, tmp_path / "rec", workers=0, progress=False)
    got, manifest = records_by_name(tmp_path / "rec")

    # Mask drawn on the photo as shown: the stored pixels are turned the way viewers turn them.
    image, mask = got["portrait_shown"]
    raw = (data / "images/portrait_shown.jpg").read_bytes()
    assert image.shape[:2] == mask.shape == (40, 64)
    assert np.abs(image.astype(int) - shown(raw)).mean() < 2  # re-encoded at quality 95
    assert_aligned(image, mask)
    # Drawn on the stored pixels: kept byte for byte (the tag is not applied).
    image, mask = got["portrait_stored"]
    assert image.shape[:2] == (64, 40)
    assert_aligned(image, mask)
    assert_aligned(*got["plain"])
    # A 180-degree turn fits both ways: kept as stored, counted, and the warning says what to do.
    image, mask = got["upside_down_shown"]
    assert (mask[2:18, 3:25] == 1).all() and image[10, 10, 0] < 100  # the photo is upside down
    assert manifest["exif_orientation"] == {"mode": "auto", "turned": 1, "kept_as_stored": 1,
                                            "ambiguous": 1}
    assert any("--exif-orientation apply" in w for w in manifest["warnings"])
    assert [r["name"] for r in manifest["repaired"]] == ["portrait_shown"]
    assert "EXIF orientation 6" in manifest["repaired"][0]["reason"]
    # A mask that fits neither way is still skipped, naming both sizes.
    assert [s["name"] for s in manifest["skipped"]] == ["portrait_wrong"]
    assert "10x10 differs from image size 40x64" in manifest["skipped"][0]["reason"]
    assert "EXIF-oriented photos: 1 turned as shown, 1 kept as stored, 1 undecided" in (
        summarize(manifest))


@pytest.mark.parametrize("mode", ["apply", "ignore"])
def test_apply_and_ignore(tmp_path, mode, capsys):
    cases = {k: CASES[k] for k in ("portrait_shown", "upside_down_shown", "plain")}
    data = write_folder(tmp_path / "data", cases)
    assert build_cli.main(["--data-dir", str(data), "--output-dir", str(tmp_path / "rec"),
                           "--exif-orientation", mode, "--workers", "0", "--no-progress"]) == 0
    got, manifest = records_by_name(tmp_path / "rec")
    assert manifest["options"]["exif_orientation"] == mode
    assert_aligned(*got["plain"])
    if mode == "apply":  # the tool showed every photo turned: all line up
        assert_aligned(*got["portrait_shown"])
        assert_aligned(*got["upside_down_shown"])
        assert manifest["exif_orientation"]["turned"] == 2
    else:  # TensorFlow's view: the tag is never read, the portrait's mask does not fit
        assert "portrait_shown" not in got
        assert "exif_orientation" not in manifest
        assert "differs from image size" in capsys.readouterr().out


def test_coco_sizes_decide_as_masks_do(tmp_path):
    """CVAT's COCO export gives each image's size as shown: a tagged portrait is turned to it."""
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    photo, _ = upright_scene()
    images, annotations = [], []
    for i, (name, tag) in enumerate((("portrait", 6), ("plain", 1)), start=1):
        (root / "images" / f"{name}.jpg").write_bytes(tagged_jpeg(photo, tag))
        images.append({"id": i, "file_name": f"{name}.jpg", "width": 64, "height": 40})
        for j, (cat, (x0, y0, x1, y1)) in enumerate(((1, (3, 2, 25, 18)), (2, (40, 26, 61, 38)))):
            annotations.append({"id": 10 * i + j, "image_id": i, "category_id": cat, "iscrowd": 0,
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                                "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]]})
    (root / "annotations" / "instances_default.json").write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "red"}, {"id": 2, "name": "blue"}]}))
    build_records(root, tmp_path / "rec", workers=0, progress=False)
    got, manifest = records_by_name(tmp_path / "rec")
    assert manifest["exif_orientation"]["turned"] == 1 and not manifest["skipped"]
    for name in ("portrait", "plain"):
        image, mask = got[name]
        assert image.shape[:2] == (40, 64)
        # the polygons cover the blocks (their edges may take one more pixel row or column)
        assert np.abs(image[mask == 1].astype(float).mean(0) - RED).max() < 40
        assert np.abs(image[mask == 2].astype(float).mean(0) - BLUE).max() < 40


def test_beam_build_decides_as_the_local_build(tmp_path):
    from segdata.records.beam_convert import build_records_beam

    data = write_folder(tmp_path / "data", CASES)
    local = build_records(data, tmp_path / "local", workers=0, progress=False)
    beam = build_records_beam(data, tmp_path / "beam")
    for key in ("exif_orientation", "repaired", "skipped", "warnings", "splits"):
        assert beam[key] == local[key], key
