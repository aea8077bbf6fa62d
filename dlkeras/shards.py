"""Tables in sharded TFRecord files: written chunk by chunk, streamed back with `tf.data`.

Training data larger than memory lives on disk as `part-NNNNN.tfrecord`
files of `tf.train.Example` rows plus `shards.json` (the columns, their
dtypes and shapes, and the row count). Writing takes the rows in chunks (a
`pandas.read_csv(chunksize=...)` loop, a generator), so the writer never
holds the whole table; reading streams it through `tf.data`: the files in a
seeded order, read `cycle_length` at a time (`interleave`, parallel), rows
mixed block-wise (a seeded shuffle of every `shuffle_buffer` rows), batched,
parsed batch-wise in parallel (`tf.io.parse_example`), transformed
(decoding, preprocessing) in parallel, prefetched. Memory is the buffers,
not the data.

Each column is one value per row (a number, a string, encoded image bytes)
or a fixed-length vector. Under a multi-worker strategy the stream is
autosharded by data: every worker reads the files and keeps its part of
each global batch (see `docs/distributed.md`).

Example:

>>> import tempfile, numpy as np
>>> folder = tempfile.mkdtemp()
>>> chunks = [{"x": np.arange(4.0), "name": np.array(["a", "b", "c", "d"])}] * 3
>>> table = write_table_shards(chunks, folder, rows_per_shard=5)
>>> table.rows, len(table.files), table.columns["name"]["dtype"]
(12, 3, 'string')
>>> batch = next(iter(table.dataset(4)))
>>> batch["x"].numpy().tolist(), batch["name"].numpy().tolist()
([0.0, 1.0, 2.0, 3.0], [b'a', b'b', b'c', b'd'])
>>> table.stream(4, seed=1).steps_per_epoch
3
"""

import json
import math
import pathlib

import numpy as np
import tensorflow as tf

from dlkeras.data import epoch_stream, without_autotune

SPEC_FILE = "shards.json"
_KINDS = {"float32": tf.float32, "int64": tf.int64, "string": tf.string}


def _column_kind(name, values):
    """`(dtype name, shape per row)` of a column chunk."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        dtype = "float32"
    elif values.dtype.kind in "iub":
        dtype = "int64"
    elif values.dtype.kind in "OSU":
        dtype = "string"
    else:
        raise TypeError(f"Column {name!r} has dtype {values.dtype}, which shards cannot hold "
                        "(numbers, booleans, strings or bytes).")
    return dtype, list(values.shape[1:])


def _feature(dtype, value):
    value = np.asarray(value).reshape(-1)
    if dtype == "float32":
        return tf.train.Feature(float_list=tf.train.FloatList(value=value.astype("float32")))
    if dtype == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=value.astype("int64")))
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v if isinstance(v, bytes) else str(v).encode("utf-8") for v in value]))


def _check_chunk(chunk, columns):
    """The chunk's row count; fixes the column layout from the first chunk."""
    lengths = {name: len(values) for name, values in chunk.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("The columns of a chunk must have one length. "
                         f"Received lengths: {lengths}")
    for name, values in chunk.items():
        dtype, shape = _column_kind(name, values)
        known = columns.setdefault(name, {"dtype": dtype, "shape": shape})
        if known != {"dtype": dtype, "shape": shape}:
            raise ValueError(f"Column {name!r} changed from {known} to dtype={dtype}, "
                             f"shape={shape} between chunks.")
    if set(chunk) != set(columns):
        raise ValueError(f"Every chunk must have the columns {sorted(columns)}. "
                         f"Received: {sorted(chunk)}")
    return next(iter(lengths.values()), 0)


def write_table_shards(chunks, folder, *, rows_per_shard=100_000):
    """Writes `chunks` (dicts of equal-length column arrays) as TFRecord shards.

    Args:
        chunks: an iterable of `{column: array}`; arrays of numbers,
            booleans, strings or bytes, one row per first-axis entry.
        folder: where to write; it must be empty or not exist.
        rows_per_shard: rows per file (several files let readers interleave).

    Returns:
        The `ShardedTable` written.
    """
    folder = pathlib.Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"Shard folder {str(folder)!r} is not empty.")
    if not isinstance(rows_per_shard, int) or rows_per_shard < 1:
        raise ValueError(f"`rows_per_shard` must be an integer >= 1. Received: {rows_per_shard!r}")
    folder.mkdir(parents=True, exist_ok=True)
    columns, files, rows, writer, in_shard = {}, [], 0, None, 0
    try:
        for chunk in chunks:
            for row in range(_check_chunk(chunk, columns)):
                if writer is None or in_shard == rows_per_shard:
                    if writer is not None:
                        writer.close()
                    files.append(f"part-{len(files):05d}.tfrecord")
                    writer, in_shard = tf.io.TFRecordWriter(str(folder / files[-1])), 0
                example = tf.train.Example(features=tf.train.Features(feature={
                    name: _feature(columns[name]["dtype"], values[row])
                    for name, values in chunk.items()}))
                writer.write(example.SerializeToString())
                in_shard += 1
                rows += 1
    finally:
        if writer is not None:
            writer.close()
    spec = {"columns": columns, "rows": rows, "files": files}
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=1))
    return ShardedTable(folder)


