"""CPU cost of the dlkeras machinery against plain `fit`, with a confidence interval.

Plain: Keras Adam at a constant rate. dlkeras: one-cycle learning rates and
momentum, three discriminative layer groups (one `ScheduledAdam` each) and
the hyper-parameter logger. Same model, data, batch size and seed.

Every run is a fresh Python process. Runs come in rounds: one run of each
variant per round, in an order that rotates from round to round, so drift
in the machine's load counts against no variant. The measure is the
process CPU seconds of the fit's steady epochs (the first epoch, which
traces, is left out) per step, and, apart, of the whole fit. Each round
gives a paired ratio `variant / plain - 1`; the table shows their mean with
a 95 % t-interval and a 95 % bootstrap interval of the mean.

`--compare ROOT` adds the dlkeras machinery of another checkout (e.g. `main`)
as one more variant, measured in the same rounds: before/after in one run.

Run: `python benchmarks/overhead.py --rounds 6` (prints a table).
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [("mlp", 1), ("mlp", 32), ("cnn", 1), ("cnn", 32)]


def mlp(keras):
    inputs = keras.Input((32,))
    x = keras.layers.Dense(128, activation="relu", name="early")(inputs)
    x = keras.layers.Dense(128, activation="relu", name="middle")(x)
    outputs = keras.layers.Dense(10, name="head")(x)
    return keras.Model(inputs, outputs), ["middle", "head"]


def cnn(keras):
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


def fit_cpu(kind, machinery, steps_per_execution, epochs, batch_size, steps):
    """Trains once; returns the fit's CPU and wall seconds, whole and per steady epoch."""
    import keras

    import dlkeras

    keras.utils.set_random_seed(0)
    model, boundaries = (mlp if kind == "mlp" else cnn)(keras)
    marks = []
    callbacks = [keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: marks.append((time.process_time(), time.perf_counter())),
        on_train_end=lambda logs: marks.append((time.process_time(), time.perf_counter())))]
    if machinery:
        groups = dlkeras.LayerGroups.split(model, boundaries, names=["early", "middle", "head"])
        optimizer = dlkeras.discriminative_optimizer(groups, dlkeras.ScheduledAdam())
        callbacks += [dlkeras.OneCycle((1e-4, 1e-3)), dlkeras.HyperparameterLogger()]
    else:
        optimizer = keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(True),
                  steps_per_execution=steps_per_execution)
    x, y = data(kind, steps * batch_size)
    start = time.process_time(), time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks)
    end = time.process_time(), time.perf_counter()
    steady = (marks[-1][0] - marks[1][0]) / ((epochs - 1) * steps)
    return {"fit_cpu_s": end[0] - start[0], "fit_wall_s": end[1] - start[1],
            "steady_cpu_per_step": steady,
            "steady_wall_per_step": (marks[-1][1] - marks[1][1]) / ((epochs - 1) * steps)}


def run_fresh(root, kind, machinery, spe, args):
    """`fit_cpu` in a new Python process whose `dlkeras` is the one under `root`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=root)
    steps = args.mlp_steps if kind == "mlp" else args.cnn_steps
    code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            "import overhead; print('RESULT', json.dumps(overhead.fit_cpu("
            f"{kind!r}, {machinery}, {spe}, {args.epochs}, {args.batch_size}, {steps})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=root, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} machinery={machinery} root={root} failed:\n{done.stderr[-3000:]}")
    line = [item for item in done.stdout.splitlines() if item.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def intervals(ratios, seed=0, draws=10000):
    """Mean of paired ratios, its 95 % t-interval and 95 % bootstrap interval."""
    from scipy import stats

    ratios = np.asarray(ratios, "float64")
    mean = float(ratios.mean())
    if len(ratios) < 2:
        return mean, (float("nan"),) * 2, (float("nan"),) * 2
    half = stats.t.ppf(0.975, len(ratios) - 1) * ratios.std(ddof=1) / np.sqrt(len(ratios))
    rng = np.random.RandomState(seed)
    means = ratios[rng.randint(0, len(ratios), size=(draws, len(ratios)))].mean(axis=1)
    return mean, (mean - half, mean + half), tuple(np.percentile(means, [2.5, 97.5]))


def measure_row(kind, spe, variants, args):
    """Rounds of fresh runs, one per variant, rotating the order; returns raw results."""
    results = {name: [] for name, _, _ in variants}
    for index in range(args.rounds):
        shift = index % len(variants)
        for name, root, machinery in variants[shift:] + variants[:shift]:
            results[name].append(run_fresh(root, kind, machinery, spe, args))
    return results


def row_lines(kind, spe, results):
    plain = results["plain"]
    lines = []
    for name, runs in results.items():
        if name == "plain":
            continue
        cells = []
        for key in ("steady_cpu_per_step", "fit_cpu_s"):
            ratios = [r[key] / p[key] - 1 for r, p in zip(runs, plain)]
            mean, t_ci, boot = intervals(ratios)
            cells.append(f"{mean:+.2%} [{t_ci[0]:+.2%}, {t_ci[1]:+.2%}] "
                         f"[{boot[0]:+.2%}, {boot[1]:+.2%}]")
        step_ms = 1e3 * float(np.median([p["steady_cpu_per_step"] for p in plain]))
        lines.append(f"| {kind} | {spe} | {name} | {len(runs)} | {step_ms:.3f} | "
                     + " | ".join(cells) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="fresh runs per variant and row")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mlp-steps", type=int, default=1024, help="steps per MLP epoch")
    parser.add_argument("--cnn-steps", type=int, default=192, help="steps per CNN epoch")
    parser.add_argument("--rows", nargs="*", default=[f"{k}-{s}" for k, s in ROWS],
                        help="rows as kind-steps_per_execution, e.g. mlp-1 cnn-32")
    parser.add_argument("--compare", nargs="*", default=[],
                        help="other checkouts whose dlkeras machinery is measured too")
    parser.add_argument("--json", help="also write the raw runs to this file")
    args = parser.parse_args()
    variants = [("plain", ROOT, False), ("dlkeras", ROOT, True)]
    variants += [(f"dlkeras@{os.path.basename(os.path.normpath(r))}", os.path.abspath(r), True)
                 for r in args.compare]
    print("Paired ratio variant / plain - 1: mean [95 % t-interval] [95 % bootstrap]")
    print("| model | spe | variant | rounds | plain CPU ms/step | steady CPU per step | whole-fit CPU |")
    print("|---|---|---|---|---|---|---|", flush=True)
    raw = {}
    for row in args.rows:
        kind, spe = row.split("-")
        results = measure_row(kind, int(spe), variants, args)
        raw[row] = results
        print("\n".join(row_lines(kind, int(spe), results)), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(raw, handle, indent=1)


if __name__ == "__main__":
    main()
