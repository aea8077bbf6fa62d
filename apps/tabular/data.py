"""Training inputs for the network half of a tabular model, as `tf.data`.

The preprocessor runs once over each frame (column-wise, no per-row Python),
and the resulting int/float matrices are batched by index: each epoch draws
one random permutation and gathers all rows in that order with one op, and
batches are slices of the result, so a 30k-row epoch is ~30 dataset elements
with no per-batch (let alone per-row) function calls.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from apps.tabular.frames import encode_target, raw_inputs
from apps.tabular.roles import ColumnRoles

PREPROCESS_CHUNK_ROWS = 65536


def preprocess_frame(preprocessor, df: pd.DataFrame, roles: ColumnRoles) -> dict:
    """Run the preprocessor eagerly over a frame, in chunks; returns numpy arrays.

    Example:
        >>> # features = preprocess_frame(pre, df, roles); features["categorical"].shape
    """
    raw = raw_inputs(df, roles)
    chunks = []
    for start in range(0, max(len(df), 1), PREPROCESS_CHUNK_ROWS):
        part = {name: values[start:start + PREPROCESS_CHUNK_ROWS] for name, values in raw.items()}
        chunks.append({k: v.numpy() for k, v in preprocessor(part).items()})
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def index_batched_dataset(features: dict, target, batch_size: int, *, shuffle: bool,
                          drop_remainder: bool, seed=None) -> tf.data.Dataset:
    """A dataset of `(features, target)` batches gathered from in-memory tensors.

    Args:
        features: dict of equal-length arrays.
        target: array of the same length, or None (prediction).
        batch_size: rows per batch.
        shuffle: draw a new permutation each time the dataset is iterated.
        drop_remainder: drop the last partial batch (training, as fastai does).
        seed: shuffle seed (reproducible epochs) or None.

    Example:
        >>> ds = index_batched_dataset({"x": np.arange(5.0)}, np.arange(5), 2,
        ...                            shuffle=False, drop_remainder=True)
        >>> [int(y.numpy()[0]) for _, y in ds]
        [0, 2]
    """
    n_rows = len(next(iter(features.values())))
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    if drop_remainder and n_rows < batch_size:
        raise ValueError(f"Only {n_rows} training rows for batch_size={batch_size}: "
                         "lower batch_size.")
    tensors = {k: tf.constant(v) for k, v in features.items()}
    labels = None if target is None else tf.constant(target)
    n_batches = n_rows // batch_size if drop_remainder else -(-n_rows // batch_size)
    if shuffle:
        # A fresh seed each time Keras re-iterates the dataset (once per epoch).
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        positions = seeds.map(lambda s: tf.random.experimental.stateless_shuffle(
            tf.range(n_rows), seed=tf.stack([s, tf.constant(0, tf.int64)])))
    else:
        positions = tf.data.Dataset.from_tensors(tf.range(n_rows))

    n_full = n_rows // batch_size

    def gather(idx, shape):
        x = {k: tf.reshape(tf.gather(v, idx), tf.concat([shape, tf.shape(v)[1:]], 0))
             for k, v in tensors.items()}
        if labels is None:
            return x
        return x, tf.reshape(tf.gather(labels, idx), tf.concat([shape, tf.shape(labels)[1:]], 0))

    def epoch_batches(idx):
        # One gather per epoch; batches are then plain slices (no per-batch function).
        full = tf.data.Dataset.from_tensor_slices(
            gather(idx[:n_full * batch_size], [n_full, batch_size]))
        if drop_remainder or n_rows == n_full * batch_size:
            return full
        rest = idx[n_full * batch_size:]
        return full.concatenate(tf.data.Dataset.from_tensors(gather(rest, tf.shape(rest))))

    dataset = positions.flat_map(epoch_batches)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_batches))
    return dataset.prefetch(2)


def labelled_dataset(preprocessor, df: pd.DataFrame, roles: ColumnRoles,
                     batch_size: int = 16384) -> tf.data.Dataset:
    """Ordered `(features, target)` batches of a labelled frame (for evaluation).

    Example:
        >>> # network.evaluate(labelled_dataset(pre, test_df, roles))
    """
    return index_batched_dataset(preprocess_frame(preprocessor, df, roles),
                                 encode_target(df, roles), batch_size,
                                 shuffle=False, drop_remainder=False)


class TabularData:
    """Preprocessed training and validation rows with their `tf.data` views.

    Args:
        preprocessor: the model's preprocessing half (already fitted).
        roles: column roles.
        train_df: training rows.
        valid_df: validation rows or None.
        batch_size: rows per batch.
        seed: shuffle seed.
        valid_batch_size: rows per validation batch. The default 16384 puts a
            typical validation set in one batch: one step per epoch and no
            retrace for a ragged last batch.

    Example:
        >>> # data = TabularData(pre, roles, train_df, valid_df, batch_size=1024)
        >>> # model.fit(data.train_dataset(), validation_data=data.valid_dataset())
    """

    def __init__(self, preprocessor, roles, train_df, valid_df=None, batch_size=1024, seed=None,
                 valid_batch_size=16384):
        self.roles, self.batch_size, self.seed = roles, int(batch_size), seed
        self.valid_batch_size = int(valid_batch_size)
        self.train_x = preprocess_frame(preprocessor, train_df, roles)
        self.train_y = encode_target(train_df, roles)
        self.valid_x = self.valid_y = None
        self.valid_df = valid_df  # kept for interpretation (permutation importance)
        if valid_df is not None and len(valid_df):
            self.valid_x = preprocess_frame(preprocessor, valid_df, roles)
            self.valid_y = encode_target(valid_df, roles)

    def train_dataset(self) -> tf.data.Dataset:
        """Shuffled full batches of training rows."""
        return index_batched_dataset(self.train_x, self.train_y, self.batch_size,
                                     shuffle=True, drop_remainder=True, seed=self.seed)

    def valid_dataset(self) -> tf.data.Dataset | None:
        """Validation rows in order, last batch kept; None without validation rows."""
        if self.valid_x is None:
            return None
        return index_batched_dataset(self.valid_x, self.valid_y, self.valid_batch_size,
                                     shuffle=False, drop_remainder=False)
