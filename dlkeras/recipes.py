"""Thin recipes over `model.fit`: `lr_find`, `fit_one_cycle`, `fine_tune`.

They only build callbacks and schedules; the data arguments are exactly
those of `model.fit`.

Example:

>>> import keras, numpy as np
>>> from dlkeras import ScheduledAdamW, fit_one_cycle, lr_find
>>> x = np.random.rand(128, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer=ScheduledAdamW(), loss="mse")
>>> finder = lr_find(model, x, y, batch_size=32, num_steps=30, verbose=0)
>>> lr_max = finder.suggestion or 1e-3  # None: no trustworthy suggestion (see the reason)
>>> history = fit_one_cycle(model, x, y, epochs=2, lr_max=lr_max, batch_size=32, verbose=0)
>>> sorted(history.history)
['loss', 'lr', 'momentum']
"""

import math

import keras
import numpy as np
import tensorflow as tf

from dlkeras.callbacks import HyperparameterLogger, LRFinder, OneCycle
from dlkeras.discriminative import DiscriminativeOptimizer
from dlkeras.freezing import freeze, unfreeze
from dlkeras.keras_internals import prebuild_training_state, training_state_built


def _require_compiled(model):
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            f"Model {model.name!r} is not compiled: call model.compile(optimizer=..., "
            "loss=...) first.")


def _first_dimension(x):
    first = keras.tree.flatten(x)[0]
    return len(first)


def _batch_spec(x, y, sample_weight, batch_size):
    """Something shaped like one batch of the data, without reading a dataset."""
    if isinstance(x, tf.data.Dataset):
        return x.element_spec
    if isinstance(x, keras.utils.PyDataset):
        return x[0]
    rows = batch_size or 32
    parts = tuple(part for part in (x, y, sample_weight) if part is not None)
    return keras.tree.map_structure(lambda a: np.asarray(a)[:rows], parts)


def _prebuild(model, x, y, sample_weight, batch_size):
    """Creates the loss and metric state before the first trace, so it happens once.

    Keras otherwise creates it inside the first traced train step, and a
    `tf.function` that creates variables is traced twice.
    """
    if training_state_built(model):
        return
    try:
        prebuild_training_state(model, _batch_spec(x, y, sample_weight, batch_size))
    except Exception:  # noqa: BLE001 - only a speed-up: fit then builds (or fails) as usual
        pass


def lr_find(model, x, y=None, *, num_steps=100, start_lr=1e-7, end_lr=10.0,
            batch_size=None, log_dir=None, callbacks=None, verbose="auto", **fit_kwargs):
    """Runs the LR range test on `model` and puts the model back as it was.

    Short datasets are cycled through until the sweep ends. The sweep runs
    one step at a time whatever `steps_per_execution` the model was compiled
    with, and restores it. Weights, optimizer state, learning-rate schedules,
    `steps_per_execution` and the train function are restored however the
    sweep ends: done, diverged, NaN, or an exception (including
    `KeyboardInterrupt` and errors raised by `callbacks`).

    Args:
        model: a compiled model.
        x, y, batch_size, **fit_kwargs: as for `model.fit` (no validation).
        num_steps, start_lr, end_lr: the sweep (see `LRFinder`).
        log_dir: TensorBoard logdir for the plot, or None.
        callbacks: more callbacks to run during the sweep.

    Returns:
        The `LRFinder`: `suggestion` (a float, or None with
        `no_suggestion_reason` saying why), `suggestions` by rule, `lrs`,
        `raw_losses`, `losses` and `plot()`.
    """
    _require_compiled(model)
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"`num_steps` must be an integer >= 1. Received: num_steps={num_steps!r}")
    for ignored in ("validation_data", "validation_split", "epochs", "steps_per_epoch"):
        fit_kwargs.pop(ignored, None)
    finder = LRFinder(start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, log_dir=log_dir)
    all_callbacks = [finder] + list(callbacks or [])
    _prebuild(model, x, y, fit_kwargs.get("sample_weight"), batch_size)
    try:
        if isinstance(x, tf.data.Dataset):
            # One call to spare: the finder stops itself after num_steps points.
            model.fit(x.repeat(), epochs=1, steps_per_epoch=num_steps + 1,
                      callbacks=all_callbacks, verbose=verbose, **fit_kwargs)
            return finder
        if isinstance(x, keras.utils.PyDataset):
            per_epoch = len(x)
        else:
            per_epoch = math.ceil(_first_dimension(x) / (batch_size or 32))
        if per_epoch < 1:
            raise ValueError("lr_find got an empty dataset.")
        model.fit(x, y, batch_size=batch_size, epochs=math.ceil(num_steps / per_epoch) + 1,
                  callbacks=all_callbacks, verbose=verbose, **fit_kwargs)
        return finder
    finally:
        finder.restore()


