"""Steps/s of plain `fit` against `fit` with the whole dlkeras machinery.

Plain: Keras Adam at a constant rate. dlkeras: one-cycle learning rates and
momentum, three discriminative layer groups (one `ScheduledAdam` each) and
the hyper-parameter logger. Same model, data, batch size and seed. Each
configuration trains `--epochs` epochs; the first epoch (tracing) is left
out of the rate, and the best of `--repeats` alternating runs is kept, so
that noise from other processes counts against neither side.

Run: `python benchmarks/overhead.py` (prints a table; takes a few minutes).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import dlkeras  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


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


def steps_per_second(kind, machinery, steps_per_execution, epochs, batch_size, n):
    keras.utils.set_random_seed(0)
    model, boundaries = (mlp if kind == "mlp" else cnn)()
    callbacks = [EpochTimer()]
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
    steps = n // batch_size
    return steps * (epochs - 1) / sum(callbacks[0].times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mlp-steps", type=int, default=1500, help="steps per MLP epoch")
    parser.add_argument("--cnn-steps", type=int, default=300, help="steps per CNN epoch")
    args = parser.parse_args()
    print(f"{'model':5} {'spe':>4} {'plain steps/s':>14} {'dlkeras steps/s':>16} {'overhead':>9}")
    for kind in ("mlp", "cnn"):
        for spe in (1, 32):
            best = {False: 0.0, True: 0.0}
            for _ in range(args.repeats):
                for machinery in (False, True):
                    steps = args.mlp_steps if kind == "mlp" else args.cnn_steps
                    rate = steps_per_second(kind, machinery, spe, args.epochs,
                                            args.batch_size, steps * args.batch_size)
                    best[machinery] = max(best[machinery], rate)
            overhead = best[False] / best[True] - 1
            print(f"{kind:5} {spe:>4} {best[False]:>14.0f} {best[True]:>16.0f} {overhead:>8.1%}",
                  flush=True)


if __name__ == "__main__":
    main()
