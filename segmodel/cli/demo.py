"""The main job end to end: sample data -> records -> figure -> training -> export -> serving -> SAM.

`make demo` runs this with no arguments. Each stage is one of the other tools, run as its own
process exactly as a user would type it, so the demo proves the commands in the README.

    python tools/demo.py --workdir runs/demo [--pets-dir /path/to/oxford-iiit-pet]
        [--sam-preset sam_base_sa1b|/path/to/preset] [--epochs 12] [--image-size 96]
        [--model unet|chapter]

It trains the U-Net: of the chapter's model, the U-Net, DeepLabV3+ and SegFormer-B0 (random
weights, no download), it reached the best validation IoU in the demo's CPU budget on the
generated data (README: "Choosing a model"). `--model chapter` trains the chapter's model.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

DEFAULT_MODEL = "unet"
WHY = {"unet": "the best validation IoU of chapter / U-Net / DeepLabV3+ / SegFormer-B0 in this "
               "CPU budget; --model chapter trains the chapter's model",
       "chapter": "the chapter's model (Deep Learning with Python, ch. 11)"}


class StageFailed(RuntimeError):
    pass


def _run(stage, args, timings):
    """Runs one subcommand (`segkit NAME ...`) in a child process, streaming its output;
    records the wall time."""
    cmd = [sys.executable, "-m", "segmodel.cli", *map(str, args)]
    print(f"\n=== {stage}: segkit {' '.join(cmd[3:])}", flush=True)
    start = time.perf_counter()
    # TensorFlow's C++ start-up chatter would bury each stage's own progress lines.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    code = subprocess.call(cmd, env=env)
    timings.append((stage, time.perf_counter() - start))
    if code != 0:
        raise StageFailed(f"stage '{stage}' failed with exit code {code}; its output is above.")


def _timed(stage, fn, timings):
    print(f"\n=== {stage}", flush=True)
    start = time.perf_counter()
    result = fn()
    timings.append((stage, time.perf_counter() - start))
    return result


def _draw_sample(records, out):
    import segdata  # Deferred: TensorFlow is only needed for this stage.

    out.parent.mkdir(parents=True, exist_ok=True)
    return segdata.show_sample(records, "validation", index=0, output=str(out))


def _fresh(path):
    """Removes an earlier run's output so a rerun never mixes two runs."""
    if path.exists():
        shutil.rmtree(path)


def _validation_images(data_dir, records, count):
    """Source files of the first `count` validation examples: images the model never trained on."""
    import segdata

    stems = [segdata.read_example(records, "validation", i)[2] for i in range(count)]
    return [data_dir / "images" / f"{stem}.jpg" for stem in stems]


def _validation_files(records, count, folder):
    """The first `count` validation photos, written from the records' original bytes (any
    layout names its files its own way; the records keep the bytes as they were)."""
    import tensorflow as tf

    import segdata
    from segdata.records import features as F

    _fresh(folder)
    folder.mkdir(parents=True)
    manifest = segdata.read_manifest(records)
    out = []
    for shard in manifest["splits"]["validation"]["shards"]:
        for raw in tf.data.TFRecordDataset(str(records / shard["file"])):
            feat = tf.train.Example.FromString(raw.numpy()).features.feature
            stem = pathlib.Path(feat[F.IMAGE_SOURCE_ID].bytes_list.value[0].decode()).name
            fmt = feat[F.IMAGE_FORMAT].bytes_list.value[0].decode()
            path = folder / f"{stem}.{'jpg' if fmt == 'jpeg' else fmt}"
            path.write_bytes(feat[F.IMAGE_ENCODED].bytes_list.value[0])
            out.append(path)
            if len(out) == count:
                return out
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="runs/demo", help="where every output goes")
    p.add_argument("--pets-dir", help="an existing Oxford-IIIT Pet folder (images/, annotations/)")
    p.add_argument("--dataset", default="pets",
                   choices=("pets", "voc", "cvat", "coco", "cityscapes", "ade20k", "camvid",
                            "masks"),
                   help="layout of the generated data (default: %(default)s); every other "
                        "layout has N classes, so the demo shows N-class records to served masks")
    p.add_argument("--num-images", type=int, default=300, help="generated images when no --pets-dir")
    p.add_argument("--val-size", type=int, default=60, help="holdout validation images")
    p.add_argument("--image-size", default=None,
                   help="training size H,W or N (default: the recipe's; 96 without one)")
    p.add_argument("--epochs", type=int, default=None,
                   help="(default: the recipe's; 12 without one)")
    p.add_argument("--recipe", default=None,
                   help="training recipe (segkit train --list-recipes); default cpu-quick for "
                        "the street/indoor/multi-class layouts, none (the chapter's options) "
                        "for pets")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--model", choices=sorted(WHY), default=DEFAULT_MODEL,
                   help=f"model to train (default {DEFAULT_MODEL}: {WHY[DEFAULT_MODEL]})")
    p.add_argument("--sam-preset", help="a keras-hub SAM preset name or a local preset folder")
    return p.parse_args(argv)


