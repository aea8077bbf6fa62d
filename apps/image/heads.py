"""The fastai-style classification/regression head and its pooling layer."""

__all__ = ["build_head"]

import keras


@keras.saving.register_keras_serializable(package="dlkeras")
class ConcatPooling2D(keras.layers.Layer):
    """Concatenates global average and global max pooling of a feature map.

    Averages say how much of a pattern there is, maxima whether it is there at
    all; the head gets both, `2 * channels` features.

    Args:
        **kwargs: base `Layer` arguments (`name`, `dtype`...).

    Example:

    >>> import numpy as np
    >>> x = np.arange(8, dtype="float32").reshape(1, 2, 2, 2)
    >>> ConcatPooling2D()(x).numpy().tolist()
    [[3.0, 4.0, 6.0, 7.0]]
    """

    def call(self, inputs):
        average = keras.ops.mean(inputs, axis=(1, 2))
        maximum = keras.ops.max(inputs, axis=(1, 2))
        return keras.ops.concatenate([average, maximum], axis=-1)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (input_shape[0], None if channels is None else 2 * channels)

    def get_config(self):
        return super().get_config()


def build_head(feature_channels, num_outputs, activation="softmax", hidden_units=512,
               dropout=0.5, bn_momentum=0.9, name="head"):
    """Builds the head: concat pooling, BN, dropout, dense, BN, dropout, dense.

    Args:
        feature_channels: channels of the backbone's feature map.
        num_outputs: width of the last Dense layer.
        activation: last activation (`"softmax"`, `"sigmoid"` or None).
        hidden_units: width of the hidden ReLU Dense layer; 0 leaves it out.
        dropout: rate before the last Dense; half of it before the hidden one.
        bn_momentum: momentum of the moving statistics of the head's
            BatchNormalization. 0.9 (PyTorch's 0.1) rather than Keras' 0.99:
            a new head is often trained for only a few hundred steps, and with
            0.99 its inference statistics are still mostly the initial (0, 1)
            after 100 steps (0.99**100 = 0.37), so validation predictions
            collapse to one class.
        name: name of the returned sub-model.

    Returns:
        A `keras.Sequential` mapping `(B, H, W, feature_channels)` to
        `(B, num_outputs)` (float32, also under mixed precision).

    Example:

    >>> build_head(16, 3).output_shape
    (None, 3)
    """
    if int(num_outputs) < 1 or int(feature_channels) < 1:
        raise ValueError(f"`num_outputs` and `feature_channels` must be positive. Received: "
                         f"num_outputs={num_outputs}, feature_channels={feature_channels}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    layers = [keras.Input((None, None, feature_channels)), ConcatPooling2D(name="concat_pool"),
              keras.layers.BatchNormalization(momentum=bn_momentum, name="head_bn_1")]
    if hidden_units:
        layers += [keras.layers.Dropout(dropout / 2, name="head_dropout_1"),
                   keras.layers.Dense(hidden_units, activation="relu", name="head_hidden"),
                   keras.layers.BatchNormalization(momentum=bn_momentum, name="head_bn_2")]
    layers += [keras.layers.Dropout(dropout, name="head_dropout_2"),
               keras.layers.Dense(num_outputs, activation=activation, dtype="float32",
                                  name="head_output")]
    return keras.Sequential(layers, name=name)
