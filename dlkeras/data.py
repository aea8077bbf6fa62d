"""In-memory training data: seeded splits, batch sizes, and index-batched `tf.data`.

One split for every app (`random_split`: the benchmark protocol
`np.random.RandomState(seed).permutation(n)`, first `valid_pct` is
validation), one rule for a default batch size, and the datasets for data
that fits in memory:

- `training_batches`: an endless stream of shuffled full batches in which
  epoch `e` is a pure function of `(seed, e)` (a stateless permutation),
  so training can restart at any batch and see exactly the batches an
  uninterrupted run would (`start_batch`); each epoch gathers every row in
  its order with one op and serves batches as slices, so an epoch costs a
  handful of dataset elements and no per-batch Python;
- `index_batched_dataset`: the same rows in order, every one of them, for
  evaluation and prediction.

Example:

>>> import numpy as np
>>> train, valid = random_split(10, valid_pct=0.2, seed=0)
>>> len(train), len(valid)
(8, 2)
>>> stream = training_batches({"x": np.arange(5.0)}, np.arange(5), 2, seed=0)
>>> epoch = [y.numpy().tolist() for _, y in stream.dataset().take(stream.steps_per_epoch)]
>>> len(epoch), len(set(sum(epoch, [])))
(2, 4)
"""

import math

import numpy as np
import tensorflow as tf


