"""Training at the data's own shape: the manifest records image sizes, class weights follow the
pixel counts, recipes derive sizes from the manifest (explicit flags win), scale-and-crop
batches repeat with a seed, and on non-square data the recipe beats today's squeeze."""

import csv
import json

import numpy as np
import pytest

from segdata.records.labels import IGNORE_LABEL


@pytest.fixture(scope="module")
def wide_records(tmp_path_factory):
    """Generated 2:1 street scenes (Cityscapes layout, 64 x 128) built into records."""
    from segdata.records.convert import build_records
    from segdata.synthetic.datasets import make_dataset

    tmp = tmp_path_factory.mktemp("wide")
    data = make_dataset(tmp / "data", "cityscapes", num_images=60, image_size=(64, 128), seed=3)
    records = tmp / "records"
    build_records(data.root, records, workers=0, progress=False)
    return records


def test_manifest_records_image_sizes(wide_records):
    manifest = json.loads((wide_records / "manifest.json").read_text())
    train = manifest["splits"]["train"]
    assert train["image_sizes"] == [{"height": 64, "width": 128,
                                     "count": train["num_examples"]}]
    total = sum(s["num_examples"] for s in manifest["splits"].values())
    assert manifest["image_sizes"] == [{"height": 64, "width": 128, "count": total}]


def _manifest(counts, fmt="masks"):
    names = [f"c{i}" for i in range(len(counts))]
    return {"format": fmt, "classes": names, "foreground_class": None,
            "splits": {"train": {"class_pixel_counts": {str(i): n for i, n in
                                                        enumerate(counts)}}}}


def test_class_weights_equal_hand_computed_values():
    from segmodel.training.class_weights import class_weights, weight_map, weight_table

    manifest = _manifest([600, 300, 100, 0])  # frequencies 0.6, 0.3, 0.1; median 0.3
    assert class_weights(manifest, "median-frequency") == pytest.approx([0.5, 1.0, 3.0, 1.0])
    # 1/sqrt(f), scaled so that sum(f * w) = 1: sum(sqrt(f)) = 1.634...
    root = np.sqrt([0.6, 0.3, 0.1]).sum()
    assert class_weights(manifest, "inverse-sqrt") == pytest.approx(
        [1 / np.sqrt(0.6) / root, 1 / np.sqrt(0.3) / root, 1 / np.sqrt(0.1) / root, 1.0])
    assert class_weights(manifest, "[1, 2, 3, 4]") == [1, 2, 3, 4]
    for bad in ("[1, 2]", "[1, 2, 3, -1]", "balanced"):
        with pytest.raises(ValueError, match="class weights"):
            class_weights(manifest, bad)
    masks = np.array([[[[0], [2]], [[IGNORE_LABEL], [1]]]], np.uint8)
    np.testing.assert_allclose(weight_map(masks, weight_table([0.5, 1.0, 3.0, 1.0])).numpy(),
                               [[[0.5, 3.0], [0.0, 1.0]]])


def test_median_frequency_divides_by_the_images_that_hold_each_class():
    from segmodel.training.class_weights import class_weights

    # Eigen & Fergus: f_c = pixels of c / labelled pixels of the images where c is present.
    # Three images of 100 labelled pixels: c0 in all three (240 px), c1 in two (50 px), c2 in
    # one (10 px) -> f = 240/300, 50/200, 10/100 = 0.8, 0.25, 0.1; median 0.25.
    manifest = _manifest([240, 50, 10, 0])
    manifest["splits"]["train"]["class_image_pixels"] = {"0": 300, "1": 200, "2": 100, "3": 0}
    assert class_weights(manifest, "median-frequency") == pytest.approx(
        [0.25 / 0.8, 1.0, 2.5, 1.0])
    # Without it (a manifest from an older build): frequencies over the whole split, 0.8,
    # 0.1667, 0.0333, so the class seen in one image weighs 5, not 2.5.
    del manifest["splits"]["train"]["class_image_pixels"]
    assert class_weights(manifest, "median-frequency") == pytest.approx([50 / 240, 1.0, 5.0, 1.0])


def test_pets_counts_are_keyed_by_stored_value():
    from segmodel.training.class_weights import pixel_counts

    manifest = {"format": "pets", "splits": {"train": {"class_pixel_counts":
                                                       {"1": 10, "2": 30, "3": 5}}}}
    assert pixel_counts(manifest).tolist() == [10, 30, 5]


