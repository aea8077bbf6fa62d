"""Layers of the recommender models: factor embeddings, a global bias, item side features.

`FactorEmbedding` is where weight decay on embeddings lives: an L2 penalty on
the rows looked up in the batch (see `docs` in the package README section),
so embedding gradients stay sparse. Index 0 is the lookup layers'
out-of-vocabulary index; its row always reads as zeros, so an unseen user or
item contributes nothing and the prediction falls back to the bias path.
"""
from __future__ import annotations

__all__ = ["FactorEmbedding", "GlobalBias", "CountedDropout", "ItemSideFeatures", "factor_initializer"]

import keras
import numpy as np
from keras import ops

_REGISTER = keras.saving.register_keras_serializable(package="apps.recommender")


def _mean_square_norm(rows):
    """Mean over rows of `sum(row ** 2)`, in float32 (Keras sums a model's losses in float32)."""
    return ops.mean(ops.sum(ops.square(ops.cast(rows, "float32")), axis=-1))


def factor_initializer():
    """A new N(0, 0.01) initializer for one factor table (fastai's embedding scale).

    One per table: a Keras initializer draws its seed when it is created and
    reuses it for every weight it fills, so a shared instance would start two
    tables of the same width with the same rows, and one created at import
    would ignore `keras.utils.set_random_seed`.

    Example:

    >>> keras.utils.set_random_seed(0)
    >>> first, second = factor_initializer()((2, 3)), factor_initializer()((2, 3))
    >>> bool(np.any(first.numpy() != second.numpy()))
    True
    """
    return keras.initializers.RandomNormal(stddev=0.01)


@_REGISTER
class FactorEmbedding(keras.layers.Embedding):
    """An `Embedding` with an L2 penalty on the looked-up rows and a zero OOV row.

    The penalty is `l2 * mean over the batch of sum(row ** 2)`, added with
    `add_loss`; only rows used in the batch get a gradient from it.

    Args:
        input_dim: vocabulary size including the OOV index 0.
        output_dim: width of a row.
        l2: penalty factor (>= 0); 0 disables it.
        **kwargs: any `keras.layers.Embedding` argument.

    Example:

    >>> layer = FactorEmbedding(3, 2, l2=0.1, embeddings_initializer="ones")
    >>> layer(np.array([0, 2])).numpy().tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """

    def __init__(self, input_dim, output_dim, l2=0.0, **kwargs):
        if not isinstance(l2, (int, float)) or l2 < 0:
            raise ValueError(f"l2 must be a float >= 0. Received: l2={l2!r}")
        super().__init__(input_dim, output_dim, **kwargs)
        self.l2 = float(l2)

    def call(self, inputs):
        rows = super().call(inputs)
        known = ops.cast(ops.not_equal(inputs, 0), rows.dtype)
        rows = rows * ops.expand_dims(known, -1)
        if self.l2 > 0:
            self.add_loss(self.l2 * _mean_square_norm(rows))
        return rows

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


