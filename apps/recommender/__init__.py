"""Recommender app: collaborative filtering trained on indices, served on raw ids.

`RecommenderTask` (a `dlkeras.tasks.Task`) learns from a ratings table; its
SavedModel serves `predict(user_ids, item_ids)` and `recommend(user_ids, k)`.
Command line: `python -m apps.recommender --help`.

Example:

>>> from apps.recommender import RecommenderTask  # loads TensorFlow on first use
>>> RecommenderTask.default_lr_max
0.005
"""
from apps import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "RecommenderTask": "apps.recommender.task",
    "RecommenderServer": "apps.recommender.serving",
    "load_movielens": "apps.recommender.data",
    "load_ratings": "apps.recommender.data",
    "ratings_from_dataframe": "apps.recommender.data",
    "FactorEmbedding": "apps.recommender.layers",
    "GlobalBias": "apps.recommender.layers",
    "CountedDropout": "apps.recommender.layers",
    "ItemSideFeatures": "apps.recommender.layers",
    "build_recommender": "apps.recommender.models",
    "build_scorer": "apps.recommender.models",
    "default_y_range": "apps.recommender.models",
    "item_biases": "apps.recommender.inspection",
    "nearest_items": "apps.recommender.inspection",
    "plot_item_pca": "apps.recommender.inspection",
    "mae": "apps.recommender.metrics",
    "rmse": "apps.recommender.metrics",
    "ranking_metrics": "apps.recommender.metrics",
})
