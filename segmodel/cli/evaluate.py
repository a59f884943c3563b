"""Score a trained model on a split of the records: IoU per class, mean and foreground IoU,
pixel accuracy, boundary F-score (2 px), a confusion matrix and the worst images.

  python tools/evaluate.py --model runs/pets/model.keras --records records --split validation \
      --output-dir runs/pets/eval --worst 8
  python tools/evaluate.py --model export/pets/1 --records records --at original
  segkit evaluate --model export/pets-lite/1/model.tflite --records records   # LiteRT / ONNX

A .keras file runs through Keras on the input pipeline's tensors, a SavedModel folder through its
serving signature on the encoded image bytes, a .tflite / .onnx file (runtime by suffix) through
LiteRT / onnxruntime on the input pipeline's tensors: the same metrics for every format.
Writes OUT/metrics.json, confusion_matrix.png and (with --worst K) worst.png.
"""

import argparse
import json
import sys

from segmodel.evaluation import evaluate
from segmodel.training.config import positive_int, size_pair


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help="RUN/model.keras, an export EXPORT/N, a .tflite or an .onnx file")
    p.add_argument("--records", required=True, help="folder written by tools/build_records.py")
    p.add_argument("--split", default="validation")
    p.add_argument("--image-size", type=size_pair, default=None, metavar="H,W",
                   help="size to run the model at (H,W, HxW or N): for a model that accepts any "
                        "size (default: its run's --image-size), or any size with "
                        "--sliding-window")
    p.add_argument("--sliding-window", action="store_true",
                   help="run the model on overlapping windows of its input size (a "
                        "scale-and-crop run: its crop size), probabilities averaged")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--at", choices=evaluate.AT_CHOICES, default="input",
                   help="score masks at the model's input size (default, the chapter's way) or "
                        "at each image's original size (class probabilities resized "
                        "bilinearly to it, then the arg-max)")
    p.add_argument("--worst", type=int, default=0, metavar="K",
                   help="draw the K images with the lowest foreground IoU (worst.png)")
    p.add_argument("--output-dir", default=None, help="where metrics.json and figures go")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        result = evaluate.evaluate(args.model, args.records, split=args.split,
                                   image_size=args.image_size, batch_size=args.batch_size,
                                   at=args.at, worst=args.worst, output_dir=args.output_dir,
                                   progress=not args.no_progress,
                                   sliding_window=args.sliding_window)
    except (ValueError, FileNotFoundError, KeyError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    shown = {k: result[k] for k in ("foreground_iou", "mean_iou", "per_class_iou",
                                     "iou_by_class", "pixel_accuracy", "boundary_f1",
                                     "num_images", "at")}
    print(json.dumps(shown, indent=2))
    if args.output_dir:
        print(f"wrote {args.output_dir}/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
