"""The labelling web page: its state (`session`; `classes_session` with classes, into a
`masks` folder), HTTP layer (`server`), start-up (`app`), masks on the wire (`masks_io`), the
background encoder and embedding cache, and the page's static files (`page/`).

The names of the former module `segmodel.sam.label_app.app` are still importable from here
(they live in `segmodel.sam.label_app.app.app`), loaded on first use.
"""

import importlib

_FORWARDED = frozenset((
    'serve', 'start', 'stop',
))


def __getattr__(name):
    if name not in _FORWARDED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".app", __name__), name)
