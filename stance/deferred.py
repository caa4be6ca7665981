"""Modules imported on first use instead of at import time, for commands that start often.

scikit-learn imports scipy.stats and pandas when it starts (``sklearn.utils.fixes``),
0.7 of the 1.7 s that `stance score` took on 50 articles, though scoring a saved
model uses neither. :func:`defer` puts a stand-in for each into ``sys.modules``: the
real module is imported the first time anything is read from it, and replaces the
stand-in everywhere the import system put it. Python 3.11's ``importlib.util.LazyLoader``
cannot do this: the import statement itself reads the module's ``__spec__``, which
loads it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    def __getattr__(self, name: str):
        return getattr(_load(self), name)

    def __dir__(self):
        return dir(_load(self))


def _load(stand_in: _Deferred) -> types.ModuleType:
    name = stand_in.__name__
    if sys.modules.get(name) is stand_in:
        del sys.modules[name]
    module = importlib.import_module(name)
    parent, _, child = name.rpartition(".")
    if parent and getattr(sys.modules.get(parent), child, None) is stand_in:
        setattr(sys.modules[parent], child, module)
    stand_in.__dict__.update({k: v for k, v in module.__dict__.items() if k not in ("__class__",)})
    return module


def defer(*names: str) -> None:
    """Stand in for the modules ``names`` that are not imported yet (their parent packages are)."""
    for name in names:
        if name in sys.modules or importlib.util.find_spec(name) is None:
            continue
        stand_in = _Deferred(name)
        stand_in.__spec__ = None
        sys.modules[name] = stand_in
