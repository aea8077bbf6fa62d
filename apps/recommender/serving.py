"""The two serving functions of a recommender, on raw ids, as TensorFlow graphs.

`RecommenderServer` wraps a trained raw-id model plus the (user, item)
index pairs seen in training. Its `predict(user_ids, item_ids)` returns ratings and its
`recommend(user_ids, k)` returns the top-k items per user, excluding items
that user rated in training; the exclusion is a ragged table of rated item
indices per user index, gathered and scattered inside the graph.

The contract, checked inside the graph (so an exported SavedModel gives the
same clear `InvalidArgumentError`s without any Python of ours):

* `user_ids` and `item_ids` are 1-D and `k` a scalar (checked when the
  graph runs: a loaded signature checks dtypes but not shapes);
  `user_ids` and `item_ids` have the model's id dtype
  exactly (`int64` for integer vocabularies, `string` otherwise), `k` is a
  scalar `int32` with `1 <= k <= number of known items`; any id value is
  valid (an unseen one gets the global and known-side biases only);
* `user_ids` and `item_ids` of different lengths are refused, naming both;
* an empty batch gives empty outputs (`[0]`, or `[0, k]`);
* the work per call is bounded: `predict` and `recommend` score at most
  `max_pairs` (user, item) pairs at a time (a loop inside the graph), so
  `recommend` for 10^6 users needs the memory of one chunk, not of the
  whole `users x items` score matrix.

TensorFlow refuses tensors of another dtype before the graph runs. Its
Python convenience conversion of NumPy arrays and lists (outside any graph)
casts with C rules (1.7 -> 1, uint64 2**64-1 -> -1): call a loaded
signature with `tf.constant(array)`, which keeps the array's dtype.
"""
from __future__ import annotations

__all__ = ["RecommenderServer"]

import numpy as np
import tensorflow as tf

from apps.recommender.data import id_array

DEFAULT_MAX_PAIRS = 1 << 18


