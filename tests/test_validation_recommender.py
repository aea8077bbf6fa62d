"""Ratings that must be refused, with one-line errors naming the problem (issue 12)."""
import numpy as np
import pandas as pd
import pytest

from apps.cli import main as app_main
from apps.recommender.cli import APP
from apps.recommender.data import id_array, load_ratings, ratings_from_dataframe
from apps.recommender.task import RecommenderTask


def test_conflicting_duplicate_ratings_are_refused_by_pair(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating\n1,5,4.0\n2,5,3.0\n1,5,2.0\n2,6,1.0\n")
    with pytest.raises(ValueError, match=r"1 \(user, item\) pair\(s\) are rated more than once "
                                         r"with different ratings, e.g. user 1, item 5: "
                                         r"\[4.0, 2.0\]"):
        load_ratings(path)
    table = pd.DataFrame({"user": ["a", "a"], "item": ["x", "x"], "rating": [1.0, 5.0]})
    with pytest.raises(ValueError, match="user 'a', item 'x': \\[1.0, 5.0\\]"):
        RecommenderTask.from_ratings(table, n_factors=2)


def test_an_empty_ratings_table_is_refused_by_name():
    empty = pd.DataFrame({"user": np.array([], int), "item": np.array([], int),
                          "rating": np.array([], float)})
    with pytest.raises(ValueError, match="^The training ratings table has no rows.$"):
        RecommenderTask.from_ratings(empty, n_factors=2)  # was numpy's "zero-size array"


def test_exact_duplicate_rows_are_kept():
    frame = pd.DataFrame({"userId": [1, 1, 2], "movieId": [5, 5, 5], "rating": [4.0, 4.0, 1.0]})
    assert len(ratings_from_dataframe(frame)) == 3


def test_ratings_outside_an_explicit_y_range_are_refused():
    table = pd.DataFrame({"user": [1, 2, 3], "item": [5, 5, 6], "rating": [1.0, 5.0, 4.5]})
    with pytest.raises(ValueError, match=r"1 rating\(s\) lie outside y_range=\(0.0, 4.5\), "
                                         r"e.g. 5; widen y_range"):
        RecommenderTask.from_ratings(table, n_factors=2, y_range=(0, 4.5))
    task = RecommenderTask.from_ratings(table, n_factors=2, y_range=(0, 5.0))
    assert task.metadata["y_range"] == [0.0, 5.0]


def test_cli_refuses_an_empty_validation_split_in_one_line(tmp_path, capsys):
    path = tmp_path / "u.data"
    path.write_text("".join(f"{u}\t{i}\t3\t0\n" for u in range(1, 4) for i in range(1, 4)))
    status = app_main(APP, ["train", "--ratings", str(path), "--valid-pct", "0.05", "--quiet",
                            "--no-export"])
    err = capsys.readouterr().err
    assert status == 2 and err.strip() == (
        "error: valid_pct=0.05 of 9 rows leaves no validation row: raise valid_pct to at least "
        "0.111 or add data.")


@pytest.mark.parametrize("values, string_ids, expected", [
    ([3, -1, 2 ** 63 - 1], False, [3, -1, 2 ** 63 - 1]),
    (np.array([4.0, -2.0]), False, [4, -2]),
    (np.array([7], np.uint64), False, [7]),
    ([12, "a"], True, ["12", "a"]),
])
def test_ids_convert_without_loss(values, string_ids, expected):
    assert id_array(values, string_ids).tolist() == expected


@pytest.mark.parametrize("values, string_ids, message", [
    ([0.5], False, "whole numbers"),
    ([np.inf], False, "whole numbers"),
    ([2.0 ** 63], False, "outside the int64 range"),
    (np.array([2 ** 63], np.uint64), False, "outside the int64 range"),
    ([2 ** 64], False, "outside the int64 range"),
    ([True], False, "received boolean values"),
    (["7"], False, "received text values such as '7'"),
    ([1.0], True, "must be text"),
])
def test_ids_that_would_change_are_refused(values, string_ids, message):
    with pytest.raises(ValueError, match=message):
        id_array(values, string_ids)
