"""`segkit sam-automask`: amg.py's outputs (mask folders with metadata.csv, or COCO RLE JSON)
for a folder of images, checked against a direct SamAutomaticMaskGenerator.generate call on
the tiny seeded SAM; resuming, half-written outputs and unreadable images."""

import csv
import inspect
import json
import re

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from segmodel import cli
from segmodel.cli import sam_automask
from segmodel.sam import SamAutomaticMaskGenerator, SamPredictor
from segmodel.sam.automatic.folder import HEADER, automask_folder
from segmodel.testing import smooth_image

# Tiny settings: the random tiny SAM's scores are low and its masks overlap, so the filters
# are off and NMS keeps everything (27 masks per image from a 3x3 grid).
SETTINGS = {"points_per_side": 3, "points_per_batch": 4, "pred_iou_thresh": 0.0,
            "stability_score_thresh": 0.0, "stability_score_offset": 0.02,
            "box_nms_thresh": 1.0}
FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()] + ["--no-progress"]
SIZES = {"a": (64, 96), "b": (80, 64)}


@pytest.fixture(scope="module")
def preset(sam_preset_parent):
    return str(sam_preset_parent / "sam_base_sa1b")


@pytest.fixture(scope="module")
def reference(sam_predictor):
    """The generator's own records for each test image, by stem."""
    generator = SamAutomaticMaskGenerator(sam_predictor, **SETTINGS)
    return {stem: generator.generate(smooth_image(*size, seed=i))
            for i, (stem, size) in enumerate(SIZES.items())}


@pytest.fixture
def loads(monkeypatch, sam_predictor, preset):
    """SamPredictor.from_preset returning the module's predictor (the same preset, loaded
    once: loading costs seconds); the list of presets asked for."""
    asked = []

    def from_preset(name, dtype=None):
        asked.append(name)
        assert name == preset and dtype == "float32"
        return sam_predictor

    monkeypatch.setattr(SamPredictor, "from_preset", from_preset)
    return asked


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, (stem, size) in enumerate(SIZES.items()):
        Image.fromarray(smooth_image(*size, seed=i)).save(folder / f"{stem}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def _automask(images, out, preset, *extra):
    return cli.run("sam-automask", ["--images", str(images), "--preset", preset,
                                    "--output-dir", str(out), *FLAGS, *extra])


def _check_folder(folder, records, size):
    rows = (folder / "metadata.csv").read_text().split("\n")
    assert rows[0] == HEADER and len(rows) == len(records) + 1 and rows[-1]  # no final "\n"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["metadata.csv"] + [f"{i}.png" for i in range(len(records))])
    height, width = size
    for i, (row, r) in enumerate(zip(csv.reader(rows[1:]), records)):
        with Image.open(folder / f"{i}.png") as png:
            assert png.mode == "L" and png.size == (width, height)
            pixels = np.asarray(png)
        assert set(np.unique(pixels)) <= {0, 255}
        np.testing.assert_array_equal(pixels == 255, r["segmentation"])
        # amg.py's row: str() of each Python number.
        assert [int(v) for v in row[:6]] == [i, r["area"], *r["bbox"]]
        assert [float(v) for v in row[6:10]] == [*r["point_coords"][0], r["predicted_iou"],
                                                 r["stability_score"]]
        assert row[8] == str(r["predicted_iou"]) and row[6] == str(r["point_coords"][0][0])
        assert row[10:] == ["0", "0", str(width), str(height)]


def test_mask_folders_match_the_generator(images, tmp_path, preset, reference, capsys):
    # The one test that loads the preset folder given as --preset.
    out = tmp_path / "out"
    assert _automask(images, out, preset) == 0
    assert "2 image(s) written" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]
    assert all(len(reference[s]) >= 10 for s in SIZES)  # a real test of order and rows
    for stem, size in SIZES.items():
        _check_folder(out / stem, reference[stem], size)


def test_rle_json_decodes_to_the_generator_masks(images, tmp_path, preset, reference, loads):
    out = tmp_path / "rle"
    assert _automask(images, out, preset, "--convert-to-rle") == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json"]
    for stem in SIZES:
        records = json.loads((out / f"{stem}.json").read_text())
        assert len(records) == len(reference[stem])
        for got, want in zip(records, reference[stem]):
            rle = got["segmentation"]
            assert isinstance(rle["counts"], str) and rle["size"] == list(SIZES[stem])
            np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool),
                                          want["segmentation"])
            assert {k: v for k, v in got.items() if k != "segmentation"} == \
                {k: v for k, v in want.items() if k != "segmentation"}


