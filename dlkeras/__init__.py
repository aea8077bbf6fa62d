"""dlkeras: fast.ai-grade training practice for plain Keras 3.

The LR range test, the one-cycle policy with scheduled momentum,
discriminative learning rates over layer groups, freezing and gradual
unfreezing, as schedules evaluated inside the compiled step and callbacks
for `model.fit`.

Example:

>>> import keras, numpy as np
>>> import dlkeras
>>> x = np.random.rand(64, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer=dlkeras.ScheduledAdamW(), loss="mse")
>>> _ = dlkeras.fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, verbose=0)
"""

from dlkeras.callbacks import GradualUnfreezing, HyperparameterLogger, LRFinder, OneCycle
from dlkeras.cpu_threads import cpu_threads, set_cpu_threads
from dlkeras.discriminative import DiscriminativeOptimizer, discriminative_optimizer
from dlkeras.freezing import build_optimizer_for_unfreezing, freeze, freeze_to, unfreeze
from dlkeras.layer_groups import LayerGroup, LayerGroups, even_mults, spread_learning_rates
from dlkeras.lr_suggestions import (
                                    NoSuggestion,
                                    suggest_margin,
                                    suggest_minimum,
                                    suggest_steep,
                                    suggest_valley,
)
from dlkeras.optimizers import ScheduledAdam, ScheduledAdamW, ScheduledSGD
from dlkeras.recipes import fine_tune, fine_tune_group_ratios, fit_one_cycle, lr_find
from dlkeras.schedules import (
                                    ExponentialSweep,
                                    FlatCosSchedule,
                                    OneCycleMomentum,
                                    OneCycleSchedule,
                                    SGDRSchedule,
                                    TriangularSchedule,
)

__version__ = "0.1.0"

__all__ = [
    "DiscriminativeOptimizer", "ExponentialSweep", "FlatCosSchedule", "GradualUnfreezing",
    "HyperparameterLogger", "LRFinder", "LayerGroup", "LayerGroups", "NoSuggestion", "OneCycle",
    "OneCycleMomentum", "OneCycleSchedule", "SGDRSchedule", "ScheduledAdam",
    "ScheduledAdamW", "ScheduledSGD", "TriangularSchedule", "build_optimizer_for_unfreezing",
    "cpu_threads",
    "discriminative_optimizer", "even_mults", "fine_tune", "fine_tune_group_ratios", "fit_one_cycle", "freeze",
    "freeze_to", "lr_find", "set_cpu_threads", "spread_learning_rates", "suggest_margin", "suggest_minimum",
    "suggest_steep",
    "suggest_valley", "unfreeze",
]
