"""Keras callbacks: LR finder, one-cycle, hyper-parameter logging, gradual unfreezing."""

from dlkeras.callbacks.gradual_unfreezing import GradualUnfreezing
from dlkeras.callbacks.hyperparameter_logger import HyperparameterLogger, hyperparameters_at
from dlkeras.callbacks.lr_finder import LRFinder
from dlkeras.callbacks.one_cycle import OneCycle

__all__ = ["GradualUnfreezing", "HyperparameterLogger", "LRFinder", "OneCycle",
           "hyperparameters_at"]
