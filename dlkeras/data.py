"""In-memory training data: seeded splits, batch sizes, and index-batched `tf.data`.

One split for every app (`random_split`: the benchmark protocol
`np.random.RandomState(seed).permutation(n)`, first `valid_pct` is
validation), one rule for a default batch size, and one dataset for data
that fits in memory (`index_batched_dataset`): each epoch draws one random
permutation, gathers every row in that order with a single op, and serves
batches as slices, so an epoch costs a handful of dataset elements and no
per-batch Python.

Example:


>>> import numpy as np
>>> train, valid = random_split(10, valid_pct=0.2, seed=0)
>>> len(train), len(valid)
(8, 2)
>>> dataset = index_batched_dataset({"x": np.arange(5.0)}, np.arange(5), 2,
...                                 shuffle=False, drop_remainder=True)
>>> [y.numpy().tolist() for _, y in dataset]
[[0, 1], [2, 3]]
"""

import math

import numpy as np
import tensorflow as tf


def random_split(n_rows, valid_pct=0.2, seed=42):
    """Train and validation positions of `n_rows` rows, from a seeded permutation.

    Args:
        n_rows: number of rows (examples) to split.
        valid_pct: share of the rows that go to validation, in (0, 1); the
            first `int(valid_pct * n_rows)` positions of
            `np.random.RandomState(seed).permutation(n_rows)` are validation.
        seed: seed of the permutation.

    Returns:
        `(train_positions, valid_positions)`, int arrays in permutation order.

    Raises:
        ValueError: `valid_pct` outside (0, 1), or a split that leaves no
            training or no validation row.

    Example:


    >>> train, valid = random_split(5, 0.4, seed=1)
    >>> sorted(train.tolist() + valid.tolist())
    [0, 1, 2, 3, 4]
    """
    if not isinstance(valid_pct, (int, float)) or not 0.0 < valid_pct < 1.0:
        raise ValueError(f"`valid_pct` must be in (0, 1). Received: valid_pct={valid_pct!r}")
    n_rows = int(n_rows)
    cut = int(valid_pct * n_rows)
    if cut < 1:
        raise ValueError(
            f"valid_pct={valid_pct} of {n_rows} rows leaves no validation row: raise "
            f"valid_pct to at least {1 / max(n_rows, 1):.3g} or add data.")
    if cut >= n_rows:
        raise ValueError(f"valid_pct={valid_pct} of {n_rows} rows leaves no training row.")
    order = np.random.RandomState(seed).permutation(n_rows)
    return order[cut:], order[:cut]


def random_split_frame(frame, valid_pct=0.2, seed=42):
    """`(train, valid)` rows of a DataFrame by `random_split`, each with a fresh index.

    Example:


    >>> import pandas as pd
    >>> train, valid = random_split_frame(pd.DataFrame({"x": range(10)}), 0.2, seed=0)
    >>> len(train), len(valid), list(valid.index)
    (8, 2, [0, 1])
    """
    train, valid = random_split(len(frame), valid_pct, seed)
    return (frame.iloc[train].reset_index(drop=True), frame.iloc[valid].reset_index(drop=True))


def default_batch_size(n_rows, min_steps=50, smallest=16, largest=1024):
    """A power-of-two batch size giving at least `min_steps` steps an epoch.

    Small data sets need small batches to get enough optimizer steps out of
    a few epochs (a 3,200-row table at batch 1024 trains 3 steps an epoch);
    large ones can afford large batches, which are faster per epoch.

    Example:


    >>> default_batch_size(3200), default_batch_size(30000), default_batch_size(10**7)
    (64, 512, 1024)
    """
    if n_rows < 1:
        raise ValueError(f"Cannot choose a batch size for {n_rows} rows.")
    size = 2 ** int(math.floor(math.log2(max(n_rows / min_steps, 1))))
    return int(min(max(size, smallest), largest))


def _rows(features):
    lengths = {len(v) for v in tf.nest.flatten(features)}
    if len(lengths) != 1:
        raise ValueError(f"Every feature array must have the same length. Received lengths "
                         f"{sorted(lengths)}.")
    return lengths.pop()


def index_batched_dataset(features, targets, batch_size, *, shuffle, drop_remainder,
                          seed=None, sample_weight=None):
    """A `tf.data.Dataset` of `(features, targets)` batches gathered from in-memory arrays.

    Args:
        features: an array or a dict of equal-length arrays.
        targets: an array of the same length, or None (prediction inputs).
        batch_size: rows per batch.
        shuffle: draw a new permutation each time the dataset is iterated
            (once per epoch under `fit`).
        drop_remainder: drop the last partial batch (training: every step
            has the same shape, so the train step is traced once).
        seed: shuffle seed (reproducible epochs) or None.
        sample_weight: optional per-row weights, served as a third element.

    Returns:
        A dataset of known cardinality.

    Example:


    >>> ds = index_batched_dataset(np.arange(6.0), np.arange(6), 4, shuffle=True,
    ...                            drop_remainder=False, seed=0)
    >>> sorted(np.concatenate([y.numpy() for _, y in ds]).tolist())
    [0, 1, 2, 3, 4, 5]
    """
    n_rows = _rows(features)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    if drop_remainder and n_rows < batch_size:
        raise ValueError(f"Only {n_rows} training rows for batch_size={batch_size}: lower "
                         "the batch size.")
    if n_rows == 0:
        raise ValueError("Cannot batch an empty data set.")
    columns = [tf.nest.map_structure(tf.constant, features)]
    for extra in (targets, sample_weight):
        if extra is not None:
            if len(extra) != n_rows:
                raise ValueError(f"{len(extra)} targets/weights for {n_rows} rows.")
            columns.append(tf.constant(extra))
    n_full = n_rows // batch_size

    def gather(positions, shape):
        def take(tensor):
            rows = tf.gather(tensor, positions)
            return tf.reshape(rows, tf.concat([shape, tf.shape(tensor)[1:]], 0))
        batch = tuple(tf.nest.map_structure(take, column) for column in columns)
        return batch if len(batch) > 1 else batch[0]

    def epoch(positions):
        full = tf.data.Dataset.from_tensor_slices(
            gather(positions[:n_full * batch_size], [n_full, batch_size]))
        if drop_remainder or n_rows == n_full * batch_size:
            return full
        rest = positions[n_full * batch_size:]
        return full.concatenate(tf.data.Dataset.from_tensors(gather(rest, tf.shape(rest))))

    if shuffle:
        # A fresh seed each time Keras iterates the dataset again (each epoch).
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        positions = seeds.map(lambda s: tf.random.experimental.stateless_shuffle(
            tf.range(n_rows), seed=tf.stack([s, tf.constant(0, tf.int64)])))
    else:
        positions = tf.data.Dataset.from_tensors(tf.range(n_rows))
    n_batches = n_full if drop_remainder else math.ceil(n_rows / batch_size)
    return positions.flat_map(epoch).apply(
        tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)
