"""Looking inside a trained recommender: item biases, a PCA map of item factors, neighbours.

All functions take a `RecommenderTask` (or its raw-id model), read the
weights of the `scorer` network and name items by their raw ids (or by
titles when a `titles` mapping is given). Figures are returned, never shown.
"""
from __future__ import annotations

__all__ = ["item_biases", "nearest_items", "plot_item_pca"]

import numpy as np
import pandas as pd

from dlkeras.plots import new_figure


def _raw_id_model(model):
    return getattr(model, "inference_model", model)


def _item_vocabulary(model) -> np.ndarray:
    return np.asarray(_raw_id_model(model).get_layer("item_lookup").get_vocabulary()[1:])


def _table(model, layer_name: str) -> np.ndarray:
    """Rows 1.. of an embedding table of the scorer (row 0 is the unseen item)."""
    scorer = _raw_id_model(model).get_layer("scorer")
    return np.asarray(scorer.get_layer(layer_name).embeddings)[1:]


def _name(item, titles):
    return titles.get(item, item) if titles is not None else item


def item_biases(model, titles: dict | None = None, min_ratings: int = 0,
                counts: pd.Series | None = None) -> pd.DataFrame:
    """Item biases, highest first: items liked (or disliked) beyond what their raters predict.

    Args:
        model: a trained `RecommenderTask` (or its raw-id model).
        titles: optional `{item id: title}`.
        min_ratings: keep items with at least this many training ratings.
        counts: training ratings per item id (needed when `min_ratings > 0`).

    Returns:
        DataFrame with `item`, `title`, `bias`, sorted by `bias` descending.

    Example:

    >>> from apps.recommender.models import build_recommender
    >>> item_biases(build_recommender([1], [5, 6], n_factors=2))["bias"].tolist()
    [0.0, 0.0]
    """
    items = _item_vocabulary(model)
    frame = pd.DataFrame({"item": items, "bias": _table(model, "item_bias")[:, 0]})
    frame["title"] = [_name(item, titles) for item in items]
    if min_ratings > 0:
        if counts is None:
            raise ValueError(f"min_ratings={min_ratings} needs `counts` (ratings per item).")
        frame = frame[frame["item"].map(counts).fillna(0) >= min_ratings]
    return frame.sort_values("bias", ascending=False).reset_index(drop=True)[["item", "title", "bias"]]


def item_factor_pca(model, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Projects item factors on their first principal components.

    Returns:
        `(coordinates (n_items, n_components), explained variance ratios)`.
    """
    factors = _table(model, "item_factors")
    centred = factors - factors.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    return centred @ components[:n_components].T, variance[:n_components] / variance.sum()


def plot_item_pca(model, items=None, titles: dict | None = None, max_labels: int = 50):
    """A 2-D PCA scatter of item factors, labelled with titles.

    Args:
        model: a trained `RecommenderTask` (or its raw-id model).
        items: raw ids to plot (default: the first `max_labels` of the vocabulary).
        titles: optional `{item id: title}` for the labels.
        max_labels: cap on plotted items.

    Returns:
        A matplotlib `Figure`.
    """
    vocabulary = list(_item_vocabulary(model))
    coordinates, ratios = item_factor_pca(model)
    chosen = vocabulary[:max_labels] if items is None else list(items)[:max_labels]
    missing = [item for item in chosen if item not in vocabulary]
    if missing:
        raise KeyError(f"Items not in the model's vocabulary: {missing[:5]}")
    rows = [vocabulary.index(item) for item in chosen]
    figure = new_figure(12, 12)
    axes = figure.add_subplot(1, 1, 1)
    axes.scatter(coordinates[rows, 0], coordinates[rows, 1], s=8)
    for row, item in zip(rows, chosen):
        axes.annotate(str(_name(item, titles)), coordinates[row], fontsize=8)
    axes.set_xlabel(f"PC 1 ({ratios[0]:.0%} of variance)")
    axes.set_ylabel(f"PC 2 ({ratios[1]:.0%} of variance)")
    axes.set_title("Item factors, first two principal components")
    return figure


def nearest_items(model, item, k: int = 10, titles: dict | None = None) -> pd.DataFrame:
    """The `k` items whose factors have the highest cosine similarity to `item`'s.

    Example:

    >>> from apps.recommender.models import build_recommender
    >>> nearest_items(build_recommender([1], [5, 6, 7], n_factors=2), 5, k=2)["item"].size
    2
    """
    vocabulary = _item_vocabulary(model)
    where = np.flatnonzero(vocabulary == np.asarray(item, dtype=vocabulary.dtype))
    if where.size == 0:
        raise KeyError(f"Item {item!r} is not in the model's vocabulary.")
    if not 1 <= k < len(vocabulary):
        raise ValueError(f"k must be in [1, {len(vocabulary) - 1}]. Received: k={k}")
    factors = _table(model, "item_factors")
    unit = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[where[0]]
    similarity[where[0]] = -np.inf
    best = np.argsort(-similarity)[:k]
    return pd.DataFrame({"item": vocabulary[best],
                         "title": [_name(i, titles) for i in vocabulary[best]],
                         "similarity": similarity[best]})
