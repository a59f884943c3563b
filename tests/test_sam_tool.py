"""tools/sam_predict.py and the SAM figure helpers, on a tiny SAM saved as a local preset."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from segmodel.sam import SamPredictor, overlay_figure, save_overlay
from segmodel.testing import save_tiny_sam

ROOT = pathlib.Path(__file__).resolve().parents[1]
from segmodel.cli import sam_predict  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("sam_tool")
    save_tiny_sam(base / "preset", seed=5, jitter=False)  # seeded: the same model every run
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (72, 110, 3), dtype=np.uint8)
    Image.fromarray(image).save(base / "photo.png")
    return base, image


def _run(base, *extra, out="out"):
    argv = ["--preset", str(base / "preset"), "--image", str(base / "photo.png"),
            "--output-dir", str(base / out), *extra]
    return sam_predict.main(argv)


def test_tool_writes_best_mask_overlay_and_json(setup):
    base, image = setup
    assert _run(base, "--point", "20,30", "--point", "90,10", "--label", "1", "--label", "0",
                "--multimask") == 0
    out = base / "out"
    mask = np.asarray(Image.open(out / "mask.png"))
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
    summary = json.loads((out / "masks.json").read_text())
    scores = summary["scores"]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert summary["prompts"] == {"points": [[20.0, 30.0], [90.0, 10.0]], "labels": [1, 0],
                                  "box": None}
    assert summary["image_size"] == [72, 110]
    # The PNG is exactly the library's best mask for the same prompts.
    predictor = SamPredictor.from_preset(str(base / "preset"))
    predictor.set_image(image)
    masks, lib_scores, _ = predictor.predict([[20, 30], [90, 10]], [1, 0])
    np.testing.assert_array_equal(mask == 255, masks[0])
    np.testing.assert_allclose(scores, lib_scores, rtol=1e-5)
    assert summary["masks"][0]["area"] == int(masks[0].sum())
    overlay = Image.open(out / "overlay.png")
    assert overlay.width > 2 * overlay.height  # three panels side by side


def test_tool_defaults_labels_to_foreground_and_single_mask(setup):
    base, _ = setup
    assert _run(base, "--point", "50,40", "--box", "10,5,100,70", out="single") == 0
    summary = json.loads((base / "single" / "masks.json").read_text())
    assert len(summary["scores"]) == 1
    assert summary["prompts"]["labels"] == [1] and summary["prompts"]["box"] == [10, 5, 100, 70]


@pytest.mark.parametrize("args,message", [
    (["--point", "500,10"], "outside the image"),
    (["--point", "5,5", "--point", "6,6", "--label", "1"], "one label per point"),
    (["--box", "50,5,10,40"], "x1 < x0"),
    ([], "No prompt"),
])
def test_tool_bad_prompts_fail_cleanly_without_output(setup, capsys, args, message):
    base, _ = setup
    assert _run(base, *args, out="bad") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (base / "bad" / "masks.json").exists()


def test_tool_missing_preset_folder_is_a_clear_error(setup, capsys):
    base, _ = setup
    argv = ["--preset", str(base / "no_such_preset"), "--image", str(base / "photo.png"),
            "--point", "5,5", "--output-dir", str(base / "bad")]
    assert sam_predict.main(argv) == 2
    assert "does not exist" in capsys.readouterr().err


def test_tool_runs_as_a_script():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "sam_predict.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--output-dir" in result.stdout


def test_overlay_figure_has_one_titled_panel_per_mask(tmp_path):
    image = np.zeros((40, 60, 3), np.uint8)
    masks = np.zeros((3, 40, 60), bool)
    masks[1, 10:20, 10:30] = True
    fig = overlay_figure(image, masks, [0.9, 0.5, 0.1], [[5, 5], [50, 30]], [1, 0],
                         [2, 2, 40, 30])
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == [
        "mask 1, score 0.900", "mask 2, score 0.500", "mask 3, score 0.100"]
    assert all(len(ax.patches) == 1 and len(ax.collections) == 2 for ax in axes)
    # The mask layer is drawn where the mask is on, and transparent elsewhere.
    layer = axes[1].get_images()[1].get_array()
    assert layer[15, 20, 3] > 0 and layer[0, 0, 3] == 0
    save_overlay(tmp_path / "o.png", image, masks[0], [0.9])
    assert Image.open(tmp_path / "o.png").format == "PNG"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind
    with pytest.raises(ValueError, match="3 masks but 2 scores"):
        overlay_figure(image, masks, [0.9, 0.5])
