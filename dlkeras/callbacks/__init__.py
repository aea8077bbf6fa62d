"""Keras callbacks: LR finder, one-cycle, logging, gradual unfreezing, checkpoints, loss guard."""

from dlkeras.callbacks.checkpointing import Checkpointing
from dlkeras.callbacks.gradual_unfreezing import GradualUnfreezing
from dlkeras.callbacks.hyperparameter_logger import HyperparameterLogger, hyperparameters_at
from dlkeras.callbacks.lr_finder import LRFinder
from dlkeras.callbacks.non_finite_loss import NonFiniteLossError, StopOnNonFiniteLoss
from dlkeras.callbacks.one_cycle import OneCycle

__all__ = ["Checkpointing", "GradualUnfreezing", "HyperparameterLogger", "LRFinder",
           "NonFiniteLossError", "OneCycle", "StopOnNonFiniteLoss", "hyperparameters_at"]
