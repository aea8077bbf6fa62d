"""`--strategy mirrored` end to end: the tabular app on 2 logical CPUs equals one device.

Both commands run in one subprocess (`distributed_cli_run.py`, which
configures the logical devices before TensorFlow starts), with the same
seed and global batch. The tabular network has BatchNormalization layers;
under a strategy with several replicas the Task synchronizes them
(`dlkeras.distribute.synchronize_batch_norm`), so both runs compute the
same thing up to float32 summation order (measured: see the tolerance).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

from dlkeras.tasks import Task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "tests", "distributed_cli_run.py")


def rule_csv(path, n=320, seed=0):
    rng = np.random.default_rng(seed)
    shop = rng.choice(list("abcd"), n)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"shop": shop, "x": x, "noise": rng.normal(size=n),
                          "y": (np.isin(shop, ["a", "b"]) ^ (x > 0)).astype(int)})
    frame.to_csv(path, index=False)
    return path


def test_tabular_train_under_mirrored_equals_one_device(tmp_path):
    csv = rule_csv(tmp_path / "rule.csv")
    common = ["train", "--csv", str(csv), "--target", "y", "--cat", "shop", "--cont", "x", "noise",
              "--layers", "8", "--epochs", "2", "--batch-size", "32", "--lr-max", "0.02",
              "--seed", "0", "--quiet", "--export-root", str(tmp_path / "saved")]
    runs = {name: tmp_path / name for name in ("default", "mirrored")}
    argv = [json.dumps(common + ["--strategy", "default", "--run-dir", str(runs["default"]),
                                 "--no-export"]),
            json.dumps(common + ["--strategy", "mirrored", "--run-dir", str(runs["mirrored"])])]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, RUN, "tabular", *argv], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "over 2 replica(s); --strategy mirrored" in done.stdout
    assert "SavedModel:" in done.stdout  # exported (and reload-checked) under the strategy

    single, mirrored = (Task.load(runs[name], compile=False) for name in ("default", "mirrored"))
    pairs = list(zip(single.network.weights, mirrored.network.weights))
    assert [a.path for a, _ in pairs] == [b.path for _, b in pairs]
    for a, b in pairs:
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
    metrics = [json.loads((runs[name] / "metrics.json").read_text()) for name in runs]
    np.testing.assert_allclose(metrics[1]["loss"], metrics[0]["loss"], rtol=1e-4)
    assert metrics[0]["accuracy"] > 0.6  # it trained


def test_a_demo_that_ignores_the_strategy_refuses_it(capsys):
    from apps.cli import app_named, main

    assert main(app_named("text"), ["demo", "--strategy", "mirrored"]) == 2
    assert "does not support --strategy mirrored" in capsys.readouterr().err
    assert app_named("image").demo_runs_train  # the image demo is `train`: it honours it


def test_strategy_names_and_the_chief():
    import pytest
    import tensorflow as tf

    from dlkeras.distribute import create_strategy, is_chief

    assert create_strategy("default") is tf.distribute.get_strategy()
    assert is_chief() and is_chief(tf.distribute.get_strategy())
    with pytest.raises(ValueError, match=r"Received: strategy='mirror'"):
        create_strategy("mirror")


def test_several_steps_per_call_under_a_strategy_is_refused_clearly():
    """Keras 3.15.1 fails obscurely there (keras-team/keras#19246): say so first."""
    import keras
    import pytest
    import tensorflow as tf

    import dlkeras

    x = np.random.RandomState(0).normal(size=(32, 2)).astype("float32")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=dlkeras.ScheduledAdamW(), loss="mse", steps_per_execution=4)
    with pytest.raises(ValueError, match=r"steps_per_execution=4 under OneDeviceStrategy"):
        dlkeras.fit_one_cycle(model, x, x[:, :1], epochs=1, lr_max=1e-2, verbose=0)
