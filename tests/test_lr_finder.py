"""The LR range test: it restores everything, stops on divergence, cycles short data."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from core_fixtures import regression_data, three_layer_model, weights_of
from dlkeras import (HyperparameterLogger, LRFinder, ScheduledAdam, discriminative_optimizer,
                     lr_find, suggest_minimum, suggest_steep, suggest_valley)


def compiled_model(seed=0):
    model, groups = three_layer_model(seed=seed, batch_norm=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def optimizer_state(model):
    return [v.numpy().copy() for v in model.optimizer.variables]


def test_weights_and_optimizer_state_are_bit_identical_afterwards():
    x, y = regression_data(n=64)
    model = compiled_model()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)  # non-zero Adam slots
    weights, state = weights_of(model), optimizer_state(model)
    paths = [v.path for v in model.optimizer.variables]
    finder = lr_find(model, x, y, batch_size=16, num_steps=20, verbose=0)
    assert len(finder.lrs) == 20
    assert weights.keys() == weights_of(model).keys()
    for path, value in weights_of(model).items():
        np.testing.assert_array_equal(value, weights[path], err_msg=path)
    assert [v.path for v in model.optimizer.variables] == paths
    for before, after in zip(state, optimizer_state(model)):
        np.testing.assert_array_equal(before, after)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)

    # And training afterwards is exactly training without the LR finder.
    twin = compiled_model()
    twin.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for m in (model, twin):
        m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_stops_on_divergence_and_still_restores():
    x, y = regression_data(n=64)
    x = x * 10.0
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = model.get_weights()
    finder = lr_find(model, x, y, batch_size=16, num_steps=100, end_lr=100.0, verbose=0)
    assert finder.diverged
    assert 10 < len(finder.lrs) < 100
    assert finder.losses[-1] > 4 * min(finder.losses) or not np.isfinite(finder.raw_losses[-1])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    lrs = np.array(finder.lrs)
    np.testing.assert_allclose(lrs, 1e-7 * (1e9) ** (np.arange(1, len(lrs) + 1) / 100 - 0.01),
                               rtol=1e-6)
    assert 1e-7 < finder.suggestion < lrs[-1]


def test_short_numpy_data_is_cycled_and_tf_data_works():
    x, y = regression_data(n=40)
    model = compiled_model()
    finder = lr_find(model, x, y, batch_size=16, num_steps=25, end_lr=1e-2, verbose=0)
    assert len(finder.lrs) == 25  # 3 batches an epoch, cycled 9 times, cut at 25
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    finder = lr_find(model, dataset, num_steps=25, end_lr=1e-2, verbose=0)
    assert len(finder.lrs) == 25
    assert set(finder.suggestions) == {"valley", "steep", "minimum"}


def test_sweeps_every_group_keeping_ratios():
    x, y = regression_data(n=64)
    model, groups = three_layer_model()
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdam(), [1e-5, 1e-4, 1e-3]),
                  loss="mse")
    logger = HyperparameterLogger(update_freq=1)
    finder = lr_find(model, x, y, batch_size=16, num_steps=12, end_lr=1e-1, verbose=0,
                     callbacks=[logger])
    head = np.array([row["lr/head"] for row in logger.steps])
    np.testing.assert_allclose(head, finder.lrs, rtol=1e-5)
    np.testing.assert_allclose([row["lr/early"] for row in logger.steps], head / 100, rtol=1e-5)
    np.testing.assert_allclose([row["lr/middle"] for row in logger.steps], head / 10, rtol=1e-5)
    assert [float(o.learning_rate) for o in model.optimizer.optimizers] == pytest.approx(
        [1e-5, 1e-4, 1e-3])


def test_suggestions_on_a_known_curve():
    lrs = np.geomspace(1e-6, 1.0, 61)  # a decade every 10 points
    losses = np.concatenate([np.full(20, 2.0),           # flat until 1e-4
                             np.linspace(2.0, 0.5, 31)[:-1],  # falls from 1e-4 to 1e-1
                             np.linspace(0.5, 4.0, 11)])      # blows up
    valley = suggest_valley(lrs, losses)
    assert lrs[30] <= valley <= lrs[40]  # middle of the falling stretch
    assert suggest_minimum(lrs, losses) == pytest.approx(lrs[50] / 10)
    assert 1e-4 <= suggest_steep(lrs, losses) <= 1e-1
    with pytest.raises(ValueError, match="same length"):
        suggest_valley([1e-3, 1e-2], [1.0])


def test_plot_marks_the_suggestion(tmp_path):
    x, y = regression_data(n=64)
    model = compiled_model()
    finder = lr_find(model, x, y, batch_size=16, num_steps=20, log_dir=str(tmp_path), verbose=0)
    figure = finder.plot()
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert any(label.startswith("valley") for label in labels)
    assert list(tmp_path.glob("events.out.tfevents.*"))  # the image went to TensorBoard


@pytest.mark.parametrize("kwargs, message", [
    ({"num_steps": 0}, "steps"),
    ({"start_lr": -1.0}, "start_lr"),
    ({"start_lr": 1.0, "end_lr": 0.1}, "end_lr"),
    ({"stop_factor": 0.5}, "stop_factor"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LRFinder(**kwargs)


def test_uncompiled_model_is_a_clear_error():
    model, _ = three_layer_model()
    with pytest.raises(ValueError, match="not compiled"):
        lr_find(model, *regression_data())
