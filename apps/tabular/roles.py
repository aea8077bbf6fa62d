"""Column roles of a table: which columns are categorical, continuous, or the target.

Roles are inferred from pandas dtypes, with every part overridable. Integer
columns with at most 20 distinct values (fastai's cut-off; e.g. a survey
`year`) are treated as categorical, as are strings, booleans and pandas
categoricals. A text column whose values are numbers but for a few stray
strings is refused (it would silently become a category): fix the values or
name the column's role.

Error messages name the columns and, through `argument_names`, the flags or
arguments the caller used (`--cat` on the command line, `cat_names` in Python).
"""
from __future__ import annotations

__all__ = ["ColumnRoles", "infer_roles"]

import dataclasses
import difflib
import keyword

import numpy as np
import pandas as pd

# Integer columns with at most this many distinct values become categorical (fastai's cut-off).
DEFAULT_MAX_INT_CARDINALITY = 20
TASKS = ("binary", "multiclass", "regression")
PYTHON_ARGUMENTS = {"y_name": "y_name", "cat_names": "cat_names", "cont_names": "cont_names",
                    "task": "task"}


@dataclasses.dataclass
class ColumnRoles:
    """Which columns feed the model, and how.

    Args:
        cat_names: categorical input columns (sent as strings when serving).
        cont_names: continuous input columns (float, NaN allowed).
        y_names: target column(s); more than one means multi-target regression.
        task: one of "binary", "multiclass", "regression".
        classes: class labels in output order (classification only).
        text_columns: categorical columns that held text in training; a
            predict-time reader keeps them as text (so a code like "007" is not
            read back as the number 7).

    Example:

    >>> roles = ColumnRoles(["color"], ["size"], ["label"], "binary", ["no", "yes"])
    >>> roles.input_names
    ['color', 'size']
    """

    cat_names: list[str]
    cont_names: list[str]
    y_names: list[str]
    task: str
    classes: list[str] | None = None
    text_columns: list[str] = dataclasses.field(default_factory=list)

    @property
    def input_names(self) -> list[str]:
        """All input columns, categorical first."""
        return list(self.cat_names) + list(self.cont_names)

    def to_dict(self) -> dict:
        """Plain JSON-friendly form (saved beside a trained model)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> "ColumnRoles":
        """Inverse of `to_dict`."""
        return cls(**config)


def _as_list(names) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def is_categorical_series(series: pd.Series, max_int_cardinality: int) -> bool:
    """Whether a column should be embedded rather than treated as a number.

    Args:
        series: the column.
        max_int_cardinality: integer columns with at most this many distinct
            values count as categorical.

    Example:

    >>> is_categorical_series(pd.Series([1990, 1991, 1990]), 20)
    True
    """
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series):
        return True
    if pd.api.types.is_integer_dtype(series):
        return series.nunique(dropna=True) <= max_int_cardinality
    return not pd.api.types.is_numeric_dtype(series)


def infer_task(target: pd.DataFrame) -> str:
    """Binary, multiclass or regression from the target column(s) dtype.

    Float targets with more than two values and multiple targets are regression;
    anything else with exactly two values is binary, otherwise multiclass.

    Example:

    >>> infer_task(pd.DataFrame({"y": [0.5, 1.5, 2.5]}))
    'regression'
    """
    if target.shape[1] > 1:
        return "regression"
    series = target.iloc[:, 0]
    n_values = series.nunique(dropna=True)
    if pd.api.types.is_float_dtype(series) and n_values > 2:
        return "regression"
    return "binary" if n_values == 2 else "multiclass"


def is_serving_name(name) -> bool:
    """Whether a column name can be an exported signature's argument name.

    Example:

    >>> is_serving_name("age"), is_serving_name("education-num")
    (True, False)
    """
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def _check_names(df: pd.DataFrame, names: list[str], argument: str) -> None:
    missing = [name for name in names if name not in df.columns]
    if missing:
        close = difflib.get_close_matches(str(missing[0]), [str(c) for c in df.columns], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(
            f"{argument} names column(s) {missing} that are not in the table{hint}. "
            f"Its columns: {list(df.columns)}"
        )
    for name in names:
        if not is_serving_name(name):
            raise ValueError(
                f"Column name {name!r} ({argument}) cannot name a serving input: it must "
                "be a Python identifier (letters, digits, '_'; not a keyword). Rename the "
                "column first, e.g. df.rename(columns={'education-num': 'education_num'})."
            )


def check_stray_text(df: pd.DataFrame, names: list[str], argument: str) -> None:
    """Refuses text columns that are numbers but for a few stray values.

    Such a column (one "thirty" among ages) would otherwise silently become
    categorical, or fail as continuous.

    Example:

    >>> check_stray_text(pd.DataFrame({"age": ["31", "45"] * 20 + ["thirty"]}), ["age"], "inputs")
    Traceback (most recent call last):
    ...
    ValueError: Column 'age' (inputs) holds numbers except for 1 value(s) such as ['thirty']: fix them, or name its role explicitly (categorical or continuous).
    """
    for name in names:
        series = df[name]
        if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
            continue
        present = series.dropna()
        numeric = pd.to_numeric(present, errors="coerce")
        stray = present[numeric.isna()]
        if len(present) and 0 < len(stray) <= 0.05 * len(present):
            raise ValueError(
                f"Column {name!r} ({argument}) holds numbers except for {len(stray)} value(s) "
                f"such as {sorted(set(map(str, stray)))[:3]}: fix them, or name its role "
                "explicitly (categorical or continuous).")


def infer_roles(df: pd.DataFrame, y_name, cat_names=None, cont_names=None, *,
                task: str | None = None,
                max_int_cardinality: int = DEFAULT_MAX_INT_CARDINALITY,
                exclude=None, argument_names=None) -> ColumnRoles:
    """Infer column roles from dtypes, honouring any explicit choices.

    Args:
        df: training DataFrame.
        y_name: target column, or a list of them for multi-target regression.
        cat_names: categorical columns; inferred from dtypes when None.
        cont_names: continuous columns; inferred from dtypes when None.
        task: "binary", "multiclass" or "regression"; inferred when None.
        max_int_cardinality: integer columns with at most this many distinct
            values are categorical when inferring.
        exclude: columns never used as inputs (ids, leaks).
        argument_names: how the caller calls `y_name`, `cat_names`,
            `cont_names` and `task` (e.g. `{"y_name": "--target"}`), for messages.

    Returns:
        A `ColumnRoles`.

    Example:

    >>> df = pd.DataFrame({"c": ["a", "b"], "x": [0.1, 0.2], "y": [0, 1]})
    >>> infer_roles(df, "y").cat_names
    ['c']
    """
    names = {**PYTHON_ARGUMENTS, **(argument_names or {})}
    y_names = _as_list(y_name)
    if not y_names:
        raise ValueError(f"{names['y_name']} is required: name the target column(s).")
    _check_names(df, y_names, names["y_name"])
    taken = set(y_names) | set(_as_list(exclude))
    given_cat, given_cont = _as_list(cat_names), _as_list(cont_names)
    _check_names(df, given_cat, names["cat_names"])
    _check_names(df, given_cont, names["cont_names"])
    both = set(given_cat) & set(given_cont)
    if both or taken & (set(given_cat) | set(given_cont)):
        raise ValueError(
            f"Columns {sorted(both | (taken & (set(given_cat) | set(given_cont))))} "
            "are given two roles (categorical/continuous/target/excluded)."
        )
    free = [c for c in df.columns if c not in taken | set(given_cat) | set(given_cont)]
    check_stray_text(df, [c for c in free if cat_names is None or cont_names is None],
                     "an input inferred from its values")
    if cat_names is None:
        given_cat = [c for c in free if is_categorical_series(df[c], max_int_cardinality)]
    if cont_names is None:
        given_cont = [c for c in free if c not in given_cat
                      and pd.api.types.is_numeric_dtype(df[c])]
    _check_names(df, given_cat + given_cont, "inferred inputs")
    for name in given_cont:
        if not pd.api.types.is_numeric_dtype(df[name]) or pd.api.types.is_bool_dtype(df[name]):
            raise TypeError(
                f"Continuous column {name!r} has dtype {df[name].dtype}; "
                f"pass it in {names['cat_names']} instead, or convert it to numbers."
            )
    task = task or infer_task(df[y_names])
    if task not in TASKS:
        raise ValueError(f"{names['task']} must be one of {TASKS}. Received: {task!r}")
    classes = None
    if task != "regression":
        classes = [category_string(v) for v in np.sort(df[y_names[0]].dropna().unique())]
        if len(classes) < 2:
            raise ValueError(
                f"Target {y_names[0]!r} holds {len(classes)} class(es) {classes} in the training "
                f"rows; {task} classification needs at least 2. Check the target column (or "
                f"{names['task']} regression).")
    text = [c for c in given_cat if pd.api.types.is_object_dtype(df[c])
            or pd.api.types.is_string_dtype(df[c])]
    return ColumnRoles(given_cat, given_cont, y_names, task, classes, text)


def classification_target(df: pd.DataFrame, y_name, task=None, argument_names=None):
    """The target column to stratify a split by: `y_name` for classification, else None.

    Example:


    >>> df = pd.DataFrame({"y": ["a", "b", "a"], "v": [0.5, 1.5, 2.5]})
    >>> classification_target(df, "y"), classification_target(df, ["v"])
    ('y', None)
    """
    names = {**PYTHON_ARGUMENTS, **(argument_names or {})}
    y_names = _as_list(y_name)
    _check_names(df, y_names, names["y_name"])
    if len(y_names) != 1 or (task or infer_task(df[y_names])) == "regression":
        return None
    return y_names[0]


def category_string(value) -> str:
    """The string a category value is known by (what serving clients send).

    Integral floats drop their ".0" so that 1974 and 1974.0 are one category.

    Example:

    >>> category_string(1974.0), category_string(True), category_string("a")
    ('1974', 'True', 'a')
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
