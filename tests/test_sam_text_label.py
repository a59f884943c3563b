"""Labelling a folder from text prompts (SAM 3): Pets names -> text and ids, and
tools/sam_label.py --text / --text-from-class on a tiny random-weight SAM 3 preset."""

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from segdata.formats.pets.labelled import trimap_from_mask
from segdata.synthetic.pets import make_sample_data
from segmodel.sam.sam3.segmenter import TextSegmenter
from segmodel.sam.sam3.text_labelling import class_text, pets_class, text_prompts
from segmodel.sam.sam3.text_results import union_mask
from segmodel.testing import save_tiny_sam3

ROOT = pathlib.Path(__file__).resolve().parents[1]
from segmodel.cli import sam_label  # noqa: E402


@pytest.mark.parametrize("name, expected", [
    ("Abyssinian_12.jpg", ("Abyssinian", 1, 1, 1)),
    ("american_bulldog_3.jpg", ("american_bulldog", 2, 2, 1)),
    ("Maine_Coon_4.png", ("Maine_Coon", 21, 1, 7)),
    ("yorkshire_terrier_190", ("yorkshire_terrier", 37, 2, 25)),
])
def test_pets_class_matches_the_real_list_ids(name, expected):
    info = pets_class(name)
    assert (info["breed"], info["class_id"], info["species"], info["breed_id"]) == expected


@pytest.mark.parametrize("name, match", [
    ("cat.jpg", "not a Pets-style name"),
    ("Abyssinian_x.jpg", "not a Pets-style name"),
    ("abyssinian_1.jpg", "Pets writes it 'Abyssinian'"),
    ("Unicorn_1.jpg", "not one of the 37"),
])
def test_pets_class_errors_name_the_file(name, match):
    with pytest.raises(ValueError, match=match) as info:
        pets_class(name)
    assert name in str(info.value)


def test_class_text_species_and_breed():
    assert class_text("Persian_3.jpg") == "a cat"
    assert class_text("beagle_1.jpg") == "a dog"
    assert class_text("Maine_Coon_4.jpg", "breed") == "maine coon"
    assert class_text("american_pit_bull_terrier_2.jpg", "breed") == \
        "american pit bull terrier"
    with pytest.raises(ValueError, match="class_text"):
        class_text("beagle_1.jpg", "colour")


def test_text_prompts_for_a_folder(tmp_path):
    for name in ("Bengal_1.jpg", "pug_2.png", ".hidden.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert text_prompts(tmp_path, text="a pet") == {
        "Bengal_1.jpg": {"text": ["a pet"]}, "pug_2.png": {"text": ["a pet"]}}
    assert text_prompts(tmp_path, from_class="species") == {
        "Bengal_1.jpg": {"text": ["a cat"], "class_id": 6, "species": 1, "breed_id": 2},
        "pug_2.png": {"text": ["a dog"], "class_id": 26, "species": 2, "breed_id": 18}}
    (tmp_path / "holiday.jpg").write_bytes(b"")
    (tmp_path / "Dragon_1.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"2 image name\(s\)") as info:
        text_prompts(tmp_path, from_class="breed")
    assert "holiday.jpg" in str(info.value) and "Dragon_1.jpg" in str(info.value)
    with pytest.raises(ValueError, match="empty"):
        text_prompts(tmp_path, text=" ")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("sam3_label")
    save_tiny_sam3(base / "preset", seed=2)  # the same random model in every run
    pets = make_sample_data(base / "pets", 4, seed=3, min_side=32, max_side=56)
    return base, pets, TextSegmenter.from_preset(str(base / "preset"))


def _label(base, pets, out, *extra):
    return sam_label.main(["--images", str(pets / "images"), "--preset", str(base / "preset"),
                           "--output-dir", str(base / out), "--no-progress", *extra])


def _rows(folder):
    path = folder / "annotations" / "list.txt"
    lines = path.read_text().splitlines() if path.is_file() else []
    return {line.split()[0]: line.split()[1:] for line in lines if not line.startswith("#")}


def test_text_from_class_labels_with_pets_ids_and_batch_trimaps(setup, capsys):
    base, pets, segmenter = setup
    # With this seed, 0.17 keeps instances on 3 images and none on havanese_1 (scores < 0.16).
    assert _label(base, pets, "out", "--text-from-class", "--score-threshold", "0.17") == 0
    out = base / "out"
    rows = _rows(out)
    truth = _rows(pets)  # the generator's own list.txt: the ids the names stand for
    assert rows and set(rows) <= set(truth)
    for name, ids in rows.items():
        assert ids == truth[name][:3]
        image = f"{name}.jpg"
        # The batch labeller's trimap of the same union mask, byte for byte.
        instances = segmenter.segment(pets / "images" / image, class_text(image),
                                      score_threshold=0.17)
        expected = union_mask(instances, instances[0].mask.shape)
        trimap = np.asarray(Image.open(out / "annotations" / "trimaps" / f"{name}.png"))
        np.testing.assert_array_equal(trimap, trimap_from_mask(expected, 2))
        record = json.loads((out / "annotations" / "prompts.json").read_text())[image]
        assert record["text"] == [class_text(image)]
        assert len(record["instances"]) == len(instances)
    left_out = set(truth) - set(rows)
    report = capsys.readouterr().out
    assert f"{len(rows)} labelled" in report and left_out
    for name in left_out:  # only images whose union is empty are left out, and reported
        assert name in report


def test_text_for_every_image_and_empty_unions_left_out(setup, capsys):
    base, pets, _ = setup
    # Thresholds 0: every instance, every pixel with probability > 0: a full union.
    assert _label(base, pets, "all", "--text", "a pet", "--score-threshold", "0",
                  "--mask-threshold", "0") == 0
    rows = _rows(base / "all")
    assert len(rows) == 4 and all(ids == ["1", "1", "1"] for ids in rows.values())
    assert _label(base, pets, "none", "--text", "a pet", "--score-threshold", "1") == 0
    assert _rows(base / "none") == {}
    assert "4 left out with empty masks" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [
    ["--text", "a cat", "--prompts", "p.json"],
    ["--class-text", "breed", "--text", "a cat"],
    ["--text-from-class", "--dtype", "float16"],
    [],
])
def test_text_route_usage_errors(setup, extra):
    base, pets, _ = setup
    with pytest.raises(SystemExit) as info:
        _label(base, pets, "bad", *extra)
    assert info.value.code == 2


def test_non_pets_names_fail_before_anything_is_written(setup, tmp_path, capsys):
    base, _, _ = setup
    photos = tmp_path / "images"
    photos.mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photos / "holiday.jpg")
    assert sam_label.main(["--images", str(photos), "--preset", str(base / "preset"),
                           "--output-dir", str(tmp_path / "out"), "--text-from-class"]) == 2
    assert "holiday.jpg" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
