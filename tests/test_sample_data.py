"""The Pets-layout sample generator: layout, determinism, trimap bands, list files, quirks."""

import json

import numpy as np
import pytest
from PIL import Image

from segdata.formats.pets.layout import parse_list_file, scan_pets
from segdata.synthetic import pets as sample_data
from segdata.synthetic.pets_quirks import QUIRKS


def _tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_layout_and_list_files(pets_dir):
    images = sorted(p.stem for p in (pets_dir / "images").glob("*.jpg"))
    trimaps = sorted(p.stem for p in (pets_dir / "annotations" / "trimaps").glob("*.png"))
    assert len(images) == 48 and images == trimaps
    rows = parse_list_file(pets_dir / "annotations" / "list.txt")
    assert sorted(r[0] for r in rows) == images
    trainval = parse_list_file(pets_dir / "annotations" / "trainval.txt")
    test = parse_list_file(pets_dir / "annotations" / "test.txt")
    assert sorted(r[0] for r in trainval + test) == images
    assert not {r[0] for r in trainval} & {r[0] for r in test}
    header = (pets_dir / "annotations" / "list.txt").read_text().splitlines()[0]
    assert header.startswith("#Image CLASS-ID SPECIES BREED ID")
    for name, class_id, species in rows:
        breed = name.rsplit("_", 1)[0]
        assert 1 <= class_id <= 37 and sample_data.BREEDS[class_id - 1] == breed
        # Real-dataset convention: cats are capitalised, dogs lowercase.
        assert species == (1 if breed[0].isupper() else 2)


def test_images_and_trimaps_are_consistent(pets_dir):
    for path in sorted((pets_dir / "images").glob("*.jpg"))[:12]:
        img = Image.open(path)
        tri = np.asarray(Image.open(pets_dir / "annotations" / "trimaps" / f"{path.stem}.png"))
        assert img.format == "JPEG" and img.mode == "RGB"
        assert tri.dtype == np.uint8 and tri.shape == (img.height, img.width)
        assert 96 <= img.width <= 160 and 96 <= img.height <= 160
        assert set(np.unique(tri)) == {1, 2, 3}
        # Outline band: every foreground pixel touching background must be separated by 3s,
        # and the band is thin (1..3 px), so it is a small share of the animal.
        fg, bg = tri == 1, tri == 2
        assert not (fg[:, 1:] & bg[:, :-1]).any() and not (fg[1:, :] & bg[:-1, :]).any()
        assert (tri == 3).sum() < 0.5 * fg.sum()
        # Learnable: the animal's mean colour differs clearly from the background's.
        rgb = np.asarray(img, np.float32)
        assert np.abs(rgb[fg].mean(0) - rgb[bg].mean(0)).sum() > 40


def test_deterministic_for_a_seed(tmp_path):
    a = sample_data.make_sample_data(tmp_path / "a", 6, seed=5, min_side=40, max_side=60)
    b = sample_data.make_sample_data(tmp_path / "b", 6, seed=5, min_side=40, max_side=60)
    c = sample_data.make_sample_data(tmp_path / "c", 6, seed=6, min_side=40, max_side=60)
    assert _tree_bytes(a) == _tree_bytes(b)
    assert _tree_bytes(a) != _tree_bytes(c)


def test_refuses_non_empty_output_unless_overwrite(tmp_path):
    out = sample_data.make_sample_data(tmp_path / "d", 3, seed=0, min_side=32, max_side=40)
    with pytest.raises(ValueError, match="already exists"):
        sample_data.make_sample_data(out, 3, seed=1, min_side=32, max_side=40)
    sample_data.make_sample_data(out, 2, seed=1, min_side=32, max_side=40, overwrite=True)
    assert len(list((out / "images").glob("*.jpg"))) == 2
    assert not list(tmp_path.glob(".d.tmp-*"))


def test_quirks_are_planted(tmp_path):
    root = sample_data.make_sample_data(tmp_path / "q", 20, seed=3, with_quirks=True,
                                        min_side=48, max_side=64)
    planted = json.loads((root / "quirks.json").read_text())
    assert set(planted) == set(QUIRKS)
    sample_names = [v["name"] for k, v in planted.items() if v["expect"] != "ignored"]
    assert len(set(sample_names)) == len(sample_names)  # each quirk on its own sample
    fmt = lambda q: Image.open(root / planted[q]["file"]).format
    assert fmt("png_as_jpg") == "PNG" and fmt("gif_as_jpg") == "GIF"
    assert Image.open(root / planted["cmyk"]["file"]).mode == "CMYK"
    assert Image.open(root / planted["rgba"]["file"]).mode == "RGBA"
    assert Image.open(root / planted["grayscale"]["file"]).mode == "L"
    assert not (root / planted["missing_trimap"]["file"]).exists()
    layout = scan_pets(root)
    assert {planted[q]["file"] for q in ("mat_file", "appledouble", "ds_store")} <= set(layout.ignored)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="--num-images"):
        sample_data.make_sample_data(tmp_path / "x", 0)
    with pytest.raises(ValueError, match="--with-quirks"):
        sample_data.make_sample_data(tmp_path / "y", 3, with_quirks=True)
