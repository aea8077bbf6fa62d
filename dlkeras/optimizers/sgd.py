"""SGD whose momentum may be a schedule.

Example:

>>> from dlkeras.optimizers import ScheduledSGD
>>> from dlkeras.schedules import OneCycleMomentum
>>> optimizer = ScheduledSGD(0.1, momentum=OneCycleMomentum(total_steps=10))
>>> round(float(optimizer.current_momentum()), 6)
0.95
"""

import keras
from keras import ops

from dlkeras.keras_internals import variable_index
from dlkeras.optimizers.scheduled import ScheduledHyperparameters, momentum_argument


@keras.saving.register_keras_serializable(package="dlkeras")
class ScheduledSGD(ScheduledHyperparameters, keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose `momentum` may be a schedule.

    Uses Keras' momentum form `m = momentum * m - lr * g; w += m`.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        momentum: float in [0, 1] or `LearningRateSchedule`.
        nesterov: as for `keras.optimizers.SGD`.
        weight_decay_exclude: regexes; variables whose path matches one get
            no weight decay.
        **kwargs: any other `keras.optimizers.SGD` argument.

    Example:

    >>> optimizer = ScheduledSGD(0.1, momentum=0.9, nesterov=True)
    >>> optimizer.nesterov
    True
    """

    _momentum_attr = "momentum"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, *,
                 weight_decay_exclude=None, **kwargs):
        schedule, constant = momentum_argument("momentum", momentum, allow_one=True)
        super().__init__(learning_rate=learning_rate, momentum=constant, nesterov=nesterov,
                         **kwargs)
        self._init_scheduled(schedule, weight_decay_exclude)

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
