"""Evaluating all the schedules of one optimizer step, each shared piece once.

A `DiscriminativeOptimizer` with three layer groups under one-cycle has six
schedules (a learning rate and a momentum per group) that differ only in
their peak rate. Evaluated one by one they cost about 300 scalar ops a step,
as much again as the whole Adam update of a small MLP. A `StepEvaluation`
reads the step once and remembers what it computed for this step, keyed by
what the value depends on: the position in a cycle, the phase a position
falls in, the cosine wave of that phase (which one-cycle's learning rate and
momentum share), a normalised one-cycle shape (which each group then scales
by its `lr_max`), a momentum schedule that every group shares, and `1 -` that
momentum. dlkeras schedules
look their pieces up here (`evaluate`); any other `LearningRateSchedule` is
called on the step, once per schedule object.

The memo lives for one `apply` of the optimizer (one traced step), never
across traces.

`StepEvaluation.on_host(step)` evaluates the same schedules in NumPy
float32 (`dlkeras.host_math`) for a callback that wants numbers: no eager
TensorFlow op, a few microseconds per piece instead of ~50, and the value
the step computed to about 1e-5 relative (float32 roundings; eager
TensorFlow is as far from the traced graph, whose arithmetic Grappler
rewrites).

Example:

>>> from dlkeras.schedules import OneCycleSchedule
>>> evaluation = StepEvaluation(25)
>>> low, high = OneCycleSchedule(1e-3, 100), OneCycleSchedule(1e-2, 100)
>>> round(float(evaluation.value(low)), 6), round(float(evaluation.value(high)), 6)
(0.001, 0.01)
>>> len(evaluation)  # steps elapsed, position, phase, cosine wave, one normalised shape
5
>>> round(float(StepEvaluation.on_host(25).value(high)), 6)
0.01
"""

import numpy as np
from keras import ops

from dlkeras import host_math


class StepEvaluation:
    """The values of one step's schedules, each shared piece computed once.

    Args:
        step: the step (a scalar tensor, `keras.Variable` or int) the
            schedules are evaluated on.
        xp: the array namespace schedules compute with: `keras.ops`
            (the default: tensors, traced into the train step) or
            `dlkeras.host_math` (NumPy float32 scalars; see `on_host`).
    """

    def __init__(self, step, xp=ops):
        self.raw_step = step
        self.xp = xp
        self._memo = {}
        self._step = None

    @classmethod
    def on_host(cls, step):
        """An evaluation at the integer `step` in NumPy float32, without TensorFlow ops."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError("`step` of a host evaluation must be a Python or NumPy integer (read "
                            f"a step variable first). Received: step={step!r}")
        return cls(int(step), xp=host_math)

    @property
    def is_host(self):
        """Whether this evaluation computes NumPy scalars rather than tensors."""
        return self.xp is host_math

    @property
    def step(self):
        """The step as a float32 scalar, read once."""
        if self._step is None:
            self._step = self.xp.cast(self.raw_step, "float32")
        return self._step

    def read(self, variable, value):
        """`variable` in a traced evaluation; on the host, its current `value` (the Python
        number the owner keeps in step with it), so no eager read is needed."""
        return host_math.cast(value, "float32") if self.is_host else variable

    def memo(self, key, compute):
        """`compute()` the first time `key` is asked for in this step, then the same tensor."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def value(self, schedule):
        """The value of any `LearningRateSchedule` at this step."""
        evaluate = getattr(schedule, "evaluate", None)
        if callable(evaluate):
            return evaluate(self)
        return self.memo(("object", id(schedule)), lambda: schedule(self.raw_step))

    def __len__(self):
        return len(self._memo)
