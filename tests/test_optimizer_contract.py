"""dlkeras optimizers keep Keras' contract: per-batch schedules, EMA, arguments, wrappers."""

import keras
import numpy as np
import pytest

from dlkeras import (
    DiscriminativeOptimizer,
    LayerGroups,
    OneCycleMomentum,
    OneCycleSchedule,
    ScheduledAdam,
    ScheduledAdamW,
    ScheduledSGD,
    discriminative_optimizer,
    fine_tune,
    fit_one_cycle,
    freeze,
    unfreeze,
)
from dlkeras.keras_internals import ema_average, learning_rate_object, routed_optimizer_index
from dlkeras.optimizers import schedule_step_of, sub_optimizers, supports_momentum_schedule
from dlkeras.optimizers.restoring import is_stand_in, layout_of, restore_build_order

from core_fixtures import regression_data, three_layer_model

HALVING = keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)


def accumulated(optimizer, steps=4):
    variable = keras.Variable([0.0, 0.0])
    for _ in range(steps):
        optimizer.apply([keras.ops.convert_to_tensor([1.0, -2.0])], [variable])
    return variable.numpy()


@pytest.mark.parametrize("ours, plain, options", [
    (ScheduledSGD, keras.optimizers.SGD, {}),
    (ScheduledAdam, keras.optimizers.Adam, {}),
    (ScheduledAdamW, keras.optimizers.AdamW, {"weight_decay": 0.1}),
])
def test_schedules_advance_per_batch_with_gradient_accumulation(ours, plain, options):
    expected = accumulated(plain(learning_rate=HALVING, gradient_accumulation_steps=2, **options))
    got = accumulated(ours(learning_rate=HALVING, gradient_accumulation_steps=2, **options))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    if plain is keras.optimizers.SGD:  # the repro: 0.5 + 0.125 of the first gradient
        np.testing.assert_allclose(expected[0], -0.625)


def test_discriminative_groups_advance_their_schedules_per_batch_too():
    with keras.name_scope("body"):
        body = keras.Variable([0.0, 0.0], name="kernel")
    head = keras.Variable([0.0, 0.0], name="kernel")
    optimizer = DiscriminativeOptimizer(keras.optimizers.OptimizerMap(
        ScheduledSGD(HALVING, gradient_accumulation_steps=2),
        {"body/.*": ScheduledSGD(HALVING, gradient_accumulation_steps=2)}))
    optimizer.build([body, head])
    for _ in range(4):  # the body is frozen: only the head's gradient comes
        optimizer.apply([keras.ops.convert_to_tensor([1.0, -2.0])], [head])
    np.testing.assert_allclose(head.numpy(), [-0.625, 1.25])
    assert int(schedule_step_of(optimizer.optimizers[0])) == 4


def two_layer_model(width):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(width, activation="tanh", name="body")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    return model, LayerGroups.split(model, ["head"], names=["body", "head"])


def test_ema_with_freeze_writes_each_variable_its_own_average():
    x, y = regression_data(n=16)
    y = np.concatenate([y, -y], axis=1)
    model, groups = two_layer_model(width=2)  # body/kernel (4, 2), head/kernel (2, 2)
    model.compile(optimizer=ScheduledAdamW(1e-2, use_ema=True, ema_momentum=0.5), loss="mse")
    freeze(model, groups)
    body_before = model.get_layer("body").kernel.numpy().copy()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    head = model.get_layer("head").kernel
    np.testing.assert_array_equal(head.numpy(), ema_average(model.optimizer, head).numpy())
    np.testing.assert_array_equal(model.get_layer("body").kernel.numpy(), body_before)


def test_ema_through_fine_tune_with_different_shapes():
    x, y = regression_data(n=16)
    y = np.concatenate([y, -y], axis=1)
    model, groups = two_layer_model(width=3)
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW(use_ema=True)),
                  loss="mse")
    fine_tune(model, x, y, epochs=1, layer_groups=groups, batch_size=4, verbose=0)
    for group, optimizer in zip(groups, model.optimizer.optimizers):
        for variable in group.variables():
            np.testing.assert_array_equal(variable.numpy(),
                                          ema_average(optimizer, variable).numpy())


