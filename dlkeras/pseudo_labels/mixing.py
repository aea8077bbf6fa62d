"""A `tf.data` mixer: every batch holds exactly `n_pseudo` pseudo-labelled examples.

Each source is a stream of single `(features, target, weight)` examples that
reshuffles each time it is iterated. The mixer repeats both, batches each to
its own share (dropping nothing but the never-reached tail of an endless
stream), zips the two batch streams and concatenates each pair: every batch
has the same composition, labelled examples first. Nothing is copied up
front: pseudo-labelled examples are gathered by position from the
unlabelled features (arrays), or filtered out of their `tf.data` pipeline.

Example:


>>> import numpy as np, tensorflow as tf
>>> labelled = labelled_examples(tf.data.Dataset.from_tensor_slices(
...     (np.zeros((12, 2), "float32"), np.zeros(12, "int32"))).batch(4))
>>> pseudo = pseudo_examples(np.ones((10, 2), "float32"), np.ones(3, "int32"),
...                          indices=[2, 5, 7], weight=0.5, seed=0)
>>> mixed = mix_batches(labelled, pseudo, batch_size=8, pseudo_fraction=0.25, steps_per_epoch=3)
>>> [w.numpy().tolist() for _, _, w in mixed.take(1)]
[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5]]
"""

import inspect

import numpy as np
import tensorflow as tf


