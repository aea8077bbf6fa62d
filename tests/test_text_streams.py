"""Text app: BPTT stream batching, stateful training and retracing with variable lengths."""
import os
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from apps.text import layers  # noqa: E402
from apps.text.lm_task import LanguageModelTask  # noqa: E402
from apps.text.streams import TokenStreams, window_lengths  # noqa: E402

VOCABULARY = ["[PAD]", "[UNK]", "[BOS]"] + [f"w{i}" for i in range(20)]


def documents(seed=0, count=30):
    rng = np.random.RandomState(seed)
    return [np.concatenate([[2], 3 + rng.randint(0, 20, rng.randint(1, 40))]) for _ in range(count)]


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_token_is_predicted_once_in_stream_order(shuffle):
    docs = documents()
    streams = TokenStreams(docs, rows=4, bptt=7, shuffle=shuffle, seed=3)
    for epoch in range(2):
        batches = list(streams.batches(epoch))
        assert len(batches) == streams.steps
        inputs = np.concatenate([b[0]["tokens"] for b in batches], axis=1)
        targets = np.concatenate([b[1] for b in batches], axis=1)
        rows, _ = streams.epoch(epoch)
        np.testing.assert_array_equal(inputs, rows[:, :-1])
        np.testing.assert_array_equal(targets, rows[:, 1:])
        # The rows are consecutive pieces of one stream: every token but the
        # first is a target exactly once, and nothing beyond rows * L + 1 is used.
        stream = np.concatenate([rows[0, :1], targets.reshape(-1)])
        order = np.random.RandomState(3 + epoch).permutation(len(docs)) if shuffle else range(len(docs))
        full = np.concatenate([docs[i] for i in order])
        np.testing.assert_array_equal(stream, full[:len(stream)])
        assert len(full) - len(stream) < streams.rows + 1
        resets = [float(b[0]["reset"][0, 0]) for b in batches]
        assert resets == [1.0] + [0.0] * (len(batches) - 1)


def test_training_windows_vary_but_cover_the_rows_exactly():
    cuts = window_lengths(7000, 70, np.random.RandomState(0))
    lengths = np.diff(cuts)
    assert cuts[0] == 0 and cuts[-1] == 7000 and len(lengths) == 100
    assert lengths.min() >= 1 and lengths.std() > 3 and abs(lengths.mean() - 70) < 1e-9
    streams = TokenStreams(documents(), rows=4, bptt=7, shuffle=True, seed=0)
    assert not np.array_equal(streams.epoch(0)[1], streams.epoch(1)[1])


def test_too_little_text_is_refused():
    with pytest.raises(ValueError, match=r"too few for 8 streams"):
        TokenStreams([np.array([2, 5, 6])], rows=8, bptt=4, shuffle=True)


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_variable_lengths_do_not_retrace_the_train_step(steps_per_execution):
    task = LanguageModelTask.create(VOCABULARY, embedding_dim=4, hidden_units=6, layers=2,
                                    batch_size=4, bptt=6, steps_per_execution=steps_per_execution)
    texts = [" ".join(f"w{i % 20}" for i in range(n, n + 25)) for n in range(40)]
    scan = layers.WeightDropLSTM._scan
    with mock.patch.object(layers.WeightDropLSTM, "_scan", autospec=True,
                           side_effect=scan) as traced:
        history = task.fit_one_cycle(texts, epochs=2, lr_max=1e-2, seed=0, verbose=0)
    steps = 2 * task.dataset(texts, training=True).cardinality().numpy()
    assert steps >= 20 and np.isfinite(history.history["loss"]).all()
    # _scan runs in Python only while a graph is traced: a bounded number of
    # traces (Keras relaxes the time dimension after the first), not one per batch.
    assert traced.call_count <= 2 * 2 * 2 < steps


def test_stateful_training_is_the_same_with_steps_per_execution():
    """State carried between batches and reset at each epoch's first batch, inside the graph."""
    import keras

    texts = [" ".join(f"w{i % 20}" for i in range(n, n + 25)) for n in range(40)]
    weights = []
    for steps_per_execution in (1, 4):
        keras.utils.set_random_seed(0)
        task = LanguageModelTask.create(VOCABULARY, embedding_dim=4, hidden_units=6, layers=2,
                                        batch_size=4, bptt=6, drop_mult=0.0,
                                        matmul_dtype="float32",
                                        steps_per_execution=steps_per_execution)
        task.fit_one_cycle(texts, epochs=2, lr_max=1e-2, seed=0, verbose=0)
        weights.append([w.numpy() for w in task.network.weights])
    for first, second in zip(*weights):
        np.testing.assert_allclose(first, second, atol=1e-5)
