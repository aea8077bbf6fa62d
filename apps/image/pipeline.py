"""`tf.data` pipelines: decode, resize to a square size, augment (training only).

Images leave the pipeline as float32 RGB in 0..255, the input every backbone
takes (its preprocessing lives inside the model).
"""
import numpy as np
import tensorflow as tf

from apps.image.augmentation import ImageAugmentation
from dlkeras.data import epoch_permutation, epoch_stream, without_autotune

AUTOTUNE = tf.data.AUTOTUNE


def default_augmentation(flip=True, rotation=0.05, zoom=0.1, contrast=0.1, seed=None):
    """Builds the training augmentation: flip, rotation, zoom and contrast.

    Args:
        flip: random horizontal flips (turn off for digits and text).
        rotation: largest rotation as a fraction of a full turn (0 disables).
        zoom: largest zoom in/out as a fraction of the size (0 disables).
        contrast: largest contrast change factor (0 disables).
        seed: seed of every draw (None: 0).

    Returns:
        An `apps.image.augmentation.ImageAugmentation`: the identity unless
        called with `training=True`; its draws are a pure function of the
        seed and the `position` it is given (the training streams pass each
        batch's position, so runs repeat and resume exactly).

    Example:

    >>> augment = default_augmentation(seed=0)
    >>> augment(np.zeros((1, 8, 8, 3), "float32"), training=True, position=0).shape
    TensorShape([1, 8, 8, 3])
    """
    return ImageAugmentation(flip=flip, rotation=rotation, zoom=zoom, contrast=contrast,
                             seed=seed, name="augmentation")


def to_model_pixels(images, size):
    """Casts to float32 RGB 0..255 and resizes (bilinear) to `size x size`.

    Works on one image `(H, W, C)` or a batch `(B, H, W, C)`; C is 1 or 3.

    Example:

    >>> to_model_pixels(np.zeros((28, 28, 1), "uint8"), 32).shape
    TensorShape([32, 32, 3])
    """
    images = tf.cast(images, tf.float32)
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    return tf.image.resize(images, (size, size), method="bilinear")


def decode_image_file(path, size):
    """Reads, decodes (JPEG/PNG/BMP/GIF) and resizes one image file."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return to_model_pixels(image, size)


def make_dataset(source, size, batch_size=32, training=False, augmentation=None, seed=42):
    """Turns an `ImageSource` into batches of `(float32 images (B, size, size, 3), targets)`.

    Training batches are a `dlkeras.data.BatchStream`: an endless stream in
    which epoch `e` visits the images in `epoch_permutation(n, seed, e)`
    order (the ragged rest of each epoch dropped), so a run can restart at
    any batch and see the batches an uninterrupted run would. Evaluation
    batches are a `tf.data.Dataset` that keeps the order, every image, and
    no augmentation.

    Args:
        source: the examples.
        size: side of the square images fed to the model.
        batch_size: examples per batch.
        training: the shuffled, augmented, endless training stream.
        augmentation: an `ImageAugmentation` (called with `training=True` and
            each batch's position in the stream), or None.
        seed: shuffle seed.

    Returns:
        A `BatchStream` (training) or a `tf.data.Dataset`.

    Example:

    >>> from apps.image.data import from_arrays
    >>> ds = make_dataset(from_arrays(np.zeros((4, 8, 8)), [0, 1, 0, 1]), 16, 2)
    >>> [tuple(x.shape) for x, _ in ds]
    [(2, 16, 16, 3), (2, 16, 16, 3)]
    """
    if int(size) <= 0 or int(batch_size) <= 0:
        raise ValueError(f"`size` and `batch_size` must be positive. Received: "
                         f"size={size}, batch_size={batch_size}")
    load = _loader(source, size)
    if not training:
        dataset = tf.data.Dataset.range(len(source)).map(load, num_parallel_calls=AUTOTUNE)
        # No tuning thread: deleting Keras' evaluation iterator waited ~1.2 s for it.
        return without_autotune(
            _dropping_unreadable(dataset, source).batch(batch_size).prefetch(AUTOTUNE))
    steps = len(source) // batch_size
    if steps < 1:
        raise ValueError(f"Only {len(source)} training images for batch_size={batch_size}: "
                         "lower the batch size.")

    def epoch(index):
        order = epoch_permutation(len(source), 0 if seed is None else seed, index)
        images = tf.data.Dataset.from_tensor_slices(order).map(load, num_parallel_calls=AUTOTUNE)
        return _dropping_unreadable(images, source).batch(batch_size, drop_remainder=True)

    # No tuning thread: at the end of a fit its iterator's deletion waited for it (19 s of a
    # 45 s 3-epoch fit at 224 px); the epochs run as fast without it.
    return augmented(epoch_stream(epoch, steps, autotune=False), augmentation)


def augmented(stream, augmentation):
    """`stream` with each batch's images augmented, drawn from the batch's position.

    Example:

    >>> from dlkeras.data import training_batches
    >>> stream = training_batches(np.zeros((4, 8, 8, 3), "float32"), np.zeros(4), 2)
    >>> augmented(stream, None) is stream
    True
    """
    if augmentation is None:
        return stream
    return stream.map_with_position(
        lambda position, images, *rest: (augmentation(images, training=True, position=position),
                                         *rest))


def _loader(source, size):
    """`position -> (pixels, target)` for an `ImageSource` of files or of arrays."""
    targets = tf.constant(source.targets)
    if source.paths is not None:
        paths = tf.constant(np.asarray(source.paths, dtype=str))
        return lambda i: (decode_image_file(tf.gather(paths, i), size), tf.gather(targets, i))
    images = source.images if source.images.ndim == 4 else source.images[..., None]
    images = tf.constant(images)
    return lambda i: (to_model_pixels(tf.gather(images, i), size), tf.gather(targets, i))


def _dropping_unreadable(dataset, source):
    # Files checked when the source was built can still vanish or be rewritten
    # mid-training: drop them rather than kill the epoch.
    return dataset.ignore_errors(log_warning=True) if source.paths is not None else dataset
