"""Batch labelling from prompt files: the labelling rule (`entries`) and the folder labeller
(`folder`).

The names of the former module `segmodel.sam.labelling.entries` are still importable from here
(they live in `segmodel.sam.labelling.entries.entries`), loaded on first use.
"""

import importlib

_FORWARDED = frozenset((
    'ENTRY_KEYS', 'OBJECT_KEYS', 'load_prompt_file', 'normalize_prompts', 'object_mask',
    'objects_to_json', 'union_mask', 'uses_multimask',
))


def __getattr__(name):
    if name not in _FORWARDED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".entries", __name__), name)
