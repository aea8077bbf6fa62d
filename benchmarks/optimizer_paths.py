"""CPU time per steady epoch: ScheduledAdamW's fused update path against Keras' per-op path.

Two small models where the optimizer's per-op overhead matters: a
tabular-like network (six categorical columns through embedding tables,
three continuous columns through BatchNorm, two Dense-ReLU-BN-Dropout
blocks, a sigmoid head; fastai's tabular model) and the tiny CNN of
`benchmarks/overhead.py`. Each trains with `OneCycle` (learning rate and
momentum schedules) and `ScheduledAdamW(weight_decay=0.01)`, once with
`fused=True` and once with `fused=False`; plain `keras.optimizers.AdamW` at a
constant rate is listed as a reference. Every run is a fresh process; runs
alternate their order; the first epoch (tracing) is reported apart; the
steady figure is the median CPU time (all threads) over the other epochs of
all repeats.

Run (under the shared lock): `python benchmarks/optimizer_paths.py`.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import dlkeras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import call_in_subprocess, epoch_timer  # noqa: E402

CONFIGS = ("fused", "generic", "keras")
CARDINALITIES = (9, 16, 7, 40, 5, 12)


def tabular_like():
    categorical = keras.Input((len(CARDINALITIES),), dtype="int32")
    continuous = keras.Input((3,))
    embedded = [keras.layers.Flatten()(keras.layers.Embedding(card, min(600, round(1.6 * card ** 0.56)))(
        categorical[:, i:i + 1])) for i, card in enumerate(CARDINALITIES)]
    x = keras.layers.Concatenate()(
        [keras.layers.Dropout(0.05)(keras.layers.Concatenate()(embedded)),
         keras.layers.BatchNormalization()(continuous)])
    for width in (200, 100):
        x = keras.layers.Dense(width, activation="relu")(x)
        x = keras.layers.Dropout(0.1)(keras.layers.BatchNormalization()(x))
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model([categorical, continuous], outputs), "binary_crossentropy"


def tiny_cnn():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)
    return keras.Model(inputs, outputs), keras.losses.SparseCategoricalCrossentropy(True)


def data(kind, n):
    rng = np.random.RandomState(0)
    if kind == "tabular":
        categorical = np.stack([rng.randint(0, c, n) for c in CARDINALITIES], axis=1)
        return [categorical.astype("int32"), rng.normal(size=(n, 3)).astype("float32")], \
            rng.randint(0, 2, n).astype("float32")
    return rng.normal(size=(n, 28, 28, 1)).astype("float32"), rng.randint(0, 10, n)


def epoch_times(kind, config, epochs, batch_size, steps):
    keras.utils.set_random_seed(0)
    model, loss = (tabular_like if kind == "tabular" else tiny_cnn)()
    timer = epoch_timer()
    callbacks = [timer]
    if config == "keras":
        optimizer = keras.optimizers.AdamW(1e-3, weight_decay=0.01)
    else:
        optimizer = dlkeras.ScheduledAdamW(1e-3, weight_decay=0.01, fused=config == "fused")
        callbacks.append(dlkeras.OneCycle(1e-3))
    model.compile(optimizer=optimizer, loss=loss)
    x, y = data(kind, steps * batch_size)
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks)
    return {"wall": timer.times, "cpu": timer.cpu_times}


def optimizer_step_times(kind, config, steps, repeats=5):
    """CPU seconds of `steps` optimizer steps alone (a traced `apply`, fixed dense gradients)."""
    keras.utils.set_random_seed(0)
    model, _ = (tabular_like if kind == "tabular" else tiny_cnn)()
    variables = model.trainable_variables
    if config == "keras":
        optimizer = keras.optimizers.AdamW(1e-3, weight_decay=0.01)
    else:
        optimizer = dlkeras.ScheduledAdamW(
            dlkeras.OneCycleSchedule(1e-3, 10 * steps), beta_1=dlkeras.OneCycleMomentum(10 * steps),
            weight_decay=0.01, fused=config == "fused")
    grads = [keras.ops.convert_to_tensor(np.full(v.shape, 1e-3, "float32")) for v in variables]
    step = tf.function(lambda: optimizer.apply(grads, variables))
    start = time.process_time()
    step()  # traces and optimizes the graph
    trace = time.process_time() - start
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(steps):
            step()
        times.append(time.process_time() - start)
    return {"cpu": times, "trace": trace, "variables": len(variables)}


def in_fresh_process(*args, function="epoch_times"):
    return call_in_subprocess("benchmarks.optimizer_paths", function, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tabular-steps", type=int, default=400)
    parser.add_argument("--cnn-steps", type=int, default=100)
    parser.add_argument("--optimizer-steps", type=int, default=500)
    args = parser.parse_args()
    print("Optimizer step alone (traced apply, dense gradients), medians: "
          "CPU ms per step | CPU s of the first call (tracing)")
    for kind in ("tabular", "cnn"):
        cpu, trace = {c: [] for c in CONFIGS}, {c: [] for c in CONFIGS}
        for repeat in range(args.repeats):
            for config in (CONFIGS if repeat % 2 == 0 else tuple(reversed(CONFIGS))):
                result = in_fresh_process(kind, config, args.optimizer_steps,
                                          function="optimizer_step_times")
                cpu[config] += [t / args.optimizer_steps * 1000 for t in result["cpu"]]
                trace[config].append(result["trace"])
        line = "  ".join(f"{c} {np.median(cpu[c]):.3f} | {np.median(trace[c]):.2f}"
                         for c in CONFIGS)
        print(f"  {kind:8} ({result['variables']} variables): {line}", flush=True)
    print(f"\n{'model':8} {'path':8} {'first epoch CPU s':>18} {'steady epoch CPU s':>19} "
          f"{'steady ms/step':>15} {'vs generic':>11}")
    for kind in ("tabular", "cnn"):
        steps = args.tabular_steps if kind == "tabular" else args.cnn_steps
        first, steady = {c: [] for c in CONFIGS}, {c: [] for c in CONFIGS}
        for repeat in range(args.repeats):
            order = CONFIGS if repeat % 2 == 0 else tuple(reversed(CONFIGS))
            for config in order:
                times = in_fresh_process(kind, config, args.epochs, args.batch_size, steps)
                first[config].append(times["cpu"][0])
                steady[config] += times["cpu"][1:]
        generic = float(np.median(steady["generic"]))
        for config in CONFIGS:
            median = float(np.median(steady[config]))
            print(f"{kind:8} {config:8} {np.median(first[config]):>18.2f} {median:>19.2f} "
                  f"{1000 * median / steps:>15.2f} {median / generic - 1:>+11.1%}", flush=True)


if __name__ == "__main__":
    main()
