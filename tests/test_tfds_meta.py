"""The same record set reads through TFDS: split sizes, Model Garden keys, decoded values."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from segdata import load_dataset
from segdata.records import features as F
from segdata.records.convert import build_records
from segdata.records.tfds_meta import _flatten, pets_features, write_tfds_metadata


@pytest.fixture(scope="module")
def tfds_records(records_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tfds") / "records"
    shutil.copytree(records_dir, out)
    for name in ("features.json", "dataset_info.json"):  # in case the converter wrote them
        (out / name).unlink(missing_ok=True)
    written = write_tfds_metadata(str(out), json.loads((out / "manifest.json").read_text()))
    assert [p.rsplit("/", 1)[-1] for p in written] == ["features.json", "dataset_info.json"]
    return out


def test_flattened_feature_keys_are_the_record_keys():
    assert _flatten(pets_features().get_serialized_info()) == set(F.BYTES_KEYS + F.INT_KEYS)


def test_builder_from_directory_split_sizes(tfds_records):
    builder = tfds.builder_from_directory(str(tfds_records))
    sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
    assert sizes == {"train": 36, "validation": 12}
    assert sum(1 for _ in builder.as_dataset(split="validation")) == 12


def test_tfds_decodes_the_stored_images_and_trimaps(tfds_records, pets_dir):
    builder = tfds.builder_from_directory(str(tfds_records))
    examples = list(builder.as_dataset(split="validation", shuffle_files=False).take(3))
    for ex in examples:
        image = ex["image"]["encoded"].numpy()
        trimap = ex["image"]["segmentation"]["class"]["encoded"].numpy()
        name = ex["image"]["source_id"].numpy().decode()
        assert image.dtype == np.uint8 and image.shape[-1] == 3 and trimap.shape[-1] == 1
        assert image.shape[:2] == trimap.shape[:2]
        assert image.shape[:2] == (ex["image"]["height"], ex["image"]["width"])
        source = pets_dir / "annotations" / "trimaps" / f"{name}.png"
        np.testing.assert_array_equal(trimap[..., 0], np.asarray(Image.open(source)))
        photo = (pets_dir / "images" / f"{name}.jpg").read_bytes()
        np.testing.assert_array_equal(image, tf.io.decode_jpeg(photo).numpy())
        assert ex["image"]["filename"].numpy().decode() == f"{name}.jpg"
        assert 1 <= ex["image"]["class"]["label"] <= 37 and ex["image"]["species"] in (1, 2)


def test_gzip_records_skip_tfds_but_load(pets_dir, records_dir, tmp_path):
    out = tmp_path / "gz"
    manifest = build_records(pets_dir, out, split="holdout", val_size=12, seed=1337,
                             num_shards=2, workers=1, progress=False, compression="gzip")
    with pytest.warns(UserWarning, match="gzip-compressed"):
        assert write_tfds_metadata(str(out), manifest) == []
    plain = next(iter(load_dataset(records_dir, "validation", image_size=(24, 24), batch_size=12)))
    zipped = next(iter(load_dataset(out, "validation", image_size=(24, 24), batch_size=12)))
    for a, b in zip(plain, zipped):
        np.testing.assert_array_equal(a, b)

