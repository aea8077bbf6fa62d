"""The two serving functions of a recommender, on raw ids, as TensorFlow graphs.

`RecommenderServer` wraps a trained raw-id model plus the (user, item)
index pairs seen in training. Its `predict(user_ids, item_ids)` returns ratings and its
`recommend(user_ids, k)` returns the top-k items per user, excluding items
that user rated in training; the exclusion is a ragged table of rated item
indices per user index, gathered and scattered inside the graph. Both
check their input with graph assertions, so an exported SavedModel gives
the same clear errors without any Python of ours.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


class RecommenderServer:
    """Builds `predict` and `recommend` graph functions for a recommender model.

    Args:
        model: a raw-id model (`apps.recommender.models.raw_id_model`: inputs
            `user_id`, `item_id`; layers `user_lookup`, `item_lookup`).
        rated_users, rated_items: lookup indices of the (user, item) pairs
            seen in training (`rated_pairs`); they are excluded from `recommend`.

    Example:

    >>> from apps.recommender.models import build_recommender
    >>> model = build_recommender([1, 2], [10, 20, 30], n_factors=4)
    >>> server = RecommenderServer(model, *rated_pairs(model, [1], [20]))
    >>> server.recommend(np.array([1]), 2)["item_ids"].shape
    TensorShape([1, 2])
    """

    def __init__(self, model, rated_users, rated_items):
        self.model = model
        self.user_lookup = model.get_layer("user_lookup")
        self.item_lookup = model.get_layer("item_lookup")
        self.id_dtype = {name: tensor.dtype for name, tensor in model.input.items()}
        # Index 0 is the OOV token; candidates are the known items, in index order.
        self.item_vocabulary = np.asarray(self.item_lookup.get_vocabulary()[1:])
        self.n_items = len(self.item_vocabulary)
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
        checks = [
            tf.debugging.assert_positive(tf.size(user_ids),
                                         message="predict: user_ids is an empty batch"),
            tf.debugging.assert_equal(tf.size(user_ids), tf.size(item_ids), message=(
                "predict: user_ids and item_ids must have the same length")),
        ]
        with tf.control_dependencies(checks):
            ratings = self.model({"user_id": tf.identity(user_ids), "item_id": item_ids},
                                 training=False)
        return {"ratings": ratings}

    def recommend_fn(self, user_ids, k):
        """Top-`k` unrated items per user: `{"item_ids": (n, k), "scores": (n, k)}`."""
        checks = [
            tf.debugging.assert_positive(tf.size(user_ids),
                                         message="recommend: user_ids is an empty batch"),
            tf.debugging.assert_positive(k, message="recommend: k must be > 0"),
            tf.debugging.assert_less_equal(k, self.n_items, message=(
                f"recommend: k must be <= the number of known items ({self.n_items})")),
        ]
        with tf.control_dependencies(checks):
            n_users = tf.size(user_ids)
        candidates = tf.constant(self.item_vocabulary)
        pairs = {"user_id": tf.repeat(user_ids, self.n_items),
                 "item_id": tf.tile(candidates, [n_users])}
        scores = tf.reshape(self.model(pairs, training=False), [n_users, self.n_items])
        scores = tf.where(self._rated_mask(user_ids, n_users), -np.inf, scores)
        top = tf.math.top_k(scores, k=k)
        return {"item_ids": tf.gather(candidates, top.indices), "scores": top.values}

    def _rated_mask(self, user_ids, n_users):
        rated = tf.RaggedTensor.from_row_splits(
            tf.constant(self._rated_values), tf.constant(self._rated_splits), validate=False)
        rows = tf.gather(rated, self.user_lookup(user_ids))
        coords = tf.stack([rows.value_rowids(), rows.flat_values - 1], axis=1)
        counts = tf.scatter_nd(coords, tf.ones_like(rows.flat_values, tf.float32),
                               tf.cast(tf.stack([n_users, self.n_items]), tf.int64))
        return counts > 0


def rated_pairs(model, users, items):
    """Lookup indices `(user_index, item_index)` of raw (user, item) id pairs.

    Example:

    >>> from apps.recommender.models import build_recommender
    >>> rated_pairs(build_recommender([7, 8], [1], n_factors=2), [8, 9], [1, 1])
    (array([2, 0]), array([1, 1]))
    """
    def lookup(name, values):
        dtype = model.input[f"{name}_id"].dtype
        array = np.asarray(values)
        ids = array.astype(str) if tf.as_dtype(dtype) == tf.string else array.astype("int64")
        return np.asarray(model.get_layer(f"{name}_lookup")(tf.constant(ids))).astype("int64")

    return lookup("user", users), lookup("item", items)
