"""Tabular training data larger than memory: raw columns in TFRecord shards.

`write_shards` stores labelled rows as what a serving client sends (one
raw column each: strings for categorical columns, float32 with NaN for
continuous ones) plus the encoded target, chunk by chunk, so a CSV read
with `pandas.read_csv(chunksize=...)` never sits in memory whole. A
`TabularTask` trains from the folder like from a DataFrame: batches are
parsed and run through the task's preprocessing layers inside `tf.data`.
The preprocessing itself (vocabularies, medians) is fitted by
`TabularTask.from_frame` on a frame that fits in memory (a sample).

Example:

>>> import numpy as np, pandas as pd, tempfile
>>> from apps.tabular.task import TabularTask
>>> frame = pd.DataFrame({"shop": list("abab") * 16, "x": np.arange(64.0), "y": [0, 1] * 32})
>>> task = TabularTask.from_frame(frame, "y", layers=[8], batch_size=16)
>>> table = write_shards(task, [frame, frame], tempfile.mkdtemp(), rows_per_shard=50)
>>> table.rows, len(table.files)
(128, 3)
>>> history = task.fit_one_cycle(table, epochs=1, lr_max=1e-2, verbose=0)
>>> len(history.history["loss"])
1
"""

import pandas as pd

from apps.tabular.frames import encode_target, raw_inputs
from dlkeras.shards import ShardedTable, write_table_shards

TARGET_COLUMN = "__target__"


def write_shards(task, frames, folder, *, rows_per_shard=100_000):
    """Writes labelled rows as shards `task` can train from.

    Args:
        task: the `TabularTask` (its column roles and classes).
        frames: a DataFrame, or an iterable of DataFrame chunks.
        folder: an empty or new folder.
        rows_per_shard: rows per TFRecord file.

    Returns:
        The `dlkeras.shards.ShardedTable`.
    """
    if isinstance(frames, pd.DataFrame):
        frames = [frames]

    def chunks():
        for frame in frames:
            yield {**raw_inputs(frame, task.roles), TARGET_COLUMN: encode_target(frame, task.roles)}

    return write_table_shards(chunks(), folder, rows_per_shard=rows_per_shard)


def shard_batches(task, table, *, training, batch_size, seed=None):
    """`(features, targets)` batches of a `ShardedTable`, preprocessed in `tf.data`."""
    if not isinstance(table, ShardedTable):
        table = ShardedTable(table)
    missing = [name for name in task.roles.cat_names + task.roles.cont_names + [TARGET_COLUMN]
               if name not in table.columns]
    if missing:
        raise KeyError(f"The shards in {str(table.folder)!r} lack the columns {missing}; they "
                       f"hold {sorted(table.columns)}.")

    def split(batch):
        batch = dict(batch)
        targets = batch.pop(TARGET_COLUMN)
        inputs = {name: batch[name] for name in task.roles.cat_names + task.roles.cont_names}
        return task.preprocessor(inputs), targets

    if training:
        return table.stream(batch_size, seed=seed, transform=split)
    return table.dataset(batch_size, transform=split)
