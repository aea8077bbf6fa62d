"""One trace of the train step across lr_find -> fit_one_cycle -> fine_tune (issue 14)."""

import keras
import numpy as np
import pytest

from dlkeras import (
    LRFinder,
    ScheduledAdam,
    ScheduledAdamW,
    discriminative_optimizer,
    fine_tune,
    fit_one_cycle,
    lr_find,
    traced_cycles,
)
from dlkeras.keras_internals import learning_rate_object, train_function_for_steps
from dlkeras.optimizers import sub_optimizers
from dlkeras.recipes import fine_tune_group_ratios

from core_fixtures import count_traces, regression_data, three_layer_model, weights_of


def grouped_model(steps_per_execution=1, beta_1=0.9):
    model, groups = three_layer_model()
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW(beta_1=beta_1),
                                                     [1e-4, 1e-3, 1e-2]),
                  loss="mse", steps_per_execution=steps_per_execution)
    return model, groups


def sweep_then_cycle(cycle, steps_per_execution=1):
    """A fresh 3-group model: lr_find (with `cycle`), then fit_one_cycle; what each did."""
    x, y = regression_data(n=64)
    model, _ = grouped_model(steps_per_execution)
    traces = count_traces(model)
    before = weights_of(model)
    finder = lr_find(model, x, y, batch_size=16, total_steps=30, end_lr=1.0, verbose=0,
                     shuffle=False, cycle=cycle)
    restored = all(np.array_equal(before[k], v) for k, v in weights_of(model).items())
    sweep_traces = traces["traces"]
    fit_one_cycle(model, x, y, epochs=2, lr_max=(1e-4, 1e-2), batch_size=16, shuffle=False,
                  verbose=0)
    return model, finder, restored, sweep_traces, traces["traces"] - sweep_traces


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_the_cycle_after_a_sweep_reuses_the_sweeps_traced_step(steps_per_execution):
    model, finder, restored, sweep_traces, fit_traces = sweep_then_cycle(
        "auto", steps_per_execution)
    assert finder.rode_cycle and restored
    assert sweep_traces == 1 and fit_traces == 0
    # The plain sweep: same curve (the same rates at the same momentum, step by step), the
    # fit traces its own step, and ends with the same weights.
    plain_model, plain, plain_restored, _, plain_fit_traces = sweep_then_cycle(
        None, steps_per_execution)
    assert not plain.rode_cycle and plain_restored and plain_fit_traces == 1
    np.testing.assert_allclose(finder.lrs, plain.lrs, rtol=1e-12)
    np.testing.assert_allclose(finder.raw_losses, plain.raw_losses, rtol=2e-5)
    assert finder.suggestion == pytest.approx(plain.suggestion, rel=1e-6)
    for path, value in weights_of(plain_model).items():
        np.testing.assert_allclose(weights_of(model)[path], value, rtol=1e-5, atol=1e-7,
                                   err_msg=path)


class RatesSeen(keras.callbacks.Callback):
    """Each group's rate and momentum as the optimizer evaluates them after each step (the
    sweep sets them inside the call; the held cycle moves by 2**-20 a step)."""

    def on_train_begin(self, logs=None):
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([(float(o.learning_rate), float(o.current_momentum()))
                          for o in sub_optimizers(self.model.optimizer)])


def test_the_held_cycle_gives_each_group_the_swept_rate_at_the_optimizers_momentum():
    x, y = regression_data(n=64)
    model, _ = grouped_model(beta_1=0.9)
    probe = RatesSeen()
    finder = lr_find(model, x, y, batch_size=16, total_steps=12, end_lr=1e-2, verbose=0,
                     callbacks=[probe], group_ratios=[0.01, 0.1, 1.0])
    assert finder.rode_cycle
    seen = np.array(probe.seen)[:len(finder.lrs)]
    for group, ratio in enumerate([0.01, 0.1, 1.0]):
        np.testing.assert_allclose(seen[:, group, 0], np.array(finder.lrs) * ratio, rtol=1e-4)
        np.testing.assert_allclose(seen[:, group, 1], 0.9, atol=1e-5)
    # Put back: the rates are the compiled variables again, momentum the constant 0.9.
    for sub, rate in zip(sub_optimizers(model.optimizer), [1e-4, 1e-3, 1e-2]):
        assert isinstance(learning_rate_object(sub), keras.Variable)
        assert float(sub.learning_rate) == pytest.approx(rate)
        assert sub.momentum_schedule is None and float(sub.current_momentum()) == 0.9


def plain_fit_weights(sweep, cycle_first, steps_per_execution):
    """Weights after a plain `model.fit` (the compiled constant rates), preceded by a
    held sweep (`sweep`) and/or a one-cycle fit (`cycle_first`)."""
    x, y = regression_data(n=64)
    model, _ = grouped_model(steps_per_execution)
    if sweep:
        assert lr_find(model, x, y, batch_size=16, total_steps=30, end_lr=1.0, verbose=0,
                       shuffle=False, cycle="auto").rode_cycle
    if cycle_first:
        fit_one_cycle(model, x, y, epochs=1, lr_max=(1e-4, 1e-2), batch_size=16,
                      shuffle=False, verbose=0)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return weights_of(model)


@pytest.mark.parametrize("steps_per_execution", [1, 2])
@pytest.mark.parametrize("cycle_first", [False, True])
def test_a_plain_fit_after_a_held_sweep_trains_as_if_there_had_been_none(
        steps_per_execution, cycle_first):
    # The sweep ran through one-cycle schedules (or a kept cycle's) in a traced step of its
    # own; the fit after it must train at the optimizer's own rates, to the bit.
    swept = plain_fit_weights(True, cycle_first, steps_per_execution)
    unswept = plain_fit_weights(False, cycle_first, steps_per_execution)
    for path, value in unswept.items():
        np.testing.assert_array_equal(swept[path], value, err_msg=path)


