"""tools/evaluate.py and segmodel.evaluation.evaluate: the boundary F-score, numbers that match an
independent count, the same numbers from a .keras file and its SavedModel, original-size scoring,
the report and figures."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from segmodel.evaluation.boundary import boundary_f1

pytestmark = pytest.mark.slow

SIZE = 32


def disk(shape, center, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius ** 2


def test_boundary_f1_matches_within_two_pixels():
    truth = disk((40, 40), (20, 20), 10)
    assert boundary_f1(truth, truth) == 1.0
    assert boundary_f1(truth, disk((40, 40), (20, 22), 10)) == 1.0  # 2 px off: still matched
    shifted = boundary_f1(truth, disk((40, 40), (20, 26), 10))
    assert 0.1 < shifted < 0.7
    empty = np.zeros_like(truth)
    assert boundary_f1(empty, empty) == 1.0 and boundary_f1(truth, empty) == 0.0
    # The image border is not a boundary: a mask covering the whole image has none.
    full = np.ones_like(truth)
    assert boundary_f1(full, full) == 1.0
    # Ignored pixels do not count.
    valid = np.ones_like(truth)
    valid[:, 24:] = False
    assert boundary_f1(truth, truth & ~(disk((40, 40), (20, 33), 6)), valid=valid) == 1.0


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """A small random-weight U-Net saved as .keras and exported as EXPORT/1."""
    from segmodel import build_model
    from segmodel.serving.export import export_saved_model

    root = tmp_path_factory.mktemp("eval")
    keras.utils.set_random_seed(0)
    model = build_model("unet", image_size=(SIZE, SIZE), base_filters=4)
    model.save(root / "model.keras")
    return root / "model.keras", export_saved_model(root / "model.keras", root / "export")


def independent_scores(model_path, records):
    """Per-class IoU and pixel accuracy from load_dataset + Keras, counted with NumPy."""
    import segdata

    model = keras.models.load_model(model_path)
    inter, union = np.zeros(3), np.zeros(3)
    correct = total = 0
    for x, y in segdata.load_dataset(records, "validation", image_size=SIZE, batch_size=5):
        pred, true = model.predict(x, verbose=0).argmax(-1), y.numpy()[..., 0]
        for c in range(3):
            inter[c] += np.sum((pred == c) & (true == c))
            union[c] += np.sum((pred == c) | (true == c))
        correct, total = correct + np.sum(pred == true), total + true.size
    return inter / union, correct / total


def test_keras_and_saved_model_agree_with_an_independent_count(model_files, records_dir,
                                                                tmp_path):
    from segmodel.evaluation.evaluate import evaluate

    keras_file, version = model_files
    a = evaluate(keras_file, records_dir, batch_size=5, worst=2, output_dir=tmp_path / "k",
                 progress=False)
    b = evaluate(version, records_dir, batch_size=5, output_dir=tmp_path / "s", progress=False)
    per_class, accuracy = independent_scores(keras_file, records_dir)
    assert a["per_class_iou"] == pytest.approx(per_class.tolist(), abs=1e-9)
    assert a["pixel_accuracy"] == pytest.approx(accuracy)
    assert a["foreground_iou"] == pytest.approx(per_class[0])
    assert a["mean_iou"] == pytest.approx(per_class.mean())
    assert a["num_images"] == 12 and a["at"] == "input" and a["model_kind"] == "keras"
    assert np.sum(a["confusion_matrix"]) == 12 * SIZE * SIZE
    assert b["model_kind"] == "saved_model"
    for key in ("foreground_iou", "mean_iou", "pixel_accuracy", "boundary_f1"):
        assert b[key] == pytest.approx(a[key], abs=0.002), key
    report = json.loads((tmp_path / "k" / "metrics.json").read_text())
    for key in ("foreground_iou", "mean_iou", "per_class_iou", "pixel_accuracy", "boundary_f1",
                "confusion_matrix", "num_images", "at", "model", "records"):
        assert key in report, key
    assert len(report["worst"]) == 2
    assert report["worst"][0]["foreground_iou"] <= report["worst"][1]["foreground_iou"]
    for name in ("confusion_matrix.png", "worst.png"):
        with Image.open(tmp_path / "k" / name) as img:
            assert img.format == "PNG"


def test_original_size_counts_every_original_pixel(model_files, records_dir, pets_dir, tmp_path):
    keras_file, version = model_files
    proc = subprocess.run(
        [sys.executable, "tools/evaluate.py", "--model", str(version), "--records",
         str(records_dir), "--at", "original", "--output-dir", str(tmp_path), "--no-progress"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["at"] == "original" and report["num_images"] == 12
    from segdata import read_example

    pixels = sum(read_example(records_dir, "validation", i)[1].size for i in range(12))
    assert np.sum(report["confusion_matrix"]) == pixels


def test_missing_model_is_a_clear_error(records_dir, tmp_path):
    proc = subprocess.run([sys.executable, "tools/evaluate.py", "--model",
                           str(tmp_path / "nope"), "--records", str(records_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
