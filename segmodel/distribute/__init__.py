"""Several devices and machines: picking a tf.distribute strategy, the multi-worker loop,
the cluster side, and how a split divides between workers.

The names of the former module `segmodel.distribute.strategy` are still importable from here
(they live in `segmodel.distribute.strategy.strategy`), loaded on first use.
"""

import importlib

_FORWARDED = frozenset((
    'CHOICES', 'DeviceConfigError', 'configure_cpu_replicas', 'describe', 'make_strategy',
))


def __getattr__(name):
    if name not in _FORWARDED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".strategy", __name__), name)
