"""Peak resident memory of the chapter's loader vs `segdata.load_dataset`, for
bench_pipeline.py: each loader runs in a fresh process (this file run as a script), under
glibc's default allocator and with a fixed mmap threshold.

    python benchmarks/pipeline_memory.py chapter|pipeline PETS RECORDS   (one measurement)
"""

import os
import pathlib
import statistics
import subprocess
import sys

from pipeline_loaders import BATCH, IMAGE_SIZE, chapter_loader, drain, split_bytes


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
        n, _ = drain(load_dataset(records, "train", image_size=IMAGE_SIZE, batch_size=BATCH,
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
                proc = subprocess.run([sys.executable, __file__, which, str(pets),
                                       str(sets[name])], capture_output=True, text=True,
                                      check=True, env={**os.environ, **env})
                line = [s for s in proc.stdout.splitlines() if s.startswith("RSS ")][-1].split()
                out.setdefault((which, int(line[2])), []).append((float(line[3]),
                                                                  float(line[4])))
    return out


def print_peak_memory(pets, sets, repeats):
    """The memory table: both allocators, both loaders, sets "small" and "large"."""
    print(f"\nPeak resident memory, fresh process each, median of {repeats} "
          "('before' = TF + Keras imported, records listed)")
    print("| allocator | loader | images | before MB | peak MB | peak - before MB (min-max) |"
          "\n|---|---|---|---|---|---|")
    for allocator, env in ALLOCATORS.items():
        runs_by = peak_memory(pets, sets, repeats, env)
        for (which, count), runs in sorted(runs_by.items()):
            grown = [peak - base for base, peak in runs]
            print(f"| {allocator} | {which} | {count} | "
                  f"{statistics.median(b for b, _ in runs):.0f} | "
                  f"{statistics.median(p for _, p in runs):.0f} | "
                  f"{statistics.median(grown):.0f} ({min(grown):.0f}-{max(grown):.0f}) |",
                  flush=True)


if __name__ == "__main__":
    rss_child(*sys.argv[1:4])
