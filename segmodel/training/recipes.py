"""Named training recipes (Model Garden's experiment registry, mmsegmentation's config names).

    segkit train --list-recipes
    segkit train --records R --output-dir O --recipe cpu-quick            # the data decides sizes
    segkit train --records R --output-dir O --recipe cpu-quick --epochs 5 # explicit flags win

A recipe is a function manifest -> TrainConfig: options that depend on the data (base size and
crop from the image sizes the manifest recorded, epochs from the number of training images)
are derived from it, so one name works for 480x360 street photos and 2048x1024 frames alike.
`docs/guide/training.md` gives each recipe's measured result.
"""

import dataclasses
import math

from segmodel.training.config import TrainConfig

# cpu-quick: the base size keeps the photos' aspect at about this many pixels (240 x 320 for
# 360 x 480 photos), crops take 80 % of each side of it; work per epoch is fixed by the crop.
CPU_BASE_PIXELS = 240 * 320
CPU_CROP_FRACTION = 0.8
# About 15 minutes of two idle CPU cores with AVX512-BF16 (about 90 ms of wall time a 192 x 256
# crop under mixed_bfloat16 with validation, docs/benchmarks.md): this many crops, spread over
# the training images (27 epochs of 367 photos). Slower machines (float32 only: up to ~2x a
# crop) are held to CPU_MAX_MINUTES, the cosine decay following the clock.
CPU_TRAIN_CROPS = 10000
CPU_EPOCHS = (8, 60)
CPU_MAX_MINUTES = 21.0
# Decoded photos (uint8 RGB + mask) of train and validation held in memory when they fit in
# this much: later epochs skip PNG/JPEG decoding, measured 3-5 % of a cpu-quick epoch on
# 360 x 480 PNGs (367 + 122 photos: 0.34 GB).
CPU_CACHE_BYTES = 2 * 1024 ** 3
SIZE_MULTIPLE = 16  # the cpu-quick U-Net downsamples four times


def _round(value, multiple=SIZE_MULTIPLE):
    return max(multiple, int(round(value / multiple)) * multiple)


def data_size(manifest, split="train"):
    """(height, width) of the split's most common image size from the manifest's image_sizes
    (recorded by build-records); None when the manifest predates it."""
    sizes = (manifest.get("splits", {}).get(split, {}).get("image_sizes")
             or manifest.get("image_sizes"))
    if not sizes:
        return None
    top = max(sizes, key=lambda s: s["count"])
    return int(top["height"]), int(top["width"])


def sizes_for(size, base_pixels, crop_fraction, multiple=SIZE_MULTIPLE):
    """(base (H, W), crop (H, W)): the photo's aspect at about `base_pixels` (never larger
    than the photo), crop `crop_fraction` of each side; all multiples of `multiple`."""
    h, w = size
    scale = min(1.0, math.sqrt(base_pixels / (h * w)))
    base = (_round(h * scale, multiple), _round(w * scale, multiple))
    crop = (_round(base[0] * crop_fraction, multiple), _round(base[1] * crop_fraction, multiple))
    return base, crop


def decoded_bytes(manifest, splits=("train", "validation")):
    """Bytes of the splits' photos decoded (uint8 RGB + an 8-bit mask) from the manifest's
    image sizes; None when the manifest predates them."""
    total, known = 0, False
    for split in splits:
        for size in manifest.get("splits", {}).get(split, {}).get("image_sizes", ()):
            total, known = total + 4 * size["count"] * size["height"] * size["width"], True
    return total if known else None


def _num_train(manifest):
    return int(manifest.get("splits", {}).get("train", {}).get("num_examples") or 1)


def chapter(manifest):
    """today's defaults: the chapter's model on 200 x 200 squares, no augmentation"""
    del manifest
    return TrainConfig(recipe="chapter")


