"""Language-model batches: contiguous token streams cut into BPTT windows.

Each epoch the documents (token arrays that start with `[BOS]`) are
shuffled (training) and concatenated into one stream of `N` tokens, which
is cut into `rows` parallel streams of `L = (N - 1) // rows` steps: row `r`
holds tokens `r * L .. (r + 1) * L` (the last token of a row is the first
of the next, as a target only). Batch `k` feeds columns `cuts[k]:cuts[k+1]`
of every row as inputs and the same columns shifted by one as targets, so
every token but the first is predicted exactly once per epoch, and a row's
batches follow each other in the stream: the model carries its state from
one batch to the next. The first batch of an epoch says `reset` (the
streams start again).

Window lengths vary as in AWD-LSTM: `bptt`, or `bptt / 2` with probability
0.05, then drawn from a normal around it (std 5, at least 5); the number of
windows per epoch is fixed (`L // bptt`) and their lengths are scaled to
cover the `L` steps exactly, so an epoch always has the same length (the
one-cycle schedule needs it). Validation windows are all `bptt` long.

Example:

>>> import numpy as np
>>> docs = [np.arange(2, 12), np.arange(2, 9)]
>>> streams = TokenStreams(docs, rows=2, bptt=4, shuffle=False)
>>> rows, cuts = streams.epoch(0)
>>> rows.tolist(), cuts.tolist()
([[2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 11, 2, 3, 4, 5, 6, 7, 8]], [0, 4, 8])
"""
import numpy as np


def window_lengths(total, bptt, rng):
    """Cut points `0 = c_0 < c_1 < ... < c_n = total` with AWD-LSTM's random lengths.

    Example:

    >>> cuts = window_lengths(1000, 70, np.random.RandomState(0))
    >>> int(cuts[0]), int(cuts[-1]), len(cuts) - 1, bool(np.all(np.diff(cuts) >= 1))
    (0, 1000, 14, True)
    """
    count = max(total // bptt, 1)
    base = np.where(rng.random_sample(count) < 0.95, bptt, bptt / 2)
    lengths = np.maximum(5, rng.normal(base, 5))
    cuts = np.round(np.cumsum(lengths) / lengths.sum() * total).astype(np.int64)
    cuts = np.concatenate([[0], cuts])
    # Keep every window at least one step long, whatever the rounding did:
    # cuts - position is then non-decreasing, from 0 to total - count.
    position = np.arange(count + 1)
    return np.minimum(np.maximum.accumulate(cuts - position), total - count) + position


class TokenStreams:
    """One epoch of parallel token streams and their BPTT windows.

    Args:
        documents: list of 1-D integer arrays (token ids, `[BOS]` first).
        rows: parallel streams (the batch size).
        bptt: mean window length.
        shuffle: shuffle document order and vary window lengths each epoch.
        seed: seed of both (epoch `e` uses `seed + e`).
    """

    def __init__(self, documents, rows, bptt, shuffle, seed=None):
        if not isinstance(rows, int) or rows < 1 or not isinstance(bptt, int) or bptt < 2:
            raise ValueError(f"`rows` must be >= 1 and `bptt` >= 2. Received: rows={rows!r}, "
                             f"bptt={bptt!r}")
        self.documents = [np.asarray(d, np.int32) for d in documents]
        self.rows, self.bptt, self.shuffle = rows, bptt, shuffle
        self.seed = 0 if seed is None else int(seed)
        self.total_tokens = int(sum(len(d) for d in self.documents))
        self.row_length = (self.total_tokens - 1) // rows
        if self.row_length < 2:
            raise ValueError(f"{self.total_tokens} tokens are too few for {rows} streams: give "
                             "more text or a smaller batch size.")

    @property
    def steps(self):
        """Batches per epoch."""
        if self.shuffle:
            return max(self.row_length // self.bptt, 1)
        return -(-self.row_length // self.bptt)

    def epoch(self, index):
        """`(rows (R, L + 1) int32, cuts)` of epoch `index`."""
        rng = np.random.RandomState((self.seed + index) % 2**32)
        order = rng.permutation(len(self.documents)) if self.shuffle else range(len(self.documents))
        stream = np.concatenate([self.documents[i] for i in order])
        length = self.row_length
        starts = np.arange(self.rows) * length
        rows = stream[starts[:, None] + np.arange(length + 1)]
        if self.shuffle:
            cuts = window_lengths(length, self.bptt, rng)
        else:
            cuts = np.append(np.arange(0, length, self.bptt), length)
        return rows, cuts

    def batches(self, index):
        """Yields `({"tokens", "reset"}, targets)` NumPy batches of epoch `index`."""
        rows, cuts = self.epoch(index)
        for k, (start, stop) in enumerate(zip(cuts[:-1], cuts[1:])):
            reset = np.full((self.rows, 1), 1.0 if k == 0 else 0.0, np.float32)
            yield ({"tokens": rows[:, start:stop], "reset": reset}, rows[:, start + 1:stop + 1])

    def dataset(self):
        """A `tf.data.Dataset` of the batches; a new epoch each time it is iterated."""
        import tensorflow as tf

        counter = iter(range(2**31))

        def generate():
            yield from self.batches(next(counter))

        signature = ({"tokens": tf.TensorSpec((self.rows, None), tf.int32),
                      "reset": tf.TensorSpec((self.rows, 1), tf.float32)},
                     tf.TensorSpec((self.rows, None), tf.int32))
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return dataset.apply(tf.data.experimental.assert_cardinality(self.steps)).prefetch(2)
