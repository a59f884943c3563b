"""load_dataset: shapes, dtypes, value ranges, the chapter's targets, pad mode, cache, seeds."""

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from segdata import IGNORE_LABEL, ManifestError, load_dataset, read_manifest
from segdata.records.labels import trimap_to_class_ids

SIZE = (45, 71)  # divides none of the generated sizes, and is not square


def source_ids(records_dir, split):
    """Source ids of `split` in manifest order, read without segdata's pipeline."""
    shards = [str(records_dir / s["file"]) for s in read_manifest(records_dir)["splits"][split]
              ["shards"]]
    spec = {"image/source_id": tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(r, spec)["image/source_id"].numpy().decode()
            for r in tf.data.TFRecordDataset(shards)]


def all_batches(ds):
    images, masks = zip(*[(i.numpy(), m.numpy()) for i, m in ds])
    return np.concatenate(images), np.concatenate(masks)


def test_shapes_dtypes_and_ranges(records_dir):
    ds = load_dataset(records_dir, "train", image_size=SIZE, batch_size=8)
    assert ds.element_spec[0].shape.as_list() == [None, *SIZE, 3]
    assert ds.element_spec[0].dtype == tf.float32
    assert ds.element_spec[1].shape.as_list() == [None, *SIZE, 1]
    assert ds.element_spec[1].dtype == tf.uint8
    sizes = [int(i.shape[0]) for i, _ in ds]
    assert sizes == [8, 8, 8, 8, 4]  # 36 train examples, last batch kept
    images, masks = all_batches(ds)
    assert 0 <= images.min() and images.max() <= 255 and images.max() > 200
    assert set(np.unique(masks)) == {0, 1, 2}  # shifted once: no 3, no ignore in stretch mode
    dropped = load_dataset(records_dir, "train", image_size=SIZE, batch_size=8,
                           drop_remainder=True)
    assert dropped.element_spec[0].shape.as_list() == [8, *SIZE, 3]
    assert sum(1 for _ in dropped) == 4


def test_masks_equal_the_chapters_targets(records_dir, pets_dir):
    """The chapter: img_to_array(load_img(path, target_size, color_mode="grayscale")) - 1."""
    ids = source_ids(records_dir, "validation")
    images, masks = all_batches(load_dataset(records_dir, "validation", image_size=SIZE,
                                             batch_size=5))
    assert len(ids) == len(masks) == 12
    for name, image, mask in zip(ids, images, masks):
        path = pets_dir / "annotations" / "trimaps" / f"{name}.png"
        target = keras.utils.img_to_array(keras.utils.load_img(
            path, target_size=SIZE, color_mode="grayscale")).astype("uint8") - 1
        np.testing.assert_array_equal(mask, target, err_msg=name)
        # Images: the source JPEG, resized bilinearly (the chapter's load_img uses nearest) and
        # rounded to whole values.
        source = (pets_dir / "images" / f"{name}.jpg").read_bytes()
        expected = tf.image.resize(tf.io.decode_jpeg(source), SIZE, method="bilinear")
        np.testing.assert_array_equal(image, np.round(expected.numpy()), err_msg=name)
        # PIL (the chapter's decoder) uses a slower, exact IDCT: pixels differ by ~1 on average.
        photo = keras.utils.img_to_array(keras.utils.load_img(pets_dir / "images" / f"{name}.jpg"))
        pil = np.round(tf.image.resize(photo, SIZE, method="bilinear").numpy())
        assert np.abs(image - pil).mean() < 1.5, name


