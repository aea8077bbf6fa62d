"""Keras' train and test functions call their traced loop directly (`DirectLoop`)."""
import copy

import keras
import numpy as np
import pytest
import tensorflow as tf

import dlkeras
from dlkeras.keras_internals import DirectLoop, _step_functions, call_traced_directly


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=dlkeras.ScheduledAdam(1e-2), loss="mse", metrics=["mae"])
    return model


def _data(n=96):
    rng = np.random.RandomState(0)
    x = rng.rand(n, 3).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5], "float32"))[:, None]


def _unknown_length(x, y, batch):
    # A filter hides the length: each epoch ends when the iterator runs dry (StopIteration).
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True)
    return dataset.batch(batch)


def _loop(function):
    return _step_functions(function)["multi_step_on_iterator"]


def test_direct_calls_train_bit_for_bit_as_keras_does():
    x, y = _data()
    plain, direct = _model(), _model()
    call_traced_directly(direct)
    histories = []
    for model in (plain, direct):
        histories.append(model.fit(_unknown_length(x, y, 16), epochs=3, verbose=0,
                                   validation_data=(x[:32], y[:32])).history)
    assert isinstance(_loop(direct.train_function), DirectLoop)
    assert isinstance(_loop(direct.test_function), DirectLoop)
    assert not isinstance(_loop(plain.train_function), DirectLoop)
    for a, b in zip(plain.get_weights(), direct.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert histories[0] == histories[1]
    assert len(histories[1]["loss"]) == 3  # every epoch ended where its data did


def test_one_lookup_per_iterator_then_direct_calls():
    x, y = _data()
    model = _model()
    call_traced_directly(model)
    model.fit(_unknown_length(x, y, 16), epochs=3, verbose=0)
    loop = _loop(model.train_function)
    # Keras makes one iterator per epoch of a dataset of unknown length: one lookup each,
    # then 6 batches (and the call that finds the data spent) straight to the concrete function.
    assert loop.lookups == 3
    assert loop.experimental_get_tracing_count() == 1
    # A stream of a fit with steps_per_epoch keeps one iterator for the whole fit.
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat(), epochs=2,
              steps_per_epoch=6, verbose=0)
    assert loop.lookups == 4 and loop.experimental_get_tracing_count() == 1


def test_functions_made_later_are_direct_too_and_copies_stay_apart():
    x, y = _data()
    model = _model()
    call_traced_directly(model)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    first = model.train_function
    model.make_train_function(force=True)
    assert model.train_function is not first
    assert isinstance(_loop(model.train_function), DirectLoop)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # traces the new function and trains
    twin = copy.deepcopy(model)
    twin.make_train_function(force=True)
    assert twin.train_function is not model.train_function
    assert _step_functions(twin.train_function)["self"] is twin


def test_the_recipes_train_through_direct_calls():
    x, y = _data()
    model = _model()
    dlkeras.fit_one_cycle(model, x, y, epochs=1, lr_max=1e-2, batch_size=32, verbose=0,
                          validation_data=(x[:32], y[:32]))
    assert isinstance(_loop(model.train_function), DirectLoop)
    assert isinstance(_loop(model.test_function), DirectLoop)


def test_under_a_strategy_calls_go_through_the_tf_function(monkeypatch):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    loop = DirectLoop(_loop(model.train_function))
    batches = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(32).repeat())
    loop(batches)
    assert loop.lookups == 1
    steps = int(model.optimizer.iterations.numpy())
    monkeypatch.setattr(tf.distribute, "has_strategy", lambda: True)
    loop(iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(32)))
    assert loop.lookups == 1  # not looked up: the tf.function dispatched it
    assert int(model.optimizer.iterations.numpy()) == steps + 1


def test_an_override_already_on_the_model_keeps_working():
    x, y = _data()
    model = _model()
    made = []
    keras_maker = model.make_train_function

    def counting(force=False):
        made.append(force)
        return keras_maker(force=force)

    model.make_train_function = counting  # e.g. benchmarks/fixed_costs.py's call timer
    call_traced_directly(model)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.make_train_function(force=True)
    assert made == [False, True]
    assert isinstance(_loop(model.train_function), DirectLoop)


def test_a_loop_without_its_function_fails_plainly():
    bare = DirectLoop.__new__(DirectLoop)  # what copy and pickle start from
    with pytest.raises(AttributeError):
        bare.python_function  # noqa: B018 (no endless recursion through __getattr__)
