"""Export a trained model as a versioned SavedModel for TensorFlow Serving.

  python tools/export.py --model runs/pets/model.keras --output-dir export/pets
  # -> export/pets/1/ (next free version); serve with
  # docker run -p 8501:8501 -v $PWD/export/pets:/models/pets -e MODEL_NAME=pets tensorflow/serving

Signatures: serving_default (encoded images -> masks, probabilities, original_size),
segment_image (one encoded image -> mask at its own size), predict_pixels (decoded float32
pixels -> probabilities). Label names and input size: EXPORT/N/assets.extra/segkit.json.
"""

import argparse
import json
import sys


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="trained model file, e.g. RUN/model.keras")
    p.add_argument("--output-dir", required=True,
                   help="model base path that the server watches; versions go in N/ below it")
    p.add_argument("--version", type=int, default=None,
                   help="version number (default: one more than the highest existing)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --version")
    p.add_argument("--image-size", nargs="+", metavar="H,W", default=None,
                   help="input size (H,W, HxW, H W or N), only for models built without a fixed "
                        "input size (default: the --image-size of the run beside the model)")
    return p


def _size(values):
    """--image-size's words -> (H, W): "240,320", "240x320", "240 320" or "240"."""
    from segmodel.training.config import size_pair

    return None if values is None else size_pair(",".join(values))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from segmodel.serving.export import export_saved_model, read_metadata  # after --help: TF is slow

    try:
        size = _size(args.image_size)
    except argparse.ArgumentTypeError as err:
        parser.error(f"argument --image-size: {err}")
    try:
        version_dir = export_saved_model(args.model, args.output_dir, version=args.version,
                                         overwrite=args.overwrite, image_size=size)
    except (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metadata = read_metadata(version_dir)
    print(f"exported {args.model} -> {version_dir}")
    for name, signature in metadata["signatures"].items():
        print(f"  {name}: {json.dumps(signature['inputs'])} -> {json.dumps(signature['outputs'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
