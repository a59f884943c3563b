"""An interrupted run continues from its last finished epoch with --resume (BackupAndRestore)."""

import csv
import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

# Trains 3 epochs and dies after the 2nd, like a pre-empted machine (the process exits non-zero).
INTERRUPTED = textwrap.dedent("""
    import sys, keras
    from segmodel.training.loop import train

    class Preempted(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise SystemExit(17)

    train(sys.argv[1], sys.argv[2], model="chapter", image_size=32, batch_size=12, epochs=3,
          seed=2, precision="float32", tensorboard=False, verbose=2,
          extra_callbacks=[Preempted()])
""")


def epochs_in_history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_resume_continues_at_the_next_epoch(records_dir, tmp_path, request):
    run_dir = tmp_path / "run"
    root = request.config.rootpath
    first = subprocess.run([sys.executable, "-c", INTERRUPTED, str(records_dir), str(run_dir)],
                           capture_output=True, text=True, timeout=600, cwd=root)
    assert first.returncode == 17, first.stderr[-3000:]
    assert epochs_in_history(run_dir) == [0, 1]
    assert json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert not (run_dir / "run.json").exists()  # an interrupted run does not look complete

    second = subprocess.run(
        [sys.executable, "tools/train.py", "--records", str(records_dir), "--output-dir",
         str(run_dir), "--model", "chapter", "--image-size", "32", "--batch-size", "12",
         "--epochs", "3", "--seed", "2", "--precision", "float32", "--no-tensorboard",
         "--verbose", "2", "--resume"],
        capture_output=True, text=True, timeout=600, cwd=root)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming after 2 finished epoch(s)" in second.stdout
    log = second.stdout + second.stderr
    assert "Epoch 3/3" in log and "Epoch 1/3" not in log  # only the missing epoch ran
    assert epochs_in_history(run_dir) == [0, 1, 2]
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert (run_dir / "model.keras").exists()

    # Resuming with another architecture cannot load the backup: a clear error, nothing touched.
    from segmodel.training.loop import train

    with pytest.raises(ValueError, match="model='chapter'"):
        train(records_dir, run_dir, model="unet", image_size=32, epochs=4, resume=True,
              precision="float32", log=lambda line: None)
    assert epochs_in_history(run_dir) == [0, 1, 2]


def test_a_finished_run_without_resume_is_refused(records_dir, tmp_path):
    from segmodel.training.run_folder import prepare_run_dir

    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (tmp_path / "notes.txt").write_text("mine")
    try:
        prepare_run_dir(tmp_path)
    except FileExistsError as err:
        assert "--resume" in str(err) and "--overwrite" in str(err)
    else:
        raise AssertionError("a second run was mixed into an existing one")
    prepare_run_dir(tmp_path, overwrite=True)
    assert not (tmp_path / "history.csv").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only run files are deleted


def test_resuming_a_multiworker_run_without_multiworker_is_refused(records_dir, tmp_path):
    from segmodel.training import loop as training

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)  # the state a --strategy multiworker run keeps
    with pytest.raises(ValueError, match="--strategy multiworker"):
        training.train(records_dir, run, model="chapter", image_size=32, batch_size=12,
                       epochs=2, resume=True, precision="float32", log=lambda line: None)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints"]
