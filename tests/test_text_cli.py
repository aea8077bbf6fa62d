"""Text app: the command line (train, predict, export, pretrain's encoder cache, errors)."""
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.cli import main as app_main  # noqa: E402
from apps.text.cli import APP  # noqa: E402

GOOD = ["a good film", "great plot and great actors", "good good film", "a great film!"]
BAD = ["a bad film", "dull plot and bad actors", "bad bad film", "a dull film."]
SMALL = ["--from-scratch", "--vocab-size", "40", "--embedding-dim", "4", "--hidden-units", "6",
         "--layers", "2", "--batch-size", "8", "--quiet"]


def cli(argv):
    return app_main(APP, argv)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text_cli")
    frame = pd.DataFrame({"review": (GOOD + BAD) * 8, "sentiment": (["pos"] * 4 + ["neg"] * 4) * 8})
    frame.to_csv(folder / "reviews.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def trained(reviews):
    run_dir = reviews / "run"
    status = cli(["train", "--csv", str(reviews / "reviews.csv"), "--text", "review", "--label",
                  "sentiment", "--epochs", "4", "--lm-epochs", "1", "--run-dir", str(run_dir),
                  "--export-root", str(reviews / "saved"), *SMALL])
    assert status == 0
    return run_dir


def test_help_answers_without_tensorflow():
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; from apps.cli import main; "
                           "from apps.text.cli import APP\n"
                           "try:\n main(APP, ['--help'])\nexcept SystemExit: pass\n"
                           "assert 'tensorflow' not in sys.modules"], capture_output=True,
                          text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr
    assert "pretrain" in done.stdout and time.perf_counter() - start < 5


def test_train_writes_run_folder_reports_and_saved_model(trained, reviews):
    for name in ("model.keras", "task.json", "top_losses.csv", "confusion_matrix.png",
                 "importance.html"):
        assert (trained / name).is_file(), name
    assert (reviews / "saved" / "text" / "1" / "saved_model.pb").is_file()


def test_predict_prints_probabilities_and_explains(trained, tmp_path, capsys):
    status = cli(["predict", "--run-dir", str(trained), "--text", "a good film", "--text", "",
                  "--out", str(tmp_path / "p.csv"), "--explain", str(tmp_path / "e.html")])
    assert status == 0
    predictions = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(predictions.columns) == ["text", "p_neg", "p_pos", "label"]
    np.testing.assert_allclose(predictions[["p_neg", "p_pos"]].sum(axis=1), 1, rtol=1e-5)
    assert "good" in (tmp_path / "e.html").read_text()


def test_export_again_and_user_errors(trained, reviews, tmp_path, capsys, monkeypatch):
    assert cli(["export", "--run-dir", str(trained), "--name", "again", "--export-root",
                str(tmp_path)]) == 0
    assert (tmp_path / "again" / "1" / "saved_model.pb").is_file()
    capsys.readouterr()
    assert cli(["train", "--csv", str(reviews / "reviews.csv"), "--text", "reveiw", *SMALL]) == 2
    assert "Column 'reveiw' is not in" in capsys.readouterr().err
    monkeypatch.setenv("DLKERAS_CACHE_DIR", str(tmp_path / "empty_cache"))
    assert cli(["train", "--csv", str(reviews / "reviews.csv"), "--text", "review", "--label",
                "sentiment", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "python -m apps.text pretrain" in error and "--from-scratch" in error
