"""Deployment formats side by side: file size, batch-1 latency, batch-8 throughput and agreement
with the Keras model, for the SavedModel, ONNX and LiteRT (none, float16, dynamic, int8), all
measured in one process on one trained model.

  python benchmarks/bench_deploy.py                  # trains the chapter model (64 px) first
  python benchmarks/bench_deploy.py --model runs/pets/model.keras --records records

Every format runs through `segmodel.serving.runtimes` (what `segkit evaluate` and `segkit
predict` use): Keras `predict_on_batch`, the SavedModel's `predict_pixels` signature,
onnxruntime's CPU provider, ai_edge_litert's Interpreter (XNNPACK); `--threads` for the last
two (default: every core, as TensorFlow uses). Latency is the median of `--repeats` batch-1
calls on decoded 0..255 pixels at the model's input size (the shape a camera feeds); throughput
is images per second at batch 8. Ratios are against Keras and the SavedModel measured in the
same run, so they hold on other machines better than the absolute figures. Agreement: pixel
agreement of the arg-max with Keras and mean-IoU difference on the validation split.
"""

import argparse
import json
import os
import pathlib
import tempfile
import time

import numpy as np

VARIANTS = (("keras", None), ("saved_model", "none"), ("onnx", "none"), ("litert", "none"),
            ("litert", "float16"), ("litert", "dynamic"), ("litert", "int8"))


def train_default(root, image_size, epochs):
    """RUN/model.keras of the chapter model trained on 120 generated photos (records in root),
    with tests/test_train_run.py's recipe (batch 8, seed 1), which learns at 64 px."""
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data
    from segmodel.training import loop

    pets = make_sample_data(root / "pets", 120, seed=0, min_side=64, max_side=96)
    build_records(pets, root / "records", split="holdout", val_size=24, seed=1337, num_shards=2,
                  workers=1, progress=False)
    summary = loop.train(str(root / "records"), str(root / "run"), model="chapter",
                         image_size=image_size, batch_size=8, epochs=epochs, seed=1,
                         precision="float32", verbose=0, log=lambda *args: None)
    print(f"trained the chapter model {epochs} epochs at {image_size}: best val foreground IoU "
          f"{summary['best']['val_foreground_iou']:.3f}, mean IoU "
          f"{summary['best']['val_mean_iou']:.3f}")
    return root / "run" / "model.keras", root / "records"


def file_bytes(path):
    path = pathlib.Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def time_calls(fn, batch, repeats):
    """Seconds per call of fn(batch), `repeats` calls after 2 warm-ups."""
    fn(batch)
    fn(batch)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def run(model_path, records, repeats, threads, out_dir):
    from segmodel.serving import records_check, runtimes
    from segmodel.serving.deploy import export_model

    keras_runner = runtimes.load_runner(model_path)
    size = keras_runner.input_size
    images, masks = records_check.record_images(records, "validation", size, 10 ** 6,
                                                with_masks=True)
    reference = np.concatenate([keras_runner.probabilities(images[i:i + 8])
                                for i in range(0, len(images), 8)])
    rng = np.random.default_rng(0)
    one = images[:1]
    eight = images[rng.integers(0, len(images), 8)]
    rows = []
    for export_format, quantize in VARIANTS:
        if export_format == "keras":
            runner, size_bytes = keras_runner, file_bytes(model_path)
        else:
            version, _ = export_model(model_path, out_dir / f"{export_format}-{quantize}",
                                      export_format=export_format, quantize=quantize,
                                      calibration_records=records, agreement_images=0)
            runner = runtimes.load_runner(version, num_threads=threads)
            size_bytes = file_bytes(version if export_format == "saved_model"
                                    else runner.path)
        probabilities = np.concatenate([runner.probabilities(images[i:i + 8])
                                        for i in range(0, len(images), 8)])
        agreement = records_check.agreement(reference, probabilities, masks,
                                            keras_runner.num_classes)
        latency = np.median(time_calls(runner.probabilities, one, repeats))
        throughput = 8 / np.median(time_calls(runner.probabilities, eight, max(repeats // 4, 5)))
        rows.append({"format": export_format, "quantize": quantize, "bytes": size_bytes,
                     "latency_ms": 1000 * latency, "images_per_s_batch8": throughput,
                     **agreement})
        print(f"{export_format:>11} {quantize or '':>8}: {size_bytes / 1e6:7.2f} MB  batch 1 "
              f"{1000 * latency:7.2f} ms  batch 8 {throughput:7.1f} img/s  agreement "
              f"{100 * agreement['pixel_agreement']:.2f}%", flush=True)
    return {"input_size": list(size), "validation_images": int(len(images)),
            "threads": threads, "rows": rows}


def markdown(result):
    """The table for docs/benchmarks.md."""
    rows = result["rows"]
    keras_row, saved = rows[0], rows[1]
    lines = ["| format | quantize | size MB | size / Keras | batch-1 ms | latency / Keras | "
             "latency / SavedModel | batch-8 img/s | throughput / Keras | throughput / "
             "SavedModel | pixel agreement | mean IoU diff |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['format']} | {row['quantize'] or '-'} | {row['bytes'] / 1e6:.2f} | "
            f"{row['bytes'] / keras_row['bytes']:.2f} | {row['latency_ms']:.2f} | "
            f"{row['latency_ms'] / keras_row['latency_ms']:.2f} | "
            f"{row['latency_ms'] / saved['latency_ms']:.2f} | "
            f"{row['images_per_s_batch8']:.1f} | "
            f"{row['images_per_s_batch8'] / keras_row['images_per_s_batch8']:.2f} | "
            f"{row['images_per_s_batch8'] / saved['images_per_s_batch8']:.2f} | "
            f"{100 * row['pixel_agreement']:.2f}% | {row['mean_iou_difference']:+.4f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="RUN/model.keras (default: train one)")
    p.add_argument("--records", default=None, help="the model's records (with --model)")
    p.add_argument("--image-size", type=int, default=64, help="training size without --model")
    p.add_argument("--epochs", type=int, default=10, help="training epochs without --model")
    p.add_argument("--repeats", type=int, default=40, help="timed batch-1 calls per format")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads of LiteRT and onnxruntime")
    p.add_argument("--output", default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        if args.model is None:
            model, records = train_default(tmp, (args.image_size, args.image_size), args.epochs)
        else:
            if args.records is None:
                p.error("--model needs --records (the records it was trained on)")
            model, records = args.model, args.records
        result = run(model, records, args.repeats, args.threads, tmp / "export")
    print(markdown(result))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
