"""Precision policies in real runs: bf16 compute with a float32 output, and a NaN stops the run
with a message naming the epoch and the policy. Both run in-process at 32 px (bf16 is emulated
on CPUs without AVX512_BF16 and is slow there)."""

import json

import keras
import numpy as np
import pytest

from segmodel import training


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
    """Sets one kernel to NaN at the start of the 2nd epoch, as an overflow would."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            kernel = self.model.layers[2].kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_nan_loss_names_epoch_and_policy(records_dir, tmp_path, restore_policy):
    with pytest.raises(training.TrainingDiverged, match=r"epoch 2 .*float32"):
        training.train(records_dir, tmp_path / "run", model="chapter", image_size=32,
                       batch_size=12, epochs=3, seed=0, precision="float32", tensorboard=False,
                       verbose=0, log=lambda line: None, extra_callbacks=[PoisonWeights()])
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_epoch"] == 2
    # The backup is rolled back to the last finite epoch, so --resume does not restart from NaN.
    assert json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text()) == {
        "epoch": 1, "batch": 0}
