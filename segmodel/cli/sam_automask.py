"""Automatic masks ("segment everything") for a folder of images, as segment-anything's amg.py.

    python tools/sam_automask.py --images photos/ --preset sam_base_sa1b --output-dir masks/
    python tools/sam_automask.py --images photos/ --preset sam_base_sa1b --output-dir rle/ \
        --convert-to-rle --points-per-side 16 --pred-iou-thresh 0.86

Writes what segment-anything's scripts/amg.py writes, so tools built for SAM's output read
it: per image NAME.ext a folder OUT/NAME/ with 0.png, 1.png, ... (0/255 masks, best
predicted IoU first) and metadata.csv; with --convert-to-rle one OUT/NAME.json, the list of
mask records with "segmentation" as COCO RLE. --images may also be a single image file.
Rerunning skips images whose output is complete and redoes half-written ones. Unreadable
images are reported and skipped. PRESET is a keras-hub preset name or a local folder
written by `segmenter.save_to_preset(folder)`. Exit status: 0 done, 1 some images could not
be read, 2 bad arguments or input.
"""

import argparse
import sys

EPILOG = ("amg.py's crop flags (--crop-n-layers, --crop-nms-thresh, --crop-overlap-ratio, "
          "--crop-n-points-downscale-factor) are not offered: the generator runs one crop layer "
          "(the whole image), and --matting is not offered either.")


def _ranged(kind, low, high=None, low_open=False):
    """An argparse type: `kind` (int or float) in [low, high] ((low, high] if low_open)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < low or (low_open and value == low) \
                or (high is not None and value > high):
            bound = (f"{'>' if low_open else '>='} {low}" if high is None
                     else f"between {low} and {high}")
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'} {bound}, got {text!r}")
        return value
    return parse


# flag -> (generator argument, argparse type, help); defaults are the generator's own.
GENERATOR_FLAGS = {
    "--points-per-side": ("points_per_side", _ranged(int, 1),
                          "sample a grid with this many points to a side (default 32)"),
    "--points-per-batch": ("points_per_batch", _ranged(int, 1),
                           "points decoded together; more is faster, needs more memory "
                           "(default 64)"),
    "--pred-iou-thresh": ("pred_iou_thresh", _ranged(float, 0, 1),
                          "keep masks whose predicted IoU is above this; 0 keeps all "
                          "(default 0.88)"),
    "--stability-score-thresh": ("stability_score_thresh", _ranged(float, 0, 1),
                                 "keep masks whose stability score is at least this; 0 keeps "
                                 "all (default 0.95)"),
    "--stability-score-offset": ("stability_score_offset", _ranged(float, 0, low_open=True),
                                 "logit offset of the stability score; larger perturbs the mask "
                                 "more (default 1.0)"),
    "--box-nms-thresh": ("box_nms_thresh", _ranged(float, 0, 1),
                         "box IoU above which the lower-scored mask is a duplicate "
                         "(default 0.7)"),
    "--min-mask-region-area": ("min_mask_region_area", _ranged(int, 0),
                               "fill holes and remove islands smaller than this many pixels; "
                               "0 disables (default 0)"),
}


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EPILOG)
    parser.add_argument("--images", required=True,
                        help="folder of images (or a single image file) to segment")
    parser.add_argument("--preset", required=True,
                        help="keras-hub SAM preset name (sam_base_sa1b, sam_large_sa1b, "
                             "sam_huge_sa1b) or a local preset folder")
    parser.add_argument("--output-dir", required=True,
                        help="folder for the results (one folder or JSON file per image)")
    parser.add_argument("--convert-to-rle", action="store_true",
                        help="write one JSON per image with COCO RLE masks instead of a "
                             "folder of PNGs")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        default="float32", help="image-encoder precision")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    settings = parser.add_argument_group("AMG settings (as segment-anything's amg.py)")
    for flag, (dest, kind, text) in GENERATOR_FLAGS.items():
        settings.add_argument(flag, dest=dest, type=kind, default=None, help=text,
                              metavar="N" if "(int" in repr(kind) else "X")
    return parser


def generator_kwargs(args):
    """The generator arguments given on the command line (unset flags keep its defaults)."""
    values = ((dest, getattr(args, dest)) for dest, _, _ in GENERATOR_FLAGS.values())
    return {dest: value for dest, value in values if value is not None}


def main(argv=None):
    args = build_parser().parse_args(argv)
    # Deferred: TensorFlow and keras-hub take seconds to import; --help should not.
    from segmodel.sam import SamAutomaticMaskGenerator, SamPredictor
    from segmodel.sam.automatic.folder import automask_folder

    def generator():  # loaded at the first image that needs masks
        predictor = SamPredictor.from_preset(args.preset, dtype=args.dtype)
        return SamAutomaticMaskGenerator(predictor, **generator_kwargs(args))

    def log(line):
        print(line, file=sys.stderr)

    try:
        summary = automask_folder(generator, args.images, args.output_dir,
                                  convert_to_rle=args.convert_to_rle,
                                  progress=not args.no_progress, log=log)
    except (ValueError, OSError, RuntimeError, ImportError) as err:
        print(f"sam_automask: error: {err}", file=sys.stderr)
        return 2
    parts = [f"{len(summary['written'])} image(s) written ({summary['masks']} masks)",
             f"{len(summary['skipped'])} already done"]
    if summary["ignored"]:
        parts.append(f"{len(summary['ignored'])} non-image file(s) ignored")
    if summary["failed"]:
        parts.append(f"{len(summary['failed'])} unreadable image(s) skipped")
    print(f"sam_automask: {'; '.join(parts)}; output in {summary['output_dir']}")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
