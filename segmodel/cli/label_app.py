"""Label a folder of photos with SAM in the browser, into a folder build_records takes unchanged.

  python tools/label_app.py --images DIR --output-dir OUT --preset PRESET [--port 8765]
      [--outline-width 2] [--host 127.0.0.1] [--open] [--dtype float32|bfloat16|float16]
      [--encoder process|thread] [--classes NAME [NAME ...] | --classes classes.json]
      [--layout pets|masks] [--ignore-width 0]
      [--model RUN/model.keras|EXPORT/N|FILE.tflite|FILE.onnx [--min-area 0]
       [--order name|uncertainty]]

Without --classes the output is a Pets-layout folder (a trimap of the objects' union). With
several classes (or --layout masks) each object has a class (keys 1-9 on the page) and the
output is a `masks` folder: images/, masks/ (train ids), classes.json, prompts.json and
annotations/instances.json (COCO), which build_records and the COCO tools read.

With --model, each photo still to do opens with the model's prediction as objects, one per
connected region of a class (regions under --min-area pixels dropped), ready to accept, brush,
erase or re-prompt with SAM (a click on an object prompts SAM with the object's box and the
click). The model's classes must be "background" and then the folder's classes (without
--classes, a new folder takes the model's). --order uncertainty shows the photos still to do
most uncertain first (mean per-pixel entropy of the model's class probabilities, as
`segkit rank`), with their scores. prompts.json records for each accepted photo whether it was
accepted as pre-labelled, edited (with the fraction of pixels changed) or labelled from scratch;
the counts per class are printed at the start and when the page stops.

Prints the page's URL (http://127.0.0.1:PORT/?token=...) on a line of its own once the server
answers and the first image still to do is encoded. Stop with Ctrl+C: the output folder is the
state, so starting again on the same folders continues where you stopped.

Exit status: 0 stopped by the user, 2 bad usage or input.
"""

import argparse
import sys


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="folder of photos to label")
    p.add_argument("--output-dir", required=True,
                   help="Pets-layout folder to write (images/, annotations/); also the state")
    p.add_argument("--preset", required=True,
                   help="keras-hub SAM preset name (sam_base_sa1b, ...) or a local preset folder")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port "
                                                          "(default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: %(default)s, this machine only)")
    p.add_argument("--outline-width", type=int, default=2,
                   help="trimap outline band in px (default: %(default)s)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="image encoder precision (default: %(default)s)")
    p.add_argument("--encoder", choices=("process", "thread"), default="process",
                   help="where the image encoder runs: a low-priority process of its own, so "
                        "clicks never wait for the background encoding of the next photo "
                        "(needs memory for a second copy of SAM), or a thread of the server "
                        "(default: %(default)s)")
    p.add_argument("--classes", nargs="+", metavar="NAME",
                   help="class names (train ids 1..K after background), or one classes.json")
    p.add_argument("--layout", choices=("pets", "masks"),
                   help="output layout (default: masks with several classes, else pets)")
    p.add_argument("--ignore-width", type=int, default=0,
                   help="masks layout: width of the 255 (ignore) band around each object's "
                        "edge (default: %(default)s, the mask is exactly what the page shows)")
    p.add_argument("--model", help="trained segkit model for pre-labels: RUN/model.keras, "
                                   "EXPORT or EXPORT/N, FILE.tflite or FILE.onnx")
    p.add_argument("--min-area", type=int, default=0,
                   help="with --model: drop predicted regions under this many pixels "
                        "(default: %(default)s, every region)")
    p.add_argument("--order", choices=("name", "uncertainty"), default="name",
                   help="queue order: file name, or most uncertain first (needs --model) "
                        "(default: %(default)s)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {args.host}: anyone who can reach it and has the URL's token "
              "can read the photos and write labels.", file=sys.stderr)
    import os

    if not os.path.isdir(args.images):
        # Checked before SAM loads (seconds to minutes) so a typo fails at once.
        print(f"error: photo folder {os.path.abspath(args.images)} does not exist; pass the "
              "folder holding the photos to label with --images.", file=sys.stderr)
        return 2
    from segmodel.sam.label_app.app import resolve_layout, serve
    from segmodel.sam.labelling.classes import parse_classes

    try:
        # Checked before SAM loads, like the folder.
        classes = parse_classes(args.classes)
        layout = resolve_layout(classes, args.layout)
        if args.ignore_width < 0:
            raise ValueError(f"--ignore-width must be >= 0, got {args.ignore_width}")
        if args.min_area < 0:
            raise ValueError(f"--min-area must be >= 0, got {args.min_area}")
        if args.order == "uncertainty" and not args.model:
            raise ValueError("--order uncertainty needs --model")
        model = None
        if args.model:  # loaded (and its classes checked) before SAM
            from segmodel.sam.labelling.prelabels import model_classes

            model, classes = model_classes(args.model, args.output_dir, classes)
            layout = resolve_layout(classes, args.layout or "masks")
        serve(args.images, args.output_dir, args.preset, host=args.host, port=args.port,
              outline_width=args.outline_width, dtype=args.dtype, open_browser=args.open,
              encoder=args.encoder, classes=classes, layout=layout,
              ignore_width=args.ignore_width, model=model, min_area=args.min_area,
              order=args.order)
    except (OSError, ValueError, ConnectionError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
