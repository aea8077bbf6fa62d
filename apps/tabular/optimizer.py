"""AdamW for the tabular app: dlkeras' `ScheduledAdamW` with one learning-rate read per step.

Keras' weight decay (`_apply_weight_decay`, TF backend) reads
`self.learning_rate` once per variable; with a `LearningRateSchedule` that
re-evaluates the whole schedule graph for every variable, so a one-cycle
schedule was traced and run 14 times per step for this 13-variable model.
This subclass reads it once per step and applies the same decoupled decay
(`w -= w * weight_decay * lr`). Semantics are unchanged; see the tests.
A candidate for the core's `ScheduledAdamW` (reported upstream).
"""
from __future__ import annotations

import keras
from keras import ops

from dlkeras.optimizers import ScheduledAdamW


@keras.saving.register_keras_serializable(package="dlkeras")
class TabularAdamW(ScheduledAdamW):
    """`ScheduledAdamW` whose weight decay evaluates the learning rate once per step.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        weight_decay: decoupled decay factor.
        **kwargs: any other `ScheduledAdamW` argument.

    Example:
        >>> optimizer = TabularAdamW(1e-3, weight_decay=0.01, beta_2=0.99, epsilon=1e-5)
        >>> optimizer.weight_decay
        0.01
    """

    def _apply_weight_decay(self, variables):
        if not self.weight_decay:
            return
        learning_rate = self.learning_rate  # one schedule evaluation for all variables
        for variable in variables:
            if self._use_weight_decay(variable):
                factor = ops.cast(self.weight_decay, variable.dtype) * ops.cast(
                    learning_rate, variable.dtype)
                variable.assign(variable - variable * factor)
