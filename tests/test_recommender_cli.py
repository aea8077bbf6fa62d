"""The CLI end to end on a real MovieLens CSV written to disk: train, recommend, export."""
import json

import numpy as np
import pandas as pd
import pytest

from apps.recommender.cli import main
from apps.recommender.data import load_movielens


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


def test_train_recommend_export_round_trip(ratings_csv, tmp_path, capsys):
    path, subset = ratings_csv
    run = tmp_path / "run"
    assert main(["train", "--ratings", str(path), "--out", str(run), "--epochs", "3",
                 "--batch-size", "256", "--lr", "1e-2", "-k", "5"]) == 0
    report = json.loads((run / "metrics.json").read_text())
    baseline = float(subset["rating"].std())
    assert 0 < report["rmse"] < baseline and report["users"] > 0
    assert 0 <= report["ndcg@5"] <= 1
    capsys.readouterr()
    user = int(subset["user"].iloc[0])
    assert main(["recommend", "--model-dir", str(run), "--user", str(user), "-k", "4"]) == 0
    printed = capsys.readouterr().out
    recommended = [int(line.split("item ")[1].split()[0]) for line in printed.splitlines()
                   if "item " in line]
    assert len(recommended) == 4
    train_pairs = np.load(run / "train_pairs.npz")
    rated = set(train_pairs["item"][train_pairs["user"] == user].tolist())
    assert not rated & set(recommended)
    assert main(["export", "--model-dir", str(run), "--name", "cli", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "cli" / "1" / "saved_model.pb").is_file()
    capsys.readouterr()
    assert main(["recommend", "--saved-model", str(tmp_path / "cli" / "1"),
                 "--user", str(user), "-k", "4"]) == 0
    assert capsys.readouterr().out == printed


def test_bad_arguments_are_named(ratings_csv, tmp_path, capsys):
    path, _ = ratings_csv
    assert main(["train", "--ratings", str(path), "--rating-col", "stars",
                 "--out", str(tmp_path)]) == 2
    assert "'stars'" in capsys.readouterr().err
    assert main(["recommend", "--model-dir", str(tmp_path / "nothing"), "--user", "1"]) == 2
    assert "model.keras" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--lr='fast'"):
        main(["train", "--ratings", str(path), "--lr", "fast"])
