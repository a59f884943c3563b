"""Segment an image with Segment Anything from point, box or text prompts.

    python tools/sam_predict.py --preset sam_base_sa1b --image cat.jpg \
        --point 250,180 --label 1 --point 40,30 --label 0 --multimask --output-dir out/
    python tools/sam_predict.py --preset sam3_pcs --image cats.jpg --text "a cat" \
        --score-threshold 0.5 --output-dir out/

Points and boxes (SAM): writes OUT/mask.png (best mask, 0/255, at the image's size),
OUT/overlay.png (image, prompts and every candidate mask with its score) and OUT/masks.json
(scores, prompts). Text (SAM 3, every instance of the concept): writes OUT/mask.png (the
union of the instances kept by --score-threshold), OUT/mask_000.png ... (one per instance,
best first), OUT/overlay.png (masks, boxes, scores) and OUT/masks.json. PRESET is a
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
                             "sam_huge_sa1b; with --text a SAM 3 preset: sam3_pcs) or a "
                             "local preset folder")
    parser.add_argument("--image", required=True, help="image file to segment")
    parser.add_argument("--point", type=_point, action="append", default=[],
                        metavar="X,Y", help="a prompt point in pixels; repeat for more")
    parser.add_argument("--label", type=int, choices=(0, 1), action="append", default=[],
                        help="1 foreground / 0 background, one per --point (default: all 1)")
    parser.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="a box prompt")
    parser.add_argument("--multimask", action="store_true",
                        help="return three candidate masks (good for a single click)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        default="float32",
                        help="image-encoder precision (with --text: the whole SAM 3 model; "
                             "float32 or bfloat16)")
    text = parser.add_argument_group("text prompts (SAM 3)")
    text.add_argument("--text", action="append", metavar="TEXT",
                      help='segment every instance of a short noun phrase ("a cat"); repeat '
                           "for several concepts (one model call each)")
    text.add_argument("--exemplar", type=_box, action="append", default=[],
                      metavar="X0,Y0,X1,Y1",
                      help="with --text: a box around an example instance; repeatable")
    text.add_argument("--negative-exemplar", type=_box, action="append", default=[],
                      metavar="X0,Y0,X1,Y1",
                      help="with --text: a box around something that is not the concept")
    text.add_argument("--score-threshold", type=float, default=0.5,
                      help="keep instances scoring at least this (0..1, default 0.5)")
    text.add_argument("--mask-threshold", type=float, default=0.5,
                      help="mask probability above which a pixel is in (0..1, default 0.5)")
    parser.add_argument("--output-dir", required=True, help="folder for the results")
    return parser


def main_text(args):
    """The --text route: SAM 3 TextSegmenter, results via segmodel.sam.sam3.text_results."""
    from segmodel.sam import load_image
    from segmodel.sam.sam3.segmenter import TextSegmenter, check_boxes, check_texts, check_threshold
    from segmodel.sam.sam3.text_results import save_text_results

    boxes = args.exemplar + args.negative_exemplar
    labels = [1] * len(args.exemplar) + [0] * len(args.negative_exemplar)
    try:
        image = load_image(args.image)
        # Check prompts before loading the model, so a typo fails in a second.
        check_texts(args.text)
        check_threshold(args.score_threshold, "--score-threshold")
        check_threshold(args.mask_threshold, "--mask-threshold")
        if boxes:
            check_boxes(boxes, labels, image.shape[:2])
        segmenter = TextSegmenter.from_preset(args.preset, dtype=args.dtype)
        instances = segmenter.segment(
            image, args.text, boxes=boxes or None, box_labels=labels or None,
            score_threshold=args.score_threshold, mask_threshold=args.mask_threshold)
        paths = save_text_results(args.output_dir, image, instances, {
            "preset": args.preset, "image": args.image, "texts": args.text,
            "exemplars": {"boxes": boxes, "labels": labels},
            "score_threshold": args.score_threshold, "mask_threshold": args.mask_threshold,
            "dtype": args.dtype,
        })
    except (ValueError, OSError, RuntimeError, ImportError, TypeError) as err:
        print(f"sam_predict: error: {err}", file=sys.stderr)
        return 2
    found = ", ".join(f"{i.text} {i.score:.3f}" for i in instances) or "none"
    print(f"{len(instances)} instance(s) ({found}); wrote {paths['mask']}, "
          f"{paths['overlay']}, {paths['json']}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.text is not None:
        if args.point or args.label or args.box or args.multimask:
            parser.error("--text cannot be combined with --point/--label/--box/--multimask "
                         "(those prompt SAM; with --text give example boxes as --exemplar)")
        if args.dtype == "float16":
            parser.error("--text runs SAM 3 in float32 or bfloat16, not float16")
        return main_text(args)
    if args.exemplar or args.negative_exemplar:
        parser.error("--exemplar/--negative-exemplar need --text")
    # Deferred: TensorFlow and keras-hub take seconds to import, --help should not.
    from segmodel.sam import SamPredictor, check_prompts, load_image
    from segmodel.sam.prompting.results import save_results

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
