"""Benchmark build_records against the machine's pure JPEG-decode rate, measured in this run.

  python benchmarks/bench_build.py [--num-images 1000] [--workers K] [--cache-dir DIR]

Generates (once, cached) a Pets-layout set of Pets-sized images (250-500 px sides), then:
1. baseline: single-process full decode of every image from in-memory bytes, with PIL
   (libjpeg-turbo, the decoder the converter validates with) and with tf.io.decode_jpeg;
   the faster of the two is the baseline;
2. build_records with --workers 1 and with the default worker count (CPU count).
Goal: default-worker images/s >= 0.8 x (cores x single-core decode rate). The shards and
source files are in the page cache after step 1, so disk speed is mostly out of the picture;
TensorFlow is imported before timing (a one-off ~5 s per run that a user also pays).
"""

import argparse
import io
import os
import resource
import shutil
import sys
import tempfile
import time


def _decode_rates(paths, min_seconds=2.0):
    """Single-process decode rates (images/s) of in-memory JPEG bytes: (PIL, tf.io)."""
    from PIL import Image
    import tensorflow as tf

    blobs = [open(p, "rb").read() for p in paths]

    def rate(decode):
        n, start = 0, time.perf_counter()
        while True:
            for b in blobs:
                decode(b)
            n += len(blobs)
            if time.perf_counter() - start >= min_seconds:
                return n / (time.perf_counter() - start)

    pil = rate(lambda b: Image.open(io.BytesIO(b)).load())
    with tf.device("/CPU:0"):
        tensors = [tf.constant(b) for b in blobs]
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_seconds:
            for t in tensors:
                tf.io.decode_jpeg(t)
            n += len(tensors)
        tfr = n / (time.perf_counter() - start)
    return pil, tfr


def _build(data, out, workers):
    from segdata.convert import build_records

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    manifest = build_records(data, out, split="holdout", val_size=100, workers=workers,
                             progress=False)
    seconds = time.perf_counter() - start
    kept = sum(s["num_examples"] for s in manifest["splits"].values())
    return kept / seconds, seconds, kept


def main(argv=None):
    from segdata.convert import default_workers
    from segdata.sample_data import GENERATOR_VERSION, make_sample_data

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-images", type=int, default=1000)
    p.add_argument("--workers", type=int, default=None, help="default: CPU count")
    p.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "segkit-bench"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cores = default_workers()
    workers = args.workers or cores
    data = os.path.join(args.cache_dir, f"pets-{args.num_images}-seed{args.seed}-v{GENERATOR_VERSION}")
    if not os.path.isdir(data):
        t = time.perf_counter()
        make_sample_data(data, args.num_images, seed=args.seed, min_side=250, max_side=500)
        print(f"generated {args.num_images} images in {time.perf_counter() - t:.1f} s -> {data}")
    jpgs = sorted(os.path.join(data, "images", f) for f in os.listdir(os.path.join(data, "images")))
    mb = sum(os.path.getsize(j) for j in jpgs) / 1e6
    pil_rate, tf_rate = _decode_rates(jpgs)
    decode = max(pil_rate, tf_rate)
    out_root = tempfile.mkdtemp(prefix="segkit-bench-out-")
    try:
        one, one_s, kept = _build(data, os.path.join(out_root, "w1"), 1)
        many, many_s, _ = _build(data, os.path.join(out_root, "wN"), workers)
    finally:
        shutil.rmtree(out_root, ignore_errors=True)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    target = cores * decode
    print(f"machine: {cores} usable cores, load average {os.getloadavg()[0]:.1f}; "
          f"set: {kept} images, {mb:.0f} MB of JPEG, 250-500 px")
    print(f"{'measure':<44}{'images/s':>10}{'ratio':>9}")
    print(f"{'pure decode, 1 core, PIL (in-memory bytes)':<44}{pil_rate:>10.0f}")
    print(f"{'pure decode, 1 core, tf.io.decode_jpeg':<44}{tf_rate:>10.0f}")
    print(f"{'baseline: cores x best decode rate':<44}{target:>10.0f}{1:>9.2f}")
    print(f"{'build_records --workers 1':<44}{one:>10.0f}{one / decode:>9.2f}  (vs 1 x decode)")
    print(f"{f'build_records --workers {workers} (default)':<44}{many:>10.0f}"
          f"{many / target:>9.2f}  (vs cores x decode; goal 0.80)")
    # Workers are spawned (fork + exec), so RUSAGE_CHILDREN would report the parent's size at
    # fork time, not the workers'; only the parent's peak is meaningful here.
    print(f"wall: {one_s:.1f} s (1 worker), {many_s:.1f} s ({workers} workers); peak RSS of "
          f"the parent {peak_self:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
