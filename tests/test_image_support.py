"""Shared helpers for the image-app tests: a tiny backbone and tiny images.

Holds no tests itself. The backbone has the ``dlkeras.backbones.Backbone``
attributes so the app code cannot tell it from a real one, but trains in
milliseconds at 16-32 px.
"""
import types

import keras
import numpy as np

from dlkeras.layer_groups import LayerGroup


def tiny_backbone(seed=0, channels=(8, 16)):
    """A 2-stage conv backbone taking raw 0..255 RGB of any size."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
    x = keras.layers.Conv2D(channels[0], 3, strides=2, padding="same", name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.Conv2D(channels[1], 3, strides=2, padding="same", name="late_conv")(x)
    x = keras.layers.BatchNormalization(name="late_bn")(x)
    x = keras.layers.ReLU(name="late_relu")(x)
    model = keras.Model(inputs, x, name="tiny_backbone")
    layers = {layer.name: layer for layer in model.layers}
    return types.SimpleNamespace(
        name="tiny", model=model, feature_channels=channels[1],
        body_groups=[LayerGroup("body_early", [layers["stem_conv"], layers["stem_bn"]]),
                     LayerGroup("body_late", [layers["late_conv"], layers["late_bn"]])],
        last_conv_layer_name="late_relu")


def stripes(num_images, size=16, seed=0):
    """Class 0: horizontal stripes, class 1: vertical stripes (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num_images).astype(np.int32)
    lines = (np.arange(size) // 2 % 2 * 200 + 20).astype(np.uint8)
    images = np.empty((num_images, size, size, 3), np.uint8)
    for index, label in enumerate(labels):
        pattern = np.tile(lines[:, None], (1, size)) if label == 0 else np.tile(lines, (size, 1))
        noise = rng.integers(0, 30, (size, size))
        images[index] = np.clip(pattern + noise, 0, 255)[..., None]
    return images, labels
