"""Evaluating all the schedules of one optimizer step, each shared piece once.

A `DiscriminativeOptimizer` with three layer groups under one-cycle has six
schedules (a learning rate and a momentum per group) that differ only in
their peak rate. Evaluated one by one they cost about 300 scalar ops a step,
as much again as the whole Adam update of a small MLP. A `StepEvaluation`
reads the step once and remembers what it computed for this step, keyed by
what the value depends on: the position in a cycle, the phase a position
falls in, a normalised one-cycle shape (which each group then scales by its
`lr_max`), a momentum schedule that every group shares. dlkeras schedules
look their pieces up here (`evaluate`); any other `LearningRateSchedule` is
called on the step, once per schedule object.

The memo lives for one `apply` of the optimizer (one traced step), never
across traces.

Example:

>>> from dlkeras.schedules import OneCycleSchedule
>>> evaluation = StepEvaluation(25)
>>> low, high = OneCycleSchedule(1e-3, 100), OneCycleSchedule(1e-2, 100)
>>> round(float(evaluation.value(low)), 6), round(float(evaluation.value(high)), 6)
(0.001, 0.01)
>>> len(evaluation)  # steps elapsed, position, phase, one normalised shape for both
4
"""

from keras import ops


class StepEvaluation:
    """The values of one step's schedules, each shared piece computed once.

    Args:
        step: the step (a scalar tensor, `keras.Variable` or int) the
            schedules are evaluated on.
    """

    def __init__(self, step):
        self.raw_step = step
        self._memo = {}
        self._step = None

    @property
    def step(self):
        """The step as a float32 scalar, read once."""
        if self._step is None:
            self._step = ops.cast(self.raw_step, "float32")
        return self._step

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
