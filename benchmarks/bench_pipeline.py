"""Input pipeline benchmark (issue 3): the chapter's NumPy loader vs `segdata.load_dataset`.

On generated Pets-sized data (250-500 px sides, 200x200 output, batch 64), in one process,
with interleaved rounds and medians, it measures images per second of:
  1. chapter   the chapter's loader: keras.utils.load_img + img_to_array per file, into NumPy;
  2. limit     the pure decode limit: the same JPEG/PNG bytes already in memory, decode + resize
               only (tf.data map with AUTOTUNE, the pipeline's own decode and resize functions);
  3. pipeline  load_dataset, first pass (shuffled, no cache): reading + parsing + decoding;
  4. cached    load_dataset(cache=True), second pass;
and, each in a fresh process, 5. peak resident memory of (1) vs (3) at two dataset sizes.

Generated data and records are cached under --cache-dir (the first run spends a few minutes
generating them). Usage:
    python benchmarks/bench_pipeline.py [--num-images 1000] [--rounds 3] [--cache-dir DIR]
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

IMAGE_SIZE = (200, 200)
BATCH = 64


def prepare(cache_dir, num_images):
    """Generate (once) a Pets folder of 2 * num_images images and two record sets from it:
    "small" (train split = num_images) and "large" (train split = 1.9 * num_images)."""
    from segdata.convert import build_records
    from segdata.sample_data import make_sample_data

    cache_dir = pathlib.Path(cache_dir)
    pets = cache_dir / f"pets-{2 * num_images}"
    if not (pets / "annotations" / "list.txt").is_file():
        print(f"generating {2 * num_images} images into {pets} (once) ...", flush=True)
        make_sample_data(pets, 2 * num_images, seed=0, min_side=250, max_side=500, overwrite=True)
    sets = {}
    for name, val_size in (("small", num_images), ("large", num_images // 10)):
        out = cache_dir / f"records-{2 * num_images}-{name}"
        if not (out / "manifest.json").is_file():
            print(f"building {out} (once) ...", flush=True)
            build_records(pets, out, split="holdout", val_size=val_size, seed=1337,
                          overwrite=True, progress=False)
        sets[name] = out
    return pets, sets


def split_bytes(records, split="train"):
    """[(source_id, image bytes, mask bytes)] of a split, in manifest order."""
    import tensorflow as tf

    from segdata.manifest import read_manifest, shard_paths

    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in
            ("image/source_id", "image/encoded", "image/segmentation/class/encoded")}
    out = []
    for record in tf.data.TFRecordDataset(shard_paths(records, read_manifest(records), split)):
        ex = tf.io.parse_single_example(record, spec)
        out.append(tuple(ex[k].numpy() for k in spec))
    return [(sid.decode(), image, mask) for sid, image, mask in out]


def chapter_loader(pets, names):
    """The chapter's code, verbatim in spirit: every image and target into one NumPy array."""
    import numpy as np
    from keras.utils import img_to_array, load_img

    input_imgs = np.zeros((len(names),) + IMAGE_SIZE + (3,), dtype="float32")
    targets = np.zeros((len(names),) + IMAGE_SIZE + (1,), dtype="uint8")
    for i, name in enumerate(names):
        input_imgs[i] = img_to_array(load_img(pets / "images" / f"{name}.jpg",
                                              target_size=IMAGE_SIZE))
        img = img_to_array(load_img(pets / "annotations" / "trimaps" / f"{name}.png",
                                    target_size=IMAGE_SIZE, color_mode="grayscale"))
        targets[i] = img.astype("uint8") - 1
    return input_imgs, targets


def decode_limit(pairs):
    """tf.data over in-memory bytes: the pipeline's decode + resize and nothing else."""
    import tensorflow as tf

    from segdata import transforms

    images = tf.constant([p[1] for p in pairs])
    masks = tf.constant([p[2] for p in pairs])

    def decode(image, mask):
        image, trimap = transforms.decode_pair(image, mask, tf.constant("bench"))
        image, mask = transforms.resize_pair(image, trimap, IMAGE_SIZE)
        return tf.cast(image, tf.float32), mask

    ds = tf.data.Dataset.from_tensor_slices((images, masks))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).batch(BATCH)
    return ds.prefetch(tf.data.AUTOTUNE)


