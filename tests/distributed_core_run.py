"""Runs the core recipes on one device and under `MirroredStrategy` (2 logical CPUs).

Run in its own process by `tests/test_distributed_mirrored.py`: the logical
devices must be configured before TensorFlow initialises its devices, which
the test process has long done. Usage:

    python tests/distributed_core_run.py OUT_DIR

Writes `OUT_DIR/results.npz` (weights, learning-rate curves, histories per
strategy and recipe, keys `<strategy>/<recipe>/<name>`), a model saved under
the strategy (`mirrored.keras`), its SavedModel export (`mirrored_export/`)
and its predictions on `probe.npy` (`mirrored_predictions.npy`).
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import numpy as np  # noqa: E402
from distributed_recipes import MODELS, RECIPES, data, run_tabular_shards, two_group_model  # noqa: E402

from dlkeras.distribute import replica_count  # noqa: E402


def rank1_output_refused(strategy):
    """Whether fit_one_cycle refuses a (batch,)-shaped output under several replicas."""
    import keras

    import dlkeras

    with strategy.scope():
        inputs = keras.Input((4,))
        outputs = keras.layers.Reshape(())(keras.layers.Dense(1)(inputs))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=dlkeras.ScheduledSGD(), loss="mse")
    x, y = data()
    try:
        dlkeras.fit_one_cycle(model, x, y[:, 0], epochs=1, lr_max=1e-2, batch_size=16, verbose=0)
    except ValueError as error:
        return "shape (batch,)" in str(error)
    return False


def main(out):
    out = pathlib.Path(out)
    x, y = data()
    results, trained = {}, {}
    strategies = {"default": tf.distribute.get_strategy(),
                  "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    for strategy_name, strategy in strategies.items():
        for recipe, (run, make_optimizer) in RECIPES.items():
            start = time.perf_counter()
            with strategy.scope():
                model, groups = MODELS.get(recipe, two_group_model)(make_optimizer())
            for key, value in run(model, groups, x, y).items():
                results[f"{strategy_name}/{recipe}/{key}"] = value
            results[f"{strategy_name}/{recipe}/replicas"] = np.array(replica_count(model))
            trained[recipe] = model
            print(f"{strategy_name}/{recipe}: {time.perf_counter() - start:.1f} s", flush=True)
        for key, value in run_tabular_shards(strategy, str(out / "shards")).items():
            results[f"{strategy_name}/tabular_shards/{key}"] = value
    results["mirrored/rank1_refused"] = np.array(rank1_output_refused(strategies["mirrored"]))
    # Save and export, under the strategy, the model gradual unfreezing trained there.
    model = trained["gradual"]
    probe = np.random.RandomState(1).normal(size=(8, 4)).astype("float32")
    np.save(out / "probe.npy", probe)
    np.save(out / "mirrored_predictions.npy", model.predict(probe, verbose=0))
    model.save(out / "mirrored.keras")
    model.export(str(out / "mirrored_export"), format="tf_saved_model", verbose=False)
    np.savez(out / "results.npz", **results)


if __name__ == "__main__":
    main(sys.argv[1])
