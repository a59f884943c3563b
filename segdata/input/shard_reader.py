"""Reading shard files for `load_dataset`: check they are on disk as the manifest lists them
(`shard_list`), parse their records in blocks and check them against the manifest's counts,
failing with an error that names the shard; `read_example` reads one record.

TensorFlow's read errors do not name the file ("corrupted record at 2046"), and a record that
is not a tf.train.Example fails anonymously in the parser; `read_shards` turns both, and a short
or long shard, into "segkit: shard <path> is corrupt: read N of M records ...".
"""

import os

import tensorflow as tf

from segdata.input import transforms
from segdata.records import features as F
from segdata.records.labels import label_table, to_train_ids
from segdata.records.manifest import read_manifest, shard_paths


class RecordReadError(ValueError):
    """A shard listed in manifest.json is missing or differs from what the build wrote."""

READ_BLOCK = 16  # records parsed and checked together (see read_shards)
_NO_END = 2 ** 62  # block numbers: more than any shard holds
_PARSE_SPEC = None  # built on first use: the three fields the pipeline needs


def parse_records(records):
    """Serialized tf.train.Examples [n] -> {"image", "mask": encoded bytes, "id": source id},
    each string [n] (or scalars for one scalar record)."""
    global _PARSE_SPEC
    if _PARSE_SPEC is None:
        _PARSE_SPEC = {k: tf.io.FixedLenFeature([], tf.string)
                       for k in (F.IMAGE_ENCODED, F.MASK_ENCODED, F.IMAGE_SOURCE_ID)}
    ex = tf.io.parse_example(records, _PARSE_SPEC)
    return {"image": ex[F.IMAGE_ENCODED], "mask": ex[F.MASK_ENCODED],
            "id": ex[F.IMAGE_SOURCE_ID]}


def _count_readable(path, compression):
    """int64: records of `path` that read and parse, up to the first corrupt one (the error
    path only: it reads the shard again, one record at a time)."""
    return tf.data.TFRecordDataset(path, compression_type=compression).map(
        parse_records).ignore_errors().reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)


def read_shards(files, compression, cycle_length=1, keep=None):
    """Blocks of parsed examples of every shard in `files`; fails naming the shard unless
    each shard's records all read and parse and number exactly what the manifest says.

    Records are parsed READ_BLOCK at a time (2-3x cheaper than one by one) and checked per
    block, without state: block c of size s must hold records c*K .. c*K+s-1, i.e. be full or
    end exactly at `expected`, and an empty end marker must arrive as block ceil(expected/K).
    `ignore_errors` drops a block with a corrupt or unparsable record (and TensorFlow's
    "corrupted record at <offset>" never names the file), so a lost block shifts the numbering
    and fails the check; only then is the shard re-read to say how many records are readable.
    The check runs once after the interleave, not inside each shard's reader: its error path
    holds a whole dataset graph, and instantiating it per shard file cost ~5 ms each, in
    series with the first decodes.

    Args:
      files: dataset of (path string, expected int64: the manifest's record count, offset
        int64: examples before this shard in the manifest).
      compression: "" or "GZIP".
      cycle_length: shards read at once (1 keeps manifest order).
      keep: None, or (pipelines, pipeline_id) to keep only the records whose manifest index is
        pipeline_id modulo pipelines (sharding by example).

    Returns:
      Dataset of {"image", "mask": encoded bytes, "where": "<shard>: <source id>"}, each
      string [s] with s <= READ_BLOCK.
    """
    blocks = files.interleave(
        lambda path, expected, offset: _raw_blocks(path, expected, offset, compression),
        cycle_length=cycle_length, block_length=1, num_parallel_calls=tf.data.AUTOTUNE)
    return blocks.map(lambda item: _check_block(item, compression, keep))


def _raw_blocks(path, expected, offset, compression):
    """One shard's parsed blocks, numbered, then an empty end marker; nothing checked yet."""
    blocks = tf.data.TFRecordDataset(path, compression_type=compression).batch(
        READ_BLOCK).map(parse_records).ignore_errors(log_warning=True)
    blank = tf.nest.map_structure(lambda s: tf.zeros([0], s.dtype), blocks.element_spec)
    marked = tf.data.Dataset.zip(
        {"block": blocks, "end": tf.data.Dataset.from_tensors(False).repeat()}).concatenate(
        tf.data.Dataset.from_tensors({"block": blank, "end": tf.constant(True)}))
    # Dataset.range, not Dataset.counter: counter is a scan, a function to instantiate per shard.
    return tf.data.Dataset.zip(marked, tf.data.Dataset.range(_NO_END)).map(
        lambda item, c: dict(item, index=c, path=path, expected=expected, offset=offset))


