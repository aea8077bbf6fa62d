"""The slot layout of a saved optimizer, rebuilt at reload even while layers are frozen.

dlkeras builds optimizers on every variable that may ever train, so a model
saved with a frozen group holds optimizer slots for the frozen variables
too. At reload Keras builds the optimizer on the *trainable* variables only:
the saved slots no longer line up (Keras skips loading them, with a
warning) and the frozen layers could never be unfrozen into this optimizer.

So a dlkeras optimizer saves, as its Keras `build_config`, the path, shape
and dtype of every variable it was built on. Rebuilt from it, the optimizer
builds the saved layout: on the variables it is given where their paths
match, and on stand-ins for the others, which are swapped for the real
variables as soon as it sees them (`freeze`, `unfreeze` and the dlkeras
callbacks build the optimizer on every variable at the start of a fit).

Example:

>>> import keras
>>> variables = [keras.Variable([1.0, 2.0], name="kernel")]
>>> layout = layout_of(variables)
>>> layout
[['kernel', [2], 'float32']]
>>> [is_stand_in(v) for v in restore_build_order([], layout)]
[True]
"""

from dlkeras.keras_internals import variable_stand_in


def _path(variable):
    return getattr(variable, "path", variable.name)


def layout_of(variables):
    """`[path, shape, dtype]` of each variable, JSON-friendly."""
    return [[_path(v), [int(d) for d in v.shape], str(v.dtype)] for v in variables]


def is_stand_in(variable):
    return getattr(variable, "dlkeras_stand_in", False)


def restore_build_order(variables, layout):
    """The saved layout, filled with `variables` where paths match, stand-ins elsewhere.

    Returns `variables` unchanged when one of them is not in the layout (the
    optimizer is being built for another model): Keras' usual build then.
    """
    waiting = {}
    for variable in variables:
        waiting.setdefault(_path(variable), []).append(variable)
    result = []
    for path, shape, dtype in layout:
        matches = waiting.get(path)
        if matches and list(matches[0].shape) == list(shape):
            result.append(matches.pop(0))
        else:
            result.append(variable_stand_in(path, shape, dtype))
    if any(waiting.values()):
        return list(variables)
    return result


def stand_in_for(variable, built):
    """The stand-in among `built` that `variable` should replace, or None."""
    for candidate in built:
        if (is_stand_in(candidate) and candidate.path == _path(variable)
                and list(candidate.shape) == list(variable.shape)):
            return candidate
    return None
