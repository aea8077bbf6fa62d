"""Recommender serving contract (issue 12): empty batches, bounded work, strict ids, id -1.

`recommend` scores users in chunks inside the graph, so 2x10^5 users need
one chunk's memory (the whole users x items matrix went to 4 GB for 10^6
users); empty batches give empty outputs; ids are never truncated, wrapped
or parsed; a real id -1 is a known id with its own factors.
"""
import json

import numpy as np
import pandas as pd
import pytest

from apps.recommender.models import build_scorer
from apps.recommender.serving import RecommenderServer, rated_pairs
from apps.recommender.task import RecommenderTask

from fresh_process import run_without_dlkeras

SERVE = r"""
import json, resource, sys, time
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
predict, recommend = loaded.signatures["predict"], loaded.signatures["recommend"]
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def call(function, **kwargs):
    try:
        return {k: v.numpy().tolist() for k, v in function(**kwargs).items()}
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
        return type(error).__name__ + ": " + str(error)
ids = lambda *v: tf.constant(list(v), tf.int64)
report = {"warm": call(recommend, user_ids=ids(1, 2), k=tf.constant(3))}
users = tf.constant(np.random.default_rng(0).integers(-1, 400, 200_000), tf.int64)
before, start = peak_mib(), time.perf_counter()
result = recommend(user_ids=users, k=tf.constant(5))
report["many"] = {"grown_mib": peak_mib() - before, "seconds": time.perf_counter() - start,
                  "shape": list(result["item_ids"].shape),
                  "first": result["item_ids"].numpy()[:3].tolist()}
report["empty_predict"] = call(predict, user_ids=ids(), item_ids=ids())
report["empty_recommend"] = call(recommend, user_ids=ids(), k=tf.constant(2))
report["lengths"] = call(predict, user_ids=ids(1, 2), item_ids=ids(10))
report["float_ids"] = call(predict, user_ids=tf.constant([1.7]), item_ids=ids(10))
report["uint64_ids"] = call(predict, user_ids=tf.constant([2 ** 64 - 1], tf.uint64),
                            item_ids=ids(10))
report["string_ids"] = call(predict, user_ids=tf.constant(["1"]), item_ids=ids(10))
print(json.dumps(report))
"""


def make_task(users, items, seen, n_factors=3, seed=0):
    """A RecommenderTask with random weights over given vocabularies and training pairs."""
    scorer = build_scorer(len(users) + 1, len(items) + 1, n_factors=n_factors, y_range=(0.0, 5.5))
    task = RecommenderTask(scorer, metadata={
        "name": "movies", "kind": "dot", "users": list(users), "items": list(items),
        "y_range": [0.0, 5.5], "weight_decay": 0.1, "weight_decay_mode": "l2", "batch_size": 64})
    user_index, item_index = rated_pairs(task.inference_model, seen["user"], seen["item"])
    task.metadata["rated"] = {"user_index": user_index.tolist(), "item_index": item_index.tolist()}
    rng = np.random.default_rng(seed)
    for weight in task.network.trainable_weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    return task


@pytest.fixture(scope="module")
def task():
    seen = pd.DataFrame({"user": [-1, -1, 3], "item": [10, 30, 20]})
    return make_task(list(range(-1, 400)), [10 * i for i in range(1, 51)], seen)


@pytest.fixture(scope="module")
def served(task, tmp_path_factory):
    path = task.export("movies", root=tmp_path_factory.mktemp("saved_models"))
    done = run_without_dlkeras(f"import sys; sys.argv = ['s', {str(path)!r}]\n" + SERVE)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_recommend_for_many_users_needs_one_chunk_of_memory(task, served):
    many = served["many"]
    assert many["shape"] == [200_000, 5]
    assert many["grown_mib"] < 120, many
    users = np.random.default_rng(0).integers(-1, 400, 3)
    assert many["first"] == task.recommend(users, 5)["item_ids"].tolist()


def test_chunking_gives_the_unchunked_answer(task):
    rated = task.metadata["rated"]
    users = np.arange(-1, 60)
    whole = RecommenderServer(task.inference_model, rated["user_index"], rated["item_index"],
                              max_pairs=10 ** 6).recommend(users, 7)
    chunked = RecommenderServer(task.inference_model, rated["user_index"], rated["item_index"],
                                max_pairs=120).recommend(users, 7)  # 2 users per chunk
    np.testing.assert_array_equal(whole["item_ids"], chunked["item_ids"])
    np.testing.assert_allclose(whole["scores"], chunked["scores"], rtol=1e-6)
    ratings = task.server().predict(np.repeat(users, 50), np.tile(np.arange(10, 510, 10), 61))
    scores = ratings["ratings"].numpy().reshape(61, 50)
    scores[0, [0, 2]] = -np.inf  # user -1 rated items 10 and 30
    np.testing.assert_allclose(np.sort(scores, axis=1)[:, ::-1][:, :7], chunked["scores"],
                               rtol=1e-6)


def test_empty_batches_give_empty_outputs(served):
    assert served["empty_predict"] == {"ratings": []}
    assert served["empty_recommend"] == {"item_ids": [], "scores": []}


def test_different_lengths_are_named(served):
    assert "user_ids has 2 ids and item_ids has 1" in served["lengths"]


@pytest.mark.parametrize("case, message", [
    ("float_ids", "expected to be a int64 tensor but is a float tensor"),
    ("uint64_ids", "expected to be a int64 tensor but is a uint64 tensor"),
    ("string_ids", "expected to be a int64 tensor but is a string tensor"),
])
def test_id_tensors_of_another_dtype_are_refused(served, case, message):
    assert served[case].startswith("InvalidArgumentError") and message in served[case]


def test_real_id_minus_one_keeps_its_factors_and_exclusions(task):
    server = task.server()
    ratings = server.predict(np.array([-1, 399, 12345]), np.array([20, 20, 20]))["ratings"]
    known, other, unseen = ratings.numpy()
    assert known != pytest.approx(unseen) and other != pytest.approx(unseen)
    top = server.recommend(np.array([-1]), 50)["item_ids"].numpy()[0]
    assert set(top[-2:]) == {10, 30}  # the two rated items come last, after every unrated one


@pytest.mark.parametrize("user_ids, k, message", [
    ([1.5], 3, "user_ids must be whole numbers for this model .integer ids.; received 1.5"),
    (np.array([2 ** 64 - 1], np.uint64), 3, "outside the int64 range"),
    (["12"], 3, "user_ids must be integers for this model"),
    ([1], 2.7, "k must be an integer >= 1. Received: k=2.7"),
])
def test_python_recommend_refuses_lossy_ids(task, user_ids, k, message):
    with pytest.raises(ValueError, match=message):
        task.recommend(user_ids, k)


def test_python_recommend_takes_whole_float_ids(task):
    np.testing.assert_array_equal(task.recommend([3.0, -1.0], 4)["item_ids"],
                                  task.recommend([3, -1], 4)["item_ids"])
