"""Schedules of one step are evaluated once: groups share the one-cycle shape and momentum."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import dlkeras
from dlkeras.schedules import FlatCosSchedule, OneCycleMomentum, OneCycleSchedule
from dlkeras.step_evaluation import StepEvaluation


def _np_one_cycle(lr_max, total, step, div=25.0, div_final=1e5, pct=0.25):
    pos = min(max(step / total, 0.0), 1.0)
    if pos < pct:
        start, end, local = lr_max / div, lr_max, pos / pct
    else:
        start, end, local = lr_max, lr_max / div_final, (pos - pct) / (1 - pct)
    return end + (start - end) / 2 * (1 + np.cos(np.pi * local))


@pytest.mark.parametrize("step", [0, 7, 25, 60, 100, 130])
def test_groups_share_one_shape_and_keep_their_own_peak(step):
    evaluation = StepEvaluation(tf.constant(step, tf.int64))
    rates = [1e-4, 1e-3, 1e-2]
    values = [float(evaluation.value(OneCycleSchedule(r, 100))) for r in rates]
    np.testing.assert_allclose(values, [_np_one_cycle(r, 100, step) for r in rates], rtol=1e-5)
    size = len(evaluation)
    for _ in range(3):
        evaluation.value(OneCycleMomentum(100))
    assert len(evaluation) == size + 1  # three equal momentum schedules: one entry


def test_other_schedules_are_called_on_the_raw_step_once():
    calls = []

    class Counting(keras.optimizers.schedules.ExponentialDecay):
        def __call__(self, step):
            calls.append(step)
            return super().__call__(step)

    schedule = Counting(1.0, 10, 0.5)
    evaluation = StepEvaluation(20)
    assert float(evaluation.value(schedule)) == pytest.approx(0.25)
    assert float(evaluation.value(schedule)) == pytest.approx(0.25)
    assert calls == [20]


def test_flat_cos_shape_is_scaled_per_peak():
    evaluation = StepEvaluation(90)
    low, high = FlatCosSchedule(1e-3, 100), FlatCosSchedule(1e-2, 100)
    assert float(evaluation.value(high)) == pytest.approx(10 * float(evaluation.value(low)), rel=1e-6)
    assert float(evaluation.value(high)) == pytest.approx(float(high(90)), rel=1e-6)


def _ops_in_train_step(n_groups, op_type):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = inputs
    for index in range(n_groups):
        x = keras.layers.Dense(4, name=f"d{index}")(x)
    model = keras.Model(inputs, x)
    names = [f"d{index}" for index in range(n_groups)]
    groups = dlkeras.LayerGroups.split(model, names[1:], names=names)
    model.compile(optimizer=dlkeras.discriminative_optimizer(groups, dlkeras.ScheduledAdam()),
                  loss="mse")
    x_data, y_data = np.ones((8, 4), "float32"), np.zeros((8, 4), "float32")
    model.fit(x_data, y_data, epochs=1, verbose=0, callbacks=[dlkeras.OneCycle((1e-4, 1e-3))])
    graph = tf.function(model.train_step).get_concrete_function(
        (tf.TensorSpec((8, 4)), tf.TensorSpec((8, 4)))).graph
    return sum(op.type == op_type for op in graph.get_operations())


def test_cost_of_the_schedules_does_not_grow_with_the_groups():
    # One cosine a step: the learning rate's and the momentum's phases are located alike.
    assert _ops_in_train_step(1, "Cos") == _ops_in_train_step(3, "Cos") == 1


def test_a_group_adds_only_its_own_subtractions():
    # Each more group (one Dense layer: kernel and bias) subtracts twice per variable (Adam's
    # two moments) and subtracts its two bias corrections (beta ** t of its own step count)
    # from 1; `1 - beta_1` of the momentum every group shares is computed once.
    assert _ops_in_train_step(3, "Sub") - _ops_in_train_step(1, "Sub") == 2 * (2 * 2 + 2)


def _every_kind_of_schedule():
    from dlkeras.schedules import CycleClock, ExponentialSweep, SGDRSchedule, TriangularSchedule

    clock = CycleClock(10, 80)
    clocked = OneCycleSchedule(3e-3, 80, start_step=10).with_clock(clock)
    clocked_momentum = OneCycleMomentum(80, start_step=10).with_clock(clock)
    return [OneCycleSchedule(1e-2, 100), OneCycleSchedule(1e-3, 100, pct_start=0.3, start_step=5),
            OneCycleMomentum(100), FlatCosSchedule(1e-3, 100), SGDRSchedule(1.0, 10, 2.0, 0.1),
            SGDRSchedule(0.5, 7, 1.0), TriangularSchedule(0.1, 1.0, 6),
            ExponentialSweep(1e-7, 10.0, 100, start_step=3), clocked, clocked_momentum]


@pytest.mark.parametrize("step", [0, 1, 9, 10, 24, 25, 26, 37, 60, 99, 100, 140])
def test_on_the_host_every_schedule_gives_the_traced_value(step):
    schedules = _every_kind_of_schedule()
    traced = tf.function(lambda s: [StepEvaluation(s).value(x) for x in schedules])(
        tf.constant(step, tf.int64))
    host = StepEvaluation.on_host(step)
    values = [host.value(schedule) for schedule in schedules]
    assert all(type(value) is np.float32 for value in values)
    # The same float32 maths. The traced graph's arithmetic is rewritten (Grappler), and
    # cos near -1 amplifies a rounding: eager TensorFlow differs from it as much (7e-6).
    np.testing.assert_allclose(values, [float(v) for v in traced], rtol=1e-5, atol=1e-12)
    eager = [float(StepEvaluation(step).value(schedule)) for schedule in schedules]
    np.testing.assert_allclose(values, eager, rtol=2e-6, atol=1e-12)


def test_on_the_host_a_rearmed_clock_is_followed_without_reading_its_variables():
    from dlkeras.schedules import CycleClock

    clock = CycleClock(0, 100)
    schedule = OneCycleSchedule(1e-2, 100).with_clock(clock)
    momentum = OneCycleMomentum(100).with_clock(clock)
    schedule.rearm(lr_max=4e-3, start_step=100, total_steps=40)
    for step in (100, 105, 110, 139, 150):
        host = StepEvaluation.on_host(step)
        # float32 against float64: the end of a cycle (cos near -1) loses a few digits.
        assert float(host.value(schedule)) == pytest.approx(_np_one_cycle(4e-3, 40, step - 100),
                                                            rel=1e-5)
        assert float(host.value(schedule)) == pytest.approx(float(schedule(step)), rel=1e-5)
        assert float(host.value(momentum)) == pytest.approx(float(momentum(step)), rel=1e-6)


def test_on_the_host_no_keras_op_runs(monkeypatch):
    from keras import ops

    def refuse(*args, **kwargs):
        raise AssertionError("a keras op ran during a host evaluation")

    for name in ("cast", "clip", "where", "cos", "power", "maximum", "mod", "floor", "log1p",
                 "abs", "convert_to_tensor"):
        monkeypatch.setattr(ops, name, refuse)
    schedules = _every_kind_of_schedule()
    for step in (0, 30, 99):
        host = StepEvaluation.on_host(step)
        assert all(np.isfinite(float(host.value(schedule))) for schedule in schedules)
    with pytest.raises(AssertionError, match="keras op ran"):
        StepEvaluation(30).value(schedules[0])  # the traced kind does use them


@pytest.mark.parametrize("step", [2.5, "3", True, tf.constant(3)])
def test_a_host_evaluation_refuses_a_step_that_is_not_an_integer(step):
    with pytest.raises(TypeError, match="must be a Python or NumPy integer"):
        StepEvaluation.on_host(step)
    assert float(StepEvaluation.on_host(np.int64(25)).value(OneCycleSchedule(1e-2, 100))) == \
        pytest.approx(1e-2)
