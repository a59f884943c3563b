"""One training run: its configuration (`config`), loss and metrics, callbacks, precision,
fine-tuning, run.json and curves, and `train` (`loop`) that composes them.

The names of the former module `segmodel.training.loop` are still importable from here
(they live in `segmodel.training.loop.loop`), loaded on first use.
"""

import importlib

_FORWARDED = frozenset((
    'TrainingDiverged', 'check_model', 'compile_model', 'diverged_message', 'make_datasets',
    'make_model', 'make_optimizer', 'pick_splits', 'prepare_run_dir', 'recipe', 'train',
))


def __getattr__(name):
    if name not in _FORWARDED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".loop", __name__), name)