def random_split(n_rows, valid_pct=0.2, seed=42, labels=None):
    """Train and validation positions of `n_rows` rows, from a seeded permutation.

    Args:
        n_rows: number of rows (examples) to split.
        valid_pct: share of the rows that go to validation, in (0, 1); the
            first `int(valid_pct * n_rows)` positions of
            `np.random.RandomState(seed).permutation(n_rows)` are validation.
        seed: seed of the permutation.
        labels: optional class of each row (classification). Then every
            class must have at least 2 rows, and each split holds at least
            one row of every class: when the permutation left a class out
            of one split, one of its rows moves over (the split is unchanged
            when every class is already in both).

    Returns:
        `(train_positions, valid_positions)`, int arrays in permutation order.

    Raises:
        ValueError: `valid_pct` outside (0, 1), a split that leaves no
            training or no validation row, or a class with fewer than 2 rows.

    Example:

    >>> train, valid = random_split(5, 0.4, seed=1)
    >>> sorted(train.tolist() + valid.tolist())
    [0, 1, 2, 3, 4]
    >>> train, valid = random_split(6, 0.5, seed=0, labels=["a", "a", "a", "a", "b", "b"])
    >>> sorted({"a", "b"} - {["a", "a", "a", "a", "b", "b"][i] for i in valid})
    []
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
    train, valid = order[cut:], order[:cut]
    if labels is None:
        return train, valid
    return _covering_every_class(train, valid, np.asarray(labels))


def _covering_every_class(train, valid, labels):
    """Moves one row of each class missing from a split into it (classes need >= 2 rows)."""
    if len(labels) != len(train) + len(valid):
        raise ValueError(f"{len(labels)} labels for {len(train) + len(valid)} rows.")
    classes, counts = np.unique(labels, return_counts=True)
    rare = [(c.item() if isinstance(c, np.generic) else c, int(n))
            for c, n in zip(classes, counts) if n < 2]
    if rare:
        shown = ", ".join(f"{c!r} ({n} row)" for c, n in rare[:5])
        raise ValueError(f"{len(rare)} class(es) have a single example: {shown}; every class needs "
                         "at least 2 (one to train on, one to validate): add examples or drop "
                         "the class.")
    for label in classes:
        for source, target in (("valid", "train"), ("train", "valid")):
            parts = {"train": train, "valid": valid}
            if not np.any(labels[parts[target]] == label):
                row = parts[source][labels[parts[source]] == label][-1]
                parts[source] = parts[source][parts[source] != row]
                parts[target] = np.append(parts[target], row)
                train, valid = parts["train"], parts["valid"]
    return train, valid


def random_split_frame(frame, valid_pct=0.2, seed=42, label_column=None):
    """`(train, valid)` rows of a DataFrame by `random_split`, each with a fresh index.

    Args:
        frame: the table.
        valid_pct, seed: as for `random_split`.
        label_column: a class column: every class then lands in both splits
            (see `random_split`'s `labels`).

    Example:

    >>> import pandas as pd
    >>> train, valid = random_split_frame(pd.DataFrame({"x": range(10)}), 0.2, seed=0)
    >>> len(train), len(valid), list(valid.index)
    (8, 2, [0, 1])
    """
    labels = None
    if label_column is not None:
        if frame[label_column].isna().any():
            raise ValueError(f"Label column {label_column!r} holds missing values; drop those "
                             "rows first.")
        labels = frame[label_column].astype(str).to_numpy()
    train, valid = random_split(len(frame), valid_pct, seed, labels=labels)
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


def epoch_permutation(n_rows, seed, epoch):
    """The order of `n_rows` rows in epoch `epoch`: a pure function of `(seed, epoch)`.

    Example:

    >>> a = epoch_permutation(5, seed=1, epoch=3).numpy().tolist()
    >>> a == epoch_permutation(5, seed=1, epoch=3).numpy().tolist(), sorted(a)
    (True, [0, 1, 2, 3, 4])
    """
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n_rows), seed=key)


class BatchStream:
    """Training batches as an endless stream that can start at any batch.

    Batch `k` of the stream is batch `k % steps_per_epoch` of epoch
    `k // steps_per_epoch`, and every epoch is a pure function of the seed
    and its index, so a run restarted at batch `k` sees exactly the batches
    an uninterrupted run would. The recipes (`fit_one_cycle`, `fine_tune`,
    `lr_find`) take a stream wherever they take a dataset.

    Args:
        make: `make(start_batch) -> tf.data.Dataset`, the endless stream from
            that batch on.
        steps_per_epoch: batches per epoch.

    Example:

    >>> stream = training_batches(np.arange(6.0), np.arange(6), 2, seed=3)
    >>> stream.steps_per_epoch
    3
    """

    def __init__(self, make, steps_per_epoch):
        if not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1:
            raise ValueError(f"`steps_per_epoch` must be an integer >= 1. "
                             f"Received: steps_per_epoch={steps_per_epoch!r}")
        self._make, self.steps_per_epoch = make, int(steps_per_epoch)
        self._made = {}

    def dataset(self, start_batch=0):
        """The endless `tf.data.Dataset` of batches, from batch `start_batch` on.

        Built once per `start_batch` (building traces the stream's functions,
        ~20-30 ms); every iteration of the dataset starts at that batch again.
        """
        if not isinstance(start_batch, (int, np.integer)) or start_batch < 0:
            raise ValueError(f"`start_batch` must be an integer >= 0. Received: {start_batch!r}")
        start_batch = int(start_batch)
        if start_batch not in self._made:
            self._made[start_batch] = self._make(start_batch)
        return self._made[start_batch]

    def epochs_from(self, start_batch):
        """`(first_epoch, batches_to_skip)` of a stream that starts at `start_batch`."""
        return divmod(int(start_batch), self.steps_per_epoch)

    def map_with_position(self, function, num_parallel_calls=tf.data.AUTOTUNE):
        """A stream of `function(position, *batch)`, `position` the batch's index in the stream.

        `position` (a scalar int64 tensor) counts batches from the start of
        the stream, whatever `start_batch` a dataset begins at, so a random
        transformation drawn from it (a stateless op seeded by `(seed,
        position)`) gives a restarted run the batches an uninterrupted one
        would see, in any order the parallel map runs them.

        Example:

        >>> stream = epoch_stream(lambda e: tf.data.Dataset.from_tensors(e).repeat(2), 2)
        >>> shifted = stream.map_with_position(lambda k, e: 10 * k + e)
        >>> [int(x) for x in shifted.dataset(start_batch=3).take(2)]
        [31, 42]
        """
        if not callable(function):
            raise TypeError("`function` must be callable as function(position, *batch). "
                            f"Received: function={function!r}")
        make = self._make

        def positioned(start_batch):
            batches = make(start_batch).enumerate(start=start_batch)
            mapped = batches.map(lambda position, batch: function(position, *_as_tuple(batch)),
                                 num_parallel_calls=num_parallel_calls, deterministic=True)
            return mapped.prefetch(2)

        return BatchStream(positioned, self.steps_per_epoch)


def _as_tuple(batch):
    return batch if isinstance(batch, tuple) else (batch,)


def without_autotune(dataset):
    """`dataset` with `tf.data`'s autotuning off (`AUTOTUNE` parallelism then uses its default).

    Why: when an iterator is deleted before its dataset is exhausted (every
    endless training stream at the end of a fit, and Keras' evaluation
    iterators), `tf.data` waits for its tuning thread, which on 2 busy cores
    held the deletion for 0.2-0.6 s on MovieLens fits, ~1.2 s after some
    image validations and ~19 s at the end of a 3-epoch image fit at 224 px
    (`apps.image.pipeline`; epochs themselves unchanged without it).

    Example:

    >>> ds = without_autotune(tf.data.Dataset.range(3))
    >>> ds.options().autotune.enabled, [int(x) for x in ds]
    (False, [0, 1, 2])
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def epoch_stream(make_epoch, steps_per_epoch, *, autotune=True):
    """A `BatchStream` from `make_epoch(epoch) -> dataset of that epoch's batches`.

    `make_epoch` receives the epoch index as a scalar int64 tensor (it runs
    inside `tf.data`), and must return the same batches for the same index.

    Args:
        make_epoch: `epoch -> tf.data.Dataset` of that epoch's batches.
        steps_per_epoch: batches per epoch.
        autotune: whether `tf.data` tunes the stream (`tf.data.Options().autotune`).
            False (`without_autotune`) for a stream whose tuning cannot pay
            for the wait it adds when the fit deletes the stream's iterator:
            in-memory slices and a fixed prefetch have nothing to tune, and
            the image app's stream ran its epochs as fast without it.

    Example:

    >>> stream = epoch_stream(lambda e: tf.data.Dataset.from_tensors(e).repeat(2), 2)
    >>> [int(x) for x in stream.dataset(start_batch=3).take(3)]
    [1, 2, 2]
    """
    def make(start_batch):
        first_epoch, skip = divmod(start_batch, steps_per_epoch)
        epochs = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max)
        stream = epochs.flat_map(make_epoch).skip(skip).prefetch(2)
        return stream if autotune else without_autotune(stream)

    return BatchStream(make, steps_per_epoch)


