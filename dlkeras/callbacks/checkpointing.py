"""Writes resumable checkpoints during `fit` (see `dlkeras.checkpoints`).

Used by the recipes when given `checkpoint_dir`; they read the checkpoint
back and restart at the same step with the same schedules, freeze state and
data position.

Example:

>>> import keras, numpy as np, tempfile
>>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
>>> model.compile("adam", "mse")
>>> folder = tempfile.mkdtemp()
>>> _ = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=2, verbose=0,
...               callbacks=[Checkpointing(folder, {"phase": 0})])
>>> from dlkeras.checkpoints import read_training_state
>>> read_training_state(folder)[0]["epochs_done"]
2
"""

import math

import keras

from dlkeras.checkpoints import save_training_state
from dlkeras.installing import current_step


class Checkpointing(keras.callbacks.Callback):
    """Saves weights, optimizer state, random state and position at epoch ends.

    Args:
        directory: the checkpoint folder.
        state: JSON-able dict saved with every checkpoint (the caller's
            description of the run: phase, its first step, ...); the
            callback adds `step` (batches the optimizer has applied), `epochs_done`
            and `history` (this fit's epoch logs so far).
        every_steps: also save every this many steps inside epochs (the data
            must be able to restart mid-epoch: a `dlkeras.data.BatchStream`);
            None saves at epoch ends only (no per-batch hook, so no per-step cost).
        history: epoch logs of earlier fits of the same phase, to carry on.
    """

    def __init__(self, directory, state, every_steps=None, history=None):
        super().__init__()
        if every_steps is not None and (not isinstance(every_steps, int) or every_steps < 1):
            raise ValueError(f"`every_steps` must be an integer >= 1 or None. "
                             f"Received: every_steps={every_steps!r}")
        self.directory, self.state, self.every_steps = directory, dict(state), every_steps
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self._epochs_done = None
        if every_steps is not None:
            # Only then is there a batch hook: Keras keeps async dispatch otherwise.
            self.on_train_batch_end = self._maybe_save

    def _step(self):
        return current_step(self.model.optimizer)

    def _save(self, epochs_done):
        save_training_state(self.model, self.directory, {
            **self.state, "step": self._step(), "epochs_done": epochs_done,
            "history": self.history})

    def on_epoch_begin(self, epoch, logs=None):
        self._epochs_done = epoch

    def _maybe_save(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return  # never checkpoint a diverged model
        if self._step() % self.every_steps == 0:
            self._save(self._epochs_done)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if "loss" in logs and not math.isfinite(float(logs["loss"])):
            return
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self._save(epoch + 1)
