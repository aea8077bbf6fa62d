"""The LR range test: it restores everything, stops on divergence, cycles short data."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras import (
    HyperparameterLogger,
    LRFinder,
    ScheduledAdam,
    discriminative_optimizer,
    fit_one_cycle,
    lr_find,
    suggest_minimum,
    suggest_steep,
    suggest_valley,
)

from core_fixtures import count_traces, regression_data, three_layer_model, weights_of


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
    finder = lr_find(model, x, y, batch_size=16, total_steps=20, verbose=0)
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


def diverging_regression(optimizer=None, **compile_kwargs):
    """Linear regression on large inputs: SGD learns, then diverges below lr=100."""
    x, y = regression_data(n=64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.01), loss="mse",
                  **compile_kwargs)
    return model, x * 10.0, y


def test_stops_on_divergence_and_still_restores():
    model, x, y = diverging_regression()
    before = model.get_weights()
    finder = lr_find(model, x, y, batch_size=16, total_steps=100, end_lr=100.0, verbose=0)
    assert finder.diverged
    assert 10 < len(finder.lrs) < 100
    raw = np.asarray(finder.raw_losses)
    levels = [np.median(raw[max(0, i - 4):i + 1]) for i in range(len(raw))]
    # Stopped at the first step whose running median (5 steps) is above the
    # start and 4x the best one, or at a non-finite loss.
    assert levels[-1] > max(levels[4], 4 * min(levels)) or not np.isfinite(raw[-1])
    assert all(level <= max(levels[4], 4 * min(levels[:i + 1]))
               for i, level in enumerate(levels[4:-1], start=4))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    lrs = np.array(finder.lrs)
    np.testing.assert_allclose(lrs, 1e-7 * (1e9) ** (np.arange(len(lrs)) / 100), rtol=1e-6)
    assert finder.no_suggestion_reason is None
    assert lrs[0] < finder.suggestion < lrs[-1] / 3


def test_short_numpy_data_is_cycled_and_tf_data_works():
    x, y = regression_data(n=40)
    model = compiled_model()
    finder = lr_find(model, x, y, batch_size=16, total_steps=25, end_lr=1e-2, verbose=0)
    assert len(finder.lrs) == 25  # 3 batches an epoch, cycled 9 times, cut at 25
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    finder = lr_find(model, dataset, total_steps=25, end_lr=1e-2, verbose=0)
    assert len(finder.lrs) == 25
    # Up to 1e-2 this model hardly learns in 25 steps: no invented rate.
    assert finder.suggestion is None and finder.suggestions == {}
    assert finder.no_suggestion_reason.startswith("no clear descent")


def test_sweeps_every_group_keeping_ratios():
    x, y = regression_data(n=64)
    model, groups = three_layer_model()
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdam(), [1e-5, 1e-4, 1e-3]),
                  loss="mse")
    logger = HyperparameterLogger(update_freq=1)
    finder = lr_find(model, x, y, batch_size=16, total_steps=12, end_lr=1e-1, verbose=0,
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


def test_plot_marks_the_suggestions_and_clips_the_blow_up(tmp_path):
    model, x, y = diverging_regression()
    finder = lr_find(model, x, y, batch_size=16, end_lr=100.0, log_dir=str(tmp_path), verbose=0)
    figure = finder.plot()
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    for name in ("margin", "valley", "steep", "minimum"):
        assert sum(label.startswith(name) for label in labels) == 1, labels
    assert any(label.startswith("diverged") for label in labels)
    raw = np.asarray(finder.raw_losses)
    # The y axis ends a little above where the loss started, not at the blow-up.
    assert axes.get_ylim()[1] < 1.5 * np.median(raw[:10]) < raw.max()
    assert list(tmp_path.glob("events.out.tfevents.*"))  # the image went to TensorBoard


def test_plot_says_why_there_is_no_suggestion():
    x, y = regression_data(n=64)
    finder = lr_find(compiled_model(), x, y, batch_size=16, total_steps=20, end_lr=1e-5, verbose=0)
    assert finder.suggestion is None
    title = finder.plot().axes[0].get_title()
    assert title == f"No suggestion: {finder.no_suggestion_reason}"


@pytest.mark.parametrize("kwargs, message", [
    ({"total_steps": 0}, "steps"),
    ({"start_lr": -1.0}, "start_lr"),
    ({"start_lr": 1.0, "end_lr": 0.1}, "end_lr"),
    ({"stop_factor": 0.5}, "stop_factor"),
    ({"end_lr": float("nan")}, "end_lr"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LRFinder(**kwargs)


def test_uncompiled_model_is_a_clear_error():
    model, _ = three_layer_model()
    with pytest.raises(ValueError, match="not compiled"):
        lr_find(model, *regression_data())


@pytest.mark.parametrize("dataset", [False, True])
def test_steps_per_execution_sweeps_one_step_at_a_time_and_is_put_back(dataset):
    losses = {}
    for steps in (1, 4):
        model, x, y = diverging_regression(steps_per_execution=steps)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16) if dataset else x
        model.fit(data, y=None if dataset else y, batch_size=16, epochs=1, shuffle=False,
                  verbose=0)
        compiled_function = model.train_function
        finder = lr_find(model, data, y=None if dataset else y, batch_size=16, total_steps=30,
                         end_lr=1e-1, shuffle=False, verbose=0)
        assert len(finder.lrs) == len(finder.raw_losses) == 30  # one point per step
        assert model.steps_per_execution == steps
        assert model.train_function is compiled_function
        losses[steps] = finder.raw_losses
    np.testing.assert_allclose(losses[4], losses[1], rtol=1e-5)


class StepCounter(keras.callbacks.Callback):
    """Records the optimizer's step count after every call of the train function."""

    def on_train_begin(self, logs=None):
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(int(self.model.optimizer.iterations))


