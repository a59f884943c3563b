"""keras-hub models (DeepLabV3+, SegFormer, U-Net on a keras-hub encoder) from tiny random-weight
presets saved with save_to_preset: the model contract, the fine-tuning recipe, training, reloading
in a process that never imports segkit, export and serving, and learning on generated data."""

import io
import json
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segmodel import testing
from segmodel.models import hub as hub_models
from segmodel.training import build, finetune
from segmodel.training import loop as training

pytestmark = pytest.mark.slow

SIZE = 32  # the smallest size a stride-32 encoder takes
SIZES = {"deeplabv3plus": SIZE, "unet": SIZE, "segformer": 64}  # keras-hub's MiT needs 64


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    # Seeded (segmodel.testing): the presets' random weights are the learning test's starting
    # point, so they must not depend on which tests ran before.
    root = tmp_path_factory.mktemp("presets")
    return {"resnet": testing.save_resnet(root / "resnet"),
            "deeplab": testing.save_deeplab(root / "deeplab"),
            "segformer": testing.save_segformer(root / "segformer", image_size=64)}


FAMILIES = {  # family -> (model options given the presets, expected backbone class)
    "deeplabv3plus": (lambda p: {"preset": p["deeplab"]}, "DeepLabV3Backbone"),
    "segformer": (lambda p: {"preset": p["segformer"]}, "SegFormerBackbone"),
    "unet": (lambda p: {"backbone_preset": p["resnet"]}, "Functional"),
}


