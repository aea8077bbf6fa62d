"""The CLI end to end on a real MovieLens CSV written to disk: train, predict, export."""
import json

import pytest

from apps.cli import main as app_main
from apps.recommender.cli import APP
from apps.recommender.data import load_movielens


def main(argv):
    return app_main(APP, argv)


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory):
    ratings = load_movielens()
    # The 60 most active users' ratings of the 300 most rated movies: small and dense.
    top_items = ratings["item"].value_counts().index[:300]
    subset = ratings[ratings["item"].isin(top_items)]
    top_users = subset["user"].value_counts().index[:60]
    subset = subset[subset["user"].isin(top_users)]
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    subset.rename(columns={"user": "userId", "item": "movieId"})[
        ["userId", "movieId", "rating"]].to_csv(path, index=False)
    return path, subset


def test_train_predict_export_round_trip(ratings_csv, tmp_path, capsys):
    path, subset = ratings_csv
    run = tmp_path / "run"
    assert main(["train", "--ratings", str(path), "--run-dir", str(run), "--epochs", "3",
                 "--batch-size", "256", "--lr-max", "1e-2", "-k", "5", "--quiet",
                 "--export-root", str(tmp_path / "sm")]) == 0
    report = json.loads((run / "metrics.json").read_text())
    baseline = float(subset["rating"].std())
    assert 0 < report["rmse"] < baseline and report["users"] > 0
    assert 0 <= report["ndcg@5"] <= 1 and report["lr_max"] == 1e-2
    capsys.readouterr()
    user = int(subset["user"].iloc[0])
    assert main(["predict", "--run-dir", str(run), "--user", str(user), "-k", "4"]) == 0
    printed = capsys.readouterr().out
    recommended = [int(line.split("item ")[1].split()[0]) for line in printed.splitlines()
                   if "item " in line]
    assert len(recommended) == 4
    rated = json.loads((run / "task.json").read_text())["metadata"]["rated"]
    items = json.loads((run / "task.json").read_text())["metadata"]["items"]
    users = json.loads((run / "task.json").read_text())["metadata"]["users"]
    user_index = users.index(user) + 1
    rated_items = {items[i - 1] for u, i in zip(rated["user_index"], rated["item_index"])
                   if u == user_index}
    assert rated_items and not rated_items & set(recommended)
    assert main(["export", "--run-dir", str(run), "--name", "cli", "--export-root",
                 str(tmp_path)]) == 0
    assert (tmp_path / "cli" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "sm" / "recommender" / "1" / "saved_model.pb").is_file()


def test_bad_arguments_are_named(ratings_csv, tmp_path, capsys):
    path, _ = ratings_csv
    assert main(["train", "--ratings", str(path), "--rating-col", "stars",
                 "--run-dir", str(tmp_path)]) == 2
    assert "'stars'" in capsys.readouterr().err
    assert main(["predict", "--run-dir", str(tmp_path / "nothing"), "--user", "1"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--ratings", str(path), "--lr-max", "fast"])
    assert "--lr-max" in capsys.readouterr().err
