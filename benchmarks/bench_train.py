"""Training-step benchmark (issue 4): tools/train.py's input path against NumPy arrays in memory.

One process, one model, one batch size. It measures training steps per second of:
  1. numpy     `model.fit(x, y)` on the train split already decoded into NumPy arrays (the
               chapter's way: everything in memory before training starts);
  2. pipeline  `model.fit(dataset)` with the dataset tools/train.py builds (records -> parse ->
               decode -> resize -> batch, no cache): the input pipeline must not be the bottleneck;
and, on the NumPy path, float32 against the mixed precision policies this machine can run
(mixed_bfloat16 on CPUs, mixed_float16 on GPUs). Rounds are interleaved and the median step
time is reported, so load from other jobs on a shared machine hits both paths alike. The first
step of every fit call (tracing, iterator start) is not timed.

    python benchmarks/bench_train.py [--records DIR] [--model chapter] [--image-size 96]
        [--batch-size 32] [--steps 8] [--rounds 3] [--mixed-steps 3]

Without --records, 320 small Pets-like images are generated into a temporary folder first.

    python benchmarks/bench_train.py --families [--family-size 224] [--family-batch 8]
        [--steps 3] [--preset-dir DIR]

instead times one training step of each model family on in-memory arrays, float32 against the
machine's mixed policy: chapter, unet, deeplabv3plus (ResNet-50 encoder) and segformer (B0), the
keras-hub ones from random-weight presets with the real architectures (random_presets.py).
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time


class StepTimer:
    """Keras callback collecting wall time between consecutive batch ends (data wait included)."""

    def __init__(self):
        import keras

        outer = self

        class _Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                outer.ends.append(time.perf_counter())

        self.callback = _Callback()
        self.ends = []

    def step_times(self):
        return [b - a for a, b in zip(self.ends, self.ends[1:])]


def timed_fit(model, data, steps, batch_size):
    """Median seconds per step of one fit call over `steps` + 1 steps (the first is not timed)."""
    timer = StepTimer()
    kwargs = dict(epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[timer.callback],
                  shuffle=False)
    if isinstance(data, tuple):
        model.fit(data[0], data[1], batch_size=batch_size, **kwargs)
    else:
        model.fit(data, **kwargs)
    return statistics.median(timer.step_times())


def make_records(root):
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data

    pets = make_sample_data(f"{root}/pets", 320, seed=0, min_side=160, max_side=320)
    build_records(pets, f"{root}/records", split="holdout", val_size=32, seed=1337,
                  progress=False)
    return f"{root}/records"


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records")
    p.add_argument("--model", default="chapter")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=8, help="timed steps per round and path")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--mixed-steps", type=int, default=3,
                   help="timed steps for mixed precision (bf16 is emulated, slow, on old CPUs)")
    p.add_argument("--families", action="store_true",
                   help="time each model family instead (see the module docstring)")
    p.add_argument("--family-size", type=int, default=224)
    p.add_argument("--family-batch", type=int, default=8)
    p.add_argument("--preset-dir", help="where random_presets.py writes (default: a temp dir)")
    args = p.parse_args(argv)
    if args.families:
        return bench_families(args)

    import keras
    import numpy as np
    import tensorflow as tf

    import segdata
    from segmodel.models.builtin import build_model
    from segmodel.training import build, precision

    tmp = None
    if args.records is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_train_")
        print("generating 320 images and their records ...", flush=True)
        args.records = make_records(tmp.name)
    size, batch = (args.image_size,) * 2, args.batch_size
    gpus = tf.config.list_physical_devices("GPU")
    print(f"device: {'GPU ' + str(gpus) if gpus else 'CPU'}; model {args.model}, "
          f"{args.image_size} px, batch {batch}; tensorflow {tf.__version__}", flush=True)

    _, val_split = build.pick_splits(segdata.read_manifest(args.records))
    pipeline, _ = build.make_datasets(args.records, size, batch, val_split=val_split, seed=0)
    pipeline = pipeline.repeat()
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in
                   segdata.load_dataset(args.records, "train", image_size=size, batch_size=256)])
    arrays = (np.concatenate(xs), np.concatenate(ys))
    if len(arrays[0]) < (args.steps + 1) * batch:
        sys.exit(f"need {(args.steps + 1) * batch} training images for --steps {args.steps}, "
                 f"the records have {len(arrays[0])}")
    print(f"NumPy arrays: {arrays[0].nbytes / 2**20:.0f} MiB images in memory", flush=True)

    def compiled(policy):
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        model = build_model(args.model, image_size=size)
        build.compile_model(model, build.make_optimizer("adam", 1e-3, schedule="constant"))
        return model

    model = compiled("float32")
    times = {"numpy": [], "pipeline": []}
    for r in range(args.rounds):
        for name, data in (("numpy", arrays), ("pipeline", pipeline)):
            times[name].append(timed_fit(model, data, args.steps, batch))
        print(f"round {r + 1}: numpy {times['numpy'][-1]:.3f} s/step, "
              f"pipeline {times['pipeline'][-1]:.3f} s/step", flush=True)
    step = {k: statistics.median(v) for k, v in times.items()}
    print(f"peak RSS after float32 runs: {peak_rss_mb():.0f} MiB", flush=True)

    mixed = ["mixed_float16"] if gpus else ["mixed_bfloat16"]
    per_policy = {"float32": step["numpy"]}
    for policy in mixed:
        m = compiled(policy)
        per_policy[policy] = timed_fit(m, arrays, args.mixed_steps, batch)
    keras.mixed_precision.set_global_policy("float32")

    print("\n| path / policy | s/step | steps/s | images/s | ratio |")
    print("|---|---|---|---|---|")
    for name in ("numpy", "pipeline"):
        s = step[name]
        print(f"| {name} (float32) | {s:.3f} | {1 / s:.2f} | {batch / s:.1f} | "
              f"{step['numpy'] / s:.3f} x numpy |")
    for policy, s in per_policy.items():
        print(f"| numpy, {policy} | {s:.3f} | {1 / s:.2f} | {batch / s:.1f} | "
              f"{per_policy['float32'] / s:.2f} x float32 |")
    print(f"\npipeline vs numpy: {100 * (step['numpy'] / step['pipeline'] - 1):+.1f}% steps/s "
          f"(auto precision here: {precision.auto_policy()}); peak RSS {peak_rss_mb():.0f} MiB")
    if tmp is not None:
        tmp.cleanup()
    return 0


FAMILIES = {  # name -> (tools/train.py model, model options given the preset folder)
    "chapter": ("chapter", lambda d: {}),
    "unet": ("unet", lambda d: {}),
    "deeplabv3plus (ResNet-50)": (
        "deeplabv3plus", lambda d: {"backbone_preset": f"{d}/resnet_50_random"}),
    "segformer (B0)": ("segformer", lambda d: {"preset": f"{d}/segformer_b0_random"}),
}


def bench_families(args):
    """Median s/step of each family, float32 and mixed, on random in-memory arrays."""
    import keras
    import numpy as np
    import random_presets
    import tensorflow as tf

    from segmodel.models import hub as hub_models
    from segmodel.models.builtin import build_model
    from segmodel.training import build

    tmp = None
    if args.preset_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_presets_")
        args.preset_dir = tmp.name
    random_presets.main([args.preset_dir])
    size, batch = (args.family_size,) * 2, args.family_batch
    rng = np.random.default_rng(0)
    n = (args.steps + 1) * batch
    data = (rng.uniform(0, 255, (n, *size, 3)).astype(np.float32),
            rng.integers(0, 3, (n, *size, 1)).astype(np.uint8))
    gpus = tf.config.list_physical_devices("GPU")
    mixed = "mixed_float16" if gpus else "mixed_bfloat16"
    print(f"device: {'GPU' if gpus else 'CPU'}; {args.family_size} px, batch {batch}", flush=True)
    rows = []
    for label, (name, options) in FAMILIES.items():
        times, params = {}, None
        for policy in ("float32", mixed):
            keras.mixed_precision.set_global_policy(policy)
            keras.utils.set_random_seed(0)
            opts = options(args.preset_dir)
            model = (hub_models.build_hub_model(name, size, 3, **opts) if opts
                     else build_model(name, image_size=size))
            build.compile_model(model, build.make_optimizer("adamw", 1e-3))
            params = model.count_params()
            times[policy] = timed_fit(model, data, args.steps, batch)
            print(f"{label}, {policy}: {times[policy]:.3f} s/step", flush=True)
        rows.append((label, params, times["float32"], times[mixed]))
    keras.mixed_precision.set_global_policy("float32")
    print(f"\n| model | parameters | float32 s/step | {mixed} s/step | mixed speed-up |")
    print("|---|---|---|---|---|")
    for label, params, f32, mix in rows:
        print(f"| {label} | {params / 1e6:.2f} M | {f32:.3f} | {mix:.3f} | {f32 / mix:.2f}x |")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
