"""Tiny models, data and pure reference schedules shared by the core tests."""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dlkeras import LayerGroups  # noqa: E402


def regression_data(n=64, features=4, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1)) + 0.1).astype("float32")
    return x, y


def three_layer_model(seed=0, batch_norm=False):
    """Dense 'early' -> Dense 'middle' (-> BN 'norm') -> Dense 'head'; groups split there."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, activation="relu", name="early")(inputs)
    x = keras.layers.Dense(8, activation="relu", name="middle")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name="norm")(x)
    outputs = keras.layers.Dense(1, name="head")(x)
    model = keras.Model(inputs, outputs)
    groups = LayerGroups.split(model, ["middle", "head"], names=["early", "middle", "head"])
    return model, groups


def weights_of(model):
    return {v.path: v.numpy().copy() for v in model.weights}


def np_cos(start, end, pos):
    return end + (start - end) / 2 * (1 + math.cos(math.pi * pos))


def np_one_cycle(step, total, lr_max, div=25.0, div_final=1e5, pct_start=0.25):
    pos = min(max(step / total, 0.0), 1.0)
    if pos < pct_start:
        return np_cos(lr_max / div, lr_max, pos / pct_start)
    return np_cos(lr_max, lr_max / div_final, (pos - pct_start) / (1 - pct_start))


def np_one_cycle_momentum(step, total, moms=(0.95, 0.85, 0.95), pct_start=0.25):
    pos = min(max(step / total, 0.0), 1.0)
    if pos < pct_start:
        return np_cos(moms[0], moms[1], pos / pct_start)
    return np_cos(moms[1], moms[2], (pos - pct_start) / (1 - pct_start))


def count_traces(model):
    """Counts how often Keras traces `model.train_step` from now on."""
    calls = {"traces": 0}
    step = model.train_step

    def counted(data):
        calls["traces"] += 1
        return step(data)

    model.train_step = counted
    return calls
