"""tools/train.py end to end: the chapter's model learns on generated data, and the run folder
holds what the issue promises. The saved model is scored by a fresh process that never imports
segkit (plain `keras.models.load_model`, argmax, IoU of class 0)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

TRAIN = ["tools/train.py"]
SIZE = 64

# Scores RUN/model.keras on the validation arrays; must work without segkit on the path.
SCORE = textwrap.dedent("""
    import sys, json
    import numpy as np, keras
    model = keras.models.load_model(sys.argv[1])
    data = np.load(sys.argv[2])
    pred = model.predict(data["x"], verbose=0).argmax(-1)
    true = data["y"][..., 0]
    keep = true != 255
    inter = np.sum((pred == 0) & (true == 0) & keep)
    union = np.sum(((pred == 0) | (true == 0)) & keep)
    assert not any(m.startswith(("segmodel", "segdata")) for m in sys.modules), "imported segkit"
    print(json.dumps({"foreground_iou": float(inter / union), "dtype": str(model.output.dtype)}))
""")


def run_tool(args, cwd):
    return subprocess.run([sys.executable, *TRAIN, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def learn_records(tmp_path_factory):
    """120 small generated photos -> holdout records (96 train, 24 validation)."""
    from segdata.records.convert import build_records
    from segdata.synthetic.pets import make_sample_data

    root = tmp_path_factory.mktemp("learn")
    pets = make_sample_data(root / "pets", 120, seed=0, min_side=64, max_side=96)
    build_records(pets, root / "records", split="holdout", val_size=24, seed=1337, num_shards=2,
                  workers=1, progress=False)
    return root / "records"


@pytest.fixture(scope="module")
def chapter_run(learn_records, tmp_path_factory, request):
    run_dir = tmp_path_factory.mktemp("run") / "chapter"
    proc = run_tool(["--records", learn_records, "--output-dir", run_dir, "--model", "chapter",
                     "--image-size", SIZE, "--batch-size", 8, "--epochs", 10, "--seed", 1,
                     "--precision", "float32", "--verbose", 2], cwd=request.config.rootpath)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, proc.stdout


def test_banner_and_result_lines(chapter_run):
    _, out = chapter_run
    assert "replicas: 1" in out
    assert "precision policy: float32" in out
    assert "strategy:" in out
    assert "best val foreground IoU:" in out and "best val mean IoU:" in out


def test_saved_model_learned(chapter_run, learn_records, tmp_path, request):
    import segdata

    run_dir, _ = chapter_run
    images, masks = [], []
    for x, y in segdata.load_dataset(learn_records, "validation", image_size=SIZE, batch_size=8):
        images.append(x.numpy())
        masks.append(y.numpy())
    np.savez(tmp_path / "val.npz", x=np.concatenate(images), y=np.concatenate(masks))
    proc = subprocess.run([sys.executable, "-c", SCORE, str(run_dir / "model.keras"),
                           str(tmp_path / "val.npz")], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)  # cwd outside the repo: no segkit import
    assert proc.returncode == 0, proc.stderr[-3000:]
    score = json.loads(proc.stdout.strip().splitlines()[-1])
    print("independent score:", score)
    assert score["dtype"] == "float32"
    # Predicting "all background" scores 0; random guessing ~0.2 (foreground is ~28% of pixels).
    assert score["foreground_iou"] > 0.35, score


def test_run_folder_contents(chapter_run):
    run_dir, _ = chapter_run
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["status"] == "completed"
    assert summary["replicas"] == 1 and summary["precision_policy"] == "float32"
    assert summary["epochs_completed"] == 10
    assert summary["options"]["seed"] == 1
    assert {"tensorflow", "keras"} <= set(summary["versions"])
    best = summary["best"]
    # model.keras is the epoch with the lowest validation loss.
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert len(rows) == 11 and rows[0].startswith("epoch")
    assert best["val_loss"] == pytest.approx(min(float(r.split(",")[rows[0].split(",").index(
        "val_loss")]) for r in rows[1:]))
    assert any((run_dir / "logs").rglob("*tfevents*"))
    for name, min_aspect in (("loss.png", 1.0), ("prediction.png", 2.0)):
        with Image.open(run_dir / name) as img:
            assert img.format == "PNG"
            assert img.width / img.height > min_aspect  # prediction: three panels side by side


def test_existing_run_is_not_overwritten(chapter_run):
    from segmodel.training.run_folder import prepare_run_dir

    run_dir, _ = chapter_run
    with pytest.raises(FileExistsError, match="--resume"):
        prepare_run_dir(run_dir)
