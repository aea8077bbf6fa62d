"""The AWD-LSTM's layers: a token embedding tied to the output, a weight-dropped LSTM, pooling.

AWD-LSTM (Merity et al., 2017) regularises a plain LSTM language model with
embedding dropout (whole words dropped from the embedding matrix), DropConnect
on the hidden-to-hidden weights (`weight_dropout`), variational dropout
between layers (one mask for every time step: `keras.layers.Dropout` with
`noise_shape=(None, 1, features)`), and tied input/output embeddings.

Matrix products run in `matmul_dtype` (bfloat16 by default: about twice as
fast as float32 on CPUs with AVX512-BF16, measured in apps/text/README.md);
weights, cell states and everything element-wise stay float32.

Example:

>>> import numpy as np
>>> embedding = TokenEmbedding(10, 4)
>>> vectors = embedding(np.array([[1, 2, 0]]))
>>> lstm = WeightDropLSTM(4, weight_dropout=0.5)
>>> outputs = lstm(vectors)
>>> outputs.shape
TensorShape([1, 3, 4])
>>> embedding(outputs, reverse=True).shape  # tied logits: outputs @ embeddings.T
TensorShape([1, 3, 10])
"""
import keras
import tensorflow as tf

register = keras.saving.register_keras_serializable(package="dlkeras")


def _matmul(a, b, dtype):
    """`a @ b` computed in `dtype`, returned as float32."""
    return tf.cast(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype)), tf.float32)


@register
class TokenEmbedding(keras.layers.Layer):
    """Token vectors with embedding dropout; `reverse=True` gives tied output logits.

    Args:
        vocabulary_size: number of token ids.
        output_dim: vector size (also the size the last LSTM layer must output
            for the tied decoder).
        embed_dropout: probability of dropping a token id from the whole batch
            (its vector is zero for every occurrence), training only.
        mask_zero: id 0 is padding: produce a mask for the layers after.
        matmul_dtype: dtype of the reverse (decoder) product.
    """

    def __init__(self, vocabulary_size, output_dim, embed_dropout=0.0, mask_zero=False,
                 matmul_dtype="bfloat16", **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= embed_dropout < 1.0:
            raise ValueError(f"`embed_dropout` must be in [0, 1). Received: "
                             f"embed_dropout={embed_dropout!r}")
        self.vocabulary_size, self.output_dim = int(vocabulary_size), int(output_dim)
        self.embed_dropout, self.mask_zero = float(embed_dropout), bool(mask_zero)
        self.matmul_dtype = matmul_dtype
        self.supports_masking = True

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.vocabulary_size, self.output_dim), name="embeddings",
            initializer=keras.initializers.RandomUniform(-0.1, 0.1))

    def call(self, inputs, reverse=False, training=None):
        if reverse:
            shape = tf.shape(inputs)
            flat = tf.reshape(inputs, [-1, self.output_dim])
            logits = _matmul(flat, tf.transpose(self.embeddings), self.matmul_dtype)
            return tf.reshape(logits, tf.concat([shape[:-1], [self.vocabulary_size]], 0))
        ids = tf.cast(inputs, "int32")
        vectors = tf.gather(self.embeddings, ids)
        if training and self.embed_dropout > 0:
            keep = tf.cast(tf.random.uniform([self.vocabulary_size]) >= self.embed_dropout,
                           vectors.dtype) / (1.0 - self.embed_dropout)
            vectors = vectors * tf.gather(keep, ids)[..., None]
        return vectors

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return keras.ops.not_equal(inputs, 0)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "output_dim": self.output_dim, "embed_dropout": self.embed_dropout,
                "mask_zero": self.mask_zero, "matmul_dtype": self.matmul_dtype}


