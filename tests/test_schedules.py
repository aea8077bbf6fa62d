import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras.annealers import Phase, anneal_exp, anneal_linear, join_phases
from dlkeras.schedules import (
    ExponentialSweep,
    FlatCosSchedule,
    OneCycleMomentum,
    OneCycleSchedule,
    SGDRSchedule,
    TriangularSchedule,
    with_start_step,
)

from core_fixtures import np_cos, np_one_cycle, np_one_cycle_momentum


def values(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_one_cycle_matches_fastai_formula_at_every_step():
    schedule = OneCycleSchedule(1e-2, total_steps=40)
    expected = [np_one_cycle(s, 40, 1e-2) for s in range(41)]
    np.testing.assert_allclose(values(schedule, range(41)), expected, rtol=1e-5, atol=1e-10)
    assert math.isclose(float(schedule(0)), 1e-2 / 25, rel_tol=1e-5)
    assert math.isclose(float(schedule(10)), 1e-2, rel_tol=1e-5)
    assert math.isclose(float(schedule(40)), 1e-2 / 1e5, rel_tol=1e-4)


def test_one_cycle_momentum_goes_down_and_back():
    schedule = OneCycleMomentum(total_steps=20, pct_start=0.3)
    expected = [np_one_cycle_momentum(s, 20, pct_start=0.3) for s in range(21)]
    np.testing.assert_allclose(values(schedule, range(21)), expected, rtol=1e-6)


def test_start_step_shifts_the_schedule():
    base = OneCycleSchedule(1.0, total_steps=10)
    shifted = with_start_step(base, 100)
    np.testing.assert_allclose(values(shifted, range(100, 111)), values(base, range(11)),
                               rtol=1e-6)
    assert float(shifted(0)) == pytest.approx(float(base(0)))  # before the start: first value


def test_flat_cos_sgdr_triangular_and_sweep_values():
    flat = FlatCosSchedule(0.1, total_steps=100, pct_start=0.5)
    np.testing.assert_allclose(values(flat, [0, 49, 75, 100]),
                               [0.1, 0.1, np_cos(0.1, 1e-6, 0.5), 1e-6], rtol=1e-4)
    sgdr = SGDRSchedule(1.0, cycle_len=4, cycle_mult=2, lr_min=0.0)
    # cycles: [0, 4), [4, 12), [12, 28)
    expected = [np_cos(1, 0, 0), np_cos(1, 0, 0.5), 1.0, np_cos(1, 0, 2 / 8), 1.0,
                np_cos(1, 0, 8 / 16)]
    np.testing.assert_allclose(values(sgdr, [0, 2, 4, 6, 12, 20]), expected, atol=1e-5)
    sgdr_flat = SGDRSchedule(1.0, cycle_len=5, cycle_mult=1)
    np.testing.assert_allclose(values(sgdr_flat, [0, 5, 7]), [1, 1, np_cos(1, 0, 0.4)],
                               atol=1e-6)
    tri = TriangularSchedule(0.1, 1.0, step_size=4)
    np.testing.assert_allclose(values(tri, [0, 2, 4, 6, 8, 12]),
                               [0.1, 0.55, 1.0, 0.55, 0.1, 1.0], atol=1e-6)
    sweep = ExponentialSweep(1e-6, 1.0, total_steps=6)
    np.testing.assert_allclose(values(sweep, range(7)), np.geomspace(1e-6, 1, 7), rtol=1e-5)


def test_annealers_and_phase_join():
    assert float(anneal_linear(1.0, 3.0, 0.5)) == pytest.approx(2.0)
    assert float(anneal_exp(1e-4, 1.0, 0.5)) == pytest.approx(1e-2)
    phases = [Phase(0.5, "linear", 0.0, 1.0), Phase(0.5, "constant", 5.0, 0.0)]
    assert [round(float(join_phases(phases, p)), 6) for p in (0.25, 0.5, 0.9)] == [0.5, 5.0, 5.0]
    with pytest.raises(ValueError, match="add up to 1"):
        join_phases([Phase(0.5, "cos", 1, 0)], 0.1)
    with pytest.raises(ValueError, match="Unknown annealer"):
        Phase(1.0, "square", 1, 0)


def test_a_phase_choice_between_equal_values_traces_no_op():
    from dlkeras.annealers import select

    flag = tf.constant(True)
    assert select([flag], [0.5, 0.5]) == 0.5  # a Python number: nothing to compute a step
    assert tf.is_tensor(select([flag], [0.5, 1.0]))
    tensor = tf.constant(2.0)
    assert select([flag], [tensor, tensor]) is tensor
    # Two equal-looking tensors are still chosen between (never compared on the host).
    assert float(select([flag], [tf.constant(1.0), tf.constant(3.0)])) == 1.0


def test_cosine_phases_join_to_the_cosine_formula_and_share_the_wave():
    from dlkeras.annealers import cos_wave

    phases = [Phase(0.25, "cos", 0.04, 1.0), Phase(0.75, "cos", 1.0, 1e-5)]
    for pos in (0.0, 0.1, 0.25, 0.6, 1.0):
        local = pos / 0.25 if pos < 0.25 else (pos - 0.25) / 0.75
        start, end = (0.04, 1.0) if pos < 0.25 else (1.0, 1e-5)
        expected = end + (start - end) / 2 * (1 + math.cos(math.pi * local))
        assert float(join_phases(phases, pos)) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    calls = []

    def memo(key, compute):
        calls.append(key)
        return compute()

    join_phases(phases, 0.6, memo=memo)
    assert calls == ["cos_wave"]
    assert float(cos_wave(0.5)) == pytest.approx(1.0)


@pytest.mark.parametrize("schedule", [
    OneCycleSchedule(1e-3, 50, pct_start=0.3, start_step=7),
    OneCycleMomentum(50, moms=(0.9, 0.8, 0.9)),
    FlatCosSchedule(1e-3, 50),
    SGDRSchedule(1e-2, 10, cycle_mult=2, lr_min=1e-4),
    TriangularSchedule(1e-4, 1e-2, 5),
    ExponentialSweep(1e-7, 10, 100, start_step=3),
])
def test_schedules_serialize_and_trace_branch_free(schedule):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    compiled = tf.function(lambda step: schedule(step), jit_compile=True)
    for step in (0, 9, 23, 60):
        assert float(compiled(tf.constant(step, tf.int64))) == pytest.approx(
            float(restored(step)), rel=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda: OneCycleSchedule(-1e-3, 10), "lr_max"),
    (lambda: OneCycleSchedule(1e-3, 10, pct_start=1.5), "pct_start"),
    (lambda: OneCycleSchedule(1e-3, 10, pct_start=0.0), "pct_start"),
    (lambda: OneCycleSchedule(1e-3, 0), "total_steps"),
    (lambda: OneCycleMomentum(10, moms=(0.95, 1.2, 0.95)), "moms"),
    (lambda: ExponentialSweep(1.0, 0.1, 10), "end_lr"),
    (lambda: SGDRSchedule(1.0, 10, cycle_mult=0.5), "cycle_mult"),
    (lambda: TriangularSchedule(1.0, 0.1, 3), "lr_max"),
])
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
