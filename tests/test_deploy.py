"""LiteRT and ONNX exports (segmodel.serving.deploy, `segkit export --format`): each file is run
by its own runtime in a process that never imports segkit (tests/deploy_client.py) and compared
with the Keras model on held-out records; the metadata travels inside the file and beside it;
`segkit predict` / `segkit evaluate` take the files; bad input is a clear error."""

import json
import shutil

import keras
import numpy as np
import pytest
from deploy_client import run_client
from PIL import Image

from segdata.input.pipeline import load_dataset
from segdata.io.fsio import sha256_file
from segdata.records.manifest import read_manifest
from segmodel.cli import evaluate as evaluate_cli
from segmodel.cli import export as export_cli
from segmodel.cli import predict as predict_cli
from segmodel.models.builtin import build_model
from segmodel.serving import converters, deploy, windows
from segmodel.training import runinfo

pytestmark = pytest.mark.slow

SIZE = 32


def make_run(root, records, model):
    """A run folder as training leaves it: model.keras and run.json naming records and classes."""
    root.mkdir(parents=True, exist_ok=True)
    model.save(root / "model.keras")
    (root / "run.json").write_text(json.dumps({
        "options": {"records": str(records)},
        "dataset": runinfo.dataset_info(read_manifest(records))}))
    return root / "model.keras"


def held_out(records, count=12):
    """uint8 [N, S, S, 3] validation images and their masks, as training decodes them."""
    images, masks = next(load_dataset(records, "validation", image_size=SIZE,
                                      batch_size=count).as_numpy_iterator())
    return images.astype(np.uint8), masks[..., 0]


@pytest.fixture(scope="module")
def run_model(records_dir, tmp_path_factory):
    """(keras model, RUN/model.keras) for a seeded chapter model in a run of records_dir."""
    keras.utils.set_random_seed(11)
    model = build_model("chapter", image_size=(SIZE, SIZE))
    return model, make_run(tmp_path_factory.mktemp("deploy") / "run", records_dir, model)


@pytest.mark.parametrize("export_format,quantize", [("litert", "none"), ("onnx", "none")])
def test_float_file_matches_keras_in_its_own_runtime(run_model, records_dir, tmp_path,
                                                    export_format, quantize):
    model, model_file = run_model
    version, agreement = deploy.export_model(model_file, tmp_path / "export",
                                             export_format=export_format, quantize=quantize)
    assert version == tmp_path / "export" / "1"
    files = sorted(p.name for p in version.iterdir())
    name = {"litert": "model.tflite", "onnx": "model.onnx"}[export_format]
    assert files == sorted([name, "segkit.json"])
    assert not [p for p in (tmp_path / "export").iterdir() if p.name.startswith(".")]

    images, _ = held_out(records_dir)
    # Photos of other sizes than the input (smaller, larger, another aspect): the client
    # follows the metadata's "postprocessing" in NumPy alone.
    sizes = [(45, 70), (20, 33), (SIZE, SIZE), (97, 41)] * 3
    probabilities, embedded, masks = run_client(version / name, images, tmp_path, sizes)
    reference = model.predict(images.astype(np.float32), verbose=0)
    agree = np.mean(probabilities.argmax(-1) == reference.argmax(-1))
    assert agree >= 0.999, agree
    np.testing.assert_allclose(probabilities, reference, atol=1e-4)
    for mask, size, probs in zip(masks, sizes, reference):
        want = windows.classes_at(probs, size).numpy()  # what segkit predict / evaluate give
        assert mask.shape == size and np.mean(mask == want) >= 0.999
    assert "bilinear" in embedded["postprocessing"]["to_original_size"]
    assert "mask_resize_to_original" not in json.dumps(embedded)  # nearest: no longer true

    # What a client needs, inside the file and beside it (plus the file's own hash there).
    sidecar = json.loads((version / "segkit.json").read_text())
    for meta in (embedded, sidecar):
        assert meta["label_names"] == ["foreground", "background", "outline"]
        assert meta["input_size"] == [SIZE, SIZE] and meta["num_classes"] == 3
        assert len(meta["palette"]) == 3
        assert meta["input"]["dtype"] == "float32" and meta["input"]["range"] == [0, 255]
        assert meta["input"]["color"] == "RGB"
        assert meta["output"]["kind"] == "probabilities"
        assert meta["source"]["sha256"] == sha256_file(model_file)
        assert meta["format"] == export_format and meta["quantization"] == quantize
    assert sidecar["file_sha256"] == sha256_file(version / name)
    # The export checked itself on the run's validation records.
    assert sidecar["agreement"]["pixel_agreement"] == agreement["pixel_agreement"] >= 0.999
    assert agreement["images"] == 12 and abs(agreement["mean_iou_difference"]) < 1e-6


