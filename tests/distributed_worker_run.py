"""One worker of a `MultiWorkerMirroredStrategy` run of the core recipes.

Started twice by `tests/test_distributed_multiworker.py`, each time with its
own `TF_CONFIG` (a 2-worker cluster on 127.0.0.1). Usage:

    TF_CONFIG=... python tests/distributed_worker_run.py OUT_DIR RECIPE [RECIPE ...]

Without `TF_CONFIG` it runs on one device (the reference). Each worker
writes `OUT_DIR/<worker index>.npz`: per recipe, the weights and what the
recipe logged (`<recipe>/<name>`), and the number of replicas.
"""

import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The strategy must exist before TensorFlow runs anything else.
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

keras.config.disable_traceback_filtering()
STRATEGY = (tf.distribute.MultiWorkerMirroredStrategy() if os.environ.get("TF_CONFIG")
            else tf.distribute.get_strategy())

import numpy as np  # noqa: E402
from distributed_recipes import RECIPES, data, two_group_model  # noqa: E402

from dlkeras.distribute import replica_count  # noqa: E402


def main(out, recipes):
    x, y = data()
    results = {}
    for recipe in recipes:
        run, make_optimizer = RECIPES[recipe]
        with STRATEGY.scope():
            model, groups = two_group_model(make_optimizer())
        for key, value in run(model, groups, x, y).items():
            results[f"{recipe}/{key}"] = value
        results[f"{recipe}/replicas"] = np.array(replica_count(model))
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    index = config["task"]["index"] if config else "single"
    np.savez(pathlib.Path(out) / f"{index}.npz", **results)
    print(f"worker {index} done: {sorted(results)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
