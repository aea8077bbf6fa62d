"""Why the text app's language model is an AWD-LSTM of this size, in bfloat16: step times.

Trains each candidate language model on the same random batches (64 streams
x 70 tokens, 12,000-token vocabulary, tied embedding of 256, 3 recurrent
layers) and reports its training throughput, all candidates in one process,
interleaved, median of `--rounds` rounds of `--steps` steps each:

  lstm-512-bf16   the app's AWD-LSTM (hidden 512), matrix products in bfloat16
  lstm-512-f32    the same in float32
  lstm-768-bf16   a wider AWD-LSTM (hidden 768; ULMFiT's is 1152)
  qrnn-512-bf16   a QRNN (Bradbury et al. 2016; fastai's alternative to the
                  AWD-LSTM): gates from a width-2 causal convolution, the
                  f-o pooling recurrence computed as a log-depth parallel scan,
                  so no step-by-step loop at all
  lstm-512-v1k    the app's AWD-LSTM with a 1,000-token vocabulary: what
                  the tied decoder and its softmax over 12,000 tokens cost
  lstm-64x1       one 64-unit LSTM layer, 12,000 tokens: what the 3-layer
                  stack costs (with lstm-512-v1k, the split of a step)

    python benchmarks/text_lm_speed.py
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VOCABULARY, EMBEDDING, LAYERS, ROWS, BPTT = 12000, 256, 3, 64, 70


def qrnn_layer_class():
    """A QRNN layer (defined here: the app does not ship it)."""
    import keras
    import tensorflow as tf

    class QRNN(keras.layers.Layer):
        def __init__(self, units, matmul_dtype="bfloat16", **kwargs):
            super().__init__(**kwargs)
            self.units, self.matmul_dtype = units, matmul_dtype

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(2 * input_shape[-1], 3 * self.units),
                                          initializer="glorot_uniform", name="kernel")
            self.bias = self.add_weight(shape=(3 * self.units,), initializer="zeros", name="bias")

        def call(self, x):
            previous = tf.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0]])
            both = tf.concat([previous, x], axis=-1)
            gates = tf.cast(tf.einsum("btd,dk->btk", tf.cast(both, self.matmul_dtype),
                                      tf.cast(self.kernel, self.matmul_dtype)), tf.float32)
            z, f, o = tf.split(gates + self.bias, 3, axis=-1)
            f = tf.sigmoid(f)
            decay, c = f, (1 - f) * tf.tanh(z)
            shift = 1
            while shift < BPTT:  # Hillis-Steele scan of c_t = f_t c_{t-1} + (1 - f_t) z_t
                c = c + decay * tf.pad(c[:, :-shift], [[0, 0], [shift, 0], [0, 0]])
                decay = decay * tf.pad(decay[:, :-shift], [[0, 0], [shift, 0], [0, 0]],
                                       constant_values=1.0)
                shift *= 2
            return tf.sigmoid(o) * c

    return QRNN


def qrnn_language_model(hidden, matmul_dtype):
    import keras

    from apps.text.layers import OutputBias, TokenEmbedding

    qrnn = qrnn_layer_class()
    tokens = keras.Input((BPTT,), dtype="int32")
    embedding = TokenEmbedding(VOCABULARY, EMBEDDING, matmul_dtype=matmul_dtype)
    x = embedding(tokens)
    for index in range(LAYERS):
        x = qrnn(hidden if index < LAYERS - 1 else EMBEDDING, matmul_dtype)(x)
    return keras.Model(tokens, OutputBias()(embedding(x, reverse=True)))


def candidates():
    import keras
    import numpy as np
    import tensorflow as tf

    from apps.text.network import build_language_model, encoder_config
    from dlkeras.optimizers import ScheduledAdamW

    def batches(vocabulary):
        tokens = np.random.RandomState(0).randint(3, vocabulary, (ROWS, BPTT + 1)).astype("int32")
        stateful = ({"tokens": tokens[:, :-1], "reset": np.zeros((ROWS, 1), "float32")},
                    tokens[:, 1:])
        return stateful, (tokens[:, :-1], tokens[:, 1:])

    stateful, plain = batches(VOCABULARY)
    models = {}
    for hidden, dtype in ((512, "bfloat16"), (512, "float32"), (768, "bfloat16")):
        config = encoder_config(VOCABULARY, EMBEDDING, hidden, LAYERS, dtype)
        models[f"lstm-{hidden}-{dtype[:4].replace('bflo', 'bf16').replace('floa', 'f32')}"] = (
            build_language_model(config, ROWS, drop_mult=0.1), stateful)
    models["qrnn-512-bf16"] = (qrnn_language_model(512, "bfloat16"), plain)
    models["lstm-512-v1k"] = (build_language_model(
        encoder_config(1000, EMBEDDING, 512, LAYERS), ROWS, drop_mult=0.1), batches(1000)[0])
    models["lstm-64x1"] = (build_language_model(
        encoder_config(VOCABULARY, EMBEDDING, 64, 1), ROWS, drop_mult=0.1), stateful)
    result = {}
    for name, (model, batch) in models.items():
        model.compile(ScheduledAdamW(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        result[name] = (model, tf.data.Dataset.from_tensors(batch).repeat())
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args(argv)
    models = candidates()
    for model, data in models.values():
        model.fit(data, steps_per_epoch=2, verbose=0, shuffle=False)  # trace
    times = {name: [] for name in models}
    print(f"load before: {os.getloadavg()[0]:.1f}")
    for _ in range(args.rounds):
        for name, (model, data) in models.items():
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=args.steps, verbose=0, shuffle=False)
            times[name].append((time.perf_counter() - start) / args.steps)
    print(f"load after: {os.getloadavg()[0]:.1f}")
    base = statistics.median(times["lstm-512-bf16"])
    print("| model | step ms (median) | tokens/s | relative to lstm-512-bf16 |\n|---|---|---|---|")
    for name, values in times.items():
        step = statistics.median(values)
        print(f"| {name} | {1000 * step:.0f} | {ROWS * BPTT / step:.0f} | {step / base:.2f}x |")


if __name__ == "__main__":
    main()
