"""Exact resume: killed mid-epoch in fine_tune's frozen phase and again after unfreezing."""
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import dlkeras
from dlkeras.callbacks import NonFiniteLossError
from dlkeras.checkpoints import read_training_state
from dlkeras.data import training_batches

RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resume_run.py")


def run(out_dir, kill_at=None, app=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    args = [sys.executable, RUN, str(out_dir), str(kill_at or 0)] + ([app] if app else [])
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def saved_weights(out_dir):
    with np.load(out_dir / "weights.npz") as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def test_sigkill_in_both_phases_then_resume_gives_the_uninterrupted_weights(tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert run(reference).returncode == 0
    # Frozen phase: 2 epochs x 6 steps; killed after step 9 (epoch 2, batch 3).
    first = run(resumed, kill_at=9)
    assert first.returncode == -signal.SIGKILL
    state, _ = read_training_state(resumed / "checkpoint")
    assert (state["phase"], state["step"]) == (0, 8)  # the last checkpoint: every 2 steps
    # Unfrozen phase starts at step 12; killed after step 15, mid-epoch again.
    second = run(resumed, kill_at=15)
    assert second.returncode == -signal.SIGKILL, second.stderr[-2000:]
    state, _ = read_training_state(resumed / "checkpoint")
    assert (state["phase"], state["step"]) == (1, 14)
    assert state["phases_done"][0]["loss"]  # the frozen phase's history is kept
    third = run(resumed)
    assert third.returncode == 0, third.stderr[-2000:]
    for expected, got in zip(saved_weights(reference), saved_weights(resumed)):
        np.testing.assert_array_equal(got, expected)
    assert not (resumed / "checkpoint" / "latest").exists()  # removed once done


def test_an_augmented_image_run_killed_twice_resumes_to_the_uninterrupted_weights(tmp_path):
    # The augmentation is drawn from (seed, batch position): the resumed batches are the
    # uninterrupted run's, augmented alike (Keras' random layers could not give this).
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert run(reference, app="image").returncode == 0
    first = run(resumed, kill_at=5, app="image")  # frozen epoch: steps 1-6
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    second = run(resumed, kill_at=9, app="image")  # unfrozen: steps 7-18
    assert second.returncode == -signal.SIGKILL, second.stderr[-2000:]
    state, _ = read_training_state(resumed / "checkpoint")
    assert (state["phase"], state["step"]) == (1, 8)
    third = run(resumed, app="image")
    assert third.returncode == 0, third.stderr[-2000:]
    for expected, got in zip(saved_weights(reference), saved_weights(resumed)):
        np.testing.assert_array_equal(got, expected)


def test_resuming_with_another_call_is_refused(tmp_path):
    x = np.ones((32, 2), "float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(dlkeras.ScheduledAdamW(), "mse")
    stream = training_batches(x, x[:, :1], 8)

    def crash(epoch, logs):
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        dlkeras.fit_one_cycle(model, stream, epochs=2, lr_max=1e-2, checkpoint_dir=tmp_path,
                              verbose=0, callbacks=[keras.callbacks.LambdaCallback(
                                  on_epoch_end=crash)])
    assert read_training_state(tmp_path)[0]["epochs_done"] == 1
    with pytest.raises(ValueError, match="another training call"):
        dlkeras.fit_one_cycle(model, stream, epochs=3, lr_max=1e-2, checkpoint_dir=tmp_path,
                              verbose=0)


def test_a_nan_loss_stops_with_a_clear_error_and_no_checkpoint_of_it(tmp_path):
    x = np.ones((32, 1), "float32")
    y = np.full((32, 1), 1e20, "float32")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e3), "mse")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1 \(optimizer steps 1\.\.4\).*lr_max"):
        dlkeras.fit_one_cycle(model, x, y, epochs=3, lr_max=1e3, batch_size=8,
                              checkpoint_dir=tmp_path, verbose=0)
    assert read_training_state(tmp_path) is None  # a diverged model is never checkpointed
