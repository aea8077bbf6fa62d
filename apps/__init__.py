"""The dlkeras apps: one package per task, each a `dlkeras.tasks.Task` plus data, CLI and plots.

App packages export their names lazily (`lazy_exports`), so that
`python -m apps.<name> --help` answers without importing TensorFlow.
"""

import importlib


def lazy_exports(package, names):
    """`(__getattr__, __dir__, __all__)` for a package whose names load on first use.

    Args:
        package: the package's `__name__`.
        names: `{exported name: module that defines it}`.

    Example:

    >>> getattr_, dir_, all_ = lazy_exports("pkg", {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0), all_
    (3.0, ['sqrt'])
    """

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
