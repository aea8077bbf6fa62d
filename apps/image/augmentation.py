"""Training augmentation drawn from a seed and a batch position: reproducible and resumable.

`ImageAugmentation` flips, rotates, zooms and changes the contrast of a
batch of float32 RGB 0..255 images. Every draw is a stateless random op
seeded by `(seed, position)`, the batch's position in the training stream
(`dlkeras.data.BatchStream.map_with_position`), so the same seed gives the
same augmented batches in every process, whichever order `tf.data`'s
parallel map runs them in, and a run resumed at batch `k` sees the
augmentations an uninterrupted run would. (Keras' random image layers keep
their state in a seed generator that the parallel map advances in thread
order: no two runs saw the same augmentations.)

Rotation and zoom are one projective transform per image, resampled once
(bilinear, reflected at the borders).

Example:

>>> import numpy as np
>>> augment = ImageAugmentation(rotation=0.05, zoom=0.1, contrast=0.1, seed=3)
>>> images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
>>> a = augment(images, training=True, position=7)
>>> bool(np.array_equal(a, augment(images, training=True, position=7)))
True
>>> bool(np.array_equal(augment(images), images))  # not training: unchanged
True
"""

import math

import keras
import tensorflow as tf

_REGISTER = keras.saving.register_keras_serializable(package="apps.image")


def _fraction(name, value, upper):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < upper:
        raise ValueError(f"`{name}` must be a number in [0, {upper}). Received: {name}={value!r}")
    return float(value)


def rotation_zoom_transforms(angles, scales, height, width):
    """Projective transforms (B, 8) that rotate by `angles` and zoom by `scales` about the centre.

    Output pixel `(x, y)` reads input `c + scale * R(angle) (x - c, y - c)`:
    a scale above 1 shows more of the image (zooms out), as Keras'
    `RandomZoom` with a positive factor does.

    Example:

    >>> import numpy as np
    >>> t = rotation_zoom_transforms(np.float32([0.0]), np.float32([1.0]), 5, 5)
    >>> t.numpy().tolist()
    [[1.0, -0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    angles = tf.cast(angles, tf.float32)
    scales = tf.cast(scales, tf.float32)
    cx, cy = (float(width) - 1.0) / 2.0, (float(height) - 1.0) / 2.0
    cos, sin = scales * tf.cos(angles), scales * tf.sin(angles)
    zeros = tf.zeros_like(angles)
    return tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                     sin, cos, cy - sin * cx - cos * cy, zeros, zeros], axis=1)


@_REGISTER
class ImageAugmentation(keras.layers.Layer):
    """Random flip, rotation, zoom and contrast, as a pure function of `(seed, position)`.

    Args:
        flip: flip left-right with probability 1/2 (turn off for digits and text).
        rotation: largest rotation as a fraction of a full turn (0 disables).
        zoom: largest zoom in or out as a fraction of the size (0 disables).
        contrast: largest change of the contrast factor (0 disables); the
            result is clipped to 0..255.
        seed: integer seed of the draws (with a position, None means 0).
        **kwargs: base `Layer` arguments.

    Call arguments:
        images: float (B, H, W, C) images in 0..255.
        training: augment only when True.
        position: the batch's position in the training stream (an integer
            or scalar tensor); None draws a key from the layer's seed
            generator (a new one each call; inside a parallel `tf.data` map
            the draws then depend on thread order).

    Example:

    >>> import numpy as np
    >>> flip = ImageAugmentation(rotation=0, zoom=0, contrast=0, seed=1)
    >>> images = np.arange(2 * 3 * 4 * 3, dtype="float32").reshape(2, 3, 4, 3)
    >>> out = flip(images, training=True, position=0).numpy()
    >>> all(np.array_equal(o, i) or np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images))
    True
    """

    def __init__(self, flip=True, rotation=0.05, zoom=0.1, contrast=0.1, seed=None, **kwargs):
        # Input-pipeline work on 0..255 pixels: float32 whatever the global dtype policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.flip = bool(flip)
        self.rotation = _fraction("rotation", rotation, 0.5)
        self.zoom = _fraction("zoom", zoom, 1.0)
        self.contrast = _fraction("contrast", contrast, 1.0)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        # For calls without a position; seed None: drawn under `keras.utils.set_random_seed`.
        self._fallback = keras.random.SeedGenerator(seed)

    def call(self, images, training=None, position=None):
        if not training:
            return images
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank != 4:
            raise ValueError("ImageAugmentation takes a batch of images (batch, height, width, "
                             f"channels); received shape {images.shape}.")
        if position is None:
            key = tf.cast(keras.random.randint((2,), 0, 2**30, seed=self._fallback), tf.int64)
        else:
            key = tf.stack([tf.constant(0 if self.seed is None else self.seed, tf.int64),
                            tf.cast(position, tf.int64)])
        flip_key, angle_key, zoom_key, contrast_key = tf.unstack(
            tf.random.experimental.stateless_split(key, 4))
        batch = tf.shape(images)[0]
        if self.flip:
            flipped = tf.random.stateless_uniform((batch, 1, 1, 1), flip_key) < 0.5
            images = tf.where(flipped, tf.reverse(images, axis=[2]), images)
        if self.rotation or self.zoom:
            angle = 2.0 * math.pi * self.rotation
            angles = tf.random.stateless_uniform((batch,), angle_key, -angle, angle)
            scales = 1.0 + tf.random.stateless_uniform((batch,), zoom_key, -self.zoom, self.zoom)
            height, width = images.shape[1], images.shape[2]
            if height is None or width is None:
                raise ValueError("ImageAugmentation needs images of a known height and width; "
                                 f"received shape {images.shape}.")
            images = tf.raw_ops.ImageProjectiveTransformV3(
                images=images, transforms=rotation_zoom_transforms(angles, scales, height, width),
                output_shape=tf.constant([height, width], tf.int32),
                fill_value=tf.constant(0.0), interpolation="BILINEAR", fill_mode="REFLECT")
        if self.contrast:
            factors = 1.0 + tf.random.stateless_uniform(
                (batch, 1, 1, 1), contrast_key, -self.contrast, self.contrast)
            mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
            images = tf.clip_by_value((images - mean) * factors + mean, 0.0, 255.0)
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "flip": self.flip, "rotation": self.rotation,
                "zoom": self.zoom, "contrast": self.contrast, "seed": self.seed}
