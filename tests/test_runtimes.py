"""segmodel.serving.runtimes: every kind of model file loads with its own runtime and gives the
Keras model's probabilities; bad files and wrong sizes are clear errors naming the file."""

import json

import keras
import numpy as np
import pytest

from segmodel.models.builtin import build_model
from segmodel.serving import runtimes
from segmodel.serving.export import export_saved_model

SIZE = 32


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{kind: path} for one tiny chapter model saved as .keras, SavedModel, .tflite and .onnx."""
    root = tmp_path_factory.mktemp("runtimes")
    keras.utils.set_random_seed(5)
    model = build_model("chapter", image_size=(SIZE, SIZE))
    model.save(root / "model.keras")
    (root / "run.json").write_text(json.dumps({"dataset": {
        "classes": ["pet", "background", "border"], "palette": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}}))
    model.export(str(root / "model.tflite"), format="litert", verbose=False)
    model.export(str(root / "model.onnx"), format="onnx", verbose=False)
    return model, {"keras": root / "model.keras",
                   "saved_model": export_saved_model(root / "model.keras", root / "export"),
                   "litert": root / "model.tflite", "onnx": root / "model.onnx"}


@pytest.mark.parametrize("kind", runtimes.KINDS)
def test_each_runtime_gives_the_keras_probabilities(files, kind):
    model, paths = files
    runner = runtimes.load_runner(paths[kind])
    assert runner.kind == kind and runner.input_size == (SIZE, SIZE)
    pixels = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    probs = runner.probabilities(pixels)
    assert probs.dtype == np.float32 and probs.shape == (3, SIZE, SIZE, 3)
    np.testing.assert_allclose(probs, model.predict(pixels.astype(np.float32), verbose=0),
                               atol=1e-5)
    if kind in ("keras", "saved_model"):  # from run.json, directly or through segkit.json
        assert runner.classes == ["pet", "background", "border"]
        assert runner.palette == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    # Any size in, the same size out; the arg-max of resized probabilities.
    image = np.random.default_rng(1).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    assert runtimes.probabilities_at(runner, image).shape == (45, 70, 3)
    with pytest.raises(ValueError, match=f"{paths[kind].name}.*takes 32x32 images.*got 40x48"):
        runner.probabilities(np.zeros((1, 40, 48, 3), np.uint8))


def test_bad_paths_name_the_file_and_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tflite does not exist.*Pass"):
        runtimes.load_runner(tmp_path / "missing.tflite")
    for name, message in (("bad.tflite", "not a valid LiteRT"), ("bad.onnx", "not a valid ONNX"),
                          ("notes.txt", "Cannot tell which runtime")):
        (tmp_path / name).write_bytes(b"not a model" * 20)
        with pytest.raises(ValueError, match=message):
            runtimes.load_runner(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="not an export version folder"):
        runtimes.load_runner(tmp_path)
