"""Segment image files with an exported SavedModel, the way a server runs it.

  python tools/predict.py --saved-model export/pets/1 --image cat.jpg --image dog.png \
      --output-dir predictions

Writes per image <stem>_mask.png (indexed PNG at the image's size: pixel value = class id,
0 foreground, 1 background, 2 outline; the palette colours them) and <stem>_overlay.png (image,
mask and both blended). --saved-model may also be the export base folder: its highest version
is used, as TensorFlow Serving does.
"""

import argparse
import sys


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--saved-model", required=True, help="EXPORT/N written by tools/export.py")
    p.add_argument("--image", action="append", required=True, metavar="FILE",
                   help="image file (JPEG, PNG, ...); repeat for several")
    p.add_argument("--output-dir", required=True, help="folder for masks and overlays")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from segmodel.serving.predict import PredictError, format_results, predict_images

    try:
        results = predict_images(args.saved_model, args.image, args.output_dir)
    except PredictError as err:
        if err.results:
            print(format_results(err.results))
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
