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
    from segdata.convert import build_records
    from segdata.sample_data import make_sample_data

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
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import segdata
    from segmodel import precision, training
    from segmodel.models import build_model

    tmp = None
    if args.records is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_train_")
        print("generating 320 images and their records ...", flush=True)
        args.records = make_records(tmp.name)
    size, batch = (args.image_size,) * 2, args.batch_size
    gpus = tf.config.list_physical_devices("GPU")
    print(f"device: {'GPU ' + str(gpus) if gpus else 'CPU'}; model {args.model}, "
          f"{args.image_size} px, batch {batch}; tensorflow {tf.__version__}", flush=True)

    _, val_split = training.pick_splits(segdata.read_manifest(args.records))
    pipeline, _ = training.make_datasets(args.records, size, batch, val_split=val_split, seed=0)
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
        training.compile_model(model, training.make_optimizer("adam", 1e-3, schedule="constant"))
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


if __name__ == "__main__":
    sys.exit(main())
