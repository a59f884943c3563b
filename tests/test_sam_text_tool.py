"""tools/sam_predict.py --text on a tiny random-weight SAM 3 saved as a local preset."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from segmodel.sam.sam3.segmenter import TextInstance, TextSegmenter
from segmodel.sam.sam3.text_results import save_text_results
from segmodel.testing import save_tiny_sam3

ROOT = pathlib.Path(__file__).resolve().parents[1]
from segmodel.cli import sam_predict  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("sam3_tool")
    save_tiny_sam3(base / "preset", seed=1)  # the same random model in every run
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (36, 54, 3), dtype=np.uint8)
    Image.fromarray(image).save(base / "photo.png")
    return base, image


def _run(base, *extra, out="out"):
    argv = ["--preset", str(base / "preset"), "--image", str(base / "photo.png"),
            "--output-dir", str(base / out), *extra]
    return sam_predict.main(argv)


def test_text_writes_union_instances_overlay_and_json(setup):
    base, image = setup
    library = TextSegmenter.from_preset(str(base / "preset"))
    # A threshold between the random model's scores, so that it keeps some instances and
    # drops others (a fixed value would depend on the random weights).
    scores = sorted(i.score for i in library.segment(image, ["a cat", "a dog"],
                                                     score_threshold=0.0))
    threshold = f"{(scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2:.6f}"
    expected = library.segment(image, ["a cat", "a dog"], score_threshold=float(threshold))
    assert 0 < len(expected) < len(scores), (threshold, scores)
    assert _run(base, "--text", "a cat", "--text", "a dog", "--score-threshold", threshold) == 0
    out = base / "out"
    summary = json.loads((out / "masks.json").read_text())
    assert summary["texts"] == ["a cat", "a dog"] and summary["image_size"] == [36, 54]
    found = summary["instances"]
    assert len(found) == len(expected)
    assert [f["text"] for f in found] == [i.text for i in expected]
    np.testing.assert_allclose([f["score"] for f in found], [i.score for i in expected],
                               rtol=1e-5)
    union = np.zeros(image.shape[:2], bool)
    for entry, inst in zip(found, expected):
        mask = np.asarray(Image.open(out / entry["file"]))
        assert set(np.unique(mask)) <= {0, 255}
        np.testing.assert_array_equal(mask == 255, inst.mask)
        assert entry["area"] == int(inst.mask.sum())
        union |= inst.mask
    np.testing.assert_array_equal(np.asarray(Image.open(out / "mask.png")) == 255, union)
    assert Image.open(out / "overlay.png").width > 100


def test_results_rewrite_leaves_no_stale_instance_masks(setup, tmp_path):
    _, image = setup
    mask = np.zeros(image.shape[:2], bool)
    mask[3:9, 5:20] = True
    two = [TextInstance(mask, np.array([5, 3, 20, 9], np.float32), 0.8, "a cat"),
           TextInstance(~mask, np.array([0, 0, 54, 36], np.float32), 0.6, "a dog")]
    paths = save_text_results(tmp_path, image, two, {"texts": ["a cat", "a dog"]})
    assert [pathlib.Path(p).name for p in paths["instances"]] == ["mask_000.png",
                                                                  "mask_001.png"]
    assert np.asarray(Image.open(tmp_path / "mask.png")).all()  # the union covers all
    save_text_results(tmp_path, image, [], {"texts": ["a cat"]})
    assert list(tmp_path.glob("mask_*.png")) == []
    assert not np.asarray(Image.open(tmp_path / "mask.png")).any()
    assert json.loads((tmp_path / "masks.json").read_text())["instances"] == []


def test_text_with_exemplars(setup):
    base, _ = setup
    assert _run(base, "--text", "a cat", "--exemplar", "2,2,20,20", "--negative-exemplar",
                "30,5,50,30", "--score-threshold", "0", out="ex") == 0
    summary = json.loads((base / "ex" / "masks.json").read_text())
    assert summary["exemplars"] == {"boxes": [[2, 2, 20, 20], [30, 5, 50, 30]],
                                    "labels": [1, 0]}
    assert len(summary["instances"]) == 8  # every query of the tiny model at threshold 0


@pytest.mark.parametrize("extra, message", [
    (["--text", ""], "empty"),
    (["--text", "a cat", "--score-threshold", "2"], "--score-threshold"),
    (["--text", "a cat", "--exemplar", "10,10,90,20"], "inside"),
])
def test_text_errors_exit_2_with_message(setup, capsys, extra, message):
    base, _ = setup
    assert _run(base, *extra, out="bad") == 2
    assert message in capsys.readouterr().err
    assert not (base / "bad" / "masks.json").exists()


@pytest.mark.parametrize("extra", [
    ["--text", "a cat", "--point", "3,4"],
    ["--text", "a cat", "--dtype", "float16"],
    ["--exemplar", "1,1,5,5", "--point", "3,4"],
])
def test_text_flag_conflicts_are_usage_errors(setup, extra):
    base, _ = setup
    with pytest.raises(SystemExit) as info:
        _run(base, *extra, out="bad")
    assert info.value.code == 2
