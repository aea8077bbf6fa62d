"""Every Keras optimizer option, with a learning-rate and a momentum schedule, with freezing.

Each case trains a tiny two-layer model (`body` -> `head`) with `fit`, on a
dlkeras optimizer that follows a one-cycle learning rate and momentum,
standalone or inside a `DiscriminativeOptimizer` (one group per layer),
with or without the body frozen. The reference trains the same model
eagerly with plain Keras optimizers (one per trained group), given the
same learning-rate schedule and, before every batch, the scheduled
momentum as a float (which an eager Keras step does read). The frozen body
must come out bit for bit unchanged.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras import (
    LayerGroups,
    OneCycleMomentum,
    OneCycleSchedule,
    ScheduledAdamW,
    ScheduledSGD,
    discriminative_optimizer,
    freeze,
    unfreeze,
)

BATCH, EPOCHS, SAMPLES = 4, 2, 16
TOTAL = EPOCHS * SAMPLES // BATCH
LEARNING_RATE = OneCycleSchedule(0.05, TOTAL)
MOMENTUM = OneCycleMomentum(TOTAL)
LOSS_SCALE = 2.0 ** 15  # LossScaleOptimizer's initial scale; no step overflows here

KINDS = {  # ours, plain Keras, the plain optimizer's momentum attribute
    "adamw": (lambda **o: ScheduledAdamW(LEARNING_RATE, weight_decay=0.1, beta_1=MOMENTUM, **o),
              lambda **o: keras.optimizers.AdamW(LEARNING_RATE, weight_decay=0.1, **o),
              "beta_1"),
    "adamw_fused": (
        lambda **o: ScheduledAdamW(LEARNING_RATE, weight_decay=0.1, beta_1=MOMENTUM, fused=True,
                                   **o),
        lambda **o: keras.optimizers.AdamW(LEARNING_RATE, weight_decay=0.1, **o),
        "beta_1"),
    "sgd": (lambda **o: ScheduledSGD(LEARNING_RATE, momentum=MOMENTUM, nesterov=True, **o),
            lambda **o: keras.optimizers.SGD(LEARNING_RATE, momentum=0.9, nesterov=True, **o),
            "momentum"),
}
OPTIONS = {
    "clipnorm": {"clipnorm": 0.05},
    "global_clipnorm": {"global_clipnorm": 0.05},
    "clipvalue": {"clipvalue": 0.01},
    "ema": {"use_ema": True, "ema_momentum": 0.9},
    "ema_overwrite": {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 3},
    "accumulation": {"gradient_accumulation_steps": 2},
    "loss_scale_factor": {"loss_scale_factor": 64.0},
    "mixed_float16": {},  # compile wraps the optimizer in a LossScaleOptimizer
}
LAYOUTS = ["single", "single_frozen", "groups", "groups_frozen"]


def data():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    # Small targets: scaled by 2**15, float16 gradients must not overflow.
    return x, (0.1 * x @ rng.normal(size=(4, 2))).astype("float32")


def build(mixed):
    keras.config.set_dtype_policy("mixed_float16" if mixed else "float32")
    try:
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(3, activation="tanh", name="body")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    finally:
        keras.config.set_dtype_policy("float32")
    return model, LayerGroups.split(model, ["head"], names=["body", "head"])


def compiled(kind, options, layout, mixed):
    model, groups = build(mixed)
    optimizer = KINDS[kind][0](**options)
    if layout.startswith("groups"):
        optimizer = discriminative_optimizer(groups, optimizer)
    model.compile(optimizer=optimizer, loss="mse")
    if layout.endswith("frozen"):
        freeze(model, groups)
    if mixed:
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    return model


def train_reference(kind, options, layout, mixed):
    """Plain Keras optimizers, one per trained group, stepped eagerly."""
    model, groups = build(mixed)
    if layout.startswith("groups"):
        trained = [g.variables() for g in groups]
    else:
        trained = [[v for g in groups for v in g.variables()]]
    if layout.endswith("frozen"):
        head = {id(v) for v in groups["head"].variables()}
        trained = [[v for v in vs if id(v) in head] for vs in trained]
        trained = [vs for vs in trained if vs]
    scale = LOSS_SCALE if mixed else options.get("loss_scale_factor", 1.0)
    extra = {"loss_scale_factor": LOSS_SCALE} if mixed else {}
    optimizers = [KINDS[kind][1](**options, **extra) for _ in trained]
    loss_fn = keras.losses.MeanSquaredError()
    x, y = data()
    step = 0
    for _ in range(EPOCHS):
        for start in range(0, SAMPLES, BATCH):
            variables = [v for vs in trained for v in vs]
            with tf.GradientTape() as tape:
                loss = loss_fn(y[start:start + BATCH], model(x[start:start + BATCH], training=True))
                scaled = loss * scale
            by_id = dict(zip(map(id, variables), tape.gradient(scaled, variables)))
            for optimizer, vs in zip(optimizers, trained):
                setattr(optimizer, KINDS[kind][2], float(MOMENTUM(step)))
                optimizer.apply([by_id[id(v)] for v in vs], vs)
            step += 1
    for optimizer, vs in zip(optimizers, trained):
        optimizer.finalize_variable_values(vs)  # what fit does at its end (EMA)
    return model


def assert_same_weights(model, reference, layout, mixed):
    tolerance = {"rtol": 2e-3, "atol": 2e-4} if mixed else {"rtol": 2e-5, "atol": 2e-6}
    initial, _ = build(mixed)
    for variable, expected, start in zip(model.weights, reference.weights, initial.weights):
        if layout.endswith("frozen") and variable.path.startswith("body/"):
            np.testing.assert_array_equal(variable.numpy(), start.numpy(), err_msg=variable.path)
        np.testing.assert_allclose(variable.numpy(), expected.numpy(), err_msg=variable.path,
                                   **tolerance)
    assert not np.allclose(model.get_layer("head").kernel.numpy(),
                           initial.get_layer("head").kernel.numpy()), "nothing trained"


# Every option and layout with AdamW; SGD (the other momentum form) and the
# fused Adam kernel at the two ends: standalone, and groups with one frozen.
CASES = [("adamw", option, layout) for option in sorted(OPTIONS) for layout in LAYOUTS]
CASES += [("sgd", option, layout) for option in sorted(OPTIONS)
          for layout in ("single", "groups_frozen")]
# Two options whose state interacts: EMA updated every batch, weights every second.
OPTIONS["ema_accumulation"] = {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 3,
                               "gradient_accumulation_steps": 2}
CASES += [("adamw", "ema_accumulation", layout) for layout in ("single_frozen", "groups_frozen")]
CASES += [("adamw_fused", option, layout)
          for option in ("accumulation", "clipnorm", "ema_overwrite", "mixed_float16")
          for layout in ("single", "groups_frozen")]


@pytest.mark.parametrize("kind, option, layout", CASES)
def test_option_with_schedules_and_freezing_equals_plain_keras(kind, option, layout):
    mixed = option == "mixed_float16"
    model = compiled(kind, OPTIONS[option], layout, mixed)
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    if mixed:  # no step was skipped, so the reference's fixed scale is the scale used
        assert float(model.optimizer.dynamic_scale) == LOSS_SCALE
    assert_same_weights(model, train_reference(kind, OPTIONS[option], layout, mixed), layout, mixed)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_save_reload_mid_cycle_continues_like_plain_keras(kind, layout, tmp_path):
    model = compiled(kind, {}, layout, mixed=False)
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    reloaded.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(reloaded, train_reference(kind, {}, layout, False), layout, False)


@pytest.mark.parametrize("layout", ["single_frozen", "groups_frozen"])
def test_reload_while_frozen_then_unfreeze_keeps_every_slot(layout, tmp_path):
    x, y = data()
    straight = compiled("adamw", {"use_ema": True}, layout, mixed=False)
    straight.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    interrupted = compiled("adamw", {"use_ema": True}, layout, mixed=False)
    interrupted.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    interrupted.save(tmp_path / "model.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it skips optimizer variables
        reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert not reloaded.optimizer.built  # the body's slots wait for the body's variables
    for model in (straight, reloaded):
        unfreeze(model, LayerGroups.split(model, ["head"], names=["body", "head"]))
        assert model.optimizer.built
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(straight.optimizer.variables, reloaded.optimizer.variables):
        assert a.path.split("/", 1)[1] == b.path.split("/", 1)[1]  # names are uniquified
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)
    for a, b in zip(straight.weights, reloaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)


# Serialization with the options' state mid-cycle: EMA averages, and a
# half-filled gradient accumulator (3 steps, 4 batches per epoch).
RELOAD_OPTIONS = {
    "ema_overwrite": OPTIONS["ema_overwrite"],
    "accumulation": {"gradient_accumulation_steps": 3},
    "clipnorm_loss_scale": {"clipnorm": 0.05, "loss_scale_factor": 64.0},
}


@pytest.mark.parametrize("layout", ["single", "groups_frozen"])
@pytest.mark.parametrize("option", sorted(RELOAD_OPTIONS))
def test_save_reload_with_options_continues_like_an_uninterrupted_fit(option, layout, tmp_path):
    x, y = data()
    straight = compiled("adamw", RELOAD_OPTIONS[option], layout, mixed=False)
    interrupted = compiled("adamw", RELOAD_OPTIONS[option], layout, mixed=False)
    for model in (straight, interrupted):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    if option == "accumulation":  # the saved state holds a gradient not yet applied
        assert any(np.any(v.numpy()) for v in interrupted.optimizer.variables
                   if "accumulat" in v.path)
    interrupted.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert reloaded.optimizer.get_config() == interrupted.optimizer.get_config()
    for model in (straight, reloaded):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(straight.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)
    for a, b in zip(straight.weights, reloaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)
