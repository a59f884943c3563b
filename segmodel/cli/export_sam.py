"""Export Segment Anything as a versioned SavedModel that plain TensorFlow can load and serve.

    python tools/export_sam.py --preset sam_base_sa1b --output-dir export/sam [--version N]
    # -> export/sam/1/ (next free version); load with tf.saved_model.load(".../1")

Signatures (prompts in image pixels): serving_default (image bytes, points [N, 2], labels [N],
boxes [M, 4] with M = 0 or 1 -> mask uint8 [H, W], score), encode (image bytes -> embedding
and sizes), decode (embedding + prompts -> masks [C, H, W] and scores). One point alone gets
the best of SAM's three candidates; a box or several points the single-mask output.
"""

import argparse
import json
import sys


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True,
                   help="keras-hub SAM preset name (sam_base_sa1b, ...) or a local preset folder")
    p.add_argument("--output-dir", required=True,
                   help="model base path that the server watches; versions go in N/ below it")
    p.add_argument("--version", type=int, default=None,
                   help="version number (default: one more than the highest existing)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --version")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from segmodel.sam.servable import export_sam
    from segmodel.serving.metadata import read_metadata  # after --help: TensorFlow is slow to import

    try:
        version_dir = export_sam(args.preset, args.output_dir, version=args.version,
                                 overwrite=args.overwrite)
    except (ValueError, OSError, ImportError, TypeError) as err:
        print(f"export_sam: error: {err}", file=sys.stderr)
        return 2
    print(f"exported {args.preset} -> {version_dir}")
    for name, signature in read_metadata(version_dir)["signatures"].items():
        print(f"  {name}: {json.dumps(signature['inputs'])} -> {json.dumps(signature['outputs'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
