"""Benchmark: peak memory and throughput of training from shards vs in memory, 1x to 16x data.

Data: the gss_wages training split (`apps.tabular.gss`, 80 % of 37,887 rows)
is the 1x base; Nx repeats it N times, every repeat after the first with
its continuous columns jittered (age +-1, prestige and children scaled by
1 +- 2 %), so rows differ. The preprocessing (vocabularies, medians) is
fitted on the 1x base in every run.

Each measurement runs in a fresh process (`timing.run_in_subprocess`):

- `write`: writes the Nx table as TFRecord shards (`apps.tabular.shards`),
  one 1x chunk at a time;
- `shards`: trains the tabular app's network ([200, 100], batch 1024,
  AdamW one-cycle) for 2 epochs from those shards (`dlkeras.shards`);
- `memory`: builds the Nx DataFrame and trains the same way from memory
  (the app's usual path).

Reported: peak RSS of the process (MiB), rows/s of the second epoch (the
first includes tracing), and the shard write time. Run under the shared
lock:

    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/streaming.py
    STREAMING_BASE_ROWS=3000 python benchmarks/streaming.py --scales 1 2   # smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import epoch_timer, peak_rss_mib, run_in_subprocess  # noqa: E402

BATCH, LAYERS, EPOCHS = 1024, [200, 100], 2


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


def child_write(scale, folder):
    from apps.tabular.shards import write_shards

    base = base_frame()
    task = make_task(base)
    start = time.perf_counter()
    table = write_shards(task, (jittered(base, r) for r in range(scale)), folder,
                         rows_per_shard=50_000)
    return {"rows": table.rows, "files": len(table.files), "write_s": time.perf_counter() - start,
            "bytes": sum(os.path.getsize(f) for f in table.files)}


def child_train(mode, scale, folder):
    import pandas as pd

    from dlkeras.shards import ShardedTable

    base = base_frame()
    task = make_task(base)
    if mode == "shards":
        data = ShardedTable(folder)
        rows = data.rows
    else:
        data = pd.concat([jittered(base, r) for r in range(scale)], ignore_index=True)
        rows = len(data)
    timer = epoch_timer()
    history = task.fit_one_cycle(data, epochs=EPOCHS, lr_max=1e-2, callbacks=[timer], verbose=0)
    trained = (rows // BATCH) * BATCH
    return {"mode": mode, "scale": scale, "rows": rows, "peak_rss_mib": peak_rss_mib(),
            "epoch_s": timer.times, "rows_per_s": trained / timer.times[-1],
            "loss": history.history["loss"][-1]}


def child(arguments):
    kind, scale, folder = arguments[0], int(arguments[1]), arguments[2]
    result = child_write(scale, folder) if kind == "write" else child_train(kind, scale, folder)
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--work", default="/tmp/dlkeras-streaming-benchmark")
    parser.add_argument("--modes", nargs="+", default=["shards", "memory"])
    args = parser.parse_args()
    with open("/proc/loadavg") as handle:
        load_before = handle.read().split()[0]
    rows = []
    for scale in args.scales:
        folder = os.path.join(args.work, f"x{scale}")
        shutil.rmtree(folder, ignore_errors=True)
        written = run_in_subprocess(__file__, ["write", scale, folder])
        print(f"x{scale}: wrote {written['rows']} rows in {written['files']} files, "
              f"{written['bytes'] / 2**20:.0f} MiB, {written['write_s']:.1f} s", flush=True)
        for mode in args.modes:
            result = run_in_subprocess(__file__, [mode, scale, folder])
            result["write_s"] = written["write_s"]
            rows.append(result)
            print(f"x{scale} {mode:6s}: peak RSS {result['peak_rss_mib']:7.0f} MiB, "
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