def test_a_momentum_outside_the_cycles_keeps_the_plain_sweep():
    x, y = regression_data(n=64)
    model, _ = grouped_model(beta_1=0.99)  # the cycle's momentum only spans 0.85-0.95
    finder = lr_find(model, x, y, batch_size=16, total_steps=10, verbose=0)
    assert not finder.rode_cycle and len(finder.lrs) == 10


def test_a_sweep_after_a_cycle_recalls_its_schedules_and_puts_their_numbers_back():
    x, y = regression_data(n=64)
    model, _ = grouped_model()
    fit_one_cycle(model, x, y, epochs=1, lr_max=(1e-4, 1e-2), batch_size=16, verbose=0)
    installed = [learning_rate_object(sub) for sub in sub_optimizers(model.optimizer)]
    configs = [s.get_config() for s in installed]
    clock = installed[0].clock
    clock_values = clock.values
    variables = (float(clock.start_step.numpy()), float(clock.total_steps.numpy()))
    traces = count_traces(model)

    class Fail(keras.callbacks.Callback):
        calls = 0

        def on_train_batch_end(self, batch, logs=None):
            Fail.calls += 1
            if Fail.calls == 6:  # the data has 4 batches an epoch: in the second epoch
                raise RuntimeError("stop mid-sweep")

    with pytest.raises(RuntimeError, match="mid-sweep"):
        lr_find(model, x, y, batch_size=16, total_steps=20, verbose=0, callbacks=[Fail()])
    assert traces["traces"] == 0  # the cycle's own traced step served the sweep
    assert [learning_rate_object(sub) for sub in sub_optimizers(model.optimizer)] == installed
    assert [s.get_config() for s in installed] == configs
    assert clock.values == clock_values
    assert (float(clock.start_step.numpy()), float(clock.total_steps.numpy())) == variables
    assert [float(s._lr_max_variable.numpy()) for s in installed] == pytest.approx(
        [c["lr_max"] for c in configs])


def test_fine_tune_after_its_sweep_traces_only_the_frozen_phase_and_a_second_run_nothing():
    x, y = regression_data(n=64)
    model, groups = grouped_model()
    traces = count_traces(model)
    from dlkeras.freezing import freeze, unfreeze
    unfreeze(model, groups)
    finder = lr_find(model, x, y, batch_size=16, total_steps=20, verbose=0, recipe="fine_tune",
                     group_ratios=fine_tune_group_ratios("unfrozen", 3))
    assert finder.rode_cycle and traces["traces"] == 1
    freeze(model, groups)
    fine_tune(model, x, y, epochs=1, layer_groups=groups, lr_max=1e-2, batch_size=16, verbose=0)
    assert traces["traces"] == 2  # the frozen phase; the unfrozen one reused the sweep's
    fine_tune(model, x, y, epochs=1, layer_groups=groups, lr_max=1e-2, batch_size=16, verbose=0)
    assert traces["traces"] == 2


def test_a_new_compile_or_another_shape_is_not_served_a_kept_step():
    x, y = regression_data(n=64)
    model, _ = grouped_model()
    fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, batch_size=16, verbose=0)
    assert traced_cycles.recall(model, traced_cycles.cycle_shape()) is not None
    assert traced_cycles.recall(model, traced_cycles.cycle_shape(pct_start=0.3)) is None
    model.get_layer("early").trainable = False
    assert traced_cycles.recall(model, traced_cycles.cycle_shape()) is None
    model.get_layer("early").trainable = True
    model.compile(optimizer=model.optimizer, loss="mae")
    assert traced_cycles.recall(model, traced_cycles.cycle_shape()) is None
    errors = model.predict(x, verbose=0)[:, 0] - y
    mae, mse = float(np.mean(np.abs(errors))), float(np.mean(errors ** 2))
    assert mse > 2 * mae  # the two losses are told apart on this data
    traces = count_traces(model)
    history = fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, batch_size=16, verbose=0)
    assert traces["traces"] == 1
    # Only the new compile's step is kept: the old one's graph is let go.
    assert len(model._dlkeras_traced_cycles.entries) == 1
    # Trained on the new loss: the logged loss is the mean absolute error (the old step
    # would log the squared error).
    assert history.history["loss"][0] == pytest.approx(mae, rel=0.1)


def test_a_kept_step_runs_another_steps_per_execution_without_a_new_step_trace():
    x, y = regression_data(n=64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=ScheduledAdam(1e-3), loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # traced at one step a call
    traces = count_traces(model)
    model.steps_per_execution = 4
    model.train_function = train_function_for_steps(model.train_function, model)
    steps = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: steps.append(int(model.optimizer.iterations)))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[probe])
    assert traces["traces"] == 0
    assert steps == [8, 12]  # 4 steps a call


def test_a_bad_cycle_is_a_clear_error():
    with pytest.raises(ValueError, match="cycle"):
        LRFinder(cycle={"divv": 5.0})
    with pytest.raises(ValueError, match="pct_start"):
        LRFinder(cycle={"pct_start": 1.5})


def test_a_clock_refuses_a_position_outside_the_cycle():
    from dlkeras.schedules import CycleClock

    clock = CycleClock(0, 10)
    with pytest.raises(ValueError, match="position"):
        clock.hold(5, 1.5)
    clock.hold(5, 0.25, total_steps=8)
    assert clock.values == (3, 8)
