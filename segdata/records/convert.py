"""`build_records`: a dataset folder -> sharded TFRecords + manifest.json, atomically.

Flow: scan the folder, assign splits, fix shard boundaries (segdata.records.build_plan, shared with the
Apache Beam runner in segdata.records.beam_convert) -> run the pure
per-sample function (segdata.records.encode.encode_sample) in order, in-process or in a pool of
worker processes -> the parent alone writes shards (segdata.records.sharding) -> manifest last ->
rename the finished temporary folder into place.

Why this shape:
- Workers only turn paths into Example bytes; one process writes every file, so a
  TFRecordWriter is never shared and output order is the input order (`Pool.imap`), which
  makes the bytes identical for any worker count.
- Workers are never forked from the parent: it imports TensorFlow (for the writer), and
  forking a process that runs TF's thread pools can deadlock. They come from a clean
  forkserver (or are spawned) and import only PIL/numpy/protobuf, never TensorFlow.
- Everything is written into `.OUT.tmp-<pid>` beside OUT and renamed at the end, so OUT either
  holds a complete set with a manifest or nothing new; stale temp folders of dead runs are
  removed by the next run.
"""

import contextlib
import functools
import os
import pathlib
import shutil
import sys
import time

from segdata.io import fsio
from segdata.records import build_plan, encode, tfds_meta
from segdata.records import manifest as manifest_mod
from segdata.records.build_plan import COMPRESSIONS, BuildError, StrictError  # noqa: F401 (public here)


def default_workers():
    """CPUs this process may use (respects affinity masks / container CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _results(samples, workers, stack, decoder=None):
    """Iterator of SampleResult for each sample, in input order.

    With workers > 1 the pool starts (and begins work) right away, so the workers' start-up
    overlaps the parent's own TensorFlow import; `stack` (contextlib.ExitStack) ends it.
    """
    if workers <= 1 or len(samples) < 2:
        # In-process path (Model Garden's multiple_processes=0 idea): simple to test and debug.
        return (encode.encode_sample(sample, decoder) for sample in samples)
    # Small ordered chunks: enough to amortize IPC, small enough to keep all workers busy.
    chunksize = max(1, min(16, len(samples) // (workers * 8)))
    pool = stack.enter_context(_worker_context().Pool(workers))
    return pool.imap(functools.partial(encode.encode_sample, decoder=decoder), samples, chunksize)


def _worker_context():
    """A multiprocessing context whose workers never inherit the parent's TensorFlow.

    "forkserver" (Linux, macOS): a fresh server process imports segdata.records.encode once
    and forks each worker from itself, so N workers cost one import, not N. Elsewhere: "spawn".
    """
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["segdata.records.encode"])
        return ctx
    return multiprocessing.get_context("spawn")


def _write_all(plans, results, out_dir, compression, strict, bar):
    """Feed each split's results, in order, to its SplitPlan -> (skipped, repaired, dropped)."""
    skipped, repaired, dropped = [], [], []
    for plan in plans.values():
        plan.open(out_dir, compression)
        for _ in plan.samples:
            result = next(results)
            bar.update(1)
            if result.skipped:
                skipped.append({"name": result.name, "reason": result.skipped})
            elif result.repaired:
                repaired.append({"name": result.name, "reason": result.repaired})
            if not result.skipped:
                dropped += [{"name": result.name, "reason": r}
                            for r in getattr(result, "dropped", ())]
            if not (strict and skipped):  # strict: stop writing, keep collecting reasons
                plan.add(result)
        plan.close()
    return skipped, repaired, dropped


def clean_stale(parent, name):
    """Remove temp folders of earlier runs of this output that are no longer running."""
    for path in parent.glob(f".{name}.tmp-*"):
        try:
            pid = int(path.name.rsplit("-", 1)[1])
            if pid != os.getpid():
                os.kill(pid, 0)
                continue  # another live build of the same output: leave it alone
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        shutil.rmtree(path, ignore_errors=True)


def check_output(out, options, source, overwrite):
    """Refuse to clobber a foreign folder or a different record set. Returns the old manifest."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise BuildError(f"--output-dir {out} exists and is not a folder; choose another path")
    if not any(out.iterdir()):
        return None
    try:
        old = manifest_mod.read_manifest(out)
    except manifest_mod.ManifestError:
        old = None
    return build_plan.check_old_manifest(out, old, options, source, overwrite)


def install_output(tmp, out):
    """Move the finished `tmp` folder to `out`, replacing an existing set."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


