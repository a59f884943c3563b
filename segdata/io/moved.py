"""Old module paths of the flat layout (before the stage subpackages) keep importing.

`import segdata.records.convert` gives the very module object `segdata.records.convert`, so code,
pickles and `mock.patch("segdata.records.convert.X")` written against the old paths work unchanged.
The tables live in `segdata/__init__.py` and `segmodel/__init__.py`; nothing new should use
the old names (docs/design.md says where each module went).
"""

import importlib
import importlib.abc
import importlib.util
import sys


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self._target = target

    def create_module(self, spec):
        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        # importlib stamps the alias spec on the module it was given; the real one wins.
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self, moves):
        self._moves = dict(moves)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._moves:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(self._moves[fullname]))


def alias_old_paths(moves):
    """Make each old dotted module name in `moves` (old -> new) import the new module."""
    finder = _AliasFinder(moves)
    sys.meta_path.append(finder)  # last: real modules and packages always win
    return finder
