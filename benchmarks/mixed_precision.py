"""Benchmark: steady epoch time per app, float32 against mixed_bfloat16 (issue 12, item 7).

Each run is a fresh process (`benchmarks.timing.run_in_subprocess`) that
sets the global dtype policy, builds the app's task, trains a one-cycle of
3 epochs and reports the median of epochs 2-3 (epoch 1 holds the tracing).
Runs alternate (for each repeat: every app, every policy), so a change in
the machine's load hits both sides; the table gives medians over repeats.

Workloads (real data where the project has it offline):
- tabular: gss_wages (`load_gss_wages`, 80 % of the rows), layers [200, 100],
  batch 1024 (the tabular benchmark's settings);
- recommender: MovieLens dot model, 50 factors, batch 64, the benchmark's
  80 % training split (`--ratings N`: its first N ratings only);
- image: EfficientNet-Lite0 (random weights) at 64 px, 256 random images,
  batch 32, no augmentation (the model's compute only), all layers trained;
- text: a classifier from scratch on 2,000 Rotten Tomatoes snippets
  (vocabulary 2,000, embedding 64, hidden 128, 2 layers, 64 tokens, batch
  64); float32 runs its matrix products in float32 (`matmul_dtype`), the
  mixed run in bfloat16; `text_default` is the app's default (float32
  policy, bfloat16 products).

`--ops` times single operations instead (forward, in a `tf.function`,
float32 against bfloat16 inputs): where a mixed policy gains or loses.

Run: `flock /tmp/dlkeras-heavy.lock python benchmarks/mixed_precision.py`
(`--repeats 3`, `--apps tabular recommender image text`).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.timing import epoch_timer, run_in_subprocess  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16")
EPOCHS = 3


def tabular(_):
    from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
    from apps.tabular.task import TabularTask
    from dlkeras.data import random_split_frame

    train, _ = random_split_frame(load_gss_wages(), 0.2, seed=42)
    task = TabularTask.from_frame(train, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES,
                                  layers=[200, 100], batch_size=1024, weight_decay=0.01)
    return task, train, {"lr_max": 1e-2}, len(train) // 1024


def recommender(args):
    from apps.recommender.data import load_movielens
    from apps.recommender.task import RecommenderTask
    from dlkeras.data import random_split_frame

    train, _ = random_split_frame(load_movielens(), 0.2, seed=42)
    if args.ratings:
        train = train.iloc[:args.ratings].reset_index(drop=True)
    task = RecommenderTask.from_ratings(train, kind="dot", n_factors=50, weight_decay=0.1,
                                        y_range=(0.0, 5.5), batch_size=64)
    return task, train, {"lr_max": 5e-3}, len(train) // 64


def image(_):
    import numpy as np

    from apps.image.data import from_arrays
    from apps.image.task import ImageTask

    rng = np.random.default_rng(0)
    source = from_arrays(rng.integers(0, 256, (256, 64, 64, 3), dtype=np.uint8),
                         np.arange(256) % 4, class_names=list("abcd"))
    task = ImageTask.from_source(source, "efficientnet_lite0", weights=None, size=64,
                                 hidden_units=128, augment=False, batch_size=32)
    return task, source, {"lr_max": 1e-3}, 256 // 32


def text(args, matmul_dtype=None):
    import keras

    from apps.text.classifier_task import TextClassifierTask
    from apps.text.datasets import load_rotten_tomatoes
    from apps.text.tokenizer import learn_vocabulary

    frame = load_rotten_tomatoes().iloc[:2000]
    vocabulary = learn_vocabulary(frame["text"], max_size=2000, min_frequency=2)
    if matmul_dtype is None:
        mixed = keras.config.dtype_policy().name == "mixed_bfloat16"
        matmul_dtype = "bfloat16" if mixed else "float32"
    task = TextClassifierTask.create(vocabulary, ["neg", "pos"], embedding_dim=64,
                                     hidden_units=128, layers=2, matmul_dtype=matmul_dtype,
                                     batch_size=64, max_tokens=64)
    return task, (list(frame["text"]), list(frame["label"])), {"lr_max": 1e-3}, 2000 // 64


APPS = {"tabular": tabular, "recommender": recommender, "image": image, "text": text,
        "text_default": lambda args: text(args, matmul_dtype="bfloat16")}


def child(args):
    """One run in this process: prints the measurements as JSON."""
    import json

    import keras

    keras.mixed_precision.set_global_policy(args.policy)
    keras.utils.set_random_seed(0)
    task, data, fit_args, steps = APPS[args.app](args)
    timer = epoch_timer()
    task.fit_one_cycle(data, epochs=EPOCHS, callbacks=[timer], verbose=0, **fit_args)
    compute = sorted({layer.compute_dtype for layer in task.network.layers if layer.weights})
    print(json.dumps({"app": args.app, "policy": args.policy, "epoch_s": timer.times,
                      "steady_epoch_s": statistics.median(timer.times[1:]), "steps": steps,
                      "compute_dtypes": compute, "load": os.getloadavg()[0]}))


def op_speeds(repeats=2):
    """Forward time of single ops, float32 against bfloat16, alternating; prints a line per op."""
    import tensorflow as tf

    def timed(function, inputs, calls=20):
        function(*inputs)
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(calls):
                function(*inputs)
            runs.append((time.perf_counter() - start) / calls * 1e3)
        return statistics.median(runs)

    normal = tf.random.normal
    ops = {  # name: (function, input shapes)
        "matmul 256x1024 @ 1024x1024": (tf.matmul, [[256, 1024], [1024, 1024]]),
        "conv2d 32x32x32x64, 3x3 -> 64": (lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"),
                                          [[32, 32, 32, 64], [3, 3, 64, 64]]),
        "depthwise 32x32x32x96, 3x3": (
            lambda x, k: tf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], "SAME"),
            [[32, 32, 32, 96], [3, 3, 96, 1]]),
        "relu6(x) + x, 32x32x32x96": (lambda x: tf.nn.relu6(x) + x, [[32, 32, 32, 96]]),
    }
    for name, (function, shapes) in ops.items():
        times = {"float32": [], "bfloat16": []}
        for _ in range(repeats):
            for dtype in times:
                inputs = [normal(shape, dtype=dtype) for shape in shapes]
                times[dtype].append(timed(tf.function(function), inputs))
        f32, bf16 = (statistics.median(times[d]) for d in times)
        print(f"{name:32s} float32 {f32:7.2f} ms  bfloat16 {bf16:7.2f} ms  {f32 / bf16:5.2f}x")


def table(results, apps):
    lines = [f"{'app':13s} {'steps/epoch':>11s} {'float32 s':>10s} {'bf16 s':>8s} "
             f"{'speed-up':>8s}  runs (float32 | mixed_bfloat16)"]
    for app in apps:
        runs = {p: [r["steady_epoch_s"] for r in results if r["app"] == app and r["policy"] == p]
                for p in POLICIES}
        if not all(runs.values()):
            continue
        f32, bf16 = (statistics.median(runs[p]) for p in POLICIES)
        steps = next(r["steps"] for r in results if r["app"] == app)
        shown = " | ".join(" ".join(f"{t:.2f}" for t in runs[p]) for p in POLICIES)
        lines.append(f"{app:13s} {steps:11d} {f32:10.2f} {bf16:8.2f} {f32 / bf16:7.2f}x  {shown}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--apps", nargs="*", default=["tabular", "recommender", "image", "text"],
                        choices=sorted(APPS))
    parser.add_argument("--ratings", type=int, default=0, help="recommender ratings (0: all)")
    parser.add_argument("--ops", action="store_true", help="time single ops instead")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--app")
    parser.add_argument("--policy")
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.ops:
        return op_speeds()
    print(f"load average before: {open('/proc/loadavg').read().strip()}", flush=True)
    results, start = [], time.perf_counter()
    for repeat in range(args.repeats):
        for app in args.apps:
            for policy in POLICIES:
                result = run_in_subprocess(os.path.abspath(__file__), [
                    "--app", app, "--policy", policy, "--ratings", args.ratings])
                results.append(result)
                print(f"repeat {repeat} {app:12s} {policy:15s} epochs "
                      f"{[round(t, 2) for t in result['epoch_s']]} compute {result['compute_dtypes']}"
                      f" load {result['load']:.2f}", flush=True)
    print(f"load average after: {open('/proc/loadavg').read().strip()}; "
          f"{time.perf_counter() - start:.0f} s\n")
    print(table(results, args.apps))


if __name__ == "__main__":
    main()
