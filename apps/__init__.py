"""The dlkeras apps: one package per task, each a `dlkeras.tasks.Task` plus data, CLI and plots.

App packages export their names lazily (`lazy_exports`), so that
`python -m apps.<name> --help` answers without importing TensorFlow.
"""

import ast
import functools
import importlib
import importlib.util


def lazy_exports(package, modules):
    """`(__getattr__, __dir__)` for a package that exports its modules' `__all__` on first use.

    Each exported name is declared once, in the `__all__` of the module that
    defines it; the package only lists those modules. The `__all__` lists
    are read from the modules' source (nothing is imported to list names), and
    a name's module is imported when the name is first used. The package's
    own `__all__` is served by the returned `__getattr__`.

    Args:
        package: the package's name (`__package__` in its `__init__`).
        modules: the modules whose `__all__` the package exports: relative to
            the package (`"task"`) or absolute when dotted (`"dlkeras.data"`).

    Returns:
        `(__getattr__, __dir__)` to assign in the package's `__init__`.

    Example:

    >>> getattr_, dir_ = lazy_exports("json", ["json.decoder"])
    >>> dir_(), getattr_("JSONDecoder").__name__
    (['JSONDecodeError', 'JSONDecoder'], 'JSONDecoder')
    """
    full_names = [m if "." in m else f"{package}.{m}" for m in modules]

    @functools.cache
    def owners():
        names = {}
        for module in full_names:
            for name in declared_all(module):
                if names.setdefault(name, module) != module:
                    raise ImportError(f"{package} would export {name!r} from both "
                                      f"{names[name]} and {module}.")
        return names

    def __getattr__(name):
        if name == "__all__":
            return sorted(owners())
        if name.startswith("__") or name not in owners():  # dunders: what import machinery asks
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(owners()[name]), name)

    def __dir__():
        return sorted(owners())

    return __getattr__, __dir__


def declared_all(module):
    """The `__all__` list of `module`, read from its source without importing it.

    Example:

    >>> declared_all("json.decoder")
    ['JSONDecoder', 'JSONDecodeError']
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ImportError(f"No Python source for module {module!r}.")
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read(), spec.origin)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets):
            return list(ast.literal_eval(node.value))
    raise ImportError(f"{module} ({spec.origin}) declares no __all__ to export.")
