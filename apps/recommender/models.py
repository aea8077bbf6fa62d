"""Collaborative-filtering models that take raw user and item ids.

Both models map raw ids to indices with `IntegerLookup`/`StringLookup`
inside the model (index 0 = unseen id) and predict
`ScaledSigmoid(y_range)(global_bias + user_bias + item_bias + interaction)`:

- `"dot"`: the interaction is the dot product of user and item factors.
- `"neural"`: the interaction is an MLP over the concatenated embeddings,
  gated to 0 when either id is unseen.

An unseen user or item has zero factors and zero bias, so its prediction
falls back to the global bias (plus the known side's bias).
"""
from __future__ import annotations

__all__ = ["build_recommender", "build_scorer", "default_y_range"]

import keras
import numpy as np
from keras import ops

from apps.recommender.layers import CountedDropout, FactorEmbedding, GlobalBias, factor_initializer
from dlkeras.layers import ScaledSigmoid, emb_sz_rule

MODEL_KINDS = ("dot", "neural")
# Dropout after each hidden block of the neural MLP. On MovieLens
# (benchmarks/collab_movielens.py, neural-64) see apps/recommender/README.md.
DEFAULT_DROPOUT = 0.2


def default_y_range(ratings) -> tuple[float, float]:
    """fastai's rating range: from `min(0, lowest)` to the highest plus 10 % of the span.

    Example:

    >>> default_y_range([0.5, 3.0, 5.0])
    (0.0, 5.5)
    """
    values = np.asarray(ratings, "float64")
    low = min(0.0, float(values.min()))
    high = float(values.max())
    return low, high + 0.1 * (high - low if high > low else 1.0)


def id_lookup(vocabulary, name: str) -> keras.layers.Layer:
    """`IntegerLookup` for integer ids, `StringLookup` otherwise; every unseen id is index 0.

    The lookup's own out-of-vocabulary token is chosen outside the
    vocabulary, so no real id (not even Keras' default -1 or "[UNK]") is
    silently treated as unseen.

    Example:

    >>> id_lookup([-1, 10, 20], "user_lookup")(np.array([20, -1, 99])).numpy().tolist()
    [3, 1, 0]
    """
    vocab = np.asarray(vocabulary)
    if len(vocab) == 0:
        raise ValueError(f"{name}: the id vocabulary is empty.")
    if vocab.dtype.kind in "iu":
        vocab = vocab.astype("int64")
        low, high = int(vocab.min()), int(vocab.max())
        oov = low - 1 if low > np.iinfo("int64").min else high + 1
        return keras.layers.IntegerLookup(vocabulary=vocab, oov_token=oov, name=name)
    strings = [str(v) for v in vocab]
    oov = "[UNK]"
    while oov in strings:
        oov += "_"
    return keras.layers.StringLookup(vocabulary=strings, oov_token=oov, name=name)


def _id_input(vocabulary, name: str):
    dtype = "int64" if np.asarray(vocabulary).dtype.kind in "iu" else "string"
    return keras.Input(shape=(), dtype=dtype, name=name)


def raw_id_model(scorer: keras.Model, users, items, name: str = "recommender") -> keras.Model:
    """The served model: raw `user_id` / `item_id` -> id lookups -> `scorer`.

    Example:

    >>> model = raw_id_model(build_scorer(3, 3, n_factors=2), [1, 2], ["a", "b"])
    >>> [model.input[k].dtype for k in ("user_id", "item_id")]
    ['int64', 'string']
    """
    user_in, item_in = _id_input(users, "user_id"), _id_input(items, "item_id")
    indices = {"user_index": id_lookup(users, "user_lookup")(user_in),
               "item_index": id_lookup(items, "item_lookup")(item_in)}
    return keras.Model({"user_id": user_in, "item_id": item_in}, scorer(indices), name=name)


