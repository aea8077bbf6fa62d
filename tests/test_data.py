"""dlkeras.data: the one split, the default batch size, the index-batched dataset."""

import numpy as np
import pytest
import tensorflow as tf

from dlkeras.data import (
    default_batch_size,
    epoch_stream,
    index_batched_dataset,
    random_split,
    training_batches,
)


def test_random_split_is_the_benchmark_protocol():
    train, valid = random_split(100, 0.2, seed=42)
    order = np.random.RandomState(42).permutation(100)
    np.testing.assert_array_equal(valid, order[:20])
    np.testing.assert_array_equal(train, order[20:])


@pytest.mark.parametrize("n, pct, message", [
    (10, 0.05, "leaves no validation row"), (10, 1.0, "valid_pct"), (10, 0.0, "valid_pct")])
def test_random_split_refuses_empty_parts(n, pct, message):
    with pytest.raises(ValueError, match=message):
        random_split(n, pct)


def test_default_batch_size_gives_enough_steps():
    assert default_batch_size(3200) == 64  # 50 steps an epoch, not 3 at 1024
    assert default_batch_size(30000) == 512
    assert default_batch_size(100) == 16 and default_batch_size(10**8) == 1024
    for n in (800, 5000, 40000):
        assert n / default_batch_size(n) >= 50


def test_training_batches_shuffle_each_epoch_and_keep_rows_aligned():
    features = {"a": np.arange(10, dtype="int32")[:, None], "b": np.arange(10.0)[:, None] * 2}
    stream = training_batches(features, np.arange(10), 3, seed=5)
    assert stream.steps_per_epoch == 3  # the ragged tenth row is dropped each epoch
    batches = [(x["a"].numpy()[:, 0], x["b"].numpy()[:, 0], y.numpy())
               for x, y in stream.dataset().take(6)]
    epochs = [batches[:3], batches[3:]]
    for epoch in epochs:
        assert all(len(y) == 3 for _, _, y in epoch)
        for a, b, y in epoch:  # features and target of a row travel together
            np.testing.assert_array_equal(a, y)
            np.testing.assert_array_equal(b, 2.0 * y)
        assert len(set(np.concatenate([y for _, _, y in epoch]))) == 9
    assert not all(np.array_equal(p[2], q[2]) for p, q in zip(*epochs))
    # Epoch e is a function of (seed, e): a stream started at batch 4 continues the same way.
    resumed = [y.numpy() for _, y in stream.dataset(start_batch=4).take(2)]
    for expected, got in zip(batches[4:], resumed):
        np.testing.assert_array_equal(got, expected[2])
    other = [y.numpy() for _, y in training_batches(features, np.arange(10), 3, seed=6)
             .dataset().take(3)]
    assert not all(np.array_equal(p[2], q) for p, q in zip(batches, other))
    with pytest.raises(ValueError, match="batch_size=32"):
        training_batches(features, np.arange(10), 32)


def test_in_memory_training_streams_turn_tf_data_tuning_off_and_serve_the_same_batches():
    # tf.data's tuning thread held the end of a fit for up to 0.6 s (deleting the iterator);
    # a stream of in-memory slices has nothing to tune, so training_batches turns it off.
    features, targets = np.arange(40.0)[:, None], np.arange(40)
    stream = training_batches(features, targets, 4, seed=1)
    assert stream.dataset().options().autotune.enabled is False
    assert stream.dataset(start_batch=7).options().autotune.enabled is False

    def epoch(index):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(40), seed=tf.stack([tf.constant(1, tf.int64), index]))[:40]
        return tf.data.Dataset.from_tensor_slices(
            (tf.reshape(tf.gather(features, order), [10, 4, 1]),
             tf.reshape(tf.gather(targets, order), [10, 4])))

    tuned, untuned = epoch_stream(epoch, 10), epoch_stream(epoch, 10, autotune=False)
    assert tuned.dataset().options().autotune.enabled is not False
    assert untuned.dataset().options().autotune.enabled is False
    for (x, y), (x2, y2), (x3, y3) in zip(tuned.dataset().take(25), untuned.dataset().take(25),
                                          stream.dataset().take(25)):
        np.testing.assert_array_equal(x.numpy(), x2.numpy())
        np.testing.assert_array_equal(y.numpy(), y2.numpy())
        np.testing.assert_array_equal(x.numpy(), x3.numpy())  # the same rows as the library's
        np.testing.assert_array_equal(y.numpy(), y3.numpy())


def test_index_batched_dataset_keeps_order_and_every_row():
    features = {"a": np.arange(10, dtype="int32")[:, None]}
    valid = index_batched_dataset(features, np.arange(10), 4)
    assert [y.numpy().tolist() for _, y in valid] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert int(valid.cardinality()) == 3


def test_index_batched_dataset_without_targets_and_with_weights():
    only = index_batched_dataset(np.arange(5.0), None, 2)
    assert [x.numpy().tolist() for x in only] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    weighted = index_batched_dataset(np.arange(4.0), np.arange(4), 4,
                                     sample_weight=np.full(4, 0.5))
    (x, y, w), = list(weighted)
    assert w.numpy().tolist() == [0.5] * 4 and y.numpy().tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="same length"):
        index_batched_dataset({"a": np.arange(3), "b": np.arange(4)}, None, 2)
