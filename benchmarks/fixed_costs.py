"""Benchmark: where a whole `fit_one_cycle` goes at batch 1024 — tracing, first calls, steps.

Issue 14 asks, where TensorFlow's fixed costs put a config's whole-fit goal
(0.5x fastai) out of reach, for the breakdown against fastai's and the floor
that remains. This script runs the protocol of `benchmarks/vs_fastai.py`
(LR finder, then 5 epochs of `fit_one_cycle` with validation) for the
large-batch configs, in a fresh process per run, and times every call of
every train and test function Keras builds (each `make_*_function` is
wrapped: the first call of a new function includes tracing it and
TensorFlow's graph optimisation; later calls are steps only). Reported
per phase:
- `trace_train_s`, `trace_test_s`: first call minus a steady call of the
  same function (summed over the functions built in that phase);
- `steps_s`: the time inside train/test function calls, minus the traces;
- `other_s`: the rest (callbacks, iterator creation, Keras' epoch loop,
  the dataset pipelines' own start-up).

A third phase, `refit`, is a second `fit_one_cycle` of 5 epochs (lr_max / 10)
on the same task: the one-cycle schedules installed by the first are
re-armed (new numbers in their variables, `dlkeras.schedules.CycleClock`),
so Keras keeps the traced train step; the `-retrace` configs turn re-arming
off, as before it existed (every cycle installs new schedules and traces).

The `-plainsweep` configs run the LR finder without `cycle` (as before
0ab10d4): the sweep then traces a step of its own (rate in a variable) and
the fit traces another; by default the sweep runs through the fit's cycle
and the fit only wraps a new loop around the sweep's traced step
(`dlkeras.traced_cycles`). 2026-11-24 17:31-17:32 UTC (quiet, load 0.0
before, 0.75 after, under the lock, 3 seeds alternating, medians):

| config | phase | wall s | trace train s | trace test s | in steps s | other s | first / steady epoch s |
|---|---|---|---|---|---|---|---|
| tabular-1024-speauto | lr_find | 1.30 | 0.47 | 0.00 | 0.52 | 0.32 | - |
| tabular-1024-speauto | fit | 1.31 | 0.33 | 0.19 | 0.68 | 0.11 | 0.68 / 0.141 |
| tabular-1024-speauto-plainsweep | lr_find | 1.35 | 0.50 | 0.00 | 0.54 | 0.31 | - |
| tabular-1024-speauto-plainsweep | fit | 1.54 | 0.57 | 0.18 | 0.69 | 0.11 | 0.91 / 0.145 |
| collab-dot-1024 | lr_find | 0.76 | 0.37 | 0.00 | 0.16 | 0.24 | - |
| collab-dot-1024 | fit | 0.87 | 0.22 | 0.17 | 0.37 | 0.12 | 0.49 / 0.084 |
| collab-dot-1024-plainsweep | lr_find | 0.73 | 0.34 | 0.00 | 0.16 | 0.22 | - |
| collab-dot-1024-plainsweep | fit | 1.11 | 0.45 | 0.16 | 0.40 | 0.09 | 0.72 / 0.087 |

On another VM of the same kind (2-core AMD EPYC, faster per step), at commit
4029ead, 2026-11-24 22:03-22:05 UTC (quiet, load 1.1-1.2, under the lock, 3 seeds
alternating, medians), one step a call against `auto` (then 29 a call):

| config | phase | wall s | trace train s | trace test s | in steps s | other s | first / steady epoch s |
|---|---|---|---|---|---|---|---|
| tabular-1024-speauto | lr_find | 0.81 | 0.32 | 0.00 | 0.29 | 0.20 | - |
| tabular-1024-speauto | fit | 0.80 | 0.23 | 0.12 | 0.38 | 0.07 | 0.44 / 0.080 |
| tabular-1024-spe1 | lr_find | 0.82 | 0.32 | 0.00 | 0.28 | 0.19 | - |
| tabular-1024-spe1 | fit | 0.61 | 0.00 | 0.09 | 0.44 | 0.08 | 0.21 / 0.091 |
| collab-dot-1024 | lr_find | 0.50 | 0.24 | 0.00 | 0.10 | 0.16 | - |
| collab-dot-1024 | fit | 0.56 | 0.16 | 0.11 | 0.23 | 0.08 | 0.33 / 0.052 |

At one step a call the fit reuses the sweep's traced step and traces no loop
(0.23 s saved), for 0.011 s more per steady epoch: over 5 epochs that is the
faster fit. So `steps_per_execution="auto"` now keeps one step a call unless
the fit's planned calls pay for the loop's trace (`dlkeras.steps_per_execution`);
`tabular-1024-speauto` runs one step a call since 493d4c3. A cProfile of
the finder (seed 0, 1.16 s under the profiler): 0.30 s tracing in Python, 0.45 s
in 92 executed calls (the first including the graph's optimisation), 0.15 s
preparing the data and pre-building the metrics from one batch.

What the fit's remaining loop trace is made of, tried on 2026-11-24 20:36-20:46 UTC (this
script's `run` with patches in fresh processes, tabular-1024-speauto, quiet, under the lock;
experiments, not options of dlkeras):
- Keras' single step as a `_noinline` function (`tf.function(experimental_attributes=...)`),
  so that the loop would call the step the sweep had optimised instead of inlining it: the
  fit's train trace 0.43 / 0.32 / 0.31 s without, 0.41 / 0.41 / 0.36 s with (3 seeds): no
  gain. The step is optimised again inside the new loop's function either way.
- Grappler: with the meta-optimizer off (`tf.config.optimizer.set_experimental_options(
  {"disable_meta_optimizer": True})`, process-wide) the fit's train trace fell 0.32 -> 0.16 s,
  its test trace 0.18 -> 0.14 s and the finder's 0.46 -> 0.40 s, with steady epochs unchanged
  for this MLP (0.116 / 0.114 s, 2 seeds); no single pass made the difference (each of
  function optimisation, remapping, layout, constant folding, common-subgraph elimination
  off alone: within 0.05 s). Not adopted: the setting is global to the user's process, and
  what it does to the steps of convolutional backbones (where Grappler fuses ops) was not
  measured.

Configs: `tabular-1024` (gss_wages, [200, 100], lr_max 1e-2, wd 0.01) with
`steps_per_execution` 1 (issue 4's protocol), 32 and `auto` (the app's
default, as vs_fastai runs it),
each without and with XLA (`-xla`);
`collab-dot-1024` (MovieLens dot model, the recommender app's defaults);
`-t1`: one TensorFlow intra-op thread (`dlkeras.set_cpu_threads`, the tabular and
recommender command lines' default) instead of one per core.

Run (hold the heavy lock; ~2 min):
    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/fixed_costs.py --seeds 0 1 2

One intra-op thread (`-t1`) against one per core, `--configs tabular-1024-speauto
tabular-1024-speauto-t1 collab-dot-1024 collab-dot-1024-t1 --seeds 0 1 2`, 2026-11-24
~23:48-23:50 UTC, a freshly started 2-core AMD EPYC VM, quiet, under the lock, medians
(wall / train trace / test trace / in steps / other s; first / steady epoch s):

| config | phase | one per core | one intra-op thread |
|---|---|---|---|
| tabular-1024 | lr_find | 0.81 / 0.34 / - / 0.26 / 0.21 | 0.74 / 0.33 / - / 0.20 / 0.20 |
| tabular-1024 | fit | 0.60 / 0.00 / 0.08 / 0.44 / 0.08; 0.19 / 0.089 | 0.51 / 0.00 / 0.08 / 0.35 / 0.08; 0.18 / 0.073 |
| collab-dot-1024 | lr_find | 0.50 / 0.25 / - / 0.10 / 0.16 | 0.49 / 0.24 / - / 0.09 / 0.15 |
| collab-dot-1024 | fit | 0.56 / 0.17 / 0.11 / 0.21 / 0.06; 0.35 / 0.046 | 0.49 / 0.16 / 0.11 / 0.16 / 0.06; 0.32 / 0.034 |

The thread setting speeds the steps, not the traces. What is left of the tabular fit at one
thread: the validation step's trace 0.08 s, 145 train steps and 5 validations 0.35 s (about
0.5 ms of each one-step call is Keras' and TensorFlow's Python dispatch, ~0.07 s in all), the
rest 0.08 s.

Measured 2026-11-23 20:23 UTC, 2-core AMD EPYC VM running nothing else
(load 1.56 before, 1.27 after), under the lock, seeds 0-1, medians:

| config | phase | wall s | trace train s | trace test s | in steps s | other s | first / steady epoch s |
|---|---|---|---|---|---|---|---|
| tabular-1024-spe1 | lr_find | 2.20 | 0.76 | 0.00 | 0.79 | 0.65 | - |
| tabular-1024-spe1 | fit | 2.99 | 0.80 | 0.16 | 1.18 | 0.84 | 1.29 / 0.238 |
| tabular-1024-speauto | lr_find | 2.07 | 0.80 | 0.00 | 0.67 | 0.59 | - |
| tabular-1024-speauto | fit | 2.92 | 0.98 | 0.28 | 0.84 | 0.82 | 1.47 / 0.176 |
| collab-dot-1024 | lr_find | 1.40 | 0.49 | 0.00 | 0.39 | 0.52 | - |
| collab-dot-1024 | fit | 1.78 | 0.60 | 0.27 | 0.60 | 0.31 | 1.04 / 0.131 |

Re-arming measured 2026-11-24 00:26-00:28 UTC, same VM running nothing
else (load 0.03 before, 1.04 after), under the lock, seeds 0-2 alternating
with the `-retrace` configs, medians:

| config | phase | wall s | trace train s | trace test s | in steps s | other s | first / steady epoch s |
|---|---|---|---|---|---|---|---|
| tabular-1024-speauto | fit | 2.30 | 0.98 | 0.24 | 0.84 | 0.19 | 1.44 / 0.178 |
| tabular-1024-speauto | refit | 1.06 | 0.01 | 0.00 | 0.83 | 0.16 | 0.22 / 0.180 |
| tabular-1024-speauto-retrace | refit | 2.22 | 1.16 | 0.00 | 0.84 | 0.15 | 1.37 / 0.181 |
| collab-dot-1024 | fit | 1.61 | 0.50 | 0.19 | 0.48 | 0.17 | 0.86 / 0.103 |
| collab-dot-1024 | refit | 0.58 | 0.01 | 0.00 | 0.46 | 0.12 | 0.13 / 0.102 |
| collab-dot-1024-retrace | refit | 1.05 | 0.55 | 0.00 | 0.37 | 0.16 | 0.65 / 0.082 |

(Run at commit a9e7209, before re-arming also checked the trainable
variables, steps per call and XLA setting: one more look at the model per
fit, not per step.) A second cycle now costs its steps only (tabular 2.22 -> 1.06 s, collab
1.05 -> 0.58 s); the first fit and the LR finder still trace once each
(the finder runs one step a call with its rate in a variable, the fit
several steps a call with the one-cycle inside: two different functions).

Caveat: with several steps a call the first call holds both the trace and
a call's steps, and its "steady" reference is another epoch's call, so the
split between "trace" and "other" is rough; a cProfile of the auto fit
(2.49 s) put 1.04 s in tracing (`func_graph_from_py_func`) and 1.24 s in
the 10 executed calls (5 train, 5 validation), the first calls including
TensorFlow's graph optimisation. Earlier run (19:35 UTC, seed 0, one
helper's benchmark under way): XLA (`-xla`) halves the steady tabular epoch
(0.109 s at 32 a call) but compiles for 2.2 s, more than 5 epochs gain.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import alternating_main, markdown_table  # noqa: E402

CONFIGS = ("tabular-1024-spe1", "tabular-1024-spe32", "tabular-1024-speauto",
           "tabular-1024-spe1-xla", "tabular-1024-spe32-xla", "collab-dot-1024",
           "tabular-1024-speauto-retrace", "collab-dot-1024-retrace",
           "tabular-1024-speauto-plainsweep", "collab-dot-1024-plainsweep",
           "tabular-1024-speauto-t1", "collab-dot-1024-t1")
PHASES = ("lr_find", "fit", "refit")


class CallLog:
    """Wraps a model's `make_train_function` / `make_test_function`; times every call.

    `calls` holds `(phase, kind, function_id, seconds)`; `phase` is whatever
    the caller last set in `self.phase`.
    """

    def __init__(self, model):
        from dlkeras import traced_cycles

        self.model, self.phase, self.calls, self._next_id = model, "setup", [], 0
        for kind in ("train", "test"):
            self._wrap_maker(kind)
        # A kept step at another steps_per_execution gets a new loop (traced at its first
        # call) without `make_train_function`: time those too.
        for_steps = traced_cycles.train_function_for_steps

        def for_steps_and_time(function, model):
            new = for_steps(function, model)
            return None if new is None else self._timed("train", new)

        traced_cycles.train_function_for_steps = for_steps_and_time

    def _wrap_maker(self, kind):
        make = getattr(self.model, f"make_{kind}_function")
        attribute = f"{kind}_function"

        def make_and_time(force=False):
            make(force)
            current = getattr(self.model, attribute)
            if current is not None and not getattr(current, "_timed", False):
                setattr(self.model, attribute, self._timed(kind, current))
            return getattr(self.model, attribute)

        setattr(self.model, f"make_{kind}_function", make_and_time)

    def _timed(self, kind, function):
        identity = self._next_id
        self._next_id += 1

        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.calls.append((self.phase, kind, identity, time.perf_counter() - start))

        call._timed = True
        call.__wrapped__ = function  # so dlkeras can still find Keras' function inside
        return call

    def breakdown(self, phase, wall_s):
        """{trace_train_s, trace_test_s, steps_s, other_s, wall_s} of one phase."""
        rows = [c for c in self.calls if c[0] == phase]
        result = {"trace_train_s": 0.0, "trace_test_s": 0.0, "steps_s": 0.0, "wall_s": wall_s}
        for identity in dict.fromkeys(c[2] for c in rows):
            times = [c[3] for c in rows if c[2] == identity]
            kind = next(c[1] for c in rows if c[2] == identity)
            steady = statistics.median(times[1:-1] or times[1:]) if len(times) > 1 else 0.0
            trace = max(times[0] - steady, 0.0)
            result[f"trace_{kind}_s"] += trace
            result["steps_s"] += sum(times) - trace
        result["other_s"] = wall_s - result["trace_train_s"] - result["trace_test_s"] - \
            result["steps_s"]
        return result


def _steps(text):
    return text if text == "auto" else int(text)


def run(config: str, seed: int) -> dict:
    import keras

    from dlkeras.data import random_split_frame

    config_name, finder_kwargs = config, {}
    if config.endswith("-t1"):  # one intra-op thread, the command lines' default
        from dlkeras.cpu_threads import set_cpu_threads

        set_cpu_threads(intra_op=1)
        config = config[:-len("-t1")]
    if config.endswith("-retrace"):  # as before re-arming: every cycle installs new schedules
        from dlkeras.callbacks import OneCycle

        OneCycle._can_rearm = lambda self, *args: False
        OneCycle._recall = lambda self, *args: None  # nor a step the finder traced
        config = config[:-len("-retrace")]
    elif config.endswith("-plainsweep"):  # as before the sweep ran through the cycle's schedules
        finder_kwargs["cycle"] = None
        config = config[:-len("-plainsweep")]
    start = time.perf_counter()
    if config.startswith("tabular"):
        from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
        from apps.tabular.task import TabularTask

        train, valid = random_split_frame(load_gss_wages(), 0.2, seed=42)
        keras.utils.set_random_seed(seed)
        task = TabularTask.from_frame(
            train, GSS_TARGET, GSS_CAT_NAMES, GSS_CONT_NAMES, layers=[200, 100],
            batch_size=1024, weight_decay=0.01,
            steps_per_execution=_steps(config.split("-spe", 1)[1].split("-")[0]),
            jit_compile=config.endswith("-xla"))
        lr_max = 1e-2
    else:
        from apps.recommender.data import load_movielens
        from apps.recommender.task import RecommenderTask

        train, valid = random_split_frame(load_movielens(), 0.2, seed=42)
        keras.utils.set_random_seed(seed)
        task = RecommenderTask.from_ratings(train, weight_decay=0.1, y_range=(0.0, 5.5),
                                            batch_size=1024, kind="dot", n_factors=50,
                                            steps_per_execution=64)
        lr_max = 1e-2
    build_s = time.perf_counter() - start
    log = CallLog(task.network)
    log.phase = "lr_find"
    start = time.perf_counter()
    task.lr_find(train, seed=seed, verbose=0, **finder_kwargs)
    lr_find = log.breakdown("lr_find", time.perf_counter() - start)
    log.phase = "fit"
    epochs = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(time.perf_counter() - self.start)

    start = time.perf_counter()
    task.fit_one_cycle(train, epochs=5, lr_max=lr_max, validation_data=valid, seed=seed,
                       callbacks=[Epochs()], verbose=0)
    fit = log.breakdown("fit", time.perf_counter() - start)
    fit.update(first_epoch_s=epochs[0], steady_epoch_s=statistics.median(epochs[1:]))
    log.phase, epochs[:] = "refit", []
    start = time.perf_counter()
    task.fit_one_cycle(train, epochs=5, lr_max=lr_max / 10, validation_data=valid, seed=seed,
                       callbacks=[Epochs()], verbose=0)
    refit = log.breakdown("refit", time.perf_counter() - start)
    refit.update(first_epoch_s=epochs[0], steady_epoch_s=statistics.median(epochs[1:]))
    return {"config": config_name, "seed": seed, "build_s": build_s, "lr_find": lr_find,
            "fit": fit, "refit": refit, "load": os.getloadavg()[0]}


def summarise(results: list[dict]) -> str:
    rows = []
    for config in dict.fromkeys(r["config"] for r in results):
        runs = [r for r in results if r["config"] == config]
        for phase in (p for p in PHASES if p in runs[0]):
            med = lambda key, runs=runs, phase=phase: statistics.median(  # noqa: E731
                r[phase][key] for r in runs)
            extra = (f"{med('first_epoch_s'):.2f} / {med('steady_epoch_s'):.3f}"
                     if phase != "lr_find" else "-")
            rows.append([config, phase, len(runs), f"{med('wall_s'):.2f}",
                         f"{med('trace_train_s'):.2f}", f"{med('trace_test_s'):.2f}",
                         f"{med('steps_s'):.2f}", f"{med('other_s'):.2f}", extra])
    return markdown_table(["config", "phase", "seeds", "wall s", "trace train s", "trace test s",
                           "in steps s", "other s", "first / steady epoch s"], rows)


def main(argv=None):
    alternating_main(argv, __file__, __doc__, "config", CONFIGS, run, summarise)


if __name__ == "__main__":
    main()
