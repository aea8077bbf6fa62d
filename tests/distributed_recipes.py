"""The tiny models and recipe runs the distributed tests compare across strategies.

No side effects at import: the scripts that import it configure devices or
create their strategy first (`distributed_core_run.py`,
`distributed_worker_run.py`). Every run returns a dict of NumPy arrays:
weights by variable path and what the recipe logged.
"""

import keras
import numpy as np

import dlkeras

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
    # No weight decay: it would shrink the rows no batch looks up.
    "sparse": (run_sparse, lambda: dlkeras.ScheduledAdam(sparse_updates=True)),
}
MODELS = {"sparse": embedding_model}


def run_tabular_shards(strategy, folder):
    """The tabular app trained from TFRecord shards (written once, in `folder`)."""
    import os

    import pandas as pd

    from apps.tabular.shards import write_shards
    from apps.tabular.task import TabularTask
    from dlkeras.shards import ShardedTable

    rng = np.random.default_rng(0)
    shop, x = rng.choice(list("abcd"), 512), rng.normal(size=512)
    frame = pd.DataFrame({"shop": shop, "x": x,
                          "y": (np.isin(shop, ["a", "b"]) ^ (x > 0)).astype(int)})
    keras.utils.set_random_seed(0)
    with strategy.scope():
        task = TabularTask.from_frame(frame, "y", layers=[16], batch_size=64)
    if not os.path.exists(folder):
        write_shards(task, frame, folder, rows_per_shard=200)
    history = task.fit_one_cycle(ShardedTable(folder), epochs=2, lr_max=1e-2, verbose=0)
    return {**{v.path: v.numpy() for v in task.network.weights},
            "loss": np.array(history.history["loss"]),
            "eval_loss": np.array(task.evaluate(ShardedTable(folder))["loss"])}