@pytest.fixture
def policy():
    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_model_contract(family, presets, policy):
    """0..255 in, float32 softmax at input size out, the preset's convention and weights inside."""
    import keras_hub

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    options, backbone_class = FAMILIES[family][0](presets), FAMILIES[family][1]
    size = SIZES[family]
    model = hub_models.build_hub_model(family, (size, size), 3, **options)
    assert model.output.shape == (None, size, size, 3)
    probs = model(np.full((2, size, size, 3), 128, np.float32))
    assert probs.dtype == "float32"
    np.testing.assert_allclose(np.sum(probs, -1), 1.0, rtol=1e-5)
    backbone = model.get_layer("backbone")
    assert type(backbone).__name__ == backbone_class
    assert backbone.compute_dtype == "bfloat16"  # follows the run's policy, not the saved one
    # The convention comes from the preset's image converter (ImageNet mean/std or 0..1).
    converter = keras_hub.layers.ImageConverter.from_preset(str(next(iter(options.values()))))
    pixels = model.get_layer("pixels")
    np.testing.assert_allclose(pixels.scale, converter.scale)
    np.testing.assert_allclose(pixels.offset, converter.offset or 0.0)
    # The preset's encoder weights are kept (the segformer preset was saved at 64 px).
    saved = keras_hub.models.Backbone.from_preset(str(next(iter(options.values()))))
    saved_encoder = hub_models.encoder_of(saved)
    ours = hub_models.backbone_layer(model)
    assert len(ours.weights) == len(saved_encoder.weights)
    for a, b in zip(ours.weights, saved_encoder.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_presets_fail_fast(presets, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hub_models.check_args("segformer", SIZE, preset=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="config.json"):
        hub_models.check_args("segformer", SIZE, preset=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="needs a keras-hub preset"):
        hub_models.check_args("deeplabv3plus", SIZE)
    with pytest.raises(ValueError, match="takes no --preset"):
        hub_models.is_hub_model("chapter", preset=str(presets["deeplab"]))
    with pytest.raises(ValueError, match="not both"):
        hub_models.check_args("unet", SIZE, preset="a", backbone_preset="b")
    with pytest.raises(ValueError, match="multiples of 32"):
        hub_models.check_args("unet", 48, backbone_preset=str(presets["resnet"]))
    with pytest.raises(ValueError, match="neither a local preset folder"):
        hub_models.load_preset("segformer_b0_ade20k_5l2")
    with pytest.raises(ValueError, match="SegFormer needs a MiT encoder"):
        hub_models.build_hub_model("segformer", 64, 3, backbone_preset=presets["resnet"])
    # A handle that cannot be fetched (no network here, a 404 elsewhere) fails in seconds.
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="local folder"):
        hub_models.load_preset("kaggle://keras/segformer/keras/segkit_no_such_preset")
    assert time.monotonic() - start < 60


def test_frozen_encoder_and_its_learning_rate(presets):
    """Frozen epochs change neither weights nor BatchNorm statistics of the encoder; the rate
    factor slows the encoder only; model.keras names a plain Keras optimizer."""
    keras.utils.set_random_seed(0)
    model = hub_models.build_hub_model("unet", SIZE, 3, backbone_preset=presets["resnet"])
    encoder, head = hub_models.backbone_layer(model), model.get_layer("logits")
    opt = finetune.scale_backbone_rate(keras.optimizers.AdamW(1e-2), model, 1e-3)
    build.compile_model(model, opt)
    finetune.prepare_optimizer(model)
    x = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, (4, SIZE, SIZE, 1)).astype(np.uint8)

    def snapshot(layer):
        return [np.array(w) for w in layer.weights]

    enc0, head0 = snapshot(encoder), snapshot(head)
    freeze = finetune.callbacks(model, 1)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=freeze)
    for a, b in zip(enc0, snapshot(encoder)):  # includes BN moving mean/variance
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(head0, snapshot(head)))
    enc1, head1 = snapshot(encoder), snapshot(head)
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=2, verbose=0, callbacks=freeze)
    assert encoder.trainable
    kernels = [i for i, w in enumerate(encoder.weights) if "kernel" in w.path]
    enc_step = max(np.abs(enc1[i] - np.array(encoder.weights[i])).max() for i in kernels)
    head_step = np.abs(head1[0] - np.array(head.weights[0])).max()
    assert 0 < enc_step < head_step / 20, (enc_step, head_step)  # lr 1e-5 against 1e-2
    config = model.get_compile_config()["optimizer"]
    assert config["class_name"] == "AdamW" and config["module"].split(".")[0] == "keras"
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is keras.optimizers.AdamW


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_backbone_frozen_for_the_whole_run_is_saved_bit_identical(presets, records_dir, tmp_path,
                                                                  precision, policy):
    """--freeze-backbone-epochs >= --epochs with a segmenter preset: every weight of the saved
    model.keras's backbone (encoder, ASPP, decoder, BatchNorm statistics) is the preset's."""
    import keras_hub

    run = tmp_path / "run"
    training.train(records_dir, run, model="deeplabv3plus", image_size=SIZE, batch_size=12,
                   epochs=2, seed=0, precision=precision, freeze_backbone_epochs=2,
                   model_options={"preset": str(presets["deeplab"])}, tensorboard=False,
                   verbose=0, log=lambda *a: None)
    keras.mixed_precision.set_global_policy("float32")
    preset = keras_hub.models.Backbone.from_preset(str(presets["deeplab"]))
    model = keras.models.load_model(run / "model.keras")
    saved = model.get_layer("backbone")
    assert type(saved) is type(preset) and len(saved.weights) == len(preset.weights)
    for ours, theirs in zip(saved.weights, preset.weights):
        assert ours.path.split("/")[-1] == theirs.path.split("/")[-1]
        assert ours.dtype == theirs.dtype == "float32", ours.path
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=ours.path)
    assert json.loads((run / "run.json").read_text())["epochs_completed"] == 2


