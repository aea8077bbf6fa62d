"""Item side features (genres, release year) as per-item tables for `ItemSideFeatures`.

Side features are looked up by item index inside the model, so the model
still takes only `(user_id, item_id)` and a served model needs nothing more.
Genres are multi-hot (pipe-separated strings such as "Action|Comedy"); years
are bucketed (bucket 0 = unknown). The resulting embedding is added to the
item factors. This is self-contained rather than built on the tabular app's
`Categorify`: genres are multi-label per item, not one category per row.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from apps.recommender.layers import ItemSideFeatures


@dataclasses.dataclass
class SideFeatureTables:
    """Per-item-index side feature tables (row 0 = unseen item, all zeros).

    Attributes:
        genres: genre names, column order of `genre_multi_hot`.
        genre_multi_hot: `(n_items, n_genres)` 0/1.
        year_bucket: `(n_items,)` ints, 0 = unknown.
        n_year_buckets: number of buckets including 0.
    """

    genres: list
    genre_multi_hot: np.ndarray
    year_bucket: np.ndarray
    n_year_buckets: int

    def layer(self, n_items: int, output_dim: int, l2: float) -> ItemSideFeatures:
        """An `ItemSideFeatures` layer holding these tables."""
        if n_items != len(self.year_bucket):
            raise ValueError(f"The side tables cover {len(self.year_bucket)} item indices; "
                             f"the model has {n_items}.")
        layer = ItemSideFeatures(n_items, len(self.genres), self.n_year_buckets, output_dim,
                                 l2=l2, name="item_side_features")
        layer.set_tables(self.genre_multi_hot, self.year_bucket)
        return layer


def item_side_tables(ratings: pd.DataFrame, items, genre_col: str = "genres",
                     year_col: str = "year", years_per_bucket: int = 5) -> SideFeatureTables:
    """Builds genre and year tables for the item vocabulary `items` (index i + 1 = items[i]).

    Args:
        ratings: a table with `item`, `genre_col` and `year_col` (one row per
            rating is fine; the first row per item is used).
        items: the item vocabulary, in the model's lookup order.
        genre_col: pipe-separated genres ("(no genres listed)" counts as none).
        year_col: numeric year (NaN = unknown).
        years_per_bucket: width of a year bucket.

    Example:

    >>> frame = pd.DataFrame({"item": [1, 2], "genres": ["A|B", "B"], "year": [1990, None]})
    >>> tables = item_side_tables(frame, [1, 2])
    >>> tables.genres, tables.genre_multi_hot.tolist(), tables.year_bucket.tolist()
    (['A', 'B'], [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]], [0, 1, 0])
    """
    for column in ("item", genre_col, year_col):
        if column not in ratings.columns:
            raise KeyError(f"Side features need column {column!r}. "
                           f"Available columns: {list(ratings.columns)}")
    per_item = ratings.drop_duplicates("item").set_index("item").reindex(list(items))
    genre_lists = [_split_genres(value) for value in per_item[genre_col]]
    genres = sorted({genre for listed in genre_lists for genre in listed})
    position = {genre: column for column, genre in enumerate(genres)}
    multi_hot = np.zeros((len(items) + 1, max(len(genres), 1)), "float32")
    for row, listed in enumerate(genre_lists, start=1):
        multi_hot[row, [position[genre] for genre in listed]] = 1.0
    years = pd.to_numeric(per_item[year_col], errors="coerce").to_numpy("float64")
    known = np.isfinite(years)
    first = years[known].min() if known.any() else 0.0
    buckets = np.zeros(len(items) + 1, "int32")
    buckets[1:][known] = ((years[known] - first) // years_per_bucket).astype("int32") + 1
    return SideFeatureTables(genres or ["(none)"], multi_hot, buckets, int(buckets.max()) + 1)


def _split_genres(value) -> list:
    if not isinstance(value, str) or value.strip() in ("", "(no genres listed)"):
        return []
    return [genre.strip() for genre in value.split("|") if genre.strip()]