def test_resume_skips_finished_images_and_redoes_half_written_ones(
        images, tmp_path, preset, reference, sam_predictor, loads, capsys):
    out = tmp_path / "out"
    assert _automask(images, out, preset) == 0
    kept = (out / "a" / "0.png").stat().st_mtime_ns
    # A killed run: b's folder lost its metadata.csv, a temporary folder was left behind.
    (out / "b" / "metadata.csv").unlink()
    (out / ".b.x1y2.partial").mkdir()
    (out / ".b.x1y2.partial" / "0.png").write_bytes(b"")
    capsys.readouterr()
    assert _automask(images, out, preset) == 0
    printed = capsys.readouterr().out
    assert "1 image(s) written" in printed and "1 already done" in printed
    assert (out / "a" / "0.png").stat().st_mtime_ns == kept
    _check_folder(out / "b", reference["b"], SIZES["b"])
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]
    # Everything done: nothing needs SAM, so it is not loaded.
    assert loads == [preset, preset]
    assert _automask(images, out, preset) == 0
    assert "0 image(s) written" in capsys.readouterr().out and loads == [preset, preset]
    # A truncated RLE file is redone; a finished one is kept (library call).
    generator = SamAutomaticMaskGenerator(sam_predictor, **SETTINGS)
    rle = tmp_path / "rle"
    automask_folder(generator, images, rle, convert_to_rle=True, progress=False)
    (rle / "b.json").write_text((rle / "b.json").read_text()[:100])
    summary = automask_folder(generator, images, rle, convert_to_rle=True, progress=False)
    assert summary["written"] == ["b.png"] and summary["skipped"] == ["a.png"]
    assert summary["ignored"] == ["notes.txt"]
    assert len(json.loads((rle / "b.json").read_text())) == len(reference["b"])


def test_unreadable_image_is_reported_and_skipped(images, tmp_path, preset, loads, capsys):
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    assert _automask(images, out, preset) == 1
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "Traceback" not in captured.err
    assert "1 unreadable image(s) skipped" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


def test_single_image_file_and_input_errors(images, tmp_path, preset, reference, loads,
                                             capsys):
    out = tmp_path / "one"
    assert _automask(images / "b.png", out, preset) == 0
    assert [p.name for p in out.iterdir()] == ["b"]
    _check_folder(out / "b", reference["b"], SIZES["b"])
    capsys.readouterr()
    # Two images whose outputs would collide: refused before anything is written.
    Image.fromarray(smooth_image(8, 8)).save(images / "a.jpg")
    assert _automask(images, tmp_path / "clash", preset) == 2
    err = capsys.readouterr().err
    assert "a.jpg and a.png" in err and not (tmp_path / "clash").exists()
    (images / "a.jpg").unlink()
    # A user's file where an output goes is never deleted.
    blocked = tmp_path / "blocked"
    (blocked / "a").mkdir(parents=True)
    (blocked / "a" / "mine.txt").write_text("keep me")
    assert _automask(images, blocked, preset) == 2
    err = capsys.readouterr().err
    assert "move them" in err and str(blocked / "a") in err
    assert (blocked / "a" / "mine.txt").read_text() == "keep me"
    assert _automask(tmp_path / "missing", out, preset) == 2
    assert "missing" in capsys.readouterr().err


def test_flags_map_to_generator_arguments_with_its_defaults(capsys):
    parser = sam_automask.build_parser()
    args = parser.parse_args(["--images", "i", "--preset", "p", "--output-dir", "o", *FLAGS,
                              "--min-mask-region-area", "5"])
    assert sam_automask.generator_kwargs(args) == {**SETTINGS, "min_mask_region_area": 5}
    unset = parser.parse_args(["--images", "i", "--preset", "p", "--output-dir", "o"])
    assert sam_automask.generator_kwargs(unset) == {}
    # The help's "(default V)" is the generator's own default.
    defaults = inspect.signature(SamAutomaticMaskGenerator).parameters
    for dest, _, text in sam_automask.GENERATOR_FLAGS.values():
        shown = re.search(r"\(default ([\d.]+)\)", text).group(1)
        assert float(shown) == defaults[dest].default, dest
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--images", "i", "--preset", "p", "--output-dir", "o",
                           "--pred-iou-thresh", "1.5"])
    assert done.value.code == 2 and "--pred-iou-thresh" in capsys.readouterr().err
