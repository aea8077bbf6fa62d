"""Item biases, PCA of item factors and nearest items, on hand-set weights."""
import matplotlib.figure
import numpy as np
import pandas as pd
import pytest

from apps.recommender.inspection import item_biases, item_factor_pca, nearest_items, plot_item_pca
from apps.recommender.models import build_recommender


def scorer_of(model):
    return model.get_layer("scorer")



@pytest.fixture(scope="module")
def model():
    model = build_recommender(np.array([1]), np.array([7, 8, 9, 10]), n_factors=2)
    scorer = scorer_of(model)
    scorer.get_layer("item_bias").embeddings.assign(np.array([[0], [0.5], [-1], [2], [0.1]], "float32"))
    scorer.get_layer("item_factors").embeddings.assign(
        np.array([[0, 0], [1, 0], [0.9, 0.1], [0, 1], [-1, 0]], "float32"))
    return model


def test_item_biases_sorted_with_titles_and_count_filter(model):
    titles = {7: "Seven", 9: "Nine"}
    frame = item_biases(model, titles)
    assert frame["item"].tolist() == [9, 7, 10, 8]
    assert frame["title"].tolist() == ["Nine", "Seven", 10, 8]
    counts = pd.Series({7: 50, 8: 3, 9: 1, 10: 40})
    assert item_biases(model, min_ratings=10, counts=counts)["item"].tolist() == [7, 10]
    with pytest.raises(ValueError, match="counts"):
        item_biases(model, min_ratings=10)


def test_nearest_items_by_cosine(model):
    near = nearest_items(model, 7, k=3)
    assert near["item"].tolist() == [8, 9, 10]
    assert near["similarity"].iloc[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert near["similarity"].iloc[2] == pytest.approx(-1.0)
    with pytest.raises(KeyError, match="123"):
        nearest_items(model, 123)


def test_pca_matches_numpy_and_plot_is_labelled(model):
    coordinates, ratios = item_factor_pca(model)
    factors = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]])
    centred = factors - factors.mean(0)
    variance = np.linalg.eigvalsh(np.cov(centred.T))[::-1]
    np.testing.assert_allclose(ratios, variance / variance.sum(), rtol=1e-5)
    np.testing.assert_allclose(coordinates.var(axis=0, ddof=1), variance, rtol=1e-5)
    np.testing.assert_allclose((coordinates ** 2).sum(), (centred ** 2).sum(), rtol=1e-5)
    figure = plot_item_pca(model, titles={7: "Seven"})
    assert isinstance(figure, matplotlib.figure.Figure)
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert labels == ["Seven", "8", "9", "10"]
