"""Adam(W) with sparse ("lazy") updates for embedding tables.

A batch of 64 ratings touches at most 128 rows of the user and item
tables, yet dense Adam rewrites every row of both tables and of their two
moment slots each step. With the embedding weight decay expressed as an L2
penalty on the looked-up rows (`FactorEmbedding`), embedding gradients are
`tf.IndexedSlices`, and this optimizer updates only those rows: the other
rows' moments are left as they are (they would only decay towards zero).
It subclasses the core `ScheduledAdamW`, so one-cycle learning-rate and
momentum schedules work unchanged.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from dlkeras.optimizers import ScheduledAdamW


@keras.saving.register_keras_serializable(package="dlkeras")
class SparseAdamW(ScheduledAdamW):
    """`ScheduledAdamW` with lazy row updates for `tf.IndexedSlices` gradients.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        weight_decay: decoupled decay for the variables it applies to.
        decay_embeddings: if False (default), variables whose name contains
            "embedding" skip decoupled decay (the model's L2 penalty on looked-up
            rows regularises them) and get sparse updates. If True, embedding
            gradients are made dense and decayed like every other weight
            (fastai's decoupled weight decay on whole matrices).
        **kwargs: any `ScheduledAdamW` argument (e.g. `beta_1` schedule).

    Example:

        >>> optimizer = SparseAdamW(1e-3, weight_decay=0.1)
        >>> optimizer.decay_embeddings
        False
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.01, decay_embeddings=False, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.decay_embeddings = bool(decay_embeddings)

    def _use_weight_decay(self, variable):
        if not self.decay_embeddings and "embedding" in variable.name:
            return False
        return super()._use_weight_decay(variable)

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        if self.decay_embeddings:
            return super().update_step(tf.convert_to_tensor(gradient), variable, learning_rate)
        self._sparse_update(gradient, variable, learning_rate)

    def _sparse_update(self, gradient, variable, learning_rate):
        # Duplicate ids in a batch must add up before the moment updates.
        rows, position = tf.unique(gradient.indices)
        grad = tf.math.unsorted_segment_sum(
            ops.cast(gradient.values, variable.dtype), position, tf.shape(rows)[0])
        beta_1 = self._step_momentum if self._momentum_schedule is not None else self.beta_1
        beta_1 = ops.cast(beta_1, variable.dtype)
        beta_2 = ops.cast(self.beta_2, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        alpha = (ops.cast(learning_rate, variable.dtype) * ops.sqrt(1 - ops.power(beta_2, step))
                 / (1 - ops.power(beta_1, step)))
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * grad
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * ops.square(grad)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        step_rows = alpha * m_rows / (ops.sqrt(v_rows) + self.epsilon)
        self.assign_sub(variable, tf.IndexedSlices(step_rows, rows))

    def get_config(self):
        return {**super().get_config(), "decay_embeddings": self.decay_embeddings}
