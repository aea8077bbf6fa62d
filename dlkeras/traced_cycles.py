"""Train steps traced under one-cycle schedules, kept for the next cycle of the same shape.

Tracing the train step is most of a short fit's fixed cost (about 0.5 s for
a small MLP on a 2-core CPU, 9 s for EfficientNet-Lite0; see
`benchmarks/fixed_costs.py`). The one-cycle schedules `OneCycle` installs on
dlkeras optimizers read their start, length and peak rates from variables
(`dlkeras.schedules.CycleClock`), so a train function traced with them
serves every later cycle of the same *shape* (`div`, `div_final`,
`pct_start`, `moms`), as long as the model trains the same variables with
the same XLA setting and the same `compile`.

This module keeps, per model, the schedules and train functions of the
last `MAX_KEPT` shapes traced. The frozen and unfrozen phases of
`fine_tune` each keep theirs, so a second `fine_tune` traces nothing; and
the LR finder sweeps through the schedules of the cycle that follows it
(`LRFinder(cycle=...)`), so that cycle's `fit` does not trace again.

`steps_per_execution` is not part of what must match: a function kept at
one setting gives one for another that shares its traced single step
(`dlkeras.keras_internals.train_function_for_steps`); only the loop around
the step is traced again (0.33 s against 0.57 s for a whole new step, the
tabular MLP at batch 1024).

Example:

>>> import keras, numpy as np
>>> from dlkeras import ScheduledAdam, fit_one_cycle
>>> x = np.random.rand(64, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer=ScheduledAdam(), loss="mse")
>>> _ = fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, verbose=0)
>>> recall(model, cycle_shape()) is not None   # default fit_one_cycle shape
True
>>> recall(model, cycle_shape(div=5.0)) is None
True
"""

from dlkeras.keras_internals import compiled_parts, train_function_for_steps

MAX_KEPT = 4  # shapes (with their traced functions) kept per model, least recently used dropped
_ATTRIBUTE = "_dlkeras_traced_cycles"


def cycle_shape(div=25.0, div_final=1e5, pct_start=0.25, moms=(0.95, 0.85, 0.95)):
    """What decides how a one-cycle is traced (`OneCycle`'s arguments but the rates and
    steps), as a hashable tuple. The defaults are `fit_one_cycle`'s."""
    return (float(div), float(div_final), float(pct_start),
            None if moms is None else tuple(float(m) for m in moms))


def trace_settings(model):
    """What Keras reads only when it traces the train step: how many steps a call, XLA,
    which variables train. A change to any of them (e.g. `layer.trainable = False` without
    recompiling) needs a new trace: `OneCycle` rearms a cycle only while they hold."""
    return (model.steps_per_execution, bool(model.jit_compile),
            tuple(id(v) for v in model.trainable_variables))


def trace_key(model):
    """What a traced train step holds besides its schedules' variables: XLA, the variables
    that train, and the objects of the last `compile`."""
    return ((bool(model.jit_compile),) + tuple(id(v) for v in model.trainable_variables)
            + tuple(id(part) for part in compiled_parts(model)))


class _Traced:
    """One shape's schedules (a `(learning rate, momentum)` pair per layer group) and its
    train functions by `steps_per_execution`."""

    def __init__(self, model, shape, schedules):
        self.key = trace_key(model)
        # The objects whose ids make the key stay alive as long as the entry does.
        self._holds = (list(model.trainable_variables), compiled_parts(model))
        self.shape = shape
        self.schedules = list(schedules)
        self.functions = {model.steps_per_execution: model.train_function}


class _Kept:
    """The entries of one model (an attribute Keras does not track or save)."""

    def __init__(self):
        self.entries = []  # oldest first


def _kept(model):
    kept = getattr(model, _ATTRIBUTE, None)
    if kept is None:
        kept = _Kept()
        # Bypasses Keras' attribute tracking: nothing here is a weight or a layer.
        object.__setattr__(model, _ATTRIBUTE, kept)
    return kept


def remember(model, shape, schedules):
    """Keeps `model.train_function` and the schedules it reads for `shape`.

    Call it right after installing the schedules and making the train
    function; Keras traces the function at its first call, and the entry
    keeps the traced function.

    Args:
        model: the compiled model.
        shape: `cycle_shape(...)` of the installed schedules.
        schedules: one `(learning-rate schedule, momentum schedule or None)`
            per layer group (`dlkeras.optimizers.sub_optimizers` order).
    """
    entries = _kept(model).entries
    entry = _Traced(model, shape, schedules)
    # Steps traced before the last `compile` can never serve again: let their graphs go.
    compiled = entry.key[-len(entry._holds[1]):]
    entries[:] = [e for e in entries if e.key[-len(compiled):] == compiled
                  and (e.key, e.shape) != (entry.key, shape)]
    entries.append(entry)
    del entries[:-MAX_KEPT]


def recall(model, shape):
    """The `(schedules, train_function)` kept for `shape` and the model as it is now, or None.

    The train function runs the model's current `steps_per_execution`; one
    for a new setting is made from a kept one (sharing its traced step) and
    kept too.
    """
    kept = getattr(model, _ATTRIBUTE, None)
    if kept is None:
        return None
    key = trace_key(model)
    for entry in reversed(kept.entries):
        if entry.key != key or entry.shape != shape:
            continue
        steps = model.steps_per_execution
        function = entry.functions.get(steps)
        if function is None:
            function = train_function_for_steps(next(iter(entry.functions.values())), model)
            if function is None:
                return None
            entry.functions[steps] = function
        kept.entries.remove(entry)
        kept.entries.append(entry)  # most recently used last
        return entry.schedules, function
    return None


def forget(model):
    """Drops every train function kept for `model` (e.g. to free their graphs)."""
    kept = getattr(model, _ATTRIBUTE, None)
    if kept is not None:
        kept.entries.clear()
