"""CPU cost of the dlkeras machinery against plain `fit`, with a confidence interval.

Plain: Keras Adam at a constant rate. dlkeras: one-cycle learning rates and
momentum, three discriminative layer groups (one `ScheduledAdam` each) and
the hyper-parameter logger. Same model, data, batch size and seed.

Every measurement is a fresh Python process that builds both models,
trains each one epoch (tracing, one-cycle schedules installed), then
alternates short `fit` calls of one epoch between them (`--alternations`
pairs, the order swapping every pair), timing the process CPU seconds of
each epoch from before the first callback's `on_epoch_begin` to after the
last callback's `on_epoch_end` (so the logger's epoch work counts). The
schedules stay installed and the traced step is reused (a rebuilt train
function stops the run); `OneCycle`'s re-arming at the start of each
`fit`, and the logger's epoch end, are also timed on their own (CPU ms per
fit and per epoch), so the overhead of other epoch lengths follows.

Why short epochs and many pairs: on this VM one epoch's CPU time varies by
5-10 % from the next one's even when nothing else runs, and the variation
comes in bursts; epochs of about 0.1 s, alternated, put both models in
the same bursts, and hundreds of pairs narrow the interval. Each pair
gives `log(dlkeras / plain)`; the table shows the geometric-mean overhead
over every pair of every process with a 95 % t-interval over the pairs and
a 95 % two-level bootstrap interval (processes resampled, then pairs
within them, so a difference between processes widens it), the mean over
processes of each process's own figure, and a verdict against the 1 %
goal: "yes" when the bootstrap interval's upper end is below +1 %, "no"
when its lower end is above, else "undecided".

`--compare ROOT` adds the dlkeras machinery of another checkout (e.g. `main`)
as one more variant, its processes taking turns with this checkout's.

`--control` adds an A/A variant: a second plain model in the dlkeras model's
place, built, traced and alternated alike, so the method's own bias and noise
show on the same table. 2026-11-25 01:57-02:09 UTC (one thread, 8 processes x
64 pairs, quiet, under the lock): +0.1 % [-0.7, +0.8] at 1 step a call and
-0.3 % [-1.1, +0.5] at 32, against dlkeras' +2.8 % [+2.0, +3.6] and +2.1 %
[+1.2, +3.0] (README, docs/benchmarks.md).

`--intra-op N` runs every process at N TensorFlow intra-op threads
(`TF_NUM_INTRAOP_THREADS`; 1 is the tabular and recommender command lines'
default). MLP rows at one thread, 2026-11-24 ~23:50-23:52 UTC, 2-core AMD EPYC,
quiet, under the lock, 4 processes x 64 pairs, overhead [95 % two-level
bootstrap]: 1 step a call +3.02 % [+2.34, +3.73] (plain 0.92 CPU ms a step),
32 steps a call +2.85 % [+1.82, +4.12] (0.52 ms): not within 1 %, as at one
thread per core (+2.70 % and +2.27 % the same evening, 22:23-22:30 UTC).

Run: `flock /tmp/dlkeras-heavy.lock python benchmarks/overhead.py` (prints a table;
`--compare ../main` for before/after, `--json FILE` keeps every epoch's CPU time).
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


def _models(kind, steps, alternations, control=False):
    """The plain model and the dlkeras model, compiled alike; the dlkeras callbacks.

    `control`: the second model is plain too (same construction order), so the
    pairs measure the method's own bias: an A/A test.
    """
    import keras

    import dlkeras

    built = {}
    for machinery in (False, True):
        keras.utils.set_random_seed(0)
        model, boundaries = (mlp if kind == "mlp" else cnn)(keras)
        callbacks = []
        if machinery and not control:
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


def fit_cpu(kind, steps_per_execution, batch_size, steps, alternations, plain_first=True,
            control=False):
    """Plain and dlkeras epochs alternating in this process; CPU seconds of each.

    Each model first trains one epoch (tracing, one-cycle schedules
    installed: the "first epoch" CPU); then `alternations` pairs of
    one-epoch `fit` calls, one per model, the order swapping every pair,
    the dlkeras one with its logger (the schedules stay installed and run
    inside the traced step; re-arming them is a per-`fit` cost, timed on its
    own below). Only the epochs are timed (process CPU from the first
    callback's `on_epoch_begin` to the last one's `on_epoch_end`), not
    `fit`'s set-up. Then the dlkeras callbacks' own work is timed directly:
    the logger's epoch end and `OneCycle`'s re-arming at the start of a fit
    (CPU ms, mean of 100 calls). `control=True` puts a second plain model in
    the dlkeras model's place (an A/A test of the method; no callback timings).
    """
    import keras

    x, y = data(kind, steps * batch_size)
    marks = []
    begin = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: marks.append(time.process_time()))
    end = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: marks.append(time.process_time()))
    result = {False: [], True: []}
    first = {}
    _warm_up(keras)
    built = _models(kind, steps, alternations, control)
    for machinery in ((False, True) if plain_first else (True, False)):
        model, optimizer, callbacks = built[machinery]
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(True),
                      steps_per_execution=steps_per_execution)
        start = time.process_time()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0,
                  callbacks=[begin, *callbacks, end])
        first[machinery] = (time.process_time() - start, model, callbacks[1:],
                            model.train_function)
    for index in range(alternations):
        for machinery in ((False, True) if index % 2 == 0 else (True, False)):
            _, model, callbacks, traced = first[machinery]
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0,
                      callbacks=[begin, *callbacks, end])
            if model.train_function is not traced:
                raise RuntimeError("The train step was rebuilt; the epochs would count tracing.")
            result[machinery].append((marks[-1] - marks[-2]) / steps)
    timings = {"plain_cpu_per_step": result[False], "dlkeras_cpu_per_step": result[True],
               "plain_first_fit_cpu_s": first[False][0],
               "dlkeras_first_fit_cpu_s": first[True][0],
               "logger_epoch_end_cpu_ms": float("nan"), "one_cycle_rearm_cpu_ms": float("nan")}
    if control:
        return timings
    one_cycle, logger = built[True][2]

    def rearm():
        one_cycle.on_train_begin()
        one_cycle.on_epoch_begin(0)

    timings["logger_epoch_end_cpu_ms"] = _cpu_ms(lambda: logger.on_epoch_end(0, {}))
    timings["one_cycle_rearm_cpu_ms"] = _cpu_ms(rearm)
    return timings


def _cpu_ms(call, repeats=100):
    """Mean process CPU milliseconds of `call()` (after one untimed call)."""
    call()
    start = time.process_time()
    for _ in range(repeats):
        call()
    return 1e3 * (time.process_time() - start) / repeats


def run_fresh(root, kind, spe, args, plain_first, control=False):
    """`fit_cpu` in a new Python process whose `dlkeras` is the one under `root`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=root)
    if args.intra_op:  # TensorFlow reads it when it starts (what dlkeras.set_cpu_threads sets)
        env["TF_NUM_INTRAOP_THREADS"] = str(args.intra_op)
    steps = args.mlp_steps if kind == "mlp" else args.cnn_steps
    code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            "import overhead; print('RESULT', json.dumps(overhead.fit_cpu("
            f"{kind!r}, {spe}, {args.batch_size}, {steps}, {args.alternations}, {plain_first}, "
            f"{control})))")
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


