"""Adam, AdamW and SGD whose momentum can follow a schedule.

Keras bakes a float `beta_1` / `momentum` into the traced train step, so a
callback that changes it later has no effect (keras3-notes 1). These
optimizers accept a `LearningRateSchedule` for the momentum and evaluate it
on the step counter inside the compiled step, like the learning rate.

They also evaluate their schedules on a *schedule step* that a parent
`DiscriminativeOptimizer` can point at its own counter, so every layer group
follows the same position in a cycle even when a group was frozen for a
while (its own counter, used for Adam's bias correction, then lags).

Example:

>>> from dlkeras.optimizers import ScheduledAdamW
>>> from dlkeras.schedules import OneCycleSchedule, OneCycleMomentum
>>> optimizer = ScheduledAdamW(
...     learning_rate=OneCycleSchedule(1e-3, total_steps=100),
...     beta_1=OneCycleMomentum(total_steps=100),
...     weight_decay=0.01)
>>> round(float(optimizer.current_momentum()), 6)
0.95
"""

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule
from keras.saving import deserialize_keras_object, serialize_keras_object

from dlkeras.keras_internals import (learning_rate_object, track_variable,
                                     variable_index)

_REGISTER = keras.saving.register_keras_serializable(package="dlkeras")


def _split_momentum(name, value):
    """Returns (schedule or None, float stand-in) for a momentum argument."""
    if isinstance(value, LearningRateSchedule):
        start = float(value(0))
        return value, start if start > 0 else 0.5
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        return None, float(value)
    raise ValueError(
        f"`{name}` must be a float in [0, 1) or a LearningRateSchedule. "
        f"Received: {name}={value!r}")


class _ScheduledHyperparameters:
    """Mixin: schedules read a shared schedule step; momentum may be scheduled."""

    _momentum_attr = None  # "beta_1" or "momentum"

    def _track_learning_rate_variable(self):
        """Gives the optimizer a `learning_rate` variable even when it got a schedule.

        Keras creates that variable only for a float rate. Keeping one always
        means the variable layout (which checkpoints are matched by) is the
        same whether a schedule was passed, installed later, or neither.
        """
        if isinstance(learning_rate_object(self), keras.Variable):
            return
        with keras.name_scope(self.name, caller=self):
            variable = keras.Variable(
                float(keras.ops.convert_to_numpy(self._get_current_learning_rate())),
                name="learning_rate", dtype=keras.config.floatx(), trainable=False,
                aggregation="only_first_replica")
        track_variable(self, variable)

    @property
    def schedule_step(self):
        """The step schedules are evaluated on (a parent's counter if attached)."""
        source = getattr(self, "_schedule_step_source", None)
        return self.iterations if source is None else source()

    def attach_schedule_step(self, source):
        """Evaluates this optimizer's schedules on `source()` instead of `iterations`."""
        self._schedule_step_source = source

    def _get_current_learning_rate(self):
        cached = getattr(self, "_step_learning_rate", None)
        if cached is not None:
            return cached
        schedule = learning_rate_object(self)
        if isinstance(schedule, LearningRateSchedule):
            return schedule(self.schedule_step)
        return super()._get_current_learning_rate()

    @property
    def momentum_schedule(self):
        return self._momentum_schedule

    @momentum_schedule.setter
    def momentum_schedule(self, schedule):
        if schedule is not None and not isinstance(schedule, LearningRateSchedule):
            raise ValueError(
                "`momentum_schedule` must be a LearningRateSchedule or None. "
                f"Received: {schedule!r}")
        self._momentum_schedule = schedule

    def current_momentum(self):
        """The momentum (beta_1 for Adam) the next step will use."""
        if self._momentum_schedule is None:
            return getattr(self, self._momentum_attr)
        return self._momentum_schedule(self.schedule_step)

    def apply(self, grads, trainable_variables=None):
        # Schedules are evaluated once per step. Keras reads `learning_rate`
        # again for every variable's weight decay, and update_step reads the
        # momentum for every variable: both get these tensors.
        if self._momentum_schedule is not None:
            self._step_momentum = ops.cast(self.current_momentum(), "float32")
        schedule = learning_rate_object(self)
        if isinstance(schedule, LearningRateSchedule):
            self._step_learning_rate = schedule(self.schedule_step)
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_learning_rate = None

    def get_config(self):
        config = super().get_config()
        if self._momentum_schedule is not None:
            config[self._momentum_attr] = serialize_keras_object(self._momentum_schedule)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get(cls._momentum_attr), dict):
            config[cls._momentum_attr] = deserialize_keras_object(
                config[cls._momentum_attr], custom_objects=custom_objects)
        return super().from_config(config, custom_objects=custom_objects)


