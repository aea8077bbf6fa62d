"""dlkeras.data: the one split, the default batch size, the index-batched dataset."""

import numpy as np
import pytest

from dlkeras.data import default_batch_size, index_batched_dataset, random_split


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


def test_index_batched_dataset_shuffles_each_epoch_and_keeps_rows_aligned():
    features = {"a": np.arange(10, dtype="int32")[:, None], "b": np.arange(10.0)[:, None] * 2}
    train = index_batched_dataset(features, np.arange(10), 3, shuffle=True,
                                  drop_remainder=True, seed=5)
    epochs = [[(x["a"].numpy()[:, 0], x["b"].numpy()[:, 0], y.numpy()) for x, y in train]
              for _ in range(2)]
    for epoch in epochs:
        assert len(epoch) == 3 and all(len(y) == 3 for _, _, y in epoch)
        for a, b, y in epoch:  # features and target of a row travel together
            np.testing.assert_array_equal(a, y)
            np.testing.assert_array_equal(b, 2.0 * y)
        assert len(set(np.concatenate([y for _, _, y in epoch]))) == 9
    assert not all(np.array_equal(p[2], q[2]) for p, q in zip(*epochs))
    valid = index_batched_dataset(features, np.arange(10), 4, shuffle=False, drop_remainder=False)
    assert [y.numpy().tolist() for _, y in valid] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert int(valid.cardinality()) == 3
    with pytest.raises(ValueError, match="batch_size=32"):
        index_batched_dataset(features, np.arange(10), 32, shuffle=True, drop_remainder=True)


def test_index_batched_dataset_without_targets_and_with_weights():
    only = index_batched_dataset(np.arange(5.0), None, 2, shuffle=False, drop_remainder=False)
    assert [x.numpy().tolist() for x in only] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    weighted = index_batched_dataset(np.arange(4.0), np.arange(4), 4, shuffle=False,
                                     drop_remainder=False, sample_weight=np.full(4, 0.5))
    (x, y, w), = list(weighted)
    assert w.numpy().tolist() == [0.5] * 4 and y.numpy().tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="same length"):
        index_batched_dataset({"a": np.arange(3), "b": np.arange(4)}, None, 2, shuffle=False,
                              drop_remainder=False)
