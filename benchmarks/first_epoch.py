"""Benchmark: the first epoch's extra cost per app, and what a second `fit_one_cycle` costs.

Issue 14 asks for the first epoch's extra cost measured and reported per
app. For each app this builds its `Task` the way its command line does, on
a small slice of the app's real data, and runs `fit_one_cycle` twice on
the same task (3 epochs each, validation every epoch), in a fresh process
per (app, seed). Reported, medians over seeds:

- `first` / `steady`: the first epoch of the first fit (tracing of the
  train and test steps, TensorFlow's first-call graph optimisation, the
  input pipeline's start) and the median of its other epochs;
- `extra`: first minus steady, the fixed cost a fit pays once;
- `trace train`: the first call of the train function minus a steady one
  (`fixed_costs.CallLog`);
- `second fit first`: the first epoch of the second `fit_one_cycle`, whose
  one-cycle schedules are re-armed (`dlkeras.schedules.CycleClock`) rather
  than installed anew, so Keras does not trace again; `rearmed` says so.

Apps and data: `image` (EfficientNet-Lite0 with its bundled ImageNet
weights, the whole network training, 64x64, 512 MNIST-5k digits, batch 32,
128 validation), `text` (the AWD-LSTM classifier from scratch, 2,048
Rotten Tomatoes training snippets, 512 test snippets, batch 64), `tabular`
(gss_wages, [200, 100], batch 1024, `steps_per_execution="auto"`, as
`fixed_costs.py`), `recommender` (MovieLens dot model, batch 1024).

    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/first_epoch.py

Measured 2026-11-24 01:38-01:47 UTC on the 2-core AMD EPYC VM (no GPU),
nothing else running, under the lock (load 1.2 before, 1.9 after), seeds
0-2, the apps alternating within each seed, medians:

| app | seeds | first epoch s | steady epoch s | extra s | trace train s | trace test s | second fit first epoch s | second fit steady s | rearmed |
|---|---|---|---|---|---|---|---|---|---|
| image | 3 | 12.27 | 3.13 | 9.14 | 8.66 | 0.85 | 3.34 | 2.98 | yes |
| text | 3 | 16.21 | 14.29 | 1.92 | 3.02 | 0.54 | 14.41 | 17.28 | yes |
| tabular | 3 | 0.91 | 0.20 | 0.71 | 0.57 | 0.12 | 0.20 | 0.18 | yes |
| recommender | 3 | 0.73 | 0.08 | 0.65 | 0.46 | 0.16 | 0.09 | 0.08 | yes |

The image app pays the most (Lite0's train step takes ~9 s to trace,
three steady epochs' worth); a second `fit_one_cycle` no longer pays it.
The text app's epochs vary by several seconds from one to the next (13-20
s here), more than its ~3.5 s of tracing, so its `extra` is within noise.

Each app also runs with XLA (`<app>-xla`: `jit_compile=True` set on the
built network), and a second table says what XLA adds to the first epoch,
saves per steady epoch, and after how many epochs of one fit it pays.
2026-11-24 02:47-03:08 UTC, same machine, quiet, under the lock (load
0.8-1.9); tabular and recommender seeds 0-2, image and text seed 0 only
(their XLA runs take 2.5-6 minutes each, and every epoch was slower):

| app | steady epoch s | XLA steady epoch s | XLA speed-up | XLA first epoch extra s | epochs until XLA pays |
|---|---|---|---|---|---|
| image | 3.626 | 33.574 | 0.11x | +51.19 | never |
| text | 18.360 | 35.063 | 0.52x | +237.86 | never |
| tabular | 0.223 | 0.151 | 1.48x | +1.44 | 21 |
| recommender | 0.104 | 0.248 | 0.42x | +1.75 | never |

So every app's default is XLA off, except the neural recommender
(`RecommenderTask`'s `jit_compile=None` picks it by kind); see
`docs/core-api.md`.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from timing import alternating_main, markdown_table  # noqa: E402

APPS = ("image", "text", "tabular", "recommender")
# The same apps with XLA (`jit_compile=True` set on the built network).
VARIANTS = tuple(name for app in APPS for name in (app, f"{app}-xla"))


def build(app: str, seed: int):
    """(task, train, valid, lr_max) for `app`, on a small slice of its real data."""
    import keras
    import numpy as np

    from dlkeras.data import random_split_frame

    keras.utils.set_random_seed(seed)
    if app == "image":
        from apps.image import data, datasets
        from apps.image.task import ImageTask

        images, labels, names = datasets.load_mnist_5k()
        order = np.random.RandomState(42).permutation(len(images))
        source = data.from_arrays(images, labels, class_names=names)
        train, valid = source.subset(order[:512]), source.subset(order[512:640])
        task = ImageTask.from_source(train, size=64, flip=False, batch_size=32, seed=seed)
        return task, train, valid, 1e-3
    if app == "text":
        from apps.text.datasets import rotten_tomatoes_split
        from apps.text.recipe import build_classifier_task

        train, test = rotten_tomatoes_split()
        train, test = train.iloc[:2048], test.iloc[:512]
        task = build_classifier_task(None, ["neg", "pos"], vocabulary_texts=list(train["text"]),
                                     batch_size=64, drop_mult=0.5)
        return task, train, test, 1e-3
    if app == "tabular":
        from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
        from apps.tabular.task import TabularTask

        train, valid = random_split_frame(load_gss_wages(), 0.2, seed=42)
        task = TabularTask.from_frame(train, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES,
                                      layers=[200, 100], batch_size=1024, weight_decay=0.01,
                                      steps_per_execution="auto")
        return task, train, valid, 1e-2
    from apps.recommender.data import load_movielens
    from apps.recommender.task import RecommenderTask

    train, valid = random_split_frame(load_movielens(), 0.2, seed=42)
    task = RecommenderTask.from_ratings(train, weight_decay=0.1, y_range=(0.0, 5.5),
                                        batch_size=1024, kind="dot", n_factors=50,
                                        steps_per_execution=64)
    return task, train, valid, 1e-2


def run(variant: str, seed: int) -> dict:
    """Both fits of `variant` (an app, `-xla` for XLA); a failure under XLA is reported, not raised."""
    app, xla = variant.removesuffix("-xla"), variant.endswith("-xla")
    try:
        return _run(app, xla, seed)
    except Exception as error:  # noqa: BLE001 - XLA may not compile an app's step: say so
        if not xla:
            raise
        return {"app": variant, "seed": seed, "failed": f"{type(error).__name__}: {error}"[:300]}


def _run(app: str, xla: bool, seed: int) -> dict:
    import keras
    from fixed_costs import CallLog

    from dlkeras.callbacks import OneCycle

    task, train, valid, lr_max = build(app, seed)
    if xla:
        task.network.jit_compile = True  # read when the train and test functions are made
    log, epochs = CallLog(task.network), []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(time.perf_counter() - self.start)

    rearmed = []
    original = OneCycle.on_epoch_begin

    def watched(self, epoch, logs=None):
        original(self, epoch, logs)
        rearmed.append(self.rearmed)

    OneCycle.on_epoch_begin = watched
    result = {"app": app + ("-xla" if xla else ""), "seed": seed,
              "jit_compile": bool(task.network.jit_compile)}
    for phase, rate in (("fit", lr_max), ("refit", lr_max / 10)):
        log.phase, epochs[:] = phase, []
        start = time.perf_counter()
        task.fit_one_cycle(train, epochs=3, lr_max=rate, validation_data=valid, seed=seed,
                           callbacks=[Epochs()], verbose=0)
        breakdown = log.breakdown(phase, time.perf_counter() - start)
        result[phase] = {"first_s": epochs[0], "steady_s": statistics.median(epochs[1:]),
                         "trace_train_s": breakdown["trace_train_s"],
                         "trace_test_s": breakdown["trace_test_s"], "wall_s": breakdown["wall_s"]}
    result["rearmed"] = rearmed[-1]
    result["load"] = os.getloadavg()[0]
    return result


def summarise(results: list[dict]) -> str:
    failed = [r for r in results if "failed" in r]
    results = [r for r in results if "failed" not in r]
    rows = []
    for app in dict.fromkeys(r["app"] for r in results):
        runs = [r for r in results if r["app"] == app]
        med = lambda phase, key, runs=runs: statistics.median(r[phase][key] for r in runs)  # noqa: E731
        rows.append([app, len(runs), f"{med('fit', 'first_s'):.2f}", f"{med('fit', 'steady_s'):.2f}",
                     f"{med('fit', 'first_s') - med('fit', 'steady_s'):.2f}",
                     f"{med('fit', 'trace_train_s'):.2f}", f"{med('fit', 'trace_test_s'):.2f}",
                     f"{med('refit', 'first_s'):.2f}", f"{med('refit', 'steady_s'):.2f}",
                     "yes" if all(r["rearmed"] for r in runs) else "no"])
    table = markdown_table(["app", "seeds", "first epoch s", "steady epoch s", "extra s",
                            "trace train s", "trace test s", "second fit first epoch s",
                            "second fit steady s", "rearmed"], rows)
    return "\n\n".join([table, xla_table(results)] + [
        f"{r['app']} seed {r['seed']} failed: {r['failed']}" for r in failed])


def xla_table(results: list[dict]) -> str:
    """Per app with both runs: what XLA adds to the first epoch, saves per steady epoch, and
    after how many epochs of one fit it has paid for itself (medians over seeds)."""
    rows = []
    for app in APPS:
        plain = [r for r in results if r["app"] == app]
        xla = [r for r in results if r["app"] == f"{app}-xla"]
        if not plain or not xla:
            continue
        med = lambda runs, key: statistics.median(r["fit"][key] for r in runs)  # noqa: E731
        extra = med(xla, "first_s") - med(plain, "first_s")
        saved = med(plain, "steady_s") - med(xla, "steady_s")
        pays = f"{math.ceil(1 + extra / saved)}" if saved > 0 else "never"
        rows.append([app, f"{med(plain, 'steady_s'):.3f}", f"{med(xla, 'steady_s'):.3f}",
                     f"{med(plain, 'steady_s') / med(xla, 'steady_s'):.2f}x", f"{extra:+.2f}",
                     pays])
    return markdown_table(["app", "steady epoch s", "XLA steady epoch s", "XLA speed-up",
                           "XLA first epoch extra s", "epochs until XLA pays"], rows)


def main(argv=None):
    alternating_main(argv, __file__, __doc__, "app", VARIANTS, run, summarise)


if __name__ == "__main__":
    main()