def _check_block(item, compression, keep):
    k = READ_BLOCK
    block, end, c = item["block"], item["end"], item["index"]
    path, expected = item["path"], item["expected"]
    size = tf.shape(block["id"], out_type=tf.int64)[0]
    last = c * k + size
    ok = tf.where(end, tf.equal(c, (expected + k - 1) // k),
                  tf.logical_and(last <= expected,
                                 tf.logical_or(tf.equal(size, k), tf.equal(last, expected))))
    read = tf.cond(ok, lambda: tf.constant(-1, tf.int64),
                   lambda: _count_readable(path, compression))
    assertion = tf.debugging.Assert(ok, [tf.strings.join([
        "segkit: shard ", path, " is corrupt: read ", tf.strings.as_string(read), " of ",
        tf.strings.as_string(expected), " records listed in manifest.json (a damaged "
        "record, a record that is not a tf.train.Example, or a missing file). Rebuild the "
        "records (tools/build_records.py --overwrite) or run segdata.verify_records."])])
    with tf.control_dependencies([assertion]):
        out = {"image": tf.identity(block["image"]), "mask": block["mask"],
               "where": tf.strings.join([tf.fill([size], path), block["id"]], separator=": ")}
    if keep is not None:
        pipelines, pipeline_id = keep
        index = item["offset"] + c * k + tf.range(size)
        out = {name: v[tf.equal(index % pipelines, pipeline_id)] for name, v in out.items()}
    return out


def shard_list(records, manifest, split):
    """[(path, num_examples)] of `split`, after cheap checks that every file is intact on disk.

    Comparing sizes with the manifest catches deleted and truncated shards before training
    starts; content damage of the same size is caught while reading (`shard_reader.read_shards`).
    """
    paths = shard_paths(records, manifest, split)  # raises naming the existing splits
    shards = []
    for path, info in zip(paths, manifest["splits"][split]["shards"]):
        hint = ("rebuild the records (tools/build_records.py --overwrite) or run "
                "segdata.verify_records to list every problem")
        if not os.path.isfile(path):
            raise RecordReadError(f"shard {path} listed in manifest.json is missing; {hint}")
        size = os.path.getsize(path)
        if "bytes" in info and size != info["bytes"]:
            raise RecordReadError(f"shard {path} has {size} bytes but manifest.json says "
                                  f"{info['bytes']}: it was truncated or replaced; {hint}")
        shards.append((path, int(info["num_examples"])))
    return shards


def read_example(records, split, index=0):
    """One example at its original resolution, e.g. for figures.

    Returns:
      (image uint8 [h, w, 3], mask uint8 [h, w, 1] train ids (255 ignore), source_id str).

    Raises:
      IndexError: `index` is outside the split (the message gives its size).
    """
    manifest = read_manifest(records)
    shards = shard_list(records, manifest, split)
    total = sum(n for _, n in shards)
    if not 0 <= index < total:
        raise IndexError(f"split {split!r} of {records} has {total} examples; index {index} is "
                         "out of range")
    for path, count in shards:
        if index < count:
            break
        index -= count
    compression = {"none": "", "gzip": "GZIP"}[manifest.get("compression", "none")]
    try:  # eager, so a plain except can name the shard
        reader = tf.data.TFRecordDataset(path, compression_type=compression)
        record = next(iter(reader.skip(index).take(1)))
        example = parse_records(record)
        image, trimap = transforms.decode_pair(
            example["image"], example["mask"],
            tf.strings.join([path, example["id"]], separator=": "))
    except tf.errors.OpError as e:
        raise RecordReadError(f"shard {path}: record {index} cannot be read ({e.message.strip()})"
                              "; rebuild the records or run segdata.verify_records") from None
    mask = to_train_ids(trimap, label_table(manifest))
    source_id = example["id"].numpy().decode()
    return image.numpy(), mask.numpy(), source_id