@register
class OutputBias(keras.layers.Layer):
    """Adds a learnt bias per output unit (the decoder's bias, kept out of the tied embedding)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), name="bias", initializer="zeros")

    def call(self, inputs):
        return inputs + self.bias


@register
class WeightDropLSTM(keras.layers.Layer):
    """An LSTM over a whole sequence, with DropConnect on its recurrent weights.

    The input projection of every time step is one matrix product; only the
    recurrent product runs step by step (a `tf.scan`, so any sequence length
    runs in the same traced graph). A padded step (mask False) keeps the
    state and repeats the last output, so the last output of a padded row
    is the state after its last real token.

    With `stream_rows`, the layer is *stateful* for language-model training
    on `stream_rows` parallel token streams: it starts from the state the
    previous batch left in its (non-trainable) state variables, and `reset`
    (shape `(rows, 1)`, 1.0 where a stream restarts) zeroes it first. The
    state carries no gradient from batch to batch (truncated BPTT).

    Args:
        units: hidden size.
        weight_dropout: DropConnect probability on the hidden-to-hidden
            matrix, one mask per batch, training only.
        stream_rows: number of parallel streams of a stateful language model,
            or None (every call starts from zeros).
        matmul_dtype: dtype of the matrix products.
    """

    def __init__(self, units, weight_dropout=0.0, stream_rows=None, matmul_dtype="bfloat16",
                 **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= weight_dropout < 1.0:
            raise ValueError(f"`weight_dropout` must be in [0, 1). Received: "
                             f"weight_dropout={weight_dropout!r}")
        self.units, self.weight_dropout = int(units), float(weight_dropout)
        self.stream_rows = None if stream_rows is None else int(stream_rows)
        self.matmul_dtype = matmul_dtype
        self.supports_masking = True

    def build(self, input_shape):
        units = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * units), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), name="recurrent_kernel",
                                                initializer="orthogonal")
        forget_bias = [0.0] * units + [1.0] * units + [0.0] * 2 * units  # gates i, f, g, o
        self.bias = self.add_weight(shape=(4 * units,), name="bias",
                                    initializer=keras.initializers.Constant(forget_bias))
        if self.stream_rows is not None:
            self.state_h, self.state_c = (
                self.add_weight(shape=(self.stream_rows, units), name=name, initializer="zeros",
                                trainable=False) for name in ("state_h", "state_c"))

    def recurrent_weights(self, training):
        """The hidden-to-hidden matrix, with this batch's DropConnect mask when training."""
        weights = tf.convert_to_tensor(self.recurrent_kernel)
        if training and self.weight_dropout > 0:
            weights = tf.nn.dropout(weights, rate=self.weight_dropout)
        return weights

    def call(self, inputs, mask=None, reset=None, initial_state=None, return_state=False,
             training=None):
        batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
        projected = tf.reshape(
            _matmul(tf.reshape(inputs, [-1, inputs.shape[-1]]), self.kernel, self.matmul_dtype),
            [batch, steps, 4 * self.units]) + self.bias
        if initial_state is not None:
            state = tuple(initial_state)
        elif self.stream_rows is not None:
            if reset is None:
                raise ValueError(f"Stateful layer {self.name!r} needs the `reset` input.")
            keep = 1.0 - tf.cast(reset, tf.float32)
            state = (self.state_h * keep, self.state_c * keep)
        else:
            state = (tf.zeros([batch, self.units]),) * 2
        outputs, last = self._scan(projected, mask, state, self.recurrent_weights(training))
        if self.stream_rows is not None and initial_state is None:
            self.state_h.assign(last[0])
            self.state_c.assign(last[1])
        return (outputs, *last) if return_state else outputs

    def _scan(self, projected, mask, state, recurrent):
        """Runs the recurrence over time; returns `(outputs (B, T, H), (h, c))`."""
        recurrent = tf.cast(recurrent, self.matmul_dtype)
        matmul_dtype = self.matmul_dtype
        steps = tf.transpose(projected, [1, 0, 2])
        keep = (tf.ones_like(steps[..., :1]) if mask is None
                else tf.transpose(tf.cast(mask, tf.float32))[..., None])

        def step(carry, inputs):
            h, c = carry
            x, m = inputs
            z = x + tf.cast(tf.matmul(tf.cast(h, matmul_dtype), recurrent), tf.float32)
            i, f, g, o = tf.split(z, 4, axis=-1)
            new_c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            new_h = tf.sigmoid(o) * tf.tanh(new_c)
            if mask is None:
                return new_h, new_c
            return h + m * (new_h - h), c + m * (new_c - c)

        hs, cs = tf.scan(step, (steps, keep), initializer=state)
        return tf.transpose(hs, [1, 0, 2]), (hs[-1], cs[-1])

    def compute_mask(self, inputs, mask=None):
        return mask

    def reset_states(self):
        """Zeroes the carried state of a stateful layer."""
        if self.stream_rows is not None:
            self.state_h.assign(tf.zeros_like(self.state_h))
            self.state_c.assign(tf.zeros_like(self.state_c))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "weight_dropout": self.weight_dropout, "stream_rows": self.stream_rows,
                "matmul_dtype": self.matmul_dtype}


@register
class ActivationRegularization(keras.layers.Layer):
    """AWD-LSTM's AR and TAR penalties on the last LSTM outputs, added as losses in training.

    Passes its first input through. AR: `alpha * mean(dropped ** 2)`; TAR:
    `beta * mean((raw[:, t] - raw[:, t - 1]) ** 2)`.

    Args:
        alpha: weight of the activation penalty (on the dropped-out outputs).
        beta: weight of the temporal penalty (on the raw outputs).
    """

    def __init__(self, alpha=2.0, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.beta = float(alpha), float(beta)

    def call(self, inputs, training=None):
        dropped, raw = inputs
        if training:  # in float32 whatever the dtype policy: Keras sums losses in float32
            dropped32, raw32 = tf.cast(dropped, tf.float32), tf.cast(raw, tf.float32)
            penalty = self.alpha * tf.reduce_mean(tf.square(dropped32))
            penalty += self.beta * tf.reduce_mean(tf.square(raw32[:, 1:] - raw32[:, :-1]))
            self.add_loss(penalty)
        return dropped

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


@register
class ConcatPooling1D(keras.layers.Layer):
    """fastai's masked concat pooling: `[last, max, mean]` of the outputs over real tokens.

    The last output of a padded row is its last real token's (the LSTM holds
    its state over padding).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = tf.ones(tf.shape(inputs)[:2], tf.bool)
        weights = tf.cast(mask, inputs.dtype)[..., None]
        count = tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        mean = tf.reduce_sum(inputs * weights, axis=1) / count
        largest = tf.reduce_max(tf.where(mask[..., None], inputs, inputs.dtype.min), axis=1)
        return tf.concat([inputs[:, -1], largest, mean], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 3 * input_shape[-1])