def batch_shares(batch_size, pseudo_fraction=0.25):
    """`(n_labelled, n_pseudo)` of a batch: `n_pseudo = round(batch_size * pseudo_fraction)`.

    Example:


    >>> batch_shares(64, 0.25), batch_shares(32, 1 / 3)
    ((48, 16), (21, 11))
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
        raise ValueError(f"`batch_size` must be an integer >= 2. Received: "
                         f"batch_size={batch_size!r}")
    if not 0.0 < pseudo_fraction < 1.0:
        raise ValueError(f"`pseudo_fraction` must be strictly between 0 and 1. Received: "
                         f"pseudo_fraction={pseudo_fraction!r}")
    n_pseudo = int(round(batch_size * pseudo_fraction))
    if not 0 < n_pseudo < batch_size:
        raise ValueError(f"pseudo_fraction={pseudo_fraction} of batch_size={batch_size} leaves "
                         f"{n_pseudo} pseudo-labelled examples per batch; raise the batch size.")
    return int(batch_size - n_pseudo), n_pseudo


def _features_of(*element):
    """The features of a dataset element, by Keras' rule: a tuple is `(x, y[, w])`.

    (`Dataset.map` passes a tuple's parts as separate arguments.)
    """
    return element[0]


def labelled_examples(batches, target_transform=None):
    """Unbatches a `(features, targets[, weights])` batch stream into `(features, target, weight)`.

    Args:
        batches: a `tf.data.Dataset` of `(features, targets)` batches (e.g. a
            task's training pipeline: it shuffles and augments each pass),
            or of `(features, targets, sample_weights)`; the weight is 1.0
            where none is given.
        target_transform: applied to each batch of targets first (e.g.
            `TargetFormat.to_soft`), or None.
    """
    def add_weight(features, targets, weights=None):
        if target_transform is not None:
            targets = target_transform(targets)
        if weights is None:
            weights = tf.ones(tf.shape(targets)[:1], tf.float32)
        return features, targets, tf.cast(weights, tf.float32)

    return batches.map(add_weight, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


def pseudo_examples(features, targets, indices, weight=1.0, *, num_examples=None, seed=None,
                    shuffle_buffer=10_000):
    """The pseudo-labelled examples `(features[i], target, weight)` for `i` in `indices`.

    Args:
        features: the unlabelled features: an array, a dict of arrays, or a
            `tf.data.Dataset` of feature batches (elements `x` or `(x, ...)`),
            in the order the teacher predicted them.
        targets: one target per selected example (`len(indices)` rows).
        indices: positions of the selected examples in `features`.
        weight: sample weight of every pseudo-labelled example.
        num_examples: number of examples in a `tf.data` `features` (default
            `max(indices) + 1`); unused for arrays.
        seed: shuffle seed; the order changes at each pass.
        shuffle_buffer: shuffle buffer of the `tf.data` case.

    Returns:
        A `tf.data.Dataset` of single examples, reshuffled at each pass.
    """
    indices = np.asarray(indices, dtype=np.int64)
    targets = np.asarray(targets)
    if len(indices) == 0 or len(targets) != len(indices):
        raise ValueError(f"Need one target per selected example and at least one example. "
                         f"Received: {len(indices)} indices, {len(targets)} targets.")
    targets_t = tf.constant(targets)
    weight_t = tf.constant(float(weight), tf.float32)
    if isinstance(features, tf.data.Dataset):
        count = int(num_examples if num_examples is not None else indices.max() + 1)
        row_of = np.full(count, -1, np.int64)
        row_of[indices] = np.arange(len(indices))
        row_of_t = tf.constant(row_of)
        examples = features.map(_features_of).unbatch().enumerate()
        examples = examples.filter(lambda i, x: tf.gather(row_of_t, i) >= 0)
        examples = examples.map(lambda i, x: (x, tf.gather(targets_t, tf.gather(row_of_t, i)),
                                              weight_t))
        return examples.shuffle(min(len(indices), shuffle_buffer), seed=seed,
                                reshuffle_each_iteration=True)
    columns = tf.nest.map_structure(tf.convert_to_tensor, features)
    positions = tf.constant(indices)
    rows = tf.data.Dataset.range(len(indices)).shuffle(len(indices), seed=seed,
                                                       reshuffle_each_iteration=True)
    return rows.map(lambda k: (tf.nest.map_structure(
        lambda column: tf.gather(column, tf.gather(positions, k)), columns),
        tf.gather(targets_t, k), weight_t), num_parallel_calls=tf.data.AUTOTUNE)


def _conform(labelled_spec, pseudo):
    """Pseudo examples cast to the labelled ones' dtypes (and target shape), or a clear error."""
    features_spec, target_spec, _ = labelled_spec
    _, pseudo_target, _ = pseudo.element_spec
    try:
        tf.nest.assert_same_structure(features_spec, pseudo.element_spec[0])
    except (ValueError, TypeError) as error:
        raise ValueError(f"Labelled and pseudo-labelled features differ in structure: {error}") \
            from None
    known = target_spec.shape.is_fully_defined() and pseudo_target.shape.is_fully_defined()
    if known and pseudo_target.shape.num_elements() != target_spec.shape.num_elements():
        raise ValueError(f"Labelled targets have shape {target_spec.shape} per example but "
                         f"pseudo-labels {pseudo_target.shape}: soft targets need labelled "
                         "targets converted to the soft format too.")

    def cast(x, y, w):
        x = tf.nest.map_structure(lambda value, spec: tf.cast(value, spec.dtype), x, features_spec)
        y = tf.cast(y, target_spec.dtype)
        return x, tf.reshape(y, target_spec.shape) if known else y, w

    return pseudo.map(cast)


def _batched(examples, size):
    """Full batches of `size`; examples of varying length (token ids) are padded with 0."""
    specs = tf.nest.flatten(examples.element_spec)
    if all(spec.shape.is_fully_defined() for spec in specs):
        return examples.batch(size, drop_remainder=True)
    return examples.padded_batch(size, drop_remainder=True)


def _stacked(first, second):
    """`first` then `second` along the batch axis; the narrower one is padded with 0."""
    if first.shape[1:].is_fully_defined() and first.shape[1:] == second.shape[1:]:
        return tf.concat([first, second], 0)
    size = tf.maximum(tf.shape(first)[1:], tf.shape(second)[1:])

    def padded(tensor):
        extra = size - tf.shape(tensor)[1:]
        paddings = tf.concat([[[0, 0]], tf.stack([tf.zeros_like(extra), extra], axis=1)], 0)
        return tf.pad(tensor, paddings)

    return tf.concat([padded(first), padded(second)], 0)


def mix_batches(labelled, pseudo, batch_size, pseudo_fraction=0.25, steps_per_epoch=None,
                pseudo_transform=None):
    """Batches of `batch_size`, exactly `round(batch_size * pseudo_fraction)` from `pseudo`.

    Args:
        labelled: `tf.data.Dataset` of `(features, target, weight)` examples
            (`labelled_examples`), reshuffled at each pass.
        pseudo: the same for pseudo-labelled examples (`pseudo_examples`).
        batch_size: examples per batch.
        pseudo_fraction: share of each batch taken from `pseudo`.
        steps_per_epoch: batches per pass of the result (each pass restarts
            both streams, so one pass over `labelled` takes
            `len(labelled) // n_labelled` batches); None: endless.
        pseudo_transform: applied to each batch of pseudo-labelled features
            (e.g. the augmentation the labelled pipeline already applies), or None.
            One with a `position` parameter is called as
            `pseudo_transform(features, position=k)`, `k` the mixed batch's
            position in the stream (int64), so its random draws can be a
            function of it: the same in every run and in a resumed one.

    Features of varying length (e.g. token ids, `(None,)` per example) are
    padded with 0 to the longest of each batch, both parts alike.

    Returns:
        A `tf.data.Dataset` of `(features, targets, sample_weights)` batches.
    """
    mixed = _zipped(labelled, pseudo, batch_size, pseudo_fraction, pseudo_transform)
    if steps_per_epoch is not None:
        _check_steps(steps_per_epoch)
        # The streams repeat, so the count holds (a file pipeline's is otherwise unknown).
        mixed = mixed.take(int(steps_per_epoch)).apply(
            tf.data.experimental.assert_cardinality(int(steps_per_epoch)))
    return mixed.prefetch(tf.data.AUTOTUNE)


def mix_stream(labelled_batches, pseudo, batch_size, pseudo_fraction=0.25, steps_per_epoch=None,
               pseudo_transform=None, target_transform=None):
    """`mix_batches` over a task's training `BatchStream`, as a `BatchStream` again.

    Mixed batch `k` holds the examples of labelled batch `k` of
    `labelled_batches` (when it is batched at the labelled share of a batch,
    as `PseudoLabelTrainer` asks for), so every epoch sees the stream's own
    reshuffled order and augmentation; the pseudo-labelled stream reshuffles
    at each pass and starts `k` batches in.

    Args:
        labelled_batches: a `dlkeras.data.BatchStream` of `(features, targets[, weights])`.
        pseudo: pseudo-labelled examples (`pseudo_examples`).
        batch_size, pseudo_fraction, pseudo_transform: as for `mix_batches`.
        steps_per_epoch: batches per epoch (default the labelled stream's).
        target_transform: applied to the labelled targets (`labelled_examples`).

    Returns:
        A `BatchStream` of `(features, targets, sample_weights)` batches.

    Example:


    >>> from dlkeras.data import training_batches
    >>> stream = training_batches(np.zeros((12, 2), "float32"), np.zeros(12, "int32"), 6)
    >>> pseudo = pseudo_examples(np.ones((10, 2), "float32"), np.ones(3, "int32"),
    ...                          indices=[2, 5, 7], seed=0)
    >>> mixed = mix_stream(stream, pseudo, batch_size=8, pseudo_fraction=0.25)
    >>> mixed.steps_per_epoch, [y.numpy().tolist() for _, y, _ in mixed.dataset(1).take(1)]
    (2, [[0, 0, 0, 0, 0, 0, 1, 1]])
    """
    from dlkeras.data import BatchStream

    steps = labelled_batches.steps_per_epoch if steps_per_epoch is None else steps_per_epoch
    _check_steps(steps)
    batch_shares(batch_size, pseudo_fraction)  # refuses impossible shares now, not at the first batch

    def make(start_batch):
        labelled = labelled_examples(labelled_batches.dataset(start_batch), target_transform)
        mixed = _zipped(labelled, pseudo, batch_size, pseudo_fraction, pseudo_transform,
                        start_batch=start_batch)
        return mixed.prefetch(tf.data.AUTOTUNE)

    return BatchStream(make, int(steps))


def _zipped(labelled, pseudo, batch_size, pseudo_fraction, pseudo_transform, start_batch=0):
    """The endless stream of mixed batches (labelled part first), from batch `start_batch` on."""
    n_labelled, n_pseudo = batch_shares(batch_size, pseudo_fraction)
    pseudo = _conform(labelled.element_spec, pseudo).repeat()
    if start_batch:
        pseudo = pseudo.skip(start_batch * n_pseudo)
    left = _batched(labelled.repeat(), n_labelled)
    right = _batched(pseudo, n_pseudo)
    if pseudo_transform is not None and _takes_position(pseudo_transform):
        right = right.enumerate(start=start_batch).map(
            lambda k, batch: (pseudo_transform(batch[0], position=k), *batch[1:]),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    elif pseudo_transform is not None:
        right = right.map(lambda x, y, w: (pseudo_transform(x), y, w),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return tf.data.Dataset.zip((left, right)).map(
        lambda first, second: tf.nest.map_structure(_stacked, first, second),
        num_parallel_calls=tf.data.AUTOTUNE)


def _takes_position(transform):
    """Whether `transform` has a `position` parameter (then it is given the batch's position)."""
    try:
        return "position" in inspect.signature(transform).parameters
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False


def _check_steps(steps_per_epoch):
    if not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1:
        raise ValueError(f"`steps_per_epoch` must be an integer >= 1. Received: "
                         f"steps_per_epoch={steps_per_epoch!r}")
