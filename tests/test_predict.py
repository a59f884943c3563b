"""tools/export.py and tools/predict.py end to end, as a user runs them."""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image


def load_tool(name):
    return importlib.import_module(f"segmodel.cli.{name}")


export_tool, predict_tool = load_tool("export"), load_tool("predict")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(EXPORT base folder, EXPORT/1) written by the export tool from a saved .keras file."""
    root = tmp_path_factory.mktemp("serve")
    keras.utils.set_random_seed(7)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax")(x)).save(
        root / "model.keras")
    rc = export_tool.main(["--model", str(root / "model.keras"), "--output-dir",
                           str(root / "export")])
    assert rc == 0
    return root / "export", root / "export" / "1"


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    photo = tmp_path / "cat.jpg"
    Image.fromarray(rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)).save(photo)
    gray = tmp_path / "dog.png"
    Image.fromarray(rng.integers(0, 256, (30, 52), dtype=np.uint8)).save(gray)
    return photo, gray


def test_predict_writes_masks_and_overlays(exported, images, tmp_path, capsys):
    base, version_dir = exported
    out = tmp_path / "out"
    rc = predict_tool.main(["--saved-model", str(version_dir), "--image", str(images[0]),
                            "--image", str(images[1]), "--output-dir", str(out)])
    assert rc == 0
    assert "cat_mask.png" in capsys.readouterr().out
    segment = tf.saved_model.load(str(version_dir)).signatures["segment_image"]
    for path, size in zip(images, [(45, 61), (30, 52)]):
        mask_png = Image.open(out / f"{path.stem}_mask.png")
        assert mask_png.mode == "P" and mask_png.size == size[::-1]  # indexed, original size
        ids = np.asarray(mask_png)
        served = segment(image=tf.constant(path.read_bytes()))["mask"].numpy()
        np.testing.assert_array_equal(ids, served)
        assert set(np.unique(ids)) <= {0, 1, 2}
        overlay = Image.open(out / f"{path.stem}_overlay.png")
        assert overlay.width > 2 * overlay.height  # image, mask and overlay side by side
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_predict_accepts_the_export_base_folder(exported, images, tmp_path):
    base, _ = exported
    assert predict_tool.main(["--saved-model", str(base), "--image", str(images[0]),
                              "--output-dir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "cat_mask.png").is_file()


def test_predict_names_missing_and_unreadable_files(exported, images, tmp_path, capsys):
    _, version_dir = exported
    out = tmp_path / "out"
    rc = predict_tool.main(["--saved-model", str(version_dir), "--image", "nowhere.jpg",
                            "--output-dir", str(out)])
    assert rc == 2 and "nowhere.jpg" in capsys.readouterr().err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"<html>404</html>")
    rc = predict_tool.main(["--saved-model", str(version_dir), "--image", str(broken),
                            "--image", str(images[0]), "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "broken.jpg" in err and "is not a JPEG, PNG" in err
    assert (out / "cat_mask.png").is_file() and not (out / "broken_mask.png").exists()


def test_export_tool_refuses_an_existing_version(exported, capsys):
    base, version_dir = exported
    before = (version_dir / "saved_model.pb").read_bytes()
    model = version_dir.parent.parent / "model.keras"
    rc = export_tool.main(["--model", str(model), "--output-dir", str(base), "--version", "1"])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err
    assert (version_dir / "saved_model.pb").read_bytes() == before
    rc = export_tool.main(["--model", str(base / "missing.keras"), "--output-dir", str(base)])
    assert rc == 2 and "missing.keras" in capsys.readouterr().err
    assert sorted(p.name for p in base.iterdir()) == ["1"]


def test_mask_png_round_trips_class_ids(tmp_path):
    from segmodel.serving.predict import save_mask_png

    mask = np.random.default_rng(1).integers(0, 3, (7, 9)).astype(np.uint8)
    save_mask_png(mask, tmp_path / "m.png", 3)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "m.png")), mask)
    # A palette decoder (TensorFlow's) sees distinct colours per class, i.e. a visible image.
    rgb = tf.io.decode_png((tmp_path / "m.png").read_bytes(), channels=3).numpy()
    assert len({tuple(rgb[mask == c][0]) for c in range(3)}) == 3
