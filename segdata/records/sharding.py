"""How many shards a split gets, which examples go in each, and what the files are called.

Default rule (documented in the README):
1. By size, as TFDS does (`tensorflow_datasets/core/utils/shard_utils.py`): the largest power of
   two (<= 1024) that keeps every shard between 64 MiB and 1 GiB; 1 shard for a small split.
2. A big split (>= BIG_SPLIT_EXAMPLES examples) gets at least MIN_SHARDS_BIG = 8 shards, so 8
   parallel readers (tf.data interleave, or 8 hosts with `Dataset.shard`) all get a file. The
   Pets train split (~3,700 or ~6,400 images, ~400-700 MB) lands on 8 shards of ~50-90 MB.
3. Never more shards than examples: a shard file is never empty.
`--num-shards N` or `--shard-size-mb M` override 1-2 (3 still applies).
"""

import bisect
import math

from segdata.io import fsio
from segdata.io.fsio import sha256_file

MIN_SHARD_BYTES = 64 << 20
MAX_SHARD_BYTES = 1 << 30
BIG_SPLIT_EXAMPLES = 1000
MIN_SHARDS_BIG = 8
RECORD_OVERHEAD = 16  # TFRecord framing per record: length, two CRCs


def shard_name(prefix, split, index, num_shards):
    """TFDS-style shard file name, e.g. `pets-train.tfrecord-00003-of-00008`."""
    return f"{prefix}-{split}.tfrecord-{index:05d}-of-{num_shards:05d}"


def part_name(prefix, split, index):
    """Temporary name of shard `index` (candidate numbering) before empty shards are dropped."""
    return f"{prefix}-{split}.part-{index:05d}"


def _by_size(total_bytes, num_examples):
    max_shards = total_bytes // MIN_SHARD_BYTES
    min_shards = total_bytes // MAX_SHARD_BYTES
    for n in (1024, 512, 256, 128, 64, 32, 16, 8, 4, 2):
        if min_shards <= n <= max_shards and num_examples >= n:
            return n
    return max(1, math.ceil(total_bytes / MAX_SHARD_BYTES)) if min_shards > 1024 else 1


def num_shards_for(total_bytes, num_examples, *, num_shards=None, shard_size_mb=None):
    """Number of shards (int >= 1) for a split of `num_examples` records, `total_bytes` in all.

    Raises ValueError for a non-positive `num_shards` / `shard_size_mb`.
    """
    if num_shards is not None and shard_size_mb is not None:
        raise ValueError("give --num-shards or --shard-size-mb, not both")
    total_bytes += num_examples * RECORD_OVERHEAD
    if num_shards is not None:
        if num_shards < 1:
            raise ValueError(f"--num-shards must be >= 1, got {num_shards}")
        n = num_shards
    elif shard_size_mb is not None:
        if shard_size_mb <= 0:
            raise ValueError(f"--shard-size-mb must be > 0, got {shard_size_mb}")
        n = math.ceil(total_bytes / (shard_size_mb * (1 << 20)))
    else:
        n = _by_size(total_bytes, num_examples)
        if num_examples >= BIG_SPLIT_EXAMPLES:
            n = max(n, MIN_SHARDS_BIG)
    return max(1, min(n, num_examples))


def shard_boundaries(num_items, num_shards):
    """End offsets (exclusive) of each shard over `num_items` ordered items, as TFDS computes them.

    Shard i holds items [bounds[i-1], bounds[i]) with bounds[-1] == 0 implied.
    """
    return [round(num_items * i / num_shards) for i in range(1, num_shards + 1)]


def shard_index(bounds, index):
    """The shard (int) that candidate `index` falls in, for `bounds` from shard_boundaries."""
    return bisect.bisect_right(bounds, index)


def add_stats(total, stats):
    """Sum a sample's `stats` ((key, int) pairs, segdata.records.encode.EncodedSample) into
    the dict `total`."""
    for key, n in stats:
        total[key] = total.get(key, 0) + int(n)
    return total


def add_presence(images, image_pixels, class_pixel_counts):
    """Count one sample's classes in place: per class, the images that hold it (`images`) and
    the labelled pixels of those images (`image_pixels`), the denominator of Eigen & Fergus's
    median-frequency balancing (freq_c = pixels of c / pixels of the images where c is
    present)."""
    total = sum(class_pixel_counts)
    for c, n in enumerate(class_pixel_counts):
        if n:
            images[c] += 1
            image_pixels[c] += total


def example_size(example):
    """(height, width) ints of one serialized tf.train.Example's image/height and image/width
    (the encoder writes both for every record)."""
    import tensorflow as tf

    feature = tf.train.Example.FromString(example).features.feature
    return (int(feature["image/height"].int64_list.value[0]),
            int(feature["image/width"].int64_list.value[0]))


def size_entries(sizes):
    """{(h, w): count} -> the manifest's image_sizes list, most frequent first:
    [{"height": h, "width": w, "count": n}, ...]."""
    return [{"height": h, "width": w, "count": n}
            for (h, w), n in sorted(sizes.items(), key=lambda item: (-item[1], item[0]))]


