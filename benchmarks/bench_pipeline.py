"""Input pipeline benchmark (issues 3 and 16): `segdata.load_dataset` against the decode limit.

On generated Pets-sized data (250-500 px sides, 200x200 output, batch 64, train split in
--num-shards shards), in one process, interleaved rounds, medians, it measures images per second,
CPU milliseconds per image (process time, all threads) and milliseconds to the first batch (a
pass's fixed cost: iterator creation, shard opening, shuffle fill) of:
  limit       the decode limit: the same JPEG/PNG bytes already in memory, plain tf.io.decode_jpeg
              / decode_png + tf.image.resize (bilinear image, nearest mask) + cast, one parallel
              deterministic map, batch, with the tf.data options load_dataset sets (autotuner
              off: see segdata/input/pipeline.py);
  limit_default  the same with tf.data's default options (autotuner on);
  transforms  segkit's own decode_pair + resize_pair on the same bytes in memory;
  unshuffled  load_dataset(shuffle=False)            (evaluation, prediction);
  seeded      load_dataset(shuffle=True, seed=1)     (what tools/train.py --seed uses);
  unseeded    load_dataset(shuffle=True)             (no seed: order traded for speed);
  cached      load_dataset(cache=True), second pass;
  service1/2  load_dataset(shuffle=True, seed=1, service=...) through a tf.data service
              dispatcher with 1 or 2 workers, all in this process (same CPUs: this measures the
              service's overhead, not the scaling that workers on other hosts give);
  chapter     the chapter's loader: keras.utils.load_img + img_to_array per file, into NumPy;
and, each in a fresh process, peak resident memory of the chapter's loader vs the pipeline
(pipeline_memory.py). The loaders both scripts measure are in pipeline_loaders.py.
Ratios "x limit" are taken per round (every case runs back to back in each round), then the
median, so a machine shared with other jobs moves them less than the absolute rates.

Generated data and records are cached under --cache-dir (the first run spends a few minutes
generating them). Usage:
    python benchmarks/bench_pipeline.py [--num-images 1000] [--num-shards 4] [--rounds 5]
        [--cache-dir DIR] [--memory-repeats 2] [--skip chapter,cached,service1,service2]
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

from pipeline_loaders import BATCH, IMAGE_SIZE, chapter_loader, drain, split_bytes


def prepare(cache_dir, num_images, num_shards=4):
    """Generate (once) a Pets folder of 2 * num_images images and two record sets from it:
    "small" (train split = num_images) and "large" (train split = 1.9 * num_images), each split
    in `num_shards` shard files."""
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data

    cache_dir = pathlib.Path(cache_dir)
    pets = cache_dir / f"pets-{2 * num_images}"
    if not (pets / "annotations" / "list.txt").is_file():
        print(f"generating {2 * num_images} images into {pets} (once) ...", flush=True)
        make_sample_data(pets, 2 * num_images, seed=0, min_side=250, max_side=500, overwrite=True)
    sets = {}
    for name, val_size in (("small", num_images), ("large", num_images // 10)):
        out = cache_dir / f"records-{2 * num_images}-{name}-{num_shards}shards"
        if not (out / "manifest.json").is_file():
            print(f"building {out} (once) ...", flush=True)
            build_records(pets, out, split="holdout", val_size=val_size, seed=1337,
                          num_shards=num_shards, overwrite=True, progress=False)
        sets[name] = out
    return pets, sets


def decode_limit(pairs, autotune=False):
    """tf.data over in-memory bytes: plain TensorFlow decode + resize + cast and nothing else."""
    import tensorflow as tf

    def decode(image, mask):
        image = tf.image.resize(tf.io.decode_jpeg(image, channels=3), IMAGE_SIZE)
        mask = tf.image.resize(tf.io.decode_png(mask, channels=1), IMAGE_SIZE, method="nearest")
        return image, mask

    return _in_memory(pairs, decode, autotune)


def transforms_on_bytes(pairs):
    """The same bytes through segkit's own decode_pair + resize_pair (float32 images)."""
    import tensorflow as tf

    from segdata.input import transforms

    def decode(image, mask):
        image, trimap = transforms.decode_pair(image, mask, tf.constant("bench"))
        return transforms.resize_pair(image, trimap, IMAGE_SIZE, image_dtype=tf.float32)

    return _in_memory(pairs, decode)


def _in_memory(pairs, decode, autotune=False):
    """With autotune=False, the tf.data options load_dataset uses (see pipeline._own_options):
    with the autotuner on, a third to a half of the passes ran on one core on the 2-core
    machine, so the default-options limit is a second, noisier baseline ("limit_default")."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((tf.constant([p[1] for p in pairs]),
                                             tf.constant([p[2] for p in pairs])))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(BATCH)
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def timed(fn):
    """(wall seconds, process CPU seconds of all threads) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


CASES = {
    "limit": "decode limit: plain decode_jpeg/png + resize + cast of the same bytes in memory",
    "limit_default": "the same decode limit with tf.data's default options (autotuner on)",
    "transforms": "segkit's decode_pair + resize_pair on the same bytes in memory",
    "unshuffled": "`load_dataset(shuffle=False)`",
    "seeded": "`load_dataset(shuffle=True, seed=1)` (`tools/train.py --seed`)",
    "unseeded": "`load_dataset(shuffle=True)`, no seed",
    "cached": "`load_dataset(cache=True)`, second pass",
    "service1": "`load_dataset(shuffle=True, seed=1, service=...)`, tf.data service, "
                "1 local worker",
    "service2": "the same through a tf.data service with 2 local workers",
    "chapter": "chapter's loader (`load_img` + `img_to_array`, into NumPy)",
}


