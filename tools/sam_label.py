"""Label images with Segment Anything into a Pets-layout folder for build_records.

    python tools/sam_label.py --images photos/ --prompts prompts.json \
        --preset sam_base_sa1b --output-dir labelled/ [--outline-width 2]
    python tools/build_records.py --data-dir labelled/ --output-dir records/

prompts.json maps image file names to prompts in image pixels (see README, "SAM-assisted
labelling"): {"cat.jpg": {"boxes": [[x0, y0, x1, y1]]}, "dog.jpg": {"objects": [{"points":
[[x, y]], "labels": [1], "box": null}]}}. Writes OUT/images/, OUT/annotations/trimaps/
(1 foreground, 2 background, 3 outline band), list.txt, trainval.txt, an empty test.txt and
prompts.json. Rerunning keeps what is already labelled. Images without prompts and empty
masks are reported and left out. Exit status: 0 done, 2 bad input.
"""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of images to label")
    parser.add_argument("--prompts", required=True,
                        help="JSON file: image file name -> boxes and/or points")
    parser.add_argument("--preset", required=True,
                        help="keras-hub SAM preset name (sam_base_sa1b, ...) or a local "
                             "preset folder")
    parser.add_argument("--output-dir", required=True, help="Pets-layout output folder")
    parser.add_argument("--outline-width", type=int, default=2,
                        help="width in pixels of the trimap's outline band (class 3), "
                             "straddling the mask's edge; 0 for none (default 2)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        default="float32", help="image-encoder precision")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def point_box_source(args):
    """SAM with point and box prompts (the shared mask rule)."""
    from segmodel.sam import SamPredictor
    from segmodel.sam.label_folder import PointBoxSource

    # Loaded at the first mask: bad prompts fail before the model costs anything.
    return PointBoxSource(lambda: SamPredictor.from_preset(args.preset, dtype=args.dtype))


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.outline_width < 0:
        print("sam_label: error: --outline-width must be >= 0", file=sys.stderr)
        return 2
    # Deferred: TensorFlow and keras-hub take seconds to import; --help should not.
    from segmodel.sam.label_folder import label_images
    from segmodel.sam.labelling import load_prompt_file

    try:
        prompts = load_prompt_file(args.prompts)
        source = point_box_source(args)
        report = label_images(args.images, prompts, args.output_dir, source,
                              outline_width=args.outline_width,
                              progress=not args.no_progress)
    except (ValueError, OSError, RuntimeError, ImportError, TypeError) as err:
        print(f"sam_label: error: {err}", file=sys.stderr)
        return 2
    print(f"sam_label: {report.summary()}; output in {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
