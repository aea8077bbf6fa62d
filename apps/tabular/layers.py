"""Keras layers that turn raw table columns into model inputs, inside the model.

`Categorify` maps category strings to embedding indices, with fixed indices for
unknown (0) and missing (1) values so serving never fails on a new category.
`FillMissing` replaces NaN in continuous columns by training medians and appends
an is-missing indicator for the columns that had gaps in training.
`PackedEmbeddings` holds every categorical column's embedding table in one variable.
"""
from __future__ import annotations

__all__ = ["Categorify", "FillMissing", "PackedEmbeddings"]

import keras
import tensorflow as tf

UNKNOWN_INDEX = 0
MISSING_INDEX = 1
MISSING_TOKEN = ""  # what a missing category is sent as when serving
_REGISTER = keras.saving.register_keras_serializable(package="apps.tabular")


@_REGISTER
class Categorify(keras.layers.Layer):
    """Category strings to integer indices through a `StringLookup`.

    Index 0 is any category not seen in training, index 1 is a missing value
    (the empty string), and the training categories follow from index 2.

    Args:
        vocabulary: the training categories (strings, without the empty one).
        **kwargs: base `Layer` arguments (name, ...).

    Example:

        >>> layer = Categorify(["red", "blue"])
        >>> layer(tf.constant(["blue", "", "green"])).numpy().tolist()
        [3, 1, 0]
    """

    def __init__(self, vocabulary, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = [str(v) for v in vocabulary]
        if MISSING_TOKEN in self.vocabulary:
            raise ValueError("vocabulary must not hold the empty string; it is the missing token.")
        self.lookup = keras.layers.StringLookup(
            vocabulary=[MISSING_TOKEN] + self.vocabulary,
            num_oov_indices=1, mask_token=None, output_mode="int",
        )

    @property
    def cardinality(self) -> int:
        """Number of distinct indices, unknown and missing included."""
        return len(self.vocabulary) + 2

    def build(self, input_shape):
        self.lookup.build(input_shape)
        self.built = True

    def call(self, categories):
        return tf.cast(self.lookup(categories), "int32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, categories):
        return keras.KerasTensor(categories.shape, dtype="int32")

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary}


@_REGISTER
class FillMissing(keras.layers.Layer):
    """Replace NaN by per-column fill values and add is-missing indicators.

    Input is a `(batch, n_columns)` float matrix. Output is the filled matrix,
    followed by one 0/1 column per index in `indicator_columns`.

    Args:
        fill_values: one fill value per column (fastai uses the training median).
        indicator_columns: column positions that get an is-missing indicator.
        **kwargs: base `Layer` arguments.

    Example:

        >>> layer = FillMissing([2.0, 5.0], indicator_columns=[1])
        >>> layer(tf.constant([[1.0, float("nan")]])).numpy().tolist()
        [[1.0, 5.0, 1.0]]
    """

    def __init__(self, fill_values, indicator_columns=(), **kwargs):
        super().__init__(**kwargs)
        self.fill_values = [float(v) for v in fill_values]
        self.indicator_columns = [int(i) for i in indicator_columns]
        bad = [i for i in self.indicator_columns if not 0 <= i < len(self.fill_values)]
        if bad:
            raise ValueError(f"indicator_columns out of range for {len(self.fill_values)} "
                             f"columns. Received: indicator_columns={bad}")

    def call(self, values):
        missing = tf.math.is_nan(values)
        filled = tf.where(missing, tf.constant(self.fill_values, values.dtype), values)
        if not self.indicator_columns:
            return filled
        flags = tf.gather(tf.cast(missing, values.dtype), self.indicator_columns, axis=1)
        return tf.concat([filled, flags], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.fill_values) + len(self.indicator_columns))

    def get_config(self):
        return {**super().get_config(), "fill_values": self.fill_values,
                "indicator_columns": self.indicator_columns}


@_REGISTER
class PackedEmbeddings(keras.layers.Layer):
    """One embedding table per categorical column, stored in a single variable.

    Column `i` has its own `cardinalities[i] x sizes[i]` table; all tables live
    back to back in one flat weight so that the whole lookup is a single
    gather and the optimizer updates one variable instead of one per column
    (this halves graph-tracing time for typical tables).

    Args:
        cardinalities: rows per column's table.
        sizes: width per column's table.
        init_std: standard deviation of the truncated-normal initializer.
        **kwargs: base `Layer` arguments.

    Example:

        >>> layer = PackedEmbeddings([3, 4], [2, 5])
        >>> layer(tf.constant([[0, 3], [2, 1]])).shape
        TensorShape([2, 7])
    """

    def __init__(self, cardinalities, sizes, init_std=0.01, **kwargs):
        super().__init__(**kwargs)
        self.cardinalities = [int(c) for c in cardinalities]
        self.sizes = [int(s) for s in sizes]
        if len(self.cardinalities) != len(self.sizes) or not self.sizes:
            raise ValueError(f"Need one size per column. Received: cardinalities="
                             f"{self.cardinalities}, sizes={self.sizes}")
        self.init_std = float(init_std)
        offsets, start = [], 0
        for card, size in zip(self.cardinalities, self.sizes):
            offsets.append(start)
            start += card * size
        # For each output feature: which column it reads, its table's start, its width.
        self._column = [i for i, s in enumerate(self.sizes) for _ in range(s)]
        self._base = [offsets[i] + j for i, s in enumerate(self.sizes) for j in range(s)]
        self._stride = [s for s in self.sizes for _ in range(s)]
        self.total_rows = start

    def build(self, input_shape):
        self.table = self.add_weight(
            shape=(self.total_rows,), name="tables",
            initializer=keras.initializers.TruncatedNormal(stddev=self.init_std))

    def call(self, indices):
        indices = tf.cast(indices, "int32")
        rows = tf.gather(indices, self._column, axis=1)
        return tf.gather(self.table, rows * tf.constant(self._stride) + tf.constant(self._base))

    def column_table(self, position: int):
        """The `(cardinality, size)` embedding matrix of column `position` (numpy)."""
        start = sum(c * s for c, s in zip(self.cardinalities[:position], self.sizes[:position]))
        card, size = self.cardinalities[position], self.sizes[position]
        flat = keras.ops.convert_to_numpy(self.table)[start:start + card * size]
        return flat.reshape(card, size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], sum(self.sizes))

    def get_config(self):
        return {**super().get_config(), "cardinalities": self.cardinalities,
                "sizes": self.sizes, "init_std": self.init_std}
