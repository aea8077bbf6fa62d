"""`Task._prebuild` builds the training state from the stream's spec; streams build once."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras.data import BatchStream, training_batches
from dlkeras.keras_internals import training_state_built
from dlkeras.optimizers import ScheduledAdamW
from dlkeras.pseudo_labels import ModelTask


def _task():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer=ScheduledAdamW(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return ModelTask.from_model(model, batch_size=8)


def _unreadable_stream():
    """A stream whose batches fail when read: only its spec can be used."""
    def make(start_batch):
        batches = tf.data.Dataset.from_tensors((tf.zeros((8, 3)), tf.zeros((8,), tf.int32)))

        def fail(x, y):
            with tf.control_dependencies([tf.debugging.assert_less(
                    tf.reduce_sum(x), -1.0, message="a batch was read")]):
                return tf.identity(x), y
        return batches.repeat().map(fail)
    return BatchStream(make, 4)


def test_prebuild_reads_no_batch_when_the_spec_is_plain_tensors():
    task = _task()
    assert not training_state_built(task.network)
    task._prebuild(_unreadable_stream())  # take(1) would raise InvalidArgumentError
    assert training_state_built(task.network)
    assert task.network.optimizer.built


def _sparse_task():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,), sparse=True)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs))
    model.compile(optimizer=ScheduledAdamW(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return ModelTask.from_model(model, batch_size=8)


def _sparse_batches(readable):
    batches = tf.data.Dataset.from_tensors(
        (tf.sparse.from_dense(tf.ones((8, 3))), tf.zeros((8,), tf.int32))).repeat()
    if readable:
        return batches

    def fail(x, y):
        with tf.control_dependencies([tf.debugging.assert_less(
                tf.sparse.reduce_sum(x), -1.0, message="a batch was read")]):
            return tf.sparse.map_values(tf.identity, x), y
    return batches.map(fail)


def test_prebuild_reads_one_batch_for_other_specs():
    task = _sparse_task()  # a SparseTensorSpec: the spec alone is not used
    with pytest.raises(tf.errors.InvalidArgumentError, match="a batch was read"):
        task._prebuild(_sparse_batches(readable=False))
    task._prebuild(_sparse_batches(readable=True))
    assert training_state_built(task.network)


def test_a_stream_builds_each_start_once_and_replays_it():
    stream = training_batches(np.arange(12.0), np.arange(12), 4, seed=1)
    first = stream.dataset()
    assert stream.dataset() is first and stream.dataset(2) is stream.dataset(2)
    assert stream.dataset(2) is not first
    run = [y.numpy().tolist() for _, y in first.take(5)]
    again = [y.numpy().tolist() for _, y in first.take(5)]
    fresh = [y.numpy().tolist() for _, y in training_batches(
        np.arange(12.0), np.arange(12), 4, seed=1).dataset().take(5)]
    assert run == again == fresh
