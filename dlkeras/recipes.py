"""Thin recipes over `model.fit`: `lr_find`, `fit_one_cycle`, `fine_tune`.

They only build callbacks and schedules; the data arguments are exactly
those of `model.fit`.

Example:

>>> import keras, numpy as np
>>> from dlkeras import ScheduledAdamW, fit_one_cycle, lr_find
>>> x = np.random.rand(128, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer=ScheduledAdamW(), loss="mse")
>>> finder = lr_find(model, x, y, batch_size=32, total_steps=30, verbose=0)
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
from dlkeras.distribute import check_output_ranks, prepare_for_fit, strategy_scope
from dlkeras.freezing import freeze, unfreeze
from dlkeras.keras_internals import (
    call_traced_directly,
    prebuild_training_state,
    training_state_built,
)
from dlkeras.layer_groups import spread_learning_rates
from dlkeras.phases import TrainingPhase, run_phases


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
        with strategy_scope(model):
            prebuild_training_state(model, _batch_spec(x, y, sample_weight, batch_size))
    except Exception:  # noqa: BLE001 - only a speed-up: fit then builds (or fails) as usual
        pass


def lr_find(model, x, y=None, *, total_steps=100, start_lr=1e-7, end_lr=10.0,
            batch_size=None, log_dir=None, callbacks=None, group_ratios=None,
            recipe="fit_one_cycle", cycle="auto", verbose="auto", **fit_kwargs):
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
        total_steps, start_lr, end_lr: the sweep (see `LRFinder`).
        log_dir: TensorBoard logdir for the plot, or None.
        callbacks: more callbacks to run during the sweep.
        group_ratios: each layer group's rate as a multiple of the swept
            rate (see `LRFinder`); e.g. `fine_tune_group_ratios("unfrozen",
            n)` makes the sweep's rate `fine_tune`'s `lr_max`.
        recipe: the recipe that will train at the suggestion
            (`"fit_one_cycle"` or `"fine_tune"`), which sets how far below
            the divergence the default rule suggests (see `LRFinder`).
        cycle: the shape of the one-cycle that trains next (a dict of
            `OneCycle`'s `div`, `div_final`, `pct_start`, `moms`): the
            sweep runs through its schedules, so that cycle's `fit` reuses
            the sweep's traced step (see `LRFinder`). `"auto"`: `recipe`'s
            defaults (`fit_one_cycle`'s, or `fine_tune`'s unfrozen phase);
            None: the plain sweep.

    Returns:
        The `LRFinder`: `suggestion` (a float, or None with
        `no_suggestion_reason` saying why), `suggestions` by rule, `lrs`,
        `raw_losses`, `losses` and `plot()`.
    """
    _require_compiled(model)
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"`total_steps` must be an integer >= 1. Received: total_steps={total_steps!r}")
    for ignored in ("validation_data", "validation_split", "epochs", "steps_per_epoch"):
        fit_kwargs.pop(ignored, None)
    if cycle == "auto":
        cycle = recipe_cycle(recipe) if recipe in RECIPE_CYCLES else None
    finder = LRFinder(start_lr=start_lr, end_lr=end_lr, total_steps=total_steps, log_dir=log_dir,
                      group_ratios=group_ratios, recipe=recipe, cycle=cycle)
    all_callbacks = [finder] + list(callbacks or [])
    _prebuild(model, x, y, fit_kwargs.get("sample_weight"), batch_size)
    check_output_ranks(model)
    prepare_for_fit(model)
    call_traced_directly(model)
    try:
        if isinstance(x, tf.data.Dataset):
            # One call to spare: the finder stops itself after total_steps points.
            model.fit(x.repeat(), epochs=1, steps_per_epoch=total_steps + 1,
                      callbacks=all_callbacks, verbose=verbose, **fit_kwargs)
            return finder
        if isinstance(x, keras.utils.PyDataset):
            per_epoch = len(x)
        else:
            per_epoch = math.ceil(_first_dimension(x) / (batch_size or 32))
        if per_epoch < 1:
            raise ValueError("lr_find got an empty dataset.")
        model.fit(x, y, batch_size=batch_size, epochs=math.ceil(total_steps / per_epoch) + 1,
                  callbacks=all_callbacks, verbose=verbose, **fit_kwargs)
        return finder
    finally:
        finder.restore()


