"""Serving speed: the exported `serving_default` (JPEG bytes in) against Keras `model.predict`
on already-decoded, already-resized arrays, in one process.

  python benchmarks/bench_serve.py                       # chapter model, 200 px, random weights
  python benchmarks/bench_serve.py --model runs/pets/model.keras --batches 1 32

The served path pays for JPEG decoding and resizing inside the graph; the baseline does not
(its arrays are prepared before timing), so a ratio near 1.0 means decoding is hidden behind the
model. Also reported: a direct eager `model(x)` call (no predict loop overhead), the in-graph
decode + resize alone, and peak resident memory.
Weights do not change the speed, so the default untrained model is a fair stand-in.
"""

import argparse
import io
import resource
import tempfile
import time

import numpy as np


def make_jpegs(count, min_side, max_side, seed=0):
    """`count` photo-like JPEGs (smooth colour fields plus noise) of random sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    encoded = []
    for _ in range(count):
        height, width = rng.integers(min_side, max_side + 1, size=2)
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((int(width), int(height)), Image.BICUBIC), np.int16)
        noisy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noisy).save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())
    return encoded


def time_calls(fn, batches, repeats):
    """Seconds per call of fn(batch) for `repeats` calls cycling over `batches` (1 warm-up)."""
    fn(batches[0])
    seconds = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(batches[i % len(batches)])
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(model_path, image_size, batch_sizes, repeats, num_images):
    import keras
    import tensorflow as tf

    from segmodel import build_model
    from segmodel.serving.export import export_saved_model
    from segmodel.serving.signatures import decode_batch

    if model_path:
        model = keras.models.load_model(model_path, compile=False)
        image_size = tuple(model.input_shape[1:3])
    else:
        keras.utils.set_random_seed(0)
        model = build_model("chapter", image_size=(image_size, image_size))
        image_size = (image_size, image_size)
    with tempfile.TemporaryDirectory() as tmp:
        served = tf.saved_model.load(str(export_saved_model(model, tmp)))
        serve = served.signatures["serving_default"]
        jpegs = make_jpegs(num_images, 250, 500)
        decode = tf.function(lambda images: decode_batch(images, image_size)[0])
        # The baseline gets its input for free: decoded and resized before the clock starts.
        arrays = decode(tf.constant(jpegs)).numpy()
        rows = []
        for batch in batch_sizes:
            starts = range(0, num_images - batch + 1, batch)
            encoded = [tf.constant(jpegs[s:s + batch]) for s in starts]
            decoded = [arrays[s:s + batch] for s in starts]
            reps = 4 * repeats if batch == 1 else repeats  # single calls are cheap: more samples
            served_s = time_calls(lambda x: serve(images=x)["masks"].numpy(), encoded, reps)
            rss_served = peak_rss_mib()
            predict_s = time_calls(lambda x: model.predict(x, batch_size=batch, verbose=0),
                                   decoded, reps)
            call_s = time_calls(lambda x: model(x, training=False).numpy(), decoded, reps)
            decode_s = time_calls(lambda x: decode(x).numpy(), encoded, reps)
            for name, seconds in (("served (JPEG bytes)", served_s),
                                  ("keras predict (arrays)", predict_s),
                                  ("keras model(x) call (arrays)", call_s),
                                  ("decode+resize only", decode_s)):
                rows.append((batch, name, batch / np.mean(seconds),
                             1e3 * np.percentile(seconds, 50), 1e3 * np.percentile(seconds, 95)))
            rows.append((batch, "ratio served/predict", np.mean(predict_s) / np.mean(served_s),
                         None, None))
            print(f"batch {batch}: peak RSS after serving {rss_served:.0f} MiB", flush=True)
    return rows


def format_table(rows):
    lines = ["| batch | path | images/s | p50 ms | p95 ms |", "|---|---|---|---|---|"]
    for batch, name, rate, p50, p95 in rows:
        if p50 is None:
            lines.append(f"| {batch} | **{name}** | **{rate:.2f}x** | | |")
        else:
            lines.append(f"| {batch} | {name} | {rate:.1f} | {p50:.1f} | {p95:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help=".keras file to export (default: untrained chapter model)")
    p.add_argument("--image-size", type=int, default=200, help="model size without --model")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--repeats", type=int, default=8, help="timed calls per batch size")
    p.add_argument("--num-images", type=int, default=64, help="distinct JPEGs (250-500 px)")
    args = p.parse_args(argv)
    if args.num_images < max(args.batches):
        p.error("--num-images must be at least the largest batch size")
    import os

    print(f"cpus: {os.cpu_count()}", flush=True)
    rows = run(args.model, args.image_size, args.batches, args.repeats, args.num_images)
    print(format_table(rows))
    print(f"peak RSS (whole process): {peak_rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
