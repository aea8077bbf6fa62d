"""Looking inside a trained tabular model: embeddings and feature importance.

The examples below use `task`, a `TabularTask` trained on `frame` (columns
`shop` (a/b), `x` and target `y`; see tests/test_app_docstrings.py).

- `embedding_table`: a categorical column's learned vectors, row labels included.
- `nearest_categories`: the categories closest (cosine) to one category.
- `plot_embedding_projection`: a 2-D PCA map of a column's categories.
- `permutation_importance`: how much the validation score drops when one
  input column is shuffled (its NaN indicator moves with it).
"""
from __future__ import annotations

__all__ = ["embedding_table", "nearest_categories", "permutation_importance", "plot_embedding_projection"]

import numpy as np
import pandas as pd

from apps.tabular.data import preprocess_frame
from apps.tabular.frames import encode_target
from dlkeras.plots import log_figure, new_figure

UNKNOWN_LABEL, MISSING_LABEL = "#unknown#", "#na#"


def embedding_table(task, column: str):
    """`(labels, matrix)` of a categorical column's embedding in a `TabularTask`.

    Row 0 is the unknown-category vector, row 1 the missing-value vector,
    then one row per training category (in vocabulary order).

    Example:

    >>> labels, vectors = embedding_table(task, "shop")
    >>> labels, vectors.shape
    (['#unknown#', '#na#', 'a', 'b'], (4, 3))
    """
    if column not in task.roles.cat_names:
        raise KeyError(f"{column!r} is not a categorical column; categorical columns are "
                       f"{task.roles.cat_names}.")
    position = task.roles.cat_names.index(column)
    vocabulary = task.preprocessor.get_layer(f"categorify_{column}").vocabulary
    matrix = task.network.get_layer("embeddings").column_table(position)
    return [UNKNOWN_LABEL, MISSING_LABEL] + list(vocabulary), matrix


def nearest_categories(task, column: str, category: str, k: int = 5) -> pd.DataFrame:
    """The `k` categories of `column` whose embeddings are closest to `category`.

    Returns:
        DataFrame with `category` and `cosine` columns, most similar first.

    Example:

    >>> nearest_categories(task, "shop", "a", k=2)["category"].size
    2
    """
    labels, matrix = embedding_table(task, column)
    if str(category) not in labels:
        raise KeyError(f"Category {category!r} is not in column {column!r}; "
                       f"known: {labels[2:12]}{' ...' if len(labels) > 12 else ''}")
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    query = labels.index(str(category))
    cosine = unit @ unit[query]
    order = [i for i in np.argsort(-cosine) if i != query][:k]
    return pd.DataFrame({"category": [labels[i] for i in order], "cosine": cosine[order]})


def project_2d(matrix: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of `matrix` (centered SVD).

    Example:

    >>> project_2d(np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]]))[:, 0].round(3).tolist()
    [-2.0, 0.0, 2.0]
    """
    centered = matrix - matrix.mean(axis=0)
    _, _, directions = np.linalg.svd(centered, full_matrices=False)
    # Fix each direction's sign so that projections are reproducible.
    directions *= np.where(directions[np.arange(len(directions)),
                                      np.abs(directions).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
    projected = centered @ directions[:2].T
    if projected.shape[1] < 2:
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
    return projected


def plot_embedding_projection(task, column: str, include_special: bool = False,
                              log_dir=None):
    """A matplotlib Figure: the column's categories on their first two PCs.

    Args:
        task: a trained `TabularTask`.
        column: a categorical column.
        include_special: also plot the unknown and missing vectors.
        log_dir: when given, the figure is also written to this TensorBoard
            logdir as image `embeddings/<column>`.

    Example:

    >>> len(plot_embedding_projection(task, "shop").axes[0].texts)
    2
    """
    labels, matrix = embedding_table(task, column)
    if not include_special:
        labels, matrix = labels[2:], matrix[2:]
    points = project_2d(matrix)
    figure = new_figure(6, 5)
    axes = figure.subplots()
    axes.scatter(points[:, 0], points[:, 1], s=12)
    for label, (x, y) in zip(labels, points):
        axes.annotate(label, (x, y), fontsize=8)
    axes.set_title(f"Embedding of {column!r} (PCA)")
    axes.set_xlabel("PC 1")
    axes.set_ylabel("PC 2")
    if log_dir is not None:
        log_figure(figure, log_dir, f"embeddings/{column}")
    return figure


def _score(task, features, target) -> float:
    outputs = task.network.predict(features, batch_size=16384, verbose=0)
    if task.roles.task == "regression":
        return -float(np.sqrt(np.mean((outputs - target.reshape(outputs.shape)) ** 2)))
    if task.roles.task == "binary":
        return float(np.mean((outputs[:, 0] > 0.5) == target))
    return float(np.mean(outputs.argmax(axis=1) == target))


def _shuffled(features, task, column, permutation):
    roles, shuffled = task.roles, {k: v.copy() for k, v in features.items()}
    if column in roles.cat_names:
        i = roles.cat_names.index(column)
        shuffled["categorical"][:, i] = shuffled["categorical"][permutation, i]
        return shuffled
    i = roles.cont_names.index(column)
    moved = [i]
    indicators = task.preprocessor.get_layer("fill_missing").indicator_columns
    if i in indicators:
        moved.append(len(roles.cont_names) + indicators.index(i))
    shuffled["continuous"][:, moved] = shuffled["continuous"][permutation][:, moved]
    return shuffled


def permutation_importance(task, df: pd.DataFrame, n_repeats: int = 3,
                           seed: int = 0) -> pd.Series:
    """Score drop per input column when that column is shuffled across rows.

    The score is accuracy (classification) or minus RMSE (regression), so a
    larger drop means a more important column.

    Args:
        task: a trained `TabularTask`.
        df: labelled rows to score on (the validation rows, usually).
        n_repeats: shuffles per column, averaged.
        seed: seed of the shuffles.

    Returns:
        Series indexed by column, sorted from most to least important.

    Example:

    >>> sorted(permutation_importance(task, frame, n_repeats=1).index)
    ['shop', 'x']
    """
    if df is None or not len(df):
        raise ValueError("permutation_importance needs labelled rows (e.g. the validation rows).")
    features = preprocess_frame(task.preprocessor, df, task.roles)
    target = encode_target(df, task.roles)
    base = _score(task, features, target)
    generator = np.random.default_rng(seed)
    drops = {}
    for column in task.roles.input_names:
        scores = [_score(task, _shuffled(features, task, column,
                                            generator.permutation(len(df))), target)
                  for _ in range(n_repeats)]
        drops[column] = base - float(np.mean(scores))
    return pd.Series(drops, name="importance").sort_values(ascending=False)