def make_cases(pets, records, pairs, skip=()):
    """{name: callable that runs one full pass and returns the number of examples}."""
    from segdata import load_dataset

    names = [p[0] for p in pairs]
    load = lambda **kw: load_dataset(records, "train", image_size=IMAGE_SIZE,  # noqa: E731
                                     batch_size=BATCH, **kw)
    datasets = {"limit": decode_limit(pairs), "limit_default": decode_limit(pairs, True),
                "transforms": transforms_on_bytes(pairs),
                "unshuffled": load(), "seeded": load(shuffle=True, seed=1),
                "unseeded": load(shuffle=True), "cached": load(shuffle=True, cache=True)}
    for workers in (1, 2):
        if f"service{workers}" not in skip:
            # Dispatcher and workers in this process (so the CPU column counts them too),
            # each run on its own dispatcher so the worker count is exact.
            target = _local_service(workers)
            datasets[f"service{workers}"] = load(shuffle=True, seed=1, service=target)
    cases = {k: (lambda d=d: drain(d)) for k, d in datasets.items()}
    cases["chapter"] = lambda: (len(chapter_loader(pets, names)[0]), None)
    cases = {k: v for k, v in cases.items() if k not in skip}
    for run in cases.values():  # warm up: first iterations, page cache, fills the cache
        run()
    return cases


_SERVERS = []  # kept alive for the whole run


def _local_service(workers):
    """grpc:// address of a new in-process tf.data service dispatcher with `workers` workers."""
    from segdata.input.service import start_dispatcher, start_worker

    dispatcher = start_dispatcher()
    _SERVERS.extend([dispatcher] + [start_worker(dispatcher.target) for _ in range(workers)])
    return dispatcher.target


def throughput(cases, n, rounds):
    """Interleaved rounds of every case; returns {name: (median img/s, median x limit by rate,
    median CPU ms per image, x limit by CPU, median ms to the first batch or None)}."""
    walls = {k: [] for k in cases}
    cpus = {k: [] for k in cases}
    firsts = {k: [] for k in cases}
    for r in range(rounds):
        for name, run in cases.items():
            box = []
            wall, cpu = timed(lambda: box.append(run()))
            assert box[0][0] == n, (name, box[0][0], n)
            walls[name].append(wall)
            cpus[name].append(cpu)
            firsts[name].append(box[0][1])
        print(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{k} {n / v[-1]:.0f} img/s" for k, v in walls.items()), flush=True)
    out = {}
    for k in cases:
        # Ratios per round first (cases in one round share the machine's load), then the median.
        by_rate = statistics.median(lim / t for t, lim in zip(walls[k], walls["limit"]))
        by_cpu = statistics.median(lim / t for t, lim in zip(cpus[k], cpus["limit"]))
        first = None if None in firsts[k] else 1000 * statistics.median(firsts[k])
        out[k] = (n / statistics.median(walls[k]), by_rate,
                  1000 * statistics.median(cpus[k]) / n, by_cpu, first)
    return out


def print_throughput(pets, records, rounds, skip=()):
    pairs = split_bytes(records)
    n = len(pairs)
    shards = len(read_shards(records))
    results = throughput(make_cases(pets, records, pairs, skip), n, rounds)
    print(f"\nThroughput, train split of {n} images (250-500 px) in {shards} shards -> "
          f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, batch {BATCH}; median of {rounds} interleaved "
          "rounds (ratios: median of per-round ratios)")
    print("| case | images/s | x decode limit | CPU ms/image | x limit by CPU | first batch ms |"
          "\n|---|---|---|---|---|---|")
    for key, (rate, by_rate, cpu_ms, by_cpu, first) in results.items():
        first = "" if first is None else f"{first:.0f}"
        print(f"| {CASES[key]} | {rate:,.0f} | {by_rate:.2f}x | {cpu_ms:.2f} | {by_cpu:.2f}x "
              f"| {first} |")
    return results


def read_shards(records):
    from segdata.records.manifest import read_manifest

    return read_manifest(records)["splits"]["train"]["shards"]


def machine():
    model = next((line.split(":", 1)[1].strip() for line in
                  open("/proc/cpuinfo", encoding="utf-8") if line.startswith("model name")), "?")
    return f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=1000, help="train split size")
    parser.add_argument("--num-shards", type=int, default=4, help="shard files per split")
    parser.add_argument("--rounds", type=int, default=5, help="0 skips the throughput part")
    parser.add_argument("--skip", default="", help="comma-separated cases to leave out, e.g. "
                        "chapter,cached (the decode limit always runs)")
    parser.add_argument("--cache-dir", default=os.path.join(
        os.path.expanduser("~"), ".cache", "segkit", "bench_pipeline"))
    parser.add_argument("--memory-repeats", type=int, default=2,
                        help="fresh processes per loader and size (0 skips the memory part)")
    args = parser.parse_args(argv)
    pets, sets = prepare(args.cache_dir, args.num_images, args.num_shards)
    print(f"machine: {machine()}", flush=True)
    if args.rounds:
        skip = {name for name in args.skip.split(",") if name} - {"limit"}
        if skip - set(CASES):
            parser.error(f"--skip: unknown case(s) {sorted(skip - set(CASES))}; known: "
                         f"{', '.join(CASES)}")
        print_throughput(pets, sets["small"], args.rounds, skip)
    if args.memory_repeats:
        import pipeline_memory  # beside this script

        pipeline_memory.print_peak_memory(pets, sets, args.memory_repeats)
    print(f"\nmachine at the end: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
