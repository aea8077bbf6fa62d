"""Running a recipe's phases through `model.fit`, resumably and with a loss guard.

A recipe is one or more phases (`fine_tune`: frozen, then unfrozen); each
phase is one `fit` under schedules that start at a given optimizer step.
`run_phases` adds what every recipe needs:

- a guard that stops at the first epoch with a NaN or infinite loss and
  raises `NonFiniteLossError` (which says which steps and what to check);
- with `checkpoint_dir`, checkpoints at every epoch end (and every
  `checkpoint_every` steps), and resumption: the same call, run again after
  an interruption, restores the newest checkpoint and continues at the same
  optimizer step, with the same schedules, freeze state and data position.
  Phases already done are skipped; an epoch interrupted half-way is
  finished by a fit of its remaining steps before the following epochs.
  Data given as a `dlkeras.data.BatchStream` restarts at the exact batch,
  so the final weights are those of an uninterrupted run; other data
  restarts at the interrupted epoch's first batch, with the input's own
  shuffling.

Example:

>>> import keras, numpy as np
>>> from dlkeras.callbacks import OneCycle
>>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
>>> model.compile("adam", "mse")
>>> phase = TrainingPhase("cycle", epochs=2, first_epoch=0,
...                       schedules=lambda start, total: [OneCycle(1e-2, start_step=start,
...                                                                total_steps=total)])
>>> [h.history["loss"] != [] for h in run_phases(model, [phase], np.ones((8, 1)),
...                                               np.ones((8, 1)), verbose=0)]
[True]
"""

import dataclasses
import math
from typing import Callable, Optional

import keras

from dlkeras.callbacks.checkpointing import Checkpointing
from dlkeras.callbacks.non_finite_loss import StopOnNonFiniteLoss
from dlkeras.checkpoints import load_training_state, remove_training_state, save_training_state
from dlkeras.data import BatchStream
from dlkeras.distribute import check_output_ranks, check_steps_per_execution, prepare_for_fit
from dlkeras.freezing import build_optimizer_for_unfreezing
from dlkeras.installing import current_step
from dlkeras.keras_internals import call_traced_directly


@dataclasses.dataclass
class TrainingPhase:
    """One `fit` of a recipe.

    Args:
        name: the phase's name (in checkpoints and errors).
        epochs: epochs in this phase.
        first_epoch: the epoch number its first epoch has (phases of one
            recipe number their epochs on from each other).
        schedules: `schedules(start_step, total_steps) -> [callbacks]` that
            install the phase's schedules (e.g. `OneCycle`).
        setup: `setup(model)` run before the phase (e.g. freezing), also when
            it resumes.
        description: JSON-able settings of the phase; a checkpoint written
            with other settings is refused rather than resumed.
    """

    name: str
    epochs: int
    first_epoch: int
    schedules: Callable
    setup: Optional[Callable] = None
    description: dict = dataclasses.field(default_factory=dict)


def steps_per_epoch_of(x, fit_kwargs):
    """Batches per epoch of `fit`'s data, or None when it cannot be known."""
    if fit_kwargs.get("steps_per_epoch"):
        return int(fit_kwargs["steps_per_epoch"])
    if isinstance(x, BatchStream):
        return x.steps_per_epoch
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        count = int(x.cardinality())
        return count if count > 0 else None
    if isinstance(x, keras.utils.PyDataset):
        return len(x)
    rows = len(keras.tree.flatten(x)[0])
    if fit_kwargs.get("validation_split"):  # Keras trains on the first part only
        rows = int(math.ceil(rows * (1.0 - fit_kwargs["validation_split"])))
    return math.ceil(rows / (fit_kwargs.get("batch_size") or 32))


def _history(logs_by_key, epochs):
    history = keras.callbacks.History()
    history.history = {key: list(values) for key, values in logs_by_key.items()}
    history.epoch = list(epochs)
    return history


def _check_resumable(state, plan):
    if state.get("plan") != plan:
        raise ValueError(
            "The checkpoint in checkpoint_dir was written by another training call "
            f"({state.get('plan')}); this call is {plan}. Resume with the same call, or use "
            "another checkpoint_dir.")