def test_cpu_quick_derives_sizes_from_the_manifest_and_flags_win(wide_records):
    from segmodel.cli import train as train_cli
    from segmodel.training import config as train_config
    from segmodel.training import recipes

    street = {"splits": {"train": {"num_examples": 367, "image_sizes": [
        {"height": 360, "width": 480, "count": 367}]}}}
    quick = recipes.recipe_config("cpu-quick", street)
    assert (quick.image_size, quick.crop_size) == ((240, 320), (192, 256))
    assert quick.class_weights == "median-frequency" and quick.epochs == 27
    wide = recipes.recipe_config("cpu-quick", {"image_sizes": [
        {"height": 1024, "width": 2048, "count": 5}]})
    assert wide.image_size == (192, 384) and wide.crop_size == (160, 304)
    # Decoded photos stay in memory while they fit (367 street photos: 0.25 GB), not past 2 GB.
    assert quick.cache and not wide.cache  # wide: no per-split sizes, nothing to judge by
    cityscapes = {"splits": {"train": {"num_examples": 2975, "image_sizes": [
        {"height": 1024, "width": 2048, "count": 2975}]}}}
    assert not recipes.recipe_config("cpu-quick", cityscapes).cache  # 25 GB decoded
    with pytest.raises(ValueError, match="cpu-quick"):
        recipes.recipe_config("fast", street)

    argv = ["--records", str(wide_records), "--output-dir", "x", "--recipe", "cpu-quick",
            "--epochs", "3", "--image-size", "32x64"]
    args = train_cli.build_parser().parse_args(argv)
    config = recipes.apply_recipe("cpu-quick", str(wide_records),
                                  train_config.from_args(args), train_cli.given_options(argv))
    assert (config.epochs, config.image_size) == (3, (32, 64))  # typed: they win
    for extra, cache in ((["--no-cache"], False), (["--data-service", "grpc://h:5050"], False),
                         ([], True)):
        args = train_cli.build_parser().parse_args(argv + extra)
        assert recipes.apply_recipe("cpu-quick", str(wide_records), train_config.from_args(args),
                                    train_cli.given_options(argv + extra)).cache == cache, extra
    assert config.crop_size == (48, 96)  # from the manifest's 64 x 128 (never upscaled)
    assert config.model == "unet" and config.class_weights == "median-frequency"
    assert config.best_checkpoint_metric == "val_mean_iou"
    assert recipes.recipe_config("chapter", street).best_checkpoint_metric == "val_loss"
    assert "cpu-quick" in recipes.describe() and "gpu" in recipes.describe()


def test_best_checkpoint_by_val_loss_or_by_val_mean_iou(tmp_path):
    import keras

    from segmodel.training import callbacks as cb
    from segmodel.training import runinfo

    # A weighted loss that rises late while the mean IoU still climbs: the two pick apart.
    history = [{"epoch": 0, "val_loss": 0.9, "val_mean_iou": 0.30},
               {"epoch": 1, "val_loss": 0.5, "val_mean_iou": 0.41},
               {"epoch": 2, "val_loss": 0.6, "val_mean_iou": 0.47},
               {"epoch": 3, "val_loss": float("nan"), "val_mean_iou": float("nan")}]
    assert cb.best_row(history)["epoch"] == 1
    assert cb.best_row(history, "val_mean_iou")["epoch"] == 2
    assert cb.best_row(history[3:], "val_mean_iou") is None
    summary = runinfo.finish({}, history, best_metric="val_mean_iou")
    assert summary["best"]["epoch"] == 3 and summary["best_checkpoint_metric"] == "val_mean_iou"
    assert runinfo.finish({}, history)["best"]["epoch"] == 2
    lines = []
    runinfo.log_result(summary, lines.append)
    assert "highest val_mean_iou 0.4700" in lines[-1]
    callbacks, _ = cb.make_callbacks(str(tmp_path), best_metric="val_mean_iou", best_value=0.47,
                                     tensorboard=False)
    saver = next(c for c in callbacks if isinstance(c, keras.callbacks.ModelCheckpoint))
    assert saver.monitor == "val_mean_iou" and saver.best == 0.47
    assert saver.mode == "max"  # higher is better
    # --resume keeps the metric: the best value so far travels in the backup.
    started = {"resume": True, "model": "unet", "image_size": [64, 64], "model_options": None}
    runinfo.write_summary(str(tmp_path), started, name=runinfo.OPTIONS_FILE)  # before the option
    runinfo.check_resume_options(str(tmp_path), {**started, "best_checkpoint_metric": "val_loss"})
    with pytest.raises(ValueError, match="best_checkpoint_metric='val_loss'.*'val_mean_iou'"):
        runinfo.check_resume_options(str(tmp_path), {**started,
                                                     "best_checkpoint_metric": "val_mean_iou"})