MOMS = (0.95, 0.85, 0.95)  # fastai's one-cycle momentum: (start, middle, end)
RECIPE_CYCLES = {
    "fit_one_cycle": dict(div=25.0, div_final=1e5, pct_start=0.25, moms=MOMS),
    ("fine_tune", "frozen"): dict(div=25.0, div_final=1e5, pct_start=0.99, moms=MOMS),
    ("fine_tune", "unfrozen"): dict(div=5.0, div_final=1e5, pct_start=0.3, moms=MOMS),
    "fine_tune": dict(div=5.0, div_final=1e5, pct_start=0.3, moms=MOMS),  # its unfrozen phase
}


def recipe_cycle(recipe, phase=None):
    """The shape of the one-cycle a recipe trains with at its defaults (`OneCycle`'s
    `div`, `div_final`, `pct_start`, `moms`), for `lr_find(cycle=...)`.

    Example:

    >>> recipe_cycle("fine_tune", "frozen")["pct_start"]
    0.99
    """
    key = recipe if phase is None else (recipe, phase)
    if key not in RECIPE_CYCLES:
        raise ValueError(f"No default cycle for recipe={recipe!r}, phase={phase!r}; expected "
                         f"one of {[k for k in RECIPE_CYCLES if isinstance(k, str)]} (with "
                         "phase 'frozen' or 'unfrozen' for fine_tune).")
    return dict(RECIPE_CYCLES[key])


def _schedule_callbacks(lr_max, div, div_final, pct_start, moms):
    """`schedules(start_step, total_steps)` for a `TrainingPhase`: a one-cycle policy."""
    def schedules(start_step, total_steps):
        return [OneCycle(lr_max, div=div, div_final=div_final, pct_start=pct_start, moms=moms,
                         total_steps=total_steps, start_step=start_step)]
    return schedules


def _logging_callbacks(log_dir):
    logging = [HyperparameterLogger(log_dir=log_dir)]
    if log_dir is not None:
        logging.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)))
    return logging


def _describe(lr_max):
    return list(lr_max) if isinstance(lr_max, (tuple, list)) else lr_max


def fit_one_cycle(model, x, y=None, *, epochs, lr_max, div=25.0, div_final=1e5,
                  pct_start=0.25, moms=MOMS, log_dir=None, callbacks=None,
                  checkpoint_dir=None, checkpoint_every=None, **fit_kwargs):
    """`model.fit` under the one-cycle policy, logging learning rates and momentum.

    Stops with a `NonFiniteLossError` at the end of the first epoch whose
    loss is NaN or infinite. With `checkpoint_dir`, it checkpoints as it goes
    and, called again the same way after an interruption, resumes where the
    newest checkpoint left off (see `dlkeras.phases`).

    Args:
        model: a compiled model (dlkeras optimizers schedule momentum too).
        x, y, **fit_kwargs: as for `model.fit`; `x` may be a `dlkeras.data.BatchStream`.
        epochs: number of epochs of the cycle.
        lr_max: peak rate: float, `(lo, hi)` over layer groups, or a list.
        div, div_final, pct_start, moms: as for `OneCycle`.
        log_dir: TensorBoard logdir (Keras' TensorBoard callback plus the
            hyper-parameter scalars), or None.
        callbacks: more callbacks.
        checkpoint_dir: folder for resumable checkpoints, or None.
        checkpoint_every: also checkpoint every this many steps inside epochs.

    Returns:
        The `History`, with `lr`/`momentum` (per group) next to the metrics.
    """
    _require_compiled(model)
    initial_epoch = fit_kwargs.pop("initial_epoch", 0)
    phase = TrainingPhase("one_cycle", epochs - initial_epoch, initial_epoch,
                          _schedule_callbacks(lr_max, div, div_final, pct_start, moms),
                          description={"lr_max": _describe(lr_max), "div": div,
                                       "pct_start": pct_start})
    return run_phases(model, [phase], x, y, checkpoint_dir=checkpoint_dir,
                      checkpoint_every=checkpoint_every,
                      callbacks=_logging_callbacks(log_dir) + list(callbacks or []),
                      **fit_kwargs)[0]


