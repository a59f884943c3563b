"""SavedModel export: signatures, round trip against the Keras model, bad input, loading
without segkit, mixed precision. Models are tiny (32 px) so that tracing stays fast."""

import io
import os
import pathlib
import re
import subprocess
import sys
import sysconfig

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segmodel import build_model
from segmodel.serving.export import export_saved_model, load_keras_model
from segmodel.serving.metadata import read_metadata

pytestmark = pytest.mark.slow

SIZE = 32


def encode(array, fmt):
    """bytes of a PIL-encoded uint8 array ([h, w] grayscale, [h, w, 3] RGB, [h, w, 4] RGBA)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, quality=95)
    return buffer.getvalue()


def smooth_image(shape, seed):
    """uint8 image with large blobs, like a photo, so JPEG keeps it close to the original."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4) + shape[2:], dtype=np.uint8)
    return np.array(Image.fromarray(small).resize(shape[1::-1], Image.BILINEAR))


def keras_masks(model, arrays):
    """uint8 [N, S, S]: argmax of the Keras model on PIL-decoded images resized like training."""
    rgb = [np.asarray(Image.fromarray(a).convert("RGB")) for a in arrays]
    pixels = tf.stack([tf.image.resize(a, (SIZE, SIZE), method="bilinear") for a in rgb])
    return np.argmax(model.predict(pixels, verbose=0), axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def chapter_export(tmp_path_factory):
    """(keras model, EXPORT/1) for the chapter model saved to a .keras file as training does."""
    root = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(3)
    model = build_model("chapter", image_size=(SIZE, SIZE))
    model.save(root / "model.keras")
    return model, export_saved_model(root / "model.keras", root / "export")


@pytest.fixture(scope="module")
def served(chapter_export):
    return tf.saved_model.load(str(chapter_export[1]))


@pytest.fixture(scope="module")
def sample_images():
    """Encoded inputs of several sizes and formats, with their uint8 arrays."""
    arrays = [smooth_image((50, 70, 3), 0), smooth_image((41, 33, 3), 1),
              smooth_image((64, 48), 2), smooth_image((37, 90, 4), 3)]
    formats = ["JPEG", "PNG", "PNG", "PNG"]  # RGB JPEG, RGB PNG, grayscale PNG, RGBA PNG
    return arrays, [encode(a, f) for a, f in zip(arrays, formats)]


def test_layout_and_metadata(chapter_export):
    _, version_dir = chapter_export
    assert version_dir.name == "1"
    for name in ("saved_model.pb", "fingerprint.pb", "variables/variables.index"):
        assert (version_dir / name).is_file(), name
    assert sorted(p.name for p in version_dir.parent.iterdir()) == ["1"]  # no temp folder left
    meta = read_metadata(version_dir)
    assert meta["label_names"] == ["foreground", "background", "outline"]
    assert meta["class_ids"] == {"foreground": 0, "background": 1, "outline": 2}
    assert meta["input_size"] == [SIZE, SIZE] and meta["num_classes"] == 3
    assert meta["precision"]["dtype_policy"] == "float32"
    assert meta["source"]["model"].endswith("model.keras")
    assert set(meta["signatures"]) == {"serving_default", "segment_image", "predict_pixels"}
    assert meta["signatures"]["serving_default"]["inputs"] == {
        "images": {"dtype": "string", "shape": [None]}}


def test_round_trip_matches_keras(chapter_export, served, sample_images):
    model, _ = chapter_export
    arrays, encoded = sample_images
    out = served.signatures["serving_default"](images=tf.constant(encoded))
    assert out["masks"].dtype == tf.uint8 and out["masks"].shape == (4, SIZE, SIZE)
    assert out["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(tf.reduce_sum(out["probabilities"], -1), 1.0, atol=1e-4)
    assert out["original_size"].dtype == tf.int32
    assert out["original_size"].numpy().tolist() == [list(a.shape[:2]) for a in arrays]
    agreement = np.mean(out["masks"].numpy() == keras_masks(model, arrays), axis=(1, 2))
    assert np.all(agreement >= 0.99), agreement
    # An untrained model that always answered one class would make the comparison hollow.
    assert len(np.unique(out["masks"])) > 1


def test_segment_image_is_at_original_size(served, sample_images):
    arrays, encoded = sample_images
    batch = served.signatures["serving_default"](images=tf.constant(encoded))["probabilities"]
    for i, (array, data) in enumerate(zip(arrays, encoded)):
        mask = served.signatures["segment_image"](image=tf.constant(data))["mask"]
        assert mask.dtype == tf.uint8 and mask.shape == array.shape[:2]
        # Class probabilities resized bilinearly to the image's size, then the arg-max.
        expected = tf.argmax(tf.image.resize(batch[i], array.shape[:2], method="bilinear"), -1)
        np.testing.assert_array_equal(mask, expected.numpy())


def test_serving_default_gives_each_mask_at_its_own_size(served, sample_images):
    """original_masks: probabilities resized bilinearly to each image's size, arg-max there,
    255 beyond the image in the batch's largest height and width."""
    arrays, encoded = sample_images
    out = served.signatures["serving_default"](images=tf.constant(encoded))
    full = out["original_masks"].numpy()
    assert full.dtype == np.uint8
    assert full.shape == (4, max(a.shape[0] for a in arrays), max(a.shape[1] for a in arrays))
    for i, array in enumerate(arrays):
        h, w = array.shape[:2]
        expected = tf.argmax(tf.image.resize(out["probabilities"][i], (h, w), "bilinear"), -1)
        np.testing.assert_array_equal(full[i, :h, :w], expected.numpy())
        assert (full[i, h:] == 255).all() and (full[i, :, w:] == 255).all()
    assert len(np.unique(full[full != 255])) > 1


def test_predict_pixels_matches_keras(chapter_export, served):
    model, _ = chapter_export
    pixels = np.random.default_rng(5).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    out = served.signatures["predict_pixels"](images=tf.constant(pixels))["probabilities"]
    np.testing.assert_allclose(out, model.predict(pixels, verbose=0), atol=1e-5)


@pytest.mark.parametrize("bad, message", [
    (b"this is not an image", "images[1] (20 bytes) is not a JPEG, PNG"),
    (b"", "images[1] is an empty string"),
    (None, "JPEG"),  # truncated JPEG: right signature, broken data
])
def test_bad_input_is_a_clear_error_and_serving_goes_on(served, sample_images, bad, message):
    _, encoded = sample_images
    bad = encoded[0][:200] if bad is None else bad
    serve = served.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        serve(images=tf.constant([encoded[0], bad]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image"):
        served.signatures["segment_image"](image=tf.constant(bad))
    again = serve(images=tf.constant(encoded[:1]))["masks"]
    np.testing.assert_array_equal(again[0], serve(images=tf.constant(encoded))["masks"][0])


_PLAIN_TF_CLIENT = """
import sys
sys.path.append(sys.argv[1])  # site-packages only: no .pth files, so no editable segkit
for name in ("segdata", "segmodel"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        sys.exit(name + " is importable; the test would prove nothing")
import numpy as np
import tensorflow as tf
served = tf.saved_model.load(sys.argv[2])
out = served.signatures["serving_default"](images=tf.constant([open(sys.argv[3], "rb").read()]))
print({k: (v.dtype.name, v.shape.as_list()) for k, v in out.items()})
np.save(sys.argv[4], out["masks"].numpy())
"""


def test_loads_in_plain_tensorflow_without_segkit(chapter_export, served, sample_images,
                                                  tmp_path):
    _, version_dir = chapter_export
    image = tmp_path / "cat.jpg"
    image.write_bytes(sample_images[1][0])
    # -I: no user site or cwd on sys.path; -S: no site-packages .pth hooks (the editable install).
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PLAIN_TF_CLIENT, sysconfig.get_paths()["purelib"],
         str(version_dir), str(image), str(tmp_path / "masks.npy")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'masks': ('uint8', [1, 32, 32])" in result.stdout
    expected = served.signatures["serving_default"](images=tf.constant([image.read_bytes()]))
    np.testing.assert_array_equal(np.load(tmp_path / "masks.npy"), expected["masks"])


def test_saved_model_cli_lists_the_signatures(chapter_export):
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    result = subprocess.run([str(cli), "show", "--dir", str(chapter_export[1]), "--all"],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    blocks = {b.split("'")[0]: b for b in result.stdout.split("signature_def['")[1:]}
    assert set(blocks) >= {"serving_default", "segment_image", "predict_pixels"}
    default = blocks["serving_default"]
    assert "inputs['images'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in default
    for key, dtype in (("masks", "DT_UINT8"), ("probabilities", "DT_FLOAT"),
                       ("original_size", "DT_INT32")):
        assert f"outputs['{key}'] tensor_info:\n        dtype: {dtype}" in default
    assert "inputs['image'] tensor_info:\n        dtype: DT_STRING\n        shape: ()" in (
        blocks["segment_image"])
    assert "outputs['mask'] tensor_info:\n        dtype: DT_UINT8" in blocks["segment_image"]


def tiny_model(final_dtype=None):
    """A few-layer model with the chapter's contract: 0..255 in, softmax out."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    outputs = keras.layers.Conv2D(3, 1, activation="softmax", dtype=final_dtype)(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_model_serves_float32(tmp_path, sample_images, policy):
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = tiny_model()  # the softmax is left in low precision on purpose: export must cast
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "model.keras")
    assert model.output.dtype != "float32"
    version_dir = export_saved_model(tmp_path / "model.keras", tmp_path / "export")
    assert read_metadata(version_dir)["precision"]["dtype_policy"] == policy
    served = tf.saved_model.load(str(version_dir))
    arrays, encoded = sample_images
    out = served.signatures["serving_default"](images=tf.constant(encoded))
    assert out["probabilities"].dtype == tf.float32 and out["masks"].dtype == tf.uint8
    pixels = served.signatures["predict_pixels"](images=tf.zeros([1, SIZE, SIZE, 3]))
    assert pixels["probabilities"].dtype == tf.float32
    agreement = np.mean(out["masks"].numpy() == keras_masks(model, arrays))
    assert agreement >= 0.97, agreement  # low precision: near-ties may flip a few pixels


def test_versions_overwrite_and_interrupted_export(tmp_path, monkeypatch):
    model = tiny_model()
    base = tmp_path / "export"
    (base / "3").mkdir(parents=True)
    (base / "3" / "saved_model.pb").write_bytes(b"older version")
    (base / ".tmp-9-1").mkdir()  # a crashed export's leftovers are not versions
    assert export_saved_model(model, base).name == "4"
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_saved_model(model, base, version=3)
    assert (base / "3" / "saved_model.pb").read_bytes() == b"older version"
    assert export_saved_model(model, base, version=3, overwrite=True).name == "3"
    assert (base / "3" / "saved_model.pb").read_bytes() != b"older version"
    assert (base / "3" / "assets.extra" / "segkit.json").is_file()
    with pytest.raises(ValueError, match="positive integer"):
        export_saved_model(model, base, version=0)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. Ctrl-C after the graph was written
    monkeypatch.setattr("segmodel.serving.export.build_metadata", crash)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(model, base)
    assert sorted(p.name for p in base.iterdir()) == [".tmp-9-1", "3", "4"]


def test_load_keras_model_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        load_keras_model(tmp_path / "nothing.keras")
    broken = tmp_path / "broken.keras"
    broken.write_text("not a zip")
    with pytest.raises(ValueError, match="broken.keras"):
        load_keras_model(broken)
    with pytest.raises(FileNotFoundError, match="model file inside"):
        load_keras_model(tmp_path)
