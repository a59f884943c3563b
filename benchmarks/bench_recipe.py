"""Training at the data's own shape (issue 32): today's squeeze against the cpu-quick recipe,
and scale-and-crop input throughput against the decode limit.

1. Mean IoU at the photos' own resolution (class probabilities resized bilinearly, arg-max),
   on generated street scenes in the Cityscapes layout at 2:1 and 4:3, same number of epochs:
     squeeze  today's documented options: --model unet --image-size 128 (a square, stretched)
              --augment --schedule cosine
     recipe   --recipe cpu-quick (sizes, crops, class weights from the manifest)
   Both with --seed 0 and --epochs E; wall-clock minutes of each run are printed too.
2. Throughput on a generated train split (shuffled, seeded, batch 8; --throughput-size and
   --throughput-format pick the photos): images/s and CPU ms per image of
     limit@S  plain decode_image/png + tf.image.resize to size S of the same bytes in memory
              (bench_pipeline.py's decode limit at that output size)
     plain    load_dataset(image_size=base)        (today's pipeline), against limit@base;
              "plain@crop" today's pipeline squeezing to the crop size, against limit@crop;
              "augment@crop" the same with augment=True (--augment: flips, zoom-in to 1.33x)
     crop     load_dataset(image_size=base, crop_size=crop, scale_range=(0.5, 2.0)), against
              limit@crop; "crop 0.75-1.5" with cpu-quick's scale range
     jitter   the same with color_jitter 0.2
   interleaved rounds, medians, ratios per round (bench_pipeline.py's method).

    python benchmarks/bench_recipe.py [--epochs 8] [--num-images 240] [--rounds 5]
        [--cache-dir DIR] [--skip-training] [--score-only]
        [--throughput-size 360,480] [--throughput-format cityscapes|voc]
    python benchmarks/bench_recipe.py --step-time      # cpu-quick's U-Net per training image
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


def generated(cache_dir, num_images, size, fmt="cityscapes"):
    """Records of `num_images` generated photos of `size` in layout `fmt`, built once."""
    from segdata.records.convert import build_records
    from segdata.synthetic.datasets import make_dataset

    tag = "street" if fmt == "cityscapes" else fmt
    folder = pathlib.Path(cache_dir) / f"{tag}-{size[0]}x{size[1]}-{num_images}"
    records = folder / "records"
    if not (records / "manifest.json").is_file():
        data = make_dataset(folder / "data", fmt, num_images=num_images, image_size=size,
                            seed=0, overwrite=True)
        build_records(data.root, records, overwrite=True, progress=False)
    return records


def prepare(cache_dir, num_images):
    return {name: generated(cache_dir, num_images, size) for name, size in SETS.items()}


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


def throughput(records, rounds, label):
    import tensorflow as tf

    from segdata import load_dataset
    from segmodel.training import recipes
    from segmodel.training.config import TrainConfig

    config = recipes.apply_recipe("cpu-quick", str(records), TrainConfig(), set())
    base, crop = config.image_size, config.crop_size
    pairs = split_bytes(records)
    n = len(pairs)

    def limit(size):
        def decode(image, mask):
            image = tf.image.resize(tf.io.decode_image(image, channels=3,
                                                       expand_animations=False), size)
            mask = tf.image.resize(tf.io.decode_png(mask, channels=1), size, method="nearest")
            return image, mask
        return (tf.data.Dataset.from_tensor_slices((tf.constant([p[1] for p in pairs]),
                                                    tf.constant([p[2] for p in pairs])))
                .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .batch(8).prefetch(tf.data.AUTOTUNE).with_options(options))

    options = tf.data.Options()
    options.autotune.enabled = False
    load = lambda size=base, **kw: load_dataset(records, "train", image_size=size,  # noqa
                                                batch_size=8, shuffle=True, seed=1, **kw)
    # Each case against the decode limit at its own output size: plain at the base size, the
    # crops at the crop size.
    cases = {"limit@base": limit(base), "limit@crop": limit(crop), "plain": load(),
             "plain@crop": load(crop), "augment@crop": load(crop, augment=True),
             "crop": load(crop_size=crop, scale_range=(0.5, 2.0)),
             "crop 0.75-1.5": load(crop_size=crop, scale_range=(0.75, 1.5)),
             "jitter": load(crop_size=crop, scale_range=(0.5, 2.0), jitter=0.2)}
    for ds in cases.values():
        drain(ds)
    walls, cpus = {k: [] for k in cases}, {k: [] for k in cases}
    for _ in range(rounds):
        for name, ds in cases.items():
            wall, cpu = timed(lambda ds=ds: drain(ds))
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"\nThroughput, train split of {n} {label} photos, base {base[0]}x{base[1]}, crop "
          f"{crop[0]}x{crop[1]}, batch 8, median of {rounds} rounds")
    print("| case | output | images/s | x its limit | CPU ms/image | x its limit by CPU |\n"
          "|---|---|---|---|---|---|")
    for name in cases:
        at_base = name in ("limit@base", "plain")
        size, ref = (base, "limit@base") if at_base else (crop, "limit@crop")
        by_rate = statistics.median(lim / t for t, lim in zip(walls[name], walls[ref]))
        by_cpu = statistics.median(lim / t for t, lim in zip(cpus[name], cpus[ref]))
        print(f"| {name} | {size[0]}x{size[1]} | {n / statistics.median(walls[name]):,.0f} | "
              f"{by_rate:.2f}x | {1000 * statistics.median(cpus[name]) / n:.2f} | "
              f"{by_cpu:.2f}x |")


def step_time(steps=12, batch=8, crop=(192, 256), num_classes=11, rounds=2):
    """Wall and CPU ms per image of cpu-quick's U-Net training on random crops in memory,
    float32 against mixed_bfloat16 (what --precision auto picks on CPUs with AVX512-BF16/AMX),
    each in a fresh Keras session, policies interleaved over `rounds`; the first steps
    (tracing) are not timed."""
    import keras
    import numpy as np
    import tensorflow as tf

    from segmodel.models.builtin import build_model
    from segmodel.training.metrics import make_loss

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch * 4, *crop, 3)).astype("float32")
    y = rng.integers(0, num_classes, (batch * 4, *crop, 1)).astype("uint8")
    print(f"\ncpu-quick U-Net (16 filters, 4 levels) training, {crop[0]}x{crop[1]} crops, batch "
          f"{batch}, {steps} timed steps\n| policy | wall ms/image | CPU ms/image |\n|---|---|---|")
    for policy in ("float32", "mixed_bfloat16") * rounds:
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy(policy)
        model = build_model("unet", image_size=(None, None), num_classes=num_classes,
                            base_filters=16, depth=4)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=make_loss())
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat()
        fit = lambda n: model.fit(data, steps_per_epoch=n, epochs=1, shuffle=False,  # noqa
                                  verbose=0)
        fit(3)
        wall, cpu = timed(lambda: fit(steps))
        print(f"| {policy} | {1000 * wall / (steps * batch):.1f} | "
              f"{1000 * cpu / (steps * batch):.1f} |")
    keras.mixed_precision.set_global_policy("float32")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--num-images", type=int, default=240)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cache-dir", default="/tmp/segkit-bench-recipe")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--step-time", action="store_true",
                   help="only time cpu-quick's training step (float32 and mixed_bfloat16)")
    p.add_argument("--throughput-size", default="180,240",
                   help="H,W of the generated photos for the throughput part (360,480: CamVid)")
    p.add_argument("--throughput-format", default="cityscapes", choices=("cityscapes", "voc"),
                   help="their layout: cityscapes stores PNG photos, voc JPEG")
    p.add_argument("--score-only", action="store_true",
                   help="re-score the runs an earlier call left in --cache-dir")
    a = p.parse_args(argv)
    print(f"machine: {machine()}")
    if a.step_time:
        return step_time()
    if not a.score_only:
        size = tuple(int(v) for v in a.throughput_size.split(","))
        kind = "PNG" if a.throughput_format == "cityscapes" else "JPEG"
        throughput(generated(a.cache_dir, a.num_images, size, a.throughput_format), a.rounds,
                   f"{size[0]}x{size[1]} {kind}")
    sets = prepare(a.cache_dir, a.num_images) if not a.skip_training else None
    if not a.skip_training:
        compare(sets, a.cache_dir, a.epochs, a.score_only)


if __name__ == "__main__":
    main()
