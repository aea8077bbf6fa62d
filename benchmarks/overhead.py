"""Steps/s of plain `fit` against `fit` with the whole dlkeras machinery.

Plain: Keras Adam at a constant rate. dlkeras: one-cycle learning rates and
momentum, three discriminative layer groups (one `ScheduledAdam` each) and
the hyper-parameter logger. Same model, data, batch size and seed. Each
configuration trains `--epochs` epochs; the first epoch (tracing) is left
out, and the rate is taken from the median epoch time over `--repeats`
runs whose order alternates (plain first, then dlkeras first), so that
warm-up and noise from other processes count against neither side.

Run: `python benchmarks/overhead.py` (prints a table; takes a few minutes).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import dlkeras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import call_in_subprocess, epoch_timer  # noqa: E402


def mlp():
    inputs = keras.Input((32,))
    x = keras.layers.Dense(128, activation="relu", name="early")(inputs)
    x = keras.layers.Dense(128, activation="relu", name="middle")(x)
    outputs = keras.layers.Dense(10, name="head")(x)
    return keras.Model(inputs, outputs), ["middle", "head"]


def cnn():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3, activation="relu", name="early")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="middle")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, name="head")(x)
    return keras.Model(inputs, outputs), ["middle", "head"]


def data(kind, n):
    rng = np.random.RandomState(0)
    shape = (n, 32) if kind == "mlp" else (n, 28, 28, 1)
    return rng.normal(size=shape).astype("float32"), rng.randint(0, 10, size=n)


def steady_epoch_times(kind, machinery, steps_per_execution, epochs, batch_size, n):
    keras.utils.set_random_seed(0)
    model, boundaries = (mlp if kind == "mlp" else cnn)()
    callbacks = [epoch_timer()]
    if machinery:
        groups = dlkeras.LayerGroups.split(model, boundaries, names=["early", "middle", "head"])
        optimizer = dlkeras.discriminative_optimizer(groups, dlkeras.ScheduledAdam())
        callbacks += [dlkeras.OneCycle((1e-4, 1e-3)), dlkeras.HyperparameterLogger()]
    else:
        optimizer = keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(True),
                  steps_per_execution=steps_per_execution)
    x, y = data(kind, n)
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks)
    return callbacks[0].times[1:], callbacks[0].cpu_times[1:]


def measure_in_fresh_process(kind, machinery, spe, epochs, batch_size, n):
    """Runs one configuration in its own Python process (no state left by earlier runs)."""
    return call_in_subprocess("benchmarks.overhead", "steady_epoch_times", kind, machinery, spe,
                              epochs, batch_size, n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mlp-steps", type=int, default=1500, help="steps per MLP epoch")
    parser.add_argument("--cnn-steps", type=int, default=300, help="steps per CNN epoch")
    args = parser.parse_args()
    print(f"{'model':5} {'spe':>4} {'plain steps/s':>14} {'dlkeras steps/s':>16} "
          f"{'wall overhead':>14} {'CPU overhead':>13}")
    for kind in ("mlp", "cnn"):
        for spe in (1, 32):
            wall, cpu = {False: [], True: []}, {False: [], True: []}
            steps = args.mlp_steps if kind == "mlp" else args.cnn_steps
            for repeat in range(args.repeats):
                order = (False, True) if repeat % 2 == 0 else (True, False)
                for machinery in order:
                    epoch_wall, epoch_cpu = measure_in_fresh_process(
                        kind, machinery, spe, args.epochs, args.batch_size,
                        steps * args.batch_size)
                    wall[machinery] += epoch_wall
                    cpu[machinery] += epoch_cpu
            rate = {m: steps / float(np.median(t)) for m, t in wall.items()}
            cpu_ratio = float(np.median(cpu[True]) / np.median(cpu[False])) - 1
            print(f"{kind:5} {spe:>4} {rate[False]:>14.0f} {rate[True]:>16.0f} "
                  f"{rate[False] / rate[True] - 1:>14.1%} {cpu_ratio:>13.1%}", flush=True)


if __name__ == "__main__":
    main()
