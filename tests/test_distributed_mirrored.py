"""The core recipes under `MirroredStrategy` (2 logical CPUs) equal the one-device run.

The runs happen in a subprocess (`distributed_core_run.py`): logical devices
must be configured before TensorFlow initialises its devices. Both runs use
the same global batch (16 rows; 8 per replica under the strategy), the same
initial weights and unshuffled data, so the only differences are float32
summation order: measured up to 1.3e-7 relative on weights and losses
(Keras all-reduces the two replicas' gradients of losses scaled by 1/2).
The tolerance below is 1e-5 relative, and a run whose step counter or
schedules went wrong under replication misses it by orders of magnitude:
every recipe moves the weights by more than 1e-3.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import dlkeras  # noqa: F401 - registers the classes the saved model names

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "tests", "distributed_core_run.py")
RTOL, ATOL = 1e-5, 1e-7
RECIPES = ["lr_find", "one_cycle", "fine_tune", "gradual", "sparse"]
WEIGHTS = ["body/kernel", "body/bias", "head/kernel", "head/bias"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, RUN, str(out)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, dict(np.load(out / "results.npz"))


def _pair(results, recipe, key):
    return results[f"default/{recipe}/{key}"], results[f"mirrored/{recipe}/{key}"]


def test_the_strategy_really_had_two_replicas(runs):
    _, results = runs
    for recipe in RECIPES:
        assert _pair(results, recipe, "replicas") == (1, 2)


@pytest.mark.parametrize("recipe", ["one_cycle", "fine_tune", "gradual"])
def test_trained_weights_equal_the_single_device_run(runs, recipe):
    _, results = runs
    moved = 0.0
    for name in WEIGHTS:
        single, mirrored = _pair(results, recipe, name)
        np.testing.assert_allclose(mirrored, single, rtol=RTOL, atol=ATOL, err_msg=name)
        initial = results[f"default/lr_find/initial/{name}"]
        moved = max(moved, float(np.max(np.abs(single - initial))))
    assert moved > 1e-3  # the recipe trained: the tolerance is far below its effect
    single, mirrored = _pair(results, recipe, "loss")
    np.testing.assert_allclose(mirrored, single, rtol=RTOL)


def test_lazy_sparse_adam_updates_the_same_rows(runs):
    """`sparse_updates=True`: the table's gradient is a tf.IndexedSlices, all-reduced."""
    _, results = runs
    for name in ("table/embeddings", "head/kernel", "head/bias"):
        single, mirrored = _pair(results, "sparse", name)
        np.testing.assert_allclose(mirrored, single, rtol=RTOL, atol=ATOL, err_msg=name)
    single, mirrored = _pair(results, "sparse", "table/embeddings")
    np.testing.assert_array_equal(mirrored[12:], single[12:])  # never looked up: untouched
    initial = results["default/sparse/initial_table"]
    np.testing.assert_array_equal(mirrored[12:], initial[12:])
    assert np.max(np.abs(mirrored[:12] - initial[:12])) > 1e-3


def test_tabular_app_trains_from_shards_like_one_device(runs):
    """TFRecord shards streamed through tf.data (preprocessing layers in the pipeline)."""
    _, results = runs
    keys = [k.split("/", 2)[2] for k in results if k.startswith("default/tabular_shards/")]
    assert {"loss", "eval_loss", "head/kernel"} <= set(keys)
    for key in keys:
        single, mirrored = _pair(results, "tabular_shards", key)
        np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("recipe, key", [("one_cycle", "lr/body"), ("one_cycle", "momentum/head"),
                                         ("gradual", "lr/head")])
def test_logged_hyperparameters_follow_the_same_schedule(runs, recipe, key):
    _, results = runs
    single, mirrored = _pair(results, recipe, key)
    np.testing.assert_allclose(mirrored, single, rtol=1e-6)


def test_lr_find_records_the_same_curve_and_restores_the_model(runs):
    _, results = runs
    single, mirrored = _pair(results, "lr_find", "lrs")
    assert len(mirrored) == 12
    np.testing.assert_allclose(mirrored, single, rtol=1e-6)
    single, mirrored = _pair(results, "lr_find", "losses")
    np.testing.assert_allclose(mirrored, single, rtol=RTOL)
    assert _pair(results, "lr_find", "restore_error") == (0.0, 0.0)
    for name in WEIGHTS:  # restored to the initial weights, bit for bit
        np.testing.assert_array_equal(*_pair(results, "lr_find", f"initial/{name}"))


def test_outputs_of_shape_batch_are_refused_under_replicas(runs):
    """Keras 3.15.1 scales their loss wrongly across replicas: a clear error instead."""
    _, results = runs
    assert results["mirrored/rank1_refused"]


def test_a_model_saved_under_the_strategy_reloads_without_it(runs):
    out, _ = runs
    assert not tf.distribute.has_strategy()
    model = keras.saving.load_model(out / "mirrored.keras")
    probe = np.load(out / "probe.npy")
    expected = np.load(out / "mirrored_predictions.npy")
    np.testing.assert_allclose(model.predict(probe, verbose=0), expected, rtol=1e-6, atol=1e-7)
    assert [o.name for o in model.optimizer.optimizers] == ["body", "head"]


def test_a_model_exported_under_the_strategy_serves_the_same(runs):
    out, _ = runs
    loaded = tf.saved_model.load(str(out / "mirrored_export"))  # keep it: it owns the variables
    served = loaded.serve(np.load(out / "probe.npy"))
    expected = np.load(out / "mirrored_predictions.npy")
    np.testing.assert_allclose(served.numpy(), expected, rtol=1e-6, atol=1e-7)
