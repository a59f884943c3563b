"""Is the lean path (segdata/input/lean_functions.py: map / interleave / shard reader built
through TensorFlow internals so their functions start without Grappler) worth keeping? (issue 28)

One epoch = a new iterator over `load_dataset(train, 200x200, batch 64, shuffle, seed=1)`,
drained to the end, as `fit` does every epoch. Each round runs the lean path and the public
`Dataset.map` / `interleave` / `TFRecordDataset` path (lean_functions.LEAN off) back to back, in
one process, on generated Pets-sized images (250-500 px sides); the ratio is taken per round,
then the median, so a shared machine moves it less than the absolute times.

    python benchmarks/bench_lean.py [--sizes 5000,200] [--rounds 5] [--cache-dir DIR]
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

from pipeline_loaders import BATCH, IMAGE_SIZE, drain


def prepare(cache_dir, num_images):
    """Records whose train split holds `num_images` generated Pets-sized images (built once)."""
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data

    folder = pathlib.Path(cache_dir) / f"pets-{num_images + 20}"
    records = pathlib.Path(cache_dir) / f"records-{num_images}"
    if not (records / "manifest.json").is_file():
        print(f"generating and converting {num_images + 20} images (once) ...", flush=True)
        make_sample_data(folder, num_images + 20, seed=0, overwrite=True)
        build_records(folder, records, split="holdout", val_size=20, seed=1337, num_shards=4,
                      overwrite=True, progress=False)
    return records


def epoch(records, lean_on):
    """Seconds for one training epoch (iterator creation included) on the chosen path."""
    from segdata import load_dataset
    from segdata.input import lean_functions

    lean_functions.LEAN = lean_on
    ds = load_dataset(records, "train", image_size=IMAGE_SIZE, batch_size=BATCH, shuffle=True,
                      seed=1)
    start, cpu = time.perf_counter(), time.process_time()
    n, first = drain(ds)
    return time.perf_counter() - start, first, n, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,200")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", default=os.path.join(
        os.path.expanduser("~"), ".cache", "segkit", "bench_lean"))
    args = parser.parse_args(argv)
    from segdata.input import lean_functions

    if not lean_functions.LEAN:
        sys.exit("the lean path is not available on this TensorFlow: nothing to compare")
    model = next((line.split(":", 1)[1].strip() for line in
                  open("/proc/cpuinfo", encoding="utf-8") if line.startswith("model name")), "?")
    print(f"machine: {model}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("| train images | lean epoch s | public epoch s | public / lean by wall (median of "
          "rounds) | lean CPU s | public CPU s | public / lean by CPU | lean first batch ms | "
          "public first batch ms |\n|---|---|---|---|---|---|---|---|---|")
    for size in [int(s) for s in args.sizes.split(",")]:
        records = prepare(args.cache_dir, size)
        epoch(records, True), epoch(records, False)  # warm up: page cache, first compile
        runs = {True: [], False: []}
        for _ in range(args.rounds):
            for lean_on in (True, False):
                runs[lean_on].append(epoch(records, lean_on))
        ratio = statistics.median(p[0] / q[0] for p, q in zip(runs[False], runs[True]))
        med = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
        first = {k: 1000 * statistics.median(r[1] for r in v) for k, v in runs.items()}
        cpu = {k: statistics.median(r[3] for r in v) for k, v in runs.items()}
        by_cpu = statistics.median(p[3] / q[3] for p, q in zip(runs[False], runs[True]))
        print(f"| {runs[True][0][2]} | {med[True]:.2f} | {med[False]:.2f} | {ratio:.3f} "
              f"| {cpu[True]:.2f} | {cpu[False]:.2f} | {by_cpu:.3f} "
              f"| {first[True]:.0f} | {first[False]:.0f} |", flush=True)
    print(f"load at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