def test_a_stale_multi_step_train_function_is_not_reused():
    # Setting steps_per_execution = 1 after a fit leaves Keras' traced
    # 4-step function in place; the sweep must still take one step per point.
    model, x, y = diverging_regression(steps_per_execution=4)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.steps_per_execution = 1
    counter = StepCounter()
    finder = lr_find(model, x, y, batch_size=16, total_steps=20, end_lr=1e-1, verbose=0,
                     callbacks=[counter])
    assert len(finder.raw_losses) == 20
    # The first call ran 4 steps at 1e-7 and is not a point; then one step a point.
    assert counter.steps[0] == 8
    assert np.diff(counter.steps[1:]).tolist() == [1] * 19


def test_xla_compiled_steps_are_swept_one_at_a_time():
    model, x, y = diverging_regression(optimizer=ScheduledAdam(), steps_per_execution=2,
                                       jit_compile=True)
    finder = lr_find(model, x, y, batch_size=16, total_steps=12, end_lr=1e-2, verbose=0)
    assert len(finder.raw_losses) == 12 and model.steps_per_execution == 2
    assert model.jit_compile


def test_the_callback_alone_handles_steps_per_execution():
    model, x, y = diverging_regression(steps_per_execution=3)
    finder = LRFinder(total_steps=10, end_lr=1e-2)
    model.fit(x, y, batch_size=16, epochs=3, callbacks=[finder], verbose=0)
    assert len(finder.raw_losses) == 10 and model.steps_per_execution == 3
    np.testing.assert_allclose(finder.lrs, 1e-7 * 1e5 ** (np.arange(10) / 10), rtol=1e-6)


def test_a_fresh_model_is_traced_once():
    x, y = regression_data(n=64)
    model = compiled_model()
    model.compile(optimizer=ScheduledAdam(), loss="mse", metrics=["mae"])
    calls = count_traces(model)
    lr_find(model, x, y, batch_size=16, total_steps=20, verbose=0)
    assert calls["traces"] == 1  # Keras alone traces twice (it creates the metrics' state)


def test_a_traced_model_is_not_traced_again_by_the_sweep_or_after():
    x, y = regression_data(n=64)
    model = compiled_model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    calls = count_traces(model)
    lr_find(model, x, y, batch_size=16, total_steps=20, verbose=0)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert calls["traces"] == 0


def test_divergence_at_once_gives_no_suggestion_and_says_why():
    model, x, y = diverging_regression()
    finder = lr_find(model, x, y, batch_size=16, start_lr=1.0, end_lr=1e4, verbose=0)
    assert finder.diverged and finder.suggestion is None and finder.suggestions == {}
    assert finder.no_suggestion_reason.startswith("diverged at once")
    assert finder.no_suggestion_reason.endswith("start_lr=1 is too high")


def test_on_a_real_tiny_task_the_suggestion_trains_well():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target.astype("int32")
    order = np.random.RandomState(0).permutation(len(x))
    train, valid = order[:1400], order[1400:]

    def model():
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(10)])
        net.compile(optimizer=ScheduledAdam(),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
        return net

    finder = lr_find(model(), x[train], y[train], batch_size=32, verbose=0)
    assert 1e-2 < finder.suggestion < 1.0
    history = fit_one_cycle(model(), x[train], y[train], epochs=2, lr_max=finder.suggestion,
                            batch_size=32, validation_data=(x[valid], y[valid]), verbose=0)
    # 2 epochs at the old default (valley, ~4e-4 here) reached 0.14-0.22.
    assert history.history["val_accuracy"][-1] > 0.9
