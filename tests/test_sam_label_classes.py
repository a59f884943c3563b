"""Class-aware SAM labelling: --classes, the masks layout (class-id PNGs, ignore band,
classes.json, prompts.json) and COCO instances.json, on the seeded tiny SAM / SAM 3 presets;
MasksFolder's locking, crash recovery and per-accept cost."""

import json
import re
import threading

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from segdata.formats.base import default_palette
from segmodel.cli import sam_label
from segmodel.sam.labelling import journal, painting
from segmodel.sam.labelling.classes import COCO_ID_OFFSET, ClassList, parse_classes
from segmodel.sam.labelling.entries import normalize_prompts, object_mask
from segmodel.sam.labelling.masks_folder import MasksFolder
from segmodel.sam.labelling.painting import visible_masks
from segmodel.testing import smooth_image

SIZES = [(64, 96), (72, 56), (60, 60)]
PROMPTS = {  # overlapping objects of three classes, painted in this order
    "img_0.png": {"objects": [{"box": [4, 4, 50, 40], "class": "dog"},
                              {"points": [[32, 21]]},  # default: the first class (cat)
                              {"points": [[10, 10], [86, 54]], "class": "person"}]},
    "img_1.png": {"boxes": [[20, 10, 54, 68], [4, 4, 50, 40]], "class": "person"},
    "img_2.png": {"objects": [{"points": [[30, 30]], "class": "cat"},
                              {"box": [4, 4, 50, 40], "class": "dog"}]},
}
CLASSES = ["cat", "dog", "person"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i, (h, w) in enumerate(SIZES):
        Image.fromarray(smooth_image(h, w, seed=i)).save(folder / f"img_{i}.png")
    return folder


def _band(mask):
    """Independent 2-px band: a pixel with an 8-neighbour on the other side of the edge
    (the image border is no edge)."""
    padded = np.pad(mask, 1, mode="edge")
    h, w = mask.shape
    differs = np.zeros_like(mask)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            differs |= padded[dy:dy + h, dx:dx + w] != mask
    return differs


def _expected(predictor, photos, name, entry):
    """The predictor's own per-object masks and classes -> (masks, ids, scores, painted PNG)."""
    predictor.set_image(photos / name)
    masks, ids, scores = [], [], []
    for obj in normalize_prompts(entry):
        mask, score = object_mask(predictor, obj)
        masks.append(mask)
        ids.append(CLASSES.index(obj["class"] or "cat") + 1)
        scores.append(score)
    label = np.zeros(masks[0].shape, np.uint8)
    for mask, train_id in zip(masks, ids):
        label[mask] = train_id
    band = np.zeros_like(masks[0])
    for mask in masks:
        band |= _band(mask)
    label[band] = 255
    return masks, ids, scores, label


def _run(tmp_path, photos, preset, prompts, *extra):
    (tmp_path / "p.json").write_text(json.dumps(prompts))
    return sam_label.main(["--images", str(photos), "--prompts", str(tmp_path / "p.json"),
                           "--preset", str(preset), "--output-dir", str(tmp_path / "out"),
                           "--no-progress", *extra])


def test_prompt_file_writes_masks_layout_and_coco(tmp_path, photos, sam_preset_parent,
                                                  sam_predictor, capsys):
    preset = sam_preset_parent / "sam_base_sa1b"
    assert _run(tmp_path, photos, preset, PROMPTS, "--classes", *CLASSES,
                "--ignore-width", "2") == 0
    assert "3 labelled" in capsys.readouterr().out
    out = tmp_path / "out"
    assert json.loads((out / "classes.json").read_text()) == {
        "classes": ["background", *CLASSES], "ignore_label": 255, "palette": default_palette(4)}
    coco = COCO(str(out / "annotations" / "instances.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["background", *CLASSES]
    recorded = json.loads((out / "prompts.json").read_text())
    assert sorted(recorded) == ["img_0.jpg", "img_1.jpg", "img_2.jpg"]
    for name, entry in PROMPTS.items():
        stem = name[:-4]
        masks, ids, scores, label = _expected(sam_predictor, photos, name, entry)
        assert all(m.any() for m in masks), "pick prompts the tiny SAM gives masks for"
        png = Image.open(out / "masks" / f"{stem}.png")
        assert png.mode == "L"
        np.testing.assert_array_equal(np.asarray(png), label)
        reversed_label = np.zeros_like(label)
        for mask, train_id in zip(masks[::-1], ids[::-1]):
            reversed_label[mask] = train_id
        if len(set(ids)) > 1:  # the order is observable: painting reversed differs
            assert ((reversed_label != label) & (label != 255)).any()
        assert (out / "images" / f"{stem}.jpg").is_file()
        [image] = [i for i in coco.dataset["images"] if i["file_name"] == f"{stem}.jpg"]
        assert (image["height"], image["width"]) == masks[0].shape
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        # Each annotation holds what its object shows in the mask (later objects on top, the
        # ignore band left out); an object wholly covered by later ones has none.
        shown = visible_masks(masks, label != 255)
        kept = [i for i, m in enumerate(shown) if m.any()]
        assert [a["category_id"] for a in anns] == [ids[i] + COCO_ID_OFFSET for i in kept]
        for ann, mask, score in zip(anns, [shown[i] for i in kept], [scores[i] for i in kept]):
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)
            ys, xs = np.nonzero(mask)
            assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                   ys.max() - ys.min() + 1]
            assert ann["area"] == mask.sum() and ann["iscrowd"] == 0
            assert ann["score"] == pytest.approx(score)
            assert ann["prompt"]["class"] == CLASSES[ann["category_id"] - COCO_ID_OFFSET - 1]
        assert [o["class"] for o in recorded[f"{stem}.jpg"]["objects"]] == \
            [CLASSES[i - 1] for i in ids]

    # Rerun: everything is kept, no file is touched.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert _run(tmp_path, photos, preset, PROMPTS, "--classes", *CLASSES) == 0
    assert "3 kept" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps


def test_one_class_keeps_the_pets_layout_byte_identical(tmp_path, photos, sam_preset_parent):
    preset = sam_preset_parent / "sam_base_sa1b"
    prompts = {"img_0.png": {"boxes": [[4, 4, 50, 40]]},
               "img_1.png": {"objects": [{"points": [[28, 36]], "class": "pet"}]}}
    plain = {"img_0.png": prompts["img_0.png"],
             "img_1.png": {"objects": [{"points": [[28, 36]]}]}}
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    assert _run(tmp_path / "a", photos, preset, plain) == 0
    assert _run(tmp_path / "b", photos, preset, prompts, "--classes", "pet") == 0
    files = sorted(p.relative_to(tmp_path / "a" / "out")
                   for p in (tmp_path / "a" / "out").rglob("*") if p.is_file())
    assert "annotations/list.txt" in map(str, files)
    for rel in files:
        # prompts.json and the COCO file's prompts record the given "class"
        if rel.name not in ("prompts.json", "instances.json") and rel.parent.name != "coco_parts":
            assert (tmp_path / "b" / "out" / rel).read_bytes() == \
                (tmp_path / "a" / "out" / rel).read_bytes()


@pytest.mark.parametrize("prompts, extra, match", [
    ({"img_1.png": {"objects": [{"box": [0, 0, 9, 9]}, {"box": [1, 1, 9, 9], "class": "cta"}]}},
     ["--classes", "cat", "dog"], r"img_1.png: objects\[1\].class 'cta' is not one of the "
                                  r"classes \['cat', 'dog'\]"),
    ({"img_2.png": {"boxes": [[0, 0, 9, 9]], "class": "bird"}}, ["--classes", "cat", "dog"],
     r"img_2.png: class 'bird' is not one of"),
    ({"img_0.png": {"points": [[3, 3]], "class": "cat"}}, [],
     r"img_0.png: class is 'cat' but no classes were given; pass --classes"),
    ({"img_0.png": {"points": [[3, 3]]}}, ["--classes", "cat", "dog", "--layout", "pets"],
     "--layout pets holds one class"),
    ({"img_0.png": {"points": [[3, 3]]}}, ["--classes", "cat", "cat"], "named twice"),
    ({"img_0.png": {"points": [[3, 3]]}}, ["--layout", "masks"], "needs the classes"),
    ({"img_0.png": {"points": [[3, 3]]}}, ["--ignore-width", "2"], "--ignore-width is for"),
])
def test_bad_classes_fail_naming_the_entry_before_anything_is_written(
        tmp_path, photos, prompts, extra, match, capsys):
    assert _run(tmp_path, photos, tmp_path / "no_preset", prompts, *extra) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(match, err), err
    assert not (tmp_path / "out").exists()


def test_parse_classes_names_and_files(tmp_path):
    assert parse_classes(["cat", "dog"]).all_names == ["background", "cat", "dog"]
    path = tmp_path / "classes.json"
    path.write_text(json.dumps({"classes": ["background", "a", "b"], "ignore_label": 255,
                                "palette": [[0, 0, 0], [1, 2, 3], [4, 5, 6]]}))
    classes = parse_classes([str(path)])
    assert classes.names == ("a", "b") and classes.palette[2] == (4, 5, 6)
    assert classes.train_id("b") == 2 and classes.train_id(None) == 1
    path.write_text('["x"]')
    assert parse_classes([str(path)]).to_json()["classes"] == ["background", "x"]
    path.write_text('{"classes": ["background", "a"], "palette": [[0, 0, 0]]}')
    with pytest.raises(ValueError, match="classes.json: the palette needs one"):
        parse_classes([str(path)])
    with pytest.raises(ValueError, match="'background' is train id 0"):
        parse_classes(["background", "cat"])
    with pytest.raises(FileNotFoundError, match="nope.json"):
        parse_classes([str(tmp_path / "nope.json")])


# -- MasksFolder on generated masks (no model) ------------------------------------------
def _image(folder, name="a.png", size=(24, 32)):
    path = folder / name
    Image.fromarray(smooth_image(*size, seed=5)).save(path)
    return path


def _box_mask(size, y0, y1, x0, x1):
    mask = np.zeros(size, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_two_writers_accepting_the_same_image_stay_consistent(tmp_path):
    photo = _image(tmp_path)
    classes = ClassList(("cat", "dog"))
    variants = [[{"mask": _box_mask((24, 32), 2, 12, 3, 20), "class": "cat"}],
                [{"mask": _box_mask((24, 32), 5, 20, 10, 30), "class": "dog"},
                 {"mask": _box_mask((24, 32), 0, 6, 0, 6), "class": "cat"}]]
    # Two folder objects (two "tabs"; their flocks exclude each other) rebuilding the JSON
    # on every accept, racing on one image.
    folders = [MasksFolder(tmp_path / "out", classes, refresh_seconds=0) for _ in range(2)]
    errors = []

    def accept(k):
        try:
            for _ in range(15):
                folders[k].write("a.png", photo, variants[k], prompts={"writer": k})
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=accept, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    out = tmp_path / "out"
    winner = json.loads((out / "prompts.json").read_text())["a.jpg"]["writer"]
    objects = variants[winner]
    expected = painting.paint_mask(
        [(o["mask"], classes.train_id(o["class"])) for o in objects], (24, 32))
    np.testing.assert_array_equal(np.asarray(Image.open(out / "masks" / "a.png")), expected)
    coco = COCO(str(out / "annotations" / "instances.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == len(objects)
    for ann, obj in zip(anns, objects):
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), obj["mask"])
    leftovers = [p for p in out.rglob(".*.tmp*")] + list((out / "annotations" / "parts" /
                                                          "journal").iterdir())
    assert not leftovers


def _fill(folder, photo, count):
    for i in range(count):
        folder.write(f"img{i:03d}.png", photo,
                     [{"mask": _box_mask((24, 32), 1, 9 + i % 9, 2, 20), "class": "cat"}])
    folder.flush()


def test_accept_cost_does_not_grow_with_the_folder(tmp_path, monkeypatch):
    photo = _image(tmp_path)
    classes = ClassList(("cat", "dog"))
    obj = [{"mask": _box_mask((24, 32), 3, 15, 4, 25), "class": "dog", "score": 0.5}]
    costs = {}
    for label, count in (("small", 3), ("large", 60)):
        folder = MasksFolder(tmp_path / label.ljust(5, "_"), classes, refresh_seconds=None)
        _fill(folder, photo, count)
        instances = folder.annotations_dir / "instances.json"
        before_json, before = instances.stat().st_mtime_ns, dict(folder.accept_stats)
        rebuilds = []
        monkeypatch.setattr(folder, "_rebuild", lambda: rebuilds.append(1))
        folder.write("new.png", photo, obj, prompts={"box": np.arange(4)})  # numpy is fine
        costs[label] = {k: folder.accept_stats[k] - before[k] for k in before}
        assert not rebuilds and instances.stat().st_mtime_ns == before_json
        monkeypatch.undo()
        folder.close()  # the deferred O(folder) rebuild
        coco = json.loads(instances.read_text())
        assert len(coco["images"]) == count + 1
        assert json.loads((folder.root / "prompts.json").read_text())["new.jpg"] == {"box": [0, 1, 2, 3]}
    assert costs["small"] == costs["large"] and costs["small"]["files"] == 4


def test_killed_between_renames_is_finished_by_the_next_writer(tmp_path, monkeypatch):
    photo = _image(tmp_path)
    classes = ClassList(("cat",))
    folder = MasksFolder(tmp_path / "out", classes, refresh_seconds=None)
    folder.write("a.png", photo, [{"mask": _box_mask((24, 32), 0, 5, 0, 5)}])
    folder.close()
    new = _box_mask((24, 32), 4, 20, 4, 30)
    real_replace, calls = journal.os.replace, []

    def dies_after_the_image(src, dst):
        if str(dst).endswith("a.png") and "masks" in str(dst):
            raise KeyboardInterrupt  # a kill between the image's and the mask's rename
        calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(journal.os, "replace", dies_after_the_image)
    with pytest.raises(KeyboardInterrupt):
        folder.write("a.png", photo, [{"mask": new}])
    monkeypatch.undo()
    out = tmp_path / "out"
    assert list((out / "annotations" / "parts" / "journal").glob("a.json"))
    reopened = MasksFolder(out, None, refresh_seconds=None)  # classes from classes.json
    assert reopened.classes.names == ("cat",)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "masks" / "a.png")), new * 1)
    coco = COCO(str(out / "annotations" / "instances.json"))  # stale: rebuilt on open
    np.testing.assert_array_equal(coco.annToMask(coco.loadAnns(1)[0]).astype(bool), new)
    assert not list(out.rglob(".*.tmp*"))