@_REGISTER
class ScheduledAdam(_ScheduledHyperparameters, keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose `beta_1` may be a schedule.

    Bias correction uses the current `beta_1` raised to the optimizer's own
    step count, as fastai's Adam does.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        beta_1: float or `LearningRateSchedule` (e.g. `OneCycleMomentum`).
        **kwargs: any other `keras.optimizers.Adam` argument.

    Example:

    >>> from dlkeras.schedules import OneCycleMomentum
    >>> optimizer = ScheduledAdam(1e-3, beta_1=OneCycleMomentum(total_steps=10))
    """

    _momentum_attr = "beta_1"

    def __init__(self, learning_rate=0.001, beta_1=0.9, **kwargs):
        schedule, constant = _split_momentum("beta_1", beta_1)
        super().__init__(learning_rate=learning_rate, beta_1=constant, **kwargs)
        self._momentum_schedule = schedule
        self._track_learning_rate_variable()

    def update_step(self, gradient, variable, learning_rate):
        if self._momentum_schedule is None:
            return super().update_step(gradient, variable, learning_rate)
        constant = self.beta_1
        self.beta_1 = self._step_momentum  # Keras' Adam math reads self.beta_1
        try:
            super().update_step(gradient, variable, learning_rate)
        finally:
            self.beta_1 = constant


@_REGISTER
class ScheduledAdamW(ScheduledAdam):
    """Adam with decoupled weight decay, whose `beta_1` may be a schedule.

    The decay is `variable -= variable * weight_decay * learning_rate` with
    the learning rate of this step, so it follows each group's schedule.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        weight_decay: decoupled decay factor (fastai's default 0.01).
        beta_1: float or `LearningRateSchedule`.
        **kwargs: any other `keras.optimizers.Adam` argument.

    Example:

    >>> optimizer = ScheduledAdamW(1e-3, weight_decay=0.1)
    >>> optimizer.weight_decay
    0.1
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.01, beta_1=0.9, **kwargs):
        if not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ValueError(
                "`weight_decay` must be a float >= 0. "
                f"Received: weight_decay={weight_decay!r}")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1,
                         weight_decay=float(weight_decay), **kwargs)


@_REGISTER
class ScheduledSGD(_ScheduledHyperparameters, keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose `momentum` may be a schedule.

    Uses Keras' momentum form `m = momentum * m - lr * g; w += m`.

    Example:

    >>> from dlkeras.schedules import OneCycleMomentum
    >>> optimizer = ScheduledSGD(0.1, momentum=OneCycleMomentum(total_steps=10))
    """

    _momentum_attr = "momentum"

    def __init__(self, learning_rate=0.01, momentum=0.0, **kwargs):
        schedule, constant = _split_momentum("momentum", momentum)
        super().__init__(learning_rate=learning_rate, momentum=constant, **kwargs)
        self._momentum_schedule = schedule
        self._track_learning_rate_variable()

    def update_step(self, gradient, variable, learning_rate):
        if self._momentum_schedule is None:
            return super().update_step(gradient, variable, learning_rate)
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        momentum = ops.cast(self._step_momentum, variable.dtype)
        m = self.momentums[variable_index(self, variable)]
        step = ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate))
        self.assign(m, step)
        if self.nesterov:
            step = ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate))
        self.assign_add(variable, step)


def sub_optimizers(optimizer):
    """The optimizers that own learning rates: the groups', or `[optimizer]`."""
    inner = getattr(optimizer, "optimizers", None)
    return list(inner) if inner else [optimizer]


def supports_momentum_schedule(optimizer):
    return isinstance(optimizer, _ScheduledHyperparameters)


def schedule_step_of(optimizer):
    """The step at which `optimizer`'s schedules are evaluated now."""
    if isinstance(optimizer, _ScheduledHyperparameters):
        return optimizer.schedule_step
    return optimizer.iterations
