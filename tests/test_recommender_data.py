"""Ratings loaders and split: MovieLens layouts on disk, DataFrames, the real offline set."""
import numpy as np
import pandas as pd
import pytest

from apps.recommender.data import load_movielens, load_ratings, model_inputs, ratings_from_dataframe
from dlkeras.data import random_split_frame


def test_udata_layout_is_read_with_tabs_and_no_header(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n")
    ratings = load_ratings(path)
    assert ratings["user"].tolist() == [196, 186, 22]
    assert ratings["item"].tolist() == [242, 302, 377]
    assert ratings["rating"].tolist() == [3.0, 3.0, 1.0]


def test_ratings_csv_with_header_and_custom_columns(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("who,what,stars,timestamp\na,x,4.5,1\nb,y,0.5,2\n")
    ratings = load_ratings(path, user_col="who", item_col="what", rating_col="stars")
    assert ratings["user"].tolist() == ["a", "b"]
    assert ratings["rating"].dtype == np.float32
    assert ratings["rating"].tolist() == [4.5, 0.5]


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,score\n1,2,3\n")
    with pytest.raises(KeyError, match="'rating'.*rating_col"):
        load_ratings(path)


def test_non_numeric_rating_names_column_row_and_value():
    frame = pd.DataFrame({"userId": [1, 2], "movieId": [3, 4], "rating": [4.0, "five"]})
    with pytest.raises(ValueError, match=r"'rating'.*row 1.*'five'"):
        ratings_from_dataframe(frame)


def test_missing_id_and_missing_file_are_clear(tmp_path):
    frame = pd.DataFrame({"userId": [1, None], "movieId": [3, 4], "rating": [4.0, 3.0]})
    with pytest.raises(ValueError, match="'userId' has a missing id at row 1"):
        ratings_from_dataframe(frame)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_ratings(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="layout=.xml."):
        (tmp_path / "a.csv").write_text("userId,movieId,rating\n1,2,3\n")
        load_ratings(tmp_path / "a.csv", layout="xml")


def test_split_follows_the_protocol_permutation():
    frame = pd.DataFrame({"user": np.arange(50), "item": np.arange(50), "rating": np.ones(50)})
    train, valid = random_split_frame(frame, 0.2, seed=42)
    order = np.random.RandomState(42).permutation(50)
    assert valid["user"].tolist() == order[:10].tolist()
    assert train["user"].tolist() == order[10:].tolist()
    with pytest.raises(ValueError, match="valid_pct=1.5"):
        random_split_frame(frame, 1.5)


def test_model_inputs_keep_id_types():
    ints = model_inputs(pd.DataFrame({"user": [1, 2], "item": [3.0, 4.0]}))
    assert ints["user_id"].dtype == np.int64 and ints["item_id"].tolist() == [3, 4]
    strings = model_inputs(pd.DataFrame({"user": ["a"], "item": ["b"]}))
    assert strings["user_id"].tolist() == ["a"]


def test_real_movielens_offline():
    ratings = load_movielens()
    assert len(ratings) == 100_004
    assert ratings["user"].nunique() == 671 and ratings["item"].nunique() == 9066
    assert (ratings["rating"].min(), ratings["rating"].max()) == (0.5, 5.0)
    assert {"title", "year", "genres"} <= set(ratings.columns)
