"""Tabular training data that must be refused, with one-line errors naming it (issue 12)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.cli import main as app_main  # noqa: E402
from apps.tabular.cli import APP  # noqa: E402
from apps.tabular.task import TabularTask  # noqa: E402
from dlkeras.tasks import Task  # noqa: E402


def frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"shop": rng.choice(list("abc"), n), "x": rng.normal(size=n)})
    table["y"] = (table["x"] > 0).astype(int)
    return table


@pytest.mark.parametrize("change, error, message", [
    (lambda t: t.assign(y=1), ValueError,
     r"Target 'y' holds 1 class\(es\) \['1'\] .* needs at least 2"),
    (lambda t: t.assign(x=np.nan), ValueError,
     r"Input column\(s\) \['x'\] hold no value \(all missing\) in the 40 training rows"),
    (lambda t: t.assign(shop=None), ValueError, r"Input column\(s\) \['shop'\] hold no value"),
    (lambda t: t.assign(x=np.where(np.arange(40) == 7, np.inf, t["x"])), ValueError,
     r"Continuous column 'x' holds 1 infinite value\(s\) .*e.g. inf at row 7"),
    (lambda t: t.assign(x=np.where(np.arange(40) == 3, 1e300, t["x"])), ValueError,
     r"'x' holds 1 infinite value\(s\) \(or beyond float32\), e.g. 1e\+300 at row 3"),
])
def test_bad_training_tables_are_refused(change, error, message):
    with pytest.raises(error, match=message):
        TabularTask.from_frame(change(frame()), "y", layers=[4])


def test_regression_targets_outside_an_explicit_y_range_are_refused():
    table = frame().assign(y=np.linspace(0.0, 6.0, 40))
    with pytest.raises(ValueError, match=r"Target 'y' holds 7 value\(s\) outside "
                                         r"y_range=\(0.0, 5.0\), e.g. 5.07692 at row 33"):
        TabularTask.from_frame(table, "y", task="regression", layers=[4], y_range=(0.0, 5.0))
    TabularTask.from_frame(table, "y", task="regression", layers=[4], y_range=(0.0, 6.0))


def run(argv, capsys):
    status = app_main(APP, argv)
    return status, capsys.readouterr().err


def test_cli_errors_are_one_line_naming_the_problem(tmp_path, capsys):
    csv = tmp_path / "data.csv"
    common = ["train", "--csv", str(csv), "--target", "y", "--quiet", "--no-export",
              "--epochs", "1"]
    table = frame()
    table.loc[5, "x"] = np.inf
    table.to_csv(csv, index=False)
    status, err = run(common, capsys)
    assert status == 2 and "Continuous column 'x' holds 1 infinite value(s)" in err
    assert len(err.strip().splitlines()) == 1
    frame().assign(y=[0] * 39 + [2]).to_csv(csv, index=False)
    status, err = run(common, capsys)
    assert status == 2 and "1 class(es) have a single example: '2' (1 row)" in err
    frame().to_csv(csv, index=False)
    status, err = run(common + ["--valid-pct", "0.01"], capsys)
    assert status == 2 and "valid_pct=0.01 of 40 rows leaves no validation row" in err


def test_predict_reads_code_columns_as_text_as_in_training(tmp_path, capsys):
    """A code column of "007" and "A1" in training stays text in a later file without "A1"."""
    rng = np.random.default_rng(0)
    codes = rng.choice(["007", "012", "A1"], 300)
    train = pd.DataFrame({"code": codes, "x": rng.normal(size=300)})
    train["y"] = (train["code"] == "007").astype(int)
    train.to_csv(tmp_path / "train.csv", index=False)
    keras.utils.set_random_seed(0)
    run_dir = tmp_path / "run"
    status, err = run(["train", "--csv", str(tmp_path / "train.csv"), "--target", "y", "--cat",
                       "code", "--cont", "x", "--epochs", "4", "--lr-max", "3e-2", "--run-dir",
                       str(run_dir), "--quiet", "--no-export"], capsys)
    assert status == 0, err
    later = pd.DataFrame({"code": ["007", "012", "007"], "x": [0.1, -0.2, 0.3]})
    later.to_csv(tmp_path / "later.csv", index=False)
    assert pd.read_csv(tmp_path / "later.csv")["code"].tolist() == [7, 12, 7]  # pandas' guess
    status, err = run(["predict", "--run-dir", str(run_dir), "--csv", str(tmp_path / "later.csv"),
                       "--out", str(tmp_path / "out.csv")], capsys)
    assert status == 0, err
    served = pd.read_csv(tmp_path / "out.csv")
    expected = Task.load(run_dir, compile=False).predict_frame(later)
    np.testing.assert_allclose(served["p_1"], expected["p_1"], atol=1e-5)
    assert served["p_1"][0] > 0.8 and served["p_1"][1] < 0.2  # "007" is known, not unseen


def test_cli_training_whose_loss_overflows_exits_1_and_saves_nothing(tmp_path, capsys):
    # Finite targets whose squares overflow float32: the loss is inf from the first step.
    csv, run_dir, exports = tmp_path / "data.csv", tmp_path / "run", tmp_path / "saved_models"
    frame().assign(y=np.linspace(-1e20, 1e20, 40)).to_csv(csv, index=False)
    status, err = run(["train", "--csv", str(csv), "--target", "y", "--task", "regression",
                       "--quiet", "--epochs", "2", "--lr-max", "1e-2", "--run-dir", str(run_dir),
                       "--export-root", str(exports)], capsys)
    assert status == 1 and "the training loss became inf in epoch 1" in err, err
    assert "the model was not saved" in err and len(err.strip().splitlines()) == 1
    assert not (run_dir / "model.keras").exists() and not exports.exists()
