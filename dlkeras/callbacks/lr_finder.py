"""The LR range test as a Keras callback.

Example:

>>> import keras, numpy as np
>>> from dlkeras.callbacks import LRFinder
>>> x = np.random.rand(256, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="adam", loss="mse")
>>> finder = LRFinder(num_steps=40)
>>> _ = model.fit(x, y, batch_size=32, epochs=5, callbacks=[finder], verbose=0)
>>> len(finder.lrs) <= 40 and finder.suggestion > 0
True
"""

import math
import warnings

import keras

from dlkeras.freezing import build_optimizer_for_unfreezing
from dlkeras.installing import (OptimizerSnapshot, WeightsSnapshot, current_step,
                                install_learning_rate)
from dlkeras.lr_suggestions import SUGGESTERS
from dlkeras.optimizers import sub_optimizers
from dlkeras.plots import log_figure, plot_lr_finder
from dlkeras.schedules import ExponentialSweep


class LRFinder(keras.callbacks.Callback):
    """Sweeps the learning rate up exponentially and records the loss.

    Training stops by itself after `num_steps` steps, when the smoothed loss
    exceeds `stop_factor` times its best, or when the loss is not finite.
    Afterwards the model's weights and the optimizer's state (slots, step
    counter, learning-rate objects) are exactly what they were before.
    With layer groups, every group's rate is swept, keeping the ratios the
    groups had; `lrs` records the last group's rate.

    Args:
        start_lr: first learning rate of the sweep (last group).
        end_lr: learning rate reached after `num_steps`.
        num_steps: length of the sweep in optimizer steps.
        beta: smoothing of the loss (exponential moving average).
        stop_factor: stop when smoothed loss > stop_factor * best.
        log_dir: if set, the plot goes to TensorBoard there as an image.

    Attributes:
        lrs, losses: the sweep (losses smoothed); `raw_losses` unsmoothed.
        suggestions: dict of `valley`, `steep` and `minimum` suggestions.
        suggestion: the `valley` suggestion.
        diverged: whether the sweep stopped because the loss blew up.
    """

    def __init__(self, start_lr=1e-7, end_lr=10.0, num_steps=100, beta=0.98,
                 stop_factor=4.0, log_dir=None):
        super().__init__()
        ExponentialSweep(start_lr, end_lr, num_steps)  # validates the three
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"`beta` must be in [0, 1). Received: beta={beta!r}")
        if not stop_factor > 1.0:
            raise ValueError(f"`stop_factor` must be > 1. Received: stop_factor={stop_factor!r}")
        self.start_lr, self.end_lr, self.num_steps = float(start_lr), float(end_lr), num_steps
        self.beta, self.stop_factor, self.log_dir = beta, stop_factor, log_dir
        self.lrs, self.losses, self.raw_losses = [], [], []
        self.suggestions, self.suggestion, self.diverged = {}, None, False

    def _lr_at(self, step):
        fraction = min(max(step / self.num_steps, 0.0), 1.0)
        return self.start_lr * (self.end_lr / self.start_lr) ** fraction

    def on_train_begin(self, logs=None):
        model = self.model
        if getattr(model, "steps_per_execution", 1) > 1:
            warnings.warn(
                f"steps_per_execution={model.steps_per_execution}: the LR finder sees one "
                "averaged loss per execution, so its curve is coarser.", stacklevel=2)
        build_optimizer_for_unfreezing(model)
        self._weights = WeightsSnapshot(model)
        self._optimizer_state = OptimizerSnapshot(model.optimizer)
        subs = sub_optimizers(model.optimizer)
        rates = [float(keras.ops.convert_to_numpy(s.learning_rate)) for s in subs]
        top = rates[-1] if rates[-1] > 0 else 1.0
        self._start = current_step(model.optimizer)
        for sub, rate in zip(subs, rates):
            ratio = rate / top if rate > 0 else 1.0
            install_learning_rate(sub, ExponentialSweep(
                self.start_lr * ratio, self.end_lr * ratio, self.num_steps,
                start_step=current_step(sub)))
        model.make_train_function(force=True)
        self.lrs, self.losses, self.raw_losses = [], [], []
        self._average, self._count, self._best = 0.0, 0, math.inf
        self.diverged = False

    def on_train_batch_begin(self, batch, logs=None):
        self.model.reset_metrics()  # so the batch's logs hold this batch's loss only

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", math.nan))
        done = current_step(self.model.optimizer) - self._start
        self.raw_losses.append(loss)
        self.lrs.append(self._lr_at(done - 1))
        if not math.isfinite(loss):
            self.losses.append(loss)
            self.diverged = self.model.stop_training = True
            return
        self._count += 1
        self._average = self.beta * self._average + (1 - self.beta) * loss
        smooth = self._average / (1 - self.beta ** self._count)
        self.losses.append(smooth)
        self._best = min(self._best, smooth)
        if smooth > self.stop_factor * self._best:
            self.diverged = self.model.stop_training = True
        if done >= self.num_steps:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._weights.restore()
        self._optimizer_state.restore()
        self.model.make_train_function(force=True)
        lrs, losses = self.lrs, self.losses
        if len(lrs) > 10:
            # The first tenth is dominated by the smoothing's warm-up, the last
            # points are already blowing up: neither should be suggested.
            lrs, losses = lrs[len(lrs) // 10:-5], losses[len(losses) // 10:-5]
        try:
            self.suggestions = {name: f(lrs, losses) for name, f in SUGGESTERS.items()}
        except ValueError as error:
            warnings.warn(f"No learning-rate suggestion: {error}", stacklevel=2)
            self.suggestions = {}
        self.suggestion = self.suggestions.get("valley")
        if self.log_dir is not None and self.lrs:
            log_figure(self.plot(), self.log_dir, "lr_finder")

    def plot(self):
        """The loss against the learning rate, suggestions marked (a Figure)."""
        if not self.lrs:
            raise ValueError("The LR finder has not run yet: call fit with it first.")
        return plot_lr_finder(self.lrs, self.losses, self.suggestions)
