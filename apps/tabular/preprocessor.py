"""The preprocessing half of a tabular model: raw columns in, numbers out.

`fit_preprocessing` learns its state (vocabularies, medians, mean/variance)
from the training frame with vectorized pandas/numpy, as JSON-able values a
run folder stores; `build_preprocessor` turns that state into a Keras model
that maps a dict of raw 1-D columns to
`{"categorical": int32 (batch, n_cat), "continuous": float32 (batch, n_cont')}`.
"""
from __future__ import annotations

__all__ = ["fit_preprocessing", "build_preprocessor"]

import keras
import numpy as np
import pandas as pd

from apps.tabular.frames import category_strings, continuous_values
from apps.tabular.layers import MISSING_TOKEN, Categorify, FillMissing
from apps.tabular.roles import ColumnRoles


def category_vocabulary(series: pd.Series) -> list[str]:
    """Sorted distinct category strings of a training column, missing excluded.

    Example:

    >>> category_vocabulary(pd.Series(["b", "a", None, "b"]))
    ['a', 'b']
    """
    values = pd.unique(category_strings(series))
    return sorted(v for v in values if v != MISSING_TOKEN)


def continuous_statistics(df: pd.DataFrame, cont_names: list[str]) -> dict:
    """Medians, NaN indicators and post-fill mean/variance of continuous columns.

    Returns:
        dict with `medians` (list), `indicator_columns` (positions of columns
        with NaN in training), `mean` and `variance` (of filled values, with
        indicators appended as mean 0 / variance 1 so they pass unchanged).

    Example:

    >>> stats = continuous_statistics(pd.DataFrame({"x": [1.0, None, 3.0]}), ["x"])
    >>> stats["medians"], stats["indicator_columns"]
    ([2.0], [0])
    """
    values = np.stack([continuous_values(df[c]) for c in cont_names], axis=1)
    missing = np.isnan(values)
    medians = np.nanmedian(values, axis=0) if len(values) else np.zeros(len(cont_names))
    medians = np.where(np.isnan(medians), 0.0, medians)  # an all-NaN column fills with 0
    filled = np.where(missing, medians, values)
    indicators = [i for i in range(len(cont_names)) if missing[:, i].any()]
    variance = filled.var(axis=0)
    return {
        "medians": medians.astype(float).tolist(),
        "indicator_columns": indicators,
        "mean": filled.mean(axis=0).tolist() + [0.0] * len(indicators),
        "variance": np.where(variance > 0, variance, 1.0).tolist() + [1.0] * len(indicators),
    }


def raw_input_layers(roles: ColumnRoles) -> dict:
    """One `keras.Input` of shape `()` per raw column: string or float32."""
    inputs = {name: keras.Input(shape=(), dtype="string", name=name) for name in roles.cat_names}
    inputs.update({name: keras.Input(shape=(), dtype="float32", name=name)
                   for name in roles.cont_names})
    return inputs


def fit_preprocessing(train_df: pd.DataFrame, roles: ColumnRoles) -> dict:
    """The preprocessing state learnt from the training rows, as plain JSON-able values.

    Only training rows may be used: validation must not leak into the
    vocabularies, medians or normalization statistics. The state is what a
    run folder stores; `build_preprocessor` turns it into layers.

    Returns:
        `{"vocabularies": {column: [categories]}, "continuous": statistics or None}`.

    Example:

    >>> roles = ColumnRoles(["c"], ["x"], ["y"], "binary", ["0", "1"])
    >>> state = fit_preprocessing(pd.DataFrame({"c": ["b", "a"], "x": [1.0, 3.0]}), roles)
    >>> state["vocabularies"], state["continuous"]["medians"]
    ({'c': ['a', 'b']}, [2.0])
    """
    check_not_empty(train_df, roles.input_names)
    return {
        "vocabularies": {name: category_vocabulary(train_df[name]) for name in roles.cat_names},
        "continuous": (continuous_statistics(train_df, roles.cont_names)
                       if roles.cont_names else None),
    }


def check_not_empty(train_df: pd.DataFrame, names: list[str]) -> None:
    """Refuses input columns without a single value in the training rows.

    Such a column teaches nothing (a constant fill), and its vocabulary or
    median would be invented.

    Example:


    >>> check_not_empty(pd.DataFrame({"x": [None, None], "y": [1, 2]}), ["x"])
    Traceback (most recent call last):
    ...
    ValueError: Input column(s) ['x'] hold no value (all missing) in the 2 training rows: ...
    """
    empty = [name for name in names if train_df[name].isna().all()]
    if empty:
        raise ValueError(f"Input column(s) {empty} hold no value (all missing) in the "
                         f"{len(train_df)} training rows: drop them from the inputs or fill them.")


def build_preprocessor(roles: ColumnRoles, state: dict) -> keras.Model:
    """The preprocessing half of the model, from a `fit_preprocessing` state.

    Returns:
        A functional model named "preprocessor" from one raw 1-D input per
        column to `{"categorical": int32 (batch, n_cat), "continuous": float32}`;
        its `categorify_<column>` layers map categories to embedding rows.

    Example:

    >>> roles = ColumnRoles(["c"], ["x"], ["y"], "binary", ["0", "1"])
    >>> df = pd.DataFrame({"c": ["a", "b"], "x": [1.0, 3.0], "y": [0, 1]})
    >>> pre = build_preprocessor(roles, fit_preprocessing(df, roles))
    >>> pre({"c": np.array(["b"]), "x": np.array([3.0], "float32")})["categorical"].numpy()
    array([[3]], dtype=int32)
    """
    inputs = raw_input_layers(roles)
    outputs = {}
    if roles.cat_names:
        indices = [Categorify(state["vocabularies"][name], name=f"categorify_{name}")(inputs[name])
                   for name in roles.cat_names]
        outputs["categorical"] = keras.ops.stack(indices, axis=1)
    if roles.cont_names:
        stats = state["continuous"]
        values = keras.ops.stack([inputs[name] for name in roles.cont_names], axis=1)
        filled = FillMissing(stats["medians"], stats["indicator_columns"],
                             name="fill_missing")(values)
        outputs["continuous"] = keras.layers.Normalization(
            mean=stats["mean"], variance=stats["variance"], name="normalize")(filled)
    return keras.Model(inputs, outputs, name="preprocessor")


def cardinalities(roles: ColumnRoles, state: dict) -> list[int]:
    """Embedding rows each categorical column needs (its categories, unknown and missing)."""
    return [len(state["vocabularies"][name]) + 2 for name in roles.cat_names]


def continuous_width(state: dict) -> int:
    """Width of the "continuous" input (columns plus NaN indicators); 0 if none."""
    stats = state.get("continuous")
    if not stats:
        return 0
    return len(stats["medians"]) + len(stats["indicator_columns"])
