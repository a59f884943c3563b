"""Segmentation models: the chapter's encoder-decoder and U-Net (`builtin`), keras-hub
segmenters and encoders (`hub`) and preset loading (`presets`).

The names of the former module `segmodel.models.builtin` are still importable from here
(they live in `segmodel.models.builtin.builtin`), loaded on first use.
"""

import importlib

_FORWARDED = frozenset((
    'MODELS', 'build_model', 'chapter_model', 'check_args', 'unet_model',
))


def __getattr__(name):
    if name not in _FORWARDED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".builtin", __name__), name)