def cpu_quick(manifest, size=None):
    """a few hundred photos of any aspect, 10-20 classes, ~15 min on 2 CPU cores: U-Net
    (16 filters, 4 levels) on random 0.75-1.5x scale crops (80 % of a ~240x320 base of the
    photos' aspect), flips, median-frequency class weights, Adam 1e-3 cosine, 21 min cap;
    keeps the epoch of highest val mean IoU; decoded photos cached in memory up to 2 GB"""
    size = size or data_size(manifest) or (360, 480)
    base, crop = sizes_for(size, CPU_BASE_PIXELS, CPU_CROP_FRACTION)
    epochs = min(max(round(CPU_TRAIN_CROPS / _num_train(manifest)), CPU_EPOCHS[0]),
                 CPU_EPOCHS[1])
    decoded = decoded_bytes(manifest)
    return TrainConfig(
        recipe="cpu-quick", model="unet", model_options={"base_filters": 16, "depth": 4},
        image_size=base, crop_size=crop, scale_range=(0.75, 1.5), color_jitter=0.2,
        class_weights="median-frequency", batch_size=8, epochs=epochs, optimizer="adam",
        learning_rate=1e-3, schedule="cosine", warmup_epochs=1, max_minutes=CPU_MAX_MINUTES,
        best_checkpoint_metric="val_mean_iou",
        cache=decoded is not None and decoded <= CPU_CACHE_BYTES)


def gpu(manifest, size=None):
    """the same recipe for one GPU with mixed precision: wider U-Net (32 filters, 4 levels),
    base at the photos' size up to 1024x2048 (aspect kept), 512-px-class crops, scale
    0.5-2.0, batch 16, 120 epochs, best val mean IoU kept (not measured here: no GPU in this
    project's machine)"""
    size = size or data_size(manifest) or (1024, 2048)
    base, crop = sizes_for(size, 1024 * 2048, 0.5)
    return TrainConfig(
        recipe="gpu", model="unet", model_options={"base_filters": 32, "depth": 4},
        image_size=base, crop_size=crop, scale_range=(0.5, 2.0), color_jitter=0.3,
        class_weights="median-frequency", batch_size=16, epochs=120, optimizer="adamw",
        learning_rate=1e-3, schedule="cosine", warmup_epochs=2, precision="mixed_float16",
        best_checkpoint_metric="val_mean_iou")


RECIPES = {"chapter": chapter, "cpu-quick": cpu_quick, "gpu": gpu}


def describe():
    """One line per recipe (for `segkit train --list-recipes`)."""
    return "\n".join(f"{name:<10} {' '.join(fn.__doc__.split())}" for name, fn in
                     RECIPES.items())


def recipe_config(name, manifest):
    """The TrainConfig of recipe `name` for the record set whose manifest is given."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)} "
                         "(segkit train --list-recipes)")
    return RECIPES[name](manifest)


def apply_recipe(name, records, config, given):
    """`config`'s values for the option names in `given` (the flags typed explicitly) over
    recipe `name`'s TrainConfig for `records`: explicit flags win, the recipe fills the rest.
    A --model (or --preset) given explicitly brings its own model options."""
    from segdata.input.shard_reader import read_example
    from segdata.records.manifest import read_manifest

    manifest = read_manifest(records)
    if name not in RECIPES:
        recipe_config(name, manifest)  # raises naming the recipes
    if name != "chapter" and data_size(manifest) is None:
        # Built before manifests recorded image sizes: the first training photo's size.
        image = read_example(records, "train", 0)[0]
        manifest = {**manifest, "image_sizes": [
            {"height": image.shape[0], "width": image.shape[1], "count": 1}]}
    base = recipe_config(name, manifest)
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"recipe"}
    changes = {k: getattr(config, k) for k in given if k in fields}
    if {"model", "preset", "backbone_preset"} & set(given):
        changes["model_options"] = config.model_options
    if "data_service" in given and "cache" not in given:
        changes["cache"] = False  # the service's workers decode; a local cache cannot join it
    return base.replace(**changes)
