"""`load_dataset`: stream a record set (manifest.json + TFRecord shards) into (images, masks).

Stages, in order (each one placed where it costs least):
  shard files (from the manifest; shuffled per epoch) -> parallel interleave of shard readers
  (`shard_reader.read_shards`: parse and count-check blocks of 16 records) -> shuffle serialized
  records -> one parallel map per record: decode + resize [+ cast to float32] ->
  [cache uint8, then shuffle] -> repeat -> [augment] -> batch -> prefetch [-> tf.data service].

Every per-record tf.data function costs CPU next to decoding (the former per-record `scan` +
`filter` + `map` count check cost about as much as reading and parsing the record), so records
pass through exactly one function: the decode map. Everything else works on blocks.

Only tf.data's public API builds the pipeline. Every pass (epoch) creates a new iterator, which
instantiates (and optimises) every function again: tens of milliseconds, a fixed cost per epoch
that is lost in the noise at real dataset sizes (docs/benchmarks.md, "Iterator start-up").
"""

import hashlib
import json
import os
import warnings

import tensorflow as tf

from segdata.input import scale_crop, transforms
from segdata.input import service as service_lib
from segdata.input.shard_reader import read_shards, shard_list
from segdata.records.labels import label_table, to_train_ids
from segdata.records.manifest import read_manifest

DEFAULT_SHUFFLE_BUFFER = 1000


