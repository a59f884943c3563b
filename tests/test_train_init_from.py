"""`segkit train --init-from RUN/model.keras`: a run that starts from an earlier run's weights
(segmodel.training.init_from). The first batch's loss must be the earlier model's loss on that
batch, computed here by Keras on the earlier file itself; a fresh start's is not."""

import json

import keras
import pytest

from segmodel.cli import main as segkit
from segmodel.training import build, loop

SIZE = (32, 32)
COMMON = dict(model="unet", image_size=SIZE, batch_size=4, epochs=1, seed=1,
              precision="float32", verbose=0, model_options={"base_filters": 4})


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data

    root = tmp_path_factory.mktemp("init_from")
    pets = make_sample_data(root / "pets", 16, seed=0, min_side=32, max_side=48)
    build_records(pets, root / "records", split="holdout", val_size=4, seed=1, num_shards=1,
                  workers=1, progress=False)
    return root / "records"


@pytest.fixture(scope="module")
def earlier(records, tmp_path_factory):
    run = tmp_path_factory.mktemp("earlier") / "run"
    loop.train(str(records), str(run), log=lambda *_: None, **COMMON)
    return run / "model.keras"


class FirstLoss(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 and not hasattr(self, "loss"):
            self.loss = float(logs["loss"])


def _first_batch(records):
    train_ds, _ = build.make_datasets(str(records), SIZE, COMMON["batch_size"], seed=1)
    return next(iter(train_ds))


def test_first_batch_loss_equals_the_earlier_models(records, earlier, tmp_path):
    x, y = _first_batch(records)
    model = keras.models.load_model(earlier, compile=False)
    build.compile_model(model, build.make_optimizer(), 3, 0)
    expected = float(model.compute_loss(x=x, y=y, y_pred=model(x, training=True)))

    # A fresh start (the run's own seeded initialisation) is another model.
    keras.utils.set_random_seed(COMMON["seed"])
    fresh = build.make_model("unet", SIZE, 3, COMMON["model_options"])
    build.compile_model(fresh, build.make_optimizer(), 3, 0)
    assert abs(float(fresh.compute_loss(x=x, y=y, y_pred=fresh(x, training=True)))
               - expected) > 1e-3

    started = FirstLoss()
    summary = loop.train(str(records), str(tmp_path / "next"), init_from=str(earlier),
                         extra_callbacks=[started], log=lambda *_: None, **COMMON)
    assert started.loss == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert summary["options"]["init_from"] == str(earlier)
    run = json.loads((tmp_path / "next" / "run.json").read_text())
    assert run["options"]["init_from"] == str(earlier)


def test_init_from_checks_classes_architecture_and_resume(records, earlier, tmp_path, capsys):
    run_json = earlier.parent / "run.json"
    saved = run_json.read_text()
    data = json.loads(saved)
    data["dataset"]["classes"] = ["cat", "dog", "bird"]
    run_json.write_text(json.dumps(data))
    try:
        with pytest.raises(ValueError) as err:
            loop.train(str(records), str(tmp_path / "a"), init_from=str(earlier),
                       log=lambda *_: None, **COMMON)
        assert "['cat', 'dog', 'bird']" in str(err.value) and "foreground" in str(err.value)
    finally:
        run_json.write_text(saved)
    with pytest.raises(ValueError, match="base_filters|weights"):
        loop.train(str(records), str(tmp_path / "b"), init_from=str(earlier),
                   log=lambda *_: None, **dict(COMMON, model_options={"base_filters": 8}))
    code = segkit(["train", "--records", str(records), "--output-dir", str(tmp_path / "c"),
                   "--init-from", str(tmp_path / "missing.keras"), "--epochs", "1"])
    assert code == 2 and "missing.keras" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--resume"):
        loop.train(str(records), str(tmp_path / "d"), init_from=str(earlier), resume=True,
                   log=lambda *_: None, **COMMON)
