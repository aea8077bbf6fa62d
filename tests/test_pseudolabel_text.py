"""`python -m apps.pseudolabel train --task text`: the text app's data, task, run folder, export."""
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from apps.cli import main as app_main
from apps.pseudolabel.cli import APP
from apps.pseudolabel.sources import TextAdapter
from apps.text.classifier_task import TextClassifierTask
from dlkeras.tasks import Task

GOOD = ["a good film", "great plot and great actors", "good good film", "a great film"]
BAD = ["a bad film", "dull plot and bad actors", "bad bad film", "a dull film"]
TINY = ["--from-scratch", "--lm-epochs", "0", "--vocab-size", "40", "--embedding-dim", "8",
        "--text-hidden-units", "8", "--text-layers", "1", "--max-tokens", "16",
        "--batch-size", "8", "--quiet"]


def main(argv):
    return app_main(APP, argv)


def reviews(count, seed):
    rng = np.random.default_rng(seed)
    sentiment = rng.choice(["pos", "neg"], count)
    texts = [rng.choice(GOOD if s == "pos" else BAD) for s in sentiment]
    return pd.DataFrame({"review": texts, "sentiment": sentiment})


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    reviews(160, 0).to_csv(root / "reviews.csv", index=False)
    status = main(["train", "--task", "text", "--csv", str(root / "reviews.csv"), "--text",
                   "review", "--label", "sentiment", "--labelled-fraction", "0.5", "--rounds",
                   "1", "--top-fraction", "0.5", "--epochs", "3", "--lr-max", "0.02",
                   "--run-dir", str(root / "run"), "--export-root", str(root / "saved"), *TINY])
    return root, status


def test_text_train_writes_rounds_run_folder_and_savedmodel(text_run):
    root, status = text_run
    assert status == 0
    rounds = json.loads((root / "run" / "pseudo_labels.json").read_text())
    # 160 rows, 20 % validation: 128 training rows, 64 keep their label, 64 are unlabelled;
    # class-balanced top half: floor(0.5 * 64 / 2) = 16 per class at most.
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds[1]["num_unlabelled"] == 64 and 0 < rounds[1]["num_pseudo"] <= 32
    assert max(rounds[1]["class_counts"]) <= 16
    assert rounds[1]["pseudo_accuracy"] is not None  # the split's true labels are known
    task = Task.load(root / "run")
    assert isinstance(task, TextClassifierTask)
    assert task.metadata["pseudo_labelling"]["top_fraction"] == 0.5
    served = tf.saved_model.load(str(root / "saved" / "pseudolabel" / "1")).signatures["serve"]
    texts = ["a good film", "dull plot"]
    np.testing.assert_allclose(served(texts=tf.constant(texts))["probabilities"].numpy(),
                               task.predict(texts), atol=1e-5)


def test_text_predict_through_the_text_app_and_usage_errors(text_run, tmp_path, capsys):
    root, _ = text_run
    assert main(["predict", "--run-dir", str(root / "run"), "--text", "a good film",
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert list(pd.read_csv(tmp_path / "p.csv").columns) == ["text", "p_neg", "p_pos", "label"]
    capsys.readouterr()
    assert main(["train", "--task", "text", "--labelled-fraction", "0.5", *TINY]) == 2
    assert "one of --csv/--folder required with --task text" in capsys.readouterr().err
    assert main(["train", "--task", "text", "--csv", "a.csv", "--folder", "b",
                 "--labelled-fraction", "0.5", *TINY]) == 2
    assert "--csv and --folder exclude each other" in capsys.readouterr().err


def test_unlabelled_texts_from_a_csv_with_or_without_labels_or_text_files(tmp_path):
    frame = reviews(6, 1)
    frame.to_csv(tmp_path / "more.csv", index=False)
    frame.drop(columns=["sentiment"]).to_csv(tmp_path / "bare.csv", index=False)
    (tmp_path / "more.txt").write_text("a good film\n\ndull plot\nand bad actors\n\n")
    args = type("Args", (), {"text": "review", "label": "sentiment"})()
    adapter = TextAdapter()
    known = adapter.read_unlabelled(tmp_path / "more.csv", args, None)
    assert known.labelled and known.data["text"].tolist() == frame["review"].tolist()
    assert not adapter.read_unlabelled(tmp_path / "bare.csv", args, None).labelled
    texts = adapter.read_unlabelled(tmp_path / "more.txt", args, None)
    assert not texts.labelled
    assert texts.data["text"].tolist() == ["a good film", "dull plot\nand bad actors"]