def pair_intervals(log_ratios, seed=0, draws=4000):
    """Overhead over every pair of every process: estimate, t-interval, two-level bootstrap.

    `log_ratios`: one array of `log(dlkeras / plain)` per process. Returns
    `(overhead, t_interval, bootstrap_interval)` as fractions (`exp(mean) - 1`).
    The bootstrap resamples processes, then pairs within each chosen process.
    """
    from scipy import stats

    pooled = np.concatenate(log_ratios)
    mean = float(pooled.mean())
    half = stats.t.ppf(0.975, len(pooled) - 1) * pooled.std(ddof=1) / np.sqrt(len(pooled))
    rng = np.random.RandomState(seed)
    means = np.empty(draws)
    for draw in range(draws):
        chosen = [log_ratios[i] for i in rng.randint(0, len(log_ratios), len(log_ratios))]
        means[draw] = np.concatenate([r[rng.randint(0, len(r), len(r))] for r in chosen]).mean()
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(np.expm1(mean)), (float(np.expm1(mean - half)), float(np.expm1(mean + half))),
            (float(np.expm1(low)), float(np.expm1(high))))


def verdict(bootstrap, goal=0.01):
    """Whether the overhead is within `goal`, judged on the bootstrap interval."""
    if bootstrap[1] < goal:
        return "yes"
    return "no" if bootstrap[0] > goal else "undecided"


