"""Order a folder of photos by a trained model's uncertainty: what to label next.

  segkit rank --model runs/pets/model.keras --images photos/ --output rank.csv \
      [--labelled-dir labelled/]

The score of a photo is the mean per-pixel entropy of the model's class probabilities, in
nats (0: certain everywhere, log C: a uniform guess); rank.csv has the columns image,score,
most uncertain first. --model takes what `segkit label-app --model` takes: RUN/model.keras,
an export folder EXPORT or EXPORT/N (SavedModel, model.tflite or model.onnx), a .tflite or an
.onnx file. With --labelled-dir, photos already labelled there (a `masks` folder written by
segkit label-app or sam-label) are left out.

Exit status: 0 written, 2 bad usage or input.
"""

import argparse
import pathlib
import sys


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help="RUN/model.keras, EXPORT or EXPORT/N, FILE.tflite or FILE.onnx")
    p.add_argument("--images", required=True, help="folder of photos to score")
    p.add_argument("--output", required=True, help="CSV to write (image,score)")
    p.add_argument("--labelled-dir", help="leave out the photos labelled in this folder")
    return p


def labelled_stems(folder):
    """Sample names labelled in a `masks` folder (its mask and its part both written)."""
    folder = pathlib.Path(folder)
    parts = folder / "annotations" / "parts"
    return {p.stem for p in parts.glob("[!.]*.json") if (folder / "masks" / f"{p.stem}.png").is_file()}


def main(argv=None):
    args = build_parser().parse_args(argv)
    from segmodel.sam.automatic.folder import list_images

    images = pathlib.Path(args.images)
    if not images.is_dir():
        print(f"error: --images {images} is not a folder of photos", file=sys.stderr)
        return 2
    try:
        paths, _ = list_images(images)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: --images: {err}", file=sys.stderr)
        return 2
    if args.labelled_dir:
        done = labelled_stems(args.labelled_dir)
        paths = [p for p in paths if p.stem not in done]
        if not paths:
            print(f"every photo of {images} is labelled in {args.labelled_dir}; nothing to rank",
                  file=sys.stderr)
            return 2
    from segmodel.evaluation import uncertainty
    from segmodel.serving.runtimes import load_runner

    try:
        runner = load_runner(args.model)
        from tqdm import tqdm

        failed = []
        with tqdm(total=len(paths), unit="photo", file=sys.stderr, leave=False) as bar:
            ranked = uncertainty.rank_images(runner, paths, lambda done, total: bar.update(1),
                                             failed)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in failed:
        print(f"left out, cannot be decoded: {line}", file=sys.stderr)
    if not ranked:
        print(f"error: no photo of {images} could be decoded", file=sys.stderr)
        return 2
    uncertainty.write_rank_csv(args.output, ranked)
    print(f"wrote {args.output}: {len(ranked)} photos, most uncertain first (score: "
          f"{uncertainty.METHOD})")
    for name, score in ranked[:5]:
        print(f"  {score:.4f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
