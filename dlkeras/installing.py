"""Putting schedules into optimizers, and taking a snapshot to put things back.

Callbacks use these at train begin; they touch `_learning_rate` and the
optimizer's variable list, the two places Keras keeps what a learning-rate
setter changes, so the snapshot can undo an installation exactly.
"""

import warnings

from dlkeras.optimizers import schedule_step_of, sub_optimizers, supports_momentum_schedule


def current_step(optimizer):
    """The schedule step of `optimizer` now, as a Python int."""
    return int(schedule_step_of(optimizer))


def install_learning_rate(optimizer, schedule):
    """Makes `optimizer` (not a MultiOptimizer) follow `schedule` from now on."""
    optimizer.learning_rate = schedule


def install_momentum(optimizer, schedule):
    """Makes a dlkeras optimizer's momentum follow `schedule`.

    Returns False (with a warning) for optimizers that cannot schedule
    momentum, so a recipe still trains with their constant momentum.
    """
    if not supports_momentum_schedule(optimizer):
        warnings.warn(
            f"Optimizer {optimizer.name!r} ({type(optimizer).__name__}) cannot follow a "
            "momentum schedule; its momentum stays constant. Use "
            "dlkeras.optimizers.ScheduledAdam / ScheduledAdamW / ScheduledSGD, or pass "
            "moms=None.", stacklevel=3)
        return False
    if optimizer.built and getattr(optimizer, "momentums", None) == []:
        raise ValueError(
            f"SGD optimizer {optimizer.name!r} was built with momentum=0, so it has no "
            "momentum slots to schedule. Create it with a non-zero momentum.")
    optimizer.momentum_schedule = schedule
    return True


class OptimizerSnapshot:
    """Variable values and schedule objects of an optimizer, to restore exactly.

    Example:

    >>> import keras
    >>> optimizer = keras.optimizers.Adam(1e-3)
    >>> snapshot = OptimizerSnapshot(optimizer)
    >>> optimizer.learning_rate = keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5)
    >>> snapshot.restore()
    >>> round(float(optimizer.learning_rate), 6)
    0.001
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self._parts = []
        for sub in sub_optimizers(optimizer):
            self._parts.append((sub, sub._learning_rate, list(sub._variables),
                                getattr(sub, "_momentum_schedule", None)))
        self._values = [v.numpy().copy() for v in optimizer.variables]

    def restore(self):
        for sub, learning_rate, variables, momentum in self._parts:
            sub._learning_rate = learning_rate
            # A tracked list: rebuild it in place (no element comparisons) so the
            # variable order, which checkpoints rely on, is what it was.
            while len(sub._variables):
                sub._variables.pop()
            for variable in variables:
                sub._variables.append(variable)
            if supports_momentum_schedule(sub):
                sub._momentum_schedule = momentum
        for variable, value in zip(self.optimizer.variables, self._values):
            variable.assign(value)


class WeightsSnapshot:
    """Every weight of a model (trainable or not), to restore bit for bit."""

    def __init__(self, model):
        self._variables = list(model.weights)
        self._values = [v.numpy().copy() for v in self._variables]

    def restore(self):
        for variable, value in zip(self._variables, self._values):
            variable.assign(value)
