"""Text app: AWD-LSTM layers against NumPy (weight drop, tied embeddings, state, masks, pooling)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from apps.text.layers import ConcatPooling1D, TokenEmbedding, WeightDropLSTM  # noqa: E402
from apps.text.network import (  # noqa: E402
    build_classifier,
    build_language_model,
    encoder_config,
    encoder_weights,
    set_encoder_weights,
)


def numpy_lstm(x, kernel, recurrent, bias, h=None, c=None):
    """Reference LSTM (gates i, f, g, o), float64."""
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units)) if h is None else h
    c = np.zeros((x.shape[0], units)) if c is None else c
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def weights(layer):
    return [np.asarray(v.numpy(), np.float64) for v in (layer.kernel, layer.recurrent_kernel,
                                                         layer.bias)]


@pytest.fixture
def lstm():
    keras.utils.set_random_seed(0)
    layer = WeightDropLSTM(5, weight_dropout=0.5, matmul_dtype="float32")
    layer.build((None, None, 3))
    return layer


def test_lstm_matches_numpy_in_inference(lstm):
    x = np.random.RandomState(1).normal(size=(2, 6, 3)).astype("float32")
    expected, _, _ = numpy_lstm(x, *weights(lstm))
    np.testing.assert_allclose(lstm(x, training=False), expected, atol=1e-5)


def test_weight_drop_is_active_only_in_training(lstm):
    x = np.random.RandomState(1).normal(size=(2, 6, 3)).astype("float32")
    first, second = lstm(x, training=True).numpy(), lstm(x, training=True).numpy()
    assert np.abs(first - second).max() > 1e-3  # a new DropConnect mask per call
    expected, _, _ = numpy_lstm(x, *weights(lstm))
    assert np.abs(first - expected).max() > 1e-3
    np.testing.assert_allclose(lstm(x, training=False), lstm(x, training=False))
    dropped = lstm.recurrent_weights(training=True).numpy()
    kept = dropped != 0
    assert 0.3 < kept.mean() < 0.7  # about half the recurrent weights dropped ...
    np.testing.assert_allclose(dropped[kept], 2 * lstm.recurrent_kernel.numpy()[kept], rtol=1e-6)
    assert lstm.recurrent_weights(training=True).shape == lstm.recurrent_kernel.shape
    np.testing.assert_array_equal(lstm.recurrent_weights(training=False), lstm.recurrent_kernel)


def test_padding_keeps_the_state_and_the_last_output(lstm):
    x = np.random.RandomState(2).normal(size=(1, 4, 3)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 3, 3), "float32")], axis=1)
    mask = np.array([[True] * 4 + [False] * 3])
    short = lstm(x).numpy()
    long = lstm(padded, mask=mask).numpy()
    np.testing.assert_allclose(long[:, :4], short, atol=1e-6)
    np.testing.assert_allclose(long[:, -1], short[:, -1], atol=1e-6)


def test_stateful_layer_carries_state_across_batches_and_resets():
    keras.utils.set_random_seed(0)
    layer = WeightDropLSTM(4, stream_rows=2, matmul_dtype="float32")
    x = np.random.RandomState(3).normal(size=(2, 6, 3)).astype("float32")
    start, carry = np.ones((2, 1), "float32"), np.zeros((2, 1), "float32")
    whole = layer(x, reset=start).numpy()
    first = layer(x[:, :4], reset=start).numpy()
    second = layer(x[:, 4:], reset=carry).numpy()
    np.testing.assert_allclose(np.concatenate([first, second], 1), whole, atol=1e-6)
    np.testing.assert_allclose(layer(x[:, 4:], reset=start), layer(x[:, 4:], reset=start),
                               atol=1e-6)  # reset: the same as a fresh stream
    assert np.abs(layer(x[:, 4:], reset=start).numpy() - second).max() > 1e-4


def test_embedding_dropout_drops_whole_tokens_in_training_only():
    keras.utils.set_random_seed(0)
    embedding = TokenEmbedding(50, 4, embed_dropout=0.5)
    ids = np.tile(np.arange(50), (2, 1))
    vectors = embedding(ids, training=True).numpy()
    table = embedding.embeddings.numpy()
    dropped = np.all(vectors[0] == 0, axis=1)
    assert 5 < dropped.sum() < 45
    np.testing.assert_array_equal(np.all(vectors[1] == 0, axis=1), dropped)  # same ids, same fate
    np.testing.assert_allclose(vectors[0][~dropped], 2 * table[~dropped], rtol=1e-6)
    np.testing.assert_array_equal(embedding(ids, training=False)[0], table)


def test_language_model_ties_input_and_output_embeddings():
    config = encoder_config(30, 4, 6, 2, matmul_dtype="float32")
    model = build_language_model(config, stream_rows=2, drop_mult=0.0)
    tables = [v for v in model.weights if tuple(v.shape) == (30, 4)]
    assert len(tables) == 1  # one matrix, used twice
    tokens = np.array([[2, 5, 7], [2, 9, 1]], "int32")
    inputs = {"tokens": tokens, "reset": np.ones((2, 1), "float32")}
    logits = model(inputs).numpy()
    x = model.get_layer("embedding").embeddings.numpy()[tokens]
    for index in range(2):
        layer = model.get_layer(f"rnn_{index}")
        kernel, recurrent, bias = weights(layer)
        x, _, _ = numpy_lstm(x, kernel, recurrent, bias)
    expected = x @ tables[0].numpy().T + model.get_layer("output_bias").bias.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)


def test_concat_pooling_matches_numpy():
    x = np.random.RandomState(4).normal(size=(2, 3, 2)).astype("float32")
    mask = np.array([[True, True, True], [True, False, False]])
    x[1, 1:] = x[1, 0]  # what a masked LSTM outputs over padding
    pooled = ConcatPooling1D()(x, mask=mask).numpy()
    np.testing.assert_allclose(pooled[0], np.concatenate([x[0, -1], x[0].max(0), x[0].mean(0)]),
                               rtol=1e-6)
    np.testing.assert_allclose(pooled[1], np.concatenate([x[1, 0]] * 3), rtol=1e-6)


def test_networks_save_reload_and_share_the_encoder(tmp_path):
    config = encoder_config(30, 4, 6, 3)
    lm = build_language_model(config, stream_rows=2)
    classifier = build_classifier(config, 3)
    set_encoder_weights(classifier, encoder_weights(lm))
    for name, value in encoder_weights(lm).items():
        np.testing.assert_array_equal(encoder_weights(classifier)[name], value)
    tokens = np.array([[2, 5, 7, 0], [2, 9, 0, 0]], "int32")
    for model, inputs in ((lm, {"tokens": tokens, "reset": np.ones((2, 1), "float32")}),
                          (classifier, tokens)):
        model.save(tmp_path / f"{model.name}.keras")
        reloaded = keras.saving.load_model(tmp_path / f"{model.name}.keras")
        np.testing.assert_allclose(reloaded(inputs), model(inputs), atol=1e-6)
    with pytest.raises(ValueError, match=r"another (encoder configuration|number of layers)"):
        set_encoder_weights(build_classifier(encoder_config(30, 4, 6, 2), 3), encoder_weights(lm))
