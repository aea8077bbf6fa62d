"""Per-group learning rates, freezing inside and across fits, BatchNorm policy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras import (
    DiscriminativeOptimizer,
    GradualUnfreezing,
    LayerGroup,
    LayerGroups,
    OneCycle,
    ScheduledAdam,
    ScheduledAdamW,
    discriminative_optimizer,
    even_mults,
    freeze,
    freeze_to,
    spread_learning_rates,
    unfreeze,
)

from core_fixtures import regression_data, three_layer_model, weights_of


@pytest.mark.parametrize("base", [lambda: ScheduledAdam(), lambda: ScheduledAdamW(weight_decay=0.1)])
def test_group_rates_equal_separately_optimized_groups(base):
    x, y = regression_data(n=32)
    rates = [1e-4, 1e-3, 1e-2]
    model, groups = three_layer_model(seed=1)
    model.compile(optimizer=discriminative_optimizer(groups, base(), rates), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    # Reference: one plain Keras optimizer per group, same gradients, by hand.
    reference, ref_groups = three_layer_model(seed=1)
    kind = keras.optimizers.AdamW if base().weight_decay else keras.optimizers.Adam
    optimizers = [kind(learning_rate=rate, **({"weight_decay": 0.1} if base().weight_decay else {}))
                  for rate in rates]
    loss_fn = keras.losses.MeanSquaredError()
    for _ in range(2):
        for start in range(0, 32, 8):
            with tf.GradientTape() as tape:
                loss = loss_fn(y[start:start + 8], reference(x[start:start + 8], training=True))
            grads = tape.gradient(loss, reference.trainable_variables)
            by_var = {id(v): g for v, g in zip(reference.trainable_variables, grads)}
            for group, optimizer in zip(ref_groups, optimizers):
                variables = group.variables()
                optimizer.apply([by_var[id(v)] for v in variables], variables)
    for path, value in weights_of(reference).items():
        np.testing.assert_allclose(weights_of(model)[path], value, rtol=1e-5, atol=1e-7)


def test_gradual_unfreezing_inside_one_fit():
    x, y = regression_data(n=32)
    model, groups = three_layer_model()
    optimizer = discriminative_optimizer(groups, ScheduledAdam(1e-2))
    model.compile(optimizer=optimizer, loss="mse")
    snapshots = [weights_of(model)]
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(weights_of(model)))
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
              callbacks=[GradualUnfreezing(groups), record])

    def changed(epoch, layer):
        return not np.array_equal(snapshots[epoch][f"{layer}/kernel"],
                                  snapshots[epoch + 1][f"{layer}/kernel"])

    assert [changed(0, item) for item in ("early", "middle", "head")] == [False, False, True]
    assert [changed(1, item) for item in ("early", "middle", "head")] == [False, True, True]
    assert [changed(2, item) for item in ("early", "middle", "head")] == [True, True, True]
    # Each group's own counter counts its updates (Adam's bias correction);
    # the shared counter, which schedules read, counts every step.
    assert [int(o.iterations) for o in optimizer.optimizers] == [4, 8, 12]
    assert int(optimizer.iterations) == 12


@pytest.mark.parametrize("train_bn", [True, False])
def test_frozen_batchnorm_policy(train_bn):
    x, y = regression_data(n=32)
    model, groups = three_layer_model(batch_norm=True)
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdam(1e-2)), loss="mse")
    freeze(model, groups, train_bn=train_bn)
    before = weights_of(model)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = weights_of(model)
    assert np.array_equal(before["middle/kernel"], after["middle/kernel"])
    assert not np.array_equal(before["head/kernel"], after["head/kernel"])
    for name in ("norm/gamma", "norm/moving_mean"):
        assert np.array_equal(before[name], after[name]) is (not train_bn), name


def test_freeze_to_counts_and_unfreeze_after_fit_keeps_optimizer_state():
    x, y = regression_data(n=16)
    model, groups = three_layer_model()
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdam()), loss="mse")
    freeze_to(model, 2, groups)
    assert [v.path for v in model.trainable_variables] == ["head/kernel", "head/bias"]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    head_slots = [v.numpy().copy() for v in model.optimizer.optimizers[-1].variables]
    unfreeze(model, groups)
    assert len(model.trainable_variables) == 6
    for v, kept in zip(model.optimizer.optimizers[-1].variables, head_slots):
        np.testing.assert_array_equal(v.numpy(), kept)  # no state lost
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert int(model.optimizer.optimizers[0].iterations) == 2
    with pytest.raises(ValueError, match=r"`n` must be an integer in \[-3, 3\]"):
        freeze_to(model, 5, groups)


def test_unfreezing_an_optimizer_built_too_early_is_a_clear_error():
    x, y = regression_data(n=16)
    model, groups = three_layer_model()
    freeze(model, groups)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)  # plain Keras builds on the head only
    with pytest.raises(ValueError, match="cannot update them after unfreezing"):
        unfreeze(model, groups)


def test_save_reload_and_continue_equals_uninterrupted(tmp_path):
    x, y = regression_data(n=64)

    def compiled():
        model, groups = three_layer_model(seed=5)
        model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW(weight_decay=0.1)),
                      loss="mse")
        return model

    straight = compiled()
    straight.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                 callbacks=[OneCycle((1e-3, 1e-2), total_steps=16)])
    interrupted = compiled()
    interrupted.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                    callbacks=[OneCycle((1e-3, 1e-2), total_steps=16)])
    path = tmp_path / "model.keras"
    interrupted.save(path)
    resumed = keras.models.load_model(path)
    assert isinstance(resumed.optimizer, DiscriminativeOptimizer)
    assert [o.name for o in resumed.optimizer.optimizers] == ["early", "middle", "head"]
    resumed.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_layer_group_helpers_and_errors():
    model, groups = three_layer_model()
    assert groups.names == ["early", "middle", "head"]
    assert groups["middle"].layers[0].name == "middle"
    with pytest.raises(KeyError, match="No layer group named 'body'"):
        groups["body"]
    with pytest.raises(ValueError, match="'nope' is not a layer"):
        LayerGroups.split(model, ["nope"])
    with pytest.raises(ValueError, match="in two layer groups"):
        LayerGroups([LayerGroup("a", [model.layers[1]]), LayerGroup("b", [model.layers[1]])])
    np.testing.assert_allclose(even_mults(1e-5, 1e-3, 3), [1e-5, 1e-4, 1e-3])
    assert spread_learning_rates(1e-3, 2) == [1e-3, 1e-3]
    with pytest.raises(ValueError, match="Got 2 learning rates for 3"):
        spread_learning_rates([1e-3, 1e-2], 3)
    with pytest.raises(ValueError, match=r"a \(lo, hi\) pair .* Received: lr=\(0.001, 0.003, 0.01\)"):
        spread_learning_rates((1e-3, 3e-3, 1e-2), 3)  # was "too many values to unpack"
    with pytest.raises(ValueError, match="positive"):
        spread_learning_rates(-1e-3, 3)


def test_reload_after_fine_tune_with_a_nested_body(tmp_path):
    """Optimizer variables line up on reload even when the body is a nested model."""
    from dlkeras import LayerGroup, fine_tune

    keras.utils.set_random_seed(0)
    body_in = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, name="c1")(body_in)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    body = keras.Model(body_in, keras.layers.Conv2D(4, 3, name="c2")(h), name="body")
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(body(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(pooled))
    groups = LayerGroups([LayerGroup("early", [body.get_layer("c1"), body.get_layer("bn1")]),
                          LayerGroup("late", [body.get_layer("c2")]),
                          LayerGroup("head", [model.get_layer("head")])])
    model.compile(optimizer=discriminative_optimizer(groups, ScheduledAdamW()),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.RandomState(0)
    x, y = rng.rand(32, 8, 8, 3).astype("float32"), rng.randint(0, 2, 32)
    fine_tune(model, x, y, epochs=1, layer_groups=groups, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert [v.path for v in reloaded.optimizer.variables] == [
        v.path for v in model.optimizer.variables]
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for m in (model, reloaded):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
