"""Tabular app, training: known answers on synthetic frames, a gss_wages slice."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, load_gss_wages  # noqa: E402
from apps.tabular.interpret import (  # noqa: E402
    nearest_categories,
    permutation_importance,
    plot_embedding_projection,
    project_2d,
)
from apps.tabular.task import TabularTask  # noqa: E402
from dlkeras.data import random_split  # noqa: E402


def split(frame, valid_pct=0.2, seed=42):
    train, valid = random_split(len(frame), valid_pct, seed)
    return frame.iloc[train].reset_index(drop=True), frame.iloc[valid].reset_index(drop=True)


def rule_frame(n=3000, seed=0):
    """y = shop in {a, b} XOR (x > 0); `noise` is irrelevant; 10 % of x missing."""
    rng = np.random.default_rng(seed)
    shop = rng.choice(list("abcd"), n)
    x = rng.normal(size=n)
    y = (np.isin(shop, ["a", "b"]) ^ (x > 0)).astype(int)
    x[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"shop": shop, "x": x, "noise": rng.normal(size=n), "y": y})


@pytest.mark.parametrize("steps_per_execution, jit_compile", [(1, False), (4, False), (1, True)])
def test_binary_rule_is_learned(steps_per_execution, jit_compile):
    keras.utils.set_random_seed(0)
    train, valid = split(rule_frame())
    learn = TabularTask.from_frame(train, "y", batch_size=128, layers=[32],
                                   steps_per_execution=steps_per_execution,
                                   jit_compile=jit_compile)
    history = learn.fit_one_cycle(train, epochs=6, lr_max=2e-2, validation_data=valid, verbose=0)
    # Rows with x missing are guessed at median x: ~half of those 10 % wrong.
    assert history.history["val_accuracy"][-1] > 0.9
    assert history.history["lr"][-1] < 1e-5  # the one-cycle schedule ran to its end
    probabilities = learn.predict(pd.DataFrame({"shop": ["a", "a", "c", "zz"],
                                                "x": [2.0, -2.0, 2.0, np.nan],
                                                "noise": [0.0] * 4}))
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert probabilities[0, 0] > 0.8 and probabilities[1, 1] > 0.8 and probabilities[2, 1] > 0.8


def test_lr_find_restores_weights_and_suggests():
    keras.utils.set_random_seed(1)
    train, _ = split(rule_frame(1200))
    learn = TabularTask.from_frame(train, "y", batch_size=64, layers=[16], steps_per_execution=4)
    before = [w.copy() for w in learn.network.get_weights()]
    finder = learn.lr_find(train, total_steps=100, verbose=0)
    assert finder.suggestion is not None, finder.no_suggestion_reason
    assert 1e-7 <= finder.suggestion <= 10.0 and len(finder.lrs) >= 10
    for old, new in zip(before, learn.network.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert learn.network.steps_per_execution == 4


def test_regression_with_y_range_and_multi_target():
    rng = np.random.default_rng(2)
    n = 2000
    df = pd.DataFrame({"kind": rng.choice(["p", "q"], n), "x": rng.uniform(-1, 1, n)})
    offset = np.where(df["kind"] == "p", 1.0, 3.0)
    df["y"] = offset + df["x"]
    df["z"] = 2 * df["x"]
    keras.utils.set_random_seed(2)
    train, valid = split(df)
    single = TabularTask.from_frame(train[["kind", "x", "y"]], "y", batch_size=100, layers=[32],
                                    y_range=(-1.0, 5.0))
    history = single.fit_one_cycle(train, epochs=6, lr_max=2e-2, validation_data=valid,
                                   verbose=0)
    assert history.history["val_rmse"][-1] < 0.2  # target std is ~1.2
    out = single.predict(pd.DataFrame({"kind": ["p", "q"], "x": [0.5, -0.5]}))
    np.testing.assert_allclose(out[:, 0], [1.5, 2.5], atol=0.35)
    multi = TabularTask.from_frame(train, ["y", "z"], batch_size=100, layers=[32])
    assert multi.roles.task == "regression"
    multi.fit_one_cycle(train, epochs=6, lr_max=2e-2, verbose=0)
    frame = multi.predict_frame(df.iloc[:3])
    assert list(frame.columns) == ["row", "y", "z"]
    np.testing.assert_allclose(frame["z"], df["z"].iloc[:3], atol=0.5)


def test_multiclass_labels_and_evaluate():
    rng = np.random.default_rng(3)
    n = 2400
    colour = rng.choice(["red", "green", "blue"], n)
    df = pd.DataFrame({"colour": colour, "w": rng.normal(size=n),
                       "label": pd.Series(colour).map({"red": "r", "green": "g", "blue": "b"})})
    keras.utils.set_random_seed(3)
    train, valid = split(df)
    learn = TabularTask.from_frame(train, "label", batch_size=128, layers=[16])
    learn.fit_one_cycle(train, epochs=4, lr_max=2e-2, verbose=0)
    assert learn.roles.classes == ["b", "g", "r"]
    assert learn.evaluate(valid)["accuracy"] > 0.99
    predicted = learn.predict_frame(pd.DataFrame({"colour": ["green", "red"], "w": [0.0, 0.0]}))
    assert predicted["label"].tolist() == ["g", "r"]


@pytest.fixture(scope="module")
def gss_learner():
    df = load_gss_wages().iloc[:6000].reset_index(drop=True)
    keras.utils.set_random_seed(0)
    train, valid = split(df)
    learn = TabularTask.from_frame(train, "high_income", GSS_CAT_NAMES, GSS_CONT_NAMES,
                                   batch_size=256)
    history = learn.fit_one_cycle(train, epochs=3, lr_max=1e-2, validation_data=valid, verbose=0)
    return learn, history, valid


def test_gss_slice_trains_and_explains(gss_learner, tmp_path):
    learn, history, valid_df = gss_learner
    assert history.history["val_accuracy"][-1] > 0.72  # majority class is ~0.5
    importance = permutation_importance(learn, valid_df, n_repeats=1)
    assert sorted(importance.index) == sorted(GSS_CAT_NAMES + GSS_CONT_NAMES)
    # Income depends on work status far more than on the number of children.
    assert importance["wrkstat"] > importance["childs"]
    near = nearest_categories(learn, "educcat", "Graduate", k=3)
    assert len(near) == 3 and "Graduate" not in near["category"].tolist()
    assert near["cosine"].is_monotonic_decreasing
    figure = plot_embedding_projection(learn, "occrecode", log_dir=tmp_path / "tb")
    assert len(figure.axes[0].texts) == 11  # one label per occupation group
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_project_2d_recovers_known_directions():
    points = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [2.0, 1.0, 0.0], [2.0, -1.0, 0.0]])
    projected = project_2d(points)
    np.testing.assert_allclose(np.abs(projected[:, 0]), [2.0, 2.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(np.abs(projected[:, 1]), [0.0, 0.0, 1.0, 1.0], atol=1e-6)


def test_interrupted_training_resumes_to_the_uninterrupted_weights(tmp_path):
    train, valid = split(rule_frame(800))

    def trained(checkpoint_dir, crash_after_epoch=None):
        keras.utils.set_random_seed(4)
        task = TabularTask.from_frame(train, "y", batch_size=64, layers=[16], ps=0.1)
        crash = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: (
            _ for _ in ()).throw(KeyboardInterrupt) if epoch == crash_after_epoch else None)
        task.fit_one_cycle(train, epochs=3, lr_max=1e-2, validation_data=valid, seed=1,
                           checkpoint_dir=checkpoint_dir, checkpoint_every=4,
                           callbacks=[crash], verbose=0)
        return task.network.get_weights()

    reference = trained(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        trained(tmp_path / "b", crash_after_epoch=1)
    for expected, got in zip(reference, trained(tmp_path / "b")):
        np.testing.assert_array_equal(got, expected)
