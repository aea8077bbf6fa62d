"""However an LR sweep ends, the model is put back exactly as it was."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras import LRFinder, ScheduledAdamW, discriminative_optimizer, fit_one_cycle, lr_find
from dlkeras.keras_internals import learning_rate_object
from dlkeras.optimizers import sub_optimizers

from core_fixtures import regression_data, three_layer_model, weights_of


class FailAt(keras.callbacks.Callback):
    """Raises `error` at the end of batch `batch`."""

    def __init__(self, batch, error):
        super().__init__()
        self.batch, self.error = batch, error

    def on_train_batch_end(self, batch, logs=None):
        if batch >= self.batch:
            raise self.error


def trained_model(optimizer="adam", steps_per_execution=1):
    """A model trained for an epoch (non-zero optimizer state), and its data."""
    x, y = regression_data(n=64)
    model, groups = three_layer_model(batch_norm=True)
    if optimizer == "adam":
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse",
                      steps_per_execution=steps_per_execution)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    elif optimizer == "one_cycle":  # a OneCycleSchedule stays installed after the fit
        model.compile(optimizer=ScheduledAdamW(), loss="mse",
                      steps_per_execution=steps_per_execution)
        fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, batch_size=16, verbose=0)
    else:
        model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW(),
                                                         [1e-4, 1e-3, 1e-2]),
                      loss="mse", steps_per_execution=steps_per_execution)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return model, x, y


def state_of(model):
    return {
        "weights": weights_of(model),
        "optimizer": [v.numpy().copy() for v in model.optimizer.variables],
        "rates": [learning_rate_object(sub) for sub in sub_optimizers(model.optimizer)],
        "steps_per_execution": model.steps_per_execution,
        "train_function": model.train_function,
    }


def assert_restored(model, before):
    after = state_of(model)
    for path, value in before["weights"].items():
        np.testing.assert_array_equal(after["weights"][path], value, err_msg=path)
    for old, new in zip(before["optimizer"], after["optimizer"]):
        np.testing.assert_array_equal(new, old)
    assert all(a is b for a, b in zip(after["rates"], before["rates"]))
    assert after["steps_per_execution"] == before["steps_per_execution"]
    assert after["train_function"] is before["train_function"]


@pytest.mark.parametrize("optimizer, steps_per_execution", [
    ("adam", 1), ("adam", 3), ("one_cycle", 1), ("groups", 3)])
@pytest.mark.parametrize("error", [RuntimeError("callback failed"), KeyboardInterrupt()])
def test_an_error_from_a_callback_mid_sweep(optimizer, steps_per_execution, error):
    model, x, y = trained_model(optimizer, steps_per_execution)
    before = state_of(model)
    with pytest.raises(type(error)):
        lr_find(model, x, y, batch_size=16, total_steps=30, verbose=0,
                callbacks=[FailAt(2, error)])
    assert_restored(model, before)


def nan_row_dataset(x, y, bad_row):
    """Batches of 8; the batch holding `bad_row` fails a numerics check (a data error)."""
    x = x.copy()
    x[bad_row] = np.nan
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    return dataset.map(lambda a, b: (tf.debugging.check_numerics(a, "bad input row"), b)).batch(8)


def test_a_data_error_mid_sweep():
    model, x, y = trained_model("one_cycle")
    before = state_of(model)
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad input row"):
        lr_find(model, nan_row_dataset(x, y, bad_row=40), total_steps=30, verbose=0)
    assert_restored(model, before)


def test_the_callback_alone_restores_after_an_error_in_a_step():
    model, x, y = trained_model("groups", steps_per_execution=2)
    before = state_of(model)
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad input row"):
        model.fit(nan_row_dataset(x, y, bad_row=40), epochs=1,
                  callbacks=[LRFinder(total_steps=30)], verbose=0)
    assert_restored(model, before)


def test_a_nan_loss_stops_the_sweep_and_restores():
    model, x, y = trained_model("adam")
    y = y.copy()
    y[40:] = np.nan  # the loss is NaN from the sixth batch of 8 on
    before = state_of(model)
    finder = lr_find(model, x, y, batch_size=8, total_steps=30, shuffle=False, verbose=0)
    assert finder.diverged and len(finder.raw_losses) == 6
    assert not np.isfinite(finder.raw_losses[-1])
    assert finder.suggestion is None and finder.no_suggestion_reason.startswith(
        "diverged at once: the loss went from")
    assert_restored(model, before)
