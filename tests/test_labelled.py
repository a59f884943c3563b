"""segdata.formats.pets.labelled: trimaps from masks and the Pets-layout folder labelling tools write
into; its output goes through build_records unchanged and the records give the masks back."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segdata.formats.pets.labelled import LabelledFolder, _dilate, trimap_from_mask
from segdata.records import features
from segdata.records.convert import build_records


def _blob(height, width, cy, cx, r):
    yy, xx = np.mgrid[:height, :width]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


def test_trimap_band_straddles_the_edge_with_the_given_total_width():
    mask = np.zeros((9, 12), bool)
    mask[2:7, 4:9] = True
    row = lambda w: trimap_from_mask(mask, w)[4].tolist()  # noqa: E731
    assert row(0) == [2, 2, 2, 2, 1, 1, 1, 1, 1, 2, 2, 2]
    assert row(1) == [2, 2, 2, 2, 3, 1, 1, 1, 3, 2, 2, 2]
    assert row(2) == [2, 2, 2, 3, 3, 1, 1, 1, 3, 3, 2, 2]
    assert row(3) == [2, 2, 2, 3, 3, 3, 1, 3, 3, 3, 2, 2]
    # A mask touching the image border stays foreground there (the border is no boundary).
    full = np.ones((5, 5), bool)
    assert (trimap_from_mask(full, 2) == 1).all()
    blob = _blob(40, 50, 20, 25, 12)
    trimap = trimap_from_mask(blob, 4)
    assert trimap.dtype == np.uint8 and set(np.unique(trimap)) == {1, 2, 3}
    np.testing.assert_array_equal(trimap != 2, _dilate(blob, 2))
    np.testing.assert_array_equal(trimap == 1, ~_dilate(~blob, 2))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_outline_width_is_refused(bad):
    with pytest.raises(ValueError, match="outline_width"):
        trimap_from_mask(np.ones((3, 3), bool), bad)


def _photo(path, height, width, seed, fmt="JPEG"):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path, fmt)
    return path


def test_folder_round_trips_masks_through_build_records(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    masks = {
        "cat_1.jpg": _blob(40, 56, 20, 30, 10),
        "dog_2.png": _blob(48, 32, 30, 16, 9) | _blob(48, 32, 8, 8, 4),
    }
    _photo(src / "cat_1.jpg", 40, 56, 0)
    _photo(src / "dog_2.png", 48, 32, 1, "PNG")
    folder = LabelledFolder(tmp_path / "out", outline_width=2)
    rel = folder.write("cat_1.jpg", src / "cat_1.jpg", masks["cat_1.jpg"], class_id=3,
                       species=1, breed_id=2, prompts={"boxes": np.array([[5, 5, 50, 35]])})
    assert rel == "annotations/trimaps/cat_1.png"
    folder.write("dog_2.png", src / "dog_2.png", masks["dog_2.png"], species=2)
    out = tmp_path / "out"
    # JPEGs keep their bytes; other formats become a JPEG under the sample's name.
    assert (out / "images" / "cat_1.jpg").read_bytes() == (src / "cat_1.jpg").read_bytes()
    assert Image.open(out / "images" / "dog_2.jpg").format == "JPEG"
    lines = (out / "annotations" / "list.txt").read_text().splitlines()
    assert lines[0].startswith("#") and lines[-2:] == ["cat_1 3 1 2", "dog_2 1 2 1"]
    assert (out / "annotations" / "trainval.txt").read_text() == "cat_1 3 1 2\ndog_2 1 2 1\n"
    assert (out / "annotations" / "test.txt").read_text() == ""
    recorded = json.loads((out / "annotations" / "prompts.json").read_text())
    assert recorded == {"cat_1.jpg": {"boxes": [[5, 5, 50, 35]], "class_id": 3,
                                      "species": 1, "breed_id": 2}}
    assert folder.prompts("cat_1") == recorded["cat_1.jpg"] and folder.prompts("dog_2") is None
    assert not list(out.rglob(".*tmp*"))

    # A second session over the same folder sees the first one's work.
    again = LabelledFolder(out)
    assert again.labelled() == ["cat_1", "dog_2"] and again.is_labelled("dog_2.png")
    assert not again.is_labelled("bird_3.jpg")

    manifest = build_records(out, tmp_path / "records", workers=1, progress=False)
    assert manifest["splits"]["train"]["num_examples"] == 2 and not manifest["skipped"]
    found = {}
    for shard in sorted((tmp_path / "records").glob("pets-train.tfrecord-*")):
        for record in tf.data.TFRecordDataset(str(shard)):
            ex = features.parse_example_bytes(record.numpy())
            trimap = tf.io.decode_png(ex["image/segmentation/class/encoded"])[..., 0].numpy()
            found[ex["image/source_id"].decode()] = (trimap, ex["image/class/label"])
    for name, stem in (("cat_1.jpg", "cat_1"), ("dog_2.png", "dog_2")):
        trimap, label = found[stem]
        np.testing.assert_array_equal(trimap, trimap_from_mask(masks[name], 2))
        assert label == (3 if stem == "cat_1" else 1)


def test_bad_writes_name_the_image_and_write_nothing(tmp_path):
    _photo(tmp_path / "a.jpg", 20, 30, 0)
    folder = LabelledFolder(tmp_path / "out")
    with pytest.raises(ValueError, match="a.jpg: the mask is empty"):
        folder.write("a.jpg", tmp_path / "a.jpg", np.zeros((20, 30), bool))
    with pytest.raises(ValueError, match=r"a.jpg: mask is 30x20 \(HxW\) but the image"):
        folder.write("a.jpg", tmp_path / "a.jpg", np.ones((30, 20), bool))
    with pytest.raises(ValueError, match="class_id must be an int >= 1"):
        folder.write("a.jpg", tmp_path / "a.jpg", np.ones((20, 30), bool), class_id=0)
    with pytest.raises(ValueError, match="contain spaces"):
        folder.write("my cat.jpg", tmp_path / "a.jpg", np.ones((20, 30), bool))
    (tmp_path / "b.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="b.jpg: cannot read image"):
        folder.write("b.jpg", tmp_path / "b.jpg", np.ones((20, 30), bool))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))
    assert folder.labelled() == []
