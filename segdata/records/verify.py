"""`verify_records`: re-read a built record set and check it against its manifest.

Checks, per shard: the file exists, its size and SHA-256 match the manifest, it reads as
TFRecords (framing CRCs, gzip if the manifest says so), its record count matches, and every
record parses as an Example with all the keys of segdata.records.features; with decode=True, also
that TensorFlow decodes every image and mask to the recorded size with mask values 1..3.
Problems are returned as strings naming the shard (and record), so a CLI can print them and
exit non-zero.
"""

import pathlib
import re

from segdata.io import fsio
from segdata.records import manifest as manifest_mod


def _file_problems(path, shard):
    if not path.is_file():
        return [f"{path.name}: missing (listed in manifest.json)"]
    problems = []
    size = path.stat().st_size
    if size != shard["bytes"]:
        problems.append(f"{path.name}: size {size} bytes, manifest says {shard['bytes']}")
    digest = fsio.sha256_file(path)
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

    from segdata.records import features

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


def _decode_problems(path, compression, manifest=None):
    """Decode every record with TensorFlow's own decoders, as training will (decode=True).

    PIL, which validates samples during conversion, tolerates some corrupt JPEG data that
    tf.io.decode_jpeg rejects; this finds such records before a training run does.
    """
    import tensorflow as tf

    from segdata.records import features as F

    manifest = manifest or {}
    pets = manifest.get("format", "pets") == "pets"
    num_classes = int(manifest.get("num_classes", 3))

    ds = tf.data.TFRecordDataset(str(path), compression_type="GZIP" if compression == "gzip"
                                 else "").map(lambda r: tf.io.parse_single_example(r, F.FEATURE_SPEC))

    def check(ex):
        if pets:
            image = tf.io.decode_jpeg(ex[F.IMAGE_ENCODED], channels=3)
        else:  # other formats keep PNG photos as PNG (image/format says which)
            image = tf.io.decode_image(ex[F.IMAGE_ENCODED], channels=3, expand_animations=False)
        mask = tf.io.decode_png(ex[F.MASK_ENCODED], channels=1)
        size = tf.stack([ex[F.IMAGE_HEIGHT], ex[F.IMAGE_WIDTH]])
        if pets:
            values_ok = (tf.reduce_min(mask) >= 1) & (tf.reduce_max(mask) <= 3)
        else:  # train ids or ignore, nothing else
            values_ok = tf.reduce_all((mask < num_classes) | (mask == 255))
        ok = (tf.reduce_all(tf.shape(image, tf.int64)[:2] == size)
              & tf.reduce_all(tf.shape(mask, tf.int64)[:2] == size) & values_ok)
        return ex[F.IMAGE_SOURCE_ID], ok

    names = [n.decode() for n in ds.map(lambda ex: ex[F.IMAGE_SOURCE_ID]).as_numpy_iterator()]
    checked = dict((n.decode(), bool(ok)) for n, ok in ds.map(
        check, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors().as_numpy_iterator())
    return [f"{path.name}: record {n}: " + ("TensorFlow cannot decode its image or mask"
                                            if n not in checked else
                                            "decoded size or mask values (1..3) do not match")
            for n in names if not checked.get(n, False)]


def verify_records(records_dir, *, decode=False):
    """Check every shard of `records_dir` -> list of problem strings (empty when all is well).

    decode=True also decodes every image and mask with tf.io (parallel tf.data map) and checks
    sizes and mask values, naming each record TensorFlow cannot read (slower: a full decode).
    """
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
                readable = _record_problems(path, shard, manifest["compression"])
                problems += readable
                if decode and not readable:
                    problems += _decode_problems(path, manifest["compression"], manifest)
    return problems
