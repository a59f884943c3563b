"""`make demo`'s script end to end, at toy size: every stage runs as its own tool process.

It also starts from the leftovers of an earlier run (a stale served mask, an old training folder)
to check that a rerun replaces each stage's output instead of mixing two runs.
"""

import json
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_demo_runs_every_stage_and_replaces_old_outputs(tmp_path):
    work = tmp_path / "demo"
    (work / "served").mkdir(parents=True)
    (work / "served" / "stale_mask.png").write_bytes(b"from an earlier run")
    (work / "train").mkdir()
    (work / "train" / "history.csv").write_text("epoch,loss\n0,9.9\n")
    cmd = [sys.executable, str(ROOT / "tools" / "demo.py"), "--workdir", str(work),
           "--num-images", "24", "--val-size", "6", "--image-size", "32", "--epochs", "1",
           "--batch-size", "6"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    assert (work / "figures" / "sample.png").stat().st_size > 0
    for name in ("model.keras", "loss.png", "prediction.png", "run.json", "history.csv"):
        assert (work / "train" / name).exists(), name
    run = json.loads((work / "train" / "run.json").read_text())
    assert run["epochs_completed"] == 1
    assert run["options"]["model"] == "unet" and "model:           unet" in proc.stdout
    assert (work / "train" / "history.csv").read_text().count("\n") == 2  # header + 1 epoch
    assert (work / "export" / "1" / "saved_model.pb").exists()
    masks = sorted((work / "served").glob("*_mask.png"))
    assert len(masks) == 3 and not (work / "served" / "stale_mask.png").exists()
    # Served images are validation images, never ones the model trained on.
    import segdata

    validation = {segdata.read_example(work / "records", "validation", i)[2] for i in range(6)}
    served = {m.name[: -len("_mask.png")] for m in masks}
    assert served <= validation, (served, validation)
    assert "=== summary" in proc.stdout and "validation foreground IoU" in proc.stdout
    assert "SAM skipped" in proc.stdout
