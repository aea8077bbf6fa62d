"""Test-time augmentation: average a model's predictions over flips and zooms."""

__all__ = ["tta_predict"]

import numpy as np
import tensorflow as tf


def _flip(images):
    return tf.image.flip_left_right(images)


def _zoom(images, fraction):
    height, width = images.shape[1], images.shape[2]
    cropped = tf.image.central_crop(images, fraction)
    return tf.image.resize(cropped, (height, width), method="bilinear")


def tta_views(images, views=("flip", "zoom", "flip_zoom"), zoom_fraction=0.9):
    """Returns the augmented copies of a batch, one per view name.

    Args:
        images: float32 `(B, H, W, 3)`.
        views: names among `"flip"` (left-right), `"zoom"` (central crop of
            `zoom_fraction` of each side, resized back) and `"flip_zoom"`.
        zoom_fraction: kept fraction of each side for the zoom views.

    Example:

    >>> x = np.arange(4, dtype="float32").reshape(1, 1, 4, 1).repeat(3, -1)
    >>> tta_views(x, ["flip"])[0][0, 0, :, 0].numpy().tolist()
    [3.0, 2.0, 1.0, 0.0]
    """
    images = tf.convert_to_tensor(images, tf.float32)
    makers = {"flip": lambda: _flip(images),
              "zoom": lambda: _zoom(images, zoom_fraction),
              "flip_zoom": lambda: _flip(_zoom(images, zoom_fraction))}
    unknown = [v for v in views if v not in makers]
    if unknown or not views:
        raise ValueError(f"TTA views must be a non-empty subset of {list(makers)}. "
                         f"Received: views={list(views)}")
    return [makers[view]() for view in views]


def tta_predict(model, data, views=("flip", "zoom", "flip_zoom"), original_weight=0.25,
                zoom_fraction=0.9):
    """Predicts with test-time augmentation.

    The result is `original_weight * p(x) + (1 - original_weight) * mean_v p(v(x))`
    over the augmented views `v`: the unchanged image keeps a fixed share
    and the views are averaged, as fastai's `tta(beta=...)`.

    Args:
        model: a Keras model from float32 pixels.
        data: a float32 array `(N, H, W, 3)` or a `tf.data.Dataset` of
            images or of `(images, targets)` batches.
        views: augmented views (see `tta_views`).
        original_weight: share of the unaugmented prediction, in [0, 1].
        zoom_fraction: kept fraction of each side for the zoom views.

    Returns:
        `(N, C)` numpy predictions.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
    ...                           keras.layers.Dense(2, activation="softmax")])
    >>> tta_predict(model, np.zeros((5, 8, 8, 3), "float32")).shape
    (5, 2)
    """
    if not 0.0 <= original_weight <= 1.0:
        raise ValueError(f"`original_weight` must be in [0, 1]. "
                         f"Received: original_weight={original_weight}")
    batches = data if isinstance(data, tf.data.Dataset) else tf.data.Dataset.from_tensor_slices(
        np.asarray(data, np.float32)).batch(64)
    results = []
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        plain = model(images, training=False)
        augmented = [model(view, training=False) for view in tta_views(images, views, zoom_fraction)]
        mean_augmented = tf.add_n(augmented) / float(len(augmented))
        results.append((original_weight * plain + (1.0 - original_weight) * mean_augmented).numpy())
    return np.concatenate(results)
