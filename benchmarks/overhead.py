"""CPU cost of the dlkeras machinery against plain `fit`, with a confidence interval.

Plain: Keras Adam at a constant rate. dlkeras: one-cycle learning rates and
momentum, three discriminative layer groups (one `ScheduledAdam` each) and
the hyper-parameter logger. Same model, data, batch size and seed.

Every measurement is a fresh Python process that builds both models,
trains each one epoch (tracing, schedules installed), then alternates
epochs between them (`--alternations` pairs, the order swapping every
pair), timing the process CPU seconds of each epoch alone. The schedules
stay installed, so later epochs reuse the traced step: the comparison is
the per-step cost of the machinery. A process gives one ratio
`sum(dlkeras epochs) / sum(plain epochs) - 1`; the table shows the mean
over `--rounds` processes with a 95 % t-interval and a 95 % bootstrap
interval, and the same for the first epoch (which traces).

`--compare ROOT` adds the dlkeras machinery of another checkout (e.g. `main`)
as one more variant, its processes taking turns with this checkout's.

Run: `python benchmarks/overhead.py` (prints a table; `--compare ../main` for before/after).
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


def _models(kind, steps, alternations):
    """The plain model and the dlkeras model, compiled alike; the dlkeras callbacks."""
    import keras

    import dlkeras

    built = {}
    for machinery in (False, True):
        keras.utils.set_random_seed(0)
        model, boundaries = (mlp if kind == "mlp" else cnn)(keras)
        callbacks = []
        if machinery:
            groups = dlkeras.LayerGroups.split(model, boundaries, names=["early", "middle", "head"])
            optimizer = dlkeras.discriminative_optimizer(groups, dlkeras.ScheduledAdam())
            # One cycle over every epoch this process trains the model.
            callbacks = [dlkeras.OneCycle((1e-4, 1e-3), total_steps=(alternations + 1) * steps),
                         dlkeras.HyperparameterLogger()]
        else:
            optimizer = keras.optimizers.Adam(1e-3)
        built[machinery] = model, optimizer, callbacks
    return built


def _warm_up(keras):
    """One tiny fit, so neither model pays for the runtime's first start."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)


def fit_cpu(kind, steps_per_execution, batch_size, steps, alternations, plain_first=True):
    """Plain and dlkeras epochs alternating in this process; CPU seconds of each.

    Each model first trains one epoch (tracing, schedules installed: the
    "first epoch" CPU); then `alternations` pairs of epochs, one per model,
    the order swapping every pair. Only the epochs are timed (process CPU
    between `on_epoch_begin` and `on_epoch_end`), not `fit`'s set-up. Later
    `fit` calls reuse the traced step: the schedules stay installed.
    """
    import keras

    x, y = data(kind, steps * batch_size)
    marks = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: marks.append(time.process_time()),
        on_epoch_end=lambda epoch, logs: marks.append(time.process_time()))
    result = {False: [], True: []}
    first = {}
    _warm_up(keras)
    built = _models(kind, steps, alternations)
    for machinery in ((False, True) if plain_first else (True, False)):
        model, optimizer, callbacks = built[machinery]
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(True),
                      steps_per_execution=steps_per_execution)
        start = time.process_time()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[timer, *callbacks])
        first[machinery] = (time.process_time() - start, model, callbacks[1:],
                            model.train_function)
    for index in range(alternations):
        for machinery in ((False, True) if index % 2 == 0 else (True, False)):
            _, model, callbacks, traced = first[machinery]
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0,
                      callbacks=[timer, *callbacks])
            if model.train_function is not traced:
                raise RuntimeError("The train step was rebuilt; the epochs would count tracing.")
            result[machinery].append((marks[-1] - marks[-2]) / steps)
    return {"plain_cpu_per_step": result[False], "dlkeras_cpu_per_step": result[True],
            "plain_first_fit_cpu_s": first[False][0], "dlkeras_first_fit_cpu_s": first[True][0]}


def run_fresh(root, kind, spe, args, plain_first):
    """`fit_cpu` in a new Python process whose `dlkeras` is the one under `root`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=root)
    steps = args.mlp_steps if kind == "mlp" else args.cnn_steps
    code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            "import overhead; print('RESULT', json.dumps(overhead.fit_cpu("
            f"{kind!r}, {spe}, {args.batch_size}, {steps}, {args.alternations}, {plain_first})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=root, check=False)
    if done.returncode:
        raise RuntimeError(f"{kind} spe={spe} root={root} failed:\n{done.stderr[-3000:]}")
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
    """`--rounds` fresh processes per variant, variants taking turns; raw results."""
    results = {name: [] for name, _ in variants}
    for index in range(args.rounds):
        shift = index % len(variants)
        for name, root in variants[shift:] + variants[:shift]:
            results[name].append(run_fresh(root, kind, spe, args, plain_first=index % 2 == 0))
    return results


def row_lines(kind, spe, results):
    """One table line per variant: per-process ratios, their mean and intervals."""
    lines = []
    for name, runs in results.items():
        steady = [np.sum(r["dlkeras_cpu_per_step"]) / np.sum(r["plain_cpu_per_step"]) - 1
                  for r in runs]
        first = [r["dlkeras_first_fit_cpu_s"] / r["plain_first_fit_cpu_s"] - 1 for r in runs]
        cells = []
        for ratios in (steady, first):
            mean, t_ci, boot = intervals(ratios)
            cells.append(f"{mean:+.2%} [{t_ci[0]:+.2%}, {t_ci[1]:+.2%}] "
                         f"[{boot[0]:+.2%}, {boot[1]:+.2%}]")
        step_ms = 1e3 * float(np.median([np.median(r["plain_cpu_per_step"]) for r in runs]))
        lines.append(f"| {kind} | {spe} | {name} | {len(runs)} x {len(runs[0]['plain_cpu_per_step'])} "
                     f"| {step_ms:.3f} | " + " | ".join(cells) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="fresh processes per variant and row")
    parser.add_argument("--alternations", type=int, default=8,
                        help="pairs of epochs (plain, dlkeras) per process")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mlp-steps", type=int, default=384, help="steps per MLP epoch")
    parser.add_argument("--cnn-steps", type=int, default=64, help="steps per CNN epoch")
    parser.add_argument("--rows", nargs="*", default=[f"{k}-{s}" for k, s in ROWS],
                        help="rows as kind-steps_per_execution, e.g. mlp-1 cnn-32")
    parser.add_argument("--compare", nargs="*", default=[],
                        help="other checkouts whose dlkeras machinery is measured too")
    parser.add_argument("--json", help="also write the raw runs to this file")
    args = parser.parse_args()
    variants = [("dlkeras", ROOT)]
    variants += [(f"dlkeras@{os.path.basename(os.path.normpath(r))}", os.path.abspath(r))
                 for r in args.compare]
    print("dlkeras / plain - 1 per process: mean [95 % t-interval] [95 % bootstrap] over processes")
    print("| model | spe | variant | processes x pairs | plain CPU ms/step | steady CPU per step "
          "| first epoch (tracing) CPU |")
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
