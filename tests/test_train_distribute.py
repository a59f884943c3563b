"""Multi-replica training without GPUs: MirroredStrategy over 2 logical CPU devices."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_two_cpu_replicas(records_dir, tmp_path, request):
    run_dir = tmp_path / "run"
    # 36 training images, global batch 8: the last partial batch (4) must be dropped, or one
    # replica would get an empty batch on some epochs.
    proc = subprocess.run(
        [sys.executable, "tools/train.py", "--records", str(records_dir), "--output-dir",
         str(run_dir), "--model", "unet", "--image-size", "32", "--batch-size", "8",
         "--epochs", "1", "--seed", "0", "--cpu-replicas", "2", "--precision", "float32",
         "--no-tensorboard", "--verbose", "2"],
        capture_output=True, text=True, timeout=600, cwd=request.config.rootpath)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replicas: 2" in proc.stdout
    assert "MirroredStrategy" in proc.stdout and "CPU:1" in proc.stdout
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["replicas"] == 2 and summary["options"]["cpu_replicas"] == 2
    assert summary["final"]["loss"] is not None and summary["final"]["loss"] > 0
    # 36 // 8 = 4 full batches per epoch, the partial one dropped.
    assert "4/4" in proc.stdout + proc.stderr


def test_cpu_replicas_need_a_mirrored_strategy():
    import pytest

    from segmodel.distribute.strategy import make_strategy

    with pytest.raises(ValueError, match="mirrored"):
        make_strategy("default", cpu_replicas=2)
    with pytest.raises(ValueError, match="strategy"):
        make_strategy("tpu")
