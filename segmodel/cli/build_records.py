"""Convert a segmentation dataset folder into sharded TFRecords, or verify a built set.

  python tools/build_records.py --data-dir DATA --output-dir OUT [--format auto|pets|voc|coco|
      cityscapes|ade20k|camvid|masks] [--instances] [--crowd auto|ignore|objects]
      [--exif-orientation auto|apply|ignore]
      [--split official|holdout] [--val-size 1000] [--seed 1337]
      [--num-shards N | --shard-size-mb M] [--workers K] [--compression none|gzip] [--strict]
      [--overwrite] [--name NAME] [--no-progress]
      [--runner local|beam] [--beam-options "--runner=DirectRunner --direct_num_workers=2 ..."]
  python tools/build_records.py --verify OUT [--decode]

Exit status: 0 success, 1 verification failed, --strict found bad samples or the Beam pipeline
failed, 2 bad usage/input.
"""

import argparse
import sys
import time

from segdata.formats import FORMATS
from segdata.formats.base import CROWD_MODES
from segdata.records.orientation import MODES as EXIF_MODES


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Exit status: 0 ok, 1 verify/strict failure, 2 usage.")
    p.add_argument("--data-dir", help="the dataset's folder (any layout --format names)")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS,
                   help="the folder's layout; auto recognises it from its files; voc also reads "
                        "CVAT's 'Segmentation mask 1.1' export (default: %(default)s)")
    p.add_argument("--instances", action="store_true",
                   help="with --format coco: also write Model Garden's instance keys "
                        "(image/object/bbox/*, class/label, is_crowd, area, mask) for Mask R-CNN")
    p.add_argument("--crowd", choices=CROWD_MODES, default="auto",
                   help="with COCO: what iscrowd=1 means. ignore: crowd regions (COCO's "
                        "meaning, painted 255); objects: objects stored as RLE (CVAT's and "
                        "Datumaro's mask exports); auto: per JSON file, objects when every "
                        "annotation is a crowd RLE and none lies inside another of its category "
                        "(default: %(default)s)")
    p.add_argument("--exif-orientation", choices=EXIF_MODES, default="auto",
                   help="photos with an EXIF orientation (phone portraits): auto turns the "
                        "stored pixels when the annotation fits only the photo as shown (CVAT, "
                        "Label Studio), keeps them when it fits only the stored pixels, and "
                        "counts the undecidable (180-degree turns, square photos) in the "
                        "manifest; apply always turns; ignore never reads the tag, as "
                        "TensorFlow decodes (default: %(default)s; not Pets)")
    p.add_argument("--output-dir", help="folder to write shards and manifest.json into")
    p.add_argument("--verify", metavar="OUT", help="re-read and check a built record folder")
    p.add_argument("--decode", action="store_true",
                   help="with --verify: also decode every image and mask with TensorFlow")
    p.add_argument("--split", choices=("official", "holdout"), default="official",
                   help="official: the dataset's own split lists as train/validation/test (Pets: "
                        "train=trainval.txt, test=test.txt); holdout: the chapter's shuffled "
                        "train/validation split (default: %(default)s)")
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
    p.add_argument("--name", "--prefix", dest="prefix", default=None,
                   help="dataset name in the shard file names, NAME-train.tfrecord-00000-of-"
                        "00004 (default: the format's name: pets, voc, coco, ...)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--runner", choices=("local", "beam"), default="local",
                   help="local: worker processes on this machine; beam: an Apache Beam pipeline "
                        "(needs the beam extra), same bytes (default: %(default)s)")
    p.add_argument("--beam-options", default=None, metavar="FLAGS",
                   help="with --runner beam: Beam pipeline flags in one string, e.g. "
                        "\"--runner=DataflowRunner --project=P --region=R "
                        "--temp_location=gs://B/tmp --setup_file=./setup.py\" "
                        "(default: --runner=DirectRunner)")
    return p


def _bind_beam_options(argv):
    """`--beam-options "--runner=X ..."` -> `--beam-options=--runner=X ...`: argparse would
    otherwise read a value that starts with "--" as an option of its own."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv[:-1]):
        if arg == "--beam-options":
            return argv[:i] + [f"--beam-options={argv[i + 1]}"] + argv[i + 2:]
    return argv


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(_bind_beam_options(argv))
    if args.verify:
        if args.data_dir or args.output_dir:
            parser.error("--verify OUT takes no --data-dir/--output-dir")
        from segdata.records.verify import verify_records

        problems = verify_records(args.verify, decode=args.decode)
        for problem in problems:
            print(f"FAIL {problem}", file=sys.stderr)
        print(f"{args.verify}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    if not args.data_dir or not args.output_dir:
        parser.error("--data-dir and --output-dir are required (or use --verify OUT)")
    if args.runner == "beam" and args.workers is not None:
        parser.error("--workers is for --runner local; with --runner beam the Beam runner sets "
                     "the parallelism (e.g. --beam-options \"--direct_num_workers=2\")")
    if args.runner == "local" and args.beam_options is not None:
        parser.error("--beam-options needs --runner beam")
    from segdata.records.convert import StrictError, build_records
    from segdata.records.manifest import summarize

    common = dict(split=args.split, val_size=args.val_size, seed=args.seed,
                  num_shards=args.num_shards, shard_size_mb=args.shard_size_mb,
                  compression=args.compression, strict=args.strict, overwrite=args.overwrite,
                  prefix=args.prefix, format=args.format, instances=args.instances,
                  crowd=args.crowd, exif_orientation=args.exif_orientation)
    start = time.perf_counter()
    try:
        if args.runner == "beam":
            from segdata.records.beam_convert import PipelineError, build_records_beam

            try:
                manifest = build_records_beam(args.data_dir, args.output_dir,
                                              beam_options=args.beam_options, **common)
            except PipelineError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
        else:
            manifest = build_records(args.data_dir, args.output_dir, workers=args.workers,
                                     progress=not args.no_progress, **common)
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
