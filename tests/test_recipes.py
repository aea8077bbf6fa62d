"""fit_one_cycle and fine_tune recipes, TensorBoard scalars, export helpers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from dlkeras import (
    HyperparameterLogger,
    OneCycle,
    ScheduledAdamW,
    discriminative_optimizer,
    fine_tune,
    fit_one_cycle,
    traced_cycles,
)
from dlkeras.export import new_version_dir
from dlkeras.plots import log_figure, new_figure

from core_fixtures import (
    np_one_cycle,
    np_one_cycle_momentum,
    regression_data,
    three_layer_model,
    weights_of,
)
from fresh_process import run_without_dlkeras


def scalars(log_dir):
    found = {}
    for path in sorted(tf.io.gfile.glob(f"{log_dir}/**/events.out.tfevents.*")) + sorted(
            tf.io.gfile.glob(f"{log_dir}/events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor) if value.HasField("tensor") else None
                numeric = array is not None and array.dtype.kind == "f" and array.size == 1
                found.setdefault(value.tag, {})[event.step] = float(array) if numeric else None
    return found


def test_fit_one_cycle_logs_group_rates_to_history_and_tensorboard(tmp_path):
    x, y = regression_data(n=64)
    model, groups = three_layer_model()
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW()), loss="mse")
    history = fit_one_cycle(model, x, y, epochs=2, lr_max=(1e-4, 1e-2), batch_size=16,
                            shuffle=False, log_dir=str(tmp_path), verbose=0)
    peaks = [1e-4, 1e-3, 1e-2]
    for group, peak in zip(groups.names, peaks):
        expected = [np_one_cycle(k, 8, peak) for k in (3, 7)]
        np.testing.assert_allclose(history.history[f"lr/{group}"], expected, rtol=1e-5)
        logged = scalars(tmp_path)[f"lr/{group}"]
        np.testing.assert_allclose([logged[0], logged[1]], expected, rtol=1e-5)
    assert "epoch_loss" in scalars(tmp_path)  # Keras' own TensorBoard callback ran too


def test_fine_tune_trains_head_frozen_then_everything_with_spread_rates():
    x, y = regression_data(n=64)
    model, groups = three_layer_model(batch_norm=True)
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW()), loss="mse")
    start = weights_of(model)
    seen = []
    probe = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        (e, weights_of(model), dict(logs))))
    frozen, unfrozen = fine_tune(model, x, y, epochs=2, layer_groups=groups, lr_max=1e-2,
                                 batch_size=16, shuffle=False, verbose=0, callbacks=[probe])
    after_frozen = seen[0][1]
    assert np.array_equal(start["early/kernel"], after_frozen["early/kernel"])
    assert np.array_equal(start["middle/kernel"], after_frozen["middle/kernel"])
    assert not np.array_equal(start["norm/gamma"], after_frozen["norm/gamma"])  # train_bn
    assert not np.array_equal(start["head/kernel"], after_frozen["head/kernel"])
    assert not np.array_equal(after_frozen["early/kernel"], seen[-1][1]["early/kernel"])
    assert [e for e, _, _ in seen] == [0, 1, 2]  # epochs continue across the two phases
    # Unfrozen phase: peak rates from lr_max/2/lr_mult to lr_max/2, div=5, pct_start=0.3.
    logs = seen[-1][2]
    for group, peak in zip(groups.names, [5e-5, 5e-4, 5e-3]):
        assert logs[f"lr/{group}"] == pytest.approx(
            np_one_cycle(7, 8, peak, div=5.0, pct_start=0.3), rel=1e-5)
    assert len(frozen.history["loss"]) == 1 and len(unfrozen.history["loss"]) == 2


def test_fine_tune_needs_a_discriminative_optimizer():
    model, groups = three_layer_model()
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="discriminative_optimizer"):
        fine_tune(model, *regression_data(), epochs=1, layer_groups=groups)


def test_one_cycle_errors_are_named():
    with pytest.raises(ValueError, match="pct_start"):
        OneCycle(1e-3, pct_start=1.0)
    with pytest.raises(ValueError, match="positive"):
        OneCycle(-1e-3)
    with pytest.raises(ValueError, match="update_freq"):
        HyperparameterLogger(update_freq="sometimes")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=ScheduledAdamW(), loss="mse")
    x, y = regression_data(n=32)
    unknown_length = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).filter(
        lambda a, b: True)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(unknown_length, epochs=1, callbacks=[OneCycle(1e-3)], verbose=0)


def test_plain_keras_optimizer_gets_lr_schedule_and_a_momentum_warning():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    x, y = regression_data(n=32)
    with pytest.warns(UserWarning, match="cannot follow a momentum schedule"):
        history = fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, batch_size=8, verbose=0)
    assert history.history["lr"][0] == pytest.approx(np_one_cycle(3, 4, 1e-2), rel=1e-5)
    assert history.history["momentum"][0] == pytest.approx(0.9)


def test_version_dirs_and_fresh_process_guard(tmp_path):
    assert new_version_dir("demo", root=tmp_path) == tmp_path / "demo" / "1"
    (tmp_path / "demo" / "1").mkdir(parents=True)
    (tmp_path / "demo" / "7").mkdir()
    assert new_version_dir("demo", root=tmp_path).name == "8"
    with pytest.raises(ValueError, match="model name"):
        new_version_dir("../evil", root=tmp_path)
    assert run_without_dlkeras("print(1 + 1)").stdout.strip() == "2"
    assert run_without_dlkeras("import dlkeras").returncode != 0


def test_log_figure_writes_an_image(tmp_path):
    figure = new_figure()
    figure.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    log_figure(figure, tmp_path, "curve", step=3)
    assert 3 in scalars(tmp_path)["curve"]


def _counting_traces(model):
    """Wraps `model.train_step` (Python runs it only while tracing); returns the count list."""
    traces, step = [], model.train_step

    def counted(*args, **kwargs):
        traces.append(1)
        return step(*args, **kwargs)

    model.train_step = counted
    return traces


def _second_cycle(rearm, steps_per_execution=1, **second):
    """Two fit_one_cycle calls on 3 groups; per-step rates/momenta of the second; traces."""
    x, y = regression_data(n=64)
    model, groups = three_layer_model()
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW()), loss="mse",
                  steps_per_execution=steps_per_execution)
    traces = _counting_traces(model)
    fit_one_cycle(model, x, y, epochs=2, lr_max=(1e-4, 1e-2), batch_size=16, shuffle=False,
                  verbose=0)
    first_traces = len(traces)
    if not rearm:  # the reference: schedules without a clock are installed anew
        for sub in model.optimizer.optimizers:
            sub._learning_rate._clock = None
        traced_cycles.forget(model)  # and no traced step of this shape is kept
    seen = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: seen.append(
        [(float(o.learning_rate), float(o.current_momentum()))
         for o in model.optimizer.optimizers]))
    cycle = OneCycle(second.pop("lr_max", (1e-5, 1e-3)), **second)
    model.fit(x, y, epochs=3, batch_size=16, shuffle=False, callbacks=[cycle, probe], verbose=0)
    return model, cycle, np.array(seen), len(traces) - first_traces, first_traces


def test_a_second_cycle_of_the_same_shape_reuses_the_traced_step():
    model, cycle, seen, new_traces, first = _second_cycle(rearm=True)
    assert cycle.rearmed and new_traces == 0 and first >= 1
    # The rates and momenta the compiled step reads are the pure schedule of the new cycle:
    # 12 steps starting at step 8, peaks 1e-5, 1e-4, 1e-3.
    for group, peak in enumerate([1e-5, 1e-4, 1e-3]):
        np.testing.assert_allclose(seen[:, group, 0], [np_one_cycle(k, 12, peak) for k in range(12)],
                                   rtol=1e-5)
        np.testing.assert_allclose(seen[:, group, 1],
                                   [np_one_cycle_momentum(k, 12) for k in range(12)], rtol=1e-6)
    reference, reference_cycle, reference_seen, reference_traces, _ = _second_cycle(rearm=False)
    assert not reference_cycle.rearmed and reference_traces >= 1
    np.testing.assert_array_equal(seen, reference_seen)
    for mine, theirs in zip(weights_of(model), weights_of(reference)):
        np.testing.assert_array_equal(mine, theirs)


def test_a_cycle_of_another_shape_installs_new_schedules():
    model, cycle, seen, new_traces, _ = _second_cycle(rearm=True, steps_per_execution=2,
                                                      lr_max=1e-3, pct_start=0.5)
    assert not cycle.rearmed and new_traces >= 1
    # steps_per_execution=2: the probe sees every other step.
    np.testing.assert_allclose(seen[:, 2, 0],
                               [np_one_cycle(k, 12, 1e-3, pct_start=0.5) for k in range(0, 12, 2)],
                               rtol=1e-5)
    saved = model.optimizer.optimizers[2].learning_rate  # still a live, clocked schedule
    assert float(saved) == pytest.approx(np_one_cycle(12, 12, 1e-3, pct_start=0.5), rel=1e-4)


def test_a_layer_frozen_between_cycles_gets_a_new_trace_and_stays_still():
    # Keras reads `trainable` only when it traces; re-arming would keep training the layer.
    x, y = regression_data(n=64)
    model, _ = three_layer_model()
    model.compile(optimizer=ScheduledAdamW(), loss="mse")
    fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, batch_size=16, verbose=0)
    layer = model.get_layer("early")
    layer.trainable = False
    before = [w.copy() for w in layer.get_weights()]
    cycle = OneCycle(1e-2)
    model.fit(x, y, epochs=1, batch_size=16, callbacks=[cycle], verbose=0)
    assert cycle.rearmed is False
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)
