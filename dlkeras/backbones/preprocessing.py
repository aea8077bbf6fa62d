"""Per-family input preprocessing as a Keras layer, so models take raw pixels.

Every `keras.applications` family expects its inputs prepared in its own
way; feeding the wrong statistics silently ruins transfer learning. Each way
is one affine map per channel, optionally after reversing RGB to BGR::

    y[..., c] = (x[..., order[c]] * scale - mean[c]) / std[c]

`ChannelNormalization` applies that map inside the model (it holds no
weights, so it never disturbs order-based weight loading), and
:data:`PREPROCESSING_MODES` names the settings of each family.
"""

import keras
from keras import ops

# mode -> keyword arguments of ChannelNormalization; "none" means the Keras
# model already contains its preprocessing (EfficientNet, ConvNeXt, ...).
PREPROCESSING_MODES = {
    # ResNet (v1): RGB -> BGR, then subtract the ImageNet BGR means.
    "caffe": dict(scale=1.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0), bgr=True),
    # DenseNet: [0, 1], then ImageNet RGB mean/std.
    "torch": dict(
        scale=1.0 / 255.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), bgr=False
    ),
    # ResNetV2, MobileNetV2, Xception: [-1, 1].
    "tf": dict(scale=1.0 / 127.5, mean=(1.0, 1.0, 1.0), std=(1.0, 1.0, 1.0), bgr=False),
    # EfficientNet-Lite (TF-Lite reference): (x - 127) / 128.
    "lite": dict(scale=1.0, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0), bgr=False),
    "none": None,
}


@keras.saving.register_keras_serializable(package="dlkeras")
class ChannelNormalization(keras.layers.Layer):
    """Maps raw pixels to a network's input range: `(x * scale - mean) / std`.

    Args:
        scale: factor applied to the raw pixel values first.
        mean: three per-channel values subtracted after scaling (in the
            output channel order).
        std: three per-channel divisors applied last.
        bgr: if True, reverse the channel order (RGB -> BGR) before scaling.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, ...).

    Example:

        >>> import numpy as np
        >>> layer = ChannelNormalization(scale=1 / 127.5, mean=(1, 1, 1), std=(1, 1, 1))
        >>> np.asarray(layer(np.full((1, 1, 1, 3), 255.0, "float32"))).ravel().tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), bgr=False, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.bgr = bool(bgr)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(
                f"`mean` and `std` need 3 values (one per channel). Received: "
                f"mean={mean!r}, std={std!r}"
            )
        if any(s == 0 for s in self.std):
            raise ValueError(f"`std` values must be non-zero. Received: std={std!r}")

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.bgr:
            x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
        std = ops.convert_to_tensor(self.std, dtype=self.compute_dtype)
        return (x * self.scale - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, mean=list(self.mean), std=list(self.std), bgr=self.bgr)
        return config


def preprocessing_layer(mode, name="preprocessing"):
    """Returns the layer implementing a named preprocessing mode, or None.

    Args:
        mode: one of `PREPROCESSING_MODES` ("caffe", "torch", "tf", "lite",
            "none").
        name: name of the returned layer.

    Returns:
        A `ChannelNormalization` layer, or None for mode "none".

    Example:

        >>> preprocessing_layer("caffe").bgr
        True
    """
    if mode not in PREPROCESSING_MODES:
        raise ValueError(
            f"Unknown preprocessing mode {mode!r}; known modes: {sorted(PREPROCESSING_MODES)}"
        )
    settings = PREPROCESSING_MODES[mode]
    return None if settings is None else ChannelNormalization(name=name, **settings)
