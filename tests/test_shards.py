"""dlkeras.shards and the tabular app on shards: exact round trips, epochs, resumes."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.tabular.shards import write_shards  # noqa: E402
from apps.tabular.task import TabularTask  # noqa: E402
from dlkeras.shards import ShardedTable, write_table_shards  # noqa: E402


def chunks(n_chunks=3, rows=10):
    for index in range(n_chunks):
        ids = np.arange(index * rows, (index + 1) * rows)
        yield {"id": ids, "x": ids * 0.5, "pair": np.stack([ids, -ids], axis=1).astype("float32"),
               "name": np.array([f"r{i}" for i in ids], dtype=object),
               "blob": np.array([bytes([i % 256, 0, 255]) for i in ids], dtype=object)}


def test_round_trip_is_exact_in_file_order(tmp_path):
    table = write_table_shards(chunks(), tmp_path / "t", rows_per_shard=7)
    assert table.rows == 30 and len(table.files) == 5
    assert table.columns["pair"] == {"dtype": "float32", "shape": [2]}
    batches = list(ShardedTable(tmp_path / "t").dataset(8))
    assert [len(b["id"]) for b in batches] == [8, 8, 8, 6]  # every row, the last batch short
    got = {k: np.concatenate([b[k].numpy() for b in batches]) for k in batches[0]}
    want = {k: np.concatenate([c[k] for c in chunks()]) for k in got}
    np.testing.assert_array_equal(got["id"], want["id"])
    np.testing.assert_array_equal(got["x"], want["x"].astype("float32"))
    np.testing.assert_array_equal(got["pair"], want["pair"])
    assert [v.decode() for v in got["name"]] == list(want["name"])
    assert list(got["blob"]) == list(want["blob"])  # raw bytes (e.g. encoded images) kept


def test_bad_input_is_refused_clearly(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not empty"):
        write_table_shards(chunks(), tmp_path / "full")
    with pytest.raises(ValueError, match="columns"):
        write_table_shards([{"a": np.arange(2)}, {"b": np.arange(2)}], tmp_path / "b")
    with pytest.raises(ValueError, match="one length"):
        write_table_shards([{"a": np.arange(2), "b": np.arange(3)}], tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="shards.json"):
        ShardedTable(tmp_path)


def test_stream_epochs_are_seeded_shuffles_of_full_batches_and_resume(tmp_path):
    table = write_table_shards(chunks(4, 25), tmp_path / "t", rows_per_shard=10)
    stream = table.stream(8, seed=3, shuffle_buffer=16, cycle_length=3)
    assert stream.steps_per_epoch == 100 // 8
    steps = stream.steps_per_epoch
    run = [b["id"].numpy() for b in stream.dataset().take(3 * steps)]
    assert all(len(b) == 8 for b in run)
    epochs = [np.concatenate(run[e * steps:(e + 1) * steps]) for e in range(3)]
    for ids in epochs:
        assert len(set(ids.tolist())) == steps * 8  # no row twice within an epoch
        assert not np.array_equal(ids, np.sort(ids))  # shuffled
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled per epoch
    resumed = [b["id"].numpy() for b in stream.dataset(start_batch=steps + 5).take(steps)]
    for got, want in zip(resumed, run[steps + 5:]):
        np.testing.assert_array_equal(got, want)  # a resumed run sees the same batches
    again = [b["id"].numpy() for b in table.stream(8, seed=3, shuffle_buffer=16,
                                                    cycle_length=3).dataset().take(steps)]
    np.testing.assert_array_equal(np.concatenate(again), epochs[0])
    # No tf.data tuning thread for the fit's iterator deletion to wait for.
    assert stream.dataset().options().autotune.enabled is False
    assert table.dataset(8).options().autotune.enabled is False


def rule_frame(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    shop = rng.choice(list("abcd"), n)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    y = (np.isin(shop, ["a", "b"]) ^ (np.nan_to_num(x) > 0)).astype(int)
    return pd.DataFrame({"shop": shop, "x": x, "y": y})


def test_tabular_trains_from_shards_and_evaluates_them_like_the_frame(tmp_path):
    keras.utils.set_random_seed(0)
    frame = rule_frame()
    train, valid = frame.iloc[:1000], frame.iloc[1000:]
    task = TabularTask.from_frame(train, "y", layers=[32], batch_size=64)
    chunked = [train.iloc[i:i + 300] for i in range(0, 1000, 300)]
    shards = write_shards(task, chunked, tmp_path / "train", rows_per_shard=256)
    assert shards.rows == 1000 and len(shards.files) == 4
    history = task.fit_one_cycle(shards, epochs=5, lr_max=2e-2, verbose=0)
    assert len(history.history["loss"]) == 5
    valid_shards = write_shards(task, valid, tmp_path / "valid")
    from_shards = task.evaluate(valid_shards)
    from_frame = task.evaluate(valid)
    assert from_frame["accuracy"] > 0.85  # it learnt the rule through the shard pipeline
    for name in from_frame:  # same rows, same preprocessing, in tf.data or eagerly
        np.testing.assert_allclose(from_shards[name], from_frame[name], rtol=1e-5)


def test_image_task_trains_from_encoded_image_shards_and_evaluates_them_like_arrays(tmp_path):
    from apps.image import data
    from apps.image.shards import write_shards as write_image_shards
    from apps.image.task import ImageTask

    from test_image_support import stripes, tiny_backbone

    images, labels = stripes(160, size=16, seed=1)
    source = data.from_arrays(images, labels, class_names=["horizontal", "vertical"])
    train, valid = source.subset(np.arange(128)), source.subset(np.arange(128, 160))
    task = ImageTask.from_source(train, tiny_backbone(seed=2), size=16, batch_size=32,
                                 hidden_units=16, augment=False, name="stripes")
    shards = write_image_shards(train, tmp_path / "train", rows_per_shard=50, chunk=40)
    assert shards.rows == 128 and len(shards.files) == 3
    task.train(shards, epochs=2, lr_max=1e-2, verbose=0)
    valid_shards = write_image_shards(valid, tmp_path / "valid")
    from_shards, from_arrays = task.evaluate(valid_shards), task.evaluate(valid)
    assert from_arrays["accuracy"] > 0.9  # learnt through PNG bytes decoded in tf.data
    for name in from_arrays:  # PNG is lossless: the same pixels either way
        np.testing.assert_allclose(from_shards[name], from_arrays[name], rtol=1e-5)