FINE_TUNE_PHASES = ("frozen", "unfrozen")


def _fine_tune_peaks(phase, lr_max, lr_mult):
    """`(lo, hi)` peak rates over the groups in a phase of `fine_tune` run at `lr_max`."""
    if phase == "frozen":
        return (lr_max / 10, lr_max)
    half = lr_max / 2
    return (half / lr_mult, half)


def fine_tune_group_ratios(phase, n_groups, lr_mult=100):
    """Each group's peak rate in a phase of `fine_tune`, as a multiple of its `lr_max`.

    `"frozen"`: from 1/10 (first group) to 1 (head), geometrically (only
    the head and normalization layers train); `"unfrozen"`: from
    `1 / 2 / lr_mult` to 1/2. Passed to `lr_find(group_ratios=...)`, the
    sweep's rates (and its suggestion) are `fine_tune`'s `lr_max`.

    Example:

    >>> [round(r, 4) for r in fine_tune_group_ratios("unfrozen", 3)]
    [0.005, 0.05, 0.5]
    """
    if phase not in FINE_TUNE_PHASES:
        raise ValueError(f"`phase` must be one of {FINE_TUNE_PHASES}. Received: phase={phase!r}")
    return spread_learning_rates(_fine_tune_peaks(phase, 1.0, lr_mult), n_groups)


def fine_tune(model, x, y=None, *, epochs, layer_groups, lr_max=2e-3, freeze_epochs=1,
              lr_mult=100, pct_start=0.3, div=5.0, train_bn=True, log_dir=None,
              callbacks=None, checkpoint_dir=None, checkpoint_every=None, **fit_kwargs):
    """fastai's transfer-learning recipe: train the head frozen, then everything.

    First `freeze_epochs` of one-cycle peaking at `lr_max` with all groups
    but the head frozen (`pct_start=0.99`); then, unfrozen, `epochs` of
    one-cycle with peak rates spread from `lr_max / 2 / lr_mult` (first
    group) to `lr_max / 2` (head). Interrupted with `checkpoint_dir`, the
    same call resumes in whichever phase it stopped (see `dlkeras.phases`).

    Args:
        model: compiled with `discriminative_optimizer(layer_groups, ...)`.
        x, y, **fit_kwargs: as for `model.fit`; `x` may be a `dlkeras.data.BatchStream`.
        epochs: unfrozen epochs.
        layer_groups: the `LayerGroups` the optimizer was built from.
        lr_max: peak rate of the frozen phase (fastai's `base_lr`).
        freeze_epochs, lr_mult, pct_start, div: the recipe's knobs.
        train_bn: keep normalization layers of frozen groups trainable.
        checkpoint_dir, checkpoint_every: as for `fit_one_cycle`.

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
    phases = [TrainingPhase(
        "unfrozen", epochs, freeze_epochs,
        _schedule_callbacks(_fine_tune_peaks("unfrozen", lr_max, lr_mult), div, 1e5, pct_start,
                            MOMS),
        setup=lambda m: unfreeze(m, layer_groups),
        description={"lr_max": lr_max, "lr_mult": lr_mult, "pct_start": pct_start})]
    if freeze_epochs:
        phases.insert(0, TrainingPhase(
            "frozen", freeze_epochs, 0,
            _schedule_callbacks(_fine_tune_peaks("frozen", lr_max, lr_mult),
                                **RECIPE_CYCLES[("fine_tune", "frozen")]),
            setup=lambda m: freeze(m, layer_groups, train_bn=train_bn),
            description={"lr_max": lr_max}))
    histories = run_phases(model, phases, x, y, checkpoint_dir=checkpoint_dir,
                           checkpoint_every=checkpoint_every,
                           callbacks=_logging_callbacks(log_dir) + list(callbacks or []),
                           **fit_kwargs)
    return histories if freeze_epochs else [None] + histories
