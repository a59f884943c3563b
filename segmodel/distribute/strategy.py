"""Picking a tf.distribute strategy, including N logical CPU replicas for GPU-less testing.

Keras 3's `fit` supports the default strategy and MirroredStrategy (one machine, several devices).
For several machines, MultiWorkerMirroredStrategy needs a `strategy.run` loop (Keras 3's `fit` does
not work there, keras-team/keras#20585): `segmodel.distribute.multiworker`, which reuses the model, loss,
metrics and optimizer functions of `segmodel.training.build`.
"""

import tensorflow as tf

CHOICES = ("auto", "default", "mirrored")


class DeviceConfigError(RuntimeError):
    """Logical devices requested after TensorFlow already initialised its devices."""


def configure_cpu_replicas(num_replicas):
    """Split the first physical CPU into `num_replicas` logical devices (/cpu:0 .. /cpu:N-1).

    Must run before anything initialises TensorFlow's devices (creating a tensor, building a
    model, listing logical devices); that is why `tools/train.py` calls it first thing.

    Raises:
      ValueError: num_replicas < 1.
      DeviceConfigError: TensorFlow was already initialised with a different device layout.
    """
    if int(num_replicas) < 1:
        raise ValueError(f"cpu replicas must be >= 1, got {num_replicas!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(int(num_replicas))]
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError as err:
        current = len(tf.config.list_logical_devices("CPU"))
        if current == int(num_replicas):
            return  # same layout already in place (e.g. called twice in one process)
        raise DeviceConfigError(
            f"cannot split the CPU into {num_replicas} logical devices: TensorFlow already "
            f"initialised {current} CPU device(s) in this process. Configure replicas before "
            f"building models or creating tensors (start a fresh process). ({err})"
        ) from None


def make_strategy(kind="auto", cpu_replicas=None):
    """Return a tf.distribute.Strategy.

    Args:
      kind: "auto" (MirroredStrategy over all GPUs when there are several, else the default
        strategy), "default" (one device), or "mirrored" (MirroredStrategy over all GPUs, or over
        the CPU's logical devices when there is no GPU).
      cpu_replicas: if set, first split the CPU into this many logical devices and mirror over
        them (kind "auto" or "mirrored"); for testing multi-replica code without GPUs.

    Returns:
      tf.distribute.Strategy; `strategy.num_replicas_in_sync` is the replica count.
    """
    if kind not in CHOICES:
        raise ValueError(f"unknown strategy {kind!r}; choose one of {list(CHOICES)}")
    if cpu_replicas is not None:
        if kind == "default":
            raise ValueError("--cpu-replicas needs --strategy mirrored or auto, not default")
        configure_cpu_replicas(cpu_replicas)
        return _cpu_mirrored()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy() if gpus else _cpu_mirrored()
    return tf.distribute.get_strategy()


def _cpu_mirrored():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    # NCCL all-reduce is GPU-only; on CPUs reduce through one device.
    return tf.distribute.MirroredStrategy(
        devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
    )


def describe(strategy):
    """One line naming the strategy and its devices, for the start-of-run banner."""
    try:
        devices = ", ".join(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has no device list: TF places ops itself
        return "default (no distribution, one device)"
    return f"{type(strategy).__name__} on {devices}"
