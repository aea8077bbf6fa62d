"""Sparse AdamW against dense Adam by hand, and the recipe on synthetic low-rank ratings."""
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from apps.recommender.optimizer import SparseAdamW
from apps.recommender.task import RecommenderTask
from dlkeras.optimizers import ScheduledAdamW
from dlkeras.tasks import Task
from dlkeras.schedules import OneCycleMomentum


def _table(name="embeddings"):
    return keras.Variable(np.arange(10, dtype="float32").reshape(5, 2) / 10, name=name)


def _sparse_grad(values, rows):
    return tf.IndexedSlices(tf.constant(values, tf.float32), tf.constant(rows, tf.int64),
                            tf.constant([5, 2], tf.int64))


def test_sparse_update_matches_dense_adam_on_touched_rows_and_skips_the_rest():
    sparse_var, dense_var = _table(), _table()
    sparse, dense = SparseAdamW(0.1, weight_decay=0.5), keras.optimizers.Adam(0.1)
    step1 = _sparse_grad([[1, 2], [3, 4], [5, 6]], [1, 3, 1])  # row 1 twice: grads add up
    sparse.apply([step1], [sparse_var])
    dense.apply([tf.convert_to_tensor(step1)], [dense_var])
    # Same update up to float rounding (the step is 0.1; a wrong formula is off by >1e-3).
    np.testing.assert_allclose(sparse_var.numpy(), dense_var.numpy(), atol=2e-6)
    step2 = _sparse_grad([[1, 1]], [2])
    sparse.apply([step2], [sparse_var])
    dense.apply([tf.convert_to_tensor(step2)], [dense_var])
    np.testing.assert_allclose(sparse_var.numpy()[2], dense_var.numpy()[2], atol=2e-6)
    before = _table().numpy()
    np.testing.assert_array_equal(sparse_var.numpy()[[0, 4]], before[[0, 4]])  # never touched
    # Dense Adam keeps moving row 1 on its momentum; the sparse update leaves it alone.
    assert abs(dense_var.numpy()[1, 0] - sparse_var.numpy()[1, 0]) > 1e-2


def test_decoupled_mode_equals_scheduled_adamw_and_l2_mode_skips_decay():
    var_a, var_b, var_c = _table(), _table(), _table()
    momentum = OneCycleMomentum(total_steps=4)
    decoupled = SparseAdamW(0.1, weight_decay=0.5, decay_embeddings=True, beta_1=momentum)
    reference = ScheduledAdamW(0.1, weight_decay=0.5, beta_1=OneCycleMomentum(total_steps=4))
    l2_mode = SparseAdamW(0.1, weight_decay=0.5)
    grad = _sparse_grad([[1, 2]], [1])
    for _ in range(2):
        decoupled.apply([grad], [var_a])
        reference.apply([tf.convert_to_tensor(grad)], [var_b])
        l2_mode.apply([grad], [var_c])
    np.testing.assert_allclose(var_a.numpy(), var_b.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(var_c.numpy()[0], _table().numpy()[0])  # no decay on rows
    assert not np.allclose(var_a.numpy()[0], _table().numpy()[0])  # decoupled decays all rows


def test_sparse_adamw_config_round_trip():
    optimizer = SparseAdamW(0.01, weight_decay=0.2, decay_embeddings=True,
                            beta_1=OneCycleMomentum(total_steps=10))
    clone = SparseAdamW.from_config(optimizer.get_config())
    assert clone.decay_embeddings and clone.weight_decay == pytest.approx(0.2)
    assert float(clone.current_momentum()) == pytest.approx(0.95)


def _low_rank_ratings(n_users=40, n_items=30, seed=0):
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    rating = np.clip(3 + users @ items.T, 0.5, 5.0)
    uu, ii = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    frame = pd.DataFrame({"user": 100 + uu.ravel(), "item": 500 + ii.ravel(),
                          "rating": rating.ravel().astype("float32")})
    order = rng.permutation(len(frame))
    return frame.iloc[order[240:]].reset_index(drop=True), frame.iloc[order[:240]].reset_index(drop=True)


@pytest.mark.parametrize("kind, ratio", [("dot", 0.6), ("neural", 0.95)])
def test_recipe_learns_low_rank_ratings(kind, ratio):
    train, valid = _low_rank_ratings()
    keras.utils.set_random_seed(0)
    task = RecommenderTask.from_ratings(train, kind=kind, n_factors=4, weight_decay=1e-3,
                                        steps_per_execution=10, jit_compile=False)
    baseline = float(np.sqrt(np.mean((valid["rating"] - train["rating"].mean()) ** 2)))
    history = task.fit_one_cycle(train, validation_data=valid, epochs=10, lr_max=3e-2,
                                 batch_size=32, seed=0, verbose=0)
    assert history.history["lr"][0] < history.history["lr"][2]  # one-cycle warm-up ran
    result = task.evaluate_ratings(valid)
    assert result["rmse"] < ratio * baseline, (result, baseline)


def test_steps_per_execution_and_xla_give_the_same_weights():
    train, _ = _low_rank_ratings()
    weights = []
    for spe, jit in [(1, False), (8, True)]:
        keras.utils.set_random_seed(1)
        task = RecommenderTask.from_ratings(train, n_factors=3, steps_per_execution=spe,
                                            jit_compile=jit)
        task.fit_one_cycle(train, epochs=2, lr_max=1e-2, batch_size=30, seed=3, verbose=0)
        weights.append([w.numpy() for w in task.network.weights])
    for first, second in zip(*weights):
        np.testing.assert_allclose(first, second, atol=2e-5)


def test_lr_find_restores_weights_and_steps_per_execution():
    train, _ = _low_rank_ratings()
    task = RecommenderTask.from_ratings(train, n_factors=3, steps_per_execution=8,
                                        jit_compile=False)
    before = [w.numpy().copy() for w in task.network.weights]
    finder = task.lr_find(train, batch_size=16, num_steps=30, verbose=0)
    assert len(finder.lrs) >= 20 and np.isfinite(finder.suggestion)
    assert task.network.steps_per_execution == 8
    for saved, weight in zip(before, task.network.weights):
        np.testing.assert_array_equal(saved, weight.numpy())
    with pytest.raises(ValueError, match="weight_decay_mode='sgd'"):
        RecommenderTask.from_ratings(train, weight_decay_mode="sgd")


def test_run_folder_round_trip_keeps_optimizer_vocabularies_and_rated_pairs(tmp_path):
    train, valid = _low_rank_ratings()
    task = RecommenderTask.from_ratings(train, n_factors=3, weight_decay_mode="decoupled",
                                        weight_decay=0.3, steps_per_execution=4)
    task.fit_one_cycle(train, epochs=1, lr_max=1e-2, batch_size=64, seed=0, verbose=0)
    task.save(tmp_path / "run")
    reloaded = Task.load(tmp_path / "run")
    assert isinstance(reloaded, RecommenderTask)
    assert isinstance(reloaded.network.optimizer, SparseAdamW)
    assert reloaded.network.optimizer.decay_embeddings
    assert reloaded.network.optimizer.weight_decay == pytest.approx(0.3)
    np.testing.assert_allclose(reloaded.predict(valid), task.predict(valid), rtol=1e-6)
    user = int(train["user"].iloc[0])
    rated = set(train.loc[train["user"] == user, "item"])
    unrated = train["item"].nunique() - len(rated)
    assert unrated >= 2
    recommended = reloaded.recommend([user], k=unrated)["item_ids"][0]
    assert not rated & set(recommended.tolist())
    np.testing.assert_array_equal(recommended, task.recommend([user], k=unrated)["item_ids"][0])
