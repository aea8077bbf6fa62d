"""Records the learning rate(s) and momentum in `logs`, `History` and TensorBoard.

Example:

>>> import keras, numpy as np
>>> from dlkeras.callbacks import HyperparameterLogger
>>> x = np.random.rand(32, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
>>> history = model.fit(x, y, epochs=1, callbacks=[HyperparameterLogger()], verbose=0)
>>> round(history.history["lr"][0], 6)
0.01
"""

import keras
import numpy as np
from keras.optimizers.schedules import LearningRateSchedule

from dlkeras.installing import current_step
from dlkeras.keras_internals import learning_rate_object
from dlkeras.optimizers import sub_optimizers, supports_momentum_schedule
from dlkeras.step_evaluation import StepEvaluation


def _value(thing):
    return float(np.asarray(keras.ops.convert_to_numpy(thing)))


def hyperparameters_at(optimizer, step):
    """Learning rate and momentum each group's optimizer uses at `step`.

    Keys are `lr` and `momentum` for a single optimizer, and `lr/<group>`,
    `momentum/<group>` for a `DiscriminativeOptimizer`.
    """
    subs = sub_optimizers(optimizer)
    # One evaluation for every group, as in the train step (the groups' schedules
    # share their position, phase and shape), in NumPy on the host: dlkeras
    # schedules cost microseconds instead of eager TensorFlow ops (2 ms for three
    # groups under one-cycle). Other schedules are called on the step as they are.
    evaluation = StepEvaluation.on_host(step)
    values = {}
    for sub in subs:
        suffix = f"/{sub.name}" if len(subs) > 1 else ""
        rate = learning_rate_object(sub)
        values["lr" + suffix] = _value(evaluation.value(rate)
                                       if isinstance(rate, LearningRateSchedule)
                                       else sub.learning_rate)
        schedule = getattr(sub, "momentum_schedule", None) if supports_momentum_schedule(sub) else None
        if schedule is not None:
            values["momentum" + suffix] = _value(evaluation.value(schedule))
        else:
            for name in ("beta_1", "momentum"):
                if isinstance(getattr(sub, name, None), float):
                    values["momentum" + suffix] = getattr(sub, name)
                    break
    return values


class HyperparameterLogger(keras.callbacks.Callback):
    """Puts the current learning rate(s) and momentum into logs and TensorBoard.

    At each epoch end, the values used by the last step go into `logs` (so
    `History` and `keras.callbacks.TensorBoard` placed after it see them) and,
    with `log_dir`, into TensorBoard as one scalar per group. With
    `update_freq="batch"` or an integer N, values are also recorded every
    N steps into `self.steps` (a list of dicts with a `step` key) and
    TensorBoard; this adds a per-batch Python call, so keep "epoch" for speed.

    Args:
        log_dir: TensorBoard logdir (scalars go to its `train` run), or None.
        update_freq: "epoch", "batch", or an integer number of batches.
    """

    def __init__(self, log_dir=None, update_freq="epoch"):
        super().__init__()
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq >= 1):
            raise ValueError(
                "`update_freq` must be 'epoch', 'batch' or an integer >= 1. "
                f"Received: update_freq={update_freq!r}")
        self.log_dir, self.update_freq = log_dir, update_freq
        self.steps = []
        self._writer = None
        if update_freq != "epoch":
            # Only then does a batch hook exist, so Keras keeps async dispatch otherwise.
            self.on_train_batch_end = self._record_batch

    def _write(self, values, step):
        if self.log_dir is None:
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/train")
        with self._writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)

    def _last_step(self):
        return current_step(self.model.optimizer) - 1

    def _record_batch(self, batch, logs=None):
        if (batch + 1) % self.update_freq:
            return
        step = self._last_step()
        values = hyperparameters_at(self.model.optimizer, step)
        self.steps.append({"step": step, **values})
        self._write({f"batch_{k}": v for k, v in values.items()}, step)

    def on_epoch_end(self, epoch, logs=None):
        values = hyperparameters_at(self.model.optimizer, self._last_step())
        if logs is not None:
            logs.update(values)
        self._write(values, epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()
