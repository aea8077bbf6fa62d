"""Putting schedules into optimizers, and taking a snapshot to put things back.

Keras' `optimizer.learning_rate = schedule` untracks the optimizer's
learning-rate variable, which edits a tracked list that TensorFlow then
refuses to save ("tracking is exclusively for append-only data
structures"): `model.export` fails afterwards. So schedules are installed by
setting the optimizer's learning-rate object directly
(`dlkeras.keras_internals.set_learning_rate_object`); the variable stays tracked (and unused), the
optimizer's variable list never changes, and restoring is putting the old
object back.
"""

import warnings

from dlkeras.distribute import read_int
from dlkeras.keras_internals import learning_rate_object, set_learning_rate_object
from dlkeras.optimizers import schedule_step_of, sub_optimizers, supports_momentum_schedule


def current_step(optimizer):
    """The schedule step of `optimizer` now, as a Python int."""
    return read_int(schedule_step_of(optimizer))


def install_learning_rate(optimizer, schedule):
    """Makes `optimizer` (not a MultiOptimizer) follow `schedule` from now on.

    The train function must be rebuilt afterwards (`make_train_function(force=True)`).
    """
    set_learning_rate_object(optimizer, schedule)


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
    >>> install_learning_rate(optimizer, keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5))
    >>> snapshot.restore()
    >>> round(float(optimizer.learning_rate), 6)
    0.001
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self._parts = [(sub, learning_rate_object(sub), getattr(sub, "momentum_schedule", None))
                       for sub in sub_optimizers(optimizer)]
        self._values = [v.numpy().copy() for v in optimizer.variables]

    def restore(self):
        for sub, learning_rate, momentum in self._parts:
            set_learning_rate_object(sub, learning_rate)
            if supports_momentum_schedule(sub):
                sub.momentum_schedule = momentum
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