@pytest.mark.parametrize("grouped", [False, True], ids=["single", "groups"])
def test_ema_of_a_frozen_group_follows_weights_loaded_while_frozen(grouped):
    # Loading weights after compile + freeze (the optimizer is built by then)
    # must give what loading them before compiling gives, also after unfreezing.
    x, y = regression_data(n=16)
    y = np.concatenate([y, -y], axis=1)
    loaded, _ = two_layer_model(width=3)
    loaded.set_weights([w + 0.5 for w in loaded.get_weights()])
    bodies = []
    for load_after_freeze in (False, True):
        model, groups = two_layer_model(width=3)
        if not load_after_freeze:
            model.set_weights(loaded.get_weights())
        optimizer = ScheduledAdam(1e-2, use_ema=True, ema_momentum=0.9)
        model.compile(optimizer=discriminative_optimizer(groups, optimizer) if grouped else optimizer,
                      loss="mse")
        freeze(model, groups)
        if load_after_freeze:
            model.set_weights(loaded.get_weights())
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        unfreeze(model, groups)
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        bodies.append(model.get_layer("body").kernel.numpy())
    np.testing.assert_allclose(bodies[1], bodies[0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("base", [lambda: ScheduledAdam(use_ema=True),
                                  lambda: keras.optimizers.Adam(use_ema=True)])
def test_ema_of_a_group_with_trainable_batchnorm_in_a_frozen_body(base):
    x, y = regression_data(n=16)
    model, groups = three_layer_model(batch_norm=True)  # "middle" group: Dense + BatchNorm
    model.compile(optimizer=discriminative_optimizer(groups, base()), loss="mse")
    freeze(model, groups)  # train_bn: the group's BatchNorm still trains, its Dense does not
    if not supports_momentum_schedule(model.optimizer.optimizers[1]):
        with pytest.raises(ValueError, match="pair them with its moving averages by position"):
            model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        return
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    middle = model.optimizer.optimizers[1]
    for variable in model.get_layer("norm").trainable_variables:
        np.testing.assert_array_equal(variable.numpy(), ema_average(middle, variable).numpy())


def test_arguments_follow_keras_contract():
    assert isinstance(ScheduledAdamW(), keras.optimizers.AdamW)
    assert isinstance(ScheduledAdamW(), ScheduledAdam)
    assert ScheduledSGD(momentum=1.0).momentum == 1.0
    assert ScheduledSGD(0.1, 0.9, True).nesterov  # Keras' positional order
    assert ScheduledAdam(0.1, 0.8, 0.99, 1e-5, True).amsgrad
    x, y = regression_data(n=8)
    weights = []
    for beta_1 in (0.8, np.float32(0.8), keras.ops.convert_to_tensor(0.8),
                   keras.Variable(0.8, trainable=False)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=ScheduledAdam(0.1, beta_1=beta_1), loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        weights.append(model.get_weights()[0])
    for w in weights[1:]:
        np.testing.assert_allclose(w, weights[0], rtol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: ScheduledAdam(beta_1=1.5), r"`beta_1` must be .* Received: beta_1=1.5"),
    (lambda: ScheduledAdam(beta_1=lambda: 0.9), r"Received: beta_1=<function"),
    (lambda: ScheduledSGD(momentum=-1.0), r"`momentum` must be .* Received: momentum=-1.0"),
    (lambda: ScheduledSGD(momentum="high"), r"Received: momentum='high'"),
    (lambda: ScheduledAdamW(weight_decay=None), r"Received: weight_decay=None"),
    (lambda: ScheduledAdamW(weight_decay=-0.1), r"must be >= 0. Received: weight_decay=-0.1"),
    (lambda: ScheduledAdam(weight_decay_exclude=["("]), r"invalid regex"),
])
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_learning_rate_setter_keeps_the_variable():
    optimizer = ScheduledAdam(1e-3)
    names = [v.name for v in optimizer.variables]
    optimizer.learning_rate = OneCycleSchedule(1e-2, 10)
    assert [v.name for v in optimizer.variables] == names
    assert float(optimizer.learning_rate) == pytest.approx(1e-2 / 25, rel=1e-5)
    optimizer.learning_rate = 5e-4
    assert learning_rate_object(optimizer) is optimizer.variables[1]
    assert float(optimizer.learning_rate) == pytest.approx(5e-4, rel=1e-6)


def test_one_cycle_under_mixed_precision_reaches_the_inner_optimizer():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(optimizer=ScheduledAdamW(), loss="mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    (inner,) = sub_optimizers(model.optimizer)
    assert inner is model.optimizer.inner_optimizer
    x, y = regression_data(n=32)
    # Small data: no float16 overflow, so the LossScaleOptimizer skips no step.
    fit_one_cycle(model, 0.05 * x, 0.05 * y, epochs=1, lr_max=1e-2, batch_size=8, verbose=0)
    assert isinstance(learning_rate_object(inner), OneCycleSchedule)
    assert isinstance(inner.momentum_schedule, OneCycleMomentum)
    assert int(schedule_step_of(model.optimizer)) == 4
    assert float(inner.learning_rate) < 1e-6  # the cycle's end


def test_restored_layout_matches_paths_and_falls_back_when_it_cannot():
    def variable(scope, shape=(2,)):
        with keras.name_scope(scope):
            return keras.Variable(np.zeros(shape), name="kernel")

    body, head = variable("body"), variable("head")
    layout = layout_of([body, head])
    restored = restore_build_order([head], layout)
    assert is_stand_in(restored[0]) and restored[0].path == "body/kernel"
    assert restored[1] is head
    other = variable("other")
    assert restore_build_order([other], layout) == [other]  # another model: Keras' build
    twice = layout_of([variable("twin"), variable("twin")])
    single = variable("twin")
    assert restore_build_order([single], twice) == [single]  # which twin? not guessed
    wider = variable("head", (3,))
    assert restore_build_order([wider], layout) == [wider]  # same path, other shape


# What two of Keras' own tests check after the point where they stop on a
# documented difference (tests/test_optimizer_keras_suite.py): the losses of
# a fit under ExponentialDecay, and the routing of a reloaded MultiOptimizer.
@pytest.mark.parametrize("ours, plain", [
    (lambda **o: ScheduledAdam(**o), lambda **o: keras.optimizers.Adam(**o)),
    (lambda **o: ScheduledSGD(momentum=0.9, **o), lambda **o: keras.optimizers.SGD(momentum=0.9, **o)),
], ids=["adam", "sgd"])
@pytest.mark.parametrize("accumulation, steps_per_execution, jit", [(None, 1, False), (2, 3, True)],
                         ids=["plain", "accumulation-spe3-jit"])
def test_fit_under_exponential_decay_equals_keras(ours, plain, accumulation, steps_per_execution,
                                                   jit):
    x = np.arange(32, dtype="float32").reshape((16, 2)) / 10
    results = []
    for make in (plain, ours):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
            2, kernel_initializer="ones", bias_initializer="ones")])
        optimizer = make(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.05, 1, 0.9),
                         gradient_accumulation_steps=accumulation)
        model.compile(optimizer=optimizer, loss="mse", steps_per_execution=steps_per_execution,
                      jit_compile=jit)
        history = model.fit(x, x, epochs=3, batch_size=4, shuffle=False, verbose=0)
        assert int(schedule_step_of(optimizer)) == 12  # one per batch
        results.append((history.history["loss"], model.get_weights()))
    (keras_losses, keras_weights), (losses, weights) = results
    np.testing.assert_allclose(losses, keras_losses, rtol=1e-6)
    for got, expected in zip(weights, keras_weights):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_reloaded_discriminative_optimizer_routes_each_variable_to_its_group():
    variables = []
    for scope in ("dense_1", "dense_2", "other"):
        with keras.name_scope(scope):
            variables.append(keras.Variable([[1.0]], name="kernel"))
    optimizer_map = keras.optimizers.OptimizerMap(keras.optimizers.RMSprop(1e-4))
    optimizer_map["^dense_1/.*"] = ScheduledAdam(1e-3)
    optimizer_map["^dense_2/.*"] = ScheduledSGD(1e-2)
    optimizer = DiscriminativeOptimizer(optimizer_map)
    optimizer.build(variables)
    reloaded = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    reloaded.build(variables)
    assert isinstance(reloaded, DiscriminativeOptimizer)
    routed = [type(reloaded.optimizers[routed_optimizer_index(reloaded, v)]) for v in variables]
    assert routed == [ScheduledAdam, ScheduledSGD, keras.optimizers.RMSprop]
    assert [o.learning_rate.numpy() for o in reloaded.optimizers] == pytest.approx([1e-3, 1e-2, 1e-4])
