"""Precision policies in real runs: bf16 compute with a float32 output, and a NaN stops the run
with a message naming the epoch and the policy. Both run in-process at 32 px (bf16 is emulated
on CPUs without AVX512_BF16 and is slow there)."""

import json

import keras
import numpy as np
import pytest

from segmodel.training import loop as training

pytestmark = pytest.mark.slow


@pytest.fixture
def restore_policy():
    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


def test_mixed_bfloat16_run_outputs_float32(records_dir, tmp_path, restore_policy):
    summary = training.train(records_dir, tmp_path / "run", model="chapter", image_size=32,
                             batch_size=12, epochs=1, seed=0, precision="mixed_bfloat16",
                             tensorboard=False, verbose=0, log=lambda line: None)
    assert summary["precision_policy"] == "mixed_bfloat16"
    assert np.isfinite(summary["final"]["loss"])
    keras.mixed_precision.set_global_policy("float32")  # loading must not depend on the policy
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.layers[-2].compute_dtype == "bfloat16"
    out = model.predict(np.zeros((1, 32, 32, 3), np.float32), verbose=0)
    assert out.dtype == np.float32 and model.output.dtype == "float32"


class PoisonWeights(keras.callbacks.Callback):
    """Sets one kernel to NaN in the 2nd epoch, as an overflow would.

    "begin": before the epoch's first batch. Whether the NaN then reaches the loss depends on the
    CPU (on oneDNN with AVX-512 the model silently becomes a constant predictor with a finite
    loss), so either the loss check or the weight check may fire.
    "end": after the epoch's last training batch, so no training loss ever sees it, on any CPU:
    only the end-of-epoch weight check can catch it.
    """

    def __init__(self, when):
        super().__init__()
        self.when = when
        self.epoch = None

    def poison(self):
        kernel = self.model.layers[2].kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if epoch == 1 and self.when == "begin":
            self.poison()

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and self.when == "end" and batch == self.params["steps"] - 1:
            self.poison()


@pytest.mark.parametrize("when", ["begin", "end"])
def test_divergence_names_epoch_and_policy(records_dir, tmp_path, restore_policy, when):
    poison = PoisonWeights(when)
    with pytest.raises(training.TrainingDiverged, match=r"epoch 2 .*float32") as err:
        training.train(records_dir, tmp_path / "run", model="chapter", image_size=32,
                       batch_size=12, epochs=3, seed=0, precision="float32", tensorboard=False,
                       verbose=0, log=lambda line: None, extra_callbacks=[poison])
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_epoch"] == 2
    assert summary["epochs_completed"] == 2  # stopped: epoch 3 never ran
    kernel = poison.model.layers[2].kernel.path
    if when == "end":
        assert summary["nonfinite_weight"] == kernel and kernel in str(err.value)
    # The backup is rolled back to the last finite epoch, so --resume does not restart from NaN.
    assert json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text()) == {
        "epoch": 1, "batch": 0}
    # The saved "best" model is never the broken one.
    saved = keras.models.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert all(np.isfinite(w).all() for w in saved.get_weights())


def test_first_nonfinite_weight_names_the_culprit():
    from segmodel.training.callbacks import first_nonfinite_weight

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
                              keras.layers.BatchNormalization(name="bn")])
    assert first_nonfinite_weight(model.weights) is None
    model.get_layer("bn").moving_variance.assign([1.0, np.inf, 1.0])
    assert first_nonfinite_weight(model.weights).endswith("bn/moving_variance")
    model.get_layer("a").bias.assign([0.0, np.nan, 0.0])
    assert first_nonfinite_weight(model.weights).endswith("a/bias")