def training_batches(features, targets, batch_size, *, seed=0, sample_weight=None):
    """The resumable stream of shuffled full training batches of in-memory data.

    Epoch `e` visits the rows in `epoch_permutation(n_rows, seed, e)` order,
    the ragged rest dropped (every step has one shape, so the train step is
    traced once); each epoch gathers all its rows with one op and serves
    batches as slices (no per-batch Python or `tf.data` function call).

    Args:
        features: an array or a dict of equal-length arrays.
        targets: an array of the same length, or None.
        batch_size: rows per batch.
        seed: shuffle seed (an int; None means 0).
        sample_weight: optional per-row weights, served third.

    Returns:
        A `BatchStream` with `steps_per_epoch = n_rows // batch_size`.

    Example:

    >>> stream = training_batches(np.arange(6.0), np.arange(6), 2, seed=3)
    >>> epoch_0 = [y.numpy().tolist() for _, y in stream.dataset().take(3)]
    >>> [y.numpy().tolist() for _, y in stream.dataset(start_batch=2).take(1)] == epoch_0[2:]
    True
    """
    columns, n_rows = _columns(features, targets, sample_weight)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    steps = n_rows // int(batch_size)
    if steps < 1:
        raise ValueError(f"Only {n_rows} training rows for batch_size={batch_size}: lower "
                         "the batch size.")
    seed = 0 if seed is None else int(seed)

    # Plain TensorFlow ops, no Python control flow: autograph's conversion would only cost
    # time (~0.1 s of the first stream a process builds).
    @tf.autograph.experimental.do_not_convert
    def epoch(index):
        order = epoch_permutation(n_rows, seed, index)[:steps * batch_size]
        return tf.data.Dataset.from_tensor_slices(_gather(columns, order, [steps, batch_size]))

    # Slices of tensors in memory and a fixed prefetch: nothing for tf.data to tune.
    return epoch_stream(epoch, steps, autotune=False)


def _columns(features, targets, sample_weight):
    """Constant tensors of the parts of a batch, and the number of rows."""
    n_rows = _rows(features)
    if n_rows == 0:
        raise ValueError("Cannot batch an empty data set.")
    columns = [tf.nest.map_structure(tf.constant, features)]
    for extra in (targets, sample_weight):
        if extra is not None:
            if len(extra) != n_rows:
                raise ValueError(f"{len(extra)} targets/weights for {n_rows} rows.")
            columns.append(tf.constant(extra))
    return columns, n_rows


def _gather(columns, positions, shape):
    """The rows at `positions` of every column, reshaped to `shape + row shape`."""
    def take(tensor):
        rows = tf.gather(tensor, positions)
        return tf.reshape(rows, tf.concat([shape, tf.shape(tensor)[1:]], 0))

    batch = tuple(tf.nest.map_structure(take, column) for column in columns)
    return batch if len(batch) > 1 else batch[0]


def _rows(features):
    lengths = {len(v) for v in tf.nest.flatten(features)}
    if len(lengths) != 1:
        raise ValueError(f"Every feature array must have the same length. Received lengths "
                         f"{sorted(lengths)}.")
    return lengths.pop()


def index_batched_dataset(features, targets, batch_size, *, sample_weight=None):
    """Every row, in order, in batches (the last one possibly smaller): for evaluation.

    Args:
        features: an array or a dict of equal-length arrays.
        targets: an array of the same length, or None (prediction inputs).
        batch_size: rows per batch.
        sample_weight: optional per-row weights, served third.

    Returns:
        A dataset of known cardinality.

    Example:

    >>> ds = index_batched_dataset(np.arange(5.0), np.arange(5), 2)
    >>> [y.numpy().tolist() for _, y in ds]
    [[0, 1], [2, 3], [4]]
    """
    columns, n_rows = _columns(features, targets, sample_weight)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    n_full = n_rows // batch_size
    order = tf.range(n_rows)
    dataset = tf.data.Dataset.from_tensor_slices(
        _gather(columns, order[:n_full * batch_size], [n_full, batch_size]))
    if n_rows > n_full * batch_size:
        rest = order[n_full * batch_size:]
        dataset = dataset.concatenate(
            tf.data.Dataset.from_tensors(_gather(columns, rest, tf.shape(rest))))
    return dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(n_rows / batch_size)))
