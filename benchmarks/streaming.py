"""Benchmark: peak memory and throughput of training from shards vs in memory, 1x to 16x data.

Tabular (`--app tabular`): the gss_wages training split (`apps.tabular.gss`,
80 % of 37,887 rows) is the 1x base; Nx repeats it N times, every repeat
after the first with its continuous columns jittered (age +-1, prestige and
children scaled by 1 +- 2 %), so rows differ. The preprocessing
(vocabularies, medians) is fitted on the 1x base in every run. Network
[200, 100], batch 1024.

Image (`--app image`): MNIST-5k (`apps.image.datasets`, 5,000 real digits)
is the 1x base (rows shuffled once: the set is ordered by class); every
repeat after the first is shifted by a random 1-2 pixels. Shards hold PNG
bytes; the network is a 2-layer conv backbone (the pipeline, not a big
backbone, is what is measured) at 28x28, batch 256.

Each measurement runs in a fresh process (`timing.run_in_subprocess`):

- `write`: writes the Nx data as TFRecord shards (`apps.tabular.shards`,
  `apps.image.shards`), one 1x chunk at a time;
- `shards`: trains the app's task (AdamW one-cycle) for 2 epochs from those
  shards (`dlkeras.shards`);
- `memory`: builds the Nx DataFrame / image array and trains the same way
  from memory (the app's usual path).

Reported: peak RSS of the process (MiB), rows/s of the second epoch (the
first includes tracing), and the shard write time. Run under the shared
lock:

    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/streaming.py --app tabular image
    STREAMING_BASE_ROWS=3000 python benchmarks/streaming.py --scales 1 2   # smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import epoch_timer, peak_rss_mib, run_in_subprocess  # noqa: E402

BATCH, LAYERS, EPOCHS = 1024, [200, 100], 2
IMAGE_BATCH, IMAGE_SIZE = 256, 28


def base_frame():
    from apps.tabular.gss import load_gss_wages
    from dlkeras.data import random_split_frame

    base = random_split_frame(load_gss_wages(), 0.2, seed=42)[0]
    limit = int(os.environ.get("STREAMING_BASE_ROWS", "0"))  # a quick smoke run
    return base.iloc[:limit] if limit else base


def jittered(frame, repeat):
    """Repeat `repeat` of the base: the base itself, or it with continuous columns jittered."""
    import numpy as np

    if repeat == 0:
        return frame
    rng = np.random.default_rng(repeat)
    frame = frame.copy()
    frame["age"] = frame["age"] + rng.integers(-1, 2, len(frame))
    for name in ("prestg10", "childs"):
        frame[name] = frame[name] * rng.uniform(0.98, 1.02, len(frame))
    return frame


def make_task(base):
    import keras

    from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET
    from apps.tabular.task import TabularTask

    keras.utils.set_random_seed(0)
    return TabularTask.from_frame(base, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES,
                                  layers=LAYERS, batch_size=BATCH)


def image_repeat(images, labels, repeat):
    """Repeat `repeat` of MNIST-5k as an `ImageSource`: as is, or shifted 1-2 pixels."""
    import numpy as np

    from apps.image.data import from_arrays

    # MNIST-5k is ordered by class; shards are read in block-shuffled file
    # order, so write them shuffled (as one would any sorted source).
    order = np.random.RandomState(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    if repeat:
        shift = np.random.default_rng(repeat).integers(1, 3, 2) * [1, -1]
        images = np.roll(images, tuple(shift), axis=(1, 2))
    return from_arrays(images, labels, class_names=[str(d) for d in range(10)])


def image_task(source):
    import keras

    from apps.image.task import ImageTask
    from dlkeras.layer_groups import LayerGroup

    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    first = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv_1")
    second = keras.layers.Conv2D(32, 3, strides=2, activation="relu", name="conv_2")
    model = keras.Model(inputs, second(first(x)), name="backbone")
    backbone = types.SimpleNamespace(  # what ImageTask reads of a backbone
        name="two_conv", model=model, feature_channels=32, last_conv_layer_name="conv_2",
        body_groups=[LayerGroup("body_early", [first]), LayerGroup("body_late", [second])])
    return ImageTask.from_source(source, backbone, size=IMAGE_SIZE, batch_size=IMAGE_BATCH,
                                 hidden_units=32, augment=False, name="mnist")


def write_data(app, scale, folder):
    if app == "tabular":
        from apps.tabular.shards import write_shards

        base = base_frame()
        return write_shards(make_task(base), (jittered(base, r) for r in range(scale)), folder,
                            rows_per_shard=50_000)
    from apps.image.datasets import load_mnist_5k
    from apps.image.shards import write_shards as write_image_shards

    images, labels, _ = load_mnist_5k()
    return write_image_shards((image_repeat(images, labels, r) for r in range(scale)), folder,
                              rows_per_shard=10_000)


def child_write(app, scale, folder):
    start = time.perf_counter()
    table = write_data(app, scale, folder)
    return {"rows": table.rows, "files": len(table.files), "write_s": time.perf_counter() - start,
            "bytes": sum(os.path.getsize(f) for f in table.files)}


def training_data(app, mode, scale, folder):
    """`(task, data, rows, batch)` for one measurement."""
    import numpy as np
    import pandas as pd

    from dlkeras.shards import ShardedTable

    if app == "tabular":
        base = base_frame()
        task, batch = make_task(base), BATCH

        def memory():
            return pd.concat([jittered(base, r) for r in range(scale)], ignore_index=True)
    else:
        from apps.image.datasets import load_mnist_5k

        images, labels, _ = load_mnist_5k()
        task, batch = image_task(image_repeat(images, labels, 0)), IMAGE_BATCH

        def memory():
            parts = [image_repeat(images, labels, r) for r in range(scale)]
            return image_repeat(np.concatenate([p.images for p in parts]),
                                np.concatenate([p.targets for p in parts]), 0)
    data = ShardedTable(folder) if mode == "shards" else memory()
    return task, data, (data.rows if mode == "shards" else len(data)), batch


def child_train(app, mode, scale, folder):
    task, data, rows, batch = training_data(app, mode, scale, folder)
    timer = epoch_timer()
    history = task.fit_one_cycle(data, epochs=EPOCHS, lr_max=1e-2, callbacks=[timer], verbose=0)
    return {"app": app, "mode": mode, "scale": scale, "rows": rows,
            "peak_rss_mib": peak_rss_mib(), "epoch_s": timer.times,
            "rows_per_s": (rows // batch) * batch / timer.times[-1],
            "loss": history.history["loss"][-1]}


def child(arguments):
    app, kind, scale, folder = arguments[0], arguments[1], int(arguments[2]), arguments[3]
    result = (child_write(app, scale, folder) if kind == "write"
              else child_train(app, kind, scale, folder))
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--work", default="/tmp/dlkeras-streaming-benchmark")
    parser.add_argument("--modes", nargs="+", default=["shards", "memory"])
    parser.add_argument("--app", nargs="+", default=["tabular"], choices=["tabular", "image"])
    args = parser.parse_args()
    with open("/proc/loadavg") as handle:
        load_before = handle.read().split()[0]
    rows = []
    for app in args.app:
        for scale in args.scales:
            folder = os.path.join(args.work, f"{app}-x{scale}")
            shutil.rmtree(folder, ignore_errors=True)
            written = run_in_subprocess(__file__, [app, "write", scale, folder])
            print(f"{app} x{scale}: wrote {written['rows']} rows in {written['files']} files, "
                  f"{written['bytes'] / 2**20:.0f} MiB, {written['write_s']:.1f} s", flush=True)
            for mode in args.modes:
                result = run_in_subprocess(__file__, [app, mode, scale, folder])
                result["write_s"] = written["write_s"]
                rows.append(result)
                print(f"{app} x{scale} {mode:6s}: peak RSS {result['peak_rss_mib']:7.0f} MiB, "
                      f"{result['rows_per_s']:9.0f} rows/s (2nd epoch), "
                      f"epochs {[round(t, 1) for t in result['epoch_s']]} s, "
                      f"loss {result['loss']:.4f}", flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    with open("/proc/loadavg") as handle:
        load_after = handle.read().split()[0]
    print(json.dumps({"load_1min_before": load_before, "load_1min_after": load_after,
                      "runs": rows}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
