"""RMSE/MAE and ranking metrics against hand computations."""
import math

import numpy as np
import pandas as pd
import pytest

from apps.recommender.metrics import held_out_positives, mae, ranking_metrics, ranking_scores, rmse


def test_rmse_and_mae_by_hand():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 and 2"):
        rmse([1, 2, 3], [1, 2])


def test_ranking_scores_by_hand():
    # Hits at ranks 2 and 3 of 4; 3 relevant items.
    scores = ranking_scores(["a", "b", "c", "d"], {"b", "c", "z"}, k=4)
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert scores["ndcg"] == pytest.approx(dcg / ideal)
    assert ranking_scores([1, 2], {1}, k=2)["ndcg"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k=0"):
        ranking_scores([1], {1}, k=0)


def test_ranking_metrics_average_over_users_with_positives():
    valid = pd.DataFrame({"user": [1, 1, 2, 3], "item": [10, 11, 12, 13],
                          "rating": [5.0, 4.0, 4.5, 2.0]})
    assert held_out_positives(valid) == {1: {10, 11}, 2: {12}}
    calls = []

    def recommend(users, k):
        calls.append(list(users))
        return {"item_ids": np.array([[10, 99], [99, 98]])[: len(users), :k]}

    result = ranking_metrics(recommend, valid, k=2, batch_users=8)
    assert calls == [[1, 2]]
    assert result["users"] == 2
    assert result["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert result["recall@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert result["ndcg@2"] == pytest.approx((1 / (1 + 1 / math.log2(3))) / 2)
    with pytest.raises(ValueError, match="threshold=6"):
        ranking_metrics(recommend, valid, threshold=6)
