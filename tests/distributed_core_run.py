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

import keras  # noqa: E402
import numpy as np  # noqa: E402

import dlkeras  # noqa: E402
from dlkeras.distribute import replica_count  # noqa: E402

GLOBAL_BATCH = 16
FIT = {"batch_size": GLOBAL_BATCH, "shuffle": False, "verbose": 0}


def data():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (np.tanh(x) @ rng.normal(size=(4, 1)) + 0.1).astype("float32")
    return x, y


def two_group_model(base_optimizer):
    """Dense 'body' -> Dense 'head', groups split there, compiled discriminatively."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="tanh", name="body")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
    groups = dlkeras.LayerGroups.split(model, ["head"], names=["body", "head"])
    model.compile(optimizer=dlkeras.discriminative_optimizer(groups, base_optimizer), loss="mse")
    return model, groups


def weights(model):
    return {v.path: v.numpy() for v in model.weights}


def run_lr_find(model, groups, x, y):
    before = weights(model)
    finder = dlkeras.lr_find(model, x, y, total_steps=12, start_lr=1e-4, end_lr=1.0, **FIT)
    after = weights(model)
    changed = max(float(np.max(np.abs(after[k] - before[k]))) for k in before)
    return {"lrs": np.array(finder.lrs), "losses": np.array(finder.raw_losses),
            "restore_error": np.array(changed),
            **{f"initial/{path}": value for path, value in before.items()}}


def run_one_cycle(model, groups, x, y):
    history = dlkeras.fit_one_cycle(model, x, y, epochs=2, lr_max=(1e-3, 1e-2), **FIT)
    return {**weights(model), "loss": np.array(history.history["loss"]),
            "lr/body": np.array(history.history["lr/body"]),
            "momentum/head": np.array(history.history["momentum/head"])}


def run_fine_tune(model, groups, x, y):
    histories = dlkeras.fine_tune(model, x, y, epochs=1, layer_groups=groups, lr_max=1e-2, **FIT)
    return {**weights(model), "loss": np.array([h.history["loss"][-1] for h in histories])}


def run_gradual(model, groups, x, y):
    callbacks = [dlkeras.OneCycle(1e-2), dlkeras.GradualUnfreezing(groups),
                 dlkeras.HyperparameterLogger()]
    history = model.fit(x, y, epochs=2, callbacks=callbacks, **FIT)
    return {**weights(model), "loss": np.array(history.history["loss"]),
            "lr/head": np.array(history.history["lr/head"])}


def embedding_model(base_optimizer):
    """Ids -> Embedding 'table' -> Dense 'head': the table gets tf.IndexedSlices gradients."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,), dtype="int32")
    rows = keras.layers.Embedding(20, 4, name="table")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(keras.layers.Flatten()(rows)))
    model.compile(optimizer=base_optimizer, loss="mse")
    return model, None


def run_sparse(model, groups, x, y):
    ids = (np.abs(x[:, :1]) * 7).astype("int32") % 12  # rows 12..19 are never looked up
    initial = model.get_layer("table").embeddings.numpy()
    history = dlkeras.fit_one_cycle(model, ids, y, epochs=2, lr_max=1e-2, **FIT)
    return {**weights(model), "loss": np.array(history.history["loss"]), "initial_table": initial}


RECIPES = {
    "lr_find": (run_lr_find, lambda: dlkeras.ScheduledAdamW(weight_decay=0.01)),
    "one_cycle": (run_one_cycle, lambda: dlkeras.ScheduledAdamW(weight_decay=0.01)),
    "fine_tune": (run_fine_tune, lambda: dlkeras.ScheduledAdamW(weight_decay=0.01)),
    "gradual": (run_gradual, lambda: dlkeras.ScheduledSGD(momentum=0.9)),
    "sparse": (run_sparse, lambda: dlkeras.ScheduledAdam(sparse_updates=True)),  # no decay: lazy rows stay
}
MODELS = {"sparse": embedding_model}


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