def _training_options(a):
    """The demo's `segkit train` flags: a recipe (cpu-quick for N-class layouts) fills what
    the user did not give; without one, the chapter-style options with their demo defaults."""
    recipe = a.recipe or (None if a.dataset == "pets" else "cpu-quick")
    if recipe:
        given = [("--image-size", a.image_size), ("--epochs", a.epochs),
                 ("--model", a.model if a.model != DEFAULT_MODEL else None)]
        return ["--recipe", recipe, *[x for flag, v in given if v is not None for x in (flag, v)]]
    return ["--model", a.model, "--image-size", a.image_size or 96, "--batch-size",
            a.batch_size, "--epochs", a.epochs or 12]


def main(argv=None):
    a = parse_args(argv)
    work = pathlib.Path(a.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    timings = []
    started = time.perf_counter()
    data = pathlib.Path(a.pets_dir).resolve() if a.pets_dir else work / "data"
    records, train_dir = work / "records", work / "train"
    export_dir, served = work / "export", work / "served"
    figures = work / "figures"
    val_size = a.val_size
    try:
        if a.dataset != "pets":
            _fresh(data)
            _run("1. sample data", ["make-sample-data", "--format", a.dataset, "--output-dir",
                                    data, "--num-images", a.num_images, "--seed", 0], timings)
        elif not a.pets_dir:
            _fresh(data)
            _run("1. sample data", ["make-sample-data", "--output-dir", data,
                                    "--num-images", a.num_images, "--seed", 0], timings)
        else:
            val_size = 1000  # The chapter's split on the real data.
        _run("2. records", ["build-records", "--data-dir", data, "--output-dir", records,
                            "--split", "holdout", "--val-size", val_size, "--overwrite"], timings)
        sample_png = _timed("3. sample figure",
                            lambda: _draw_sample(records, figures / "sample.png"), timings)
        print(f"wrote {sample_png}")
        _fresh(train_dir)
        _run("4. training", ["train", "--records", records, "--output-dir", train_dir,
                             "--seed", 1, *_training_options(a)], timings)
        _fresh(export_dir)
        _run("5a. export", ["export", "--model", train_dir / "model.keras",
                            "--output-dir", export_dir, "--version", 1], timings)
        images = (_validation_images(data, records, 3) if a.dataset == "pets"
                  else _validation_files(records, 3, work / "inputs"))
        _fresh(served)
        _run("5b. serving", ["predict", "--saved-model", export_dir / "1",
                             *[x for img in images for x in ("--image", img)],
                             "--output-dir", served], timings)
        sam_note = _sam_stage(a, images[0], work, timings)
    except StageFailed as e:
        print(f"\ndemo stopped: {e}", file=sys.stderr)
        return 1
    _summary(work, timings, time.perf_counter() - started, train_dir, sam_note, a.model)
    return 0


def _sam_stage(a, image, work, timings):
    if not a.sam_preset:
        msg = ("SAM skipped: set SAM_PRESET=sam_base_sa1b (needs Kaggle access) or "
               "SAM_PRESET=/path/to/local/preset to prompt Segment Anything on a sample image.")
        print(f"\n=== 6. SAM\n{msg}")
        return msg
    from PIL import Image

    with Image.open(image) as im:
        w, h = im.size
    out = work / "sam"
    _fresh(out)
    _run("6. SAM", ["sam-predict", "--preset", a.sam_preset, "--image", image,
                    "--point", f"{w // 2},{h // 2}",
                    "--box", f"{w // 8},{h // 8},{w - w // 8},{h - h // 8}",
                    "--output-dir", out], timings)
    return f"SAM masks in {out}"


def _summary(work, timings, total, train_dir, sam_note, model):
    print("\n=== summary")
    for stage, seconds in timings:
        print(f"  {stage:<20} {seconds:7.1f} s")
    print(f"  {'total':<20} {total:7.1f} s")
    print(f"  model:           {model} ({WHY[model]})")
    run = train_dir / "run.json"
    if run.exists():
        info = json.loads(run.read_text())
        best = info.get("best", info.get("final_metrics", {}))
        for key, label in (("val_foreground_iou", "foreground IoU"), ("val_mean_iou", "mean IoU")):
            value = best.get(key)
            shown = f"{value:.3f}" if isinstance(value, float) else "n/a"
            by = info.get("best_checkpoint_metric", "val_loss")
            print(f"  validation {label + ':':<16} {shown} (best epoch by {by})")
    print(f"  sample figure:   {work / 'figures' / 'sample.png'}")
    print(f"  training run:    {train_dir} (model.keras, loss.png, prediction.png, history.csv)")
    print(f"  SavedModel:      {work / 'export' / '1'}")
    print(f"  served masks:    {work / 'served'}")
    print(f"  {sam_note}")


if __name__ == "__main__":
    sys.exit(main())
