"""Benchmark: TensorFlow's intra-op threads per app, 1 against TensorFlow's default.

Each run is a fresh process (`benchmarks.timing.run_in_subprocess`) that
sets the intra-op thread count before TensorFlow starts
(`dlkeras.cpu_threads.set_cpu_threads`; 0 = TensorFlow's default, one per
core), builds the app's task and trains a one-cycle of 3 epochs. It
reports the first epoch (tracing included) and the median of epochs 2-3.
Runs alternate (for each repeat: every app, every setting, the order
flipped every other repeat), so a change in the machine's load hits both
sides; the table gives medians over repeats. The workloads are
`benchmarks/mixed_precision.py`'s (float32): tabular gss_wages at batch
1024, MovieLens dot at batch 64, EfficientNet-Lite0 at 64 px batch 32,
a text classifier from scratch at batch 64; and `recommender_neural`, the
recommender app's neural model (XLA on) at batch 64, `recommender_1024` (dot
at batch 1024), `tabular_64` and `tabular_512` (the tabular app's default
batch for gss_wages), `image_224` (the image workload at 224 px).

Measured 2026-11-24 on a 2-core AMD EPYC VM (AVX512-BF16, no GPU), quiet
(load 1.1-1.3, the benchmark alone), under the lock; three runs of this
script: the four default apps (~23:36-23:39 UTC, 3 repeats), the recommender
at batch 64 (23:52-23:54, 4 repeats), the batch-size variants (23:54-23:56,
4 repeats). Steady epoch, median, one thread per core / one intra-op thread:

| workload | steps/epoch | default s | 1 thread s | ratio |
|---|---|---|---|---|
| tabular, batch 1024 | 29 | 0.072 | 0.059 | 0.82x |
| tabular, batch 512 (the app's default for gss_wages) | 59 | 0.098 | 0.080 | 0.82x |
| tabular, batch 64 | 473 | 0.344 | 0.343 | 1.00x |
| recommender dot, batch 64 (the app's default), run 1 / run 2 | 1250 | 0.224 / 0.208 | 0.221 / 0.223 | 0.99x / 1.07x |
| recommender dot, batch 1024 | 78 | 0.037 | 0.029 | 0.80x |
| recommender neural (XLA), batch 64 | 1250 | 0.515 | 0.501 | 0.97x |
| image, Lite0 64 px, batch 32 | 8 | 0.759 | 0.707 | 0.93x |
| image, Lite0 224 px, batch 32 (2026-11-25 00:29-00:31 UTC, 2 repeats) | 8 | 7.015 | 8.210 | 1.17x |
| text classifier, batch 64 | 31 | 0.824 | 1.132 | 1.37x |

One thread per op gains a fifth at large batches of these small models and
is neutral at batch 64; the text classifier loses. Hence the defaults: one intra-op thread on the tabular and
recommender command lines, one per core for image (faster at 64 px, slower
at 224 px) and text.

Run: `flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/threads.py`
(`--repeats 3`, `--apps tabular recommender image text`, `--threads 0 1`).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.timing import epoch_timer, run_in_subprocess  # noqa: E402

EPOCHS = 3


def recommender_neural(args):
    """The recommender app's neural model (XLA on, its default), MovieLens, batch 64."""
    from apps.recommender.data import load_movielens
    from apps.recommender.task import RecommenderTask
    from dlkeras.data import random_split_frame

    train, _ = random_split_frame(load_movielens(), 0.2, seed=42)
    if args.ratings:
        train = train.iloc[:args.ratings].reset_index(drop=True)
    task = RecommenderTask.from_ratings(train, kind="neural", n_factors=None, weight_decay=0.1,
                                        y_range=(0.0, 5.5), batch_size=64)
    return task, train, {"lr_max": 5e-3}, len(train) // 64


def tabular_at(batch_size):
    """The tabular workload at another batch size (512: the app's default for gss_wages)."""
    def build(_):
        from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
        from apps.tabular.task import TabularTask
        from dlkeras.data import random_split_frame

        train, _ = random_split_frame(load_gss_wages(), 0.2, seed=42)
        task = TabularTask.from_frame(train, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES,
                                      layers=[200, 100], batch_size=batch_size,
                                      weight_decay=0.01)
        return task, train, {"lr_max": 1e-2}, len(train) // batch_size
    return build


