"""Benchmark: how much of each app's training epoch waits on its input pipeline.

Issue 14 (part 2) asks for input pipelines that never stall, with the
input-bound fraction measured. For each app, one fresh process builds the
task the way the app does, runs `lr_find` (which sizes
`steps_per_execution="auto"`, as in `benchmarks/vs_fastai.py`), then trains
one-epoch `fit_one_cycle` calls on two streams of the same batches,
alternating, the order swapping every pair:

- `pipeline`: the task's own training stream (`task.dataset(..., training=True)`:
  encoding, shuffling, augmentation, batching, prefetch, as every fit runs it);
- `in memory`: the same number of batches, taken once from that stream and
  held in memory (stacked into tensors, so reading one costs a slice).

Each fit runs `--epochs` (4) epochs, as a fit does, so the stream's
iterator starts once per fit. Per pair, `input-bound fraction = 1 -
in_memory / pipeline` of the steady epoch (the median of epochs 2 on, wall
seconds): the time an epoch spends on input that the steps do not hide
(the median over pairs, with the lowest and highest pair). On 2 cores the
pipeline's threads also compete with the step's own, so this counts both
stalls and that competition. The first epoch is shown apart (it holds the
iterator's start). Also printed: the pipeline alone (an epoch of batches
without training, after one warm pass, the iterator's start excluded).

Apps (each in its own process, `timing.call_in_subprocess`):
- `tabular-1024`, `tabular-64`: gss_wages, the app's split, layers [200, 100];
- `collab-dot-1024`: MovieLens dot model, the recommender's defaults;
- `image`: MNIST-5k, 1,024 training digits, the demo's EfficientNet-Lite0 at
  64 px, batch 32, the app's augmentation (rotation, zoom and contrast; no
  flips for digits); the whole network trains (the unfrozen phase).

Run (heavy: hold the shared lock; ~5 min):
    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/input_bound.py

Measured 2026-11-24 20:50-20:55 UTC on the 2-core AMD EPYC VM (AVX512-BF16,
no GPU) running nothing else (1-minute load 0.47 before, 1.82 after: the
benchmark's own threads), under the lock, 6 pairs of 4-epoch fits (image:
3 pairs), medians:

| app | steps/epoch (per call) | steady epoch s, pipeline / in memory | input-bound fraction, median [min, max] | first epoch s, pipeline / in memory | pipeline alone s/epoch |
|---|---|---|---|---|---|
| tabular-1024 | 29 (29) | 0.113 / 0.110 | +1.8 % [-7.0, +5.9] | 0.136 / 0.122 | 0.006 |
| tabular-64 | 473 (43) | 0.238 / 0.243 | -1.6 % [-14.5, +7.1] | 0.260 / 0.245 | 0.069 |
| collab-dot-1024 | 78 (78) | 0.058 / 0.057 | +4.5 % [-15.3, +14.7] | 0.081 / 0.061 | 0.013 |
| image | 32 (1) | 5.462 / 5.220 | +6.1 % [-3.3, +8.9] | 5.487 / 5.249 | 0.153 |

(Measured before 493d4c3: `auto` now keeps one step a call for fits too
short to pay for tracing a bigger call, so tabular-1024's 4-epoch fits here
run one step a call, not 29.)

Reading: the tabular and recommender streams do not hold up the steps;
their steady epochs are within the pair-to-pair spread of the in-memory
ones (every interval spans 0). What they cost is the start of the
stream's iterator, once per fit: 15-20 ms (the first epochs' gap; about
15 ms for the iterator and first batch in a direct timing, against 1 ms
for the in-memory dataset; not the data's size: a 2,000-row table took
as long), ~1-2 % of a 5-epoch batch-1024 fit. The image stream costs ~6 %
of the Lite0 epoch: not stalls (alone it serves an epoch in 0.15 s, 35x
faster than the steps take it) but its CPU on the cores the step uses:
~0.29 CPU-s an epoch, 0.21 of them the augmentation (rotation and zoom as
one projective transform, contrast) and 0.08 the per-image resize to
64 px (a direct timing of the stream alone, the same evening). An earlier
version of this benchmark timed one-epoch fits and so charged every epoch
the iterator's start (13 % and 25 % for tabular-1024 and collab-dot-1024);
fits of several epochs pay it once.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from timing import call_in_subprocess  # noqa: E402

CONFIGS = ("tabular-1024", "tabular-64", "collab-dot-1024", "image")


def _task(config):
    """`(task, training data, lr_max)` as the app builds them."""
    import keras

    from dlkeras.data import random_split_frame

    keras.utils.set_random_seed(0)
    if config.startswith("tabular"):
        from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
        from apps.tabular.task import TabularTask

        train, _ = random_split_frame(load_gss_wages(), 0.2, seed=42)
        task = TabularTask.from_frame(train, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES,
                                      layers=[200, 100], batch_size=int(config.split("-")[1]),
                                      weight_decay=0.01, steps_per_execution="auto")
        return task, train, 1e-2
    if config.startswith("collab"):
        from apps.recommender.data import load_movielens
        from apps.recommender.task import RecommenderTask

        train, _ = random_split_frame(load_movielens(), 0.2, seed=42)
        task = RecommenderTask.from_ratings(train, weight_decay=0.1, y_range=(0.0, 5.5),
                                            batch_size=1024, kind="dot", n_factors=50,
                                            steps_per_execution=64)
        return task, train, 1e-2
    import numpy as np

    from apps.image import data, datasets
    from apps.image.task import ImageTask

    images, labels, names = datasets.load_mnist_5k()
    order = np.random.RandomState(0).permutation(len(images))[:1024]
    source = data.from_arrays(images, labels, class_names=names).subset(np.sort(order))
    task = ImageTask.from_source(source, "efficientnet_lite0", weights="imagenet", size=64,
                                 hidden_units=256, dropout=0.25, flip=False, batch_size=32)
    return task, source, 1e-3


def _in_memory(dataset, steps):
    """`steps` batches of `dataset`, held in memory, as an endless dataset."""
    import tensorflow as tf

    batches = list(dataset.take(steps))
    try:
        stacked = tf.nest.map_structure(lambda *parts: tf.stack(parts), *batches)
        held = tf.data.Dataset.from_tensor_slices(stacked)
    except (ValueError, tf.errors.InvalidArgumentError):  # batches of different shapes
        held = tf.data.Dataset.from_generator(lambda: iter(batches),
                                              output_signature=dataset.element_spec)
        held = held.cache()
    return held.repeat().prefetch(2)


def measure(config: str, pairs: int, epochs: int) -> dict:
    """One app in this process: lr_find, then alternating `epochs`-epoch fits on both streams."""
    import keras

    from dlkeras.data import BatchStream

    task, train, lr_max = _task(config)
    stream = task.dataset(train, training=True, seed=0)
    steps = stream.steps_per_epoch
    task.lr_find(stream, verbose=0)
    held = _in_memory(stream.dataset(), steps)
    streams = {"pipeline": stream, "in_memory": BatchStream(lambda start: held, steps)}
    marks = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: marks.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: marks.append(time.perf_counter()))
    for name in streams:  # warm: traces (once) and the first calls of each stream
        task.fit_one_cycle(streams[name], epochs=1, lr_max=lr_max, verbose=0)
    first, steady = {name: [] for name in streams}, {name: [] for name in streams}
    for index in range(pairs):
        for name in (("pipeline", "in_memory") if index % 2 == 0 else ("in_memory", "pipeline")):
            marks.clear()
            task.fit_one_cycle(streams[name], epochs=epochs, lr_max=lr_max, verbose=0,
                               callbacks=[timer])
            times = [end - begin for begin, end in zip(marks[::2], marks[1::2])]
            first[name].append(times[0])
            steady[name].append(statistics.median(times[1:]))
    alone = []
    for _ in range(4):  # the pipeline without training (the first pass warms it)
        iterator = iter(stream.dataset())
        next(iterator)  # the iterator's start, timed apart (once per fit)
        start = time.perf_counter()
        for _batch in range(steps):
            next(iterator)
        alone.append(time.perf_counter() - start)
    return {"config": config, "steps_per_epoch": steps, "epochs": epochs,
            "steps_per_execution": int(task.network.steps_per_execution),
            "pipeline_steady_s": steady["pipeline"], "in_memory_steady_s": steady["in_memory"],
            "pipeline_first_s": first["pipeline"], "in_memory_first_s": first["in_memory"],
            "pipeline_alone_s": statistics.median(alone[1:]),
            "fractions": [1 - m / p for p, m in zip(steady["pipeline"], steady["in_memory"])],
            "load": os.getloadavg()[0]}


def table(results) -> str:
    lines = ["| app | steps/epoch (per call) | steady epoch s, pipeline / in memory | "
             "input-bound fraction, median [min, max] | first epoch s, pipeline / in memory | "
             "pipeline alone s/epoch |",
             "|---|---|---|---|---|---|"]
    for r in results:
        f = r["fractions"]
        median = statistics.median
        lines.append(
            f"| {r['config']} | {r['steps_per_epoch']} ({r['steps_per_execution']}) | "
            f"{median(r['pipeline_steady_s']):.3f} / {median(r['in_memory_steady_s']):.3f} | "
            f"{100 * median(f):+.1f} % [{100 * min(f):+.1f}, {100 * max(f):+.1f}] | "
            f"{median(r['pipeline_first_s']):.3f} / {median(r['in_memory_first_s']):.3f} | "
            f"{r['pipeline_alone_s']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--pairs", type=int, default=6, help="alternated fit pairs per app "
                        "(the image app: half as many)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit (steady = 2nd on)")
    args = parser.parse_args(argv)
    results = []
    for config in args.configs:
        pairs = max(1, args.pairs // 2) if config == "image" else args.pairs
        result = call_in_subprocess("benchmarks.input_bound", "measure", config, pairs,
                                    args.epochs)
        print(f"{config}: steady epoch pipeline {statistics.median(result['pipeline_steady_s']):.3f}"
              f" s, in memory {statistics.median(result['in_memory_steady_s']):.3f} s, "
              f"load {result['load']:.2f}", flush=True)
        results.append(result)
    print(table(results))


if __name__ == "__main__":
    main()
