"""Training at the data's own shape (issue 32): today's squeeze against the cpu-quick recipe,
and scale-and-crop input throughput against the decode limit.

1. Mean IoU at the photos' own resolution (class probabilities resized bilinearly, arg-max),
   on generated street scenes in the Cityscapes layout at 2:1 and 4:3, same number of epochs:
     squeeze  today's documented options: --model unet --image-size 128 (a square, stretched)
              --augment --schedule cosine
     recipe   --recipe cpu-quick (sizes, crops, class weights from the manifest)
   Both with --seed 0 and --epochs E; wall-clock minutes of each run are printed too.
2. Throughput on the 4:3 set's train split (shuffled, seeded, batch 8): images/s and CPU ms per
   image of
     limit    plain decode_jpeg/png + tf.image.resize to the crop size + cast of the same bytes
              in memory (bench_pipeline.py's decode limit at this output size)
     plain    load_dataset(image_size=base)                     (today's pipeline)
     crop     load_dataset(image_size=base, crop_size=crop, scale_range=(0.5, 2.0))
     jitter   the same with color_jitter 0.2
   interleaved rounds, medians, ratios per round (bench_pipeline.py's method).

    python benchmarks/bench_recipe.py [--epochs 8] [--num-images 240] [--rounds 5]
        [--cache-dir DIR] [--skip-training] [--score-only]
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_pipeline import drain, machine, split_bytes, timed  # noqa: E402

SETS = {"2:1": (128, 256), "4:3": (180, 240)}


def prepare(cache_dir, num_images):
    from segdata.records.convert import build_records
    from segdata.synthetic.datasets import make_dataset

    out = {}
    for name, size in SETS.items():
        folder = pathlib.Path(cache_dir) / f"street-{size[0]}x{size[1]}-{num_images}"
        records = folder / "records"
        if not (records / "manifest.json").is_file():
            data = make_dataset(folder / "data", "cityscapes", num_images=num_images,
                                image_size=size, seed=0, overwrite=True)
            build_records(data.root, records, overwrite=True, progress=False)
        out[name] = records
    return out


def score(records, run):
    """(mean IoU as `segkit evaluate --at original` reports it, mean and lowest IoU over the
    classes present in the truth, {class: IoU}) of RUN/model.keras on the validation split."""
    import numpy as np

    from segmodel.evaluation.evaluate import evaluate

    result = evaluate(run / "model.keras", records, at="original", progress=False)
    confusion = np.array(result["confusion_matrix"])
    present = [name for name, row in zip(result["label_names"], confusion) if row.sum()]
    ious = {name: result["iou_by_class"][name] for name in present}
    return result["mean_iou"], float(np.mean(list(ious.values()))), min(ious.values()), ious


def train_and_score(records, run, epochs, recipe):
    from segmodel.training import recipes
    from segmodel.training.config import TrainConfig
    from segmodel.training.loop import train

    if recipe:
        config = recipes.apply_recipe("cpu-quick", str(records),
                                      TrainConfig(epochs=epochs, seed=0), {"epochs", "seed"})
    else:
        config = TrainConfig(model="unet", image_size=(128, 128), augment=True,
                             schedule="cosine", epochs=epochs, seed=0, batch_size=16)
    start = time.perf_counter()
    train(str(records), str(run), config.replace(overwrite=True, tensorboard=False, verbose=0),
          log=lambda *a: None)
    minutes = (time.perf_counter() - start) / 60
    return minutes, config


def compare(sets, cache_dir, epochs, score_only=False):
    """Train (unless score_only: the runs of an earlier call) and score both ways per set."""
    from segmodel.training import recipes
    from segmodel.training.config import TrainConfig

    rows = []
    for name, records in sets.items():
        for label, recipe in (("squeeze", False), ("recipe", True)):
            run = pathlib.Path(cache_dir) / f"run-{name.replace(':', 'x')}-{label}"
            if score_only:
                minutes = None
                config = recipes.apply_recipe("cpu-quick", str(records), TrainConfig(), set())
            else:
                minutes, config = train_and_score(records, run, epochs, recipe)
            miou, present_miou, low, ious = score(records, run)
            rows.append((name, label, miou, present_miou, low, minutes, config))
            print(f"{name} {label}: mean IoU {miou:.3f}, over classes in the truth "
                  f"{present_miou:.3f} (lowest {low:.3f}); "
                  f"{json.dumps({k: round(v, 3) for k, v in ious.items()})}", flush=True)
    print(f"\nMean IoU at the photos' own size (validation split), {epochs} epochs, seed 0")
    print("| set | options | mean IoU (evaluate) | mean IoU, classes in the truth | lowest "
          "class in the truth | training minutes |\n|---|---|---|---|---|---|")
    for name, label, miou, present_miou, low, minutes, config in rows:
        what = ("unet 128x128 squeeze, --augment, cosine" if label == "squeeze" else
                f"cpu-quick: base {config.image_size[0]}x{config.image_size[1]}, crop "
                f"{config.crop_size[0]}x{config.crop_size[1]}")
        shown = "" if minutes is None else f"{minutes:.1f}"
        print(f"| {name} | {what} | {miou:.3f} | {present_miou:.3f} | {low:.3f} | {shown} |")


def throughput(records, rounds):
    import tensorflow as tf

    from segdata import load_dataset
    from segmodel.training import recipes
    from segmodel.training.config import TrainConfig

    config = recipes.apply_recipe("cpu-quick", str(records), TrainConfig(), set())
    base, crop = config.image_size, config.crop_size
    pairs = split_bytes(records)
    n = len(pairs)

    def limit_decode(image, mask):
        image = tf.image.resize(tf.io.decode_jpeg(image, channels=3), crop)
        mask = tf.image.resize(tf.io.decode_png(mask, channels=1), crop, method="nearest")
        return image, mask

    options = tf.data.Options()
    options.autotune.enabled = False
    limit = (tf.data.Dataset.from_tensor_slices((tf.constant([p[1] for p in pairs]),
                                                 tf.constant([p[2] for p in pairs])))
             .map(limit_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
             .batch(8).prefetch(tf.data.AUTOTUNE).with_options(options))
    load = lambda **kw: load_dataset(records, "train", image_size=base, batch_size=8,  # noqa
                                     shuffle=True, seed=1, **kw)
    cases = {"limit": limit, "plain": load(),
             "crop": load(crop_size=crop, scale_range=(0.5, 2.0)),
             "jitter": load(crop_size=crop, scale_range=(0.5, 2.0), jitter=0.2)}
    for ds in cases.values():
        drain(ds)
    walls, cpus = {k: [] for k in cases}, {k: [] for k in cases}
    for _ in range(rounds):
        for name, ds in cases.items():
            wall, cpu = timed(lambda ds=ds: drain(ds))
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"\nThroughput, train split of {n} images {SETS['4:3'][0]}x{SETS['4:3'][1]}, base "
          f"{base[0]}x{base[1]}, crop {crop[0]}x{crop[1]}, batch 8, median of {rounds} rounds")
    print("| case | output | images/s | x limit | CPU ms/image | x limit by CPU |\n"
          "|---|---|---|---|---|---|")
    for name in cases:
        size = base if name == "plain" else crop
        by_rate = statistics.median(lim / t for t, lim in zip(walls[name], walls["limit"]))
        by_cpu = statistics.median(lim / t for t, lim in zip(cpus[name], cpus["limit"]))
        print(f"| {name} | {size[0]}x{size[1]} | {n / statistics.median(walls[name]):,.0f} | "
              f"{by_rate:.2f}x | {1000 * statistics.median(cpus[name]) / n:.2f} | "
              f"{by_cpu:.2f}x |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--num-images", type=int, default=240)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cache-dir", default="/tmp/segkit-bench-recipe")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--score-only", action="store_true",
                   help="re-score the runs an earlier call left in --cache-dir")
    a = p.parse_args(argv)
    print(f"machine: {machine()}")
    sets = prepare(a.cache_dir, a.num_images)
    if not a.score_only:
        throughput(sets["4:3"], a.rounds)
    if not a.skip_training:
        compare(sets, a.cache_dir, a.epochs, a.score_only)


if __name__ == "__main__":
    main()
