"""Convert an Oxford-IIIT Pet folder into sharded TFRecords, or verify a built set.

  python tools/build_records.py --data-dir DATA --output-dir OUT [--split official|holdout]
      [--val-size 1000] [--seed 1337] [--num-shards N | --shard-size-mb M] [--workers K]
      [--compression none|gzip] [--strict] [--overwrite] [--prefix pets] [--no-progress]
  python tools/build_records.py --verify OUT [--decode]

Exit status: 0 success, 1 verification failed or --strict found bad samples, 2 bad usage/input.
"""

import argparse
import sys
import time


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Exit status: 0 ok, 1 verify/strict failure, 2 usage.")
    p.add_argument("--data-dir", help="folder holding images/ and annotations/")
    p.add_argument("--output-dir", help="folder to write shards and manifest.json into")
    p.add_argument("--verify", metavar="OUT", help="re-read and check a built record folder")
    p.add_argument("--decode", action="store_true",
                   help="with --verify: also decode every image and mask with TensorFlow")
    p.add_argument("--split", choices=("official", "holdout"), default="official",
                   help="official: train=trainval.txt, test=test.txt; holdout: the chapter's "
                        "shuffled train/validation split (default: %(default)s)")
    p.add_argument("--val-size", type=int, default=1000,
                   help="holdout validation images (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1337, help="holdout shuffle seed (default: %(default)s)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--num-shards", type=int, help="shards per split (default: by size)")
    size.add_argument("--shard-size-mb", type=float, help="target shard size in MB")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: CPU count; 0 or 1: in-process)")
    p.add_argument("--compression", choices=("none", "gzip"), default="none")
    p.add_argument("--strict", action="store_true", help="fail (exit 1, write nothing) if any "
                                                         "sample would be skipped")
    p.add_argument("--overwrite", action="store_true", help="replace an existing record set")
    p.add_argument("--prefix", default="pets", help="shard file prefix (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verify:
        if args.data_dir or args.output_dir:
            parser.error("--verify OUT takes no --data-dir/--output-dir")
        from segdata.verify import verify_records

        problems = verify_records(args.verify, decode=args.decode)
        for problem in problems:
            print(f"FAIL {problem}", file=sys.stderr)
        print(f"{args.verify}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    if not args.data_dir or not args.output_dir:
        parser.error("--data-dir and --output-dir are required (or use --verify OUT)")
    from segdata.convert import StrictError, build_records
    from segdata.manifest import summarize

    start = time.perf_counter()
    try:
        manifest = build_records(
            args.data_dir, args.output_dir, split=args.split, val_size=args.val_size,
            seed=args.seed, num_shards=args.num_shards, shard_size_mb=args.shard_size_mb,
            workers=args.workers, compression=args.compression, strict=args.strict,
            overwrite=args.overwrite, prefix=args.prefix, progress=not args.no_progress)
    except StrictError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # LayoutError, BuildError, ...: messages say what to do
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summarize(manifest, args.output_dir, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
