"""`verify_records`: re-read a built record set and check it against its manifest.

Checks, per shard: the file exists, its size and SHA-256 match the manifest, it reads as
TFRecords (framing CRCs, gzip if the manifest says so), its record count matches, and every
record parses as an Example with all the keys of segdata.features. Problems are returned as
strings naming the shard, so a CLI can print them and exit non-zero.
"""

import pathlib
import re

from segdata import manifest as manifest_mod


def _file_problems(path, shard):
    if not path.is_file():
        return [f"{path.name}: missing (listed in manifest.json)"]
    problems = []
    size = path.stat().st_size
    if size != shard["bytes"]:
        problems.append(f"{path.name}: size {size} bytes, manifest says {shard['bytes']}")
    digest = manifest_mod.sha256_file(path)
    if digest != shard["sha256"]:
        problems.append(f"{path.name}: SHA-256 {digest[:12]}... does not match the "
                        f"manifest ({shard['sha256'][:12]}...): the file changed or is corrupt")
    return problems


def _tf_message(error):
    """The useful part of a TensorFlow op error (drops the function_node prefix and op suffix)."""
    text = error.message.splitlines()[0] if error.message else type(error).__name__
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text).strip()


def _record_problems(path, shard, compression):
    import tensorflow as tf

    from segdata import features

    ds = tf.data.TFRecordDataset(str(path), compression_type="GZIP" if compression == "gzip"
                                 else "")
    count = 0
    try:
        for batch in ds.batch(256):
            tf.io.parse_example(batch, features.FEATURE_SPEC)
            count += int(batch.shape[0])
    except tf.errors.InvalidArgumentError as e:
        return [f"{path.name}: record near #{count} does not parse as a segkit Example "
                f"({_tf_message(e)})"]
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as e:
        return [f"{path.name}: unreadable after {count} record(s): "
                f"{_tf_message(e)}"]
    if count != shard["num_examples"]:
        return [f"{path.name}: {count} records, manifest says {shard['num_examples']}"]
    return []


def verify_records(records_dir):
    """Check every shard of `records_dir` -> list of problem strings (empty when all is well)."""
    folder = pathlib.Path(records_dir)
    try:
        manifest = manifest_mod.read_manifest(folder)
    except manifest_mod.ManifestError as e:
        return [str(e)]
    problems = []
    for split, info in manifest["splits"].items():
        shards = info.get("shards", [])
        total = sum(s["num_examples"] for s in shards)
        if total != info.get("num_examples"):
            problems.append(f"split {split}: shards hold {total} examples, manifest says "
                            f"{info.get('num_examples')}")
        for shard in shards:
            path = folder / shard["file"]
            found = _file_problems(path, shard)
            problems += found
            if path.is_file():
                problems += _record_problems(path, shard, manifest["compression"])
    return problems
