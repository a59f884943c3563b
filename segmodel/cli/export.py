"""Export a trained model: a versioned SavedModel for TensorFlow Serving, or a LiteRT (.tflite,
optionally quantized) or ONNX file for on-device runtimes.

  segkit export --model runs/pets/model.keras --output-dir export/pets
  # -> export/pets/1/ (next free version); serve with
  # docker run -p 8501:8501 -v $PWD/export/pets:/models/pets -e MODEL_NAME=pets tensorflow/serving
  segkit export --model runs/pets/model.keras --output-dir export/pets-lite --format litert \\
      --quantize int8 --calibration-records records      # -> export/pets-lite/1/model.tflite
  segkit export --model runs/pets/model.keras --output-dir export/pets-onnx --format onnx

SavedModel signatures: serving_default (encoded images -> masks, probabilities, original_size),
segment_image (one encoded image -> mask at its own size), predict_pixels (decoded float32
pixels -> probabilities). LiteRT/ONNX files take RGB pixels 0..255 [N, H, W, 3] (float32; uint8
for int8) and return class probabilities [N, H, W, C]. Class names, palette, input size and
input/output types: EXPORT/N/segkit.json (SavedModel: EXPORT/N/assets.extra/segkit.json), and
inside .tflite (metadata "segkit.json") and .onnx (metadata_props "segkit.json") files.

After writing, the file is run by its own runtime on validation images of the records (the
calibration records, else the run's own) and compared with the Keras model: pixel agreement and
mean-IoU difference, printed and stored in segkit.json "agreement".
"""

import argparse
import json
import sys


def _count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser():
    from segmodel.serving.metadata import (
        DEFAULT_AGREEMENT_IMAGES,
        DEFAULT_CALIBRATION_IMAGES,
        FORMATS,
        QUANTIZATIONS,
    )

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="trained model file, e.g. RUN/model.keras")
    p.add_argument("--output-dir", required=True,
                   help="base folder (for SavedModels the one the server watches); versions go "
                        "in N/ below it")
    p.add_argument("--format", choices=FORMATS, default="saved_model",
                   help="saved_model (default, TensorFlow Serving), litert (.tflite) or onnx")
    p.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                   help="LiteRT only: float16 weights, dynamic (int8 weights) or int8 "
                        "(full-integer, calibrated on --calibration-records)")
    p.add_argument("--calibration-records", default=None, metavar="RECORDS",
                   help="records the model was trained on (default: the run's, from run.json); "
                        "int8 calibrates on them, the agreement check uses their validation split")
    p.add_argument("--calibration-images", type=_count, default=DEFAULT_CALIBRATION_IMAGES,
                   metavar="N", help=f"images that calibrate int8 (default "
                                     f"{DEFAULT_CALIBRATION_IMAGES})")
    p.add_argument("--calibration-split", default="train", help="split that calibrates int8")
    p.add_argument("--validation-split", default="validation",
                   help="split of the agreement check (default validation)")
    p.add_argument("--agreement-images", type=_count, default=DEFAULT_AGREEMENT_IMAGES,
                   metavar="N", help=f"images of the agreement check (default "
                                     f"{DEFAULT_AGREEMENT_IMAGES}; 0 skips it)")
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


def format_agreement(result):
    """One line: the export's pixel agreement and mean-IoU difference against Keras."""
    return (f"agreement with the Keras model on {result['images']} {result['split']} images of "
            f"{result['records']}: {100 * result['pixel_agreement']:.2f}% of pixels; mean IoU "
            f"{result['mean_iou_export']:.4f} vs {result['mean_iou_reference']:.4f} "
            f"({result['mean_iou_difference']:+.4f})")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from segmodel.serving.deploy import export_model  # after --help: TensorFlow is slow
    from segmodel.serving.metadata import read_metadata

    try:
        size = _size(args.image_size)
    except argparse.ArgumentTypeError as err:
        parser.error(f"argument --image-size: {err}")
    try:
        version_dir, agreement = export_model(
            args.model, args.output_dir, export_format=args.format, quantize=args.quantize,
            calibration_records=args.calibration_records,
            calibration_images=args.calibration_images,
            calibration_split=args.calibration_split, validation_split=args.validation_split,
            agreement_images=args.agreement_images, version=args.version,
            overwrite=args.overwrite, image_size=size)
    except (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError,
            ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metadata = read_metadata(version_dir)
    print(f"exported {args.model} -> {version_dir}")
    for name, signature in (metadata.get("signatures") or {}).items():
        print(f"  {name}: {json.dumps(signature['inputs'])} -> {json.dumps(signature['outputs'])}")
    if "file" in metadata:
        print(f"  {metadata['file']} ({metadata['file_bytes'] / 1e6:.2f} MB, quantization "
              f"{metadata['quantization']}): input {json.dumps(metadata['input'])}")
        print(f"  output {json.dumps(metadata['output'])}")
    if agreement is not None:
        print(format_agreement(agreement))
    elif args.agreement_images:
        print("no agreement check: no records known (pass --calibration-records RECORDS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
