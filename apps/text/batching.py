"""Classifier batches: texts of similar length together, each batch padded to its longest.

Training batches are "sortish" (fastai's `SortishSampler`): each epoch the
texts are shuffled, cut into chunks of 50 batches, each chunk is sorted by
length and cut into batches, and the batches are shuffled; the last
partial batch is dropped (a batch of one breaks BatchNormalization).
Evaluation batches keep the order of the data and every text. Token
sequences have shape `(batch, None)`, so one traced step serves every
length.

Example:

>>> import numpy as np
>>> ids = [np.array([2, 5]), np.array([2, 6, 7]), np.array([2])]
>>> pad(ids).tolist()
[[2, 5, 0], [2, 6, 7], [2, 0, 0]]
>>> [len(b) for b in sortish_batches([3, 1, 2, 5, 4], 2, np.random.RandomState(0))]
[2, 2]
"""
import numpy as np

from apps.text.tokenizer import PAD_ID

CHUNK_BATCHES = 50


def pad(ids):
    """Right-pads a list of 1-D id arrays with `[PAD]` into one `(N, longest)` int32 array."""
    longest = max((len(i) for i in ids), default=1)
    result = np.full((len(ids), max(longest, 1)), PAD_ID, np.int32)
    for row, values in enumerate(ids):
        result[row, :len(values)] = values
    return result


def sortish_batches(lengths, batch_size, rng):
    """Index arrays of full batches of similar lengths, in random order."""
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * CHUNK_BATCHES
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    batches = [b for b in batches if len(b) == batch_size]
    return [batches[i] for i in rng.permutation(len(batches))]


class ClassifierBatches:
    """Padded `(tokens, targets[, sample_weights])` batches of tokenized texts.

    Args:
        ids: list of 1-D token id arrays.
        targets: `(N, classes)` float32 targets, or None (inputs only).
        sample_weights: `(N,)` weights or None.
        batch_size: texts per batch.
        training: sortish, shuffled each epoch, full batches only; else in order.
        seed: shuffling seed (epoch `e` uses `seed + e`).
    """

    def __init__(self, ids, targets, sample_weights, batch_size, training, seed=None):
        if training and len(ids) < batch_size:
            raise ValueError(f"Only {len(ids)} training texts for batch_size={batch_size}: lower "
                             "the batch size.")
        if not ids:
            raise ValueError("Cannot batch an empty data set.")
        self.ids, self.targets, self.weights = ids, targets, sample_weights
        self.batch_size, self.training = batch_size, training
        self.seed = 0 if seed is None else int(seed)
        self.lengths = np.array([len(i) for i in ids])

    @property
    def steps(self):
        if self.training:
            return len(self.ids) // self.batch_size
        return -(-len(self.ids) // self.batch_size)

    def indices(self, epoch):
        if self.training:
            return sortish_batches(self.lengths, self.batch_size,
                                   np.random.RandomState((self.seed + epoch) % 2**32))
        positions = np.arange(len(self.ids))
        return [positions[i:i + self.batch_size] for i in range(0, len(positions), self.batch_size)]

    def batches(self, epoch):
        for batch in self.indices(epoch):
            tokens = pad([self.ids[i] for i in batch])
            if self.targets is None:
                yield tokens
            elif self.weights is None:
                yield tokens, self.targets[batch]
            else:
                yield tokens, self.targets[batch], self.weights[batch]

    def dataset(self):
        """A `tf.data.Dataset` of the batches; a new shuffle each time it is iterated."""
        import tensorflow as tf

        counter = iter(range(2**31))
        spec = [tf.TensorSpec((None, None), tf.int32)]
        if self.targets is not None:
            spec.append(tf.TensorSpec((None, self.targets.shape[1]), tf.float32))
            if self.weights is not None:
                spec.append(tf.TensorSpec((None,), tf.float32))
        signature = spec[0] if len(spec) == 1 else tuple(spec)
        dataset = tf.data.Dataset.from_generator(lambda: self.batches(next(counter)),
                                                 output_signature=signature)
        return dataset.apply(tf.data.experimental.assert_cardinality(self.steps)).prefetch(2)
