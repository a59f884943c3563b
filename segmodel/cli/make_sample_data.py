"""Generate a Pets-layout folder of synthetic photos and trimaps (no download needed).

  python tools/make_sample_data.py --output-dir data/sample --num-images 200 --seed 0 [--with-quirks]

--with-quirks also plants the real archives' mess (PNG/GIF bytes named .jpg, CMYK, RGBA and
grayscale JPEGs, a truncated JPEG, missing/wrong-size/out-of-range trimaps, junk files) and
lists which sample carries which in OUTPUT/quirks.json.
Exit status: 0 success, 2 usage.
"""

import argparse
import sys


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output-dir", required=True, help="folder to create")
    p.add_argument("--num-images", type=int, required=True, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--with-quirks", action="store_true", help="plant real-world data problems")
    p.add_argument("--min-side", type=int, default=250, help="smallest image side in px")
    p.add_argument("--max-side", type=int, default=500, help="largest image side in px")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = p.parse_args(argv)
    from segdata.synthetic.pets import make_sample_data

    try:
        out = make_sample_data(args.output_dir, args.num_images, seed=args.seed,
                               with_quirks=args.with_quirks, min_side=args.min_side,
                               max_side=args.max_side, overwrite=args.overwrite)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.num_images} samples to {out}"
          + (" (quirks listed in quirks.json)" if args.with_quirks else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