def test_masks_folder_rejects_other_classes_and_empty_masks(tmp_path):
    photo = _image(tmp_path)
    MasksFolder(tmp_path / "out", ClassList(("cat",))).close()
    with pytest.raises(ValueError, match=r"lists classes \['cat'\], not \['dog'\]"):
        MasksFolder(tmp_path / "out", ClassList(("dog",)))
    folder = MasksFolder(tmp_path / "out", None)
    with pytest.raises(ValueError, match="a.png: every object's mask is empty"):
        folder.write("a.png", photo, [{"mask": np.zeros((24, 32), bool)}])
    with pytest.raises(ValueError, match="a.png: object 0 class 'dog' is not one of"):
        folder.write("a.png", photo, [{"mask": np.ones((24, 32), bool), "class": "dog"}])
    with pytest.raises(ValueError, match=r"object 0's mask is \(4, 4\)"):
        folder.write("a.png", photo, [{"mask": np.ones((4, 4), bool)}])
    assert not folder.is_labelled("a.png")


# -- text prompts: each --text a class (SAM 3) -------------------------------------------
def test_text_prompts_label_one_class_per_text(tmp_path, capsys):
    from segdata.synthetic.pets import make_sample_data
    from segmodel.sam.sam3.segmenter import TextSegmenter
    from segmodel.testing import save_tiny_sam3

    save_tiny_sam3(tmp_path / "preset", seed=2)
    pets = make_sample_data(tmp_path / "pets", 3, seed=3, min_side=32, max_side=56)
    texts = ["a cat", "a dog"]
    assert sam_label.main(["--images", str(pets / "images"), "--preset", str(tmp_path / "preset"),
                           "--output-dir", str(tmp_path / "out"), "--no-progress",
                           "--text", texts[0], "--text", texts[1],
                           "--score-threshold", "0.17"]) == 0
    out = tmp_path / "out"
    assert json.loads((out / "classes.json").read_text())["classes"] == ["background", *texts]
    coco = COCO(str(out / "annotations" / "instances.json"))
    segmenter = TextSegmenter.from_preset(str(tmp_path / "preset"))
    labelled = sorted(p.name for p in (out / "masks").iterdir())
    assert labelled and f"{len(labelled)} labelled" in capsys.readouterr().out
    seen_classes = set()
    for png in labelled:
        instances = segmenter.segment(pets / "images" / f"{png[:-4]}.jpg", texts,
                                      score_threshold=0.17)
        order = sorted(instances, key=lambda inst: inst.score)  # best painted last, on top
        label = np.zeros(instances[0].mask.shape, np.uint8)
        for inst in order:
            label[inst.mask] = texts.index(inst.text) + 1
            seen_classes.add(inst.text)
        np.testing.assert_array_equal(np.asarray(Image.open(out / "masks" / png)), label)
        [image] = [i for i in coco.dataset["images"] if i["file_name"] == f"{png[:-4]}.jpg"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        # Annotations hold what each instance shows in the mask (no overlaps).
        shown = visible_masks([inst.mask for inst in order], np.ones(label.shape, bool))
        kept = [(inst, m) for inst, m in zip(order, shown) if m.any()]
        assert [a["category_id"] for a in anns] == [texts.index(i.text) + 1 + COCO_ID_OFFSET
                                                   for i, _ in kept]
        for ann, (inst, mask) in zip(anns, kept):
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)
            assert ann["prompt"]["text"] == inst.text
    assert seen_classes == set(texts), "the tiny SAM 3 should find both texts somewhere"


