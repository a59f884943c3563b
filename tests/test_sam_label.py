"""The shared SAM labelling rule (segmodel.sam.labelling.entries) and tools/sam_label.py, on a tiny
random-weight SAM saved as a local preset."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from segdata.formats.pets.labelled import trimap_from_mask
from segdata.records.convert import build_records
from segmodel.sam import SamPredictor
from segmodel.sam.labelling.entries import normalize_prompts, object_mask, union_mask
from segmodel.sam.labelling.folder import label_images
from segmodel.testing import smooth_image as _image
from segmodel.testing import tiny_sam as tiny_segmenter

ROOT = pathlib.Path(__file__).resolve().parents[1]
from segmodel.cli import sam_label  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("sam_label")
    tiny_segmenter(seed=1).save_to_preset(str(base / "preset"))
    photos = base / "photos"
    photos.mkdir()
    for i, (h, w) in enumerate([(60, 80), (72, 48), (50, 50)]):
        Image.fromarray(_image(h, w, seed=i)).save(photos / f"img_{i}.png")
    predictor = SamPredictor.from_preset(str(base / "preset"))
    return base, photos, predictor


def test_normalize_prompts_forms_and_defaults():
    objects = normalize_prompts({"objects": [{"points": [[1, 2]], "labels": [0]},
                                             {"box": [0, 0, 5, 5], "points": None}]})
    assert objects[0]["points"].dtype == np.float32 and objects[0]["labels"].tolist() == [0]
    assert objects[0]["box"] is None and objects[1]["points"].shape == (0, 2)
    assert objects[1]["box"].dtype == np.float32 and objects[1]["labels"].dtype == np.int32
    # Shorthand: one object per box, each with all the points; labels default to 1.
    two = normalize_prompts({"boxes": [[0, 0, 4, 4], [1, 1, 9, 9]], "points": [[2, 2]]})
    assert len(two) == 2 and all(o["points"].tolist() == [[2, 2]] for o in two)
    assert two[1]["box"].tolist() == [1, 1, 9, 9] and two[0]["labels"].tolist() == [1]
    one = normalize_prompts({"points": [[2, 2], [3, 3]], "labels": [1, 0], "class_id": 4})
    assert len(one) == 1 and one[0]["box"] is None and one[0]["labels"].tolist() == [1, 0]


@pytest.mark.parametrize("entry,match", [
    ({"objects": [{"points": [[1, 2]], "labels": [2]}]}, r"cat.jpg: objects\[0\].labels must"),
    ({"objects": [{"points": [[1, 2]], "labels": [1, 1]}]}, r"objects\[0\].labels has 2"),
    ({"objects": [{"box": [5, 0, 1, 4]}]}, r"objects\[0\].box .* x1 < x0"),
    ({"objects": [{"labels": []}]}, r"objects\[0\] has neither points nor a box"),
    ({"objects": [{"bxo": [0, 0, 1, 1]}]}, r"unknown field\(s\) \['bxo'\]"),
    ({"box": [0, 0, 1, 1]}, r"unknown field\(s\) \['box'\]"),
    ({"objects": [], "boxes": []}, "either \"objects\" or the shorthand"),
    ({"objects": []}, "non-empty list"),
    ({}, "no prompt"),
    ({"boxes": [[0, 0, 1]]}, r"boxes\[0\].box must be \[x0, y0, x1, y1\]"),
    ({"points": [[0, 0], [99, 5]]}, r"points has coordinates \[\[99.0, 5.0\]\] outside"),
    ([1, 2], "must be an object"),
])
def test_normalize_prompts_errors_name_the_image_and_field(entry, match):
    with pytest.raises(ValueError, match=match):
        normalize_prompts(entry, name="cat.jpg", image_size=(40, 60))


def test_mask_rule_single_point_multimask_else_single_mask(setup):
    _, photos, predictor = setup
    predictor.set_image(photos / "img_0.png")
    one = normalize_prompts({"points": [[30, 20]]})[0]
    mask, score = object_mask(predictor, one)
    masks, scores, _ = predictor.predict([[30, 20]], [1], multimask_output=True)
    np.testing.assert_array_equal(mask, masks[0])
    assert score == pytest.approx(float(scores.max()))
    for entry in ({"points": [[30, 20], [60, 40]], "labels": [1, 0]},
                  {"boxes": [[10, 10, 70, 50]]}):
        obj = normalize_prompts(entry)[0]
        mask, score = object_mask(predictor, obj)
        single, s, _ = predictor.predict(obj["points"] if len(obj["points"]) else None,
                                         obj["labels"] if len(obj["points"]) else None,
                                         obj["box"], multimask_output=False)
        np.testing.assert_array_equal(mask, single[0])
        assert score == pytest.approx(float(s[0]))
    objects = normalize_prompts({"objects": [{"points": [[30, 20]]},
                                             {"box": [10, 10, 70, 50]}]})
    union, scores = union_mask(predictor, objects)
    np.testing.assert_array_equal(
        union, object_mask(predictor, objects[0])[0] | object_mask(predictor, objects[1])[0])
    assert len(scores) == 2


def _expected(predictor, photos, name, entry):
    predictor.set_image(photos / name)
    return union_mask(predictor, normalize_prompts(entry))[0]


def test_tool_labels_resumes_and_feeds_build_records(setup, capsys):
    base, photos, predictor = setup
    prompts = {
        "img_0.png": {"boxes": [[5, 5, 60, 50]], "class_id": 2, "species": 2, "breed_id": 7},
        "img_1.png": {"objects": [{"points": [[20, 30]], "labels": [1]},
                                  {"points": [[10, 10], [40, 60]], "labels": [1, 0]}]},
        "gone.jpg": {"points": [[1, 1]]},
    }
    (base / "prompts.json").write_text(json.dumps(prompts))
    out = base / "labelled"
    argv = ["--images", str(photos), "--prompts", str(base / "prompts.json"),
            "--preset", str(base / "preset"), "--output-dir", str(out), "--no-progress"]
    assert sam_label.main(argv) == 0
    expected = {n: _expected(predictor, photos, n, prompts[n]) for n in ("img_0.png",
                                                                       "img_1.png")}
    labelled = sorted(n for n, m in expected.items() if m.any())
    assert labelled, "the tiny SAM gave only empty masks; pick other prompts"
    printed = capsys.readouterr().out
    assert f"{len(labelled)} labelled" in printed and "img_2.png" in printed  # no prompts
    assert "gone.jpg" in printed  # prompts without an image
    for name in expected:
        stem = name[:-4]
        trimap_path = out / "annotations" / "trimaps" / f"{stem}.png"
        assert trimap_path.exists() == (name in labelled)  # empty masks are never written
        if name in labelled:
            np.testing.assert_array_equal(np.asarray(Image.open(trimap_path)),
                                          trimap_from_mask(expected[name], 2))
    recorded = json.loads((out / "annotations" / "prompts.json").read_text())
    assert sorted(recorded) == [f"{n[:-4]}.jpg" for n in labelled]
    if "img_0.png" in labelled:
        assert recorded["img_0.jpg"]["objects"][0]["box"] == [5, 5, 60, 50]
        assert "img_0 2 2 7" in (out / "annotations" / "list.txt").read_text()

    # Rerun: earlier outputs are kept untouched, nothing is recomputed.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert sam_label.main(argv) == 0
    assert f"{len(labelled)} kept" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps

    manifest = build_records(out, base / "records", workers=1, progress=False)
    assert manifest["splits"]["train"]["num_examples"] == len(labelled)
    assert not manifest["skipped"] and not manifest["repaired"]


def test_empty_masks_are_reported_and_left_out(setup, tmp_path):
    _, photos, _ = setup

    class Source:  # the labelling loop with a mask source that finds nothing in img_1
        def check(self, name, image_size, entry):
            normalize_prompts(entry, name=name, image_size=image_size)

        def mask(self, name, image_path, entry):
            size = Image.open(image_path).size[::-1]
            return np.full(size, name != "img_1.png"), None

    prompts = {"img_0.png": {"points": [[1, 1]]}, "img_1.png": {"points": [[1, 1]]}}
    report = label_images(photos, prompts, tmp_path / "out", Source(), progress=False)
    assert report.labelled == ["img_0.png"] and report.empty == ["img_1.png"]
    assert report.no_prompts == ["img_2.png"]
    assert not (tmp_path / "out" / "annotations" / "trimaps" / "img_1.png").exists()


def test_unreadable_image_is_reported_and_the_rest_labelled(setup, tmp_path):
    _, photos, predictor = setup
    from segmodel.sam.labelling.folder import PointBoxSource

    images = tmp_path / "imgs"
    images.mkdir()
    (images / "good.png").write_bytes((photos / "img_0.png").read_bytes())
    (images / "cut.png").write_bytes((photos / "img_1.png").read_bytes()[:200])  # header ok
    prompts = {"good.png": {"boxes": [[0, 0, 80, 60]]}, "cut.png": {"boxes": [[0, 0, 40, 60]]}}
    report = label_images(images, prompts, tmp_path / "out", PointBoxSource(predictor),
                          progress=False)
    assert len(report.failed) == 1 and report.failed[0].startswith("cut.png")
    assert report.labelled + report.empty == ["good.png"]


def test_bad_prompt_file_fails_before_anything_is_written(setup, tmp_path, capsys):
    base, photos, _ = setup
    bad = {"img_0.png": {"points": [[500, 5]]}, "img_1.png": {"boxes": [[9, 0, 1, 5]]},
           "img_2.png": {"boxes": [[0, 0, 5, 5]], "class_id": 0}}
    (tmp_path / "p.json").write_text(json.dumps(bad))
    argv = ["--images", str(photos), "--prompts", str(tmp_path / "p.json"),
            "--preset", str(tmp_path / "no_preset"), "--output-dir", str(tmp_path / "o")]
    assert sam_label.main(argv) == 2
    err = capsys.readouterr().err
    assert "3 bad prompt entries" in err and "Traceback" not in err
    for text in ("img_0.png: points has coordinates", "img_1.png: boxes[0].box",
                 "img_2.png: class_id"):
        assert text in err
    assert not (tmp_path / "o" / "annotations").exists()
    (tmp_path / "p.json").write_text("{not json")
    assert sam_label.main(argv) == 2 and "not valid JSON" in capsys.readouterr().err


def test_pets_layout_keeps_coco_instances_of_every_object(setup, tmp_path):
    """The Pets layout also maintains annotations/instances.json: one annotation per object
    (its own SAM mask, as compressed RLE), whose union is the trimap's object; the folder
    still reads as the Pets layout."""
    from pycocotools.coco import COCO

    from segdata import formats

    base, photos, predictor = setup
    prompts = {"img_1.png": {"objects": [{"points": [[20, 30]], "labels": [1]},
                                         {"box": [2, 2, 40, 30]}]},
               "img_0.png": {"boxes": [[5, 5, 60, 50]]}}
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    out = tmp_path / "labelled"
    assert sam_label.main(["--images", str(photos), "--prompts", str(tmp_path / "prompts.json"),
                           "--preset", str(base / "preset"), "--output-dir", str(out),
                           "--no-progress"]) == 0
    coco = COCO(str(out / "annotations" / "instances.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["pet"]
    by_file = {im["file_name"]: im["id"] for im in coco.loadImgs(coco.getImgIds())}
    for name, entry in prompts.items():
        predictor.set_image(photos / name)
        objects = normalize_prompts(entry)
        masks = [object_mask(predictor, obj)[0] for obj in objects if
                 object_mask(predictor, obj)[0].any()]
        if not masks:
            continue
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[by_file[f"{name[:-4]}.jpg"]]))
        assert len(anns) == len(masks)
        for ann, mask in zip(anns, masks):
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)
            assert ann["category_id"] == 1 and ann["iscrowd"] == 0 and "score" in ann
        union = np.logical_or.reduce(masks)
        trimap = np.asarray(Image.open(out / "annotations" / "trimaps" / f"{name[:-4]}.png"))
        np.testing.assert_array_equal(trimap, trimap_from_mask(union, 2))
    assert formats.detect_format(out)[0] == "pets"