class ShardedTable:
    """A folder written by `write_table_shards`: its columns, row count and files.

    Args:
        folder: the folder holding `shards.json` and the `.tfrecord` files.
    """

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        spec_path = self.folder / SPEC_FILE
        if not spec_path.is_file():
            raise FileNotFoundError(f"{str(self.folder)!r} holds no {SPEC_FILE}: not a shard "
                                    "folder written by write_table_shards.")
        spec = json.loads(spec_path.read_text())
        self.columns, self.rows = spec["columns"], int(spec["rows"])
        self.files = [str(self.folder / name) for name in spec["files"]]

    def _parse(self, serialized):
        features = {name: tf.io.FixedLenFeature(column["shape"], _KINDS[column["dtype"]])
                    for name, column in self.columns.items()}
        return tf.io.parse_example(serialized, features)

    def _rows(self, files, cycle_length, deterministic=True):
        return files.interleave(tf.data.TFRecordDataset, cycle_length=cycle_length,
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)

    def _batches(self, records, batch_size, transform, drop_remainder):
        batches = records.batch(batch_size, drop_remainder=drop_remainder)
        batches = batches.map(self._parse, num_parallel_calls=tf.data.AUTOTUNE)
        if transform is not None:
            batches = batches.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        return batches

    def dataset(self, batch_size, transform=None):
        """Every row once, in file order, in batches (the last one may be smaller): for evaluation.

        `transform(batch) -> anything` runs on each parsed batch (a dict of
        column tensors), e.g. to split off the targets.
        """
        files = tf.data.Dataset.from_tensor_slices(self.files)
        records = files.flat_map(tf.data.TFRecordDataset)
        batches = self._batches(records, batch_size, transform, False)
        # Known length: Keras then neither guesses nor warns at the end.
        batches = batches.apply(tf.data.experimental.assert_cardinality(
            math.ceil(self.rows / batch_size)))
        # No tuning thread: deleting Keras' evaluation iterator can wait for it.
        return without_autotune(batches.prefetch(tf.data.AUTOTUNE))

    def stream(self, batch_size, *, seed=0, shuffle_buffer=10_000, cycle_length=4,
               transform=None):
        """Shuffled full training batches, as a resumable `dlkeras.data.BatchStream`.

        Epoch `e` reads the files in an order drawn from `(seed, e)`,
        `cycle_length` at a time, and shuffles each block of
        `shuffle_buffer` consecutive rows with a permutation drawn from
        `(seed, e, block)`: the same batches for the same epoch, so a
        resumed run sees what an uninterrupted one would. It is a block
        shuffle over interleaved files, not a permutation of the whole
        table: make shards hold rows in random order (or make blocks
        large) when the source is sorted.

        Args:
            batch_size: rows per batch (the global batch under a strategy).
            seed: shuffle seed.
            shuffle_buffer: rows held for shuffling (memory grows with it).
            cycle_length: files read at once.
            transform: as for `dataset`.
        """
        steps = self.rows // int(batch_size)
        if steps < 1:
            raise ValueError(f"Only {self.rows} rows in {str(self.folder)!r} for "
                             f"batch_size={batch_size}: lower the batch size.")
        files = tf.constant(self.files)
        seed = 0 if seed is None else int(seed)

        def epoch(index):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(len(self.files)), seed=tf.stack([tf.cast(seed, tf.int64), index]))
            names = tf.data.Dataset.from_tensor_slices(tf.gather(files, order))
            records = self._rows(names, min(cycle_length, len(self.files)))
            # Stateless, so an epoch is a pure function of (seed, index), also
            # with a global TensorFlow seed set (Dataset.shuffle would not be).
            blocks = records.batch(shuffle_buffer).enumerate()
            records = blocks.map(lambda block, rows: tf.random.experimental.stateless_shuffle(
                rows, seed=tf.stack([tf.cast(seed, tf.int64), index * 2**20 + block])))
            records = records.unbatch()
            return self._batches(records.take(steps * batch_size), batch_size, transform, True)

        # No tuning thread: at the end of a fit deleting the stream's iterator waited for it
        # (0.44 and 0.74 s in 2 of 8 tabular fits from shards), epochs as fast without it.
        return epoch_stream(epoch, steps, autotune=False)
