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

import collections

import tensorflow as tf

from dlkeras.keras_internals import (
    built_variable_keys,
    built_variables,
    ema_average,
    replace_built_variable,
    variable_key,
    variable_stand_in,
)


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
    optimizer is being built for another model), or when a path the layout
    holds several times is given only some of those times (nested models
    with equal layer names: which is which would be a guess). Keras' usual
    build then.
    """
    waiting = {}
    for variable in variables:
        waiting.setdefault(_path(variable), []).append(variable)
    counts = collections.Counter(path for path, _, _ in layout)
    if any(counts[path] != len(found) and counts[path] > 1 for path, found in waiting.items()):
        return list(variables)
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


class RestorableBuild:
    """Mixin: builds an optimizer on a saved layout and binds frozen variables later.

    Also starts each EMA average at its variable's value, so the average of a
    variable frozen from the start equals it (Keras' `SwapEMAWeights` then
    leaves it alone).
    """

    def _init_restorable_build(self):
        self._restored_layout = None
        self._built_on_variables = False  # Keras' `self.built = False` never reached the setter

    @property
    def built(self):
        """True once built on real variables only (see `dlkeras.optimizers.restoring`)."""
        return getattr(self, "_built_on_variables", False) and not self.awaits_variables()

    @built.setter
    def built(self, value):
        self._built_on_variables = bool(value)

    def awaits_variables(self):
        """Whether a restored layout or stand-ins still wait for their variables."""
        if getattr(self, "_restored_layout", None) is not None:
            return True
        return getattr(self, "_built_on_variables", False) and any(
            is_stand_in(v) for v in built_variables(self))

    def get_build_config(self):
        if self._restored_layout is not None:
            return {"variables": [[path, list(shape), dtype]
                                  for path, shape, dtype in self._restored_layout]}
        if not getattr(self, "_built_on_variables", False):
            return None
        return {"variables": layout_of(built_variables(self))}

    def build_from_config(self, config):
        # Kept until `build` is given variables. Keras calls this right after
        # `from_config` when it reloads a saved model (then sets `built`).
        self._restored_layout = tuple((path, tuple(shape), dtype)
                                      for path, shape, dtype in config["variables"])

    def build_restored_layout(self):
        """Builds a restored layout now, on stand-ins, if one still waits for variables."""
        if self._restored_layout is not None:
            self.build([])

    def build(self, variables):
        variables = list(variables)
        layout, self._restored_layout = self._restored_layout, None
        if layout is None and self._built_on_variables:
            known = built_variable_keys(self)
            for variable in variables:  # stand-ins meet their variables, in order
                if variable_key(self, variable) in known:
                    continue
                stand_in = stand_in_for(variable, built_variables(self))
                if stand_in is not None:
                    replace_built_variable(self, stand_in, variable)
            return
        if layout is not None:
            variables = restore_build_order(variables, layout)
            self._built_on_variables = False  # Keras marked it built after build_from_config
        super().build(variables)
        if self.use_ema and tf.executing_eagerly():
            for variable in variables:
                average = None if is_stand_in(variable) else ema_average(self, variable)
                if average is not None:
                    average.assign(variable)
