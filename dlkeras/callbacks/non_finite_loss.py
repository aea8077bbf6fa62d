"""Stop training when the loss stops being a number, and say what to check.

Example:

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
>>> model.compile(keras.optimizers.SGD(1e30), "mse")
>>> guard = StopOnNonFiniteLoss()
>>> _ = model.fit(np.ones((8, 1)), np.full((8, 1), 1e20), epochs=3, callbacks=[guard], verbose=0)
>>> guard.failure.epoch
0
"""

import math

import keras

from dlkeras.installing import current_step


class NonFiniteLossError(ArithmeticError):
    """Training produced a NaN or infinite loss (the model's weights are unusable)."""

    def __init__(self, value, epoch, steps):
        self.value, self.epoch, self.steps = value, epoch, steps
        super().__init__(
            f"the training loss became {value} in epoch {epoch + 1} (optimizer steps "
            f"{steps[0]}..{steps[1]}); the model was not saved. Check the data for NaN or "
            "infinite values, and lower the learning rate (lr_max) or clip gradients "
            "(clipnorm=1.0).")


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` at the end of an epoch whose loss is NaN or infinite.

    The check is at epoch end, from the epoch's mean loss, so it adds no
    per-step work; the epoch's step range goes into the error. After the fit,
    `failure` holds a `NonFiniteLossError` (None if training went well); the
    recipes raise it.
    """

    def __init__(self):
        super().__init__()
        self.failure = None

    def on_train_begin(self, logs=None):
        self.failure = None
        self._epoch_start_step = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start_step = self._step()

    def _step(self):
        return current_step(self.model.optimizer)

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        last = self._step()
        self.failure = NonFiniteLossError(float(loss), epoch, (self._epoch_start_step + 1, last))
        self.model.stop_training = True