def fit_one_cycle(model, x, y=None, *, epochs, lr_max, div=25.0, div_final=1e5,
                  pct_start=0.25, moms=(0.95, 0.85, 0.95), log_dir=None, callbacks=None,
                  **fit_kwargs):
    """`model.fit` under the one-cycle policy, logging learning rates and momentum.

    Args:
        model: a compiled model (dlkeras optimizers schedule momentum too).
        x, y, **fit_kwargs: as for `model.fit`.
        epochs: number of epochs of the cycle.
        lr_max: peak rate: float, `(lo, hi)` over layer groups, or a list.
        div, div_final, pct_start, moms: as for `OneCycle`.
        log_dir: TensorBoard logdir (Keras' TensorBoard callback plus the
            hyper-parameter scalars), or None.
        callbacks: more callbacks.

    Returns:
        The `History`, with `lr`/`momentum` (per group) next to the metrics.
    """
    _require_compiled(model)
    schedule = [OneCycle(lr_max, div=div, div_final=div_final, pct_start=pct_start, moms=moms),
                HyperparameterLogger(log_dir=log_dir)]
    if log_dir is not None:
        schedule.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)))
    return model.fit(x, y, epochs=epochs, callbacks=schedule + list(callbacks or []),
                     **fit_kwargs)


def fine_tune(model, x, y=None, *, epochs, layer_groups, base_lr=2e-3, freeze_epochs=1,
              lr_mult=100, pct_start=0.3, div=5.0, train_bn=True, log_dir=None,
              callbacks=None, **fit_kwargs):
    """fastai's transfer-learning recipe: train the head frozen, then everything.

    First `freeze_epochs` of one-cycle at `base_lr` with all groups but the
    head frozen (`pct_start=0.99`); then, unfrozen, `epochs` of one-cycle
    with rates spread from `base_lr / 2 / lr_mult` (first group) to
    `base_lr / 2` (head).

    Args:
        model: compiled with `discriminative_optimizer(layer_groups, ...)`.
        x, y, **fit_kwargs: as for `model.fit`.
        epochs: unfrozen epochs.
        layer_groups: the `LayerGroups` the optimizer was built from.
        base_lr, freeze_epochs, lr_mult, pct_start, div: the recipe's knobs.
        train_bn: keep normalization layers of frozen groups trainable.

    Returns:
        `[frozen_history, unfrozen_history]` (the first is None if
        `freeze_epochs == 0`).
    """
    _require_compiled(model)
    optimizer = model.optimizer
    if not isinstance(optimizer, DiscriminativeOptimizer) or \
            len(optimizer.optimizers) != len(layer_groups):
        raise ValueError(
            "fine_tune needs the model compiled with "
            "dlkeras.discriminative_optimizer(layer_groups, base_optimizer) over the same "
            f"{len(layer_groups)} layer groups; got {type(optimizer).__name__}.")
    if epochs < 1 or freeze_epochs < 0:
        raise ValueError(
            "`epochs` must be >= 1 and `freeze_epochs` >= 0. "
            f"Received: epochs={epochs}, freeze_epochs={freeze_epochs}")
    histories = [None]
    common = dict(log_dir=log_dir, callbacks=callbacks, **fit_kwargs)
    if freeze_epochs:
        freeze(model, layer_groups, train_bn=train_bn)
        histories[0] = fit_one_cycle(model, x, y, epochs=freeze_epochs,
                                     lr_max=(base_lr / 10, base_lr), pct_start=0.99, **common)
    unfreeze(model, layer_groups)
    half = base_lr / 2
    histories.append(fit_one_cycle(
        model, x, y, epochs=freeze_epochs + epochs, initial_epoch=freeze_epochs,
        lr_max=(half / lr_mult, half), pct_start=pct_start, div=div, **common))
    return histories
