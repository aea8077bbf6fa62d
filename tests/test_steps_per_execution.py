"""`steps_per_execution="auto"`: calls sized from the LR finder's measured step time."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_tabular_task import rule_frame, split  # noqa: E402

from apps.tabular.task import TabularTask  # noqa: E402
from dlkeras import steps_per_execution as spe_module  # noqa: E402
from dlkeras.steps_per_execution import dividing_steps_per_execution, steps_per_execution_for  # noqa: E402

from core_fixtures import count_traces  # noqa: E402


@pytest.mark.parametrize("step_seconds, steps_per_epoch, expected", [
    (0.01, 1000, 10),     # ceil(0.1 / 0.01)
    (0.003, 1000, 34),    # ceil(33.3)
    (0.003, 20, 20),      # never more than an epoch
    (1e-6, None, 128),    # the cap
    (0.5, 1000, 1),
    (None, 1000, 1),      # not measured
    (float("nan"), 1000, 1),
])
def test_rule(step_seconds, steps_per_epoch, expected):
    assert steps_per_execution_for(step_seconds, steps_per_epoch) == expected


@pytest.mark.parametrize("planned_steps, trace_seconds, expected", [
    # 10 steps a call save 0.9 * planned calls of 0.6 ms; the new loop costs 0.7 x the trace.
    (350, 0.3, 1),       # 0.189 s saved < 0.21 s of trace
    (400, 0.3, 10),      # 0.216 s > 0.21 s
    (10**6, 5.0, 10),    # a long fit pays for any trace
    (150, 0.0, 10),      # nothing to trace: the calls are free
    (None, 0.3, 10),     # the plan unknown: the step-time rule alone
    (400, None, 10),     # the trace not measured: the step-time rule alone
])
def test_calls_of_several_steps_only_when_they_pay_for_tracing_their_loop(planned_steps,
                                                                          trace_seconds, expected):
    assert steps_per_execution_for(0.01, 1000, planned_steps=planned_steps,
                                   trace_seconds=trace_seconds) == expected
    saved = (planned_steps or 0) * (1 - 1 / 10) * spe_module.CALL_OVERHEAD_SECONDS
    if expected == 1:
        assert saved < spe_module.LOOP_TRACE_RATIO * trace_seconds


@pytest.mark.parametrize("bad", [{"planned_steps": -1}, {"planned_steps": 2.5},
                                 {"planned_steps": True}, {"trace_seconds": -0.1},
                                 {"trace_seconds": float("nan")}, {"trace_seconds": "0.3"}])
def test_a_bad_plan_or_trace_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        steps_per_execution_for(0.01, 1000, **{"planned_steps": 400, "trace_seconds": 0.3, **bad})


@pytest.mark.parametrize("wanted, steps_per_epoch, expected", [
    (64, 78, 78), (3, 20, 4), (4, 15, 5), (13, 29, 29), (10, 997, 1), (8, 64, 8), (1, 7, 1),
    (200, 30, 30), (5, None, 5), (64, 1250, 50), (30, 997 * 991, 1),
])
def test_nearest_divisor(wanted, steps_per_epoch, expected):
    assert dividing_steps_per_execution(wanted, steps_per_epoch) == expected


def test_a_fit_takes_exactly_its_epochs_steps_whatever_steps_per_execution():
    # Keras alone runs ceil(20 / 3) = 7 calls of 3 steps = 21 steps an epoch on a
    # repeated stream, and the one-cycle schedule (sized for 20) ends early.
    train, task = _task(3)
    task.fit_one_cycle(train, epochs=2, lr_max=1e-2, seed=0, verbose=0)
    assert int(task.network.optimizer.iterations) == 2 * 20
    assert task.network.steps_per_execution == 4


def _task(steps_per_execution):
    keras.utils.set_random_seed(3)
    train, _ = split(rule_frame(1600))
    return train, TabularTask.from_frame(train, "y", batch_size=64, layers=[16],
                                         steps_per_execution=steps_per_execution)


def test_auto_sizes_calls_after_lr_find_and_trains_the_same_weights_as_one_step_a_call(
        monkeypatch):
    # A 2-epoch fit is too short to pay for tracing a new loop at this project's call cost;
    # with calls made dear, it pays, and the calls are sized from the measured step time.
    monkeypatch.setattr(spe_module, "CALL_OVERHEAD_SECONDS", 1.0)
    train, auto = _task("auto")
    assert auto.network.steps_per_execution == 1  # nothing measured yet
    finder = auto.lr_find(train, total_steps=40, seed=0, verbose=0)
    assert finder.step_seconds is not None and 0 < finder.step_seconds < 5
    steps_per_epoch = len(train) // 64 + (len(train) % 64 > 0)
    # The measured step time sets the size, moved to a divisor of the 20-step epoch (a loaded
    # machine measures slower steps, e.g. 7 a call, which the fit runs as 5).
    expected = dividing_steps_per_execution(
        steps_per_execution_for(finder.step_seconds, steps_per_epoch), steps_per_epoch)
    assert expected > 1  # a 16-unit MLP step takes milliseconds
    auto.fit_one_cycle(train, epochs=2, lr_max=1e-2, seed=0, verbose=0)
    assert auto.network.steps_per_execution == expected

    _, plain = _task(1)
    plain.lr_find(train, total_steps=40, seed=0, verbose=0)
    plain.fit_one_cycle(train, epochs=2, lr_max=1e-2, seed=0, verbose=0)
    assert plain.network.steps_per_execution == 1
    # One-cycle is evaluated per step inside the call: same steps, same weights.
    assert int(auto.network.optimizer.iterations) == int(plain.network.optimizer.iterations) \
        == 2 * steps_per_epoch
    for a, b in zip(auto.network.get_weights(), plain.network.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_auto_keeps_the_sweeps_one_step_calls_for_a_fit_too_short_to_pay_for_a_new_trace():
    train, task = _task("auto")
    finder = task.lr_find(train, total_steps=40, seed=0, verbose=0)
    # The sweep's first step traced the step: it took longer than the rest by that much.
    assert finder.trace_seconds > 0.05  # (a loop costing 0.7 x that outweighs 40 calls, 20 ms)
    assert finder.trace_seconds == pytest.approx(finder._step_times[0] - finder.step_seconds)
    steps_per_epoch = 20
    calls = steps_per_execution_for(finder.step_seconds, steps_per_epoch)
    assert calls > 1  # what the step time alone asks for
    # 2 epochs of 20 steps save at most 40 calls (20 ms): less than tracing a loop.
    traces = count_traces(task.network)
    task.fit_one_cycle(train, epochs=2, lr_max=1e-2, seed=0, verbose=0)
    assert task.network.steps_per_execution == 1
    assert traces["traces"] == 0  # the sweep's traced step trained the fit
    assert int(task.network.optimizer.iterations) == 2 * steps_per_epoch
    # A fit long enough to pay for the loop's trace gets the step-time rule's calls.
    planned = int(2 * spe_module.LOOP_TRACE_RATIO * finder.trace_seconds
                  / spe_module.CALL_OVERHEAD_SECONDS) + steps_per_epoch
    assert steps_per_execution_for(finder.step_seconds, steps_per_epoch, planned_steps=planned,
                                   trace_seconds=finder.trace_seconds) == calls
    epochs = -(-planned // steps_per_epoch)
    fit_kwargs = {}
    task._size_calls(task.dataset(train, training=True, seed=0), fit_kwargs, epochs)
    assert task.network.steps_per_execution == dividing_steps_per_execution(calls, steps_per_epoch)


@pytest.mark.parametrize("bad", [0, -2, 2.5, "fast", True])
def test_bad_steps_per_execution_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="steps_per_execution"):
        _task(bad)


def test_a_second_fit_one_cycle_of_a_task_is_not_traced_again():
    train, task = _task("auto")
    task.lr_find(train, total_steps=20, seed=0, verbose=0)
    task.fit_one_cycle(train, epochs=1, lr_max=1e-2, validation_data=train, seed=0, verbose=0)
    traces, step = [], task.network.train_step

    def counted(*args, **kwargs):  # Python runs the train step only while tracing
        traces.append(1)
        return step(*args, **kwargs)

    task.network.train_step = counted
    function = task.network.train_function
    task.fit_one_cycle(train, epochs=2, lr_max=1e-3, validation_data=train, seed=1, verbose=0)
    assert traces == [] and task.network.train_function is function
    # ... and the rate the traced step read is the new cycle's, ending at lr_max / div_final.
    assert float(task.network.optimizer.learning_rate) == pytest.approx(1e-3 / 1e5, rel=1e-4)