def drain(ds):
    """Iterate a dataset fully; returns the number of examples."""
    return sum(int(images.shape[0]) for images, _ in ds)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def throughput(pets, records, rounds):
    """Interleaved rounds of the four loaders; returns {name: median images/s}, n."""
    from segdata import load_dataset

    pairs = split_bytes(records)
    names = [p[0] for p in pairs]
    n = len(names)
    limit = decode_limit(pairs)
    times = {k: [] for k in ("chapter", "limit", "pipeline", "cached")}
    for r in range(rounds):
        times["chapter"].append(timed(lambda: chapter_loader(pets, names)))
        times["limit"].append(timed(lambda: drain(limit)))
        ds = load_dataset(records, "train", image_size=IMAGE_SIZE, batch_size=BATCH, shuffle=True)
        times["pipeline"].append(timed(lambda: drain(ds)))
        cached = load_dataset(records, "train", image_size=IMAGE_SIZE, batch_size=BATCH,
                              shuffle=True, cache=True)
        assert drain(cached) == n  # first pass fills the cache (not timed)
        times["cached"].append(timed(lambda: drain(cached)))
        print(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{k} {n / v[-1]:.0f} img/s" for k, v in times.items()), flush=True)
    rates = {k: n / statistics.median(v) for k, v in times.items()}
    # Ratios per round first (loaders in one round share the machine's load), then the median.
    ratios = {(k, base): statistics.median(b / t for t, b in zip(times[k], times[base]))
              for k in times for base in ("chapter", "limit")}
    return rates, ratios, n


def _status_mb(key):
    """A /proc/self/status memory field (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def rss_child(which, pets, records):
    """Run one loader in this (fresh) process; print RSS after imports and the peak after."""
    import keras  # noqa: F401  (both loaders pay for TensorFlow + Keras)
    import tensorflow as tf  # noqa: F401

    from segdata import load_dataset

    names = [p[0] for p in split_bytes(records)] if which == "chapter" else None
    # Importing TensorFlow peaks above its steady state; reset the high-water mark (Linux
    # clear_refs "5") so the peak below belongs to the loader alone.
    with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
        f.write("5")
    base = _status_mb("VmRSS")
    if which == "chapter":
        images, targets = chapter_loader(pathlib.Path(pets), names)
        n = len(images)
    else:
        n = drain(load_dataset(records, "train", image_size=IMAGE_SIZE, batch_size=BATCH,
                               shuffle=True))
    print(f"RSS {which} {n} {base:.0f} {_status_mb('VmHWM'):.0f}")


# glibc's default allocator raises its mmap threshold as buffers are freed, so freed 70 KB
# records and decoded images stay in its arenas: RSS then creeps up with the number of batches
# read, though the pipeline holds no more data. A fixed threshold shows what the pipeline
# itself keeps (tcmalloc/jemalloc behave similarly).
ALLOCATORS = {"glibc default": {}, "MALLOC_MMAP_THRESHOLD_=131072": {
    "MALLOC_MMAP_THRESHOLD_": "131072"}}


def peak_memory(pets, sets, repeats, env):
    """{(loader, n): [(before MB, peak MB), ...]} measured in fresh processes, interleaved."""
    out = {}
    for _ in range(repeats):
        for name in ("small", "large"):
            for which in ("chapter", "pipeline"):
                proc = subprocess.run([sys.executable, __file__, "--rss-child", which, str(pets),
                                       str(sets[name])], capture_output=True, text=True,
                                      check=True, env={**os.environ, **env})
                line = [s for s in proc.stdout.splitlines() if s.startswith("RSS ")][-1].split()
                out.setdefault((which, int(line[2])), []).append((float(line[3]),
                                                                  float(line[4])))
    return out


def print_throughput(pets, sets, rounds):
    rates, ratios, n = throughput(pets, sets["small"], rounds)
    print(f"\nThroughput, {n} images (250-500 px) -> {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, batch "
          f"{BATCH}, median of {rounds} interleaved rounds (ratios: median of per-round "
          "ratios)")
    print(f"| loader | images/s | vs chapter | vs decode limit |\n|---|---|---|---|")
    labels = {"chapter": "1. chapter loader (load_img + img_to_array)",
              "limit": "2. decode limit (bytes in memory)",
              "pipeline": "3. load_dataset, first pass", "cached": "4. load_dataset, cache=True, "
              "2nd pass"}
    for key, label in labels.items():
        print(f"| {label} | {rates[key]:.0f} | {ratios[key, 'chapter']:.2f}x | "
              f"{ratios[key, 'limit']:.2f}x |")


def machine():
    model = next((line.split(":", 1)[1].strip() for line in
                  open("/proc/cpuinfo", encoding="utf-8") if line.startswith("model name")), "?")
    return f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=1000, help="train split size")
    parser.add_argument("--rounds", type=int, default=3, help="0 skips the throughput part")
    parser.add_argument("--cache-dir", default=os.path.join(
        os.path.expanduser("~"), ".cache", "segkit", "bench_pipeline"))
    parser.add_argument("--memory-repeats", type=int, default=2,
                        help="fresh processes per loader and size (0 skips the memory part)")
    parser.add_argument("--rss-child", nargs=3, metavar=("WHICH", "PETS", "RECORDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0

    pets, sets = prepare(args.cache_dir, args.num_images)
    print(f"machine: {machine()}", flush=True)
    if args.rounds:
        print_throughput(pets, sets, args.rounds)
    if args.memory_repeats:
        print(f"\nPeak resident memory, fresh process each, median of {args.memory_repeats} "
              "('before' = TF + Keras imported, records listed)")
        print("| allocator | loader | images | before MB | peak MB | peak - before MB (min-max) |"
              "\n|---|---|---|---|---|---|")
        for allocator, env in ALLOCATORS.items():
            runs_by = peak_memory(pets, sets, args.memory_repeats, env)
            for (which, count), runs in sorted(runs_by.items()):
                grown = [peak - base for base, peak in runs]
                print(f"| {allocator} | {which} | {count} | "
                      f"{statistics.median(b for b, _ in runs):.0f} | "
                      f"{statistics.median(p for _, p in runs):.0f} | "
                      f"{statistics.median(grown):.0f} ({min(grown):.0f}-{max(grown):.0f}) |",
                      flush=True)
    print(f"\nmachine at the end: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