def recommender_at(batch_size):
    """The recommender's dot workload at another batch size."""
    def build(args):
        from apps.recommender.data import load_movielens
        from apps.recommender.task import RecommenderTask
        from dlkeras.data import random_split_frame

        train, _ = random_split_frame(load_movielens(), 0.2, seed=42)
        task = RecommenderTask.from_ratings(train, kind="dot", n_factors=50, weight_decay=0.1,
                                            y_range=(0.0, 5.5), batch_size=batch_size)
        return task, train, {"lr_max": 1e-2}, len(train) // batch_size
    return build


def image_at(size):
    """The image workload (Lite0, random weights, 256 images, batch 32) at another size."""
    def build(_):
        import numpy as np

        from apps.image.data import from_arrays
        from apps.image.task import ImageTask

        rng = np.random.default_rng(0)
        source = from_arrays(rng.integers(0, 256, (256, size, size, 3), dtype=np.uint8),
                             np.arange(256) % 4, class_names=list("abcd"))
        task = ImageTask.from_source(source, "efficientnet_lite0", weights=None, size=size,
                                     hidden_units=128, augment=False, batch_size=32)
        return task, source, {"lr_max": 1e-3}, 256 // 32
    return build


def workloads():
    from benchmarks.mixed_precision import APPS

    return {**APPS, "recommender_neural": recommender_neural, "tabular_64": tabular_at(64),
            "tabular_512": tabular_at(512), "recommender_1024": recommender_at(1024),
            "image_224": image_at(224)}


def child(args):
    """One run in this process: prints the measurements as JSON."""
    from dlkeras.cpu_threads import set_cpu_threads

    set_cpu_threads(intra_op=args.intra_op or None)  # before anything starts TensorFlow
    import keras

    keras.utils.set_random_seed(0)
    task, data, fit_args, steps = workloads()[args.app](args)
    timer = epoch_timer()
    start = time.perf_counter()
    task.fit_one_cycle(data, epochs=EPOCHS, callbacks=[timer], verbose=0, **fit_args)
    fit_s = time.perf_counter() - start
    print(json.dumps({"app": args.app, "intra_op": args.intra_op, "epoch_s": timer.times,
                      "fit_s": fit_s, "steady_epoch_s": statistics.median(timer.times[1:]),
                      "steps": steps, "load": os.getloadavg()[0]}))


def table(results, apps, settings):
    names = ["default" if s == 0 else f"{s} thread" for s in settings]
    lines = [f"{'app':12s} {'steps/epoch':>11s}  " + "  ".join(
        f"{n + ' steady s':>16s} {n + ' fit s':>13s}" for n in names) + "  steady ratio"]
    for app in apps:
        cells, steady = [], []
        for setting in settings:
            runs = [r for r in results if r["app"] == app and r["intra_op"] == setting]
            if not runs:
                break
            steady.append(statistics.median(r["steady_epoch_s"] for r in runs))
            fit = statistics.median(r["fit_s"] for r in runs)
            cells.append(f"{steady[-1]:16.3f} {fit:13.2f}")
        if len(steady) != len(settings):
            continue
        steps = next(r["steps"] for r in results if r["app"] == app)
        ratio = " ".join(f"{s / steady[0]:.2f}x" for s in steady[1:])
        lines.append(f"{app:12s} {steps:11d}  " + "  ".join(cells) + f"  {ratio}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--apps", nargs="*", default=["tabular", "recommender", "image", "text"])
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1],
                        help="intra-op thread counts to compare (0: TensorFlow's default)")
    parser.add_argument("--ratings", type=int, default=0, help="recommender ratings (0: all)")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--app")
    parser.add_argument("--intra-op", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"load average before: {open('/proc/loadavg').read().strip()}", flush=True)
    results, start = [], time.perf_counter()
    for repeat in range(args.repeats):
        settings = args.threads if repeat % 2 == 0 else args.threads[::-1]
        for app in args.apps:
            for setting in settings:
                result = run_in_subprocess(os.path.abspath(__file__), [
                    "--app", app, "--intra-op", setting, "--ratings", args.ratings])
                results.append(result)
                print(f"repeat {repeat} {app:12s} intra-op {setting}: epochs "
                      f"{[round(t, 3) for t in result['epoch_s']]} load {result['load']:.2f}",
                      flush=True)
    print(f"load average after: {open('/proc/loadavg').read().strip()}; "
          f"{time.perf_counter() - start:.0f} s\n")
    print(table(results, args.apps, args.threads))


if __name__ == "__main__":
    main()
