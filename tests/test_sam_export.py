"""tools/export_sam.py: a SAM SavedModel that plain TensorFlow loads, equal to SamPredictor."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segmodel.sam import SamPredictor
from segmodel.testing import smooth_image as _image
from segmodel.testing import tiny_sam as tiny_segmenter

ROOT = pathlib.Path(__file__).resolve().parents[1]
from segmodel.cli import export_sam  # noqa: E402

CASES = {  # name: (points, labels, boxes); the mask rule picks multimask for "one_point"
    "one_point": ([[30, 20]], [1], []),
    "two_points": ([[30, 20], [70, 40]], [1, 0], []),
    "box": ([], [], [[5, 5, 80, 50]]),
    "box_and_point": ([[40, 30]], [1], [[0, 10, 90, 60]]),
}

# Runs in a fresh interpreter: loading and serving must need nothing but TensorFlow.
LOADER = """
import sys, json, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
cases, out = json.loads(sys.argv[3]), {}
for image in sys.argv[4:]:
    data = tf.constant(open(image, "rb").read())
    for name, (points, labels, boxes) in cases.items():
        r = model.signatures["serving_default"](
            image=data, points=tf.constant(np.float32(points).reshape(-1, 2)),
            labels=tf.constant(np.int32(labels)), boxes=tf.constant(np.float32(boxes).reshape(-1, 4)))
        out[image + ":" + name + ":mask"] = r["mask"].numpy()
        out[image + ":" + name + ":score"] = r["score"].numpy()
assert not any(m.startswith(("keras_hub", "segmodel")) for m in sys.modules), "not plain TF"
np.savez(sys.argv[2], **out)
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("sam_export")
    tiny_segmenter(seed=4).save_to_preset(str(base / "preset"))
    assert export_sam.main(["--preset", str(base / "preset"), "--output-dir",
                            str(base / "export")]) == 0
    Image.fromarray(_image(60, 90, seed=1)).save(base / "photo.png")
    Image.fromarray(_image(70, 100, seed=2)).save(base / "photo.jpg", quality=90)
    return base


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported / "export" / "1"))


def test_plain_tensorflow_serves_what_sam_predictor_predicts(exported, tmp_path):
    version = exported / "export" / "1"
    assert (version / "saved_model.pb").is_file()
    meta = json.loads((version / "assets.extra" / "segkit.json").read_text())
    assert set(meta["signatures"]) == {"serving_default", "encode", "decode"}
    assert meta["signatures"]["serving_default"]["outputs"]["mask"]["dtype"] == "uint8"
    images = [str(exported / "photo.png"), str(exported / "photo.jpg")]
    subprocess.run([sys.executable, "-c", LOADER, str(version), str(tmp_path / "out.npz"),
                    json.dumps(CASES), *images], check=True, timeout=600)
    served = np.load(tmp_path / "out.npz")
    predictor = SamPredictor.from_preset(str(exported / "preset"))
    for image in images:
        predictor.set_image(image)  # decoded from the file, as the export decodes the bytes
        for name, (points, labels, boxes) in CASES.items():
            logits, scores, _ = predictor.predict(
                points or None, labels or None, boxes[0] if boxes else None,
                multimask_output=name == "one_point", return_logits=True)
            mask = served[f"{image}:{name}:mask"]
            assert mask.dtype == np.uint8 and mask.shape == logits.shape[1:]
            assert float(served[f"{image}:{name}:score"]) == pytest.approx(scores[0], abs=1e-4)
            decided = np.abs(logits[0]) > 1e-3
            np.testing.assert_array_equal(mask[decided], (logits[0] > 0)[decided])


def test_encode_once_decode_per_click(exported, loaded):
    model = loaded
    data = tf.constant((exported / "photo.png").read_bytes())
    encoded = model.signatures["encode"](image=data)
    assert encoded["original_size"].numpy().tolist() == [60, 90]
    predictor = SamPredictor.from_preset(str(exported / "preset"))
    predictor.set_image(exported / "photo.png")
    np.testing.assert_allclose(encoded["embedding"].numpy(), predictor.get_image_embedding(),
                               atol=1e-4)
    out = model.signatures["decode"](
        embedding=encoded["embedding"], original_size=encoded["original_size"],
        points=tf.constant([[30.0, 20.0]]), labels=tf.constant([1]), boxes=tf.zeros([0, 4]))
    masks, scores, _ = predictor.predict([[30, 20]], [1])
    assert out["masks"].shape == (3, 60, 90)  # one point alone: all three candidates
    np.testing.assert_allclose(out["scores"].numpy(), scores, atol=1e-4)


@pytest.mark.parametrize("points,labels,boxes,match", [
    (np.zeros((0, 2)), [], np.zeros((0, 4)), "No prompt"),
    ([[5, 5]], [1], [[0, 0, 5, 5], [1, 1, 6, 6]], "one box per request"),
    ([[5, 5]], [2], np.zeros((0, 4)), "labels must be 1"),
    ([[500, 5]], [1], np.zeros((0, 4)), "outside the image"),
    ([[5, 5], [6, 6]], [1], np.zeros((0, 4)), "one label per point"),
    (np.zeros((0, 2)), [], [[50, 5, 10, 40]], "box must be"),
])
def test_bad_prompts_are_invalid_argument_errors(exported, loaded, points, labels, boxes,
                                                 match):
    model = loaded
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        model.signatures["serving_default"](
            image=tf.constant((exported / "photo.png").read_bytes()),
            points=tf.constant(np.float32(points).reshape(-1, 2)),
            labels=tf.constant(np.int32(labels)),
            boxes=tf.constant(np.float32(boxes).reshape(-1, 4)))


def test_next_export_is_a_new_version_and_errors_are_clean(exported, capsys):
    assert export_sam.main(["--preset", str(exported / "preset"), "--output-dir",
                            str(exported / "export"), "--version", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert export_sam.main(["--preset", str(exported / "missing"), "--output-dir",
                            str(exported / "export")]) == 2
    assert "does not exist" in capsys.readouterr().err
