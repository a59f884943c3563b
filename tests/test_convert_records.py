"""Round trip and split contents of built records (shared `records_dir` fixture: holdout split)."""

import os
import random

import numpy as np
import pytest
from PIL import Image

from segdata.formats.pets.layout import parse_list_file
from segdata.records import features, sharding
from segdata.records.convert import build_records
from segdata.records.manifest import ManifestError, read_manifest, shard_paths


def _read_split(records_dir, split):
    import tensorflow as tf

    manifest = read_manifest(records_dir)
    paths = shard_paths(records_dir, manifest, split)
    return [features.parse_example_bytes(r.numpy()) for r in tf.data.TFRecordDataset(paths)]


def test_round_trip_keeps_bytes_and_masks(pets_dir, records_dir):
    import tensorflow as tf

    meta = {n: (c, s) for n, c, s in parse_list_file(pets_dir / "annotations" / "list.txt")}
    seen = []
    for split in ("train", "validation"):
        for ex in _read_split(records_dir, split):
            name = ex[features.IMAGE_SOURCE_ID].decode()
            seen.append(name)
            jpg = pets_dir / "images" / f"{name}.jpg"
            png = pets_dir / "annotations" / "trimaps" / f"{name}.png"
            # Clean samples keep their exact source bytes: no silent re-encoding.
            assert ex[features.IMAGE_ENCODED] == jpg.read_bytes()
            mask = tf.io.decode_png(ex[features.MASK_ENCODED], channels=1).numpy()[..., 0]
            np.testing.assert_array_equal(mask, np.asarray(Image.open(png)))
            assert (ex[features.IMAGE_HEIGHT], ex[features.IMAGE_WIDTH]) == mask.shape
            assert ex[features.IMAGE_CHANNELS] == 3 and ex[features.IMAGE_FORMAT] == b"jpeg"
            assert ex[features.MASK_FORMAT] == b"png"
            assert ex[features.IMAGE_FILENAME] == f"{name}.jpg".encode()
            assert (ex[features.CLASS_LABEL], ex[features.SPECIES]) == meta[name]
    assert sorted(seen) == sorted(p.stem for p in (pets_dir / "images").glob("*.jpg"))


def test_records_parse_with_tensorflow_feature_spec(records_dir):
    import tensorflow as tf

    paths = shard_paths(records_dir, read_manifest(records_dir), "validation")
    batch = next(iter(tf.data.TFRecordDataset(paths).batch(4)))
    parsed = tf.io.parse_example(batch, features.FEATURE_SPEC)
    assert parsed[features.IMAGE_HEIGHT].dtype == tf.int64
    assert parsed[features.MASK_ENCODED].shape == (4,)


def test_holdout_matches_the_chapter(pets_dir, records_dir):
    # The chapter's own code, verbatim in spirit: sorted .jpg paths, Random(1337) shuffle.
    input_dir = str(pets_dir / "images")
    paths = sorted(os.path.join(input_dir, f) for f in os.listdir(input_dir) if f.endswith(".jpg"))
    random.Random(1337).shuffle(paths)
    stems = [os.path.basename(p)[:-4] for p in paths]
    for split, expected in (("train", stems[:-12]), ("validation", stems[-12:])):
        got = [ex[features.IMAGE_SOURCE_ID].decode() for ex in _read_split(records_dir, split)]
        assert got == expected  # same members, same (shuffled) order


def test_manifest_contents(pets_dir, records_dir):
    m = read_manifest(records_dir)
    assert m["format_version"] == 1 and m["prefix"] == "pets" and m["compression"] == "none"
    assert m["label_offset"] == 1 and m["num_classes"] == 3
    assert m["label_names"] == ["foreground", "background", "outline"]
    assert m["source"] == str(pets_dir.resolve())
    assert m["options"]["split"] == "holdout" and m["options"]["val_size"] == 12
    assert m["skipped"] == [] and m["repaired"] == [] and m["ignored"]["count"] == 0
    val = m["splits"]["validation"]
    assert val["num_examples"] == 12
    assert [s["file"] for s in val["shards"]] == [
        "pets-validation.tfrecord-00000-of-00002", "pets-validation.tfrecord-00001-of-00002"]
    assert sum(s["num_examples"] for s in val["shards"]) == 12
    for shard in val["shards"]:
        assert shard["bytes"] == (records_dir / shard["file"]).stat().st_size
    counts = np.zeros(4, np.int64)
    for ex in _read_split(records_dir, "validation"):
        png = pets_dir / "annotations" / "trimaps" / f"{ex[features.IMAGE_SOURCE_ID].decode()}.png"
        counts += np.bincount(np.asarray(Image.open(png)).ravel(), minlength=4)[:4]
    assert val["class_pixel_counts"] == {"1": counts[1], "2": counts[2], "3": counts[3]}


def test_official_split_follows_the_lists(pets_dir, tmp_path):
    m = build_records(pets_dir, tmp_path / "official", workers=1, progress=False)
    ann = pets_dir / "annotations"
    for split, list_name in (("train", "trainval.txt"), ("test", "test.txt")):
        got = [ex[features.IMAGE_SOURCE_ID].decode()
               for ex in _read_split(tmp_path / "official", split)]
        assert got == [r[0] for r in parse_list_file(ann / list_name)]
    assert set(m["splits"]) == {"train", "test"} and m["unlisted"]["count"] == 0


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="no manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not JSON"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("total_mb, examples, expected", [
    (0.1, 48, 1),          # tiny: one shard
    (800, 7000, 8),        # Pets-sized: 8 shards of ~100 MB (power of two, 64 MiB..1 GiB)
    (30, 3000, 8),         # small but many examples: still 8 readers' worth
    (4000, 7000, 32),      # bigger: size rule dominates
    (5, 900, 1),           # below the "big split" threshold
])
def test_default_shard_count(total_mb, examples, expected):
    assert sharding.num_shards_for(int(total_mb * 2**20), examples) == expected


def test_shard_count_overrides():
    assert sharding.num_shards_for(10 << 20, 3, num_shards=5) == 3  # never more than examples
    assert sharding.num_shards_for(100 << 20, 1000, shard_size_mb=30) == 4
    with pytest.raises(ValueError, match="not both"):
        sharding.num_shards_for(1, 1, num_shards=2, shard_size_mb=1)
    assert sharding.shard_name("pets", "train", 3, 8) == "pets-train.tfrecord-00003-of-00008"
