"""Multi-worker training: two tools/train.py processes on 127.0.0.1 under MultiWorkerMirroredStrategy.

The workers' collectives run over gRPC between the two processes; on a busy 2-core machine they
are slow, so the data is the conftest's 48 images at 32 px split 37 / 11 over 3 shard files
(uneven_records), global batch 12: 3 steps an epoch, and 2 validation steps (11 validation images
split 8 / 3 between the workers: the shorter part is padded). The model
is the U-Net: its BatchNormalization statistics are the part of the state that `fit`-style
training leaves unsynchronised between workers (segmodel.distribute.multiworker averages them).
"""

import csv
import json
import math
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

TIMEOUT_S = 400  # per cluster launch; two launches stay under pytest-timeout's 900 s


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_workers(root, records, run_dir, tmp, *extra, workers=2):
    """Start `workers` tools/train.py processes as one cluster; (return codes, logs).

    `records` may be a list: one records folder per worker."""
    ports = free_ports(workers)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    records = records if isinstance(records, list) else [records] * workers
    procs, logs = [], []
    try:
        for i in range(workers):
            command = [sys.executable, "tools/train.py", "--strategy", "multiworker", "--records",
                       str(records[i]), "--output-dir", str(run_dir), "--model", "unet",
                       "--image-size", "32", "--batch-size", "12", "--seed", "3", "--precision",
                       "float32", *extra]
            scratch = tmp / f"tmp{i}"  # the worker's TMPDIR: its scratch folder must be gone after
            scratch.mkdir(exist_ok=True)
            env = dict(os.environ, TMPDIR=str(scratch), TF_CPP_MIN_LOG_LEVEL="2",
                       TF_CONFIG=json.dumps({"cluster": cluster,
                                             "task": {"type": "worker", "index": i}}),
                       PYTHONPATH=os.pathsep.join(
                           [str(root)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
            env.pop("SLURM_JOB_ID", None)
            logs.append(tmp / f"worker{i}.log")
            # Logs go to files: a full pipe would stall one worker and, through the collectives,
            # both.
            with open(logs[-1], "w") as out:
                procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                              cwd=root, env=env))
        codes = [p.wait(timeout=TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return codes, [log.read_text() for log in logs]


def fingerprint(log):
    found = re.findall(r"final weights sha256: ([0-9a-f]{64})", log)
    assert len(found) == 1, log[-3000:]
    return found[0]


def history_epochs(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return [(int(r["epoch"]), float(r["loss"])) for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def uneven_records(pets_dir, tmp_path_factory):
    """Validation shards of 4, 3 and 4 images: 8 for worker 0, 3 for worker 1."""
    from segdata.records.convert import build_records

    out = tmp_path_factory.mktemp("uneven") / "records"
    build_records(pets_dir, out, split="holdout", val_size=11, seed=1337, num_shards=3,
                  workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def first_epoch(uneven_records, tmp_path_factory, request):
    """Two workers train one epoch into RUN; returns (RUN, codes, logs, tmp)."""
    tmp = tmp_path_factory.mktemp("multiworker")
    run_dir = tmp / "run"
    codes, logs = run_workers(request.config.rootpath, uneven_records, run_dir, tmp,
                              "--epochs", "1", "--no-tensorboard",
                              "--best-checkpoint-metric", "val_mean_iou")
    return run_dir, codes, logs, tmp


def test_two_workers_train_in_sync(first_epoch, uneven_records):
    run_dir, codes, logs, tmp = first_epoch
    assert codes == [0, 0], "\n----\n".join(log[-3000:] for log in logs)
    for log in logs:
        assert "replicas: 2" in log and "workers: 2" in log
        assert "MultiWorkerMirroredStrategy" in log
    assert "the chief" in logs[0] and "the chief" not in logs[1]
    # Both workers applied the same all-reduced updates to the same initial weights.
    assert fingerprint(logs[0]) == fingerprint(logs[1])
    # Metrics are all-reduced: both workers print the same epoch line.
    lines = [re.search(r"3 steps, .*? - (loss: .*)", log).group(1) for log in logs]
    assert lines[0] == lines[1]

    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["workers"] == 2 and summary["replicas"] == 2
    assert summary["workers_in_sync"] is True and summary["epochs_completed"] == 1
    assert math.isfinite(summary["final"]["loss"]) and summary["final"]["loss"] > 0
    assert [e for e, _ in history_epochs(run_dir)] == [0]
    assert (run_dir / "checkpoints" / "ckpt-1.index").exists()
    # Only the chief wrote; the other worker's scratch folder was removed.
    assert list((tmp / "tmp1").iterdir()) == []

    import keras
    import numpy as np

    model = keras.models.load_model(run_dir / "model.keras")  # plain Keras, no custom objects
    probs = model.predict(np.zeros((1, 32, 32, 3), "float32"), verbose=0)
    assert probs.shape == (1, 32, 32, 3) and np.allclose(probs.sum(-1), 1, atol=1e-3)

    # Exact validation: the workers' all-reduced val metrics (uneven parts, one padded) equal the
    # saved model's (epoch 1) metrics over the plain local split, each image counted once.
    import tensorflow as tf

    import segdata
    from segmodel.distribute.worker_input import update_metrics
    from segmodel.training.metrics import make_loss, make_metrics

    group, loss_fn = [keras.metrics.Mean(name="loss")] + make_metrics(3), make_loss()
    for images, masks in segdata.load_dataset(uneven_records, "validation", image_size=32,
                                              batch_size=4):
        probs = tf.cast(model(images, training=False), tf.float32)
        update_metrics(group, masks, probs, loss_fn(masks, probs))
    with open(run_dir / "history.csv", newline="") as f:
        row = next(csv.DictReader(f))
    np.testing.assert_allclose(
        [float(row[k]) for k in ("val_loss", "val_foreground_iou", "val_mean_iou")],
        [float(m.result()) for m in group], rtol=1e-4, atol=1e-6)


def test_resume_finishes_the_second_epoch(first_epoch, uneven_records, request):
    first_dir, codes, _, tmp = first_epoch
    assert codes == [0, 0]
    # A copy: the first epoch's run stays as it was for the other tests, whatever their order.
    run_dir = pathlib.Path(shutil.copytree(first_dir, first_dir.parent / "resumed"))
    codes, logs = run_workers(request.config.rootpath, uneven_records, run_dir, tmp,
                              "--epochs", "2", "--best-checkpoint-metric", "val_mean_iou",
                              "--no-tensorboard", "--resume")
    assert codes == [0, 0], "\n----\n".join(log[-3000:] for log in logs)
    for log in logs:
        assert "resuming after 1 finished epoch(s)" in log
        assert "Epoch 2/2" in log and "Epoch 1/2" not in log  # only the missing epoch ran
    assert fingerprint(logs[0]) == fingerprint(logs[1])
    history = history_epochs(run_dir)
    assert [e for e, _ in history] == [0, 1] and all(math.isfinite(v) for _, v in history)
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["epochs_completed"] == 2 and summary["workers_in_sync"] is True
    with open(run_dir / "history.csv", newline="") as f:
        ious = [float(r["val_mean_iou"]) for r in csv.DictReader(f)]
    assert summary["best_checkpoint_metric"] == "val_mean_iou"
    assert summary["best"]["epoch"] == 1 + ious.index(max(ious))
    assert (run_dir / "checkpoints" / "ckpt-2.index").exists()

    # The same command without --resume must not mix a new run into this one: the chief says
    # why, the other worker stops too instead of waiting for it.
    codes, logs = run_workers(request.config.rootpath, uneven_records, run_dir, tmp,
                              "--epochs", "2")
    assert codes == [2, 2], "\n----\n".join(log[-3000:] for log in logs)
    assert "--resume" in logs[0] and "already holds a training run" in logs[0]
    assert "the chief refused the run folder" in logs[1]
    assert [e for e, _ in history_epochs(run_dir)] == [0, 1]


def test_a_failing_worker_stops_the_others(records_dir, tmp_path, request):
    """Worker 1 cannot read its records and exits; the chief, waiting for it in a collective,
    stops too (TensorFlow's heartbeats) with an error naming the lost worker, instead of hanging."""
    codes, logs = run_workers(request.config.rootpath, [records_dir, tmp_path / "missing"],
                              tmp_path / "run", tmp_path, "--epochs", "1")
    assert codes == [4, 2], "\n----\n".join(log[-3000:] for log in logs)
    assert "missing does not exist" in logs[1]
    assert "error: the cluster lost a worker (/job:worker/replica:0/task:1)" in logs[0]


def test_the_chief_is_worker_0_unless_the_cluster_names_one():
    import tensorflow as tf

    from segmodel.distribute.cluster import cluster_role

    def role(spec, task_type, task_id):
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(spec), task_type=task_type, task_id=task_id)
        return cluster_role(type("S", (), {"cluster_resolver": resolver})())

    workers = {"worker": ["a:1", "b:1", "c:1"]}
    assert role(workers, "worker", 0) == ("worker", 0, 3, True)
    assert role(workers, "worker", 2) == ("worker", 2, 3, False)
    with_chief = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    assert role(with_chief, "chief", 0) == ("chief", 0, 3, True)
    assert role(with_chief, "worker", 0) == ("worker", 0, 3, False)


def test_weights_blowing_up_stop_the_run(records_dir, tmp_path, request):
    """SGD at 1e30 overflows the weights in the first epoch: exit 3 naming epoch, policy and
    variable; no checkpoint of the broken epoch, so --resume cannot start from it. One worker
    (no TF_CONFIG) runs the same loop."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "SLURM_JOB_ID")}
    env["PYTHONPATH"] = os.pathsep.join([str(request.config.rootpath)]
                                        + [p for p in [os.environ.get("PYTHONPATH")] if p])
    proc = subprocess.run(
        [sys.executable, "tools/train.py", "--strategy", "multiworker", "--records",
         str(records_dir), "--output-dir", str(run_dir), "--image-size", "32", "--batch-size",
         "8", "--epochs", "2", "--seed", "0", "--precision", "float32", "--optimizer", "sgd",
         "--learning-rate", "1e30", "--no-tensorboard"],
        capture_output=True, text=True, timeout=TIMEOUT_S, cwd=request.config.rootpath, env=env)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "workers: 1" in proc.stdout
    error = re.search(r"^error: (.*)", proc.stderr, re.M).group(1)
    assert re.search(r"the weights became non-finite \(first: \S+/kernel\) in epoch 1 under "
                     r"precision policy float32", error), error
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_epoch"] == 1
    assert summary["nonfinite_weight"].endswith("/kernel")
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "model.keras").exists()


def test_slurm_job_maps_to_a_cluster(monkeypatch, request):
    """cluster.cluster_resolver (segkit train) maps a Slurm job step (2 nodes, 1 task each) to
    the cluster, on CPU nodes too (no nvidia-smi there); an explicit TF_CONFIG wins over Slurm."""
    import os

    from segmodel.distribute import cluster

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # restored after; the resolver may set it
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(cluster.shutil, "which", lambda name: None)  # a CPU node
    for name, value in {"SLURM_JOB_ID": "77", "SLURM_PROCID": "1",
                        "SLURM_STEP_NUM_TASKS": "2", "SLURM_STEP_NODELIST": "node[07-08]",
                        "SLURM_STEP_TASKS_PER_NODE": "1(x2)"}.items():
        monkeypatch.setenv(name, value)
    resolver, _ = cluster.cluster_resolver(os.environ)
    assert resolver.cluster_spec().as_dict() == {"worker": ["node07:8888", "node08:8888"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    assert resolver.num_accelerators().get("GPU", 0) == 0  # the strategy then uses the CPU

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    resolver, _ = cluster.cluster_resolver(os.environ)
    assert resolver.cluster_spec().as_dict() == {"worker": ["a:1", "b:1"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 0)


def test_every_worker_must_get_examples():
    """Every worker needs training examples (its repeated dataset would end at once): by shard
    file when there are enough files, else by example (segdata.load_dataset's rule)."""
    from segmodel.distribute.worker_input import check_pipelines_get_data

    def manifest(*counts):
        return {"splits": {"train": {"shards": [{"num_examples": n} for n in counts]}}}

    check_pipelines_get_data(manifest(6, 6), "train", 2)
    check_pipelines_get_data(manifest(3), "train", 3)  # one file, 3 examples: by example
    with pytest.raises(ValueError, match=r"gives \[1, 1, 0\] examples to the 3 workers"):
        check_pipelines_get_data(manifest(2), "train", 3)
    with pytest.raises(ValueError, match=r"\[4, 0\]"):
        check_pipelines_get_data(manifest(4, 0), "train", 2)
