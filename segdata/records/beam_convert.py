"""`build_records_beam`: the record set of `segdata.records.convert.build_records`, built on Apache Beam.

Same bytes as the local runner: the plan (splits, shard boundaries over the candidates) comes
from `segdata.records.build_plan`, the per-sample work is
`segdata.formats.pets.samples.encode_sample` unchanged, and each shard is written by one
worker, in candidate order, with TensorFlow's TFRecordWriter. So
every shard, its SHA-256 and the manifest (all but its "build" entry) equal a local build's.

    candidates-*.jsonl --FlatMap(read)--> Reshuffle --Map(encode_sample)--> ((split, shard),
    (index, SampleResult)) --GroupByKey--> Map(write_shard): sort by index, write the part
    file and a summary JSON (count, pixels, SHA-256, skipped/repaired with their index)

(TFDS's Beam writer, with our file names and order, which `WriteToTFRecord` cannot give; the
steps are in `segdata.records.beam_shards`.) The
launcher then reads the summaries, names the non-empty shards (`sharding.split_entry`), writes
the TFDS metadata and the manifest, and installs `.OUT.tmp-<pid>` as OUT, manifest last; a
failed pipeline leaves no manifest. Paths go through tf.io.gfile (segdata.io.fsio), so the source
and OUT may be URLs (gs:// on Dataflow). apache_beam is imported only when this runs.
"""

import json
import os
import pathlib
import shlex
import time

from segdata.io import fsio
from segdata.records import beam_shards, build_plan, convert, sharding, tfds_meta
from segdata.records import manifest as manifest_mod
from segdata.records.beam_shards import WORK_DIR, join
from segdata.records.build_plan import BuildError

DEFAULT_BEAM_OPTIONS = ("--runner=DirectRunner",)
INSTALL_HINT = ("pip install 'segkit[beam]' (or pip install 'apache-beam~=2.77') on this "
                "machine and on the workers")


class PipelineError(RuntimeError):
    """The Beam pipeline failed; nothing was installed. The message names the runner and cause."""


