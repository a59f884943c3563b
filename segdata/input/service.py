"""The tf.data service: read and decode records on other hosts' CPUs, feed one trainer.

`load_dataset(..., service="grpc://HOST:PORT")` builds the usual pipeline and hands it to
`tf.data.experimental.service.distribute`: the dispatcher at HOST:PORT ships the pipeline's
graph to its workers, which read the shards, decode, resize and batch; the trainer only
receives batches. Servers are TensorFlow's own `DispatchServer` and `WorkerServer`
(`tools/data_service.py` starts them); no code of ours runs in the data path.

Processing modes (`service_mode`):
  "distributed_epoch" (default): the dispatcher hands out shard files one at a time to
    whichever worker asks, so every example arrives exactly once per epoch. A split with
    fewer shard files than workers leaves the extra workers idle.
  "parallel_epochs": every worker reads the whole split, so each example arrives once per
    worker per epoch (for data too small to shard, or when epochs do not matter).

The records folder must be readable at the same path by every worker (a shared filesystem or
gs://); the client checks the manifest and shard sizes before sending the pipeline.
"""

import tensorflow as tf

SERVICE_MODES = ("distributed_epoch", "parallel_epochs")


def check_service_args(service, service_mode, cache, input_context):
    """Raise ValueError for a service argument that cannot work; returns the address."""
    if service_mode not in SERVICE_MODES:
        raise ValueError(f"service_mode must be one of {SERVICE_MODES}, got {service_mode!r}")
    if not isinstance(service, str) or "://" not in service or not service.split("://", 1)[1]:
        raise ValueError(f"service must be a dispatcher address like 'grpc://HOST:PORT', got "
                         f"{service!r}")
    if cache:
        raise ValueError("cache cannot be combined with service: each worker would cache the "
                         "shards it happened to read in the first epoch; cache on the workers' "
                         "side is not supported, drop cache=True")
    if input_context is not None:
        raise ValueError("input_context cannot be combined with service: the dispatcher already "
                         "splits the shards between its workers; pass one or the other")
    return service


def distribute(dataset, service, service_mode="distributed_epoch", job_name=None,
               compression=None):
    """`dataset` (the batched pipeline) processed by the tf.data service at `service`.

    Args:
      dataset: tf.data.Dataset whose first source is the list of shard files.
      service: "grpc://HOST:PORT" of a dispatcher.
      service_mode: "distributed_epoch" or "parallel_epochs" (see the module docstring).
      job_name: share one job between several trainers (each gets different batches).
      compression: None (default) sends batches as they are; "AUTO" lets tf.data compress
        them (snappy), which costs CPU on both ends and gains little on photos: use it only
        when the network, not the CPUs, is the bottleneck.

    Returns:
      tf.data.Dataset with the same element spec, read from the service's workers.
    """
    return dataset.apply(tf.data.experimental.service.distribute(
        processing_mode=service_mode, service=service, job_name=job_name,
        compression=compression))


def start_dispatcher(port=0, work_dir=None, fault_tolerant=False):
    """A tf.data service dispatcher listening on `port` (0 = any free port).

    Args:
      work_dir: folder where the dispatcher keeps its journal; with `fault_tolerant`, a
        restarted dispatcher resumes its jobs from it.

    Returns:
      tf.data.experimental.service.DispatchServer (started); `.target` is "grpc://host:port".
    """
    config = tf.data.experimental.service.DispatcherConfig(
        port=port, work_dir=work_dir, fault_tolerant_mode=fault_tolerant)
    return tf.data.experimental.service.DispatchServer(config)


def start_worker(dispatcher, port=0, worker_address=None):
    """A tf.data service worker that registers with `dispatcher` ("HOST:PORT" or
    "grpc://HOST:PORT").

    Args:
      port: port to serve data on (0 = any free port).
      worker_address: "HOST:PORT" under which clients reach this worker (default
        "localhost:<port>", enough on one machine; give the host's name on a cluster).

    Returns:
      tf.data.experimental.service.WorkerServer (started).
    """
    address = dispatcher.split("://", 1)[-1]
    if worker_address is None and port:
        worker_address = f"localhost:{port}"
    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=address, worker_address=worker_address, port=port)
    return tf.data.experimental.service.WorkerServer(config)
