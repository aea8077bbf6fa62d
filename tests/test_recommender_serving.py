"""SavedModel export: predict/recommend on raw ids, exclusion of rated items, errors, no dlkeras."""
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from apps.recommender.models import build_scorer
from apps.recommender.serving import rated_pairs
from apps.recommender.task import RecommenderTask

from fresh_process import run_without_dlkeras

USERS, ITEMS = np.array([1, 2, 3]), np.array([10, 20, 30, 40, 50])
SEEN = pd.DataFrame({"user": [1, 1, 2], "item": [50, 40, 10]})


def make_task(users, items, seen, n_factors=3):
    """A RecommenderTask over given vocabularies, with `seen` as its training pairs."""
    scorer = build_scorer(len(users) + 1, len(items) + 1, n_factors=n_factors, y_range=(0.0, 5.5))
    task = RecommenderTask(scorer, metadata={
        "name": "movies", "kind": "dot", "users": list(users.tolist()),
        "items": list(items.tolist()), "y_range": [0.0, 5.5], "weight_decay": 0.1,
        "weight_decay_mode": "l2", "batch_size": 64})
    users_index, items_index = rated_pairs(task.inference_model, seen["user"], seen["item"])
    task.metadata["rated"] = {"user_index": users_index.tolist(),
                              "item_index": items_index.tolist()}
    return task


@pytest.fixture(scope="module")
def task():
    task = make_task(USERS, ITEMS, SEEN)
    rng = np.random.default_rng(0)
    for weight in task.network.trainable_weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.3)
    # Item biases make 50 > 40 > 30 > 20 > 10 for everyone.
    bias = task.network.get_layer("item_bias").embeddings
    bias.assign(np.array([[0], [-4], [-2], [0], [2], [4]], "float32"))
    return task


def test_recommend_excludes_rated_items_and_ranks_by_score(task):
    server = task.server()
    result = server.recommend(np.array([1, 2, 3, 99]), 2)
    ids = result["item_ids"].numpy()
    assert ids[0].tolist() == [30, 20]  # user 1 rated 50 and 40
    assert ids[1].tolist() == [50, 40]  # user 2 rated only 10
    assert ids[2].tolist() == [50, 40] and ids[3].tolist() == [50, 40]  # nothing rated / unseen
    scores = result["scores"].numpy()
    expected = server.predict(np.array([1, 1]), np.array([30, 20]))["ratings"].numpy()
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6)
    full = server.recommend(np.array([1]), 5)["item_ids"].numpy()[0]
    assert set(full[:3]) == {10, 20, 30}  # rated items only fill slots past the unrated ones


@pytest.mark.parametrize("call, message", [
    (lambda s: s.predict(np.array([1, 2]), np.array([10])),
     "same length; user_ids has 2 ids and item_ids has 1"),
    (lambda s: s.recommend(np.array([1]), 0), "k must be > 0"),
    (lambda s: s.recommend(np.array([1]), 6), r"k must be <= the number of known items \(5\)"),
])
def test_bad_input_gives_clear_errors(task, call, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(task.server())


def test_saved_model_serves_without_dlkeras_with_identical_outputs(task, tmp_path):
    first = task.export("movies", root=tmp_path)
    second = task.export("movies", root=tmp_path)
    assert (first, second) == (tmp_path / "movies" / "1", tmp_path / "movies" / "2")
    users, items = [1, 2, 3, 77], [20, 30, 99, 40]
    code = f"""
import json, tensorflow as tf
loaded = tf.saved_model.load({str(first)!r})
p = loaded.signatures["predict"](user_ids=tf.constant({users}, tf.int64),
                                 item_ids=tf.constant({items}, tf.int64))
r = loaded.signatures["recommend"](user_ids=tf.constant([1, 2], tf.int64), k=tf.constant(3))
try:
    loaded.signatures["recommend"](user_ids=tf.constant([1], tf.int64), k=tf.constant(-1))
    error = None
except tf.errors.InvalidArgumentError as e:
    error = str(e)
print(json.dumps({{"ratings": p["ratings"].numpy().tolist(),
                  "ids": r["item_ids"].numpy().tolist(),
                  "scores": r["scores"].numpy().tolist(), "error": error}}))
"""
    done = run_without_dlkeras(code)
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    server = task.server()
    in_memory = task.inference_model({"user_id": np.array(users),
                                      "item_id": np.array(items)}).numpy()
    np.testing.assert_allclose(served["ratings"], in_memory, rtol=1e-6)
    expected = server.recommend(np.array([1, 2]), 3)
    assert served["ids"] == expected["item_ids"].numpy().tolist()
    np.testing.assert_allclose(served["scores"], expected["scores"].numpy(), rtol=1e-6)
    assert "k must be > 0" in served["error"]


def test_string_ids_export_and_recommend(tmp_path):
    seen = pd.DataFrame({"user": ["ann"], "item": ["y"]})
    task = make_task(np.array(["ann", "bob"]), np.array(["x", "y", "z"]), seen, n_factors=2)
    path = task.export("strings", root=tmp_path)
    loaded = tf.saved_model.load(str(path))
    result = loaded.signatures["recommend"](user_ids=tf.constant(["ann", "who"]), k=tf.constant(3))
    first = [item.decode() for item in result["item_ids"].numpy()[0]]
    assert first[-1] == "y" and np.isneginf(result["scores"].numpy()[0, -1])
    assert sorted(item.decode() for item in result["item_ids"].numpy()[1]) == ["x", "y", "z"]
