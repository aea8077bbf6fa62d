"""Benchmark: the LR finder's suggestions against a grid of one-cycle runs, on five tasks.

For each task (`benchmarks/lr_tasks.py`: tabular gss_wages, MovieLens dot model,
MNIST-5k CNN from scratch, EfficientNet-Lite0 fine-tuning, diamonds log-price
regression with `y_range`) and each seed: a fresh model runs `lr_find`; every
rule's suggestion is recorded, plus fastai's `valley` rule applied to the same
recorded curve; the task's recipe trains a fresh model at the default
suggestion (`margin`) and at every rate of the grid {1e-4, 3e-4, 1e-3, 3e-3,
1e-2, 3e-2, 1e-1}. When the grid's best rate is its top rate, 3e-1 and 1 are
run too (a best at the edge of a grid is not a best). Metrics are the final
validation metric, averaged over seeds.

Goal (issue 9): the metric at the default suggestion within 1 % (relative) of
the grid's best, and the suggestion within 3x of the best rate; or the finder
says it has no trustworthy suggestion.

With no suggestion, the task trains at its app's documented fallback
(`default_lr_max`) and the table shows that metric.

Run (1 seed: 6.4 min for the four small tasks, 29 min for Lite0, on 2 shared
CPU cores at load 6-12; hold the heavy lock; `--grid-from` an earlier
`--json` file reuses its grids and only sweeps and trains at the suggestion):
    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/lr_suggestions.py --seeds 0
    .venv/bin/python benchmarks/lr_suggestions.py --tasks tabular diamonds --seeds 0

Measured 2026-11-23 on the shared 2-core AMD EPYC CPU machine (no GPU).
Grids, and the four small tasks: 08:30-09:30 UTC, 1-min load 6-12, beside
another heavy job (not under the lock), so no timing here is comparable,
the metrics are. Lite0 row: the finder sweeping the unfrozen network with
`fine_tune`'s ratios (`ImageTask.lr_find`'s default since then), 11:26-11:33
UTC under the heavy lock, 1-min load 10.2 before / 22.1 after (other
engineers' unlocked jobs), grid reused from the 09:00 run (`--grid-from`,
same seed, same training code). Seeds 0-2 for tabular and diamonds, seed 0
for the others; grid = mean final validation metric per lr_max; the
"margin" column is the default suggestion per seed; gap and 3x are against
the 7-rate grid's best (against the extended grid where it differs).

| task (metric) | grid best | margin (default) | metric there | gap | 3x |
|---|---|---|---|---|---|
| tabular gss_wages (acc) | 1e-2: 0.7806 | 7.6e-2 6.3e-2 1.1e-1 | 0.7811 | +0.06 % | no (8.1x) |
| collab dot (rmse) | 3e-3: 0.8675 | none (1) | fallback 5e-3: 0.8653 | +0.25 % | - |
| mnist-5k cnn (acc) | 1e-1: 0.9590 (3e-1: 0.9650) | 1.9e-1 | 0.9630 | +0.42 % (-0.21 %) | yes |
| lite0 fine-tune (acc) | 1e-1: 0.9580 | 5.2e-2 (2) | 0.9460 | -1.25 % | yes (1.9x) |
| diamonds log price (rmse) | 1e-1: 0.1208 | 1.1e-1 2.3e-1 9.1e-2 | 0.1210 | -0.15 % | yes |

(1) "diverged before the loss fell: the loss rose from 1.1 to 8.1 by
lr=1.1 without falling first" (100 steps of batch 256 are a third of an
epoch; the dot model starts at the mean rating and does not learn
within them). (2) Sweeping the frozen model (the head alone, as first
measured) suggested 2.5e-2: 0.9350 (-2.40 %, 4.0x); a one-off hand check
of the unfrozen sweep suggested 6.0e-2: 0.9540 (-0.42 %, 1.7x). The
unfrozen sweep diverges at lr_max 0.52 (its lowest loss at 4.8e-2); the
best rate, 1e-1, sits 5x below that, the margin rule suggests 10x below.

Goal met on mnist, diamonds and collab (by declining). Lite0 now meets
the 3x clause but misses the metric by 0.25 points on one seed
(log-linear between the grid's 3e-2: .9390 and 1e-1: .9580, 5.2e-2 is
worth about .946: the rate is too low, not unlucky). Tabular meets the
metric but not the 3x. Its grid is flat and its best is not resolved by 3
seeds: per-seed paired differences 1e-2 minus 3e-2 are +0.0001, -0.0008,
+0.0008 (mean +0.00004 +- 0.00046 s.e., a third of one of the 7,577
validation rows), so which of 1e-2 and 3e-2 is "best" is a coin toss, and
the suggestion (geometric mean 8.1e-2) is 2.7x from 3e-2; 3e-2 does beat
1e-1 on every seed (+0.0008, +0.0007, +0.0003). No single margin fixes
both misses: the divergence rate over the best rate is 63-110 on tabular
(vs 1e-2; 21-37 vs 3e-2), 5 on Lite0 (unfrozen), 19 (vs 1e-1; 6 vs the
extended best 3e-1) on mnist, 9-23 on diamonds; "within 3x" for all needs
a margin >= 21 for tabular and <= 15 for Lite0. Diamonds on seed 0 alone
failed (best 1e-2: 0.1171, margin 0.1192, -1.75 %); seeds 1-2 put the best
at 1e-1.

Grid means: tabular 1e-4 .6906, 3e-4 .7564, 1e-3 .7799, 3e-3 .7792, 1e-2
.7806, 3e-2 .7806, 1e-1 .7800; collab 1.0440, 1.0142, .9079, .8675, .8749,
.9018, 1.1951; mnist .4910, .6320, .8150, .9150, .9420, .9520, .9590, 3e-1
.9650, 1 .9600; lite0 .4130, .5440, .6670, .7420, .8830, .9390, .9580, 3e-1
.9130, 1 .8720; diamonds .2558, .2168, .1448, .1277, .1214, .1214, .1208
(seeds 1-2 only: 3e-1 .1276, 1 1.4356). Other rules (seed 0): valley
5.8e-4 / - / 4.8e-4 / 2.5e-3 / 4.8e-4, steep 2.3e-2 / - / 1.0e-1 / 2.3e-2 /
2.3e-4, minimum 6.3e-2 / - / 3.0e-2 / 3.0e-2 / 5.2e-2, fastai's valley on
our curve 2.5e-3 / 1.3e-2 / 2.1e-3 / 4.4e-3 / 8.3e-4 (tabular / collab /
mnist / lite0 unfrozen / diamonds). The Lite0 unfrozen sweep took 135 s
(90 steps; the frozen one: 40 s at load 6-12), its training 229 s.

Lite0 seed 1 (accuracy only, 12:39-12:42 UTC, nice -n 10, not under the
lock, only the suggestion and 1e-1 trained): unfrozen sweep 6.3e-2: 0.9500,
1e-1: 0.9560 (-0.63 %). Seeds 0-1 mean: 0.9480 at the suggestion vs 0.9570
at 1e-1 (-0.94 %); with no full seed-1 grid this is not the goal's check.

Image demo (`python -m apps.image demo`, Lite0 on 3,000 MNIST-5k digits at
64 px, 500 validation), before = 378de06 (frozen sweep) / after = this
finder (unfrozen sweep): seed 42 after 3.98e-2: 0.978 (under the lock,
547 s wall, load 6.9 before / 10.1 after), before 2.51e-2: 0.962; seed 7
after 6.31e-2: 0.970, before 3.98e-2: 0.974 (these three accuracy only,
nice -n 10, not under the lock, load 10-17). Earlier today: 0.950 at the
suggestion 1.58e-2, 0.944 at a fixed 1e-2.
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
EXTENSION = (3e-1, 1.0)
RULES = ("margin", "valley", "steep", "minimum")
RECORDED_GRIDS = {  # mean final validation metric per lr_max, measured 2026-11-23 (docstring)
    "tabular": dict(zip(GRID, (.6906, .7564, .7799, .7792, .7806, .7806, .7800))),
    "collab": dict(zip(GRID, (1.0440, 1.0142, .9079, .8675, .8749, .9018, 1.1951))),
    "mnist_cnn": dict(zip(GRID + EXTENSION,
                          (.4910, .6320, .8150, .9150, .9420, .9520, .9590, .9650, .9600))),
    "lite0": dict(zip(GRID + EXTENSION,
                      (.4130, .5440, .6670, .7420, .8830, .9390, .9580, .9130, .8720))),
    "diamonds": dict(zip(GRID + EXTENSION,
                         (.2558, .2168, .1448, .1277, .1214, .1214, .1208, .1276, 1.4356))),
}
"""Grid means from the docstring (seeds 0-2 for tabular and diamonds, 0 for the others;
diamonds' 3e-1 and 1 from seeds 1-2); `--recorded-grid` compares against them."""


def fastai_valley(lrs, raw_losses, num_it=100, beta=0.98):
    """fastai 2.8's `valley` rule, applied to a curve we recorded (written from its behaviour).

    fastai smooths the loss with a debiased EMA (`beta`), keeps the points from
    `num_it // 10` to the sixth from the end and up to the first NaN, takes the
    longest decreasing subsequence of the smoothed loss, counts its length back
    from where it ends, and suggests the rate half way along that span (at a
    third plus a sixth of it).
    """
    raw = np.asarray(raw_losses, dtype="float64")
    smoothed, average = [], 0.0
    for count, loss in enumerate(raw, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** count))
    lrs, smoothed = np.asarray(lrs)[num_it // 10:-5], np.asarray(smoothed)[num_it // 10:-5]
    bad = np.flatnonzero(~np.isfinite(smoothed))
    if bad.size:
        lrs, smoothed = lrs[:bad[0]], smoothed[:bad[0]]
    if len(smoothed) < 2:
        return None
    length = np.ones(len(smoothed), dtype=int)
    for i in range(1, len(smoothed)):
        earlier = smoothed[:i] > smoothed[i]
        if earlier.any():
            length[i] = length[:i][earlier].max() + 1
    end = int(np.argmax(length))
    start = end - int(length[end])
    third = (end - start) / 3
    return float(lrs[start + int(third) + int(third / 2)])


def sweep(task, seed, curves_dir=None, keep_curve=False):
    """Runs the LR finder on a fresh model; returns every rule's suggestion (and the curve)."""
    start = time.perf_counter()
    finder = task.find(task.build(seed))
    seconds = time.perf_counter() - start
    if curves_dir:
        os.makedirs(curves_dir, exist_ok=True)
        np.savez(os.path.join(curves_dir, f"{task.name.split()[0]}_s{seed}.npz"),
                 lrs=np.array(finder.lrs), raw=np.array(finder.raw_losses),
                 smooth=np.array(finder.losses))
    found = {"seconds": seconds, "steps": len(finder.lrs), "suggestion": finder.suggestion,
             "reason": finder.no_suggestion_reason,
             "rules": {rule: finder.suggestions.get(rule) for rule in RULES},
             "fastai_valley": fastai_valley(finder.lrs, finder.raw_losses)}
    if keep_curve:  # NaN/inf become null in JSON
        found["lrs"] = [float(lr) for lr in finder.lrs]
        found["raw_losses"] = [float(v) if np.isfinite(v) else None for v in finder.raw_losses]
    return found


def sweep_only(tasks, seeds_of, path):
    """`--curves-only`: sweeps each task and seed, writes {task: {seed: sweep}} to `path`."""
    curves = {}
    for name, task in tasks.items():
        curves[name] = {}
        for seed in seeds_of(name):
            found = sweep(task, seed, keep_curve=True)
            curves[name][str(seed)] = found
            print(f"{task.name} seed {seed}: {found['steps']} steps in {found['seconds']:.0f}s, "
                  f"suggestion {found['suggestion']}, reason {found['reason']}", flush=True)
            with open(path, "w") as handle:  # after every sweep: a crash keeps the others
                json.dump(curves, handle)
    return curves


def train_at(task, seed, lr):
    start = time.perf_counter()
    metric = float(task.train(task.build(seed), lr))
    print(f"  {task.name} seed {seed} lr {lr:.3g}: {task.metric} {metric:.4f} "
          f"({time.perf_counter() - start:.0f}s)", flush=True)
    return metric


def earlier_grid(path, task, seeds):
    """The grid of `task` from an earlier run's `--json` file, if it ran the same seeds."""
    if not path:
        return None
    with open(path) as handle:
        for result in json.load(handle):
            if result["name"] == task.name and sorted(map(int, result["seeds"])) == sorted(seeds):
                return {float(lr): metrics for lr, metrics in result["grid"].items()}
    raise SystemExit(f"{path} has no grid of {task.name!r} with seeds {seeds}")


def run_task(task, seeds, curves_dir=None, grid=None):
    """Sweeps, trains at each seed's suggestion, and runs the grid (extended if needed).

    With `grid` (from `earlier_grid`), the grid runs are not repeated.
    """
    result = {"name": task.name, "metric": task.metric, "higher_is_better": task.higher_is_better,
              "seeds": {}, "grid": dict(grid or {})}
    for seed in seeds:
        found = sweep(task, seed, curves_dir)
        print(f"{task.name} seed {seed}: {found}", flush=True)
        if found["suggestion"] is not None:
            found["metric"] = train_at(task, seed, found["suggestion"])
        else:  # what the app does then: train at its documented default
            found["fallback"] = {"lr": task.fallback_lr,
                                 "metric": train_at(task, seed, task.fallback_lr)}
        result["seeds"][seed] = found
    if grid:
        return result
    rates = list(GRID)
    for lr in rates:
        result["grid"][lr] = [train_at(task, seed, lr) for seed in seeds]
    if best_rate(result) == GRID[-1]:
        for lr in EXTENSION:
            result["grid"][lr] = [train_at(task, seed, lr) for seed in seeds]
    return result


def best_rate(result, rates=None):
    sign = 1.0 if result["higher_is_better"] else -1.0
    rates = rates or list(result["grid"])
    return max(rates, key=lambda lr: sign * float(np.mean(result["grid"][lr])))


def verdict(result):
    """Whether the goal is met, against the 7-rate grid and the extended one."""
    found = list(result["seeds"].values())
    suggested = [f["suggestion"] for f in found if f["suggestion"] is not None]
    if not suggested:
        fallback = [f["fallback"]["metric"] for f in found]
        return {"ok": True, "why": f"no suggestion ({found[0]['reason']}); at the app's fallback "
                                   f"{found[0]['fallback']['lr']:g}: {np.mean(fallback):.4f}"}
    metric = float(np.mean([f["metric"] for f in found if f["suggestion"] is not None]))
    rate = float(np.exp(np.mean(np.log(suggested))))
    out = {"metric": metric, "rate": rate}
    for label, rates in (("grid", list(GRID)), ("extended", list(result["grid"]))):
        best = best_rate(result, rates)
        best_metric = float(np.mean(result["grid"][best]))
        gap = (metric - best_metric) / best_metric * (1 if result["higher_is_better"] else -1)
        out[label] = {"best": best, "best_metric": best_metric, "gap": gap,
                      "ok": gap >= -0.01 and best / 3 <= rate <= best * 3}
    out["ok"] = out["grid"]["ok"]
    return out


def _rates(values):
    values = [v for v in values if v is not None]
    return "/".join(f"{v:.1e}" for v in values) if values else "none"


def table(results):
    """One Markdown table: grid, each rule's suggestions, the metric at the default."""
    head = ("| task (metric) | grid: mean metric per lr_max | best (grid / extended) | "
            "margin (default) per seed | metric at margin | gap to best | within 3x | "
            "valley | steep | minimum | fastai valley | goal |")
    lines = [head, "|" + "---|" * 12]
    for result in results:
        check = verdict(result)
        found = list(result["seeds"].values())
        grid = " ".join(f"{lr:g}:{np.mean(v):.4f}" for lr, v in result["grid"].items())
        rules = [_rates(f["rules"][rule] for f in found) for rule in ("valley", "steep", "minimum")]
        fastai = _rates(f["fastai_valley"] for f in found)
        if "grid" not in check:
            lines.append(f"| {result['name']} ({result['metric']}) | {grid} | "
                         f"{best_rate(result, list(GRID)):g} / {best_rate(result):g} | "
                         f"{check['why']} | | | | {' | '.join(rules)} | {fastai} | yes |")
            continue
        g, e = check["grid"], check["extended"]
        lines.append(
            f"| {result['name']} ({result['metric']}) | {grid} | {g['best']:g} / {e['best']:g} | "
            f"{_rates(f['suggestion'] for f in found)} | {check['metric']:.4f} | "
            f"{100 * g['gap']:+.2f} % / {100 * e['gap']:+.2f} % | "
            f"{'yes' if g['best'] / 3 <= check['rate'] <= g['best'] * 3 else 'no'} / "
            f"{'yes' if e['best'] / 3 <= check['rate'] <= e['best'] * 3 else 'no'} | "
            f"{' | '.join(rules)} | {fastai} | "
            f"{'yes' if g['ok'] else 'no'} / {'yes' if e['ok'] else 'no'} |")
    return "\n".join(lines)


def main(argv=None):
    from benchmarks.lr_tasks import TASKS
    from benchmarks.timing import seeded_parser, write_results

    parser = seeded_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--lite0-seeds", type=int, nargs="+", default=[0],
                        help="seeds of the (slow) fine-tuning task")
    parser.add_argument("--curves", help="save each sweep's (lrs, raw losses) here as .npz")
    parser.add_argument("--curves-only", metavar="JSON", help="only sweep (no training): write "
                        "each task's and seed's lrs, raw losses and suggestions to this file")
    parser.add_argument("--grid-from", help="take the grids from this earlier --json file "
                        "(same tasks and seeds) instead of training them again")
    parser.add_argument("--recorded-grid", action="store_true", help="compare with the grid "
                        "means recorded in this file (RECORDED_GRIDS) instead of training them")
    args = parser.parse_args(argv)
    start, results = time.perf_counter(), []
    seeds_of = lambda name: args.lite0_seeds if name == "lite0" else args.seeds  # noqa: E731
    if args.curves_only:
        sweep_only({name: TASKS[name]() for name in args.tasks}, seeds_of, args.curves_only)
        print(f"sweeps in {(time.perf_counter() - start) / 60:.1f} min, "
              f"load average {os.getloadavg()[0]:.1f}")
        return
    for name in args.tasks:
        seeds = args.lite0_seeds if name == "lite0" else args.seeds
        task = TASKS[name]()
        grid = earlier_grid(args.grid_from, task, seeds)
        if args.recorded_grid:
            grid = {lr: [metric] for lr, metric in RECORDED_GRIDS[name].items()}
        results.append(run_task(task, seeds, args.curves, grid))
        print(table(results[-1:]), flush=True)
    print(f"\n{len(results)} tasks in {(time.perf_counter() - start) / 60:.1f} min, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(table(results))
    write_results(args.json, results)


if __name__ == "__main__":
    main()
