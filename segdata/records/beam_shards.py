"""The steps of the Beam record build (`segdata.records.beam_convert`): candidates in, shards out.

The launcher writes the plan's candidate samples as JSON lines (`write_candidates`); the workers
read them (`read_lines`), encode each with `segdata.records.encode.encode_sample` as the local
runner does (`encode_candidate`), and write each planned shard in candidate order with its
summary JSON (`write_shard`), all under the build's temporary folder, `WORK_DIR` holding the
candidate list and the summaries. Paths go through tf.io.gfile (segdata.io.fsio), so they may be URLs.
"""

import dataclasses
import json
import uuid

from segdata.formats.base import Sample
from segdata.formats.pets.layout import Sample as PetsSample
from segdata.io import fsio
from segdata.records import encode, sharding

WORK_DIR = ".beam"  # in the temporary folder: candidate list and shard summaries
CANDIDATES_PER_FILE = 10_000  # the candidate list is read in parallel, one file per task


def join(folder, name):
    """folder/name for a local path or a URL (gs://...)."""
    return f"{str(folder).rstrip('/')}/{name}"


def gfile():
    """tf.io.gfile, importing TensorFlow only when a step needs it."""
    import tensorflow as tf

    return tf.io.gfile


def write_candidates(plan, tmp):
    """One JSON line per candidate sample (split, planned shard, index in split, Sample), in
    files of CANDIDATES_PER_FILE lines -> their paths. Written with tf.io.gfile, read back the
    same way, so the pipeline needs no Beam IO connector for the output filesystem."""
    lines = []
    for split, split_plan in plan.plans.items():
        for index, sample in enumerate(split_plan.samples):
            lines.append(json.dumps({"split": split, "index": index,
                                     "shard": sharding.shard_index(split_plan.bounds, index),
                                     "sample": dataclasses.asdict(sample)}))
    paths = []
    for start in range(0, len(lines), CANDIDATES_PER_FILE):
        paths.append(join(join(tmp, WORK_DIR), f"candidates-{len(paths):05d}.jsonl"))
        fsio.write_bytes(paths[-1], "\n".join(lines[start:start + CANDIDATES_PER_FILE]).encode())
    return paths


def read_lines(path):
    """A candidates-*.jsonl file -> its lines (the pipeline's first step)."""
    with gfile().GFile(path, "r") as fh:
        return fh.read().splitlines()


def encode_candidate(line, decoder=None):
    """A candidates.jsonl line -> ((split, shard), (candidate index, SampleResult)).

    decoder: the dataset's MaskDecoder (None for Pets), as the local runner uses it."""
    c = json.loads(line)
    if decoder is None:
        sample = PetsSample(**c["sample"])
    else:
        fields = dict(c["sample"])
        fields["annotations"] = tuple(fields.get("annotations") or ())
        sample = Sample(**fields)
    result = encode.encode_sample(sample, decoder)
    return (c["split"], c["shard"]), (c["index"], result)


def write_shard(element, tmp, prefix, compression, num_classes=3):
    """Write one planned shard from one worker, records in candidate order -> its summary dict.

    The part file and the summary (`.beam/{split}-{shard}.json`) are each staged under a unique
    name and renamed, so a retried or speculative bundle never leaves a half-written file.
    """
    import tensorflow as tf

    (split, shard), items = element
    part = join(tmp, sharding.part_name(prefix, split, shard))
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compression == "gzip" else "")
    stage = f"{part}.tmp-{uuid.uuid4().hex}"
    writer, count, pixels, outcomes, stats, sizes = None, 0, [0] * num_classes, [], {}, {}
    presence = ([0] * num_classes, [0] * num_classes)  # sharding.add_presence
    try:
        for index, result in sorted(items, key=lambda item: item[0]):
            if result.skipped:
                outcomes.append([index, "skipped", result.name, result.skipped])
            elif result.repaired:
                outcomes.append([index, "repaired", result.name, result.repaired])
            if not result.skipped:
                outcomes += [[index, "dropped", result.name, r]
                             for r in getattr(result, "dropped", ())]
            if result.example is None:
                continue
            if writer is None:  # as SplitPlan: no file for a shard whose samples were all skipped
                writer = tf.io.TFRecordWriter(stage, options)
            writer.write(result.example)
            count += 1
            pixels = [a + b for a, b in zip(pixels, result.class_pixel_counts)]
            sharding.add_presence(*presence, result.class_pixel_counts)
            sharding.add_stats(stats, getattr(result, "stats", ()))
            size = "x".join(map(str, sharding.example_size(result.example)))
            sizes[size] = sizes.get(size, 0) + 1
        if writer is not None:
            writer.close()
            tf.io.gfile.rename(stage, part, overwrite=True)
    finally:
        if tf.io.gfile.exists(stage):
            tf.io.gfile.remove(stage)
    _count("records", count)  # live progress in the runner's UI (Dataflow's job page)
    _count("skipped", sum(o[1] == "skipped" for o in outcomes))
    _count("repaired", sum(o[1] == "repaired" for o in outcomes))
    summary = {"split": split, "shard": shard, "num_examples": count, "class_pixels": pixels,
               "class_image_counts": presence[0], "class_image_pixels": presence[1],
               "outcomes": outcomes, "stats": stats,
               "image_sizes": sizes}
    if count:
        summary["sha256"], summary["bytes"] = fsio.sha256_and_size(part)
    fsio.write_bytes(join(join(tmp, WORK_DIR), f"{split}-{shard:05d}.json"),
                     json.dumps(summary).encode())
    return summary


def _count(name, n):
    from apache_beam.metrics import Metrics

    Metrics.counter("segkit", name).inc(n)