class RecommenderServer:
    """Builds `predict` and `recommend` graph functions for a recommender model.

    Args:
        model: a raw-id model (`apps.recommender.models.raw_id_model`: inputs
            `user_id`, `item_id`; layers `user_lookup`, `item_lookup`).
        rated_users, rated_items: lookup indices of the (user, item) pairs
            seen in training (`rated_pairs`); they are excluded from `recommend`.
        max_pairs: the most (user, item) pairs scored at once.

    Example:

    >>> from apps.recommender.models import build_recommender
    >>> model = build_recommender([1, 2], [10, 20, 30], n_factors=4)
    >>> server = RecommenderServer(model, *rated_pairs(model, [1], [20]))
    >>> server.recommend(np.array([1]), 2)["item_ids"].shape
    TensorShape([1, 2])
    >>> server.recommend(np.array([], "int64"), 2)["item_ids"].shape
    TensorShape([0, 2])
    """

    def __init__(self, model, rated_users, rated_items, max_pairs=DEFAULT_MAX_PAIRS):
        if not isinstance(max_pairs, int) or isinstance(max_pairs, bool) or max_pairs < 1:
            raise ValueError(f"`max_pairs` must be an integer >= 1. "
                             f"Received: max_pairs={max_pairs!r}")
        self.model = model
        self.user_lookup = model.get_layer("user_lookup")
        self.item_lookup = model.get_layer("item_lookup")
        self.id_dtype = {name: tensor.dtype for name, tensor in model.input.items()}
        # Index 0 is the OOV token; candidates are the known items, in index order.
        self.item_vocabulary = np.asarray(self.item_lookup.get_vocabulary()[1:])
        self.n_items = len(self.item_vocabulary)
        self.max_pairs = max_pairs
        self.users_per_chunk = max(1, max_pairs // self.n_items)
        self._rated_values, self._rated_splits = self._rated_table(
            np.asarray(rated_users, "int64"), np.asarray(rated_items, "int64"))
        self.predict = tf.function(self.predict_fn, input_signature=self.predict_signature())
        self.recommend = tf.function(self.recommend_fn, input_signature=self.recommend_signature())

    def _rated_table(self, users, items):
        keep = (users > 0) & (items > 0)
        order = np.lexsort((items[keep], users[keep]))
        users, items = users[keep][order], items[keep][order]
        n_users = self.user_lookup.vocabulary_size()
        splits = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=n_users))])
        return items.astype("int64"), splits.astype("int64")

    def predict_signature(self):
        return [tf.TensorSpec([None], self.id_dtype["user_id"], name="user_ids"),
                tf.TensorSpec([None], self.id_dtype["item_id"], name="item_ids")]

    def recommend_signature(self):
        return [tf.TensorSpec([None], self.id_dtype["user_id"], name="user_ids"),
                tf.TensorSpec([], tf.int32, name="k")]

    def predict_fn(self, user_ids, item_ids):
        """Ratings for each (user_ids[i], item_ids[i]) pair: `{"ratings": (n,)}`."""
        user_ids, item_ids = tf.ensure_shape(user_ids, [None]), tf.ensure_shape(item_ids, [None])
        n_users, n_items = tf.size(user_ids), tf.size(item_ids)
        same = tf.debugging.Assert(tf.equal(n_users, n_items), [tf.strings.format(
            "predict: user_ids and item_ids must have the same length; user_ids has {} ids "
            "and item_ids has {}", (n_users, n_items))])
        with tf.control_dependencies([same]):
            n = tf.identity(n_users)

        def score(start, stop):
            pairs = {"user_id": user_ids[start:stop], "item_id": item_ids[start:stop]}
            return (self.model(pairs, training=False),)

        ratings = _chunked(score, n, self.max_pairs, [tf.float32])[0]
        return {"ratings": tf.reshape(ratings, [-1])}

    def recommend_fn(self, user_ids, k):
        """Top-`k` unrated items per user: `{"item_ids": (n, k), "scores": (n, k)}`."""
        user_ids, k = tf.ensure_shape(user_ids, [None]), tf.ensure_shape(k, [])
        within = tf.logical_and(k > 0, k <= self.n_items)
        check = tf.debugging.Assert(within, [tf.strings.format(
            f"recommend: k must be > 0 and k must be <= the number of known items "
            f"({self.n_items}). Received: k={{}}", k)])
        with tf.control_dependencies([check]):
            n_users = tf.size(user_ids)
        candidates = tf.constant(self.item_vocabulary)

        def top_k(start, stop):
            users = user_ids[start:stop]
            count = tf.size(users)
            pairs = {"user_id": tf.repeat(users, self.n_items),
                     "item_id": tf.tile(candidates, [count])}
            scores = tf.reshape(self.model(pairs, training=False), [count, self.n_items])
            scores = tf.where(self._rated_mask(users, count), -np.inf, scores)
            top = tf.math.top_k(scores, k=k)
            return tf.gather(candidates, top.indices), top.values

        item_ids, scores = _chunked(top_k, n_users, self.users_per_chunk,
                                    [candidates.dtype, tf.float32], width=k)
        return {"item_ids": item_ids, "scores": scores}

    def _rated_mask(self, user_ids, n_users):
        rated = tf.RaggedTensor.from_row_splits(
            tf.constant(self._rated_values), tf.constant(self._rated_splits), validate=False)
        rows = tf.gather(rated, self.user_lookup(user_ids))
        coords = tf.stack([rows.value_rowids(), rows.flat_values - 1], axis=1)
        counts = tf.scatter_nd(coords, tf.ones_like(rows.flat_values, tf.float32),
                               tf.cast(tf.stack([n_users, self.n_items]), tf.int64))
        return counts > 0


def _chunked(fn, n, chunk, dtypes, width=None):
    """`fn(start, stop)` (a tuple of tensors) over `[0, n)` in chunks of `chunk` rows, concatenated.

    A `tf.while_loop` inside the graph: only one chunk's intermediate tensors
    are alive at a time. An empty range gives empty results (`[0]` or
    `[0, width]`).
    """
    n_chunks = (n + chunk - 1) // chunk

    def run():
        arrays = [tf.TensorArray(dtype, size=n_chunks, infer_shape=False) for dtype in dtypes]

        def body(index, arrays):
            results = fn(index * chunk, tf.minimum((index + 1) * chunk, n))
            return index + 1, [a.write(index, r) for a, r in zip(arrays, results)]

        _, arrays = tf.while_loop(lambda index, _: index < n_chunks, body, (0, arrays))
        return [a.concat() for a in arrays]

    def empty():
        shape = [0] if width is None else [0, width]
        return [tf.zeros(shape, dtype) for dtype in dtypes]

    return tf.cond(n > 0, run, empty)


def rated_pairs(model, users, items):
    """Lookup indices `(user_index, item_index)` of raw (user, item) id pairs.

    Example:

    >>> from apps.recommender.models import build_recommender
    >>> rated_pairs(build_recommender([7, 8], [1], n_factors=2), [8, 9], [1, 1])
    (array([2, 0]), array([1, 1]))
    """
    def lookup(name, values):
        string_ids = tf.as_dtype(model.input[f"{name}_id"].dtype) == tf.string
        ids = id_array(values, string_ids, f"{name} ids")
        ids = tf.constant(ids.astype(str) if string_ids else ids)
        return np.asarray(model.get_layer(f"{name}_lookup")(ids)).astype("int64")

    return lookup("user", users), lookup("item", items)