def encode_png(array):
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# Loads each RUN/model.keras with keras + keras_hub only and prints its probabilities.
RELOAD = textwrap.dedent("""
    import json, os, sys
    import numpy as np, keras, keras_hub
    out = {}
    for arg in sys.argv[2:]:
        family, path = arg.split("=", 1)
        x = np.load(os.path.join(sys.argv[1], family + ".npy"))
        model = keras.models.load_model(path)
        out[family] = model.predict(x, verbose=0).tolist()
    assert not any(m.startswith(("segmodel", "segdata")) for m in sys.modules), "imported segkit"
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def trained(presets, records_dir, tmp_path_factory):
    """{family: RUN} after one short epoch each (3 steps), through segmodel.training.loop.train."""
    root = tmp_path_factory.mktemp("hubruns")
    recipes = {"deeplabv3plus": dict(freeze_backbone_epochs=1),
               "segformer": dict(backbone_lr_scale=0.1), "unet": {}}
    runs = {}
    for family, (options, _) in FAMILIES.items():
        runs[family] = root / family
        training.train(records_dir, runs[family], model=family, image_size=SIZES[family],
                       batch_size=12,
                       epochs=1, seed=0, precision="float32", model_options={
                           k: str(v) for k, v in options(presets).items()},
                       optimizer="adamw", schedule="cosine", warmup_epochs=1,
                       tensorboard=False, verbose=0, log=lambda *a: None, **recipes[family])
    # --resume extends a finished keras-hub run by one epoch, as for the chapter's model.
    training.train(records_dir, runs["unet"], model="unet", image_size=SIZE, batch_size=12,
                   epochs=2, seed=0, precision="float32", resume=True,
                   model_options={"backbone_preset": str(presets["resnet"])}, optimizer="adamw",
                   schedule="cosine", warmup_epochs=1, tensorboard=False, verbose=0,
                   log=lambda *a: None)
    return runs


def test_trained_models_reload_without_segkit_and_serve_the_same(trained, tmp_path):
    from segmodel.serving.export import export_saved_model

    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    inputs = {}
    for family, run in trained.items():
        inputs[family] = x[:, :SIZES[family], :SIZES[family]]
        np.save(tmp_path / f"{family}.npy", inputs[family])
    proc = subprocess.run([sys.executable, "-c", RELOAD, str(tmp_path),
                           *[f"{f}={run / 'model.keras'}" for f, run in trained.items()]],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reloaded = json.loads(proc.stdout.strip().splitlines()[-1])
    for family, run in trained.items():
        x = inputs[family]
        summary = json.loads((run / "run.json").read_text())
        assert summary["status"] == "completed", family
        assert summary["epochs_completed"] == (2 if family == "unet" else 1), family
        version = export_saved_model(run / "model.keras", tmp_path / family)
        served = tf.saved_model.load(str(version))
        probs = served.signatures["predict_pixels"](images=tf.constant(x))["probabilities"]
        np.testing.assert_allclose(probs.numpy(), reloaded[family],
                                   atol=1e-4, err_msg=family)
        masks = served.signatures["serving_default"](images=tf.constant([encode_png(x[0])]))
        assert masks["masks"].shape == (1, SIZES[family], SIZES[family])


LEARN = ["tools/train.py", "--model", "deeplabv3plus", "--image-size", "64", "--batch-size", "8",
         "--epochs", "6", "--seed", "1", "--learning-rate", "1e-3", "--precision", "float32",
         "--freeze-backbone-epochs", "1", "--backbone-lr-scale", "0.5", "--verbose", "2",
         "--no-tensorboard"]


def test_tiny_random_model_learns(presets, tmp_path, request):
    """Through the CLI, with the fine-tuning flags, on 96 generated training photos."""
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data

    pets = make_sample_data(tmp_path / "pets", 120, seed=0, min_side=64, max_side=96)
    build_records(pets, tmp_path / "records", split="holdout", val_size=24, seed=1337,
                  num_shards=2, workers=1, progress=False)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, *LEARN, "--records", str(tmp_path / "records"),
                           "--output-dir", str(run), "--preset", str(presets["deeplab"])],
                          cwd=request.config.rootpath, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run / "run.json").read_text())
    assert summary["options"]["optimizer"] == "adamw" and summary["options"]["schedule"] == "cosine"
    # All background scores 0 and all foreground ~0.28 (the pets cover ~28% of the pixels).
    assert summary["best"]["val_foreground_iou"] > 0.4, summary["best"]
