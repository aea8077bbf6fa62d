"""A trained recommender on disk: `model.keras`, the training pairs, and its metrics.

The training (user, item) pairs travel with the model because `recommend`
excludes them; they are stored as plain numpy arrays (ids keep their type).
"""
from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pandas as pd

import apps.recommender.layers  # noqa: F401  (registers the custom layers for loading)
import apps.recommender.optimizer  # noqa: F401
import apps.tabular.layers  # noqa: F401


def save_run(folder, model, train: pd.DataFrame, report: dict | None = None) -> pathlib.Path:
    """Writes `model.keras`, `train_pairs.npz` and `metrics.json` into `folder`."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    np.savez(folder / "train_pairs.npz", user=_plain_array(train["user"]),
             item=_plain_array(train["item"]))
    (folder / "metrics.json").write_text(json.dumps(report or {}, indent=2))
    return folder


def _plain_array(values) -> np.ndarray:
    array = np.asarray(values)
    return array if array.dtype.kind in "iuf" else array.astype(str)


def load_run(folder):
    """Reads a folder written by `save_run`: returns `(model, train pairs DataFrame)`."""
    folder = pathlib.Path(folder)
    for name in ("model.keras", "train_pairs.npz"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{str(folder / name)!r} is missing; is {str(folder)!r} "
                                    "a folder written by `train`?")
    model = keras.saving.load_model(folder / "model.keras", compile=False)
    pairs = np.load(folder / "train_pairs.npz")
    return model, pd.DataFrame({"user": pairs["user"], "item": pairs["item"]})


def recommend_function(model_dir=None, saved_model=None):
    """`recommend(user_ids: list, k) -> {"item_ids", "scores"}` from a run folder or a SavedModel.

    User ids arrive as strings (e.g. from the command line) and are converted
    to the model's id type.
    """
    import tensorflow as tf

    if saved_model is not None:
        if not pathlib.Path(saved_model, "saved_model.pb").is_file():
            raise FileNotFoundError(f"No SavedModel at {str(saved_model)!r}")
        signature = tf.saved_model.load(str(saved_model)).signatures["recommend"]
        dtype = signature.structured_input_signature[1]["user_ids"].dtype
    else:
        from apps.recommender.serving import RecommenderServer

        model, train = load_run(model_dir)
        server = RecommenderServer(model, train)
        signature, dtype = server.recommend, tf.as_dtype(server.id_dtype["user_id"])

    def recommend(user_ids, k):
        users = tf.constant([_convert_id(user, dtype) for user in user_ids], dtype)
        result = signature(user_ids=users, k=tf.constant(int(k), tf.int32))
        return {name: value.numpy() for name, value in result.items()}

    return recommend


def _convert_id(user, dtype):
    if dtype == "string" or getattr(dtype, "name", "") == "string":
        return str(user)
    try:
        return int(user)
    except ValueError:
        raise ValueError(f"This model takes integer user ids. Received: user={user!r}") from None