def load_dataset(records, split, *, image_size=(200, 200), batch_size=64, shuffle=False,
                 seed=None, augment=False, cache=False, repeat=False, drop_remainder=False,
                 resize="stretch", input_context=None, options=None, service=None,
                 service_mode="distributed_epoch", crop_size=None, scale_range=(0.5, 2.0),
                 jitter=0.0):
    """Batches of (images, masks) from a record set built by `segdata.build_records`.

    Args:
      records: folder holding manifest.json and the shards.
      split: a split named in the manifest, e.g. "train", "validation" or "test".
      image_size: (height, width) of the output, or one int for a square.
      batch_size: global batch size; under `input_context` each replica gets
        `input_context.get_per_replica_batch_size(batch_size)`.
      shuffle: shuffle shard order per epoch and examples through a buffer of 1000 (or of
        `shuffle` examples when an int is given).
      seed: int; with a seed, two runs give the same batches in the same order. Without one,
        a shuffled pipeline trades order for speed (tf.data `deterministic=False`).
      augment: random horizontal flip and scale-and-crop (see `transforms.augment_pair`).
        Off by default; only turn it on for training splits.
      cache: False; True to cache decoded, resized uint8 examples in memory; or a path prefix
        for an on-disk cache (the file name gets the split, size, resize mode and a fingerprint
        of the shards, so a stale cache is never reused). Later epochs skip reading and decoding.
      repeat: repeat forever (pass `steps_per_epoch` to `fit`); batches then span epochs.
      drop_remainder: drop the last, smaller batch (static batch dimension).
      resize: "stretch" (the chapter's `load_img(target_size=...)`; masks equal its targets) or
        "pad" (keep the aspect ratio; padded mask pixels are `segdata.IGNORE_LABEL`).
      input_context: a `tf.distribute.InputContext` (from
        `strategy.distribute_datasets_from_function`): shards are split by file across input
        pipelines when there are enough shard files, else by example, with a warning.
      options: a `tf.data.Options` applied last (overrides the pipeline's own).
      service: "grpc://HOST:PORT" of a tf.data service dispatcher: the service's workers read,
        decode and batch (see `segdata.input.service`); the records must be at the same path for
        them. Not with `cache` or `input_context`. Batches from several workers interleave in
        arrival order, so a seed makes each worker's stream reproducible, not the merged order.
      service_mode: "distributed_epoch" (default: shard files are handed out, each example
        arrives once per epoch) or "parallel_epochs" (every worker reads the whole split).
      crop_size: (H, W) for scale-and-crop training (`scale_crop.scale_and_crop`): each photo
        is resized to `image_size` times a random factor from `scale_range`, a crop_size window
        is taken at random (padding is IGNORE_LABEL) and flipped at random, all in the one
        decode map (cached pipelines crop after the cache). Replaces `augment` and `resize`.
        Batches are then [B, crop H, crop W, ...].
      scale_range: (low, high) factors of `image_size` for `crop_size`.
      jitter: colour jitter strength (0..1) with `crop_size`; 0 (default) none.

    Returns:
      tf.data.Dataset of (images float32 [B, H, W, 3] in 0..255,
                          masks uint8 [B, H, W, 1] train ids 0..num_classes-1 (Pets: 0..2),
                          or IGNORE_LABEL = 255 for ignored and padded pixels).

    Raises:
      segdata.ManifestError: missing/corrupt manifest.json or unknown split (names the splits).
      RecordReadError: a shard file is missing or its size differs from the manifest.
      ValueError: a bad argument.
      tf.errors.InvalidArgumentError: at iteration time, for a corrupt shard or record; its
        message starts with "segkit:" and names the shard file.
    """
    image_size = _check_args(image_size, batch_size, resize, shuffle)
    if crop_size is not None:
        crop_size = _check_args(crop_size, batch_size, resize, shuffle)
        scale_range = _check_scale_range(scale_range)
        augment = False  # scale_and_crop flips itself
    if service is not None:
        service_lib.check_service_args(service, service_mode, cache, input_context)
    manifest = read_manifest(records)
    shards = shard_list(records, manifest, split)
    compression = {"none": "", "gzip": "GZIP"}[manifest.get("compression", "none")]
    table = label_table(manifest)  # stored mask value -> train id, applied once, in decode

    pipelines, pipeline_id = 1, 0
    if input_context is not None:
        pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    by_file = pipelines == 1 or len(shards) >= pipelines
    if not by_file:
        warnings.warn(
            f"split {split!r} of {records} has {len(shards)} shard file(s) for {pipelines} input "
            f"pipelines: each pipeline reads every file and keeps 1/{pipelines} of the examples. "
            f"Rebuild with at least {pipelines} shards (tools/build_records.py --num-shards) to "
            "read each file once.", stacklevel=2)
    else:
        shards = shards[pipeline_id::pipelines]
    if seed is not None:
        seed = int(seed) + 7919 * pipeline_id  # distinct but reproducible streams per pipeline
    buffer = DEFAULT_SHUFFLE_BUFFER if shuffle is True else int(shuffle)

    # (path, count, offset): the offset (examples before this shard in the manifest) lets
    # every pipeline pick the same examples when sharding by example, whatever the file order.
    offsets = [sum(n for _, n in shards[:i]) for i in range(len(shards))]
    files = tf.data.Dataset.from_tensor_slices((
        tf.constant([p for p, _ in shards], tf.string),
        tf.constant([n for _, n in shards], tf.int64), tf.constant(offsets, tf.int64)))
    if shuffle and not cache:
        files = files.shuffle(len(shards) or 1, seed=seed, reshuffle_each_iteration=True)
    keep = (pipelines, pipeline_id) if not by_file else None
    # Readers hand over blocks of READ_BLOCK parsed records; unshuffled, one file at a time, so
    # records come in manifest order (predictions pair with source ids).
    ds = read_shards(files, compression, max(1, min(len(shards), 8)) if shuffle else 1,
                     keep).unbatch()
    if shuffle and not cache:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)

    # float32 straight from the decode map unless uint8 is kept for the cache or augmentation:
    # one map per record, no uint8 round trip (a separate cast map cost ~5 % of the CPU).
    # Through the service, uint8 crosses the network (4x fewer bytes) and the trainer casts.
    to_float = not cache and not augment and service is None

    def decode(example):
        image, trimap = transforms.decode_pair(example["image"], example["mask"], example["where"])
        return transforms.resize_pair(image, trimap, image_size, resize, table,
                                      tf.float32 if to_float else tf.uint8)

    def crop(image, mask, seed, labels=None):
        return scale_crop.scale_and_crop(image, mask, seed, image_size, crop_size, scale_range,
                                         jitter=jitter, label_table=labels)

    # A seeded random stream, re-drawn every epoch, feeds stateless ops: reproducible with a
    # seed, and different crops each epoch.
    randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    if crop_size is not None and not cache:
        # Decode and crop in the one per-record map; only the window's pixels are resampled.
        def decode_and_crop(example, seed):
            image, trimap = transforms.decode_pair(example["image"], example["mask"],
                                                   example["where"])
            return crop(image, trimap, seed, table)

        ds = tf.data.Dataset.zip((ds, randoms)).map(decode_and_crop,
                                                    num_parallel_calls=tf.data.AUTOTUNE)
    elif crop_size is not None:
        # Cache decoded photos at their own size (train ids), crop after the cache.
        def decode_ids(example):
            image, trimap = transforms.decode_pair(example["image"], example["mask"],
                                                   example["where"])
            return image, to_train_ids(trimap, table)

        ds = ds.map(decode_ids, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache(_cache_path(cache, records, manifest, split, image_size,
                                  resize if crop_size is None else "original",
                                  pipeline_id, pipelines) if isinstance(cache, (str, os.PathLike))
                      else "")
        if shuffle:
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if crop_size is not None and cache:
        ds = tf.data.Dataset.zip((ds, randoms)).map(lambda pair, s: crop(*pair, s),
                                                    num_parallel_calls=tf.data.AUTOTUNE)
    elif augment:
        ds = tf.data.Dataset.zip((ds, randoms)).map(
            lambda pair, s: transforms.augment_pair(pair[0], pair[1], s),
            num_parallel_calls=tf.data.AUTOTUNE)
    elif cache and crop_size is None:
        # Per example, not per batch: casting whole float32 batches measured 2-4x slower
        # (one 30 MB allocation per batch), which dominated cached epochs.
        ds = ds.map(lambda image, mask: (tf.cast(image, tf.float32), mask),
                    num_parallel_calls=tf.data.AUTOTUNE)
    # Through the service each worker ends its share of an epoch with its own partial batch, so
    # workers batch without dropping and the trainer re-batches: every batch but the epoch's
    # last is full, and an epoch has exactly ceil(N / batch_size) batches (floor with
    # drop_remainder) - the count Keras and the manifest expect.
    ds = ds.batch(batch_size, drop_remainder=drop_remainder and service is None)
    if service is not None:
        ds = service_lib.distribute(ds.with_options(_own_options(seed, shuffle)), service,
                                    service_mode)
        ds = ds.rebatch(batch_size, drop_remainder=drop_remainder)
        if not augment and crop_size is None:
            ds = ds.map(lambda images, masks: (tf.cast(images, tf.float32), masks),
                        num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)

    ds = ds.with_options(_own_options(seed, shuffle))
    return ds.with_options(options) if options is not None else ds


def _own_options(seed, shuffle):
    own = tf.data.Options()
    # Without a seed, a shuffled pipeline does not promise an order: let tf.data hand out
    # whichever element is ready first.
    own.deterministic = seed is not None or not shuffle
    # tf.data's autotuner, left on, ran a third to a half of all passes (any pipeline, the
    # plain decode limit included) on one core of two, at exactly half the rate, even with a
    # fixed num_parallel_calls (benchmarks/bench_pipeline.py, 2-core EPYC: 14-23 of 30
    # passes). Off, every AUTOTUNE parallelism is min(16, cores) (what a CPU-bound decode
    # wants) and prefetch buffers grow on demand; none of about 100 passes collapsed.
    own.autotune.enabled = False
    return own


def _check_args(image_size, batch_size, resize, shuffle):
    """Validate arguments before any work; returns image_size as an (H, W) tuple of ints."""
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (height, width), got {image_size!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if resize not in transforms.RESIZE_MODES:
        raise ValueError(f"resize must be one of {transforms.RESIZE_MODES}, got {resize!r}")
    if not isinstance(shuffle, bool) and (not isinstance(shuffle, int) or shuffle < 1):
        raise ValueError(f"shuffle must be True/False or a buffer size >= 1, got {shuffle!r}")
    return height, width


def _check_scale_range(scale_range):
    try:
        low, high = (float(v) for v in scale_range)
    except (TypeError, ValueError):
        raise ValueError(f"scale_range must be (low, high), got {scale_range!r}") from None
    if not 0 < low <= high:
        raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range!r}")
    return low, high


def _cache_path(prefix, records, manifest, split, image_size, resize, pipeline_id, pipelines):
    """On-disk cache file for this exact pipeline input: a changed shard, size or resize mode
    gets a new name, because tf.data reuses any existing cache file without checking it."""
    key = json.dumps([os.path.abspath(records), manifest["splits"][split]["shards"],
                      label_table(manifest)], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    path = (f"{os.fspath(prefix)}-{split}-{image_size[0]}x{image_size[1]}-{resize}-{digest}"
            f"-{pipeline_id}of{pipelines}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return path