def measure_row(kind, spe, variants, args):
    """`--rounds` fresh processes per variant, variants taking turns; raw results."""
    results = {name: [] for name, _, _ in variants}
    for index in range(args.rounds):
        shift = index % len(variants)
        for name, root, control in variants[shift:] + variants[:shift]:
            results[name].append(run_fresh(root, kind, spe, args, plain_first=index % 2 == 0,
                                           control=control))
    return results


def row_lines(kind, spe, results):
    """One table line per variant: pooled pairs with intervals, per-process mean, first epoch."""
    lines = []
    for name, runs in results.items():
        logs = [np.log(np.asarray(r["dlkeras_cpu_per_step"]) / np.asarray(r["plain_cpu_per_step"]))
                for r in runs]
        overhead, t_ci, boot = pair_intervals(logs)
        per_process = [float(np.expm1(r.mean())) for r in logs]
        first = [r["dlkeras_first_fit_cpu_s"] / r["plain_first_fit_cpu_s"] - 1 for r in runs]
        first_mean, first_t, _ = intervals(first)
        step_ms = 1e3 * float(np.median(np.concatenate([r["plain_cpu_per_step"] for r in runs])))
        lines.append(
            f"| {kind} | {spe} | {name} | {len(runs)} x {len(logs[0])} | {step_ms:.3f} "
            f"| {overhead:+.2%} [{t_ci[0]:+.2%}, {t_ci[1]:+.2%}] [{boot[0]:+.2%}, {boot[1]:+.2%}] "
            f"| {np.mean(per_process):+.2%} ({', '.join(f'{p:+.1%}' for p in per_process)}) "
            f"| {verdict(boot)} | {first_mean:+.1%} [{first_t[0]:+.1%}, {first_t[1]:+.1%}] "
            f"| {np.median([r['logger_epoch_end_cpu_ms'] for r in runs]):.2f} "
            f"| {np.median([r['one_cycle_rearm_cpu_ms'] for r in runs]):.2f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="fresh processes per variant and row")
    parser.add_argument("--alternations", type=int, default=64,
                        help="pairs of epochs (plain, dlkeras) per process")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mlp-steps", type=int, default=64, help="steps per MLP epoch")
    parser.add_argument("--cnn-steps", type=int, default=32, help="steps per CNN epoch")
    parser.add_argument("--rows", nargs="*", default=[f"{k}-{s}" for k, s in ROWS],
                        help="rows as kind-steps_per_execution, e.g. mlp-1 cnn-32")
    parser.add_argument("--compare", nargs="*", default=[],
                        help="other checkouts whose dlkeras machinery is measured too")
    parser.add_argument("--intra-op", type=int, default=0,
                        help="TensorFlow intra-op threads of every run (0: one per core)")
    parser.add_argument("--control", action="store_true",
                        help="add an A/A variant: plain against plain, the method's own bias")
    parser.add_argument("--json", help="also write the raw runs to this file")
    args = parser.parse_args()
    for row in args.rows:
        kind, _, spe = row.partition("-")
        if kind not in ("mlp", "cnn") or not spe.isdigit() or int(spe) < 1:
            parser.error(f"a row is mlp-N or cnn-N with N >= 1 steps a call. Received: {row!r}")
    if args.rounds < 1 or args.alternations < 2:
        parser.error("--rounds must be >= 1 and --alternations >= 2 (an interval needs two pairs). "
                     f"Received: --rounds {args.rounds} --alternations {args.alternations}")
    variants = [("dlkeras", ROOT, False)]
    variants += [(f"dlkeras@{os.path.basename(os.path.normpath(r))}", os.path.abspath(r), False)
                 for r in args.compare]
    if args.control:
        variants.append(("plain (A/A)", ROOT, True))
    print("CPU per step, dlkeras / plain - 1: over all pairs [95 % t-interval] [95 % two-level "
          "bootstrap]; mean of the processes' own figures; within 1 %?; first epoch (tracing) "
          "per process [95 % t-interval]")
    print("| model | spe | variant | processes x pairs | plain CPU ms/step | steady CPU per step "
          "| per process | within 1 % | first epoch CPU | logger ms/epoch | one-cycle re-arm ms/fit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
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