def run_phases(model, phases, x, y=None, *, checkpoint_dir=None, checkpoint_every=None,
               callbacks=None, **fit_kwargs):
    """Runs the phases in order (resuming from `checkpoint_dir`); returns one History each.

    Args:
        model: the compiled model.
        phases: `TrainingPhase`s in order.
        x, y, **fit_kwargs: as for `model.fit` (`x` may be a `BatchStream`).
        checkpoint_dir: folder for resumable checkpoints, or None.
        checkpoint_every: also checkpoint every this many steps (BatchStream data).
        callbacks: more callbacks for every phase.

    Raises:
        NonFiniteLossError: an epoch's loss was NaN or infinite.
    """
    steps = steps_per_epoch_of(x, fit_kwargs)
    if steps is None:
        raise ValueError("The number of steps per epoch of this data cannot be known (a "
                         "dataset without a known length): pass `steps_per_epoch`.")
    plan = [{"phase": p.name, "epochs": p.epochs, **p.description} for p in phases]
    plan.append({"steps_per_epoch": steps})
    state = load_training_state(model, checkpoint_dir) if checkpoint_dir else None
    if state is not None:
        _check_resumable(state, plan)
    histories = []
    for index, phase in enumerate(phases):
        if state is not None and state["phase"] > index:
            done = state["phases_done"][index]
            histories.append(_history(done, range(phase.first_epoch,
                                                  phase.first_epoch + phase.epochs)))
            continue
        current = state if state is not None and state["phase"] == index else None
        histories.append(_run_phase(model, phase, index, x, y, steps, current, plan,
                                    [h.history for h in histories], checkpoint_dir,
                                    checkpoint_every, list(callbacks or []), fit_kwargs))
        state = None
    if checkpoint_dir:
        remove_training_state(checkpoint_dir)
    return histories


def _run_phase(model, phase, index, x, y, steps, state, plan, done, checkpoint_dir,
               checkpoint_every, callbacks, fit_kwargs):
    if phase.setup is not None:
        phase.setup(model)
    build_optimizer_for_unfreezing(model)
    check_steps_per_execution(model)
    check_output_ranks(model)
    prepare_for_fit(model)
    call_traced_directly(model)
    now = current_step(model.optimizer)
    start = state["phase_start_step"] if state else now
    epochs_done, batch = divmod(now - start, steps)
    history = dict(state["history"]) if state else {}
    guard = StopOnNonFiniteLoss()
    phase_callbacks = phase.schedules(start, phase.epochs * steps) + [guard]
    stream = isinstance(x, BatchStream)
    if checkpoint_dir:
        description = {"plan": plan, "phase": index, "phase_start_step": start,
                       "phases_done": done}
        phase_callbacks.append(Checkpointing(checkpoint_dir, description,
                                             checkpoint_every if stream else None, history))
    if stream:
        fit_kwargs = dict(fit_kwargs, shuffle=False)  # a stream shuffles itself
    first = phase.first_epoch + epochs_done
    end = phase.first_epoch + phase.epochs
    # An epoch interrupted half-way first finishes its remaining steps alone.
    segments = [(first, first + 1, steps - batch), (first + 1, end, steps)] if batch and stream \
        else [(first, end, steps)]
    for begin, stop, segment_steps in segments:
        if begin >= stop:
            continue
        data = x.dataset(begin * steps + (steps - segment_steps)) if stream else x
        kwargs = dict(fit_kwargs, steps_per_epoch=segment_steps) if stream or \
            fit_kwargs.get("steps_per_epoch") else dict(fit_kwargs)
        fitted = model.fit(data, y, initial_epoch=begin, epochs=stop,
                           callbacks=phase_callbacks + callbacks, **kwargs)
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(values)
        if guard.failure is not None:
            raise guard.failure
    if checkpoint_dir:
        save_training_state(model, checkpoint_dir, {
            "plan": plan, "phase": index + 1, "phases_done": done + [history],
            "phase_start_step": None, "step": None, "history": {}})
    return _history(history, range(phase.first_epoch, end))
