"""Pre-labels and the uncertainty ranking from a trained segkit model
(segmodel.sam.labelling.prelabels, segmodel.evaluation.uncertainty, `segkit rank`), on a tiny
seeded U-Net run; the references are the Keras model called directly and numpy."""

import csv
import pathlib

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from segmodel.cli import main as segkit
from segmodel.evaluation import uncertainty
from segmodel.sam.labelling import prelabels
from segmodel.sam.labelling.classes import ClassList
from segmodel.serving.runtimes import load_runner
from segmodel.testing import save_tiny_run, smooth_image

CLASSES = ClassList(("cat", "dog"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return save_tiny_run(tmp_path_factory.mktemp("run") / "run", seed=3)


@pytest.fixture(scope="module")
def keras_model(run):
    import keras

    return keras.models.load_model(run, compile=False)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i, (h, w) in enumerate([(32, 32), (32, 32), (40, 56), (32, 32), (24, 48)]):
        Image.fromarray(smooth_image(h, w, seed=10 + i)).save(folder / f"p{i}.png")
    return folder


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_class_regions_are_the_connected_regions_per_class():
    label = np.zeros((12, 12), np.uint8)
    label[1:4, 1:4] = 1          # 9 px
    label[4:6, 4:6] = 1          # touches the first only at a corner: same 8-region
    label[8:11, 1:3] = 1         # 6 px, separate
    label[1:3, 8:11] = 2         # 6 px
    label[10, 10] = 2            # a 1 px speck
    label[6, 11] = 255           # not a class
    regions = prelabels.class_regions(label, 2)
    assert [(c, a) for _, c, a in regions] == [(1, 13), (1, 6), (2, 6), (2, 1)]
    masks = [m for m, _, _ in regions]
    for mask, class_id, area in regions:
        assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1  # connected
        assert mask.sum() == area and (label[mask] == class_id).all()
    # Together they are exactly the class pixels, without overlap.
    assert (np.sum(masks, axis=0) == np.isin(label, (1, 2))).all()
    # --min-area drops the speck (and only it).
    assert [a for _, _, a in prelabels.class_regions(label, 2, min_area=2)] == [13, 6, 6]


def test_prelabels_equal_the_models_own_argmax(run, keras_model, photos):
    runner = load_runner(run)
    prelabeller = prelabels.PreLabeller(runner, CLASSES, min_area=0)
    for name in ("p0.png", "p1.png"):  # at the model's input size: no resizing anywhere
        image = _pixels(photos / name)
        expected = np.argmax(keras_model.predict(image[None].astype(np.float32), verbose=0)[0],
                             axis=-1)
        objects = prelabeller.objects(image)
        assert objects, "the tiny model predicts some foreground"
        painted = prelabels.paint([(o["mask"], o["category_id"]) for o in objects],
                                  image.shape[:2])
        np.testing.assert_array_equal(painted, expected)
        for o in objects:  # each object is one connected region of one class, boxed
            assert ndimage.label(o["mask"], structure=np.ones((3, 3)))[1] == 1
            x0, y0, x1, y1 = o["box"]
            assert o["mask"][y0:y1, x0:x1].sum() == o["mask"].sum()
    # Another size: probabilities resized bilinearly to the photo, then the arg-max.
    import tensorflow as tf

    from segdata.input import transforms

    image = _pixels(photos / "p2.png")
    small = transforms.resize_image(image, (32, 32)).numpy().astype(np.float32)
    probs = tf.image.resize(keras_model.predict(small[None], verbose=0)[0], image.shape[:2],
                            method="bilinear").numpy()
    painted = prelabels.paint([(o["mask"], o["category_id"])
                               for o in prelabeller.objects(image)], image.shape[:2])
    np.testing.assert_array_equal(painted, np.argmax(probs, -1))


def test_min_area_drops_small_regions(run, photos):
    runner = load_runner(run)
    image = _pixels(photos / "p2.png")
    every = prelabels.PreLabeller(runner, CLASSES, min_area=0).objects(image)
    cut = 1 + int(np.median([o["mask"].sum() for o in every]))
    kept = prelabels.PreLabeller(runner, CLASSES, min_area=cut).objects(image)
    assert 0 < len(kept) < len(every)
    assert all(o["mask"].sum() >= cut for o in kept)
    assert sorted(o["mask"].sum() for o in kept) == sorted(
        o["mask"].sum() for o in every if o["mask"].sum() >= cut)


def test_model_and_folder_classes_must_match(run):
    runner = load_runner(run)
    with pytest.raises(ValueError) as err:
        prelabels.PreLabeller(runner, ClassList(("cat", "bird")))
    message = str(err.value)
    assert "['background', 'cat', 'dog']" in message and "['background', 'cat', 'bird']" in message
    # Class 0 under another background name (VOC's, or an unnamed model's) is the background.
    for name in ("_background_", "class_0", "Background"):
        runner.classes[0] = name
        prelabels.PreLabeller(runner, CLASSES)
    runner.classes[0] = "road"  # a class, not the background (Cityscapes' train id 0)
    with pytest.raises(ValueError, match="'road'"):
        prelabels.PreLabeller(runner, CLASSES)
    with pytest.raises(ValueError, match="min-area"):
        prelabels.PreLabeller(runner, CLASSES, min_area=-1)


def test_accept_records():
    pre = np.zeros((4, 5), np.uint8)
    pre[0:2, 0:2] = 1
    pre[3, 3:5] = 2
    same = prelabels.accept_record(pre, pre.copy(), ["cat", "dog"], from_model=True)
    assert same == {"origin": "pre-labelled", "changed_fraction": 0.0,
                    "classes": {"cat": {"pre": 4, "final": 4, "changed": 0},
                                "dog": {"pre": 2, "final": 2, "changed": 0}}}
    final = pre.copy()
    final[0, 0] = 0  # one cat pixel erased
    edited = prelabels.accept_record(pre, final, ["cat", "dog"], from_model=True)
    assert edited["origin"] == "edited" and edited["changed_fraction"] == 0.05
    assert edited["classes"]["cat"] == {"pre": 4, "final": 3, "changed": 1}
    assert prelabels.accept_record(pre, final, ["cat", "dog"], False)["origin"] == "new"
    scratch = prelabels.accept_record(None, final, ["cat", "dog"], False)
    assert scratch["origin"] == "new" and scratch["classes"]["cat"]["pre"] == 0
    summary = prelabels.summarize([same, edited, scratch, {"objects": []}], ["cat", "dog"])
    assert summary["all"] == {"pre-labelled": 1, "edited": 1, "new": 1}
    assert summary["cat"]["pre-labelled"] == 1 and summary["cat"]["edited"] == 1
    # dog: unchanged twice; the image labelled without a model does not count against it.
    assert summary["dog"] == {"pre-labelled": 2, "edited": 0, "new": 1,
                              "changed_fraction": 0.0}
    assert summary["cat"]["changed_fraction"] == 0.125  # 1 px of a 4 + 4 px union
    assert scratch["changed_fraction"] is None
    lines = prelabels.format_summary(summary)
    assert lines[0].startswith("accepted images: 1 as pre-labelled, 1 edited, 1 labelled")


def _entropy(p):
    """Independent reference: -sum p log p per pixel, mean over the image."""
    p = p.astype(np.float64)
    return float(np.mean(-np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=-1)))


def test_uncertainty_order_equals_an_independent_entropy(run, keras_model, photos, tmp_path,
                                                         capsys):
    import tensorflow as tf

    from segdata.input import transforms

    expected = {}
    for path in sorted(photos.glob("*.png")):
        image = _pixels(path)
        small = transforms.resize_image(image, (32, 32)).numpy().astype(np.float32)
        probs = keras_model.predict(small[None], verbose=0)[0]
        if image.shape[:2] != (32, 32):
            probs = tf.image.resize(probs, image.shape[:2], method="bilinear").numpy()
        expected[path.name] = _entropy(probs)
    order = sorted(expected, key=lambda n: -expected[n])
    assert len(set(np.round(list(expected.values()), 4))) == len(expected)  # no ties
    out = tmp_path / "rank.csv"
    assert segkit(["rank", "--model", str(run), "--images", str(photos),
                   "--output", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == order
    np.testing.assert_allclose([float(r["score"]) for r in rows],
                               [expected[n] for n in order], atol=2e-5)
    assert "entropy" in capsys.readouterr().out
    # An undecodable file is named and left out; the others are ranked as before.
    (photos / "zz_broken.png").write_bytes(b"not a png")
    try:
        assert segkit(["rank", "--model", str(run), "--images", str(photos),
                       "--output", str(out)]) == 0
        assert "zz_broken.png" in capsys.readouterr().err
        assert list(uncertainty.read_rank_csv(out)) == order
    finally:
        (photos / "zz_broken.png").unlink()
    # --labelled-dir leaves out what a masks folder has labelled (its mask and part written).
    done = tmp_path / "labelled"
    (done / "annotations" / "parts").mkdir(parents=True)
    (done / "masks").mkdir()
    (done / "annotations" / "parts" / f"{pathlib.Path(order[0]).stem}.json").write_text("{}")
    (done / "masks" / f"{pathlib.Path(order[0]).stem}.png").write_bytes(b"")
    assert segkit(["rank", "--model", str(run), "--images", str(photos), "--output", str(out),
                   "--labelled-dir", str(done)]) == 0
    assert list(uncertainty.read_rank_csv(out)) == order[1:]


def test_rank_errors_name_the_argument(run, photos, tmp_path, capsys):
    assert segkit(["rank", "--model", str(tmp_path / "nope.keras"), "--images", str(photos),
                   "--output", str(tmp_path / "r.csv")]) == 2
    assert "nope.keras" in capsys.readouterr().err
    assert segkit(["rank", "--model", str(run), "--images", str(tmp_path / "none"),
                   "--output", str(tmp_path / "r.csv")]) == 2
    assert "--images" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_prelabels_from_a_savedmodel_export_equal_its_own_argmax(run, photos, tmp_path):
    import tensorflow as tf

    from segdata.input import transforms
    from segmodel.serving.export import export_saved_model

    version = export_saved_model(run, tmp_path / "export")  # classes from the run's run.json
    runner = load_runner(tmp_path / "export")
    assert runner.kind == "saved_model" and runner.classes == ["background", "cat", "dog"]
    signature = tf.saved_model.load(str(version)).signatures["predict_pixels"]
    prelabeller = prelabels.PreLabeller(runner, CLASSES)
    for name in ("p0.png", "p2.png"):
        image = _pixels(photos / name)
        small = transforms.resize_image(image, (32, 32)).numpy().astype(np.float32)
        probs = signature(images=tf.constant(small[None]))["probabilities"][0]
        probs = tf.image.resize(probs, image.shape[:2], method="bilinear").numpy()
        painted = prelabels.paint([(o["mask"], o["category_id"])
                                   for o in prelabeller.objects(image)], image.shape[:2])
        np.testing.assert_array_equal(painted, np.argmax(probs, -1))


def test_sam_label_model_writes_the_prelabels_as_a_masks_folder(run, keras_model, photos,
                                                                tmp_path, capsys):
    import json

    from segmodel.sam.labelling import coco_output

    out = tmp_path / "out"
    assert segkit(["sam-label", "--images", str(photos), "--model", str(run), "--output-dir",
                   str(out), "--no-progress"]) == 0  # no --preset: SAM is not needed
    assert "5 labelled" in capsys.readouterr().out
    assert json.loads((out / "classes.json").read_text())["classes"] == \
        ["background", "cat", "dog"]
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    prompts = json.loads((out / "prompts.json").read_text())
    for i in (0, 1):  # at the model's input size: the written mask is its arg-max
        image = _pixels(photos / f"p{i}.png")
        expected = np.argmax(keras_model.predict(image[None].astype(np.float32), verbose=0)[0],
                             -1)
        np.testing.assert_array_equal(np.asarray(Image.open(out / "masks" / f"p{i}.png")),
                                      expected)
        (image_id,) = [im["id"] for im in coco["images"] if im["file_name"] == f"p{i}.jpg"]
        anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
        assert len(anns) == len(prelabels.class_regions(expected, 2))
        for a in anns:
            mask = coco_output.decode_mask(a["segmentation"])
            assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1
            assert (expected[mask] == a["category_id"] - 1).all()  # background is category 1
        assert prompts[f"p{i}.jpg"]["model"] == str(run)
    # The folder's classes must be the model's.
    assert segkit(["sam-label", "--images", str(photos), "--model", str(run), "--output-dir",
                   str(tmp_path / "b"), "--classes", "cat", "bird", "--no-progress"]) == 2
    assert "['background', 'cat', 'bird']" in capsys.readouterr().err
