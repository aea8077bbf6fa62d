"""RecommenderTask: the recipe on synthetic low-rank ratings, lr_find, run folders."""
import keras
import numpy as np
import pandas as pd
import pytest

from apps.recommender.task import RecommenderTask
from dlkeras.optimizers import ScheduledAdamW
from dlkeras.tasks import Task


def _low_rank_ratings(n_users=40, n_items=30, seed=0):
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    rating = np.clip(3 + users @ items.T, 0.5, 5.0)
    uu, ii = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    frame = pd.DataFrame({"user": 100 + uu.ravel(), "item": 500 + ii.ravel(),
                          "rating": rating.ravel().astype("float32")})
    order = rng.permutation(len(frame))
    return frame.iloc[order[240:]].reset_index(drop=True), frame.iloc[order[:240]].reset_index(drop=True)


# Over keras seeds 0-4 (2026-11-24): dot 0.07-0.09 and neural 0.20-0.32 of the baseline RMSE; a
# recipe that does not train ends at 1.41 (neural, lr_max 1e-6). Before each factor table got its
# own initializer, the tables' seed was drawn at import, so the neural outcome changed from one
# process to the next (0.17-0.69, 1.09 at 3e-2) and the bound had to be loose.
@pytest.mark.parametrize("kind, lr_max, epochs, ratio", [("dot", 3e-2, 10, 0.2),
                                                         ("neural", 1e-2, 20, 0.45)])
def test_recipe_learns_low_rank_ratings(kind, lr_max, epochs, ratio):
    train, valid = _low_rank_ratings()
    keras.utils.set_random_seed(0)
    task = RecommenderTask.from_ratings(train, kind=kind, n_factors=4, weight_decay=1e-3,
                                        steps_per_execution=10, jit_compile=False)
    baseline = float(np.sqrt(np.mean((valid["rating"] - train["rating"].mean()) ** 2)))
    history = task.fit_one_cycle(train, validation_data=valid, epochs=epochs, lr_max=lr_max,
                                 batch_size=32, seed=0, verbose=0)
    assert history.history["lr"][0] < history.history["lr"][2]  # one-cycle warm-up ran
    optimizer = task.network.optimizer
    assert optimizer.sparse_updates and optimizer.weight_decay_exclude == ["embedding"]
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
    finder = task.lr_find(train, batch_size=16, total_steps=30, verbose=0)
    assert len(finder.lrs) >= 20 and np.all(np.isfinite(finder.raw_losses[:20]))
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
    optimizer = reloaded.network.optimizer
    assert isinstance(optimizer, ScheduledAdamW) and not optimizer.sparse_updates
    assert optimizer.weight_decay == pytest.approx(0.3)  # decoupled: every table decays
    np.testing.assert_allclose(reloaded.predict(valid), task.predict(valid), rtol=1e-6)
    user = int(train["user"].iloc[0])
    rated = set(train.loc[train["user"] == user, "item"])
    unrated = train["item"].nunique() - len(rated)
    assert unrated >= 2
    recommended = reloaded.recommend([user], k=unrated)["item_ids"][0]
    assert not rated & set(recommended.tolist())
    np.testing.assert_array_equal(recommended, task.recommend([user], k=unrated)["item_ids"][0])
