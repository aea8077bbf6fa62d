"""Grad-CAM: where in the image the last conv stage saw evidence for a class.

For a class score `y`, each channel `k` of the last conv feature map
`A` is weighted by the spatial mean of `dy/dA_k`; the heat map is
`ReLU(sum_k w_k A_k)`, scaled to [0, 1] and resized to the image.
"""

__all__ = ["grad_cam"]

import keras
import numpy as np
import tensorflow as tf

from dlkeras.plots import new_figure


def grad_cam(backbone_model, last_conv_layer_name, head, images, class_indices=None):
    """Computes Grad-CAM heat maps.

    Args:
        backbone_model: the backbone (raw pixels to feature map).
        last_conv_layer_name: the backbone layer whose output is explained.
        head: the head model (feature map to outputs).
        images: float32 RGB 0..255 `(B, H, W, 3)`.
        class_indices: the class explained for each image; default the
            predicted one.

    Returns:
        `(heatmaps, class_indices)`: float32 `(B, H, W)` in [0, 1] and int `(B,)`.

    Example:

    >>> inputs = keras.Input((8, 8, 3))
    >>> body = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    >>> head = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.GlobalAveragePooling2D(),
    ...                          keras.layers.Dense(3)])
    >>> heatmaps, classes = grad_cam(body, "conv", head, np.ones((1, 8, 8, 3)))
    >>> heatmaps.shape
    (1, 8, 8)
    """
    try:
        conv_layer = backbone_model.get_layer(last_conv_layer_name)
    except ValueError as error:
        raise ValueError(f"Backbone {backbone_model.name!r} has no layer named "
                         f"{last_conv_layer_name!r} for Grad-CAM.") from error
    feature_model = keras.Model(backbone_model.inputs, [conv_layer.output, backbone_model.output])
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        conv_maps, features = feature_model(images, training=False)
        outputs = head(features, training=False)
        if class_indices is None:
            class_indices = tf.argmax(outputs, axis=-1)
        class_indices = tf.cast(tf.convert_to_tensor(class_indices), tf.int32)
        scores = tf.gather(outputs, class_indices, axis=1, batch_dims=1)
    gradients = tape.gradient(scores, conv_maps)
    channel_weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    maps = tf.nn.relu(tf.reduce_sum(channel_weights * conv_maps, axis=-1))
    maps = maps / (tf.reduce_max(maps, axis=(1, 2), keepdims=True) + 1e-12)
    heatmaps = tf.image.resize(maps[..., None], tf.shape(images)[1:3], method="bilinear")
    return heatmaps[..., 0].numpy(), class_indices.numpy()


def plot_grad_cam(images, heatmaps, titles=None, alpha=0.45):
    """Overlays heat maps on their images, one column each; returns the Figure.

    Example:

    >>> figure = plot_grad_cam(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8)), ["cat"])
    >>> len(figure.axes)
    1
    """
    count = len(images)
    figure = new_figure(3 * count, 3.3)
    grid = figure.subplots(1, count, squeeze=False)
    for index, axes in enumerate(grid[0]):
        axes.imshow(np.clip(np.asarray(images[index]), 0, 255).astype(np.uint8))
        axes.imshow(heatmaps[index], cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
        axes.set_title(titles[index] if titles else "", fontsize=9)
        axes.axis("off")
    figure.suptitle("Grad-CAM")
    figure.tight_layout()
    return figure
