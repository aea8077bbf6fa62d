"""`ScaledSigmoid`: keeps regression outputs inside a known range.

Example:

>>> import numpy as np
>>> ScaledSigmoid(0.0, 10.0)(np.zeros((1, 1), "float32")).numpy().tolist()
[[5.0]]
"""

import keras


@keras.saving.register_keras_serializable(package="dlkeras")
class ScaledSigmoid(keras.layers.Layer):
    """`low + (high - low) * sigmoid(x)`: outputs stay in `(low, high)` (fastai's `y_range`).

    A sigmoid saturates, so set `high` a little above the largest target
    (fastai's ratings use 5.5 for 5-star data).

    Args:
        low: smallest reachable output.
        high: largest reachable output.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> layer = ScaledSigmoid(1.0, 3.0)
    >>> layer(np.array([[-100.0, 100.0]], "float32")).numpy().tolist()
    [[1.0, 3.0]]
    """

    def __init__(self, low, high, **kwargs):
        super().__init__(**kwargs)
        if not float(low) < float(high):
            raise ValueError(f"A y_range needs low < high. Received: y_range=({low}, {high})")
        self.low, self.high = float(low), float(high)

    def call(self, logits):
        return self.low + (self.high - self.low) * keras.ops.sigmoid(logits)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}
