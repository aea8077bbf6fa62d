"""Tabular app: SavedModel export served without dlkeras, save/load, and the CLI."""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.tabular.__main__ import main as cli_main  # noqa: E402
from apps.tabular.frames import raw_inputs  # noqa: E402
from apps.tabular.gss import load_gss_wages  # noqa: E402
from apps.tabular.learner import TabularLearner  # noqa: E402
from dlkeras.export import run_without_dlkeras  # noqa: E402

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
    learn = TabularLearner.from_df(df, "high_income", batch_size=256, layers=[32, 16])
    learn.fit_one_cycle(2, lr_max=1e-2)
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
    assert json.loads((path / "assets.extra" / "roles.json").read_text())["task"] == "binary"
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
    again = TabularLearner.load(tmp / "model")
    rows = serving_rows(df)
    np.testing.assert_allclose(again.predict(rows), learn.predict(rows), atol=1e-6)
    with pytest.raises(KeyError, match="'prestg10'"):
        again.predict(rows.drop(columns=["prestg10"]))
    with pytest.raises(TypeError, match="'age'"):
        again.predict(rows.assign(age="thirty"))
    with pytest.raises(FileNotFoundError, match="model.keras not found"):
        TabularLearner.load(tmp)


def test_cli_train_predict_export(trained, tmp_path, capsys):
    _, df, _ = trained
    csv = tmp_path / "gss.csv"
    df.iloc[:1500].to_csv(csv, index=False)
    model_dir, out = tmp_path / "model", tmp_path / "pred.csv"
    cli_main(["train", "--csv", str(csv), "--target", "high_income", "--cat", "occrecode",
              "wrkstat", "gender", "educcat", "maritalcat", "year", "--cont", "age", "prestg10",
              "childs", "--epochs", "1", "--batch-size", "128", "--layers", "16",
              "--model-dir", str(model_dir), "--verbose", "0", "--log-dir", str(tmp_path / "tb")])
    assert '"val_accuracy"' in capsys.readouterr().out
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    cli_main(["predict", "--csv", str(csv), "--model-dir", str(model_dir), "--out", str(out)])
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["p_0", "p_1", "high_income"]
    assert len(predictions) == 1500
    np.testing.assert_allclose(predictions[["p_0", "p_1"]].sum(axis=1), 1.0, atol=1e-5)
    cli_main(["export", "--model-dir", str(model_dir), "--name", "cli", "--root",
              str(tmp_path / "sm")])
    assert (tmp_path / "sm" / "cli" / "1" / "saved_model.pb").exists()
    with pytest.raises(SystemExit, match="'nope'"):
        cli_main(["train", "--csv", str(csv), "--target", "nope", "--model-dir", str(model_dir)])
    with pytest.raises(SystemExit, match="does not exist"):
        cli_main(["predict", "--csv", str(tmp_path / "absent.csv"), "--model-dir", str(model_dir)])


def test_cli_help_documents_every_command(capsys):
    for command in ("train", "predict", "export", "write-gss"):
        with pytest.raises(SystemExit) as exit_info:
            cli_main([command, "--help"])
        assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--csv", "--target", "--cat", "--cont", "--lr-find", "--y-range", "--out",
                 "--name", "--model-dir", "--log-dir"):
        assert flag in text
