"""The multi-worker loop's bookkeeping (segmodel.distribute.worker_loop): restoring its
checkpoint on every worker, and the chief's history.csv and TensorBoard scalars."""

import os

import tensorflow as tf

from segdata.io.atomic import atomic_write
from segmodel.distribute.cluster import ClusterError, gather_values
from segmodel.training import callbacks as cb


def restore(dist, checkpoint, finished, checkpoint_dir, resume):
    """Restore the latest checkpoint of `checkpoint_dir` when `resume` -> finished epochs (int).

    Args:
      dist: the MultiWorkerMirroredStrategy. checkpoint: tf.train.Checkpoint holding model,
        optimizer and the `finished` epoch counter (int64 tf.Variable).
    Raises:
      ValueError: the checkpoint does not match this model and optimizer.
      ClusterError: the workers restored different epochs (their --output-dir differs).
    """
    if resume:
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        if latest:
            try:
                checkpoint.restore(latest).assert_existing_objects_matched()
            except (AssertionError, ValueError, tf.errors.OpError) as err:
                raise ValueError(
                    f"cannot resume from {latest}: it does not match this model and optimizer "
                    f"(was the run started with another --optimizer?); resume with the first "
                    f"run's options, or --overwrite to start again ({str(err)[:300]})") from None
    restored = gather_values(dist, float(finished.numpy()))
    if restored.min() != restored.max():
        raise ClusterError(
            f"workers restored different epochs ({sorted(set(restored.astype(int)))}): every "
            f"worker must read {checkpoint_dir}; put --output-dir on a filesystem all workers "
            "share")
    return int(finished.numpy())


def write_history(run_dir, rows):
    """RUN/history.csv (CSVLogger's layout: epoch first, then sorted keys), written atomically."""
    import csv

    keys = ["epoch"] + sorted(k for k in rows[0] if k != "epoch")

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(os.path.join(run_dir, cb.HISTORY_FILE), write)


def write_scalars(writers, epoch, logs):
    """One epoch's `logs` as TensorBoard scalars: "val_*" to writers["validation"], the rest to
    writers["train"], named "epoch_<metric>" as Keras' TensorBoard callback names them."""
    for key, writer in writers.items():
        with writer.as_default(step=epoch):
            for name, value in logs.items():
                if name.startswith("val_") == (key == "validation"):
                    tf.summary.scalar("epoch_" + name.removeprefix("val_"), value)