def build_recommender(users, items, *, kind: str = "dot", n_factors=50, y_range=(0.0, 5.5),
                      l2: float = 0.1, layers=(100, 50), mean_rating=None,
                      side_features=None, dropout=None) -> keras.Model:
    """Builds a dot-product or neural collaborative-filtering model.

    Args:
        users: user vocabulary (raw ids seen in training).
        items: item vocabulary (raw ids seen in training).
        kind: `"dot"` or `"neural"`.
        n_factors: factor width (dot: both sides; neural: an int for both, or
            `None` for `emb_sz_rule` per side).
        y_range: `(low, high)` of the scaled sigmoid.
        l2: L2 penalty on looked-up embedding rows (the embedding weight decay).
        layers: hidden widths of the neural model's MLP.
        mean_rating: initialises the global bias so the first predictions sit
            at it; defaults to the middle of `y_range`.
        side_features: optional `SideFeatureTables` whose embedding is added
            to the item factors.
        dropout: dropout after each hidden block of the neural MLP; None
            for `DEFAULT_DROPOUT` (neural) or none (dot).

    Returns:
        An uncompiled `keras.Model` with inputs `user_id`, `item_id`.

    Example:

    >>> model = build_recommender([1, 2], [10, 20, 30], n_factors=4)
    >>> model({"user_id": np.array([1]), "item_id": np.array([30])}).shape
    TensorShape([1])
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}. Received: kind={kind!r}")
    scorer = build_scorer(len(users) + 1, len(items) + 1, kind=kind, n_factors=n_factors,
                          y_range=y_range, l2=l2, layers=layers, mean_rating=mean_rating,
                          side_features=side_features, dropout=dropout)
    return raw_id_model(scorer, users, items, name=f"{kind}_recommender")


def build_scorer(n_users: int, n_items: int, *, kind: str = "dot", n_factors=50,
                 y_range=(0.0, 5.5), l2: float = 0.1, layers=(100, 50), mean_rating=None,
                 side_features=None, dropout=None) -> keras.Model:
    """The trainable part of a recommender: (user index, item index) -> rating.

    Index 0 is the unseen id. Trained on indices (so the step has no hash
    lookups and can be XLA-compiled) and nested, as the layer `"scorer"`,
    inside the raw-id model of `build_recommender`. Arguments as there.

    Example:

    >>> scorer = build_scorer(3, 4, n_factors=2, y_range=(0.0, 1.0))
    >>> scorer({"user_index": np.array([0]), "item_index": np.array([0])}).numpy().tolist()
    [0.5]
    """
    low, high = _check_y_range(y_range)
    dropout = _check_dropout(kind, dropout)
    user_index = keras.Input(shape=(), dtype="int32", name="user_index")
    item_index = keras.Input(shape=(), dtype="int32", name="item_index")
    user_width, item_width = _widths(kind, n_factors, n_users, n_items)
    user_vec = FactorEmbedding(n_users, user_width, l2=l2, embeddings_initializer=factor_initializer(),
                               name="user_factors")(user_index)
    item_vec = FactorEmbedding(n_items, item_width, l2=l2, embeddings_initializer=factor_initializer(),
                               name="item_factors")(item_index)
    if side_features is not None:
        item_vec = item_vec + side_features.layer(n_items, item_width, l2)(item_index)
    if kind == "dot":
        interaction = ops.sum(user_vec * item_vec, axis=-1)
    else:
        interaction = _mlp(user_vec, item_vec, layers, dropout) * _both_known(user_index, item_index)
    score = interaction + _bias(n_users, "user_bias", l2, user_index)
    score = score + _bias(n_items, "item_bias", l2, item_index)
    middle = (low + high) / 2 if mean_rating is None else float(mean_rating)
    # The score and rating in float32 whatever the dtype policy (mixed_bfloat16
    # keeps ~3 digits: rankings would tie, the SavedModel would serve bfloat16).
    score = GlobalBias(_logit((middle - low) / (high - low)), dtype="float32",
                       name="global_bias")(score)
    rating = ScaledSigmoid(low, high, dtype="float32", name="rating")(score)
    return keras.Model({"user_index": user_index, "item_index": item_index}, rating,
                       name="scorer")


def _check_y_range(y_range):
    try:
        low, high = (float(v) for v in y_range)
    except (TypeError, ValueError):
        raise ValueError(f"y_range must be a pair (low, high). Received: y_range={y_range!r}") from None
    if not low < high:
        raise ValueError(f"y_range must have low < high. Received: y_range={y_range!r}")
    return low, high


def _widths(kind, n_factors, n_users, n_items):
    if n_factors is None:
        if kind == "dot":
            raise ValueError("The dot model needs one n_factors for both sides. Received: n_factors=None")
        return emb_sz_rule(n_users), emb_sz_rule(n_items)
    if not isinstance(n_factors, (int, np.integer)) or n_factors < 1:
        raise ValueError(f"n_factors must be a positive int. Received: n_factors={n_factors!r}")
    return int(n_factors), int(n_factors)


def _check_dropout(kind, dropout):
    if dropout is None:
        return DEFAULT_DROPOUT if kind == "neural" else 0.0
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a float in [0, 1). Received: dropout={dropout!r}")
    if kind == "dot" and dropout:
        raise ValueError(f"The dot model has no MLP to apply dropout to. Received: dropout={dropout!r}")
    return float(dropout)


def _mlp(user_vec, item_vec, layers, dropout):
    hidden = ops.concatenate([user_vec, item_vec], axis=-1)
    for position, units in enumerate(layers):
        hidden = keras.layers.Dense(units, activation="relu", name=f"mlp_dense_{position}")(hidden)
        # PyTorch-style running statistics (momentum 0.1 there = 0.9 here): with
        # few steps per fit, Keras' default 0.99 leaves them far behind the weights.
        hidden = keras.layers.BatchNormalization(momentum=0.9, name=f"mlp_bn_{position}")(hidden)
        if dropout:
            hidden = CountedDropout(dropout, seed=position, name=f"mlp_dropout_{position}")(hidden)
    return ops.squeeze(keras.layers.Dense(1, name="mlp_out")(hidden), axis=-1)


def _both_known(user_index, item_index):
    return ops.cast(ops.logical_and(ops.not_equal(user_index, 0), ops.not_equal(item_index, 0)),
                    "float32")


def _bias(n_rows, name, l2, index):
    layer = FactorEmbedding(n_rows, 1, l2=l2, embeddings_initializer="zeros", name=name)
    return ops.squeeze(layer(index), axis=-1)


def _logit(fraction: float) -> float:
    fraction = min(max(fraction, 1e-4), 1 - 1e-4)
    return float(np.log(fraction / (1 - fraction)))
