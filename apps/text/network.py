"""The AWD-LSTM networks: the language model and the classifier share one encoder.

The *encoder* is the token embedding plus the LSTM stack (layers named
`embedding`, `rnn_0`, `rnn_1`, ...). The language model puts a decoder tied
to the embedding on top (plus `output_bias`); the classifier puts fastai's
head on masked concat pooling. Encoder weights move between them by layer
and variable name (`encoder_weights`, `set_encoder_weights`).

Dropout probabilities are fastai's AWD-LSTM defaults times `drop_mult`.

Example:

>>> config = encoder_config(vocabulary_size=50, embedding_dim=8, hidden_units=16, layers=2)
>>> lm = build_language_model(config, stream_rows=4)
>>> classifier = build_classifier(config, n_outputs=3)
>>> set_encoder_weights(classifier, encoder_weights(lm))
>>> [g.name for g in classifier_layer_groups(classifier)]
['embedding', 'rnn_0', 'rnn_1', 'head']
"""
import keras
import numpy as np

from apps.text.layers import (
    ActivationRegularization,
    ConcatPooling1D,
    OutputBias,
    TokenEmbedding,
    WeightDropLSTM,
)
from dlkeras.layer_groups import LayerGroup, LayerGroups

# fastai's AWD-LSTM dropout defaults (before drop_mult).
LM_DROPOUT = {"input": 0.25, "hidden": 0.15, "weight": 0.2, "embed": 0.02, "output": 0.1}
CLASSIFIER_DROPOUT = {"input": 0.4, "hidden": 0.3, "weight": 0.5, "embed": 0.05, "output": 0.4}
HEAD_UNITS = 50
HEAD_SECOND_DROPOUT = 0.1
# PyTorch's default (0.1 there = 0.9 here): Keras' 0.99 leaves the moving statistics of a
# few hundred steps mostly at their initial values, and evaluation then fails.
BN_MOMENTUM = 0.9
_ENCODER_KEYS = ("vocabulary_size", "embedding_dim", "hidden_units", "layers", "matmul_dtype")