def split_entry(prefix, split, counts, class_pixels, install, first_value=1, stats=None,
                image_sizes=None, presence=None):
    """Name the non-empty shards of a split -> its manifest entry (dict).

    Args:
      counts: records written to each planned shard (candidate numbering); empty shards are
        dropped and the rest renumbered, so no shard file is ever empty.
      class_pixels: pixel counts per class over the split, keyed in the manifest by stored
        value: first_value + class (Pets: trimap values 1..3; other formats: train ids).
      install: callable(planned_index, final_name) -> (sha256 hex, bytes) that moves the
        written part of that planned shard to its final name.
      stats: summed per-sample stats (`add_stats`), kept as the entry's "stats" when non-empty.
      image_sizes: {(height, width): records} of the split (recorded as "image_sizes", which
        training recipes read to pick base and crop sizes); None: not recorded.
      presence: (images, image_pixels) per class (`add_presence`), recorded keyed like
        class_pixels as "class_image_counts" and "class_image_pixels"; None: not recorded.
    """
    used = [i for i, c in enumerate(counts) if c]
    shards = []
    for new_index, old_index in enumerate(used):
        name = shard_name(prefix, split, new_index, len(used))
        digest, size = install(old_index, name)
        shards.append({"file": name, "num_examples": counts[old_index], "sha256": digest,
                       "bytes": size})
    entry = {"num_examples": sum(counts), "shards": shards,
             "class_pixel_counts": {str(c + first_value): n for c, n in enumerate(class_pixels)}}
    if presence is not None:
        for field, values in zip(("class_image_counts", "class_image_pixels"), presence):
            entry[field] = {str(c + first_value): n for c, n in enumerate(values)}
    if stats:
        entry["stats"] = dict(sorted(stats.items()))
    if image_sizes is not None:
        entry["image_sizes"] = size_entries(image_sizes)
    return entry


def sample_files(sample):
    """The source files of a sample (photo, and its mask file where it has one)."""
    mask = getattr(sample, "trimap_path", None) or getattr(sample, "mask_path", None)
    return (sample.image_path, mask) if mask else (sample.image_path,)


class SplitPlan:
    """Writes one split's records into shards, in the order `add` receives them.

    Shard boundaries are fixed up front over the *candidate* samples (before validation), so
    which shard a record lands in never depends on timing or worker count. Skipped samples
    leave their shard a little short; a shard left with no record at all is dropped and the
    rest renumbered in `finish`, so no shard file is ever empty.
    """

    def __init__(self, split, samples, prefix, num_shards, num_classes=3, first_value=1):
        self.split, self.samples, self.prefix = split, samples, prefix
        self.bounds = shard_boundaries(len(samples), num_shards)
        self.counts = [0] * num_shards
        self.class_pixels = [0] * num_classes
        self.presence = ([0] * num_classes, [0] * num_classes)  # see add_presence
        self.stats = {}
        self.image_sizes = {}  # (height, width) -> records
        self.first_value = first_value
        self._seen = 0
        self._shard = -1
        self._writer = None

    @classmethod
    def create(cls, split, samples, prefix, *, num_shards=None, shard_size_mb=None,
               num_classes=3, first_value=1):
        """Plan for `samples` (segdata.formats.pets.layout.Sample or segdata.formats.base.Sample);
        the size is estimated from the source files, which the records hold almost byte for
        byte."""
        total = fsio.total_size(p for s in samples for p in sample_files(s))
        n = num_shards_for(total, max(1, len(samples)), num_shards=num_shards,
                           shard_size_mb=shard_size_mb)
        return cls(split, samples, prefix, n, num_classes, first_value)

    def open(self, out_dir, compression):
        import tensorflow as tf  # the parent process only; workers never import TF

        self._tf, self._out_dir = tf, out_dir
        self._options = tf.io.TFRecordOptions(compression_type="GZIP" if compression == "gzip"
                                              else "")

    def _part(self, index):
        return self._out_dir / part_name(self.prefix, self.split, index)

    def add(self, result):
        """Account for the next candidate's SampleResult; write its record if it has one."""
        index = self._seen
        self._seen += 1
        if result.example is None:
            return
        shard = shard_index(self.bounds, index)
        if shard != self._shard:
            self.close()
            self._writer = self._tf.io.TFRecordWriter(str(self._part(shard)), self._options)
            self._shard = shard
        self._writer.write(result.example)
        self.counts[shard] += 1
        for c, n in enumerate(result.class_pixel_counts):
            self.class_pixels[c] += n
        add_presence(*self.presence, result.class_pixel_counts)
        add_stats(self.stats, getattr(result, "stats", ()))
        size = example_size(result.example)
        self.image_sizes[size] = self.image_sizes.get(size, 0) + 1

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self):
        """Rename parts to final shard names -> manifest entry for this split (dict)."""
        self.close()

        def install(old_index, name):
            path = self._out_dir / name
            self._part(old_index).rename(path)
            return sha256_file(path), path.stat().st_size

        return split_entry(self.prefix, self.split, self.counts, self.class_pixels, install,
                           self.first_value, self.stats, self.image_sizes, self.presence)
