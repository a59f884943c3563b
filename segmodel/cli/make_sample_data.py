"""Generate a dataset folder of synthetic photos and masks in a real layout (no download needed).

  python tools/make_sample_data.py --output-dir data/sample --num-images 200 --seed 0 [--with-quirks]
  segkit make-sample-data --format voc --output-dir data/voc [--num-images 12] [--quirks]

--format pets (the default) writes the Oxford-IIIT Pet layout; voc, cvat, coco, cityscapes,
ade20k, camvid and masks write that layout with several classes per image (segdata.synthetic.datasets).
--quirks (alias --with-quirks) also plants the layout's real mess (for pets: PNG/GIF bytes named
.jpg, CMYK, RGBA and grayscale JPEGs, a truncated JPEG, missing/wrong-size/out-of-range trimaps,
junk files; for the others: a missing mask, a wrong-size mask, an out-of-range value or colour,
bad photo encodings, COCO annotations to drop, junk files) and lists which sample carries which
in OUTPUT/quirks.json.
Exit status: 0 success, 2 usage.
"""

import argparse
import pathlib
import sys

FORMATS = ("pets", "voc", "cvat", "coco", "cityscapes", "ade20k", "camvid", "masks")


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output-dir", required=True, help="folder to create")
    p.add_argument("--format", choices=FORMATS, default="pets",
                   help="dataset layout to write (default: %(default)s)")
    p.add_argument("--num-images", type=int, default=None,
                   help="number of samples (required for pets; default 12 for the others)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--quirks", "--with-quirks", dest="quirks", action="store_true",
                   help="plant the layout's real-world data problems")
    p.add_argument("--min-side", type=int, default=250, help="pets: smallest image side in px")
    p.add_argument("--max-side", type=int, default=500, help="pets: largest image side in px")
    p.add_argument("--image-size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"),
                   help="other formats: photo height and width in px (default: 96 128)")
    p.add_argument("--mask-bits", type=int, choices=(8, 16), default=8,
                   help="masks format: PNG bit depth of the masks (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return p


def main(argv=None):
    p = _parser()
    args = p.parse_args(argv)
    if args.format == "pets" and args.num_images is None:
        p.error("the following arguments are required: --num-images")
    if args.format != "pets" and args.mask_bits == 16 and args.format != "masks":
        p.error("--mask-bits 16 applies to --format masks only")
    try:
        if args.format == "pets":
            from segdata.synthetic.pets import make_sample_data

            out = make_sample_data(args.output_dir, args.num_images, seed=args.seed,
                                   with_quirks=args.quirks, min_side=args.min_side,
                                   max_side=args.max_side, overwrite=args.overwrite)
            print(f"wrote {args.num_images} samples to {out}"
                  + (" (quirks listed in quirks.json)" if args.quirks else ""))
            return 0
        from segdata.io.atomic import write_json_atomic
        from segdata.synthetic.datasets import make_dataset

        ds = make_dataset(args.output_dir, args.format, num_images=args.num_images or 12,
                          image_size=args.image_size, seed=args.seed, quirks=args.quirks,
                          mask_bits=args.mask_bits, overwrite=args.overwrite)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.quirks:  # at the top of OUTPUT, as for pets (outside ds.root for voc and ade20k)
        write_json_atomic(pathlib.Path(args.output_dir) / "quirks.json", ds.quirks)
    splits = ", ".join(f"{k} {len(v)}" for k, v in ds.splits.items())
    print(f"wrote a {args.format} dataset of {len(ds.classes)} classes ({splits}) to {ds.root}"
          + (" (quirks listed in quirks.json)" if args.quirks else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
