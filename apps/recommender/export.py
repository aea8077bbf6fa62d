"""Writes a recommender as a TensorFlow SavedModel with `predict` and `recommend` signatures.

The SavedModel serves raw ids with no dlkeras (or Keras) import:

    loaded = tf.saved_model.load("saved_models/movielens/1")
    loaded.signatures["predict"](user_ids=..., item_ids=...)["ratings"]
    loaded.signatures["recommend"](user_ids=..., k=tf.constant(10))  # item_ids, scores
"""
from __future__ import annotations

import pathlib

import keras
import pandas as pd

from apps.recommender.serving import RecommenderServer
from dlkeras.export import new_version_dir


def export_recommender(model: keras.Model, train_ratings: pd.DataFrame, name: str,
                       root=None) -> pathlib.Path:
    """Exports `model` to `<root>/<name>/<next version>/` and returns that path.

    Args:
        model: a model from `build_recommender`, trained.
        train_ratings: the training table; its (user, item) pairs are excluded
            from `recommend`.
        name: model name (letters, digits, `-`, `_`, `.`).
        root: folder of all exported models (default `$DLKERAS_SAVED_MODELS`
            or `./saved_models`).

    Returns:
        The version folder written.

    Example:
        >>> import tempfile, numpy as np
        >>> from apps.recommender.models import build_recommender
        >>> model = build_recommender([1, 2], [10, 20], n_factors=2)
        >>> seen = pd.DataFrame({"user": [1], "item": [10]})
        >>> export_recommender(model, seen, "tiny", root=tempfile.mkdtemp()).name
        '1'
    """
    path = new_version_dir(name, root)
    server = RecommenderServer(model, train_ratings)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("predict", server.predict_fn, input_signature=server.predict_signature())
    archive.add_endpoint("recommend", server.recommend_fn,
                         input_signature=server.recommend_signature())
    path.parent.mkdir(parents=True, exist_ok=True)
    archive.write_out(str(path), verbose=False)
    return path
