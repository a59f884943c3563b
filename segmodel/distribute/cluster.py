"""The cluster side of multi-worker training: the strategy, who is chief, small all-reduces.

`segmodel.distribute.multiworker` trains with these; they are separate because they know nothing about
models or data. Everything here takes arguments: `cluster_resolver(os.environ)` is called by
`segkit train`, which owns the process environment.
"""

import hashlib
import shutil

import keras
import numpy as np
import tensorflow as tf


class ClusterError(RuntimeError):
    """Workers cannot train together: another worker failed, or they restored different epochs."""


def cluster_resolver(environ, gpu_node=None):
    """The cluster of a multi-worker run: TF_CONFIG's when set, else Slurm's inside a Slurm job.

    Args:
      environ: the process environment (a mapping: TF_CONFIG, SLURM_JOB_ID). TensorFlow's
        resolvers then read their own variables (TF_CONFIG, SLURM_*) from `os.environ`.
      gpu_node: whether this node has GPUs; None: CUDA_VISIBLE_DEVICES is set or nvidia-smi
        is on PATH.

    Returns:
      (tf.distribute.cluster_resolver.ClusterResolver, note or None): the note says when the
      run trains as one worker because neither TF_CONFIG nor Slurm describes a cluster.
    """
    resolvers = tf.distribute.cluster_resolver
    if not environ.get("TF_CONFIG") and environ.get("SLURM_JOB_ID"):
        if gpu_node is None:
            gpu_node = "CUDA_VISIBLE_DEVICES" in environ or bool(shutil.which("nvidia-smi"))
        if gpu_node:
            return resolvers.SlurmClusterResolver(), None
        # CPU nodes: TF's resolver counts GPUs with nvidia-smi and steps through them (a count of
        # 0 fails), so read the task layout with a placeholder count, then say: no GPUs.
        slurm = resolvers.SlurmClusterResolver(gpus_per_node=1024, gpus_per_task=1,
                                               auto_set_gpu=False)
        return resolvers.SimpleClusterResolver(
            slurm.cluster_spec(), task_type=slurm.task_type, task_id=slurm.task_id,
            num_accelerators={"GPU": 0}, rpc_layer="grpc"), None
    note = None
    if not environ.get("TF_CONFIG"):
        note = "TF_CONFIG is not set and this is no Slurm job: training as one worker"
    return resolvers.TFConfigClusterResolver(), note


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
