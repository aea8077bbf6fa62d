"""Perplexity: `exp` of the mean next-token cross-entropy, over every token seen.

Example:

>>> import numpy as np
>>> metric = Perplexity()
>>> metric.update_state(np.array([[0]]), np.zeros((1, 1, 4), "float32"))  # uniform over 4
>>> round(float(metric.result()), 4)
4.0
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlkeras")
class Perplexity(keras.metrics.Metric):
    """Perplexity of logits `(batch, steps, vocabulary)` against token ids `(batch, steps)`."""

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.cast(y_true, tf.int32), tf.cast(y_pred, tf.float32))
        self.total.assign_add(tf.reduce_sum(losses))
        self.count.assign_add(tf.cast(tf.size(losses), tf.float32))

    def result(self):
        return tf.exp(self.total / tf.maximum(self.count, 1.0))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
