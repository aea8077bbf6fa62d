"""Image training data larger than memory: encoded image bytes in TFRecord shards.

`write_shards` stores each image as what a client sends (its encoded file
bytes; in-memory pixels are PNG-encoded) with its target, a chunk of
images at a time. An `ImageTask` trains from the folder like from an
`ImageSource`: each batch is decoded, resized and (when training)
augmented inside `tf.data`, in parallel.

Example:

>>> import numpy as np, tempfile
>>> from apps.image.data import from_arrays
>>> source = from_arrays(np.arange(6 * 8 * 8).reshape(6, 8, 8) % 256, [0, 1] * 3)
>>> table = write_shards(source, tempfile.mkdtemp(), rows_per_shard=4)
>>> table.rows, sorted(table.columns)
(6, ['__target__', 'image'])
>>> images, targets = next(iter(decoded_batches(table, 16, training=False, batch_size=6)))
>>> images.shape, targets.numpy().tolist()
(TensorShape([6, 16, 16, 3]), [0, 1, 0, 1, 0, 1])
"""

import numpy as np
import tensorflow as tf

from apps.image.data import ImageSource
from apps.image.pipeline import augmented, to_model_pixels
from dlkeras.shards import ShardedTable, write_table_shards

TARGET_COLUMN = "__target__"
IMAGE_COLUMN = "image"


def _encoded(source, start, stop):
    if source.paths is not None:
        return [tf.io.read_file(path).numpy() for path in source.paths[start:stop]]
    images = source.images if source.images.ndim == 4 else source.images[..., None]
    pixels = tf.data.Dataset.from_tensor_slices(np.asarray(images[start:stop], np.uint8))
    encoded = pixels.map(tf.io.encode_png, num_parallel_calls=tf.data.AUTOTUNE)  # in order
    return [value.numpy() for value in encoded]


def write_shards(sources, folder, *, rows_per_shard=10_000, chunk=1_000):
    """Writes an `ImageSource` (or several, in order) as shards of encoded images and targets.

    Args:
        sources: the labelled images: an `ImageSource` or an iterable of them
            (e.g. one per part of a data set too large to load at once).
        folder: an empty or new folder.
        rows_per_shard: images per TFRecord file.
        chunk: images read into memory at a time.

    Returns:
        The `dlkeras.shards.ShardedTable`.
    """
    if isinstance(sources, ImageSource):
        sources = [sources]

    def chunks():
        for source in sources:
            for start in range(0, len(source), chunk):
                stop = min(start + chunk, len(source))
                yield {IMAGE_COLUMN: np.array(_encoded(source, start, stop), dtype=object),
                       TARGET_COLUMN: np.asarray(source.targets[start:stop])}

    return write_table_shards(chunks(), folder, rows_per_shard=rows_per_shard)


def decoded_batches(table, size, *, training, batch_size, seed=None, augmentation=None):
    """`(float32 images (B, size, size, 3), targets)` batches of a shard folder."""
    if not isinstance(table, ShardedTable):
        table = ShardedTable(table)
    if {IMAGE_COLUMN, TARGET_COLUMN} - set(table.columns):
        raise KeyError(f"The shards in {str(table.folder)!r} are not image shards (columns "
                       f"{IMAGE_COLUMN!r}, {TARGET_COLUMN!r}); they hold {sorted(table.columns)}.")

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        return to_model_pixels(image, size)

    def transform(batch):
        images = tf.map_fn(decode, batch[IMAGE_COLUMN],
                           fn_output_signature=tf.TensorSpec((size, size, 3), tf.float32))
        return images, batch[TARGET_COLUMN]

    if training:
        return augmented(table.stream(batch_size, seed=seed, transform=transform), augmentation)
    return table.dataset(batch_size, transform=transform)
