"""Segment image files with an exported model: a SavedModel the way a server runs it, a
LiteRT (.tflite) or ONNX (.onnx) file with its own runtime (chosen by the suffix).

  segkit predict --model export/pets/1 --image cat.jpg --image dog.png --output-dir predictions
  segkit predict --model export/pets-lite/1/model.tflite --image cat.jpg --output-dir out

Writes per image <stem>_mask.png (indexed PNG at the image's size: pixel value = class id,
0 foreground, 1 background, 2 outline; the palette colours them) and <stem>_overlay.png (image,
mask and both blended). --model may also be the export base folder: its highest version is
used, as TensorFlow Serving does. A .tflite/.onnx file takes its class names and palette from
its own metadata (segkit.json embedded by `segkit export`). Every runtime resizes the class
probabilities bilinearly to the image's size, then takes the arg-max; --sliding-window runs the
model on overlapping windows of its input size and averages the probabilities.
"""

import argparse
import sys

from segmodel.training.config import size_pair


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "--saved-model", dest="model", required=True,
                   help="EXPORT/N written by `segkit export`, or a .tflite / .onnx / .keras file")
    p.add_argument("--image", action="append", required=True, metavar="FILE",
                   help="image file (JPEG, PNG, ...); repeat for several")
    p.add_argument("--output-dir", required=True, help="folder for masks and overlays")
    p.add_argument("--sliding-window", action="store_true",
                   help="run the model on overlapping windows of its input size over each "
                        "photo (at --image-size, default its own size), probabilities averaged")
    p.add_argument("--image-size", type=size_pair, default=None, metavar="H,W",
                   help="with --sliding-window: resize each photo to H,W (HxW or N) first")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.image_size is not None and not args.sliding_window:
        parser.error("--image-size applies with --sliding-window (the export fixes the size)")
    from segmodel.serving.predict import PredictError, format_results, predict_images

    try:
        results = predict_images(args.model, args.image, args.output_dir,
                                 sliding_window=args.sliding_window, image_size=args.image_size)
    except PredictError as err:
        if err.results:
            print(format_results(err.results))
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