@_REGISTER
class GlobalBias(keras.layers.Layer):
    """Adds one trainable scalar (the global bias, in logit space) to its input.

    Args:
        initial_value: starting value of the bias.
        **kwargs: base `Layer` arguments.

    Example:

    >>> GlobalBias(0.5)(np.zeros((2,), "float32")).numpy().tolist()
    [0.5, 0.5]
    """

    def __init__(self, initial_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_value = float(initial_value)

    def build(self, input_shape):
        self.bias = self.add_weight(
            shape=(), name="bias",
            initializer=keras.initializers.Constant(self.initial_value))

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial_value": self.initial_value}


@_REGISTER
class ItemSideFeatures(keras.layers.Layer):
    """Maps an item index to an embedding of its side features (genres, year bucket).

    The per-item tables (multi-hot genres, year bucket) are non-trainable
    weights, so they travel with the model and its SavedModel; the genre and
    year embeddings are trainable `FactorEmbedding`s with the same L2 penalty.
    An item's genre embedding is the mean over its genres.

    Args:
        n_items: item vocabulary size including the OOV index 0.
        n_genres: number of distinct genres.
        n_year_buckets: number of year buckets (bucket 0 = unknown year).
        output_dim: width of the side embedding (added to the item factors).
        l2: penalty factor on the looked-up side embeddings.
        **kwargs: base `Layer` arguments.

    Example:

    >>> layer = ItemSideFeatures(2, 3, 2, output_dim=4)
    >>> layer.set_tables(np.array([[0, 0, 0], [1, 0, 1]]), np.array([0, 1]))
    >>> layer(np.array([1, 0])).shape
    TensorShape([2, 4])
    """

    def __init__(self, n_items, n_genres, n_year_buckets, output_dim, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_items, self.n_genres = int(n_items), int(n_genres)
        self.n_year_buckets, self.output_dim, self.l2 = int(n_year_buckets), int(output_dim), float(l2)
        self.genre_table = self.add_weight(shape=(self.n_items, self.n_genres), name="genre_table",
                                           initializer="zeros", trainable=False)
        self.year_table = self.add_weight(shape=(self.n_items,), name="year_table",
                                          initializer="zeros", trainable=False, dtype="int32")
        self.genre_embedding = self.add_weight(shape=(self.n_genres, self.output_dim),
                                               name="genre_embedding",
                                               initializer=factor_initializer())
        self.year_embedding = FactorEmbedding(self.n_year_buckets, self.output_dim, l2=self.l2,
                                              embeddings_initializer=factor_initializer(),
                                              name="year_embedding")
        self.year_embedding.build((None,))
        self.built = True

    def set_tables(self, genre_multi_hot, year_bucket):
        """Fills the per-item tables: `(n_items, n_genres)` 0/1 and `(n_items,)` bucket ids."""
        genre_multi_hot = np.asarray(genre_multi_hot, "float32")
        if genre_multi_hot.shape != (self.n_items, self.n_genres):
            raise ValueError(f"genre_multi_hot must have shape {(self.n_items, self.n_genres)}. "
                             f"Received: shape={genre_multi_hot.shape}")
        self.genre_table.assign(genre_multi_hot)
        self.year_table.assign(np.asarray(year_bucket, "int32"))

    def call(self, item_index):
        genres = ops.take(self.genre_table, item_index, axis=0)
        counts = ops.maximum(ops.sum(genres, axis=-1, keepdims=True), 1.0)
        genre_vectors = ops.matmul(genres, self.genre_embedding) / counts
        if self.l2 > 0:
            self.add_loss(self.l2 * _mean_square_norm(genre_vectors))
        years = ops.take(self.year_table, item_index, axis=0)
        return genre_vectors + self.year_embedding(years)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "n_items": self.n_items, "n_genres": self.n_genres,
                "n_year_buckets": self.n_year_buckets, "output_dim": self.output_dim,
                "l2": self.l2}


def _fmix32(h):
    """MurmurHash3's finaliser on int32 tensors (wrapping products, logical shifts)."""
    import tensorflow as tf

    def shifted(value, bits):
        unsigned = tf.bitwise.right_shift(tf.bitcast(value, tf.uint32), tf.constant(bits, tf.uint32))
        return tf.bitcast(unsigned, tf.int32)

    h = tf.bitwise.bitwise_xor(h, shifted(h, 16)) * tf.constant(-2048144789, tf.int32)
    h = tf.bitwise.bitwise_xor(h, shifted(h, 13)) * tf.constant(-1028477387, tf.int32)
    return tf.bitwise.bitwise_xor(h, shifted(h, 16))


def hashed_uniform(shape, counter, seed):
    """Uniform floats in [0, 1) of `shape`, a hash of (position, counter, seed).

    Elementwise integer ops only, so XLA fuses them: about 9 us for 6,400
    values in a compiled step on the 2-core CPU, where TensorFlow's stateless
    random ops take 28-610 us under XLA depending on the algorithm.
    """
    import tensorflow as tf

    key = _fmix32(tf.cast(counter, tf.int32) * tf.constant(-1640531535, tf.int32)
                  + tf.constant(seed, tf.int32))
    index = tf.reshape(tf.range(tf.reduce_prod(shape), dtype=tf.int32), shape)
    bits = _fmix32(tf.bitwise.bitwise_xor(index * tf.constant(-1640531535, tf.int32), key))
    return tf.cast(tf.bitwise.bitwise_and(bits, 0xFFFFFF), tf.float32) / 16777216.0


@_REGISTER
class CountedDropout(keras.layers.Layer):
    """Dropout whose masks are drawn from a counter of its training calls.

    Keras' `Dropout` (a `SeedGenerator` and TensorFlow's stateless random
    ops) costs about 2.5 ms per call inside an XLA-compiled step on the
    2-core CPU: several times the neural recommender's whole step. Here the
    mask is `hashed_uniform` of the position, a non-trainable counter the
    layer increments at each training call, and `seed`: a new mask each
    step, the same masks again for the same seed and starting weights, a
    few microseconds a step.

    Args:
        rate: fraction of the inputs dropped in training, in [0, 1).
        seed: an integer told apart from other layers' seeds.
        **kwargs: base `Layer` arguments.

    Example:

    >>> layer = CountedDropout(0.5, seed=1)
    >>> kept = layer(np.ones((1, 1000), "float32"), training=True).numpy()
    >>> sorted(set(kept.ravel().tolist())), 400 < int((kept > 0).sum()) < 600
    ([0.0, 2.0], True)
    >>> layer(np.ones((1, 3), "float32")).numpy().tolist()  # inference: unchanged
    [[1.0, 1.0, 1.0]]
    """

    def __init__(self, rate, seed=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"rate must be a float in [0, 1). Received: rate={rate!r}")
        self.rate, self.seed = float(rate), int(seed)

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                     trainable=False, name="calls")

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        self.calls.assign_add(1)
        keep = hashed_uniform(ops.shape(inputs), self.calls, self.seed) >= self.rate
        return ops.where(keep, inputs / (1.0 - self.rate), ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