def encoder_config(vocabulary_size, embedding_dim=256, hidden_units=512, layers=3,
                   matmul_dtype="bfloat16"):
    """The JSON-able description of an encoder (what the run folder and cache store).

    Args:
        vocabulary_size: token ids.
        embedding_dim: embedding size, also the last LSTM's size (tied decoder).
        hidden_units: size of the other LSTM layers.
        layers: LSTM layers (at least 1).
        matmul_dtype: "bfloat16" (fast on CPUs with AVX512-BF16) or "float32".
    """
    for name, value in (("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim),
                        ("hidden_units", hidden_units), ("layers", layers)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    if matmul_dtype not in ("bfloat16", "float32"):
        raise ValueError(f"`matmul_dtype` must be 'bfloat16' or 'float32'. "
                         f"Received: matmul_dtype={matmul_dtype!r}")
    return {"vocabulary_size": int(vocabulary_size), "embedding_dim": int(embedding_dim),
            "hidden_units": int(hidden_units), "layers": int(layers), "matmul_dtype": matmul_dtype}


def _rnn_sizes(config):
    return [config["hidden_units"]] * (config["layers"] - 1) + [config["embedding_dim"]]


def _encode(tokens, config, dropout, drop_mult, mask_zero, stream_rows=None, reset=None):
    """Embedding, variational dropouts and the LSTM stack; returns (embedding layer, dropped, raw)."""
    dtype = config["matmul_dtype"]
    embedding = TokenEmbedding(config["vocabulary_size"], config["embedding_dim"],
                               embed_dropout=dropout["embed"] * drop_mult, mask_zero=mask_zero,
                               matmul_dtype=dtype, name="embedding")
    x = embedding(tokens)
    x = keras.layers.Dropout(dropout["input"] * drop_mult, noise_shape=(None, 1, config["embedding_dim"]),
                             name="input_dropout")(x)
    sizes = _rnn_sizes(config)
    raw = x
    for index, units in enumerate(sizes):
        rnn = WeightDropLSTM(units, weight_dropout=dropout["weight"] * drop_mult,
                             stream_rows=stream_rows, matmul_dtype=dtype, name=f"rnn_{index}")
        raw = rnn(x, reset=reset) if reset is not None else rnn(x)
        rate = dropout["hidden"] if index < len(sizes) - 1 else dropout["output"]
        x = keras.layers.Dropout(rate * drop_mult, noise_shape=(None, 1, units),
                                 name=f"{'hidden' if index < len(sizes) - 1 else 'output'}"
                                      f"_dropout_{index}")(raw)
    return embedding, x, raw


def build_language_model(config, stream_rows, drop_mult=1.0, ar_alpha=2.0, tar_beta=1.0):
    """The stateful language model: `{"tokens": (rows, T), "reset": (rows, 1)}` -> logits.

    Args:
        config: `encoder_config(...)`.
        stream_rows: parallel token streams (the batch size it trains with).
        drop_mult: scales every dropout probability.
        ar_alpha, tar_beta: AWD-LSTM's activation penalties (0 turns them off).
    """
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    reset = keras.Input((1,), dtype="float32", name="reset")
    embedding, dropped, raw = _encode(tokens, config, LM_DROPOUT, drop_mult, mask_zero=False,
                                      stream_rows=stream_rows, reset=reset)
    if ar_alpha or tar_beta:
        dropped = ActivationRegularization(ar_alpha, tar_beta, name="activation_penalty")(
            [dropped, raw])
    logits = OutputBias(name="output_bias")(embedding(dropped, reverse=True))
    return keras.Model({"tokens": tokens, "reset": reset}, logits, name="awd_lstm_lm")


def build_classifier(config, n_outputs, multi_label=False, drop_mult=0.5):
    """The classifier: token ids `(N, T)` (0 = padding) -> class probabilities.

    Head (fastai's): masked `[last, max, mean]` pooling, then BatchNorm,
    dropout, Dense(50, relu), BatchNorm, dropout, Dense(n_outputs) with
    softmax (sigmoid when `multi_label`).
    """
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    _, outputs, _ = _encode(tokens, config, CLASSIFIER_DROPOUT, drop_mult, mask_zero=True)
    x = ConcatPooling1D(name="pooling")(outputs)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_norm_0")(x)
    x = keras.layers.Dropout(CLASSIFIER_DROPOUT["output"] * drop_mult, name="head_dropout_0")(x)
    x = keras.layers.Dense(HEAD_UNITS, activation="relu", name="head_dense_0")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_norm_1")(x)
    x = keras.layers.Dropout(HEAD_SECOND_DROPOUT, name="head_dropout_1")(x)
    # float32 whatever the dtype policy (mixed_bfloat16 serves float32 probabilities).
    probabilities = keras.layers.Dense(n_outputs, activation="sigmoid" if multi_label else "softmax",
                                       dtype="float32", name="head_output")(x)
    return keras.Model(tokens, probabilities, name="awd_lstm_classifier")


def _rnn_layers(network):
    return sorted((item for item in network.layers if item.name.startswith("rnn_")),
                  key=lambda item: int(item.name.split("_")[1]))


def lm_layer_groups(network):
    """fastai's split: one group per LSTM layer, then the tied embedding/decoder last."""
    groups = [LayerGroup(item.name, [item]) for item in _rnn_layers(network)]
    groups.append(LayerGroup("embedding", [network.get_layer("embedding"),
                                           network.get_layer("output_bias")]))
    return LayerGroups(groups)


def classifier_layer_groups(network):
    """ULMFiT's split: embedding, each LSTM layer, then the head (pooling onwards)."""
    rnns = _rnn_layers(network)
    head = [item for item in network.layers if item.name.startswith("head_")]
    return LayerGroups([LayerGroup("embedding", [network.get_layer("embedding")])]
                       + [LayerGroup(item.name, [item]) for item in rnns] + [LayerGroup("head", head)])


def encoder_weights(network):
    """`{"layer/variable": array}` of the encoder's parameters (embedding and LSTMs)."""
    layers = [network.get_layer("embedding")] + _rnn_layers(network)
    weights = {}
    for layer in layers:
        for variable in layer.trainable_weights + layer.non_trainable_weights:
            name = variable.path.split("/")[-1]
            if not name.startswith("state_"):
                weights[f"{layer.name}/{name}"] = np.asarray(variable.numpy())
    return weights


def set_encoder_weights(network, weights):
    """Loads `encoder_weights(...)` of an encoder with the same configuration into `network`."""
    layers = [network.get_layer("embedding")] + _rnn_layers(network)
    expected = set()
    for layer in layers:
        for variable in layer.trainable_weights + layer.non_trainable_weights:
            name = f"{layer.name}/{variable.path.split('/')[-1]}"
            if name.split("/")[-1].startswith("state_"):
                continue
            expected.add(name)
            if name not in weights:
                raise ValueError(f"The encoder weights have no {name!r}; they hold "
                                 f"{sorted(weights)[:8]}.")
            value = np.asarray(weights[name])
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"Encoder weight {name!r} has shape {value.shape}; this network "
                                 f"needs {tuple(variable.shape)} (another encoder configuration).")
            variable.assign(value)
    extra = sorted(set(weights) - expected)
    if extra:
        raise ValueError(f"The encoder weights hold {extra[:5]}, which this network does not "
                         "have (another number of layers?).")


def classify_embedded(network, vectors, mask):
    """The classifier's probabilities from token vectors `(N, T, E)` (inference mode).

    Runs the layers after the embedding, in order, so that gradients with
    respect to the vectors can be taken (integrated gradients).
    """
    x = vectors
    for layer in _rnn_layers(network):
        x = layer(x, mask=mask, training=False)
    x = network.get_layer("pooling")(x, mask=mask)
    for name in ("head_norm_0", "head_dropout_0", "head_dense_0", "head_norm_1",
                 "head_dropout_1", "head_output"):
        x = network.get_layer(name)(x, training=False)
    return x
