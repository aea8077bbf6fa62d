"""From pandas DataFrames to the raw column arrays the model takes, vectorized.

Categorical columns become strings (missing -> ""), continuous ones float32
with NaN kept. Nothing here loops over rows in Python.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from apps.tabular.layers import MISSING_TOKEN
from apps.tabular.roles import ColumnRoles


def category_strings(series: pd.Series) -> np.ndarray:
    """A column as category strings, as a serving client would send them.

    Integral floats lose their ".0" (a column with NaN turns ints into floats)
    and missing values become the empty string.

    Args:
        series: any pandas column.

    Returns:
        A numpy array of Python strings (dtype object).

    Example:

    >>> category_strings(pd.Series([1974.0, None, 1980.0])).tolist()
    ['1974', '', '1980']
    """
    missing = series.isna().to_numpy()
    values = series
    if pd.api.types.is_float_dtype(series):
        finite = series[~missing]
        if bool((finite == np.floor(finite)).all()):
            values = series.fillna(0).astype(np.int64)
    text = values.astype(str).to_numpy(dtype=object)
    text[missing] = MISSING_TOKEN
    return text


def continuous_values(series: pd.Series) -> np.ndarray:
    """A numeric column as float32 with NaN for missing values.

    NaN is a missing value (filled with the training median); +-inf, and
    numbers beyond float32 (which would become inf), are refused: in
    training they turn the loss into NaN, when predicting every output.

    Raises:
        TypeError: naming the column when it is not numeric.
        ValueError: naming the column and the first row with an infinite value.

    Example:

    >>> continuous_values(pd.Series([1, None], dtype="Int64")).tolist()
    [1.0, nan]
    """
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise TypeError(
            f"Continuous column {series.name!r} must be numeric; it has dtype "
            f"{series.dtype} (first values: {series.head(3).tolist()})."
        )
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused below
        values = series.to_numpy(dtype=np.float32, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        value = series.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(
            f"Continuous column {series.name!r} holds {int(infinite.sum())} infinite value(s) "
            f"(or beyond float32), e.g. {value!r} at row {row}: replace them by NaN "
            "(missing) or finite numbers.")
    return values


def check_columns(df: pd.DataFrame, roles: ColumnRoles, *, allow_extra: bool = True) -> None:
    """Raise a clear error when input columns are absent (or extra, if not allowed).

    Example:

    >>> roles = ColumnRoles(["c"], ["x"], ["y"], "binary", ["0", "1"])
    >>> check_columns(pd.DataFrame({"c": ["a"], "x": [1.0]}), roles)
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame. Received: {type(df).__name__}")
    missing = [name for name in roles.input_names if name not in df.columns]
    if missing:
        raise KeyError(f"Input column(s) {missing} are missing from the DataFrame "
                       f"(it has {list(df.columns)}).")
    extra = [c for c in df.columns if c not in roles.input_names + roles.y_names]
    if extra and not allow_extra:
        raise KeyError(f"Unexpected column(s) {extra}; the model takes {roles.input_names}.")


def raw_inputs(df: pd.DataFrame, roles: ColumnRoles) -> dict[str, np.ndarray]:
    """The model's raw inputs: one 1-D array per input column.

    Example:

    >>> roles = ColumnRoles(["c"], ["x"], ["y"], "binary", ["0", "1"])
    >>> raw = raw_inputs(pd.DataFrame({"c": ["a", None], "x": [1.0, None]}), roles)
    >>> raw["c"].tolist(), raw["x"].tolist()
    (['a', ''], [1.0, nan])
    """
    check_columns(df, roles)
    raw = {name: category_strings(df[name]) for name in roles.cat_names}
    raw.update({name: continuous_values(df[name]) for name in roles.cont_names})
    return raw


def encode_target(df: pd.DataFrame, roles: ColumnRoles) -> np.ndarray:
    """Targets as the loss expects them: class indices or float32 values.

    Raises:
        KeyError / ValueError: naming the target column when it is absent,
            holds missing values, or holds classes unseen in training.

    Example:

    >>> roles = ColumnRoles([], ["x"], ["y"], "binary", ["no", "yes"])
    >>> encode_target(pd.DataFrame({"x": [0.0, 1.0], "y": ["yes", "no"]}), roles).tolist()
    [1, 0]
    """
    absent = [name for name in roles.y_names if name not in df.columns]
    if absent:
        raise KeyError(f"Target column(s) {absent} are missing from the DataFrame.")
    target = df[roles.y_names]
    if target.isna().any().any():
        bad = [c for c in roles.y_names if df[c].isna().any()]
        raise ValueError(f"Target column(s) {bad} hold missing values; drop those rows first.")
    if roles.task == "regression":
        return target.to_numpy(dtype=np.float32)
    labels = pd.Series(category_strings(target.iloc[:, 0]))
    codes = pd.Categorical(labels, categories=roles.classes).codes
    if (codes < 0).any():
        unseen = sorted(set(labels[codes < 0]))[:5]
        raise ValueError(f"Target column {roles.y_names[0]!r} holds classes {unseen} "
                         f"unseen in training (known: {roles.classes}).")
    return codes.astype(np.int32)


def check_y_range(targets, y_range, names) -> None:
    """Refuses regression targets outside an explicit `y_range` (the output could never reach them).

    Example:


    >>> check_y_range(np.array([[0.5], [7.0]]), (0.0, 5.0), ["price"])
    Traceback (most recent call last):
    ...
    ValueError: Target 'price' holds 1 value(s) outside y_range=(0.0, 5.0), e.g. 7 at row 1: ...
    """
    if y_range is None:
        return
    low, high = (float(v) for v in y_range)
    values = np.asarray(targets, "float64").reshape(len(targets), -1)
    outside = (values < low) | (values > high)
    if outside.any():
        row, column = (int(v) for v in np.argwhere(outside)[0])
        raise ValueError(
            f"Target {names[column]!r} holds {int(outside.sum())} value(s) outside "
            f"y_range={(low, high)}, e.g. {values[row, column]:g} at row {row}: widen y_range "
            "or leave it out (the model then predicts any value).")


def read_csv(path, text_columns=()) -> pd.DataFrame:
    """Reads a CSV file, keeping `text_columns` as text (as they were in training).

    Without it pandas re-infers each column's dtype from the file at hand: a
    code column that held "007" and "A1" in training comes back as the
    integers 7 and 1 when no "A1" happens to be in a later file, and every row
    turns into an unseen category.

    Raises:
        FileNotFoundError / ValueError: naming the file.

    Example:

    >>> import io
    >>> read_csv(io.StringIO("code,x\\n007,1.5\\n"), ["code"])["code"].tolist()
    ['007']
    """
    if isinstance(path, (str, bytes)) or hasattr(path, "__fspath__"):
        import os

        if not os.path.isfile(path):
            raise FileNotFoundError(f"CSV file {str(path)!r} does not exist.")
    try:
        return pd.read_csv(path, dtype={name: str for name in text_columns})
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise ValueError(f"Cannot read {str(path)!r} as CSV: {error}") from None
