"""Training checkpoints that resume exactly: weights, optimizer, random state and position.

A checkpoint folder holds `latest/` (and `previous/`, the one before):

    weights.weights.h5   every weight of the model and every optimizer variable
                         (slots, step counters, learning-rate variables)
    random.npz           the state of the model's random generators (dropout)
    state.json           where training stands: phase, step, histories so far

A new checkpoint is written next to the old one and swapped in by renaming,
so a run killed while saving still has the previous checkpoint; a folder
that cannot be read falls back to `previous/`.

Example:

>>> import keras, tempfile
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
>>> model.compile("adam", "mse")
>>> folder = tempfile.mkdtemp()
>>> save_training_state(model, folder, {"step": 0})
>>> load_training_state(model, folder)
{'step': 0}
"""

import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

STATE_FILE = "state.json"
WEIGHTS_FILE = "weights.weights.h5"
RANDOM_FILE = "random.npz"


def _random_state_variables(model):
    """Variables of the model that are neither weights nor optimizer state: RNG states."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def save_training_state(model, directory, state):
    """Writes a checkpoint of `model` (with its optimizer) and the JSON-able `state`."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(state, indent=1)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".writing-", dir=directory))
    try:
        model.save_weights(staging / WEIGHTS_FILE)
        np.savez(staging / RANDOM_FILE,
                 *[np.asarray(v.numpy()) for v in _random_state_variables(model)])
        (staging / STATE_FILE).write_text(text)
        latest, previous = directory / "latest", directory / "previous"
        if latest.exists():
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(latest, previous)
        os.replace(staging, latest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_training_state(directory):
    """The `state.json` of the newest readable checkpoint in `directory`, or None."""
    for name in ("latest", "previous"):
        folder = pathlib.Path(directory) / name
        try:
            return json.loads((folder / STATE_FILE).read_text()), folder
        except (OSError, ValueError):
            continue
    return None


def load_training_state(model, directory):
    """Restores the newest checkpoint in `directory` into `model`; returns its state or None.

    The model must be built as when the checkpoint was written, and its
    optimizer built on the same variables (dlkeras builds it on every
    variable that may ever train, whatever is frozen).
    """
    found = read_training_state(directory)
    if found is None:
        return None
    state, folder = found
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        from dlkeras.freezing import build_optimizer_for_unfreezing

        build_optimizer_for_unfreezing(model)
    model.load_weights(folder / WEIGHTS_FILE)
    with np.load(folder / RANDOM_FILE) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    variables = _random_state_variables(model)
    if len(values) != len(variables):
        raise ValueError(f"The checkpoint in {str(folder)!r} holds {len(values)} random "
                         f"states; the model has {len(variables)}: it is not this model's.")
    for variable, value in zip(variables, values):
        variable.assign(value)
    return state


def remove_training_state(directory):
    """Deletes the checkpoints in `directory` (after a run completed)."""
    for name in ("latest", "previous"):
        shutil.rmtree(pathlib.Path(directory) / name, ignore_errors=True)
