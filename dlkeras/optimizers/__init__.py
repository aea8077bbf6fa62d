"""dlkeras' optimizers: Keras' Adam, AdamW and SGD whose schedules take effect.

- `ScheduledAdam`, `ScheduledAdamW`, `ScheduledSGD` (`adam.py`, `sgd.py`):
  the momentum may be a schedule evaluated in the compiled step; schedules
  advance once per batch; Adam(W) has a fused and a lazy sparse update path.
- What they share with each other (`scheduled.py`): per-step schedule
  evaluation on a shared schedule step, `weight_decay_exclude`, EMA paired by
  identity under freezing.

Example:

>>> from dlkeras.optimizers import ScheduledAdamW, sub_optimizers
>>> optimizer = ScheduledAdamW(1e-3)
>>> sub_optimizers(optimizer) == [optimizer]
True
"""

import keras

from dlkeras.keras_internals import step_counter
from dlkeras.optimizers.adam import ScheduledAdam, ScheduledAdamW
from dlkeras.optimizers.scheduled import ScheduledHyperparameters
from dlkeras.optimizers.sgd import ScheduledSGD

__all__ = ["ScheduledAdam", "ScheduledAdamW", "ScheduledSGD", "schedule_step_of",
           "sub_optimizers", "supports_momentum_schedule"]


def _unwrap_loss_scale(optimizer):
    """The optimizer a `LossScaleOptimizer` wraps (mixed_float16 adds one)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def sub_optimizers(optimizer):
    """The optimizers that own learning rates: the groups', or `[optimizer]`.

    A `LossScaleOptimizer` is looked through: its inner optimizer does the work.
    """
    optimizer = _unwrap_loss_scale(optimizer)
    inner = getattr(optimizer, "optimizers", None)
    return list(inner) if inner else [optimizer]


def supports_momentum_schedule(optimizer):
    """Whether `optimizer` is a dlkeras optimizer that can follow a momentum schedule."""
    return isinstance(optimizer, ScheduledHyperparameters)


def schedule_step_of(optimizer):
    """The step at which `optimizer`'s schedules are evaluated now (one per batch)."""
    optimizer = _unwrap_loss_scale(optimizer)
    if isinstance(optimizer, ScheduledHyperparameters):
        return optimizer.schedule_step
    return step_counter(optimizer)
