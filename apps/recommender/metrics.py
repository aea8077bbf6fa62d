"""Rating-error and ranking metrics for recommenders.

Rating metrics compare predicted with true ratings. Ranking metrics score a
top-k list per user against that user's held-out positives (validation
ratings at or above a threshold), with binary relevance:

- precision@k = hits / k
- recall@k = hits / number of held-out positives
- NDCG@k = DCG / ideal DCG, DCG = sum over hit ranks r (1-based) of 1 / log2(r + 1)
"""
from __future__ import annotations

__all__ = ["mae", "rmse", "ranking_metrics"]

import numpy as np
import pandas as pd


def rmse(y_true, y_pred) -> float:
    """Root mean squared error.

    Example:

    >>> rmse([1.0, 3.0], [2.0, 3.0])
    0.7071067811865476
    """
    y_true, y_pred = _paired(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error.

    Example:

    >>> mae([1.0, 3.0], [2.0, 3.0])
    0.5
    """
    y_true, y_pred = _paired(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def _paired(y_true, y_pred):
    y_true = np.asarray(y_true, "float64").ravel()
    y_pred = np.asarray(y_pred, "float64").ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must be non-empty and the same length. "
                         f"Received: {y_true.size} and {y_pred.size} values")
    return y_true, y_pred


def ranking_scores(recommended, relevant, k: int) -> dict[str, float]:
    """precision@k, recall@k and NDCG@k of one top-k list against a set of positives.

    Args:
        recommended: item ids, best first (only the first `k` count).
        relevant: the user's held-out positive item ids (non-empty).
        k: cut-off.

    Example:

    >>> ranking_scores([5, 7, 9], {7, 8}, k=3)["recall"]
    0.5
    """
    if k < 1:
        raise ValueError(f"k must be >= 1. Received: k={k}")
    relevant = set(relevant)
    if not relevant:
        raise ValueError("relevant must hold at least one item")
    hits = np.array([item in relevant for item in list(recommended)[:k]], "float64")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[:min(k, len(relevant))].sum()
    return {"precision": float(hits.sum() / k), "recall": float(hits.sum() / len(relevant)),
            "ndcg": float((hits * discounts[:len(hits)]).sum() / ideal)}


def held_out_positives(valid: pd.DataFrame, threshold: float = 4.0) -> dict:
    """`{user: set of items}` for validation ratings >= `threshold`.

    Example:

    >>> frame = pd.DataFrame({"user": [1, 1, 2], "item": [3, 4, 5], "rating": [5, 2, 4]})
    >>> held_out_positives(frame)
    {1: {3}, 2: {5}}
    """
    positive = valid[valid["rating"] >= threshold]
    return {user: set(group) for user, group in positive.groupby("user")["item"]}


def ranking_metrics(recommend, valid: pd.DataFrame, k: int = 10, threshold: float = 4.0,
                    batch_users: int = 16) -> dict[str, float]:
    """Mean precision@k, recall@k, NDCG@k of `recommend` over users with held-out positives.

    Args:
        recommend: `recommend(user_ids, k) -> {"item_ids": (n, k), ...}`, e.g.
            `RecommenderServer.recommend` or a reloaded SavedModel's signature.
        valid: held-out table (`user`, `item`, `rating`).
        k: cut-off.
        threshold: ratings at or above it are positives.
        batch_users: users per `recommend` call.

    Returns:
        `{"precision@k", "recall@k", "ndcg@k", "users"}`.

    Example:

    >>> def always(users, k):
    ...     return {"item_ids": np.tile([3, 5], (len(users), 1))[:, :k]}
    >>> frame = pd.DataFrame({"user": [1, 2], "item": [3, 9], "rating": [5.0, 4.0]})
    >>> ranking_metrics(always, frame, k=2)["recall@2"]
    0.5
    """
    positives = held_out_positives(valid, threshold)
    if not positives:
        raise ValueError(f"No validation rating is >= threshold={threshold}; nothing to rank.")
    users = np.array(list(positives))
    totals = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0}
    for start in range(0, len(users), batch_users):
        batch = users[start:start + batch_users]
        lists = np.asarray(recommend(batch, k)["item_ids"])
        for user, items in zip(batch, lists):
            for name, value in ranking_scores(_plain(items), positives[user], k).items():
                totals[name] += value
    result = {f"{name}@{k}": float(value / len(users)) for name, value in totals.items()}
    return {**result, "users": len(users)}


def _plain(items):
    return [item.decode() if isinstance(item, bytes) else item for item in items]
