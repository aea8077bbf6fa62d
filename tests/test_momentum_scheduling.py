"""Scheduled momentum really changes the compiled step, exactly as the update rule says."""

import keras
import numpy as np
import pytest

from dlkeras import (
    HyperparameterLogger,
    OneCycle,
    OneCycleMomentum,
    OneCycleSchedule,
    ScheduledAdam,
    ScheduledAdamW,
    ScheduledSGD,
    discriminative_optimizer,
)

from core_fixtures import np_one_cycle, np_one_cycle_momentum, regression_data, three_layer_model

STEPS = 6


def linear_model(w0):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(w0)
    return model


def full_batch_gradient(w, x, y):
    return 2.0 / len(x) * x.T @ (x @ w - y)


W0 = np.full((4, 1), 0.1, dtype="float32")


def trained_linear_kernel(optimizer, x, y):
    """Full-batch training of a bias-free linear model from W0, one step an epoch."""
    model = linear_model(W0)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=len(x), epochs=STEPS, shuffle=False, verbose=0)
    return model.get_weights()[0]


def test_sgd_momentum_schedule_matches_hand_computation():
    x, y = regression_data(n=16)
    lr, mom = OneCycleSchedule(0.05, STEPS), OneCycleMomentum(STEPS)
    kernel = trained_linear_kernel(ScheduledSGD(lr, momentum=mom), x, y)
    w, m = W0.astype("float64"), np.zeros_like(W0, dtype="float64")
    for k in range(STEPS):
        g = full_batch_gradient(w, x, y)
        m = np_one_cycle_momentum(k, STEPS) * m - np_one_cycle(k, STEPS, 0.05) * g
        w = w + m
    np.testing.assert_allclose(kernel, w, rtol=1e-4, atol=1e-6)
    constant = trained_linear_kernel(ScheduledSGD(lr, momentum=0.95), x, y)
    assert np.abs(constant - w).max() > 1e-3  # the schedule mattered


@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_adam_beta1_schedule_and_weight_decay_match_hand_computation(weight_decay):
    x, y = regression_data(n=16)
    lr, mom = OneCycleSchedule(0.05, STEPS), OneCycleMomentum(STEPS)
    optimizer = (ScheduledAdamW(lr, beta_1=mom, weight_decay=weight_decay) if weight_decay
                 else ScheduledAdam(lr, beta_1=mom))
    kernel = trained_linear_kernel(optimizer, x, y)
    w = W0.astype("float64")
    m, v = np.zeros_like(w), np.zeros_like(w)
    beta_2, eps = 0.999, 1e-7
    for k in range(STEPS):
        g = full_batch_gradient(w, x, y)
        b1, rate = np_one_cycle_momentum(k, STEPS), np_one_cycle(k, STEPS, 0.05)
        w = w - w * weight_decay * rate  # decoupled, with this step's rate
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - beta_2)
        alpha = rate * np.sqrt(1 - beta_2 ** (k + 1)) / (1 - b1 ** (k + 1))
        w = w - m * alpha / (np.sqrt(v) + eps)
    np.testing.assert_allclose(kernel, w, rtol=1e-4, atol=1e-6)


def train_full_pipeline(optimizer_factory, steps_per_execution=1, jit_compile=False):
    x, y = regression_data(n=64)
    model, groups = three_layer_model(seed=3)
    model.compile(optimizer=discriminative_optimizer(groups, optimizer_factory()), loss="mse",
                  steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    logger = HyperparameterLogger()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
              callbacks=[OneCycle((1e-3, 1e-2)), logger])
    return model.get_weights(), logger


OPTIMIZERS = {
    "adam": lambda: ScheduledAdam(1e-3),
    "adamw": lambda: ScheduledAdamW(1e-3, weight_decay=0.1),
    "sgd": lambda: ScheduledSGD(1e-3, momentum=0.9),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_same_weights_for_steps_per_execution_and_jit(name):
    reference, _ = train_full_pipeline(OPTIMIZERS[name])
    for spe, jit in [(8, False), (1, True)]:
        weights, _ = train_full_pipeline(OPTIMIZERS[name], spe, jit)
        for a, b in zip(reference, weights):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_recorded_lr_and_momentum_per_step_equal_the_pure_schedule():
    x, y = regression_data(n=64)
    model, groups = three_layer_model()
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW()), loss="mse")
    logger = HyperparameterLogger(update_freq="batch")
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[OneCycle([1e-4, 1e-3, 1e-2], pct_start=0.3), logger])
    total = 24
    assert [row["step"] for row in logger.steps] == list(range(total))
    for group, peak in zip(groups.names, [1e-4, 1e-3, 1e-2]):
        recorded = [row[f"lr/{group}"] for row in logger.steps]
        expected = [np_one_cycle(k, total, peak, pct_start=0.3) for k in range(total)]
        np.testing.assert_allclose(recorded, expected, rtol=1e-5)
        momentum = [row[f"momentum/{group}"] for row in logger.steps]
        np.testing.assert_allclose(
            momentum, [np_one_cycle_momentum(k, total, pct_start=0.3) for k in range(total)],
            rtol=1e-6)
        # History gets the value of each epoch's last step.
        np.testing.assert_allclose(history.history[f"lr/{group}"],
                                   [expected[7], expected[15], expected[23]], rtol=1e-5)


def test_second_fit_starts_a_new_cycle():
    x, y = regression_data(n=32)
    model = linear_model(np.zeros((4, 1), "float32"))
    model.compile(optimizer=ScheduledAdam(), loss="mse")
    logger = HyperparameterLogger(update_freq=1)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[OneCycle(1e-2)])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[OneCycle(2e-2), logger])
    assert [row["step"] for row in logger.steps] == list(range(4, 12))
    np.testing.assert_allclose([row["lr"] for row in logger.steps],
                               [np_one_cycle(k, 8, 2e-2) for k in range(8)], rtol=1e-5)


def test_optimizers_round_trip_their_momentum_schedule():
    for optimizer in (ScheduledAdamW(OneCycleSchedule(1e-3, 10), beta_1=OneCycleMomentum(10)),
                      ScheduledSGD(0.1, momentum=OneCycleMomentum(10, moms=(0.9, 0.8, 0.9)))):
        restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        assert type(restored) is type(optimizer)
        assert restored.momentum_schedule.get_config() == optimizer.momentum_schedule.get_config()
        assert float(restored.current_momentum()) == pytest.approx(
            float(optimizer.current_momentum()))


def test_bad_momentum_values_are_refused():
    with pytest.raises(ValueError, match="beta_1"):
        ScheduledAdam(beta_1=1.5)
    with pytest.raises(ValueError, match="momentum"):
        ScheduledSGD(momentum="high")
    with pytest.raises(ValueError, match="weight_decay"):
        ScheduledAdamW(weight_decay=-0.1)
