"""Segment an image with Segment Anything from point and box prompts.

    python tools/sam_predict.py --preset sam_base_sa1b --image cat.jpg \
        --point 250,180 --label 1 --point 40,30 --label 0 --multimask --output-dir out/

Writes OUT/mask.png (best mask, 0/255, at the image's size), OUT/overlay.png (image, prompts
and every candidate mask with its score) and OUT/masks.json (scores, prompts). PRESET is a
keras-hub preset name (downloaded from Kaggle) or a local folder written by
`segmenter.save_to_preset(folder)` (no network needed).
"""

import argparse
import sys


def _numbers(text, count, what):
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return values


def _point(text):
    return _numbers(text, 2, "X,Y (two numbers, in image pixels)")


def _box(text):
    return _numbers(text, 4, "X0,Y0,X1,Y1 (four numbers, in image pixels)")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True,
                        help="keras-hub SAM preset name (sam_base_sa1b, sam_large_sa1b, "
                             "sam_huge_sa1b) or a local preset folder")
    parser.add_argument("--image", required=True, help="image file to segment")
    parser.add_argument("--point", type=_point, action="append", default=[],
                        metavar="X,Y", help="a prompt point in pixels; repeat for more")
    parser.add_argument("--label", type=int, choices=(0, 1), action="append", default=[],
                        help="1 foreground / 0 background, one per --point (default: all 1)")
    parser.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="a box prompt")
    parser.add_argument("--multimask", action="store_true",
                        help="return three candidate masks (good for a single click)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        default="float32", help="image-encoder precision")
    parser.add_argument("--output-dir", required=True, help="folder for the results")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # Deferred: TensorFlow and keras-hub take seconds to import, --help should not.
    from segmodel.sam import SamPredictor, check_prompts, load_image
    from segmodel.sam.results import save_results

    points = args.point or None
    labels = args.label or ([1] * len(args.point) if args.point else None)
    try:
        image = load_image(args.image)
        # Check prompts before loading the model, so a typo fails in a second.
        prompts = check_prompts(points, labels, args.box, image.shape[:2])
        predictor = SamPredictor.from_preset(args.preset, dtype=args.dtype)
        predictor.set_image(image)
        masks, scores, _ = predictor.predict(prompts.points, prompts.labels, prompts.box,
                                             multimask_output=args.multimask)
        paths = save_results(args.output_dir, image, masks, scores, prompts, {
            "preset": args.preset, "image": args.image, "multimask": args.multimask,
            "dtype": args.dtype,
        })
    except (ValueError, OSError, RuntimeError, ImportError, TypeError) as err:
        print(f"sam_predict: error: {err}", file=sys.stderr)
        return 2
    best = ", ".join(f"{s:.3f}" for s in scores)
    print(f"{len(masks)} mask(s), scores {best}; wrote {paths['mask']}, "
          f"{paths['overlay']}, {paths['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