def test_rebuild_inside_each_accept_equals_the_plain_coco_build(tmp_path):
    """refresh_seconds=0 (the page): after every write, instances.json and prompts.json are on
    disk and equal what coco_output builds from the parts from scratch."""
    import json

    import numpy as np
    from PIL import Image

    from segmodel.sam.labelling import coco_output
    from segmodel.sam.labelling.classes import ClassList
    from segmodel.sam.labelling.masks_folder import MasksFolder

    rng = np.random.default_rng(0)
    folder = MasksFolder(tmp_path / "out", ClassList(("cat", "dog")), refresh_seconds=0)
    for i, name in enumerate(("b", "a", "c", "a")):  # "a" twice: a re-accept replaces it
        photo = tmp_path / f"{name}.png"
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(photo)
        mask = np.zeros((12, 16), bool)
        mask[2:6 + i, 3:9] = True
        folder.write(photo.name, photo, [{"mask": mask, "class": ("cat", "dog")[i % 2],
                                          "score": 0.5 + i / 10}],
                     prompts={"objects": [{"points": [[4, 4]], "labels": [1]}]})
        written = json.loads((tmp_path / "out" / "annotations" / "instances.json").read_text())
        parts = [json.loads(p.read_text()) for p in
                 sorted((tmp_path / "out" / "annotations" / "parts").glob("[!.]*.json"))]
        assert written == coco_output.instances_json(parts, folder.classes.coco_categories(),
                                                     category_offset=COCO_ID_OFFSET)
        prompts = json.loads((tmp_path / "out" / "prompts.json").read_text())
        assert sorted(prompts) == sorted(p["image"]["file_name"] for p in parts)
    assert [im["file_name"] for im in written["images"]] == ["a.jpg", "b.jpg", "c.jpg"]
    folder.close()
