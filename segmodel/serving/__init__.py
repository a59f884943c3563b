"""Serving: in-graph signatures (`signatures`), the versioned SavedModel export (`export`)
and the client that runs it on image files (`predict`).

The names of the former module `segmodel.serving.signatures` are still importable from here
(they live in `segmodel.serving.signatures.signatures`), loaded on first use.
"""

import importlib

_FORWARDED = frozenset((
    'SUPPORTED_FORMATS', 'class_map', 'decode_batch', 'decode_rgb', 'make_endpoints',
    'resize_for_model',
))


def __getattr__(name):
    if name not in _FORWARDED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".signatures", __name__), name)
