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

__getattr__, __dir__ = lazy_exports(__package__, [
    "task", "serving", "data", "layers", "models", "inspection", "metrics"])
