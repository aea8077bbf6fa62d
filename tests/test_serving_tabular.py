"""Tabular serving contract, checked in a fresh process without dlkeras (issue 12).

`inf` is refused naming the column (it used to give NaN probabilities with a
confident label), columns of different lengths are named (they failed in
ConcatOp), an empty batch gives empty outputs, NaN stays the missing value,
and a tensor of another dtype is refused.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.tabular.task import TabularTask  # noqa: E402

from fresh_process import run_without_dlkeras  # noqa: E402

SERVE = r"""
import json, sys
import numpy as np, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
report = {}
def attempt(case, **columns):
    try:
        out = serve(**columns)
        report[case] = {key: value.numpy().tolist() for key, value in out.items()}
        report[case]["label"] = [s.decode() for s in out["label"].numpy()]
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
        report[case] = {"error": type(error).__name__ + ": " + str(error)}
s = lambda *v: tf.constant(list(v), tf.string)
f = lambda *v: tf.constant(list(v), tf.float32)
attempt("valid", shop=s("a", "zz", ""), x=f(0.5, np.nan, -1.0), z=f(1.0, 2.0, 3.0))
attempt("inf", shop=s("a", "b"), x=f(0.5, np.inf), z=f(1.0, 2.0))
attempt("minus_inf", shop=s("a", "b"), x=f(0.5, 1.0), z=f(-np.inf, 2.0))
attempt("lengths", shop=s("a", "b", "c"), x=f(0.5, 1.0), z=f(1.0, 2.0, 3.0))
attempt("empty", shop=s(), x=f(), z=f())
attempt("huge", shop=s("a"), x=f(3e38), z=f(-3e38))
attempt("float64", shop=s("a"), x=tf.constant([0.5], tf.float64), z=f(1.0))
attempt("numpy_float64_overflow", shop=s("a"), x=np.array([1e300]), z=f(1.0))
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"shop": rng.choice(list("abc"), 200), "x": rng.normal(size=200),
                          "z": rng.normal(size=200)})
    frame["y"] = ((frame["shop"] == "a") ^ (frame["x"] > 0)).astype(int)
    keras.utils.set_random_seed(0)
    task = TabularTask.from_frame(frame, "y", layers=[8], batch_size=32)
    path = task.export("contract", root=tmp_path_factory.mktemp("saved_models"))
    done = run_without_dlkeras(f"import sys; sys.argv = ['s', {str(path)!r}]\n" + SERVE)
    assert done.returncode == 0, done.stderr[-3000:]
    return task, json.loads(done.stdout.strip().splitlines()[-1])


def test_valid_rows_match_the_in_memory_model(exported):
    task, report = exported
    rows = pd.DataFrame({"shop": ["a", "zz", None], "x": [0.5, np.nan, -1.0], "z": [1.0, 2.0, 3.0]})
    expected = task.predict(rows)
    np.testing.assert_allclose(report["valid"]["probabilities"], expected, atol=1e-5)
    assert report["valid"]["label"] == [task.roles.classes[i] for i in expected.argmax(axis=1)]


@pytest.mark.parametrize("case, column, detail", [
    ("inf", "x", "holds 1 infinite value(s), the first at row 1"),
    ("minus_inf", "z", "holds 1 infinite value(s), the first at row 0"),
    ("numpy_float64_overflow", "x", "holds 1 infinite value(s), the first at row 0"),
    ("lengths", "x", "has 2 rows but column shop has 3"),
])
def test_infinite_values_and_ragged_columns_are_refused_by_name(exported, case, column, detail):
    error = exported[1][case].get("error", "")
    assert error.startswith("InvalidArgumentError") and f"column {column} {detail}" in error, \
        exported[1][case]


def test_empty_batch_gives_empty_outputs(exported):
    assert exported[1]["empty"] == {"probabilities": [], "label": []}


def test_extreme_finite_values_never_give_a_label_for_nan(exported):
    outcome = exported[1]["huge"]
    if "error" in outcome:
        assert "outputs are not finite" in outcome["error"]
    else:
        assert np.isfinite(outcome["probabilities"]).all()


def test_a_tensor_of_another_dtype_is_refused(exported):
    assert "expected to be a float tensor but is a double tensor" in exported[1]["float64"]["error"]