def test_pad_mode_keeps_aspect_and_marks_padding(records_dir):
    images, masks = all_batches(load_dataset(records_dir, "validation", image_size=(64, 64),
                                             batch_size=12, resize="pad"))
    padded = masks[..., 0] == IGNORE_LABEL
    assert padded.any() and not padded.all()
    assert set(np.unique(masks[~padded[..., None]])) <= {0, 1, 2}
    # Padding is whole rows or whole columns, and the image is black there.
    for image, pad in zip(images, padded):
        assert pad.all(axis=0).any() or pad.all(axis=1).any() or not pad.any()
        rows, cols = pad.all(axis=1), pad.all(axis=0)
        assert np.array_equal(pad, rows[:, None] | cols[None, :])
        assert np.all(image[pad] == 0)
    # The same examples stretched have no ignore pixels at all.
    _, stretched = all_batches(load_dataset(records_dir, "validation", image_size=(64, 64),
                                            batch_size=12))
    assert not np.any(stretched == IGNORE_LABEL)


def test_label_shift_marks_invalid_values_as_ignored():
    trimap = tf.constant([[0, 1, 2, 3, 4, 255]], tf.uint8)
    ids = trimap_to_class_ids(trimap).numpy().tolist()
    assert ids == [[IGNORE_LABEL, 0, 1, 2, IGNORE_LABEL, IGNORE_LABEL]]


def test_seeded_runs_repeat_and_epochs_differ(records_dir):
    def run(seed):
        return load_dataset(records_dir, "train", image_size=(32, 32), batch_size=8,
                            shuffle=True, augment=True, seed=seed)

    ds = run(7)
    first, second = all_batches(ds), all_batches(ds)
    again = all_batches(run(7))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], second[1])  # reshuffled and re-augmented each epoch
    assert not np.array_equal(first[1], all_batches(run(8))[1])
    plain = all_batches(load_dataset(records_dir, "train", image_size=(32, 32), batch_size=8))
    assert sorted(first[1].sum(axis=(1, 2, 3))) != sorted(plain[1].sum(axis=(1, 2, 3)))


def test_cache_gives_the_same_data_without_rereading(records_dir, tmp_path):
    records = tmp_path / "records"
    shutil.copytree(records_dir, records)
    plain = all_batches(load_dataset(records, "validation", image_size=SIZE, batch_size=5))
    memory = load_dataset(records, "validation", image_size=SIZE, batch_size=5, cache=True)
    disk = load_dataset(records, "validation", image_size=SIZE, batch_size=5,
                        cache=str(tmp_path / "cache" / "pets"))
    for ds in (memory, disk):
        for a, b in zip(plain, all_batches(ds)):
            np.testing.assert_array_equal(a, b)
    assert list((tmp_path / "cache").iterdir())  # the file cache was written
    for shard in records.glob("pets-validation.tfrecord-*"):
        shard.unlink()  # later epochs must come from the cache alone
    for ds in (memory, disk):
        for a, b in zip(plain, all_batches(ds)):
            np.testing.assert_array_equal(a, b)


def test_unknown_split_and_bad_manifest_are_clear(records_dir, tmp_path):
    with pytest.raises(ValueError, match="has no split 'tset'.*train, validation"):
        load_dataset(records_dir, "tset")
    with pytest.raises(ManifestError, match="no manifest.json"):
        load_dataset(tmp_path, "train")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not JSON"):
        load_dataset(tmp_path, "train")
    with pytest.raises(ValueError, match="resize must be one of"):
        load_dataset(records_dir, "train", resize="crop")
    with pytest.raises(ValueError, match="batch_size"):
        load_dataset(records_dir, "train", batch_size=0)
    assert json.loads((records_dir / "manifest.json").read_text())["splits"]  # untouched


def test_own_options_turn_the_autotuner_off_and_user_options_win(records_dir):
    # tf.data's autotuner ran whole passes on one core of two (see segdata/input/pipeline.py); the
    # pipeline turns it off, but a caller's options are applied last and take precedence.
    ds = load_dataset(records_dir, "train", image_size=SIZE, batch_size=8, shuffle=True, seed=3)
    assert ds.options().autotune.enabled is False
    assert ds.options().deterministic is True
    mine = tf.data.Options()
    mine.autotune.enabled = True
    ds = load_dataset(records_dir, "train", image_size=SIZE, batch_size=8, options=mine)
    assert ds.options().autotune.enabled is True
    assert sum(int(i.shape[0]) for i, _ in ds) == 36
