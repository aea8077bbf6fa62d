"""Collaborative filtering on dlkeras: dot-product and neural recommenders served by raw ids.

    from apps.recommender import (load_movielens, random_split, create_recommender,
                                  find_learning_rate, fit_recommender, evaluate_ratings,
                                  export_recommender)
    train, valid = random_split(load_movielens())
    model = create_recommender(train, kind="dot", n_factors=50, wd=0.1)
    fit_recommender(model, train, valid, epochs=5, lr_max=5e-3, batch_size=64)
    print(evaluate_ratings(model, valid))          # {"rmse": ..., "mae": ...}
    export_recommender(model, train, "movielens")  # saved_models/movielens/<v>/

Command line: `python -m apps.recommender {train,recommend,export} --help`.
"""
from apps.recommender.data import (load_movielens, load_ratings, random_split,
                                   ratings_from_dataframe)
from apps.recommender.export import export_recommender
from apps.recommender.inspection import item_biases, nearest_items, plot_item_pca
from apps.recommender.layers import FactorEmbedding, GlobalBias, ItemSideFeatures
from apps.recommender.metrics import mae, ranking_metrics, rmse
from apps.recommender.models import build_recommender, default_y_range
from apps.recommender.optimizer import SparseAdamW
from apps.recommender.serving import RecommenderServer
from apps.recommender.training import (create_recommender, evaluate_ratings,
                                       find_learning_rate, fit_recommender, predict_ratings)

__all__ = [
    "FactorEmbedding", "GlobalBias", "ItemSideFeatures", "RecommenderServer", "SparseAdamW",
    "build_recommender", "create_recommender", "default_y_range", "evaluate_ratings",
    "export_recommender", "find_learning_rate", "fit_recommender", "item_biases",
    "load_movielens", "load_ratings", "mae", "nearest_items", "plot_item_pca",
    "predict_ratings", "random_split", "ranking_metrics", "ratings_from_dataframe", "rmse",
]
