"""Label images with Segment Anything into a Pets-layout or masks-layout folder for build_records.

    python tools/sam_label.py --images photos/ --prompts prompts.json \
        --preset sam_base_sa1b --output-dir labelled/ [--outline-width 2]
    python tools/sam_label.py --images photos/ --prompts prompts.json --classes cat dog \
        --preset sam_base_sa1b --output-dir labelled/ [--ignore-width 2]
    python tools/sam_label.py --images photos/ --text cat --text dog \
        --preset sam3_pcs --output-dir labelled/
    python tools/sam_label.py --images pets/images/ --text-from-class [--class-text breed] \
        --preset sam3_pcs --score-threshold 0.5 --output-dir labelled/
    python tools/build_records.py --data-dir labelled/ --output-dir records/

prompts.json maps image file names to prompts in image pixels (see README, "SAM-assisted
labelling"): {"cat.jpg": {"boxes": [[x0, y0, x1, y1]]}, "dog.jpg": {"objects": [{"points":
[[x, y]], "labels": [1], "box": null}]}}. Writes OUT/images/, OUT/annotations/trimaps/
(1 foreground, 2 background, 3 outline band), list.txt, trainval.txt, an empty test.txt and
prompts.json. Without clicks: --text "a pet" (one phrase for every image) or
--text-from-class (from Pets-style names: Abyssinian_1.jpg -> "a cat", beagle_3.jpg ->
"a dog"; --class-text breed -> "abyssinian", "beagle"; the list files then carry the class,
species and breed ids) label with SAM 3: the foreground is the union of the instances
scoring at least --score-threshold. Rerunning keeps what is already labelled. Images
without prompts and empty masks are reported and left out. Exit status: 0 done, 2 bad input.

Classes: --classes cat dog (or a classes.json) names the classes after background; an object
picks one with "class": "dog" (default the first). Several --text phrases are one class
each. --layout masks (the default for more than one class) writes OUT/images/, OUT/masks/
(train ids, 255 on an --ignore-width band around each object), OUT/classes.json,
OUT/prompts.json and OUT/annotations/instances.json (COCO, compressed RLE), for
build_records --format masks (or coco); --layout pets holds one class.

A trained segkit model instead of prompts: --model RUN/model.keras (or EXPORT/N, a .tflite,
an .onnx) writes every image's prediction as objects, one per connected region of a class
(regions under --min-area pixels dropped), into the masks layout, as `segkit label-app
--model` pre-labels them; no SAM is loaded (--preset is not needed). The model's classes must
be "background" then the folder's (without --classes: the model's).
"""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of images to label")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompts",
                        help="JSON file: image file name -> boxes and/or points (SAM)")
    source.add_argument("--text", action="append", metavar="TEXT",
                        help='label every image with SAM 3 from this phrase ("a pet"); '
                             "repeat for several (their instances are united)")
    source.add_argument("--model", metavar="RUN/model.keras",
                        help="a trained segkit model: write its predictions as the labels "
                             "(RUN/model.keras, EXPORT or EXPORT/N, FILE.tflite, FILE.onnx)")
    source.add_argument("--text-from-class", action="store_true",
                        help="label with SAM 3, the text from each Pets-style file name "
                             "(capitalised breed: a cat, lowercase: a dog)")
    parser.add_argument("--class-text", choices=("species", "breed"),
                        help="with --text-from-class: 'a cat'/'a dog' (species, default) "
                             "or the breed's name (breed)")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="text routes: keep SAM 3 instances scoring at least this")
    parser.add_argument("--mask-threshold", type=float, default=0.5,
                        help="text routes: mask probability above which a pixel is in")
    parser.add_argument("--min-area", type=int, default=0,
                        help="--model: drop predicted regions under this many pixels "
                             "(default 0, every region)")
    parser.add_argument("--preset",
                        help="keras-hub SAM preset name (sam_base_sa1b, ...; with --text or "
                             "--text-from-class a SAM 3 preset: sam3_pcs) or a local "
                             "preset folder")
    parser.add_argument("--classes", nargs="+", metavar="NAME",
                        help="class names after background (cat dog ...), or a classes.json")
    parser.add_argument("--layout", choices=("masks", "pets"),
                        help="output layout: masks (class-id PNGs + COCO; the default for "
                             "more than one class) or pets (trimaps; one class)")
    parser.add_argument("--ignore-width", type=int, default=0,
                        help="--layout masks: width in pixels of the ignore (255) band "
                             "around each object's edge; 0 for none (default 0)")
    parser.add_argument("--output-dir", required=True, help="output folder (Pets or masks "
                        "layout)")
    parser.add_argument("--outline-width", type=int, default=2,
                        help="width in pixels of the trimap's outline band (class 3), "
                             "straddling the mask's edge; 0 for none (default 2)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        default="float32", help="image-encoder precision")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def point_box_source(args, classes=None):
    """SAM with point and box prompts (the shared mask rule)."""
    from segmodel.sam import SamPredictor
    from segmodel.sam.labelling.folder import PointBoxSource

    # Loaded at the first mask: bad prompts fail before the model costs anything.
    return PointBoxSource(lambda: SamPredictor.from_preset(args.preset, dtype=args.dtype),
                          classes=classes)


def text_source(args, classes=None):
    """SAM 3 with text prompts: the union of the instances kept by the score threshold, or
    (layout masks) each instance as an object of its text's class."""
    from segmodel.sam.sam3.segmenter import TextSegmenter
    from segmodel.sam.sam3.text_labelling import TextSource

    return TextSource(lambda: TextSegmenter.from_preset(args.preset, dtype=args.dtype),
                      score_threshold=args.score_threshold,
                      mask_threshold=args.mask_threshold, classes=classes)


def resolve_classes(args):
    """--classes / --text -> (ClassList or None, layout); raises ValueError for bad input."""
    from segmodel.sam.labelling.classes import ClassList, parse_classes
    from segmodel.sam.sam3.segmenter import check_texts

    classes = parse_classes(args.classes)
    if args.text is not None:
        texts = check_texts(args.text)
        if classes is None:
            classes = ClassList(tuple(dict.fromkeys(texts)))  # each text is a class
        for text in texts:
            classes.train_id(text, "--text")
    layout = args.layout or ("masks" if classes is not None and len(classes) > 1 else "pets")
    if layout == "masks" and classes is None:
        raise ValueError("--layout masks needs the classes: --classes cat dog (or several "
                         "--text)")
    if layout == "pets" and args.ignore_width:
        raise ValueError("--ignore-width is for --layout masks; the Pets trimap's band is "
                         "--outline-width")
    return classes, layout


def model_route(args):
    """--model -> (classes, "masks", an empty entry per image, the model's mask source)."""
    import pathlib

    from segmodel.sam.labelling.classes import folder_classes, parse_classes
    from segmodel.sam.labelling.folder import image_files
    from segmodel.sam.labelling.prelabels import ModelSource, PreLabeller, model_classes

    if args.layout == "pets":
        raise ValueError("--model writes the masks layout (a class id per pixel); drop "
                         "--layout pets")
    runner, classes = model_classes(args.model, args.output_dir, parse_classes(args.classes))
    classes = folder_classes(args.output_dir, classes)
    images = pathlib.Path(args.images)
    if not images.is_dir():
        raise FileNotFoundError(f"Image folder not found: {images}")
    prompts = {name: {} for name in image_files(images)}
    return classes, "masks", prompts, ModelSource(PreLabeller(runner, classes, args.min_area))


def text_prompt_entries(args):
    """Per-image text prompt entries: --text for all, or from Pets-style names."""
    from segmodel.sam.sam3.text_labelling import text_prompts

    if args.text_from_class:
        return text_prompts(args.images, from_class=args.class_text or "species")
    return text_prompts(args.images, text=args.text)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    text_route = args.text is not None or args.text_from_class
    if text_route and args.dtype == "float16":
        parser.error("--text/--text-from-class run SAM 3 in float32 or bfloat16")
    if args.class_text and not args.text_from_class:
        parser.error("--class-text needs --text-from-class")
    if args.classes and args.text_from_class:
        parser.error("--text-from-class labels Pets classes from file names; --classes "
                     "goes with --prompts or --text")
    if args.preset is None and args.model is None:
        parser.error("--preset is required (SAM), unless --model labels with a trained model")
    if args.min_area < 0:
        parser.error("--min-area must be >= 0")
    if args.outline_width < 0 or args.ignore_width < 0:
        print("sam_label: error: --outline-width and --ignore-width must be >= 0",
              file=sys.stderr)
        return 2
    # Deferred: TensorFlow and keras-hub take seconds to import; --help should not.
    from segmodel.sam.labelling.entries import load_prompt_file
    from segmodel.sam.labelling.folder import label_images

    try:
        if args.model:
            classes, layout, prompts, source = model_route(args)
        elif text_route:
            classes, layout = resolve_classes(args)
            prompts = text_prompt_entries(args)
            source = text_source(args, classes)
        else:
            classes, layout = resolve_classes(args)
            prompts = load_prompt_file(args.prompts)
            source = point_box_source(args, classes)
        report = label_images(args.images, prompts, args.output_dir, source,
                              outline_width=args.outline_width,
                              progress=not args.no_progress, layout=layout,
                              classes=classes, ignore_width=args.ignore_width)
    except (ValueError, OSError, RuntimeError, ImportError, TypeError) as err:
        print(f"sam_label: error: {err}", file=sys.stderr)
        return 2
    print(f"sam_label: {report.summary()}; output in {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
