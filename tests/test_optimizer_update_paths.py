"""The fused (ResourceApplyAdam) and the sparse (lazy, row-wise) Adam update paths."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras import (
    LayerGroups,
    OneCycleMomentum,
    ScheduledAdam,
    ScheduledAdamW,
    discriminative_optimizer,
    freeze,
    unfreeze,
)

MOMENTUM = OneCycleMomentum(6)
SHAPES = [(3, 4), (4,), ()]


def gradients(step, dtypes=("float32",) * 3):
    rng = np.random.RandomState(step)
    return [tf.constant(rng.normal(size=shape), dtype) for shape, dtype in zip(SHAPES, dtypes)]


def fresh_variables(dtypes=("float32",) * 3):
    rng = np.random.RandomState(42)
    return [keras.Variable(rng.normal(size=shape), dtype=dtype, name=f"v{i}")
            for i, (shape, dtype) in enumerate(zip(SHAPES, dtypes))]


def run(optimizer, steps=6, momentum_attr=None, dtypes=("float32",) * 3, traced=False):
    """Applies `steps` fixed gradients; a plain Keras optimizer gets the momentum set per step."""
    variables = fresh_variables(dtypes)

    def apply(grads):
        optimizer.apply(grads, variables)

    apply = tf.function(apply) if traced else apply
    for step in range(steps):
        if momentum_attr:
            setattr(optimizer, momentum_attr, float(MOMENTUM(step)))
        apply(gradients(step, dtypes))
    return [v.numpy() for v in variables]


def traced_op_types(optimizer):
    variables = fresh_variables()
    optimizer.build(variables)
    graph = tf.function(lambda grads: optimizer.apply(grads, variables)).get_concrete_function(
        gradients(0)).graph
    return {op.type for op in graph.get_operations()}


CASES = {  # name: (ours, plain Keras, set the plain optimizer's beta_1 per step)
    "adam": (lambda **o: ScheduledAdam(0.1, **o), lambda: keras.optimizers.Adam(0.1), False),
    "adamw": (lambda **o: ScheduledAdamW(0.1, weight_decay=0.2, **o),
              lambda: keras.optimizers.AdamW(0.1, weight_decay=0.2), False),
    "adam_scheduled_beta_1": (lambda **o: ScheduledAdam(0.1, beta_1=MOMENTUM, **o),
                              lambda: keras.optimizers.Adam(0.1), True),
    "adamw_scheduled_beta_1": (
        lambda **o: ScheduledAdamW(0.1, weight_decay=0.2, beta_1=MOMENTUM, **o),
        lambda: keras.optimizers.AdamW(0.1, weight_decay=0.2), True),
}


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_update_equals_keras(case, traced):
    ours, plain, scheduled = CASES[case]
    assert not ours().fused  # the default: Keras' own update path
    expected = run(plain(), momentum_attr="beta_1" if scheduled else None)
    # The kernel computes 1 - beta_2 in float32 (1.3e-5 relative off for
    # 0.999, where Keras subtracts in float64): a few 1e-6 here after six steps.
    for got, want in zip(run(ours(fused=True), traced=traced), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for got, want in zip(run(ours(), traced=traced), expected):
        if traced:  # graph rewrites may round differently
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        else:  # Keras' own update path
            np.testing.assert_array_equal(got, want)


def test_fused_kernel_is_used_and_keras_path_where_it_does_not_apply():
    assert "ResourceApplyAdam" in traced_op_types(ScheduledAdamW(weight_decay=0.1, fused=True))
    assert "ResourceApplyAdam" not in traced_op_types(ScheduledAdamW())
    assert "ResourceApplyAdam" not in traced_op_types(ScheduledAdamW(amsgrad=True, fused=True))
    # amsgrad still equals Keras through the fallback.
    for got, want in zip(run(ScheduledAdam(0.1, amsgrad=True, fused=True)),
                         run(keras.optimizers.Adam(0.1, amsgrad=True))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fused_weight_decay_equals_keras_per_dtype_and_honours_the_exclusion():
    dtypes = ("float64", "float32", "float32")

    def keras_adamw():
        optimizer = keras.optimizers.AdamW(0.1, weight_decay=0.2)
        optimizer.exclude_from_weight_decay(var_names=["v1"])
        return optimizer

    expected = run(keras_adamw(), dtypes=dtypes)
    for traced in (False, True):
        got = run(ScheduledAdamW(0.1, weight_decay=0.2, weight_decay_exclude=["v1"], fused=True),
                  dtypes=dtypes, traced=traced)
        for value, want, dtype in zip(got, expected, dtypes):
            assert value.dtype == dtype
            np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5)
    # The excluded variable is not decayed; the others are.
    undecayed = run(ScheduledAdam(0.1, fused=True), dtypes=dtypes)
    np.testing.assert_allclose(got[1], undecayed[1], rtol=1e-6)
    assert not np.allclose(got[0], undecayed[0], rtol=1e-6)
    assert not np.allclose(got[2], undecayed[2], rtol=1e-6)


def test_fused_update_with_mixed_variable_dtypes_equals_keras():
    dtypes = ("float64", "float16", "float32")
    expected = run(keras.optimizers.Adam(0.01), dtypes=dtypes)
    for got, want, dtype in zip(run(ScheduledAdam(0.01, fused=True), dtypes=dtypes), expected,
                                dtypes):
        assert got.dtype == dtype
        tolerance = 1e-3 if dtype == "float16" else 1e-6
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


def _op_counts(optimizer, dtypes):
    variables = fresh_variables(dtypes)
    optimizer.build(variables)
    graph = tf.function(lambda grads: optimizer.apply(grads, variables)).get_concrete_function(
        gradients(0, dtypes)).graph
    return {kind: sum(op.type == kind for op in graph.get_operations())
            for kind in ("Pow", "Sqrt", "ReadVariableOp")}


@pytest.mark.parametrize("amsgrad", [False, True])
def test_default_path_computes_the_step_scalars_once_per_dtype_and_equals_keras(amsgrad):
    dtypes = ("float64", "float32", "float32")
    for scheduled in (False, True):
        ours = ScheduledAdam(0.01, amsgrad=amsgrad, beta_1=MOMENTUM if scheduled else 0.9)
        expected = run(keras.optimizers.Adam(0.01, amsgrad=amsgrad), dtypes=dtypes,
                       momentum_attr="beta_1" if scheduled else None)
        for got, want in zip(run(ours, dtypes=dtypes), expected):
            np.testing.assert_array_equal(got, want)  # bit for bit, every dtype
    ours = _op_counts(ScheduledAdam(0.01, amsgrad=amsgrad), dtypes)
    plain = _op_counts(keras.optimizers.Adam(0.01, amsgrad=amsgrad), dtypes)
    # Keras: two powers and one scalar sqrt per variable; ours: per dtype (2 here).
    assert plain["Pow"] == 2 * 3 and ours["Pow"] == 2 * 2
    assert plain["Sqrt"] - ours["Sqrt"] == 1
    assert ours["ReadVariableOp"] < plain["ReadVariableOp"]


def test_fused_update_under_fit_with_jit_compile_equals_keras():
    def fitted(optimizer, jit_compile):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
        rng = np.random.RandomState(0)
        x, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 1))
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    expected = fitted(keras.optimizers.AdamW(0.01, weight_decay=0.1), False)
    for jit_compile in (False, True):
        fused = ScheduledAdamW(0.01, weight_decay=0.1, fused=True)
        for got, want in zip(fitted(fused, jit_compile), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --- Sparse (lazy) updates ---------------------------------------------------

ROWS, DIM = 6, 2
LOOKUPS = [[1, 3, 1], [3, 4], [0, 1, 1, 1]]  # row 2 and 5 are never looked up


def sparse_gradient(step):
    values = np.random.RandomState(10 + step).normal(size=(len(LOOKUPS[step]), DIM))
    return values.astype("float32"), np.array(LOOKUPS[step], "int32")


def numpy_lazy_adam(table, lr, beta_1s, beta_2=0.999, epsilon=1e-7):
    """Adam on the looked-up rows only, duplicate lookups summed; bias correction by step."""
    table = table.astype("float64").copy()
    m, v = np.zeros_like(table), np.zeros_like(table)
    for step, beta_1 in enumerate(beta_1s):
        values, indices = sparse_gradient(step)
        rows = np.unique(indices)
        grad = np.stack([values[indices == row].sum(axis=0) for row in rows])
        m[rows] += (grad - m[rows]) * (1 - beta_1)
        v[rows] += (grad ** 2 - v[rows]) * (1 - beta_2)
        alpha = lr * np.sqrt(1 - beta_2 ** (step + 1)) / (1 - beta_1 ** (step + 1))
        table[rows] -= alpha * m[rows] / (np.sqrt(v[rows]) + epsilon)
    return table, m, v


@pytest.mark.parametrize("traced", ["eager", "graph", "xla"])
@pytest.mark.parametrize("scheduled", [False, True])
def test_sparse_update_is_lazy_adam_on_the_looked_up_rows(scheduled, traced):
    start = np.random.RandomState(0).normal(size=(ROWS, DIM)).astype("float32")
    table = keras.Variable(start, name="embeddings")
    optimizer = ScheduledAdamW(0.1, weight_decay=0.5, beta_1=MOMENTUM if scheduled else 0.9,
                               sparse_updates=True, weight_decay_exclude=["embeddings"])

    def apply(values, indices):
        optimizer.apply([tf.IndexedSlices(values, indices, tf.constant([ROWS, DIM]))], [table])

    if traced != "eager":
        apply = tf.function(apply, jit_compile=traced == "xla")
    for step in range(len(LOOKUPS)):
        apply(*sparse_gradient(step))
    beta_1s = [float(MOMENTUM(k)) if scheduled else 0.9 for k in range(len(LOOKUPS))]
    expected, m, v = numpy_lazy_adam(start, 0.1, beta_1s)
    # float32 against float64: 1 - beta_2**t cancels (as in Keras' own Adam).
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-5, atol=1e-5)
    slots = {s.name.rsplit("_", 1)[-1]: s.numpy() for s in optimizer.variables[2:]}
    np.testing.assert_allclose(slots["momentum"], m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(slots["velocity"], v, rtol=1e-5, atol=1e-7)
    for row in (2, 5):  # never looked up: value and slots untouched (weight decay excluded)
        np.testing.assert_array_equal(table.numpy()[row], start[row])
        assert not slots["momentum"][row].any() and not slots["velocity"][row].any()


def test_sparse_updates_off_is_dense_adam_and_exclusion_only_skips_decay():
    start = np.random.RandomState(0).normal(size=(ROWS, DIM)).astype("float32")
    kernel_start = np.ones((2, 2), "float32")

    def trained(optimizer, dense=False):
        table, kernel = keras.Variable(start, name="embeddings"), keras.Variable(kernel_start)
        for step in range(len(LOOKUPS)):
            gradient = tf.IndexedSlices(*sparse_gradient(step), tf.constant([ROWS, DIM]))
            optimizer.apply([tf.convert_to_tensor(gradient) if dense else gradient,
                             tf.zeros((2, 2))], [table, kernel])
        return table.numpy(), kernel.numpy()

    def keras_adamw():
        optimizer = keras.optimizers.AdamW(0.1, weight_decay=0.5)
        optimizer.exclude_from_weight_decay(var_names=["embed"])
        return optimizer

    ours_table, ours_kernel = trained(ScheduledAdamW(0.1, weight_decay=0.5,
                                                     weight_decay_exclude=["embed"]))
    dense_table, _ = trained(keras_adamw(), dense=True)
    np.testing.assert_allclose(ours_table, dense_table, rtol=1e-6, atol=1e-7)
    # Keras 3 itself, given the repeated rows, squares each repeat apart.
    keras_table, _ = trained(keras_adamw())
    assert not np.allclose(keras_table[1], dense_table[1], atol=1e-4)
    lazy, _, _ = numpy_lazy_adam(start, 0.1, [0.9] * len(LOOKUPS))
    assert not np.allclose(ours_table[4], lazy[4], atol=1e-4)  # dense Adam moved row 4 at step 3
    np.testing.assert_allclose(ours_kernel, kernel_start * (1 - 0.05) ** 3, rtol=1e-6)
    with pytest.raises(ValueError, match=r"weight_decay_exclude.*Received: weight_decay_exclude=3"):
        ScheduledAdamW(weight_decay_exclude=3)


def embedding_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,), dtype="int32")
    x = keras.layers.Embedding(ROWS, DIM, name="ids")(inputs)
    outputs = keras.layers.Dense(1, name="head")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    return model, LayerGroups.split(model, ["head"], names=["ids", "head"])


# Two batches with a repeated row each; rows 2 and 5 are never looked up.
IDS = np.array([[0, 1], [3, 1], [1, 3], [4, 4]], "int32")
TARGET = np.array([[1.0], [0.0], [0.5], [2.0]], "float32")


def trained_frozen_then_unfrozen(sparse_updates):
    model, groups = embedding_model()
    base = ScheduledAdamW(0.05, weight_decay=0.1, beta_1=MOMENTUM, sparse_updates=sparse_updates,
                          weight_decay_exclude=["ids/"], fused=True)
    model.compile(optimizer=discriminative_optimizer(groups, base), loss="mse")
    start = model.get_layer("ids").embeddings.numpy().copy()
    freeze(model, groups)
    model.fit(IDS, TARGET, batch_size=2, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.get_layer("ids").embeddings.numpy(), start)
    unfreeze(model, groups)
    model.fit(IDS, TARGET, batch_size=2, epochs=1, shuffle=False, verbose=0)
    return model, start


def test_sparse_and_fused_paths_inside_discriminative_optimizer_with_freezing(tmp_path):
    model, start = trained_frozen_then_unfrozen(sparse_updates=True)
    dense, _ = trained_frozen_then_unfrozen(sparse_updates=False)
    table, dense_table = (m.get_layer("ids").embeddings.numpy() for m in (model, dense))
    ids_optimizer = model.optimizer.optimizers[0]
    assert [int(ids_optimizer.iterations), int(model.optimizer.iterations)] == [2, 4]
    # Rows looked up in both batches, or first in the second: lazy and dense
    # Adam agree. Row 0 is not looked up in the second batch: dense Adam still
    # moves it (its moments decay), lazy Adam leaves it and its moments.
    np.testing.assert_allclose(table[[1, 3, 4]], dense_table[[1, 3, 4]], rtol=1e-6, atol=1e-7)
    assert not np.allclose(table[0], dense_table[0], atol=1e-5)
    np.testing.assert_array_equal(table[[2, 5]], start[[2, 5]])
    moments = [v.numpy() for v in ids_optimizer.variables if "ids_embeddings" in v.path]
    assert len(moments) == 2 and all(not m[[2, 5]].any() for m in moments)
    np.testing.assert_allclose(model.get_layer("head").kernel.numpy(),
                               dense.get_layer("head").kernel.numpy(), rtol=1e-6)

    # Serialized with its options; reloads and continues like the original.
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    config = reloaded.optimizer.optimizers[0].get_config()
    assert (config["fused"], config["sparse_updates"], config["weight_decay_exclude"]) == (
        True, True, ["ids/"])
    for m in (model, reloaded):
        m.fit(IDS, TARGET, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
