"""The cluster side of multi-worker training: the strategy, who is chief, small all-reduces.

`segmodel.multiworker` trains with these; they are separate because they know nothing about
models or data. Everything here takes arguments: tools/train.py maps TF_CONFIG / Slurm to a
cluster resolver.
"""

import hashlib

import keras
import numpy as np
import tensorflow as tf


class ClusterError(RuntimeError):
    """Workers cannot train together: another worker failed, or they restored different epochs."""


def make_multiworker_strategy(cluster_resolver=None):
    """MultiWorkerMirroredStrategy over the cluster of `cluster_resolver`.

    Create it first thing in the process: the strategy starts TensorFlow's gRPC server and
    waits until every worker of the cluster is up.

    Args:
      cluster_resolver: e.g. `tf.distribute.cluster_resolver.TFConfigClusterResolver()` (reads
        TF_CONFIG) or `SlurmClusterResolver()`; None = TF_CONFIG, or one local worker if unset.
    """
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster_resolver)


def cluster_role(strategy):
    """(task_type, task_id, number of workers, is_chief) of this process in the cluster."""
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    task_type = resolver.task_type if resolver is not None else None
    task_id = resolver.task_id if resolver is not None else None
    workers = sum(len(spec.get(job, [])) for job in ("chief", "worker")) or 1
    if not spec or task_type is None:
        return task_type, task_id, 1, True
    chief = task_type == "chief" or ("chief" not in spec and task_type == "worker"
                                     and int(task_id or 0) == 0)
    return task_type, task_id, workers, chief


def weights_fingerprint(model):
    """SHA-256 of all weights' bytes: equal on every worker of a run that stayed in sync."""
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return digest.hexdigest()


def gather_values(strategy, value):
    """float64 [num_replicas]: `value` of every replica, via an all-reduce (a barrier too)."""
    n = strategy.num_replicas_in_sync

    @tf.function
    def gather():
        def fn():
            ctx = tf.distribute.get_replica_context()
            return tf.one_hot(ctx.replica_id_in_sync_group, n, dtype=tf.float64) * value
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(fn), axis=None)

    return gather().numpy()


def state_averager(strategy, model):
    """A function averaging the model's non-trainable float weights over all replicas, or None.

    BatchNormalization's moving statistics are not synchronised (Keras gives them aggregation
    "none"): each replica averages its own batches, so the workers' models drift apart. Calling
    the function (outside `strategy.run`) makes them identical again.
    """
    state = [v for v in model.non_trainable_variables
             if v.dtype in ("float16", "bfloat16", "float32", "float64")]
    if not state:
        return None

    @tf.function
    def average():
        def fn():
            ctx = tf.distribute.get_replica_context()
            means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN,
                                   [tf.identity(v.value) for v in state])
            for v, mean in zip(state, means):
                v.assign(mean)
        strategy.run(fn)

    return average