def _pipeline_options(beam_options):
    """str (shell words) or sequence of flags -> PipelineOptions; DirectRunner unless given."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    flags = shlex.split(beam_options) if isinstance(beam_options, str) else list(beam_options or ())
    if not any(f == "--runner" or f.startswith("--runner=") for f in flags):
        flags = list(DEFAULT_BEAM_OPTIONS) + flags
    options = PipelineOptions(flags)
    return options, options.view_as(StandardOptions).runner or "DirectRunner"


def _run_pipeline(plan, tmp, candidates, options, runner):
    import apache_beam as beam

    prefix, compression = plan.options["prefix"], plan.options["compression"]
    # Pets keeps write_shard's original call (3 classes, the default).
    extra = {} if plan.format == "pets" else {"num_classes": len(plan.classes)}
    try:
        with beam.Pipeline(options=options) as p:
            _ = (p
                 | "CandidateFiles" >> beam.Create(candidates)
                 | "Candidates" >> beam.FlatMap(beam_shards.read_lines)
                 | "Spread" >> beam.Reshuffle()  # few small files: give every worker samples
                 | "Encode" >> (beam.Map(beam_shards.encode_candidate) if plan.decoder is None
                                else beam.Map(beam_shards.encode_candidate, decoder=plan.decoder))
                 | "ByShard" >> beam.GroupByKey()
                 | "WriteShard" >> beam.Map(beam_shards.write_shard, tmp=tmp, prefix=prefix,
                                            compression=compression, **extra))
    except Exception as e:  # noqa: BLE001 - runners wrap worker errors in many types
        cause = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise PipelineError(f"the Beam pipeline ({runner}) failed, nothing was installed: "
                            f"{type(e).__name__}: {cause}") from e


def _collect(plan, tmp):
    """Read the shard summaries -> ({split: manifest entry}, skipped, repaired, dropped), in
    local order."""
    gfile = beam_shards.gfile()
    splits, skipped, repaired, dropped = {}, plan.missing_skips(), [], []
    for split, split_plan in plan.plans.items():
        counts, pixels, outcomes = [0] * len(split_plan.bounds), [0] * len(plan.classes), []
        presence = ([0] * len(plan.classes), [0] * len(plan.classes))
        stats = {}
        digests, sizes = {}, {}
        for shard, end in enumerate(split_plan.bounds):
            if end == (split_plan.bounds[shard - 1] if shard else 0):
                continue  # no candidate planned here (an empty split)
            path = join(join(tmp, WORK_DIR), f"{split}-{shard:05d}.json")
            if not gfile.exists(path):
                raise PipelineError(f"the Beam pipeline finished without writing shard {shard} "
                                    f"of split {split!r} ({path}); nothing was installed")
            with gfile.GFile(path, "rb") as fh:
                summary = json.loads(fh.read())
            counts[shard] = summary["num_examples"]
            pixels = [a + b for a, b in zip(pixels, summary["class_pixels"])]
            for total, key in zip(presence, ("class_image_counts", "class_image_pixels")):
                total[:] = [a + b for a, b in zip(total, summary[key])]
            for size, n in summary.get("image_sizes", {}).items():
                key = tuple(int(v) for v in size.split("x"))
                sizes[key] = sizes.get(key, 0) + n
            outcomes += summary["outcomes"]
            sharding.add_stats(stats, summary.get("stats", {}).items())
            digests[shard] = (summary.get("sha256"), summary.get("bytes"))
        lists = {"skipped": skipped, "repaired": repaired, "dropped": dropped}
        for _, kind, name, reason in sorted(outcomes, key=lambda o: o[0]):  # stable: local order
            lists[kind].append({"name": name, "reason": reason})

        def install(old_index, name, split=split, digests=digests):
            gfile.rename(join(tmp, sharding.part_name(plan.options["prefix"], split, old_index)),
                         join(tmp, name))
            return digests[old_index]

        splits[split] = sharding.split_entry(plan.options["prefix"], split, counts, pixels,
                                             install, split_plan.first_value, stats,
                                             sizes, presence)
    return splits, skipped, repaired, dropped


def _old_manifest(out, plan, overwrite):
    """convert.check_output through tf.io.gfile (any filesystem)."""
    gfile = beam_shards.gfile()
    if not gfile.exists(out):
        return None
    if not gfile.isdir(out):
        raise BuildError(f"--output-dir {out} exists and is not a folder; choose another path")
    if not gfile.listdir(out):
        return None
    old = None
    try:
        with gfile.GFile(join(out, manifest_mod.MANIFEST_NAME), "rb") as fh:
            old = json.loads(fh.read())
    except Exception:  # noqa: BLE001 - missing or unreadable: not a record set
        pass
    if not isinstance(old, dict) or old.get("format_version") != manifest_mod.FORMAT_VERSION:
        old = None
    return build_plan.check_old_manifest(out, old, plan.options, plan.source, overwrite)


def _install(tmp, out, manifest):
    """Move the finished `tmp` into place; manifest.json last."""
    gfile = beam_shards.gfile()
    if not fsio.is_remote(out):
        # A local folder renames atomically: the local runner's own install.
        manifest_mod.write_manifest(tmp, manifest)
        convert.install_output(pathlib.Path(tmp), pathlib.Path(out))
        return
    # Object stores have no folder rename: retire the old set's manifest first (it then reads
    # as unfinished), move file by file, and write the new manifest last.
    manifest_path = join(out, manifest_mod.MANIFEST_NAME)
    if gfile.exists(out):
        if gfile.exists(manifest_path):
            gfile.remove(manifest_path)
        gfile.rmtree(out)
    gfile.makedirs(out)
    for name in gfile.listdir(tmp):
        gfile.rename(join(tmp, name), join(out, name), overwrite=True)
    fsio.write_bytes(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    gfile.rmtree(tmp)


def build_records_beam(data_dir, output_dir, *, split="official", val_size=1000, seed=1337,
                       num_shards=None, shard_size_mb=None, compression="none", strict=False,
                       overwrite=False, prefix=None, beam_options=None, format="auto",
                       instances=False, crowd="auto", exif_orientation="auto"):
    """`segdata.records.convert.build_records` on Apache Beam; returns the manifest (dict).

    Arguments as build_records (no `workers`: the runner decides), plus
    beam_options: Beam pipeline flags, a str of shell words or a list, e.g.
      "--runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing"
      or Dataflow's "--runner=DataflowRunner --project=P --region=R --temp_location=gs://..."
      (default: DirectRunner).
    The manifest equals build_records' except its "build" entry: {"runner": "beam",
    "beam_runner": name, "seconds": wall time}.
    Raises:
      BuildError / LayoutError (ValueError) for bad options or input, StrictError with
      strict=True and skipped samples, PipelineError when the pipeline fails.
    """
    start = time.perf_counter()
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        raise BuildError(f"--runner beam needs Apache Beam, which is not installed: "
                         f"{INSTALL_HINT}") from None
    plan = build_plan.plan_build(data_dir, split=split, val_size=val_size, seed=seed,
                                 num_shards=num_shards, shard_size_mb=shard_size_mb,
                                 compression=compression, strict=strict, prefix=prefix,
                                 format=format, instances=instances, crowd=crowd,
                                 exif_orientation=exif_orientation)
    options, runner = _pipeline_options(beam_options)
    gfile = beam_shards.gfile()
    out = output_dir if fsio.is_remote(output_dir) else str(
        pathlib.Path(output_dir).expanduser().resolve())
    out = out.rstrip("/")
    old_manifest = _old_manifest(out, plan, overwrite)
    parent, name = out.rsplit("/", 1)
    parent = parent or "/"
    gfile.makedirs(parent)
    if not fsio.is_remote(out):
        convert.clean_stale(pathlib.Path(parent), name)
    tmp = join(parent, f".{name}.tmp-{os.getpid()}")
    if gfile.exists(tmp):
        gfile.rmtree(tmp)
    gfile.makedirs(join(tmp, WORK_DIR))
    try:
        candidates = beam_shards.write_candidates(plan, tmp)
        _run_pipeline(plan, tmp, candidates, options, runner)
        splits, skipped, repaired, dropped = _collect(plan, tmp)
        gfile.rmtree(join(tmp, WORK_DIR))
        build_plan.check_strict(strict, skipped)
        manifest = build_plan.make_manifest(
            plan, splits, skipped, repaired,
            {"runner": "beam", "beam_runner": runner,
             "seconds": round(time.perf_counter() - start, 3)}, dropped)
        build_plan.check_same_shards(out, old_manifest, manifest)
        tfds_meta.write_tfds_metadata(tmp, manifest, display_name=out)
        _install(tmp, out, manifest)
    finally:
        if gfile.exists(tmp):
            gfile.rmtree(tmp)
    return manifest
