"""Bad records at read time: every error names the shard file (and the record when it can)."""

import json
import shutil

import pytest
import tensorflow as tf

from segdata import load_dataset
from segdata.input.shard_reader import RecordReadError
from segdata.plots import show_sample
from segdata.records.features import serialize_example

SHARD = "pets-validation.tfrecord-00001-of-00002"


@pytest.fixture
def records(records_dir, tmp_path):
    out = tmp_path / "records"
    shutil.copytree(records_dir, out)
    return out


def iterate(records, **kw):
    for _ in load_dataset(records, "validation", image_size=(32, 32), batch_size=4, **kw):
        pass


def rewrite_shard(records, replace):
    """Rewrite SHARD with record 2 replaced by `replace` (bytes) and fix the manifest's size,
    as if the shard had been written that way: only the content is wrong."""
    path = records / SHARD
    old = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, record in enumerate(old):
            writer.write(replace if i == 2 else record)
    manifest = json.loads((records / "manifest.json").read_text())
    for shard in manifest["splits"]["validation"]["shards"]:
        if shard["file"] == SHARD:
            shard["bytes"] = path.stat().st_size
    (records / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("shuffle", [False, True])
def test_corrupt_shard_names_the_file(records, shuffle):
    path = records / SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, so only the record checksums can tell
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"segkit: shard .*{SHARD} is corrupt"):
        iterate(records, shuffle=shuffle, seed=1)


def test_record_that_is_not_an_example_names_the_file(records):
    rewrite_shard(records, b"\x08\x96\x01 this is not a tf.train.Example")
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{SHARD} is corrupt: read 5 of 6"):
        iterate(records)


def test_undecodable_image_names_file_and_record(records):
    bad = serialize_example(image_bytes=b"GIF? no", height=10, width=10, filename="bad_1.jpg",
                            source_id="bad_1", mask_bytes=b"\x89PNG\r\n\x1a\n")
    rewrite_shard(records, bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{SHARD}: bad_1.*not a JPEG"):
        iterate(records)


def test_missing_or_truncated_shard_fails_before_reading(records):
    path = records / SHARD
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(RecordReadError, match=f"{SHARD} has .* bytes but manifest.json says"):
        load_dataset(records, "validation")
    with pytest.raises(RecordReadError, match=f"{SHARD} has .* bytes"):
        show_sample(records, "validation", 7, records / "sample.png")
    path.unlink()
    with pytest.raises(RecordReadError, match=f"{SHARD} listed in manifest.json is missing"):
        load_dataset(records, "validation")