def test_gpu_recipe_sizes_and_one_epoch_with_its_own_options(wide_records, tmp_path):
    """The gpu recipe cannot be timed here (no GPU), but its config must be whole: sizes from
    the manifest, and a short run with its optimizer, schedule and mixed_float16 (which runs,
    slowly, on a CPU) must train and keep float32 logits."""
    import keras

    from segmodel.training import recipes
    from segmodel.training.config import TrainConfig
    from segmodel.training.loop import train

    city = recipes.recipe_config("gpu", {"image_sizes": [
        {"height": 1024, "width": 2048, "count": 2975}]})
    assert (city.image_size, city.crop_size) == ((1024, 2048), (512, 1024))
    street = recipes.recipe_config("gpu", {"image_sizes": [
        {"height": 360, "width": 480, "count": 367}]})
    assert (street.image_size, street.crop_size) == ((352, 480), (176, 240))  # never enlarged
    config = recipes.apply_recipe("gpu", str(wide_records), TrainConfig(epochs=2, batch_size=4),
                                  {"epochs", "batch_size"})
    assert (config.precision, config.optimizer, config.crop_size) == (
        "mixed_float16", "adamw", (32, 64))
    assert config.best_checkpoint_metric == "val_mean_iou"
    try:
        train(str(wide_records), str(tmp_path / "run"),
              **{**config.__dict__, "verbose": 0, "tensorboard": False}, log=lambda *_: None)
        info = json.loads((tmp_path / "run" / "run.json").read_text())
        assert info["status"] == "completed" and info["precision_policy"] == "mixed_float16"
        history = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
        top = max(history, key=lambda r: float(r["val_mean_iou"]))
        assert info["best_checkpoint_metric"] == "val_mean_iou"
        assert info["best"]["epoch"] == int(top["epoch"]) + 1
        model = keras.models.load_model(tmp_path / "run" / "model.keras", compile=False)
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_scale_and_crop_batches_repeat_with_a_seed_and_pad_with_ignore(wide_records):
    import segdata

    def batches(seed):
        ds = segdata.load_dataset(wide_records, "train", image_size=(64, 128), batch_size=4,
                                  shuffle=True, seed=seed, crop_size=(48, 64),
                                  scale_range=(0.5, 0.8))
        return [(x.numpy(), y.numpy()) for x, y in ds.take(3)]

    first, again, other = batches(1), batches(1), batches(2)
    assert first[0][0].shape == (4, 48, 64, 3) and first[0][1].shape == (4, 48, 64, 1)
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])
    # Scaled to 32..51 rows, a 48-row crop often overhangs: those pixels are black and ignored.
    masks = np.concatenate([y for _, y in first])[..., 0]
    images = np.concatenate([x for x, _ in first])
    padding = (images == 0).all(-1)
    assert padding.sum() > 64 and (masks[padding] == IGNORE_LABEL).all()


@pytest.mark.slow
def test_recipe_beats_the_squeeze_at_equal_epochs(wide_records, tmp_path):
    """Same model, same epochs: squeezing 64 x 128 photos into 32 x 32 squares (today's way)
    against scale-and-crop at their own 1:2 shape with class weights; both scored at the
    photos' own size with bilinear probabilities."""
    from segmodel.evaluation.evaluate import evaluate
    from segmodel.training.loop import train

    common = dict(model="unet", model_options={"base_filters": 8}, batch_size=8, epochs=6,
                  seed=0, learning_rate=3e-3, schedule="cosine", tensorboard=False,
                  log=lambda *a: None, precision="float32")
    train(str(wide_records), str(tmp_path / "squeeze"), image_size=(32, 32), **common)
    train(str(wide_records), str(tmp_path / "recipe"), image_size=(32, 64), crop_size=(24, 48),
          scale_range=(0.75, 1.5), class_weights="median-frequency", **common)
    scores = {name: evaluate(tmp_path / name / "model.keras", wide_records, at="original",
                             progress=False)["mean_iou"] for name in ("squeeze", "recipe")}
    run = json.loads((tmp_path / "recipe" / "run.json").read_text())
    assert run["options"]["crop_size"] == [24, 48] and "class_weights" in run
    import keras  # trained on 24 x 48 crops, saved for the 32 x 64 base size

    saved = keras.models.load_model(tmp_path / "recipe" / "model.keras", compile=False)
    assert tuple(saved.input_shape[1:3]) == (32, 64)
    assert scores["recipe"] > scores["squeeze"] + 0.02, scores