def test_cli_export_predict_and_evaluate_take_the_files(run_model, records_dir, pets_dir,
                                                        tmp_path, capsys):
    _, model_file = run_model
    for export_format in ("litert", "onnx"):
        assert export_cli.main(["--model", str(model_file), "--output-dir",
                                str(tmp_path / export_format), "--format", export_format,
                                "--agreement-images", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count("agreement with the Keras model on 6 validation images") == 2
    assert "100.00% of pixels" in out and "(+0.0000)" in out
    tflite, onnx_file = tmp_path / "litert/1/model.tflite", tmp_path / "onnx/1/model.onnx"

    # evaluate: the same numbers as the Keras model, at input and at original resolution. At
    # the original size the probabilities are resized bilinearly before the arg-max, so a
    # float difference in the 6th digit can flip a pixel where two classes tie: a few pixels
    # of ~10^5 (measured: 6e-6 of IoU).
    for at, tolerance in (("input", 1e-6), ("original", 1e-4)):
        scores = {}
        for model in (model_file, tflite, onnx_file):
            assert evaluate_cli.main(["--model", str(model), "--records", str(records_dir),
                                      "--at", at, "--no-progress"]) == 0
            scores[model.suffix] = json.loads(capsys.readouterr().out.split("\n}")[0] + "}")
        assert scores[".tflite"]["per_class_iou"] == pytest.approx(
            scores[".keras"]["per_class_iou"], abs=tolerance), at
        assert scores[".onnx"]["pixel_accuracy"] == pytest.approx(
            scores[".keras"]["pixel_accuracy"], abs=tolerance), at

    # predict: a mask at the image's own size whose values are class ids; the base folder works.
    image = next((pets_dir / "images").glob("*.jpg"))
    for model in (tflite, tmp_path / "onnx"):
        out_dir = tmp_path / f"pred-{model.name}"
        assert predict_cli.main(["--model", str(model), "--image", str(image),
                                 "--output-dir", str(out_dir)]) == 0
        mask = np.array(Image.open(out_dir / f"{image.stem}_mask.png"))
        assert mask.shape == Image.open(image).size[::-1] and mask.max() <= 2
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert set(result["class_fractions"]) == {"foreground", "background", "outline"}


def test_bad_input_is_a_clear_error(run_model, records_dir, tmp_path, capsys):
    model, model_file = run_model
    # Calibration records of another dataset (other classes): named, nothing written.
    other = tmp_path / "other-records"
    shutil.copytree(records_dir, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest.update(classes=["background", "person", "car", "tree"], foreground_class=None)
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert export_cli.main(["--model", str(model_file), "--output-dir", str(tmp_path / "x"),
                            "--format", "litert", "--quantize", "int8",
                            "--calibration-records", str(other)]) == 2
    err = capsys.readouterr().err
    assert "--calibration-records" in err and str(other) in err and "another dataset" in err
    assert "person" in err and "outline" in err
    assert not (tmp_path / "x").exists()
    # A model outside a run folder takes its class names from the records it is checked on.
    four = build_model("chapter", image_size=(SIZE, SIZE), num_classes=4)
    version, agreement = deploy.export_model(four, tmp_path / "four", export_format="onnx",
                                             validation_records=other, agreement_images=4)
    meta = json.loads((version / "segkit.json").read_text())
    assert meta["label_names"] == ["background", "person", "car", "tree"]
    assert agreement["images"] == 4 and agreement["pixel_agreement"] == 1.0
    # Quantization is LiteRT's; int8 needs records.
    with pytest.raises(ValueError, match="--quantize int8 is for --format litert"):
        deploy.export_model(model, tmp_path / "y", export_format="onnx", quantize="int8")
    with pytest.raises(ValueError, match="pass --calibration-records"):
        deploy.export_model(model, tmp_path / "y", export_format="litert", quantize="int8")
    # A corrupt file: predict and evaluate name it.
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x00" * 64)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(image)
    assert predict_cli.main(["--model", str(bad), "--image", str(image),
                             "--output-dir", str(tmp_path / "p")]) == 2
    assert f"{bad} is not a valid LiteRT" in capsys.readouterr().err
    assert evaluate_cli.main(["--model", str(bad), "--records", str(records_dir)]) == 2
    assert f"{bad} is not a valid LiteRT" in capsys.readouterr().err


def test_unsupported_op_names_the_layer(tmp_path):
    """A layer LiteRT has no builtin kernel for: the error names the op and the layer."""
    import tensorflow as tf

    class Spectrum(keras.layers.Layer):
        def call(self, x):
            spectrum = tf.signal.fft2d(tf.cast(tf.transpose(x, [0, 3, 1, 2]), tf.complex64))
            return tf.transpose(tf.math.abs(spectrum), [0, 2, 3, 1])

    inputs = keras.Input((SIZE, SIZE, 3))
    x = Spectrum(name="spectrum")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax")(x))
    with pytest.raises(converters.ConversionError) as caught:
        deploy.export_model(model, tmp_path / "lite", export_format="litert")
    message = str(caught.value)
    assert "FFT2D" in message and "spectrum" in message and "--format onnx" in message
    assert not any((tmp_path / "lite").glob("*/model.tflite"))
