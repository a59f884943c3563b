"""Segment image files with an exported model: a SavedModel the way a server runs it, a
LiteRT (.tflite) or ONNX (.onnx) file with its own runtime (chosen by the suffix).

  segkit predict --model export/pets/1 --image cat.jpg --image dog.png --output-dir predictions
  segkit predict --model export/pets-lite/1/model.tflite --image cat.jpg --output-dir out

Writes per image <stem>_mask.png (indexed PNG at the image's size: pixel value = class id,
0 foreground, 1 background, 2 outline; the palette colours them) and <stem>_overlay.png (image,
mask and both blended). --model may also be the export base folder: its highest version is
used, as TensorFlow Serving does. A .tflite/.onnx file takes its class names and palette from
its own metadata (segkit.json embedded by `segkit export`). SavedModels resize the class map back
to the image's size (nearest); the other runtimes resize the probabilities (bilinear).
"""

import argparse
import sys


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "--saved-model", dest="model", required=True,
                   help="EXPORT/N written by `segkit export`, or a .tflite / .onnx / .keras file")
    p.add_argument("--image", action="append", required=True, metavar="FILE",
                   help="image file (JPEG, PNG, ...); repeat for several")
    p.add_argument("--output-dir", required=True, help="folder for masks and overlays")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from segmodel.serving.predict import PredictError, format_results, predict_images

    try:
        results = predict_images(args.model, args.image, args.output_dir)
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
