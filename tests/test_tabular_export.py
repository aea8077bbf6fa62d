"""Tabular app: SavedModel export served without dlkeras, save/load, and the CLI."""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.cli import main as app_main  # noqa: E402
from apps.tabular.cli import APP  # noqa: E402
from apps.tabular.frames import raw_inputs  # noqa: E402
from apps.tabular.gss import load_gss_wages  # noqa: E402
from apps.tabular.task import TabularTask  # noqa: E402
from dlkeras.tasks import Task  # noqa: E402

from fresh_process import run_without_dlkeras  # noqa: E402


def cli_main(argv):
    return app_main(APP, argv)

SERVE_AND_CHECK = r"""
import json, sys
import numpy as np, tensorflow as tf
path, inputs_file = sys.argv[1], sys.argv[2]
loaded = tf.saved_model.load(path)
raw = np.load(inputs_file, allow_pickle=True)
columns = {k: tf.constant(raw[k].tolist() if raw[k].dtype == object else raw[k]) for k in raw.files}
out = loaded.signatures["serving_default"](**columns)
np.save(inputs_file + ".out.npy", out["probabilities"].numpy())
errors = {}
def attempt(key, **kwargs):
    try:
        loaded.serve(**kwargs)
    except TypeError as error:
        errors[key] = str(error)
first = next(iter(columns))
attempt("missing", **{k: v for k, v in columns.items() if k != "age"})
attempt("extra", **columns, salary=tf.constant([1.0]))
attempt("dtype", **dict(columns, age=tf.constant([30.0], tf.float64)))
try:
    loaded.signatures["serving_default"](**{k: v for k, v in columns.items() if k != "childs"})
except TypeError as error:
    errors["signature_missing"] = str(error)
print(json.dumps({"errors": errors, "labels": [s.decode() for s in out["label"].numpy()]}))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    df = load_gss_wages().iloc[:3000].reset_index(drop=True)
    keras.utils.set_random_seed(0)
    learn = TabularTask.from_frame(df, "high_income", batch_size=256, layers=[32, 16])
    learn.fit_one_cycle(df, epochs=2, lr_max=1e-2, verbose=0)
    return learn, df, tmp_path_factory.mktemp("tabular")


def serving_rows(df):
    rows = df.iloc[:6].copy()
    rows.loc[rows.index[0], "occrecode"] = "Astronaut"      # unseen category
    rows.loc[rows.index[1], "wrkstat"] = None               # missing category
    rows.loc[rows.index[2], "age"] = np.nan                 # missing number
    rows.loc[rows.index[3], "year"] = 2042                  # unseen year
    return rows.drop(columns=["high_income"])


def test_export_serves_raw_columns_without_dlkeras(trained):
    learn, df, tmp = trained
    path = learn.export("gss_test", root=tmp / "saved_models")
    assert path == tmp / "saved_models" / "gss_test" / "1"
    described = json.loads((path / "assets.extra" / "task.json").read_text())
    assert described["task"] == "TabularTask" and described["roles"]["task"] == "binary"
    rows = serving_rows(df)
    raw = raw_inputs(rows, learn.roles)
    np.savez(tmp / "inputs.npz", **raw)
    code = (f"import sys; sys.argv = ['serve', {str(path)!r}, {str(tmp / 'inputs.npz')!r}]\n"
            + SERVE_AND_CHECK)
    done = run_without_dlkeras(code)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    served = np.load(str(tmp / "inputs.npz") + ".out.npy")
    expected = learn.predict(rows)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert not np.allclose(expected[:, 1], expected[0, 1])  # the rows are told apart
    assert np.isfinite(served).all()
    assert report["labels"] == [learn.roles.classes[i] for i in expected.argmax(axis=1)]
    errors = report["errors"]
    assert "'age'" in errors["missing"]
    assert "'salary'" in errors["extra"]
    assert "name='age'" in errors["dtype"] and "float64" in errors["dtype"]
    assert "'childs'" in errors["signature_missing"]
    assert learn.export("gss_test", root=tmp / "saved_models").name == "2"


def test_save_load_round_trip_and_pandas_errors(trained):
    learn, df, tmp = trained
    learn.save(tmp / "model")
    assert sorted(p.name for p in (tmp / "model").iterdir()) == ["model.keras", "task.json"]
    again = Task.load(tmp / "model")
    assert isinstance(again, TabularTask) and again.roles == learn.roles
    rows = serving_rows(df)
    np.testing.assert_allclose(again.predict(rows), learn.predict(rows), atol=1e-6)
    with pytest.raises(KeyError, match="'prestg10'"):
        again.predict(rows.drop(columns=["prestg10"]))
    with pytest.raises(TypeError, match="'age'"):
        again.predict(rows.assign(age="thirty"))
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        Task.load(tmp)
    # The optimizer state came back too: training continues from the same step.
    assert int(again.network.optimizer.iterations) == int(learn.network.optimizer.iterations) > 0


def test_cli_train_predict_export(trained, tmp_path, capsys):
    _, df, _ = trained
    csv = tmp_path / "gss.csv"
    df.iloc[:1500].to_csv(csv, index=False)
    run_dir, out = tmp_path / "run", tmp_path / "pred.csv"
    assert cli_main(["train", "--csv", str(csv), "--target", "high_income", "--cat", "occrecode",
                     "wrkstat", "gender", "educcat", "maritalcat", "year", "--cont", "age",
                     "prestg10", "childs", "--epochs", "1", "--batch-size", "128", "--layers",
                     "16", "--run-dir", str(run_dir), "--quiet", "--export-root",
                     str(tmp_path / "sm")]) == 0
    printed = capsys.readouterr().out
    assert "validation: accuracy" in printed and "lr_max=0.01 (the app's default" in printed
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert (tmp_path / "sm" / "tabular" / "1" / "saved_model.pb").exists()
    assert cli_main(["predict", "--run-dir", str(run_dir), "--csv", str(csv), "--out",
                     str(out)]) == 0
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["row", "p_0", "p_1", "high_income"]
    assert predictions["row"].tolist() == list(range(1500))
    np.testing.assert_allclose(predictions[["p_0", "p_1"]].sum(axis=1), 1.0, atol=1e-5)
    assert cli_main(["export", "--run-dir", str(run_dir), "--name", "cli", "--export-root",
                     str(tmp_path / "sm")]) == 0
    assert (tmp_path / "sm" / "cli" / "1" / "saved_model.pb").exists()
    capsys.readouterr()
    assert cli_main(["train", "--csv", str(csv), "--target", "high_incom"]) == 2
    assert "did you mean 'high_income'" in capsys.readouterr().err
    assert cli_main(["predict", "--run-dir", str(tmp_path / "absent"), "--csv", str(csv)]) == 2
    assert "train --help" in capsys.readouterr().err


def test_cli_help_documents_every_command(capsys):
    for command in ("train", "lr-find", "predict", "export", "write-gss"):
        with pytest.raises(SystemExit) as exit_info:
            cli_main([command, "--help"])
        assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--csv", "--target", "--cat", "--cont", "--lr-find", "--lr-max", "--y-range",
                 "--out", "--name", "--run-dir", "--log-dir", "--seed", "--export-root",
                 "example:"):
        assert flag in text


def test_cli_resume_needs_an_interrupted_run_and_says_so(trained, tmp_path, capsys):
    _, df, _ = trained
    csv = tmp_path / "gss.csv"
    df.iloc[:300].to_csv(csv, index=False)
    base = ["train", "--csv", str(csv), "--target", "high_income", "--run-dir",
            str(tmp_path / "run"), "--epochs", "1", "--quiet", "--no-export"]
    assert cli_main(base + ["--resume"]) == 2
    assert "no interrupted run" in capsys.readouterr().err
    (tmp_path / "run" / "checkpoint" / "latest").mkdir(parents=True)
    assert cli_main(base) == 2
    assert "add --resume" in capsys.readouterr().err
