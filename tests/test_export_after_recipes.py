"""A model can be exported and checkpointed after lr_find and fit_one_cycle.

Keras' own `learning_rate` setter untracks a variable, which makes
TensorFlow refuse to save the model; dlkeras installs schedules without it.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras import ScheduledAdamW, ScheduledSGD, fit_one_cycle, lr_find

from core_fixtures import regression_data

OPTIMIZERS = {
    "dlkeras-adamw": lambda: ScheduledAdamW(1e-3),
    "dlkeras-sgd": lambda: ScheduledSGD(1e-2, momentum=0.9),
    "keras-adam": lambda: keras.optimizers.Adam(1e-3),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_export_and_reload_after_lr_find_and_one_cycle(name, tmp_path):
    x, y = regression_data(n=64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=OPTIMIZERS[name](), loss="mse")
    layout = [v.path for v in model.optimizer.variables]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # plain Keras: no momentum schedule
        finder = lr_find(model, x, y, batch_size=16, total_steps=10, verbose=0)
        # 10 steps rarely give a trustworthy suggestion (None then): the test is the export.
        fit_one_cycle(model, x, y, epochs=2, lr_max=finder.suggestion or 1e-3, batch_size=16,
                      verbose=0)
    assert [v.path for v in model.optimizer.variables][:len(layout)] == layout

    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x[:5]).numpy(), model.predict(x[:5], verbose=0),
                               rtol=1e-5, atol=1e-6)

    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Skipping variable loading for optimizer" would fail
        reloaded = keras.models.load_model(tmp_path / "m.keras")
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
