"""Full-integer int8 LiteRT on a model that has learned: calibrated on the run's own records
through segkit's pipeline, run by ai_edge_litert alone (tests/deploy_client.py), it agrees with
the Keras model on >= 97 % of held-out pixels and its mean IoU is within 0.02 of the float file's.
The figures measured are printed (pytest -s) and recorded in docs/guide/deploy.md."""

import json

import numpy as np
import pytest
from deploy_client import run_client

from segdata.input.pipeline import load_dataset
from segmodel.cli import export as export_cli
from segmodel.serving.export import load_keras_model

pytestmark = pytest.mark.slow

SIZE = 32


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    """RUN folder of a chapter model trained 8 epochs on 120 generated photos (96 train)."""
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data
    from segmodel.training import loop

    root = tmp_path_factory.mktemp("int8")
    pets = make_sample_data(root / "pets", 120, seed=0, min_side=64, max_side=96)
    build_records(pets, root / "records", split="holdout", val_size=24, seed=1337,
                  num_shards=2, workers=1, progress=False)
    summary = loop.train(str(root / "records"), str(root / "run"), model="chapter",
                         image_size=(SIZE, SIZE), batch_size=8, epochs=8, seed=1,
                         precision="float32", verbose=0, log=lambda *args: None)
    return root / "run", root / "records", summary


def mean_iou(truth, pred, num_classes=3):
    keep = truth != 255
    ious = []
    for c in range(num_classes):
        t, p = (truth == c) & keep, (pred == c) & keep
        if (t | p).any():
            ious.append(np.sum(t & p) / np.sum(t | p))
    return float(np.mean(ious))


def test_int8_agrees_with_keras_on_held_out_records(learned_run, tmp_path, capsys):
    run, records, summary = learned_run
    assert summary["best"]["val_foreground_iou"] > 0.35, summary["best"]  # it has learned
    for quantize in ("none", "int8"):
        assert export_cli.main(["--model", str(run / "model.keras"), "--output-dir",
                                str(tmp_path / quantize), "--format", "litert",
                                "--quantize", quantize]) == 0
    out = capsys.readouterr().out
    assert "model.tflite" in out and "quantization int8" in out
    assert out.count("agreement with the Keras model on 24 validation images") == 2

    images, masks = next(load_dataset(records, "validation", image_size=SIZE,
                                      batch_size=64).as_numpy_iterator())
    images, truth = images.astype(np.uint8), masks[..., 0]
    keras_pred = load_keras_model(run / "model.keras").predict(
        images.astype(np.float32), verbose=0).argmax(-1)
    preds = {}
    for quantize in ("none", "int8"):
        probabilities, metadata = run_client(tmp_path / quantize / "1" / "model.tflite", images,
                                             tmp_path)
        preds[quantize] = probabilities.argmax(-1)
    assert metadata["input"]["dtype"] == "uint8" and metadata["output"]["dtype"] == "uint8"
    assert metadata["calibration"]["images"] == 96 and metadata["calibration"]["split"] == "train"
    agree_float = np.mean(preds["none"] == keras_pred)
    agree_int8 = np.mean(preds["int8"] == keras_pred)
    ious = {k: mean_iou(truth, v) for k, v in preds.items()}
    ious["keras"] = mean_iou(truth, keras_pred)
    with capsys.disabled():
        print(f"\nint8 LiteRT: pixel agreement float {agree_float:.4f}, int8 {agree_int8:.4f}; "
              f"mean IoU keras {ious['keras']:.4f}, float {ious['none']:.4f}, "
              f"int8 {ious['int8']:.4f}")
    assert agree_float >= 0.999
    assert agree_int8 >= 0.97
    assert abs(ious["int8"] - ious["none"]) <= 0.02
    sidecar = json.loads((tmp_path / "int8" / "1" / "segkit.json").read_text())
    assert sidecar["agreement"]["pixel_agreement"] >= 0.97