def build_records(data_dir, output_dir, *, split="official", val_size=1000, seed=1337,
                  num_shards=None, shard_size_mb=None, workers=None, compression="none",
                  strict=False, overwrite=False, prefix=None, progress=True, format="auto",
                  instances=False, crowd="auto", exif_orientation="auto"):
    """Convert a dataset folder into sharded TFRecords; returns the manifest (dict).

    Args:
      data_dir: the dataset's folder, in any layout of segdata.formats (Pets: images/ and
        annotations/, see segdata.formats.pets.layout).
      output_dir: folder to create (or replace, with overwrite=True) with the shards.
      split: "official" (train = trainval.txt, test = test.txt) or "holdout" (the chapter's
        shuffled split: train / validation, `val_size` images of the sorted list in validation).
      num_shards / shard_size_mb: override the shard count rule of segdata.records.sharding.
      workers: processes for the per-sample work; None = CPU count, 0 or 1 = in-process.
      compression: "none" or "gzip" (file names do not change; the manifest says which).
      strict: raise StrictError (writing nothing) if any sample is skipped.
      format: "auto" (recognised from the files) or one of segdata.formats.FORMATS.
      instances: COCO only: also write Model Garden's instance keys (image/object/...).
      prefix: the dataset name in shard file names ({prefix}-{split}.tfrecord-...); None:
        the format's name ("pets", "voc", "coco", "cityscapes", ...).
      crowd: COCO only: "auto", "ignore" or "objects", what `iscrowd: 1` means
        (segdata.formats.coco_crowd); the manifest's "ignore" counts what went to ignore.
      exif_orientation: "auto", "apply" or "ignore": whether a photo's EXIF Orientation turns
        its stored pixels to match its annotation (segdata.records.orientation); not Pets.
    Raises:
      segdata.formats.pets.layout.LayoutError / BuildError (ValueError subclasses) with what to do.
    """
    start = time.perf_counter()
    plan = build_plan.plan_build(data_dir, split=split, val_size=val_size, seed=seed,
                                 num_shards=num_shards, shard_size_mb=shard_size_mb,
                                 compression=compression, strict=strict, prefix=prefix,
                                 format=format, instances=instances, crowd=crowd,
                                 exif_orientation=exif_orientation)
    workers = default_workers() if workers is None else max(0, int(workers))
    plans = plan.plans
    if fsio.is_remote(output_dir):  # pathlib would turn gs://b/x into a local folder "gs:"
        raise BuildError(f"--output-dir {output_dir}: the local runner writes local folders; "
                         "use --runner beam (segdata.records.beam_convert) for a URL")
    out = pathlib.Path(output_dir).expanduser().resolve()
    old_manifest = check_output(out, plan.options, plan.source, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out.parent, out.name)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        skipped = plan.missing_skips()
        all_samples = [smp for p in plans.values() for smp in p.samples]
        with contextlib.ExitStack() as stack:
            results = _results(all_samples, workers, stack, plan.decoder)
            # The writer needs TensorFlow; importing it now (workers are already busy) keeps
            # its few seconds out of the progress bar's rate and ETA.
            import tensorflow  # noqa: F401
            from tqdm.auto import tqdm

            bar = stack.enter_context(tqdm(total=len(all_samples), desc="build_records",
                                           unit="img", disable=not progress, file=sys.stderr))
            found, repaired, dropped = _write_all(plans, results, tmp, compression, strict, bar)
        skipped += found
        build_plan.check_strict(strict, skipped)
        manifest = build_plan.make_manifest(
            plan, {s: p.finish() for s, p in plans.items()}, skipped, repaired,
            {"runner": "local", "workers": workers,
             "seconds": round(time.perf_counter() - start, 3)}, dropped)
        build_plan.check_same_shards(out, old_manifest, manifest)
        # TFDS reads the same shards through features.json/dataset_info.json; written before
        # the manifest, which marks the set complete.
        tfds_meta.write_tfds_metadata(tmp, manifest, display_name=out)
        manifest_mod.write_manifest(tmp, manifest)
        install_output(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest
